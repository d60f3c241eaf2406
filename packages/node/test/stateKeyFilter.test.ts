import { sha256 } from '@trellis/crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StateKeyFilter } from '../src/chain/stateKeyFilter.js'

const hashOf = (i: number) => sha256(Uint8Array.of(i & 255, (i >> 8) & 255, (i >> 16) & 255, (i >> 24) & 255))

describe('StateKeyFilter', () => {
  it('never reports an added key hash as absent (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 300 }), (hashes) => {
        const f = new StateKeyFilter()
        for (const h of hashes) f.add(h)
        for (const h of hashes) expect(f.mightContain(h)).toBe(true)
      }),
      { numRuns: 200 },
    )
  })

  it('keeps every key and a low false-positive rate as it grows past several capacities', () => {
    const f = new StateKeyFilter()
    const n = 300_000 // the first filter holds 65,536: this grows it three times
    for (let i = 0; i < n; i++) f.add(hashOf(i))
    expect(f.size).toBe(n)
    for (let i = 0; i < n; i += 97) expect(f.mightContain(hashOf(i))).toBe(true)
    let falsePositives = 0
    const probes = 20_000
    for (let i = n; i < n + probes; i++) if (f.mightContain(hashOf(i))) falsePositives++
    expect(falsePositives / probes).toBeLessThan(0.01)
  })

  it('reports everything absent when empty', () => {
    const f = new StateKeyFilter()
    for (let i = 0; i < 1000; i++) expect(f.mightContain(hashOf(i))).toBe(false)
  })
})
