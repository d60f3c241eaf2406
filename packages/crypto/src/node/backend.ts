import * as nodeCrypto from 'node:crypto'
import {
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes as nodeRandomBytes,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto'
import { concatBytes, TrellisError, toUint8Array } from '@trellis/utils'
import {
  assertPrivateKey,
  assertAlgorithm,
  assertPublicKeyShape,
  bigIntToBytes32,
  bytesToBigInt,
  ecdsaSignatureFromDer,
  isCanonicalSignature,
  P256_HALF_N,
  P256_N,
  strictEd25519Point,
} from '../curve.js'
import type { CryptoErrorType } from '../errors.js'
import { SMALL_HASH_MAX_BYTES, sha256Small } from '../sha256Small.js'
import { loadNativeP256Verify, loadNativeSha256, type P256Verify } from './native.js'
import type { CryptoBackend, KeyPair, PrivateKey, PublicKey } from '../types.js'
import { SignatureAlgorithm } from '../types.js'

// DER prefixes that wrap raw key bytes into SPKI / PKCS#8 so node:crypto can import them.
const P256_SPKI_COMPRESSED = Uint8Array.from(Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'))
const ED25519_SPKI = Uint8Array.from(Buffer.from('302a300506032b6570032100', 'hex'))
const ED25519_PKCS8 = Uint8Array.from(Buffer.from('302e020100300506032b657004220420', 'hex'))

// Importing a key costs more than verifying with it; consortium chains have few distinct signers, so
// a bounded cache of parsed keys pays for itself many times over.
const MAX_CACHED_KEYS = 20_000
const publicKeyCache = new Map<string, KeyObject>()
const privateKeyCache = new Map<string, KeyObject>()

function cached(cache: Map<string, KeyObject>, id: string, make: () => KeyObject): KeyObject {
  let k = cache.get(id)
  if (k === undefined) {
    k = make()
    if (cache.size >= MAX_CACHED_KEYS) cache.clear()
    cache.set(id, k)
  }
  return k
}

function b64url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url')
}

function publicKeyObject(pub: PublicKey): KeyObject {
  assertPublicKeyShape(pub)
  const id = pub.alg + Buffer.from(pub.bytes.buffer, pub.bytes.byteOffset, pub.bytes.byteLength).toString('latin1')
  return cached(publicKeyCache, id, () => {
    if (pub.alg === SignatureAlgorithm.Ed25519 && strictEd25519Point(pub.bytes) === undefined) {
      throw new TrellisError<CryptoErrorType>(
        { code: 'CRYPTO_INVALID_PUBLIC_KEY', alg: pub.alg, reason: 'not a canonical point of large order' },
        'invalid ed25519 public key: not a canonical point of large order',
      )
    }
    const prefix = pub.alg === SignatureAlgorithm.P256 ? P256_SPKI_COMPRESSED : ED25519_SPKI
    try {
      return createPublicKey({ key: Buffer.from(concatBytes(prefix, pub.bytes)), format: 'der', type: 'spki' })
    } catch (cause) {
      throw new TrellisError<CryptoErrorType>(
        { code: 'CRYPTO_INVALID_PUBLIC_KEY', alg: pub.alg, reason: 'not a point on the curve' },
        `invalid ${pub.alg} public key: not a point on the curve`,
        { cause },
      )
    }
  })
}

function p256Points(d: Uint8Array): { compressed: Uint8Array; uncompressed: Uint8Array } {
  const ecdh = createECDH('prime256v1')
  ecdh.setPrivateKey(Buffer.from(d))
  return {
    compressed: toUint8Array(ecdh.getPublicKey(null, 'compressed')),
    uncompressed: toUint8Array(ecdh.getPublicKey(null, 'uncompressed')),
  }
}

function privateKeyObject(priv: PrivateKey): KeyObject {
  assertPrivateKey(priv)
  const id = priv.alg + Buffer.from(priv.bytes).toString('latin1')
  return cached(privateKeyCache, id, () => {
    if (priv.alg === SignatureAlgorithm.Ed25519) {
      // Built in a buffer of its own and wiped after use: secret bytes never go to the shared byte pool.
      const der = Buffer.alloc(ED25519_PKCS8.length + priv.bytes.length)
      der.set(ED25519_PKCS8, 0)
      der.set(priv.bytes, ED25519_PKCS8.length)
      try {
        return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
      } finally {
        der.fill(0)
      }
    }
    const { uncompressed } = p256Points(priv.bytes)
    return createPrivateKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        d: b64url(priv.bytes),
        x: b64url(uncompressed.subarray(1, 33)),
        y: b64url(uncompressed.subarray(33)),
      },
      format: 'jwk',
    })
  })
}

// The one-shot crypto.hash (Node ≥ 20.12) avoids a Hash object per call: ~1.5x faster on small inputs.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash

// The compiled SHA-256 when it was built (ADR 0021): ~0.13 µs for 65 bytes against ~0.65 in
// JavaScript and ~1.5 through node:crypto, whose per-call cost it does not have.
const nativeSha256 = loadNativeSha256()

/** Whether hashing uses the compiled SHA-256 (for tests and the node's start-up log). */
export const nativeHashing = nativeSha256 !== undefined

// The addon reads and writes through scratch arrays with buffers of their own (see Sha256Into):
// short inputs are copied in, since they may live in V8's heap; longer ones never do.
const SCRATCH_IN = new Uint8Array(new ArrayBuffer(64))
const SCRATCH_OUT = new Uint8Array(new ArrayBuffer(32))

function sha256(data: Uint8Array): Uint8Array {
  if (nativeSha256 !== undefined) {
    const out = new Uint8Array(32)
    sha256Into(data, out)
    return out
  }
  if (data.length <= SMALL_HASH_MAX_BYTES) return sha256Small(data)
  const d = oneShot === undefined ? createHash('sha256').update(data).digest() : oneShot('sha256', data, 'buffer')
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
}

function sha256Into(data: Uint8Array, out: Uint8Array): void {
  if (out.length < 32) throw new RangeError('sha256Into needs a 32-byte output')
  if (nativeSha256 === undefined) {
    out.set(sha256(data))
    return
  }
  const n = data.length
  if (n <= 64) {
    SCRATCH_IN.set(data)
    nativeSha256(SCRATCH_IN, n, SCRATCH_OUT)
  } else nativeSha256(data, n, SCRATCH_OUT)
  out.set(SCRATCH_OUT)
}

function randomBytes(length: number): Uint8Array {
  return toUint8Array(nodeRandomBytes(length))
}

function publicKeyFromPrivate(priv: PrivateKey): PublicKey {
  assertPrivateKey(priv)
  if (priv.alg === SignatureAlgorithm.P256) return { alg: priv.alg, bytes: p256Points(priv.bytes).compressed }
  const spki = createPublicKey(privateKeyObject(priv)).export({ format: 'der', type: 'spki' })
  return { alg: priv.alg, bytes: toUint8Array(spki.subarray(spki.length - 32)) }
}

function generateKeyPair(alg: SignatureAlgorithm = SignatureAlgorithm.P256): KeyPair {
  assertAlgorithm(alg)
  let bytes: Uint8Array
  if (alg === SignatureAlgorithm.P256) {
    // Rejection sampling keeps the scalar uniform in [1, n).
    do bytes = randomBytes(32)
    while (bytesToBigInt(bytes) === 0n || bytesToBigInt(bytes) >= P256_N)
  } else {
    bytes = randomBytes(32)
  }
  const privateKey: PrivateKey = { alg, bytes }
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) }
}

function sign(priv: PrivateKey, message: Uint8Array): Uint8Array {
  const key = privateKeyObject(priv)
  if (priv.alg === SignatureAlgorithm.Ed25519) return toUint8Array(nodeSign(null, message, key))
  const sig = toUint8Array(nodeSign('sha256', message, { key, dsaEncoding: 'ieee-p1363' }))
  const s = bytesToBigInt(sig.subarray(32))
  // Normalise to low-S: (r, s) and (r, n - s) are both valid; only the low one is accepted.
  if (s > P256_HALF_N) sig.set(bigIntToBytes32(P256_N - s), 32)
  return sig
}

function verify(pub: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  return isCanonicalSignature(pub.alg, signature) && verifyAnyS(pub, message, signature)
}

function verifyDer(pub: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  if (pub.alg === SignatureAlgorithm.Ed25519) return verify(pub, message, signature)
  const rs = ecdsaSignatureFromDer(signature)
  return rs !== undefined && verifyAnyS(pub, message, rs)
}

// The compiled P-256 verification (ADR 0023), loaded at the first P-256 verification (its load
// checks itself against node:crypto): ~56 µs a signature against ~67 through node:crypto here.
let nativeP256: P256Verify | undefined | null = null

function nativeP256Verify(): P256Verify | undefined {
  if (nativeP256 === null) nativeP256 = loadNativeP256Verify()
  return nativeP256
}

/** Whether P-256 signatures are verified by the compiled addon (for tests and the node's start-up log). */
export function nativeP256Verification(): boolean {
  return nativeP256Verify() !== undefined
}

/** Verifies a 64-byte signature whose range checks, except the low-S rule, were made by the caller. */
function verifyAnyS(pub: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  if (pub.alg === SignatureAlgorithm.P256) {
    const native = nativeP256Verify()
    // The addon reads Uint8Arrays (Buffers among them); node:crypto takes any other view.
    if (native !== undefined && message instanceof Uint8Array && signature instanceof Uint8Array) {
      // As below: a key of the wrong shape, or arguments the addon refuses, verify nothing.
      try {
        assertPublicKeyShape(pub)
        return native(pub.bytes, message, signature)
      } catch {
        return false
      }
    }
  }
  let key: KeyObject
  try {
    key = publicKeyObject(pub)
  } catch {
    return false
  }
  if (pub.alg === SignatureAlgorithm.Ed25519) return nodeVerify(null, message, key, signature)
  return nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature)
}

/** The node:crypto backend: native speed (~17k P-256 verifications/s per core on the reference machine). */
export const nodeBackend: CryptoBackend = {
  sha256,
  sha256Into,
  generateKeyPair,
  publicKeyFromPrivate,
  sign,
  verify,
  verifyDer,
  randomBytes,
}
