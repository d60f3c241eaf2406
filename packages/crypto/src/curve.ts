import { ed25519 } from '@noble/curves/ed25519.js'
import { p256 } from '@noble/curves/nist.js'
import { TrellisError } from '@trellis/utils'
import type { CryptoErrorType } from './errors.js'
import type { PrivateKey, PublicKey } from './types.js'
import { SignatureAlgorithm } from './types.js'

/** Order of the P-256 group. */
export const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n
export const P256_HALF_N = P256_N >> 1n
/** Order of the Ed25519 prime subgroup. */
export const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n

/** Length in bytes of a signature for every algorithm (P-256: r‖s; Ed25519: R‖S). */
export const SIGNATURE_LENGTH = 64

const PUBLIC_KEY_LENGTH: Record<SignatureAlgorithm, number> = { p256: 33, ed25519: 32 }

export function bytesToBigInt(b: Uint8Array): bigint {
  let n = 0n
  for (const x of b) n = (n << 8n) | BigInt(x)
  return n
}

export function bigIntToBytes32(n: bigint): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(n & 0xffn)
    n >>= 8n
  }
  return out
}

/** Little-endian variant for Ed25519 scalars. */
export function bytesToBigIntLE(b: Uint8Array): bigint {
  let n = 0n
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i] as number)
  return n
}

/**
 * Checks that a 64-byte signature is in the one canonical form this protocol accepts, so that no
 * third party can turn a valid signature into a second valid one (which would change nothing signed,
 * but would let the same tx be presented with two different encodings).
 * - P-256: 1 ≤ r < n and 1 ≤ s ≤ n/2 (low-S).
 * - Ed25519: S < L (RFC 8032 §5.1.7).
 */
export function isCanonicalSignature(alg: SignatureAlgorithm, sig: Uint8Array): boolean {
  if (sig.length !== SIGNATURE_LENGTH) return false
  // Byte comparisons instead of BigInt arithmetic: this runs once per signature verified.
  if (alg === SignatureAlgorithm.P256) {
    return !isZero(sig, 0, 32) && compareBE(sig, 0, P256_N_BYTES) < 0 && !isZero(sig, 32, 64) && compareBE(sig, 32, P256_HALF_N_BYTES) <= 0
  }
  for (let i = 63; i >= 32; i--) {
    const a = sig[i] as number
    const b = ED25519_L_BYTES_LE[i - 32] as number
    if (a !== b) return a < b
  }
  return false
}

/**
 * Reads a DER ECDSA-Sig-Value (`SEQUENCE { r INTEGER, s INTEGER }`) strictly: minimal encodings, no
 * trailing bytes, 1 ≤ r, s < n. Returns r‖s (64 bytes), or undefined. High S is accepted: X.509
 * signatures are not bound by this protocol's low-S rule. Shared by both backends so that they agree
 * on every encoding question before any arithmetic.
 */
export function ecdsaSignatureFromDer(der: Uint8Array): Uint8Array | undefined {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) return undefined
  const out = new Uint8Array(SIGNATURE_LENGTH)
  const afterR = readScalar(der, 2, out, 0)
  const afterS = afterR === undefined ? undefined : readScalar(der, afterR, out, 32)
  return afterS === der.length ? out : undefined
}

/** Reads one DER INTEGER in [1, n) at `at` into `out` (32 bytes at `outOffset`); the offset after it, or undefined. */
function readScalar(der: Uint8Array, at: number, out: Uint8Array, outOffset: number): number | undefined {
  const len = der[at + 1] ?? 0
  const start = at + 2
  const end = start + len
  if (der[at] !== 0x02 || len === 0 || len > 33 || end > der.length) return undefined
  const first = der[start] as number
  if (first & 0x80) return undefined
  if (first === 0 && (len === 1 || ((der[start + 1] as number) & 0x80) === 0)) return undefined
  const magnitude = first === 0 ? der.subarray(start + 1, end) : der.subarray(start, end)
  if (magnitude.length > 32) return undefined
  out.set(magnitude, outOffset + 32 - magnitude.length)
  return !isZero(out, outOffset, outOffset + 32) && compareBE(out, outOffset, P256_N_BYTES) < 0 ? end : undefined
}

/** The DER ECDSA-Sig-Value of a 64-byte r‖s signature. */
export function ecdsaSignatureToDer(sig: Uint8Array): Uint8Array {
  const r = derUnsignedInteger(sig.subarray(0, 32))
  const s = derUnsignedInteger(sig.subarray(32, 64))
  const out = new Uint8Array(2 + r.length + s.length)
  out[0] = 0x30
  out[1] = r.length + s.length
  out.set(r, 2)
  out.set(s, 2 + r.length)
  return out
}

function derUnsignedInteger(be: Uint8Array): Uint8Array {
  let i = 0
  while (i < be.length - 1 && be[i] === 0) i++
  const pad = (be[i] as number) & 0x80 ? 1 : 0
  const out = new Uint8Array(2 + pad + be.length - i)
  out[0] = 0x02
  out[1] = out.length - 2
  out.set(be.subarray(i), 2 + pad)
  return out
}

/**
 * The 33-byte compressed form of a SEC1 P-256 point given compressed or uncompressed; undefined when it
 * is not an encoding of a point on the curve.
 */
export function p256CompressedPoint(sec1: Uint8Array): Uint8Array | undefined {
  if (sec1.length !== 33 && !(sec1.length === 65 && sec1[0] === 4)) return undefined
  try {
    return p256.Point.fromBytes(sec1).toBytes(true)
  } catch {
    return undefined
  }
}

/**
 * The 65-byte uncompressed SEC1 form of a compressed P-256 public key.
 * @throws TrellisError CRYPTO_INVALID_PUBLIC_KEY when it is not a point on the curve
 */
export function p256UncompressedPoint(pub: PublicKey): Uint8Array {
  assertPublicKeyShape(pub)
  try {
    return p256.Point.fromBytes(pub.bytes).toBytes(false)
  } catch (cause) {
    throw new TrellisError<CryptoErrorType>(
      { code: 'CRYPTO_INVALID_PUBLIC_KEY', alg: pub.alg, reason: 'not a point on the curve' },
      `invalid ${pub.alg} public key: not a point on the curve`,
      { cause },
    )
  }
}

const P256_N_BYTES = bigIntToBytes32(P256_N)
const P256_HALF_N_BYTES = bigIntToBytes32(P256_HALF_N)
const ED25519_L_BYTES_LE = bigIntToBytes32(ED25519_L).reverse()

function isZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false
  return true
}

/** Compares the 32 big-endian bytes of `b` at `offset` with `limit`: negative, zero or positive. */
function compareBE(b: Uint8Array, offset: number, limit: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const d = (b[offset + i] as number) - (limit[i] as number)
    if (d !== 0) return d
  }
  return 0
}

/**
 * The Ed25519 public key rule both backends apply before verifying: the canonical encoding (y < p, and
 * not x = 0 with the sign bit set) of a point on the curve that is not of small order. node:crypto
 * (OpenSSL) alone accepts non-canonical encodings and small-order keys, for which one signature
 * verifies for every message; @noble rejects both, so without this check the backends disagree.
 */
export function strictEd25519Point(bytes: Uint8Array): ReturnType<typeof ed25519.Point.fromBytes> | undefined {
  try {
    const A = ed25519.Point.fromBytes(bytes, false)
    return A.isSmallOrder() ? undefined : A
  } catch {
    return undefined
  }
}

/**
 * Validates the shape of a public key (length and, for P-256, the compressed-point prefix).
 * @throws TrellisError CRYPTO_UNKNOWN_ALGORITHM | CRYPTO_INVALID_PUBLIC_KEY
 */
export function assertPublicKeyShape(pub: PublicKey): void {
  const len = PUBLIC_KEY_LENGTH[pub.alg]
  if (len === undefined) {
    throw new TrellisError<CryptoErrorType>(
      { code: 'CRYPTO_UNKNOWN_ALGORITHM', alg: String(pub.alg) },
      `unknown signature algorithm ${String(pub.alg)}`,
    )
  }
  if (pub.bytes.length !== len) {
    throw new TrellisError<CryptoErrorType>(
      { code: 'CRYPTO_INVALID_PUBLIC_KEY', alg: pub.alg, reason: `expected ${len} bytes, got ${pub.bytes.length}` },
      `invalid ${pub.alg} public key: expected ${len} bytes`,
    )
  }
  if (pub.alg === SignatureAlgorithm.P256 && pub.bytes[0] !== 2 && pub.bytes[0] !== 3) {
    throw new TrellisError<CryptoErrorType>(
      { code: 'CRYPTO_INVALID_PUBLIC_KEY', alg: pub.alg, reason: 'not a compressed point' },
      'invalid p256 public key: not a compressed point',
    )
  }
}

export function isSignatureAlgorithm(x: unknown): x is SignatureAlgorithm {
  return x === SignatureAlgorithm.P256 || x === SignatureAlgorithm.Ed25519
}

/**
 * Checks a private key's algorithm and bytes (32 bytes; a P-256 scalar in [1, n)).
 * @throws TrellisError CRYPTO_UNKNOWN_ALGORITHM | CRYPTO_INVALID_PRIVATE_KEY
 */
export function assertPrivateKey(priv: PrivateKey): void {
  assertAlgorithm(priv.alg)
  const d = bytesToBigInt(priv.bytes)
  if (priv.bytes.length !== 32 || (priv.alg === SignatureAlgorithm.P256 && (d === 0n || d >= P256_N))) {
    throw new TrellisError<CryptoErrorType>({ code: 'CRYPTO_INVALID_PRIVATE_KEY', alg: priv.alg }, `invalid ${priv.alg} private key`)
  }
}

export function assertAlgorithm(alg: string): asserts alg is SignatureAlgorithm {
  if (!isSignatureAlgorithm(alg)) {
    throw new TrellisError<CryptoErrorType>({ code: 'CRYPTO_UNKNOWN_ALGORITHM', alg }, `unknown signature algorithm ${alg}`)
  }
}
