import { ed25519 } from '@noble/curves/ed25519.js'
import { p256 } from '@noble/curves/nist.js'
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js'
import { SMALL_HASH_MAX_BYTES, sha256Small } from '../sha256Small.js'
import { concatBytes, equalBytes } from '@trellis/utils'
import {
  assertPrivateKey,
  assertAlgorithm,
  assertPublicKeyShape,
  bytesToBigInt,
  bytesToBigIntLE,
  ecdsaSignatureFromDer,
  ED25519_L,
  isCanonicalSignature,
  P256_N,
  strictEd25519Point,
} from '../curve.js'
import type { CryptoErrorType } from '../errors.js'
import type { CryptoBackend, KeyPair, PrivateKey, PublicKey } from '../types.js'
import { SignatureAlgorithm } from '../types.js'

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length)
  globalThis.crypto.getRandomValues(out)
  return out
}

function publicKeyFromPrivate(priv: PrivateKey): PublicKey {
  assertPrivateKey(priv)
  if (priv.alg === SignatureAlgorithm.P256) return { alg: priv.alg, bytes: p256.getPublicKey(priv.bytes, true) }
  return { alg: priv.alg, bytes: ed25519.getPublicKey(priv.bytes) }
}

function generateKeyPair(alg: SignatureAlgorithm = SignatureAlgorithm.P256): KeyPair {
  assertAlgorithm(alg)
  let bytes: Uint8Array
  do bytes = randomBytes(32)
  while (alg === SignatureAlgorithm.P256 && (bytesToBigInt(bytes) === 0n || bytesToBigInt(bytes) >= P256_N))
  const privateKey: PrivateKey = { alg, bytes }
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) }
}

function sign(priv: PrivateKey, message: Uint8Array): Uint8Array {
  assertPrivateKey(priv)
  if (priv.alg === SignatureAlgorithm.Ed25519) return ed25519.sign(message, priv.bytes)
  return p256.sign(message, priv.bytes, { prehash: true, lowS: true, format: 'compact' })
}

/**
 * RFC 8032 verification with the cofactorless equation [S]B − [k]A = R (R compared as bytes), the one
 * node:crypto (OpenSSL) checks. @noble's own `ed25519.verify` checks the cofactored equation, which
 * also accepts signatures whose R (or A) carries a small-order component that OpenSSL rejects, so the
 * two backends would disagree on such (signer-crafted) signatures. S < L is checked by the caller.
 */
function ed25519VerifyCofactorless(pubBytes: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const A = strictEd25519Point(pubBytes)
  if (A === undefined) return false
  const R = signature.subarray(0, 32)
  const S = bytesToBigIntLE(signature.subarray(32))
  const k = bytesToBigIntLE(sha512(concatBytes(R, pubBytes, message))) % ED25519_L
  return equalBytes(ed25519.Point.BASE.multiplyUnsafe(S).subtract(A.multiplyUnsafe(k)).toBytes(), R)
}

function verify(pub: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  if (!isCanonicalSignature(pub.alg, signature)) return false
  try {
    assertPublicKeyShape(pub)
    if (pub.alg === SignatureAlgorithm.Ed25519) return ed25519VerifyCofactorless(pub.bytes, message, signature)
    return p256.verify(signature, message, pub.bytes, { prehash: true, lowS: true, format: 'compact' })
  } catch {
    return false
  }
}

function verifyDer(pub: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  if (pub.alg === SignatureAlgorithm.Ed25519) return verify(pub, message, signature)
  const rs = ecdsaSignatureFromDer(signature)
  if (rs === undefined) return false
  try {
    assertPublicKeyShape(pub)
    return p256.verify(rs, message, pub.bytes, { prehash: true, lowS: false, format: 'compact' })
  } catch {
    return false
  }
}

function sha256(data: Uint8Array): Uint8Array {
  return data.length <= SMALL_HASH_MAX_BYTES ? sha256Small(data) : nobleSha256(data)
}

/** The pure-JavaScript backend (@noble): runs in browsers; 20–40× slower than node:crypto. */
function sha256Into(data: Uint8Array, out: Uint8Array): void {
  out.set(sha256(data))
}

export const nobleBackend: CryptoBackend = {
  sha256,
  sha256Into,
  generateKeyPair,
  publicKeyFromPrivate,
  sign,
  verify,
  verifyDer,
  randomBytes,
}

export type { CryptoErrorType }
