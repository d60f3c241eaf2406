import { ed25519 } from '@noble/curves/ed25519.js'
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
