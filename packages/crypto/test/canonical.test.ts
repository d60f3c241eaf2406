import { ED25519_L, isCanonicalSignature, P256_HALF_N, P256_N } from '@trellis/crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bigIntToBE32, bigIntToLE32 } from './conformance.js'

// isCanonicalSignature compares bytes; these properties pin it to the rule as numbers.
const MAX = 2n ** 256n - 1n
const p256Edges = [0n, 1n, P256_HALF_N - 1n, P256_HALF_N, P256_HALF_N + 1n, P256_N - 1n, P256_N, P256_N + 1n, MAX]
const edEdges = [0n, 1n, ED25519_L - 1n, ED25519_L, ED25519_L + 1n, MAX]
const scalar = (edges: bigint[]) => fc.oneof(fc.constantFrom(...edges), fc.bigInt({ min: 0n, max: MAX }))

describe('isCanonicalSignature', () => {
  it('P-256: accepts exactly 1 ≤ r < n and 1 ≤ s ≤ n/2', () => {
    fc.assert(
      fc.property(scalar(p256Edges), scalar(p256Edges), (r, s) => {
        const sig = new Uint8Array(64)
        sig.set(bigIntToBE32(r), 0)
        sig.set(bigIntToBE32(s), 32)
        expect(isCanonicalSignature('p256', sig)).toBe(r > 0n && r < P256_N && s > 0n && s <= P256_HALF_N)
      }),
      { numRuns: 2000 },
    )
  })

  it('Ed25519: accepts exactly S < L, whatever R is', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), scalar(edEdges), (r, s) => {
        const sig = new Uint8Array(64)
        sig.set(r, 0)
        sig.set(bigIntToLE32(s), 32)
        expect(isCanonicalSignature('ed25519', sig)).toBe(s < ED25519_L)
      }),
      { numRuns: 2000 },
    )
  })

  it('rejects any length but 64', () => {
    for (const n of [0, 63, 65]) expect(isCanonicalSignature('p256', new Uint8Array(n).fill(1))).toBe(false)
  })
})
