/**
 * The crypto backend conformance suite. Every backend (node:crypto, @noble) must produce and accept
 * exactly the same bytes; `conformance.test.ts` runs this suite once per backend, with every backend
 * as a peer for the cross-backend checks.
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import { p256 } from '@noble/curves/nist.js'
import { sha512 } from '@noble/hashes/sha2.js'
import {
  type CryptoBackend,
  isCanonicalSignature,
  P256_N,
  type PrivateKey,
  type PublicKey,
  SIGNATURE_LENGTH,
  type SignatureAlgorithm,
} from '@trellis/crypto'
import { bytesToHex, concatBytes, equalBytes, hexToBytes, TrellisError, utf8ToBytes } from '@trellis/utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

export interface NamedBackend {
  readonly name: string
  readonly backend: CryptoBackend
}

export const ALGORITHMS: readonly SignatureAlgorithm[] = ['p256', 'ed25519']

// ---------------------------------------------------------------------------------------------------
// Helpers (exported for the other crypto test files)
// ---------------------------------------------------------------------------------------------------

export function bigIntToBE32(n: bigint): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(n & 0xffn)
    n >>= 8n
  }
  return out
}

export function bigIntToLE32(n: bigint): Uint8Array {
  return bigIntToBE32(n).reverse()
}

export function be(b: Uint8Array): bigint {
  let n = 0n
  for (const x of b) n = (n << 8n) | BigInt(x)
  return n
}

export function le(b: Uint8Array): bigint {
  return be(Uint8Array.from(b).reverse())
}

/** Calls `fn` and returns the TrellisError it throws; fails the test when it throws nothing or something else. */
export function trellisErrorOf(fn: () => unknown): TrellisError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(TrellisError)
    return e as TrellisError
  }
  throw new Error('expected a TrellisError, nothing was thrown')
}

export function expectCode(fn: () => unknown, code: string): TrellisError {
  const e = trellisErrorOf(fn)
  expect(e.code).toBe(code)
  return e
}

/** verify() (or verifyDer()) must answer false and never throw; checks that, and that the inputs were not mutated. */
export function expectRejected(
  backend: CryptoBackend,
  pub: PublicKey,
  msg: Uint8Array,
  sig: Uint8Array,
  method: 'verify' | 'verifyDer' = 'verify',
): void {
  const pubCopy = Uint8Array.from(pub.bytes)
  const sigCopy = Uint8Array.from(sig)
  let result: boolean | undefined
  expect(() => {
    result = backend[method](pub, msg, sig)
  }).not.toThrow()
  expect(result).toBe(false)
  expect(equalBytes(pub.bytes, pubCopy)).toBe(true)
  expect(equalBytes(sig, sigCopy)).toBe(true)
}

/** The X.509 (DER ECDSA-Sig-Value) form of a 64-byte P-256 signature r‖s, encoded by @noble. */
export function p256Der(sig: Uint8Array): Uint8Array {
  return p256.Signature.fromBytes(sig, 'compact').toBytes('der')
}

/** The high-S twin (r, n − s) of a 64-byte P-256 signature: equally valid for plain ECDSA. */
export function highS(sig: Uint8Array): Uint8Array {
  return concatBytes(sig.subarray(0, 32), bigIntToBE32(P256_N - be(sig.subarray(32))))
}

/** A DER INTEGER whose contents are exactly `contents` (minimal or not). */
function derInteger(contents: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(0x02, contents.length), contents)
}

/** A DER SEQUENCE of two INTEGERs with the given contents octets. */
function derPair(r: Uint8Array, s: Uint8Array): Uint8Array {
  const body = concatBytes(derInteger(r), derInteger(s))
  return concatBytes(Uint8Array.of(0x30, body.length), body)
}

/** Minimal DER INTEGER contents of a non-negative bigint. */
function intContents(n: bigint): Uint8Array {
  const hex = n.toString(16)
  const bytes = hexToBytes(hex.length % 2 === 0 ? hex : `0${hex}`)
  return (bytes[0] as number) & 0x80 ? concatBytes(Uint8Array.of(0), bytes) : bytes
}

/** Encodings of a valid P-256 signature (r, s) that no DER verifier may accept, with why. */
export function malformedDerSignatures(sig: Uint8Array): [string, Uint8Array][] {
  const r = be(sig.subarray(0, 32))
  const s = be(sig.subarray(32))
  const good = p256Der(sig)
  const pair = (a: bigint, b: bigint) => derPair(intContents(a), intContents(b))
  return [
    ['empty', new Uint8Array()],
    ['the 64-byte compact form', sig],
    ['r = 0', pair(0n, s)],
    ['s = 0', pair(r, 0n)],
    ['r = n', pair(P256_N, s)],
    ['s = n', pair(r, P256_N)],
    ['s + n (same value mod n)', pair(r, s + P256_N)],
    ['r with a needless leading zero', derPair(concatBytes(Uint8Array.of(0), intContents(r)), intContents(s))],
    ['s as a negative integer (its sign byte dropped)', derPair(intContents(r), bigIntToBE32(P256_N - 1n))],
    ['r and s swapped', pair(s, r)],
    ['a trailing zero byte', concatBytes(good, Uint8Array.of(0))],
    ['one byte short', good.slice(0, -1)],
    ['a SET instead of a SEQUENCE', concatBytes(Uint8Array.of(0x31), good.subarray(1))],
    ['the length in long form', concatBytes(Uint8Array.of(0x30, 0x81), good.subarray(1))],
    ['an indefinite length', concatBytes(Uint8Array.of(0x30, 0x80), good.subarray(2), Uint8Array.of(0, 0))],
    ['a third INTEGER', derPair(intContents(r), concatBytes(intContents(s), Uint8Array.of(0x02, 0x01, 0x01)))],
  ]
}

/** A valid private key for `alg` from 32 arbitrary bytes (P-256 scalars are mapped into [1, n)). */
export function privateKeyFrom(alg: SignatureAlgorithm, seed: Uint8Array): PrivateKey {
  if (alg === 'ed25519') return { alg, bytes: seed }
  return { alg, bytes: bigIntToBE32((be(seed) % (P256_N - 1n)) + 1n) }
}

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 })
const messageArb = fc.uint8Array({ maxLength: 300 })

// ---------------------------------------------------------------------------------------------------
// Crafted Ed25519 edge cases: small-order and non-canonical keys, small-order components in R and A.
// ---------------------------------------------------------------------------------------------------

const Ed = ed25519.Point
/** A point of order 8; its multiples are the whole small-order subgroup. */
const T8 = Ed.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a')
const P25519 = 2n ** 255n - 19n

/** The 8 points of small order, in their canonical encodings. */
export function smallOrderEncodings(): Uint8Array[] {
  const out: Uint8Array[] = []
  let t = Ed.ZERO
  for (let j = 0; j < 8; j++) {
    out.push(t.toBytes())
    t = t.add(T8)
  }
  return out
}

/** Non-canonical encodings of small-order points: y ≥ p, or x = 0 with the sign bit set. */
export function nonCanonicalSmallOrderEncodings(): Uint8Array[] {
  const enc = (y: bigint, signBit: boolean) => {
    const b = bigIntToLE32(y)
    if (signBit) b[31] = (b[31] as number) | 0x80
    return b
  }
  return [
    enc(1n, true), // identity, x = 0 with the sign bit
    enc(P25519 - 1n, true), // order 2, x = 0 with the sign bit
    enc(P25519 + 1n, false), // identity with y = p + 1
    enc(P25519 + 1n, true),
    enc(P25519, false), // order 4 (y = 0) with y = p
    enc(P25519, true),
  ]
}

function ed25519Challenge(R: Uint8Array, A: Uint8Array, msg: Uint8Array): bigint {
  return le(sha512(concatBytes(R, A, msg))) % ed25519.Point.Fn.ORDER
}

/**
 * The bare cofactorless equation [S]B − [k]A = R (R compared as bytes), decoding A leniently and
 * applying none of the key checks: what a verifier without the strict key rule would check.
 */
export function cofactorlessEquationHolds(A: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  const Ap = Ed.fromBytes(A, true)
  const k = ed25519Challenge(sig.subarray(0, 32), A, msg)
  return equalBytes(
    Ed.BASE.multiplyUnsafe(le(sig.subarray(32)))
      .subtract(Ap.multiplyUnsafe(k))
      .toBytes(),
    sig.subarray(0, 32),
  )
}

/** The cofactored equation [8]([S]B − R − [k]A) = 0 (what @noble's own ed25519.verify checks). */
export function cofactoredEquationHolds(A: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  const Ap = Ed.fromBytes(A, true)
  const R = Ed.fromBytes(sig.subarray(0, 32), true)
  const k = ed25519Challenge(sig.subarray(0, 32), A, msg)
  return Ed.BASE.multiplyUnsafe(le(sig.subarray(32)))
    .subtract(R)
    .subtract(Ap.multiplyUnsafe(k))
    .clearCofactor()
    .is0()
}

/**
 * For a small-order key A, a signature satisfying the cofactorless equation without any private key:
 * R = [r]B − [j]A for the j with [k]A = [j]A. For the identity key it verifies every message.
 */
export function forgeForSmallOrderKey(A: Uint8Array, msg: Uint8Array): Uint8Array {
  const Ap = Ed.fromBytes(A, true)
  for (let r = 1n; r < 1000n; r++) {
    for (let j = 0n; j < 8n; j++) {
      const R = Ed.BASE.multiply(r).subtract(Ap.multiplyUnsafe(j)).toBytes()
      const sig = concatBytes(R, bigIntToLE32(r))
      if (cofactorlessEquationHolds(A, msg, sig)) return sig
    }
  }
  throw new Error('no forgery found')
}

export interface Ed25519EdgeCase {
  readonly name: string
  readonly pub: Uint8Array
  readonly msg: Uint8Array
  readonly sig: Uint8Array
  /** What every backend must answer. */
  readonly expected: boolean
}

/** Signer-crafted Ed25519 cases on which a cofactored and a cofactorless verifier, or lax and strict key decoders, differ. */
export function ed25519EdgeCases(): Ed25519EdgeCase[] {
  const msg = utf8ToBytes('edge case')
  const seed = new Uint8Array(32).fill(7)
  const { scalar: a, pointBytes: A } = ed25519.utils.getExtendedPublicKey(seed)
  const L = ed25519.Point.Fn.ORDER
  const cases: Ed25519EdgeCase[] = []

  for (const [i, enc] of smallOrderEncodings().entries()) {
    cases.push({
      name: `small-order key #${i} (${bytesToHex(enc).slice(0, 8)}…)`,
      pub: enc,
      msg,
      sig: forgeForSmallOrderKey(enc, msg),
      expected: false,
    })
  }
  for (const enc of nonCanonicalSmallOrderEncodings()) {
    cases.push({
      name: `non-canonical small-order key ${bytesToHex(enc).slice(-8)}`,
      pub: enc,
      msg,
      sig: forgeForSmallOrderKey(enc, msg),
      expected: false,
    })
  }

  // R with a small-order component, S computed honestly by the key owner: the cofactored equation
  // holds, the cofactorless one does not.
  {
    const r = 1234567n
    const R = Ed.BASE.multiply(r).add(T8).toBytes()
    const S = (r + ed25519Challenge(R, A, msg) * a) % L
    cases.push({ name: 'R with a small-order component', pub: A, msg, sig: concatBytes(R, bigIntToLE32(S)), expected: false })
  }

  // A with a small-order component (A' = [a]B + T8), R = [r]B, S = r + k·a: [S]B − [k]A' = R − [k]T8,
  // so the cofactorless equation holds exactly when 8 | k. One case of each.
  {
    const A2 = Ed.BASE.multiply(a).add(T8).toBytes()
    let found0 = false
    let foundOther = false
    for (let r = 1n; !(found0 && foundOther); r++) {
      const R = Ed.BASE.multiply(r).toBytes()
      const k = ed25519Challenge(R, A2, msg)
      const sig = concatBytes(R, bigIntToLE32((r + k * a) % L))
      if (k % 8n === 0n && !found0) {
        found0 = true
        cases.push({ name: 'A with a small-order component, 8 | k', pub: A2, msg, sig, expected: true })
      } else if (k % 8n !== 0n && !foundOther) {
        foundOther = true
        cases.push({ name: 'A with a small-order component, 8 ∤ k', pub: A2, msg, sig, expected: false })
      }
    }
  }

  // R = identity with S = k·a: satisfies the cofactorless equation exactly.
  {
    const R = Ed.ZERO.toBytes()
    const S = (ed25519Challenge(R, A, msg) * a) % L
    cases.push({ name: 'R = identity, S = k·a', pub: A, msg, sig: concatBytes(R, bigIntToLE32(S)), expected: true })
  }

  // R = identity in a non-canonical encoding (y = p + 1), S = k·a for that encoding.
  {
    const R = bigIntToLE32(P25519 + 1n)
    const S = (ed25519Challenge(R, A, msg) * a) % L
    cases.push({ name: 'non-canonical R encoding', pub: A, msg, sig: concatBytes(R, bigIntToLE32(S)), expected: false })
  }
  return cases
}

// ---------------------------------------------------------------------------------------------------
// Malformed public keys
// ---------------------------------------------------------------------------------------------------

function firstOffCurveEd25519Y(): Uint8Array {
  for (let y = 2n; ; y++) {
    const b = bigIntToLE32(y)
    try {
      Ed.fromBytes(b, true)
    } catch {
      return b
    }
  }
}

function firstOffCurveP256X(): Uint8Array {
  for (let x = 1n; ; x++) {
    const b = concatBytes(Uint8Array.of(2), bigIntToBE32(x))
    try {
      p256.Point.fromBytes(b)
    } catch {
      return b
    }
  }
}

/** Public keys that no signature may verify under, with a reason, for a given well-formed key. */
export function malformedPublicKeys(pub: PublicKey): { name: string; key: PublicKey }[] {
  const k = (alg: string, bytes: Uint8Array) => ({ alg: alg as SignatureAlgorithm, bytes })
  const common = [
    { name: 'empty', key: k(pub.alg, new Uint8Array()) },
    { name: 'one byte short', key: k(pub.alg, pub.bytes.slice(0, -1)) },
    { name: 'one byte long', key: k(pub.alg, concatBytes(pub.bytes, Uint8Array.of(0))) },
    { name: 'unknown algorithm', key: k('rsa', pub.bytes) },
    { name: 'upper-case algorithm', key: k(pub.alg.toUpperCase(), pub.bytes) },
    { name: 'empty algorithm', key: k('', pub.bytes) },
    { name: 'the other algorithm', key: k(pub.alg === 'p256' ? 'ed25519' : 'p256', pub.bytes) },
  ]
  if (pub.alg === 'p256') {
    const x = pub.bytes.subarray(1)
    const uncompressed = p256.Point.fromBytes(pub.bytes).toBytes(false)
    return [
      ...common,
      { name: 'uncompressed (65 bytes)', key: k('p256', uncompressed) },
      { name: 'prefix 04 on 33 bytes', key: k('p256', concatBytes(Uint8Array.of(4), x)) },
      { name: 'prefix 00', key: k('p256', concatBytes(Uint8Array.of(0), x)) },
      { name: 'prefix 01', key: k('p256', concatBytes(Uint8Array.of(1), x)) },
      { name: 'prefix 05', key: k('p256', concatBytes(Uint8Array.of(5), x)) },
      { name: 'prefix ff', key: k('p256', concatBytes(Uint8Array.of(0xff), x)) },
      { name: 'negated point (other prefix)', key: k('p256', concatBytes(Uint8Array.of((pub.bytes[0] as number) ^ 1), x)) },
      { name: 'x not on the curve', key: k('p256', firstOffCurveP256X()) },
      // x = 0 is on P-256; x = 0 + p encodes the same x non-canonically.
      { name: 'x ≥ p', key: k('p256', concatBytes(Uint8Array.of(2), bigIntToBE32(p256.Point.Fp.ORDER))) },
      { name: 'all 0xff', key: k('p256', new Uint8Array(33).fill(0xff)) },
    ]
  }
  return [
    ...common,
    { name: 'y not on the curve', key: k('ed25519', firstOffCurveEd25519Y()) },
    { name: 'all 0xff', key: k('ed25519', new Uint8Array(32).fill(0xff)) },
    ...smallOrderEncodings().map((b) => ({ name: `small order ${bytesToHex(b).slice(0, 8)}`, key: k('ed25519', b) })),
    ...nonCanonicalSmallOrderEncodings().map((b) => ({ name: `non-canonical ${bytesToHex(b).slice(-8)}`, key: k('ed25519', b) })),
  ]
}

// ---------------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------------

export interface ConformanceOptions {
  /** fast-check runs per property; the pure-JS backend is slower. */
  readonly runs?: number
}

export function describeConformance(subject: NamedBackend, peers: readonly NamedBackend[], options: ConformanceOptions = {}): void {
  const b = subject.backend
  const runs = options.runs ?? 50

  describe(`crypto backend conformance: ${subject.name}`, () => {
    describe('sha256', () => {
      it('matches the FIPS 180-2 known answers', () => {
        expect(bytesToHex(b.sha256(new Uint8Array()))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
        expect(bytesToHex(b.sha256(utf8ToBytes('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
        expect(bytesToHex(b.sha256(utf8ToBytes('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
          '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
        )
      })

      it('is identical in every backend and returns a plain 32-byte Uint8Array (property)', () => {
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 1000 }), (data) => {
            const h = b.sha256(data)
            expect(h.length).toBe(32)
            expect(Object.getPrototypeOf(h)).toBe(Uint8Array.prototype)
            for (const peer of peers) expect(bytesToHex(peer.backend.sha256(data))).toBe(bytesToHex(h))
          }),
          { numRuns: runs },
        )
      })

      it('sha256Into writes the same digest into the first 32 bytes of its output, even over its input (property)', () => {
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(8), (data, at) => {
            const out = new Uint8Array(40 + at).fill(0xee)
            b.sha256Into(data, out.subarray(at))
            expect(bytesToHex(out.subarray(at, at + 32))).toBe(bytesToHex(b.sha256(data)))
            expect([...out.subarray(0, at), ...out.subarray(at + 32)].every((x) => x === 0xee)).toBe(true)
            // In place: the output is the input's own first 32 bytes.
            const own = Uint8Array.from([...data, ...new Array(32).fill(1)])
            const expected = b.sha256(own)
            b.sha256Into(own, own)
            expect(bytesToHex(own.subarray(0, 32))).toBe(bytesToHex(expected))
          }),
          { numRuns: runs },
        )
        expect(() => b.sha256Into(utf8ToBytes('abc'), new Uint8Array(31))).toThrow(RangeError)
      })

      it('hashes only the bytes of a view, not its whole buffer', () => {
        const whole = utf8ToBytes('xxabcxx')
        expect(bytesToHex(b.sha256(whole.subarray(2, 5)))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
      })
    })

    describe('randomBytes', () => {
      it('returns fresh plain Uint8Arrays of the requested length', () => {
        expect(b.randomBytes(0).length).toBe(0)
        const x = b.randomBytes(32)
        const y = b.randomBytes(32)
        expect(x.length).toBe(32)
        expect(Object.getPrototypeOf(x)).toBe(Uint8Array.prototype)
        expect(equalBytes(x, y)).toBe(false)
        expect(b.randomBytes(1000).length).toBe(1000)
      })
    })

    it('generateKeyPair defaults to P-256 and rejects unknown algorithms', () => {
      const kp = b.generateKeyPair()
      expect(kp.publicKey.alg).toBe('p256')
      expect(kp.privateKey.alg).toBe('p256')
      expectCode(() => b.generateKeyPair('rsa' as SignatureAlgorithm), 'CRYPTO_UNKNOWN_ALGORITHM')
    })

    for (const alg of ALGORITHMS) {
      describe(alg, () => {
        const pubLength = alg === 'p256' ? 33 : 32

        it('generateKeyPair yields well-formed, distinct key pairs whose public key matches the private one', () => {
          const seen = new Set<string>()
          for (let i = 0; i < 5; i++) {
            const { publicKey, privateKey } = b.generateKeyPair(alg)
            expect(publicKey.alg).toBe(alg)
            expect(privateKey.alg).toBe(alg)
            expect(privateKey.bytes.length).toBe(32)
            expect(publicKey.bytes.length).toBe(pubLength)
            if (alg === 'p256') {
              expect([2, 3]).toContain(publicKey.bytes[0])
              const d = be(privateKey.bytes)
              expect(d > 0n && d < P256_N).toBe(true)
            }
            expect(bytesToHex(b.publicKeyFromPrivate(privateKey).bytes)).toBe(bytesToHex(publicKey.bytes))
            seen.add(bytesToHex(privateKey.bytes))
          }
          expect(seen.size).toBe(5)
        })

        it('derives the same public key from the same private key in every backend (property)', () => {
          fc.assert(
            fc.property(seedArb, (seed) => {
              const priv = privateKeyFrom(alg, seed)
              const pub = b.publicKeyFromPrivate(priv)
              expect(pub.alg).toBe(alg)
              expect(pub.bytes.length).toBe(pubLength)
              for (const peer of peers) expect(bytesToHex(peer.backend.publicKeyFromPrivate(priv).bytes)).toBe(bytesToHex(pub.bytes))
            }),
            { numRuns: runs },
          )
        })

        it('sign → verify round trips with canonical 64-byte signatures (property)', () => {
          fc.assert(
            fc.property(seedArb, messageArb, (seed, msg) => {
              const priv = privateKeyFrom(alg, seed)
              const pub = b.publicKeyFromPrivate(priv)
              const sig = b.sign(priv, msg)
              expect(sig.length).toBe(SIGNATURE_LENGTH)
              expect(Object.getPrototypeOf(sig)).toBe(Uint8Array.prototype)
              expect(isCanonicalSignature(alg, sig)).toBe(true)
              expect(b.verify(pub, msg, sig)).toBe(true)
            }),
            { numRuns: runs },
          )
        })

        it('signatures cross backends both ways (property)', () => {
          fc.assert(
            fc.property(seedArb, messageArb, (seed, msg) => {
              const priv = privateKeyFrom(alg, seed)
              const pub = b.publicKeyFromPrivate(priv)
              const mine = b.sign(priv, msg)
              for (const peer of peers) {
                expect(peer.backend.verify(pub, msg, mine)).toBe(true)
                expect(b.verify(pub, msg, peer.backend.sign(priv, msg))).toBe(true)
              }
            }),
            { numRuns: runs },
          )
        })

        if (alg === 'ed25519') {
          it('Ed25519 signatures are deterministic and byte-identical across backends (property)', () => {
            fc.assert(
              fc.property(seedArb, messageArb, (seed, msg) => {
                const priv = privateKeyFrom(alg, seed)
                const sig = bytesToHex(b.sign(priv, msg))
                expect(bytesToHex(b.sign(priv, msg))).toBe(sig)
                for (const peer of peers) expect(bytesToHex(peer.backend.sign(priv, msg))).toBe(sig)
              }),
              { numRuns: runs },
            )
          })
        }

        it('signs and verifies messages and keys given as offset views and Buffers', () => {
          const { privateKey, publicKey } = b.generateKeyPair(alg)
          const backing = utf8ToBytes('##the message##')
          const view = backing.subarray(2, 13)
          const sig = b.sign(privateKey, view)
          expect(b.verify(publicKey, utf8ToBytes('the message'), sig)).toBe(true)
          expect(b.verify(publicKey, Buffer.from('the message'), sig)).toBe(true)
          const keyBacking = concatBytes(Uint8Array.of(9, 9, 9), publicKey.bytes, Uint8Array.of(9))
          expect(b.verify({ alg, bytes: keyBacking.subarray(3, 3 + pubLength) }, view, sig)).toBe(true)
          expect(b.verify({ alg, bytes: Buffer.from(publicKey.bytes) }, view, Buffer.from(sig))).toBe(true)
          const sig2 = b.sign({ alg, bytes: Buffer.from(privateKey.bytes) }, Buffer.from('the message'))
          expect(b.verify(publicKey, view, sig2)).toBe(true)
        })

        it('rejects a signature over a different message (property)', () => {
          fc.assert(
            fc.property(seedArb, messageArb, messageArb, (seed, msg, other) => {
              fc.pre(!equalBytes(msg, other))
              const priv = privateKeyFrom(alg, seed)
              expectRejected(b, b.publicKeyFromPrivate(priv), other, b.sign(priv, msg))
            }),
            { numRuns: runs },
          )
        })

        it('rejects a signature under a different key (property)', () => {
          fc.assert(
            fc.property(seedArb, seedArb, messageArb, (s1, s2, msg) => {
              fc.pre(!equalBytes(s1, s2))
              const sig = b.sign(privateKeyFrom(alg, s1), msg)
              expectRejected(b, b.publicKeyFromPrivate(privateKeyFrom(alg, s2)), msg, sig)
            }),
            { numRuns: runs },
          )
        })

        it('rejects the empty message signature for a non-empty message and vice versa', () => {
          const { privateKey, publicKey } = b.generateKeyPair(alg)
          expectRejected(b, publicKey, Uint8Array.of(0), b.sign(privateKey, new Uint8Array()))
          expectRejected(b, publicKey, new Uint8Array(), b.sign(privateKey, Uint8Array.of(0)))
        })

        describe('altered signatures', () => {
          const { privateKey, publicKey } = b.generateKeyPair(alg)
          const msg = utf8ToBytes('a message')
          const sig = b.sign(privateKey, msg)

          it('the unaltered signature verifies', () => {
            expect(b.verify(publicKey, msg, sig)).toBe(true)
          })

          it.each([
            ['empty', () => new Uint8Array()],
            ['1 byte', () => sig.slice(0, 1)],
            ['first half only', () => sig.slice(0, 32)],
            ['one byte short', () => sig.slice(0, 63)],
            ['one zero byte appended', () => concatBytes(sig, Uint8Array.of(0))],
            ['one zero byte prepended', () => concatBytes(Uint8Array.of(0), sig)],
            ['doubled', () => concatBytes(sig, sig)],
            ['halves swapped', () => concatBytes(sig.subarray(32), sig.subarray(0, 32))],
            ['all zero', () => new Uint8Array(64)],
            ['all 0xff', () => new Uint8Array(64).fill(0xff)],
            [
              'DER encoded (P-256) / 72 bytes',
              () => concatBytes(Uint8Array.of(0x30, 0x44, 0x02, 0x20), sig.subarray(0, 32), Uint8Array.of(0x02, 0x20), sig.subarray(32)),
            ],
          ])('rejects a signature that is %s', (_name, make) => {
            expectRejected(b, publicKey, msg, make())
          })

          it('rejects every single-bit flip of one byte in each position', () => {
            for (let i = 0; i < 64; i++) {
              const bad = Uint8Array.from(sig)
              bad[i] = (bad[i] as number) ^ (1 << (i % 8))
              expectRejected(b, publicKey, msg, bad)
            }
          })

          it('rejects random bytes of any length as a signature, without throwing (property)', () => {
            fc.assert(
              fc.property(fc.oneof(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.uint8Array({ maxLength: 100 })), (junk) => {
                expectRejected(b, publicKey, msg, junk)
              }),
              { numRuns: runs },
            )
          })
        })

        describe('verifyDer (signatures in their X.509 form)', () => {
          const { privateKey, publicKey } = b.generateKeyPair(alg)
          const msg = utf8ToBytes('a tbsCertificate')
          const sig = b.sign(privateKey, msg)
          const x509Form = alg === 'p256' ? p256Der(sig) : sig

          it('accepts the X.509 form of a signature in every backend, for that message and key only', () => {
            expect(b.verifyDer(publicKey, msg, x509Form)).toBe(true)
            for (const peer of peers) expect(peer.backend.verifyDer(publicKey, msg, x509Form)).toBe(true)
            expectRejected(b, publicKey, utf8ToBytes('another tbsCertificate'), x509Form, 'verifyDer')
            expectRejected(b, b.generateKeyPair(alg).publicKey, msg, x509Form, 'verifyDer')
          })

          it('rejects random bytes of any length, without throwing (property)', () => {
            fc.assert(
              fc.property(fc.oneof(fc.uint8Array({ minLength: 64, maxLength: 72 }), fc.uint8Array({ maxLength: 100 })), (junk) => {
                expectRejected(b, publicKey, msg, junk, 'verifyDer')
              }),
              { numRuns: runs },
            )
          })

          it('rejects every single-bit flip of one byte in each position', () => {
            for (let i = 0; i < x509Form.length; i++) {
              const bad = Uint8Array.from(x509Form)
              bad[i] = (bad[i] as number) ^ (1 << (i % 8))
              expectRejected(b, publicKey, msg, bad, 'verifyDer')
            }
          })

          if (alg === 'p256') {
            it('accepts high S, which verify() rejects, in every backend', () => {
              const twin = p256Der(highS(sig))
              expect(be(highS(sig).subarray(32)) > P256_N >> 1n).toBe(true)
              expect(b.verifyDer(publicKey, msg, twin)).toBe(true)
              for (const peer of peers) expect(peer.backend.verifyDer(publicKey, msg, twin)).toBe(true)
              expectRejected(b, publicKey, msg, highS(sig))
            })

            it('DER signatures of either S cross backends both ways (property)', () => {
              fc.assert(
                fc.property(seedArb, messageArb, fc.boolean(), (seed, m, high) => {
                  const priv = privateKeyFrom(alg, seed)
                  const pub = b.publicKeyFromPrivate(priv)
                  const mine = b.sign(priv, m)
                  const der = p256Der(high ? highS(mine) : mine)
                  expect(b.verifyDer(pub, m, der)).toBe(true)
                  for (const peer of peers) {
                    expect(peer.backend.verifyDer(pub, m, der)).toBe(true)
                    expect(b.verifyDer(pub, m, p256Der(peer.backend.sign(priv, m)))).toBe(true)
                  }
                }),
                { numRuns: runs },
              )
            })

            it.each(malformedDerSignatures(sig))('rejects a DER signature that is %s, in every backend', (_name, bad) => {
              expectRejected(b, publicKey, msg, bad, 'verifyDer')
              for (const peer of peers) expect(peer.backend.verifyDer(publicKey, msg, bad)).toBe(false)
            })
          } else {
            it('is verify() for Ed25519: the raw 64 bytes, S < L', () => {
              const L = ed25519.Point.Fn.ORDER
              const highSig = concatBytes(sig.subarray(0, 32), bigIntToLE32(le(sig.subarray(32)) + L))
              expectRejected(b, publicKey, msg, highSig, 'verifyDer')
              expectRejected(b, publicKey, msg, concatBytes(Uint8Array.of(0x04, 0x40), sig), 'verifyDer')
            })
          }
        })

        describe('malformed public keys', () => {
          const { privateKey, publicKey } = b.generateKeyPair(alg)
          const msg = utf8ToBytes('a message')
          const sig = b.sign(privateKey, msg)
          it.each(malformedPublicKeys(publicKey))('verify and verifyDer are false (never throw) for a key that is $name', ({ key }) => {
            expectRejected(b, key, msg, sig)
            expectRejected(b, key, msg, alg === 'p256' ? p256Der(sig) : sig, 'verifyDer')
          })
        })

        describe('private key validation', () => {
          const bad: [string, Uint8Array][] =
            alg === 'p256'
              ? [
                  ['31 bytes', new Uint8Array(31).fill(1)],
                  ['33 bytes', new Uint8Array(33).fill(1)],
                  ['zero', new Uint8Array(32)],
                  ['n', bigIntToBE32(P256_N)],
                  ['n + 1', bigIntToBE32(P256_N + 1n)],
                  ['2^256 − 1', new Uint8Array(32).fill(0xff)],
                ]
              : [
                  ['empty', new Uint8Array()],
                  ['31 bytes', new Uint8Array(31).fill(1)],
                  ['33 bytes', new Uint8Array(33).fill(1)],
                  ['64 bytes (seed ‖ public key)', new Uint8Array(64).fill(1)],
                ]
          it.each(bad)('sign and publicKeyFromPrivate throw CRYPTO_INVALID_PRIVATE_KEY for %s', (_name, bytes) => {
            const e = expectCode(() => b.sign({ alg, bytes }, Uint8Array.of(1)), 'CRYPTO_INVALID_PRIVATE_KEY')
            expect(e.details).toEqual({ alg })
            expectCode(() => b.publicKeyFromPrivate({ alg, bytes }), 'CRYPTO_INVALID_PRIVATE_KEY')
          })

          it('accepts the extreme valid keys', () => {
            const extremes =
              alg === 'p256' ? [bigIntToBE32(1n), bigIntToBE32(P256_N - 1n)] : [new Uint8Array(32), new Uint8Array(32).fill(0xff)]
            for (const bytes of extremes) {
              const priv = { alg, bytes }
              const pub = b.publicKeyFromPrivate(priv)
              for (const peer of peers) expect(bytesToHex(peer.backend.publicKeyFromPrivate(priv).bytes)).toBe(bytesToHex(pub.bytes))
              expect(b.verify(pub, Uint8Array.of(1), b.sign(priv, Uint8Array.of(1)))).toBe(true)
            }
            if (alg === 'p256') {
              // d = 1 gives the generator.
              expect(bytesToHex(b.publicKeyFromPrivate({ alg, bytes: bigIntToBE32(1n) }).bytes)).toBe(
                '036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296',
              )
            }
          })

          it('throws CRYPTO_UNKNOWN_ALGORITHM for a private key of an unknown algorithm', () => {
            const bytes = new Uint8Array(32).fill(1)
            expectCode(() => b.sign({ alg: 'rsa' as SignatureAlgorithm, bytes }, Uint8Array.of(1)), 'CRYPTO_UNKNOWN_ALGORITHM')
            expectCode(() => b.publicKeyFromPrivate({ alg: 'rsa' as SignatureAlgorithm, bytes }), 'CRYPTO_UNKNOWN_ALGORITHM')
          })
        })
      })
    }

    describe('Ed25519 edge cases (small-order and non-canonical points): one answer for every backend', () => {
      const cases = ed25519EdgeCases()

      it('the crafted cases are meaningful', () => {
        for (const c of cases) {
          if (c.name.includes('small-order key')) {
            // Without the key rule a cofactorless verifier would accept these forgeries.
            expect(cofactorlessEquationHolds(c.pub, c.msg, c.sig), c.name).toBe(true)
          }
          if (c.name === 'R with a small-order component' || c.name === 'A with a small-order component, 8 ∤ k') {
            // A cofactored verifier accepts these; a cofactorless one does not.
            expect(cofactoredEquationHolds(c.pub, c.msg, c.sig), c.name).toBe(true)
            expect(cofactorlessEquationHolds(c.pub, c.msg, c.sig), c.name).toBe(false)
          }
        }
        // The identity key's forgery verifies under the equation for any message at all.
        const identity = hexToBytes('0100000000000000000000000000000000000000000000000000000000000000')
        const forged = forgeForSmallOrderKey(identity, utf8ToBytes('one message'))
        expect(cofactorlessEquationHolds(identity, utf8ToBytes('any other message'), forged)).toBe(true)
      })

      it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
        const pub: PublicKey = { alg: 'ed25519', bytes: c.pub }
        if (c.expected) expect(b.verify(pub, c.msg, c.sig)).toBe(true)
        else expectRejected(b, pub, c.msg, c.sig)
        expect(b.verifyDer(pub, c.msg, c.sig)).toBe(c.expected)
        for (const peer of peers) {
          expect(peer.backend.verify(pub, c.msg, c.sig)).toBe(c.expected)
          expect(peer.backend.verifyDer(pub, c.msg, c.sig)).toBe(c.expected)
        }
      })
    })
  })
}
