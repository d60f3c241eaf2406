import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { nobleBackend, nodeBackend } from '@trellis/crypto'
import { SMALL_HASH_MAX_BYTES, sha256Small } from '../src/sha256Small.js'

const reference = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest())

describe('sha256Small (JavaScript SHA-256 for short inputs)', () => {
  it('matches node:crypto at every length up to its limit, around each padding boundary', () => {
    for (let n = 0; n <= SMALL_HASH_MAX_BYTES; n++) {
      const msg = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n * 7) & 255)
      expect(sha256Small(msg), `length ${n}`).toEqual(reference(msg))
    }
  })

  it('matches node:crypto on random inputs, including subarrays of larger buffers and Buffers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: SMALL_HASH_MAX_BYTES + 8 }), fc.nat(8), (bytes, cut) => {
        const view = bytes.subarray(Math.min(cut, bytes.length), Math.min(bytes.length, cut + SMALL_HASH_MAX_BYTES))
        expect(sha256Small(view)).toEqual(reference(view))
        expect(sha256Small(Buffer.from(view))).toEqual(reference(view))
      }),
      { numRuns: 2000 },
    )
  })

  it('hands each caller its own digest (the scratch state is not shared with results)', () => {
    const a = sha256Small(Uint8Array.of(1))
    const b = sha256Small(Uint8Array.of(2))
    expect(a).toEqual(reference(Uint8Array.of(1)))
    expect(b).not.toEqual(a)
  })

  it('refuses longer inputs; both backends hash every length like node:crypto', () => {
    expect(() => sha256Small(new Uint8Array(SMALL_HASH_MAX_BYTES + 1))).toThrow(RangeError)
    for (const n of [0, 55, 56, 64, SMALL_HASH_MAX_BYTES, SMALL_HASH_MAX_BYTES + 1, 1000, 100_000]) {
      const msg = Uint8Array.from({ length: n }, (_, i) => (i * 17) & 255)
      expect(nodeBackend.sha256(msg)).toEqual(reference(msg))
      expect(nobleBackend.sha256(msg)).toEqual(reference(msg))
    }
  })
})
