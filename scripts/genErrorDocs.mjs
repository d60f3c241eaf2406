#!/usr/bin/env node
// Writes docs/errors.md from the error-code table in @trellis/api (run after `tsc -b`).
import { writeFileSync } from 'node:fs'
import { errorCodesMarkdown } from '../packages/api/dist/index.js'

writeFileSync(new URL('../docs/errors.md', import.meta.url), errorCodesMarkdown())
console.log('wrote docs/errors.md')
