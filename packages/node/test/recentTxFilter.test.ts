import { sha256 } from '@trellis/crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RecentTxFilter } from '../src/chain/recentTxFilter.js'

const id = (n: number) => sha256(new TextEncoder().encode(`tx-${n}`))

describe('RecentTxFilter', () => {
  it('never forgets an id within one window of adding it, across rotations (no false negatives)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 200 }), (gaps) => {
        const window = 1_000
        const f = new RecentTxFilter(window, 0, 16)
        let now = 0
        const added: Array<{ n: number; at: number }> = []
        gaps.forEach((gap, n) => {
          now += gap
          f.add(id(n), now)
          added.push({ n, at: now })
          for (const a of added) if (now - a.at <= window) expect(f.mightContain(id(a.n))).toBe(true)
        })
      }),
      { seed: 7, numRuns: 100 },
    )
  })

  it('rules out most ids it never saw and forgets ids after two windows', () => {
    const f = new RecentTxFilter(1_000, 0, 20)
    for (let n = 0; n < 10_000; n++) f.add(id(n), 10)
    let falsePositives = 0
    for (let n = 10_000; n < 20_000; n++) if (f.mightContain(id(n))) falsePositives++
    expect(falsePositives).toBeLessThan(100) // 2^20 bits, 7 hashes, 10k ids: ~0.01 % expected
    f.add(id(99_999), 1_500) // rotation: the first batch moves to "previous"
    expect(f.mightContain(id(1))).toBe(true)
    f.add(id(99_998), 3_000) // second rotation: the first batch is gone
    expect(f.mightContain(id(1))).toBe(false)
    expect(f.mightContain(id(99_998))).toBe(true)
  })
})
