#!/usr/bin/env node
// Built-in metering: each pattern loops a heavy built-in (or syntax-level operation) over large values
// until the gas budget is spent; prints the gas used and the wall time. (Syntax-level work on large
// values — string ===, <, +, template literals, property keys, {...obj} — is not metered: the
// wall-clock safety net of block production, proposal checks and queries covers it, ADR 0011.) Without the prelude's metering
// these ran for hours (docs/adr/0010). Usage: node bench/dist/builtins.js [pattern]
import { performance } from 'node:perf_hooks'
import { defaultVmLimits, Sandbox } from '@trellis/vm'

const sb = await Sandbox.create()
const setup = `const big = 'ab'.repeat(1 << 21); const arr = Array.from({length: 300000}, (_, i) => i); const strs = Array.from({length: 50000}, (_, i) => 'k' + ((i * 7919) % 50000)); const obj = {}; for (let i = 0; i < 50000; i++) obj['p' + i] = i; const json = JSON.stringify(obj);`
const cases: Record<string, string> = {
  stringify: `let x = 0; for (;;) x += JSON.stringify(obj).length`,
  indexOfStr: `let x = 0; for (;;) x += big.indexOf('zz')`,
  indexOfArr: `let x = 0; for (;;) x += arr.indexOf(-1)`,
  slice: `let x = 0; for (;;) x += arr.slice().length`,
  spread: `let x = 0; for (;;) x += [...arr].length`,
  sort: `let x = 0; for (;;) x += strs.slice().sort().length`,
  replace: `let x = 0; for (;;) x += big.replace(/a/g, 'c').length`,
  regex: `let x = 0; for (;;) x += /(a+)+$/.test('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!') ? 1 : 0`,
  parse: `let x = 0; for (;;) x += JSON.parse(json).p1`,
  keys: `let x = 0; for (;;) x += Object.keys(obj).length`,
  fill: `let x = 0; for (;;) x += new Array(1e6).fill(0).length`,
  split: `let x = 0; for (;;) x += big.split('').length`,
  includes: `let x = 0; for (;;) x += arr.includes(-1) ? 1 : 0`,
  join: `let x = 0; for (;;) x += arr.join(',').length`,
}
const only = process.argv[2]
const limits = { ...defaultVmLimits, gas: 200_000_000 }
const setupRun = (): { gas: number; ms: number } => {
  const t = performance.now()
  const r = sb.runSync(`function main() { ${setup} return 1 }`, 'main', '{}', {}, limits)
  return { gas: r.gasUsed, ms: performance.now() - t }
}
setupRun()
const base = setupRun()
process.stdout.write(`setup: ${base.gas} gas, ${Math.round(base.ms)} ms; each pattern then loops until ${limits.gas} gas are spent\n`)
for (const [name, body] of Object.entries(cases)) {
  if (only !== undefined && name !== only) continue
  const code = `function main() { ${setup} ${body} }`
  const t = performance.now()
  const r = sb.runSync(code, 'main', '{}', {}, limits)
  const ms = performance.now() - t - base.ms
  const perBudget = (ms * 10_000_000) / (r.gasUsed - base.gas)
  process.stdout.write(
    `${name.padEnd(12)} ${r.ok ? 'ok' : r.code}  ${Math.round(ms)} ms for ${r.gasUsed - base.gas} gas = ${Math.round(perBudget)} ms per 10 M gas\n`,
  )
}
