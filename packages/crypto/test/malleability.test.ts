import { p256 } from '@noble/curves/nist.js'
import {
  ED25519_L,
  isCanonicalSignature,
  nobleBackend,
  nodeBackend,
  P256_HALF_N,
  P256_N,
  type PrivateKey,
  type PublicKey,
} from '@trellis/crypto'
import { concatBytes, utf8ToBytes } from '@trellis/utils'
import { describe, expect, it } from 'vitest'
import { be, bigIntToBE32, bigIntToLE32, expectRejected, le } from './conformance.js'

const backends = [
  { name: 'node', backend: nodeBackend, signatures: 400 },
  { name: 'noble', backend: nobleBackend, signatures: 60 },
] as const

const msg = utf8ToBytes('pay 10 to bob')

describe('P-256 malleability', () => {
  describe.each(backends)('$name backend', ({ backend, signatures }) => {
    it(`sign always yields 1 ≤ r < n and low S (1 ≤ s ≤ n/2), over ${signatures} signatures`, () => {
      const { privateKey, publicKey } = backend.generateKeyPair('p256')
      for (let i = 0; i < signatures; i++) {
        const m = concatBytes(msg, Uint8Array.of(i & 0xff, i >> 8))
        const sig = backend.sign(privateKey, m)
        const r = be(sig.subarray(0, 32))
        const s = be(sig.subarray(32))
        expect(r > 0n && r < P256_N).toBe(true)
        expect(s > 0n && s <= P256_HALF_N).toBe(true)
        expect(backend.verify(publicKey, m, sig)).toBe(true)
      }
    })
  })

  it('(r, n − s) is rejected by both backends, though it is a valid ECDSA signature', () => {
    for (const signer of backends) {
      for (let i = 0; i < 10; i++) {
        const { privateKey, publicKey } = signer.backend.generateKeyPair('p256')
        const sig = signer.backend.sign(privateKey, msg)
        const high = concatBytes(sig.subarray(0, 32), bigIntToBE32(P256_N - be(sig.subarray(32))))
        expect(be(high.subarray(32)) > P256_HALF_N).toBe(true)
        // Plain ECDSA (no low-S rule) accepts the twin: rejecting it is this protocol's choice.
        expect(p256.verify(high, msg, publicKey.bytes, { prehash: true, lowS: false, format: 'compact' })).toBe(true)
        expect(isCanonicalSignature('p256', high)).toBe(false)
        for (const { backend } of backends) {
          expect(backend.verify(publicKey, msg, sig)).toBe(true)
          expectRejected(backend, publicKey, msg, high)
        }
      }
    }
  })

  describe('out-of-range r and s are rejected by both backends', () => {
    const { privateKey, publicKey } = nodeBackend.generateKeyPair('p256')
    const sig = nodeBackend.sign(privateKey, msg)
    const r = be(sig.subarray(0, 32))
    const s = be(sig.subarray(32))
    const with_ = (rr: bigint, ss: bigint) => concatBytes(bigIntToBE32(rr), bigIntToBE32(ss))
    it.each([
      ['r = 0', with_(0n, s)],
      ['s = 0', with_(r, 0n)],
      ['r = s = 0', with_(0n, 0n)],
      ['r = n', with_(P256_N, s)],
      ['r = n + 1', with_(P256_N + 1n, s)],
      ['r = 2^256 − 1', with_(2n ** 256n - 1n, s)],
      ['s = n/2 + 1', with_(r, P256_HALF_N + 1n)],
      ['s = n − 1', with_(r, P256_N - 1n)],
      ['s = n', with_(r, P256_N)],
      ['s = 2^256 − 1', with_(r, 2n ** 256n - 1n)],
    ])('%s', (_name, bad) => {
      expect(isCanonicalSignature('p256', bad)).toBe(false)
      for (const { backend } of backends) expectRejected(backend, publicKey, msg, bad)
    })
  })

  it('isCanonicalSignature draws the boundaries exactly', () => {
    const sig = (r: bigint, s: bigint) => concatBytes(bigIntToBE32(r), bigIntToBE32(s))
    expect(P256_HALF_N).toBe((P256_N - 1n) / 2n)
    expect(isCanonicalSignature('p256', sig(1n, 1n))).toBe(true)
    expect(isCanonicalSignature('p256', sig(P256_N - 1n, P256_HALF_N))).toBe(true)
    expect(isCanonicalSignature('p256', sig(P256_N, P256_HALF_N))).toBe(false)
    expect(isCanonicalSignature('p256', sig(1n, P256_HALF_N + 1n))).toBe(false)
    expect(isCanonicalSignature('p256', new Uint8Array(63).fill(1))).toBe(false)
    expect(isCanonicalSignature('p256', new Uint8Array(65).fill(1))).toBe(false)
  })
})

describe('Ed25519 malleability', () => {
  const { privateKey, publicKey } = nodeBackend.generateKeyPair('ed25519') as { privateKey: PrivateKey; publicKey: PublicKey }
  const sig = nodeBackend.sign(privateKey, msg)
  const R = sig.subarray(0, 32)
  const S = le(sig.subarray(32))

  it('signatures carry S < L', () => {
    for (const { backend } of backends) {
      for (let i = 0; i < 50; i++) expect(le(backend.sign(privateKey, Uint8Array.of(i)).subarray(32)) < ED25519_L).toBe(true)
    }
  })

  it('S + k·L (same value mod L, still 32 bytes) is rejected by both backends for every k that fits', () => {
    expect(nodeBackend.verify(publicKey, msg, sig)).toBe(true)
    let tried = 0
    for (let k = 1n; S + k * ED25519_L < 2n ** 256n; k++) {
      const twin = concatBytes(R, bigIntToLE32(S + k * ED25519_L))
      expect(isCanonicalSignature('ed25519', twin)).toBe(false)
      for (const { backend } of backends) expectRejected(backend, publicKey, msg, twin)
      tried++
    }
    expect(tried).toBeGreaterThanOrEqual(15)
  })

  it('isCanonicalSignature draws the S boundary exactly', () => {
    expect(isCanonicalSignature('ed25519', concatBytes(R, bigIntToLE32(ED25519_L - 1n)))).toBe(true)
    expect(isCanonicalSignature('ed25519', concatBytes(R, bigIntToLE32(ED25519_L)))).toBe(false)
    expect(isCanonicalSignature('ed25519', concatBytes(R, bigIntToLE32(0n)))).toBe(true)
  })

  it('any top bit set in S is rejected', () => {
    for (const bit of [0x20, 0x40, 0x80]) {
      const bad = Uint8Array.from(sig)
      bad[63] = (bad[63] as number) | bit
      for (const { backend } of backends) expectRejected(backend, publicKey, msg, bad)
    }
  })
})
