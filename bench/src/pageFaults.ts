#!/usr/bin/env node
// What a page fault costs on this machine (ADR 0024): each round writes one byte into every 4 KiB
// page of a fresh buffer (each write faults a page in), and reports µs per page together with the
// process's minor-fault count, so the figure is known to be faults. Virtual machines differ a lot
// here: ~0.2 µs on bare metal, ~14 µs on this project's machine kind.
// Usage: node bench/dist/pageFaults.js [rounds] [MiB per round]
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

const rounds = Number(process.argv[2] ?? 5)
const mib = Number(process.argv[3] ?? 64)
if (!Number.isSafeInteger(rounds) || rounds < 1 || !Number.isSafeInteger(mib) || mib < 1 || mib > 4096) {
  process.stderr.write('usage: node bench/dist/pageFaults.js [rounds ≥ 1] [MiB per round, 1-4096]\n')
  process.exit(1)
}

/** The process's minor page faults so far (Linux only; -1 elsewhere). */
function minorFaults(): number {
  try {
    return Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ')[7])
  } catch {
    return -1
  }
}

const pages = (mib * 1024 * 1024) / 4096
for (let r = 0; r < rounds; r++) {
  // allocUnsafeSlow: a fresh allocation that is not zero-filled, so its pages are first touched below.
  const buf = Buffer.allocUnsafeSlow(mib * 1024 * 1024)
  const f0 = minorFaults()
  const t0 = performance.now()
  for (let i = 0; i < buf.length; i += 4096) buf[i] = 1
  const us = (performance.now() - t0) * 1000
  const faults = f0 < 0 ? null : minorFaults() - f0
  process.stdout.write(`${JSON.stringify({ round: r + 1, pages, minorFaults: faults, usPerPage: Math.round((us / pages) * 100) / 100 })}\n`)
}
