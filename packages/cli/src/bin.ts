#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432 node --max-semi-space-size=64 --stack-size=3900
import { main } from './main.js'

// Output piped into a command that stops reading (`trellis block 1 | head`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

await main(process.argv)
