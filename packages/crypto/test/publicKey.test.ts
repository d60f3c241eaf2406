import { ed25519 } from '@noble/curves/ed25519.js'
import { p256 } from '@noble/curves/nist.js'
import {
  ALGORITHM_TAG,
  nobleBackend,
  nodeBackend,
  type PublicKey,
  publicKeyFromBytes,
  publicKeyFromString,
  publicKeyToBytes,
  publicKeyToString,
  type SignatureAlgorithm,
} from '@trellis/crypto'
import { bytesToHex, concatBytes, TrellisError, utf8ToBytes } from '@trellis/utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ALGORITHMS, bigIntToBE32, expectCode, expectRejected, privateKeyFrom } from './conformance.js'

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 })
const algArb = fc.constantFrom(...ALGORITHMS)

function keyOf(alg: SignatureAlgorithm, seed: Uint8Array): PublicKey {
  return nodeBackend.publicKeyFromPrivate(privateKeyFrom(alg, seed))
}

describe('public key text form', () => {
  it('is alg:lower-case-hex and round trips (property)', () => {
    fc.assert(
      fc.property(algArb, seedArb, (alg, seed) => {
        const pub = keyOf(alg, seed)
        const s = publicKeyToString(pub)
        expect(s).toMatch(alg === 'p256' ? /^p256:0[23][0-9a-f]{64}$/ : /^ed25519:[0-9a-f]{64}$/)
        const back = publicKeyFromString(s)
        expect(back.alg).toBe(alg)
        expect(bytesToHex(back.bytes)).toBe(bytesToHex(pub.bytes))
        expect(publicKeyToString(back)).toBe(s)
      }),
    )
  })

  it('parses a known key', () => {
    const s = 'ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'
    const pub = publicKeyFromString(s)
    expect(pub.alg).toBe('ed25519')
    expect(pub.bytes.length).toBe(32)
    expect(pub.bytes[0]).toBe(0xd7)
    expect(pub.bytes[31]).toBe(0x1a)
  })

  const p256Hex = bytesToHex(keyOf('p256', new Uint8Array(32).fill(3)).bytes)
  const edHex = bytesToHex(keyOf('ed25519', new Uint8Array(32).fill(3)).bytes)

  it.each([
    ['no separator', `p256${p256Hex}`],
    ['empty string', ''],
    ['empty algorithm', `:${p256Hex}`],
    ['unknown algorithm', `secp256k1:${p256Hex}`],
    ['upper-case algorithm', `P256:${p256Hex}`],
    ['algorithm with a space', ` p256:${p256Hex}`],
    ['the tag number instead of the name', `1:${p256Hex}`],
  ])('rejects %s with CRYPTO_UNKNOWN_ALGORITHM', (_name, s) => {
    expectCode(() => publicKeyFromString(s), 'CRYPTO_UNKNOWN_ALGORITHM')
  })

  it.each([
    ['non-hex key', 'p256:zz', 'not hex'],
    ['odd-length hex', `p256:${p256Hex}0`, 'not hex'],
    ['a second separator', `p256:${p256Hex.slice(0, 10)}:${p256Hex.slice(10)}`, 'not hex'],
    ['empty key', 'p256:', 'expected 33 bytes, got 0'],
    ['P-256 key one byte short', `p256:${p256Hex.slice(0, -2)}`, 'expected 33 bytes, got 32'],
    ['P-256 key one byte long', `p256:${p256Hex}00`, 'expected 33 bytes, got 34'],
    ['Ed25519 key one byte short', `ed25519:${edHex.slice(0, -2)}`, 'expected 32 bytes, got 31'],
    ['Ed25519 key under the P-256 name', `p256:${edHex}`, 'expected 33 bytes, got 32'],
    ['P-256 key under the Ed25519 name', `ed25519:${p256Hex}`, 'expected 32 bytes, got 33'],
    ['P-256 prefix 04 on 33 bytes', `p256:04${p256Hex.slice(2)}`, 'not a compressed point'],
    ['P-256 prefix 00', `p256:00${p256Hex.slice(2)}`, 'not a compressed point'],
    ['P-256 uncompressed point (65 bytes)', `p256:04${p256Hex.slice(2)}${'00'.repeat(32)}`, 'expected 33 bytes, got 65'],
  ])('rejects %s with CRYPTO_INVALID_PUBLIC_KEY', (_name, s, reason) => {
    const e = expectCode(() => publicKeyFromString(s), 'CRYPTO_INVALID_PUBLIC_KEY')
    expect(e.details).toMatchObject({ reason })
    expect((e.details as { alg: string }).alg).toBe(s.slice(0, s.indexOf(':')))
  })

  it('keeps the hex error as the cause of a non-hex key', () => {
    const e = expectCode(() => publicKeyFromString('ed25519:not-hex'), 'CRYPTO_INVALID_PUBLIC_KEY')
    expect(e.cause).toBeInstanceOf(TrellisError)
    expect((e.cause as TrellisError).code).toBe('BYTES_INVALID_HEX')
  })

  it('never throws anything but a TrellisError of the two key codes (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `p256:${s}`),
          fc.string().map((s) => `ed25519:${s}`),
        ),
        (s) => {
          try {
            publicKeyFromString(s)
          } catch (e) {
            expect(e).toBeInstanceOf(TrellisError)
            expect(['CRYPTO_UNKNOWN_ALGORITHM', 'CRYPTO_INVALID_PUBLIC_KEY']).toContain((e as TrellisError).code)
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe('public key byte form', () => {
  it('is tag ‖ key with the never-renumbered tags', () => {
    expect(ALGORITHM_TAG).toEqual({ p256: 1, ed25519: 2 })
    const p = keyOf('p256', new Uint8Array(32).fill(5))
    const e = keyOf('ed25519', new Uint8Array(32).fill(5))
    expect(bytesToHex(publicKeyToBytes(p))).toBe(`01${bytesToHex(p.bytes)}`)
    expect(bytesToHex(publicKeyToBytes(e))).toBe(`02${bytesToHex(e.bytes)}`)
    expect(publicKeyToBytes(p).length).toBe(34)
    expect(publicKeyToBytes(e).length).toBe(33)
  })

  it('round trips (property)', () => {
    fc.assert(
      fc.property(algArb, seedArb, (alg, seed) => {
        const pub = keyOf(alg, seed)
        const back = publicKeyFromBytes(publicKeyToBytes(pub))
        expect(back.alg).toBe(alg)
        expect(bytesToHex(back.bytes)).toBe(bytesToHex(pub.bytes))
        expect(bytesToHex(publicKeyToBytes(back))).toBe(bytesToHex(publicKeyToBytes(pub)))
      }),
    )
  })

  it.each([
    ['empty input', new Uint8Array()],
    ['tag 0', Uint8Array.of(0, ...new Uint8Array(33))],
    ['tag 3', Uint8Array.of(3, ...new Uint8Array(32))],
    ['tag 255', Uint8Array.of(255, ...new Uint8Array(32))],
  ])('rejects %s with CRYPTO_UNKNOWN_ALGORITHM', (_name, bytes) => {
    expectCode(() => publicKeyFromBytes(bytes), 'CRYPTO_UNKNOWN_ALGORITHM')
  })

  it('rejects every length but the right one for each tag with CRYPTO_INVALID_PUBLIC_KEY', () => {
    for (const [tag, alg, good] of [
      [1, 'p256', 33],
      [2, 'ed25519', 32],
    ] as const) {
      for (let len = 0; len <= 70; len++) {
        const key = new Uint8Array(len).fill(7)
        key[0] = 2
        const bytes = concatBytes(Uint8Array.of(tag), key)
        if (len === good) {
          expect(publicKeyFromBytes(bytes).alg).toBe(alg)
        } else {
          const e = expectCode(() => publicKeyFromBytes(bytes), 'CRYPTO_INVALID_PUBLIC_KEY')
          expect(e.details).toEqual({ alg, reason: `expected ${good} bytes, got ${len}` })
        }
      }
    }
  })

  it('rejects a P-256 key that is not a compressed point', () => {
    for (const prefix of [0, 1, 4, 5, 6, 7, 0xff]) {
      const bytes = concatBytes(Uint8Array.of(1, prefix), new Uint8Array(32).fill(1))
      const e = expectCode(() => publicKeyFromBytes(bytes), 'CRYPTO_INVALID_PUBLIC_KEY')
      expect(e.details).toEqual({ alg: 'p256', reason: 'not a compressed point' })
    }
  })

  it('publicKeyToBytes refuses a malformed key object', () => {
    expectCode(() => publicKeyToBytes({ alg: 'p256', bytes: new Uint8Array(32) }), 'CRYPTO_INVALID_PUBLIC_KEY')
    expectCode(() => publicKeyToBytes({ alg: 'p256', bytes: Uint8Array.of(4, ...new Uint8Array(32)) }), 'CRYPTO_INVALID_PUBLIC_KEY')
    expectCode(() => publicKeyToBytes({ alg: 'ed25519', bytes: new Uint8Array(33) }), 'CRYPTO_INVALID_PUBLIC_KEY')
    expectCode(() => publicKeyToBytes({ alg: 'rsa' as SignatureAlgorithm, bytes: new Uint8Array(32) }), 'CRYPTO_UNKNOWN_ALGORITHM')
  })

  it('returns a key that owns its bytes, even when parsing a Buffer or a view of a reused buffer', () => {
    const pub = keyOf('ed25519', new Uint8Array(32).fill(9))
    const wire = Buffer.from(publicKeyToBytes(pub))
    const parsed = publicKeyFromBytes(wire)
    wire.fill(0)
    expect(bytesToHex(parsed.bytes)).toBe(bytesToHex(pub.bytes))
    expect(Buffer.isBuffer(parsed.bytes)).toBe(false)

    const frame = concatBytes(Uint8Array.of(0xaa), publicKeyToBytes(pub), Uint8Array.of(0xbb))
    const fromView = publicKeyFromBytes(frame.subarray(1, 34))
    frame.fill(0)
    expect(bytesToHex(fromView.bytes)).toBe(bytesToHex(pub.bytes))
  })
})

describe('keys that parse but are not points on the curve', () => {
  // Parsing checks the shape only (algorithm, length, P-256 prefix); whether the bytes are a point
  // on the curve is decided when a signature is verified, and such keys never verify anything.
  const msg = utf8ToBytes('message')

  function firstOffCurve(alg: SignatureAlgorithm): PublicKey {
    for (let v = 1n; ; v++) {
      const text = alg === 'p256' ? `p256:02${bytesToHex(bigIntToBE32(v))}` : `ed25519:${bytesToHex(bigIntToBE32(v).reverse())}`
      const pub = publicKeyFromString(text)
      try {
        if (alg === 'p256') p256.Point.fromBytes(pub.bytes)
        else ed25519.Point.fromBytes(pub.bytes)
      } catch {
        return pub
      }
    }
  }

  it.each(ALGORITHMS)('%s: parses in both forms, verifies nothing on either backend', (alg) => {
    const off = firstOffCurve(alg)
    expect(bytesToHex(publicKeyFromBytes(publicKeyToBytes(off)).bytes)).toBe(bytesToHex(off.bytes))
    const priv = privateKeyFrom(alg, new Uint8Array(32).fill(1))
    const sig = nodeBackend.sign(priv, msg)
    expect(nodeBackend.verify(nodeBackend.publicKeyFromPrivate(priv), msg, sig)).toBe(true)
    for (const b of [nodeBackend, nobleBackend]) {
      expectRejected(b, off, msg, sig)
      // Twice: a failed key import must not leave anything usable in the node backend's key cache.
      expectRejected(b, off, msg, sig)
    }
  })
})
