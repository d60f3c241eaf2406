#!/usr/bin/env -S node --max-semi-space-size=64 --stack-size=3900
import { main } from './main.js'

// Output piped into a command that stops reading (`trellis block 1 | head`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

await main(process.argv)
