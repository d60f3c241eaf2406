#!/usr/bin/env -S node --max-semi-space-size=64 --stack-size=3900
// The `trellis` command. This launcher is committed (npm links it at install time, before anything
// is built) and loads the compiled CLI; the repository's `npm start` and `npm test` build it first.
import { existsSync } from 'node:fs'

const cli = new URL('../dist/bin.js', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write('error [NOT_BUILT]: the trellis CLI is not built yet; run `npm run build` (or `npm start`) first\n')
  process.exit(1)
}
await import(cli.href)
