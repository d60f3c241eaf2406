import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto'
import { bytesToHex, hexToBytes, isHex, TrellisError, toUint8Array, utf8ToBytes } from '@trellis/utils'
import { isSignatureAlgorithm } from '../curve.js'
import type { CryptoErrorType } from '../errors.js'
import { nodeBackend } from '../node/backend.js'
import { publicKeyToString } from '../publicKey.js'
import type { PrivateKey } from '../types.js'

/** The on-disk JSON form of an encrypted private key (version 1). */
export interface KeyFile {
  readonly version: 1
  readonly alg: string
  /** Public key in text form, so a key file can be identified without its password. */
  readonly publicKey: string
  readonly kdf: { readonly name: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: string }
  readonly cipher: { readonly name: 'aes-256-gcm'; readonly iv: string; readonly tag: string }
  readonly ciphertext: string
}

export interface KeystoreOptions {
  /** scrypt cost; 2^17 (≈ 0.3 s, 128 MiB) by default. Tests use less. */
  readonly scryptN?: number
}

const R = 8
const P = 1

function deriveKey(password: string, salt: Uint8Array, N: number): Uint8Array {
  return toUint8Array(scryptSync(password.normalize('NFKC'), salt, 32, { N, r: R, p: P, maxmem: 256 * N * R + 1024 * 1024 }))
}

/**
 * Encrypts a private key under a password: scrypt derives the key, AES-256-GCM seals the seed with
 * the file's header bound in as associated data, so neither can be swapped without detection.
 */
export function encryptPrivateKey(priv: PrivateKey, password: string, options: KeystoreOptions = {}): KeyFile {
  const N = options.scryptN ?? 2 ** 17
  const salt = toUint8Array(randomBytes(32))
  const iv = toUint8Array(randomBytes(12))
  const publicKey = publicKeyToString(nodeBackend.publicKeyFromPrivate(priv))
  const kdf = { name: 'scrypt', N, r: R, p: P, salt: bytesToHex(salt) } as const
  const cipher = createCipheriv('aes-256-gcm', deriveKey(password, salt, N), iv)
  cipher.setAAD(utf8ToBytes(`trellis-keyfile/1/${priv.alg}/${publicKey}`))
  const ciphertext = Buffer.concat([cipher.update(priv.bytes), cipher.final()])
  return {
    version: 1,
    alg: priv.alg,
    publicKey,
    kdf,
    cipher: { name: 'aes-256-gcm', iv: bytesToHex(iv), tag: bytesToHex(cipher.getAuthTag()) },
    ciphertext: bytesToHex(ciphertext),
  }
}

function invalid(reason: string): TrellisError<CryptoErrorType> {
  return new TrellisError<CryptoErrorType>({ code: 'KEYSTORE_INVALID_FILE', reason }, `invalid key file: ${reason}`)
}

/**
 * Decrypts a key file.
 * @throws TrellisError KEYSTORE_INVALID_FILE (malformed) | KEYSTORE_BAD_PASSWORD (wrong password or tampered file)
 */
export function decryptPrivateKey(file: unknown, password: string): PrivateKey {
  const f = file as Partial<KeyFile> | null
  if (typeof f !== 'object' || f === null || f.version !== 1) throw invalid('unsupported version')
  if (typeof f.alg !== 'string' || !isSignatureAlgorithm(f.alg)) throw invalid('unknown algorithm')
  const { kdf, cipher } = f
  if (kdf?.name !== 'scrypt' || !Number.isInteger(kdf.N) || kdf.N < 2 || kdf.N > 2 ** 22 || (kdf.N & (kdf.N - 1)) !== 0) {
    throw invalid('bad kdf parameters')
  }
  if (kdf.r !== R || kdf.p !== P || typeof kdf.salt !== 'string' || !isHex(kdf.salt, 32)) throw invalid('bad kdf parameters')
  if (
    cipher?.name !== 'aes-256-gcm' ||
    typeof cipher.iv !== 'string' ||
    !isHex(cipher.iv, 12) ||
    typeof cipher.tag !== 'string' ||
    !isHex(cipher.tag, 16)
  ) {
    throw invalid('bad cipher parameters')
  }
  if (typeof f.ciphertext !== 'string' || !isHex(f.ciphertext, 32) || typeof f.publicKey !== 'string') throw invalid('bad ciphertext')
  const decipher = createDecipheriv('aes-256-gcm', deriveKey(password, hexToBytes(kdf.salt), kdf.N), hexToBytes(cipher.iv))
  decipher.setAAD(utf8ToBytes(`trellis-keyfile/1/${f.alg}/${f.publicKey}`))
  decipher.setAuthTag(hexToBytes(cipher.tag))
  let bytes: Uint8Array
  try {
    bytes = toUint8Array(Buffer.concat([decipher.update(hexToBytes(f.ciphertext)), decipher.final()]))
  } catch (cause) {
    throw new TrellisError<CryptoErrorType>({ code: 'KEYSTORE_BAD_PASSWORD' }, 'wrong password or tampered key file', { cause })
  }
  const priv: PrivateKey = { alg: f.alg, bytes }
  let derived: string
  try {
    derived = publicKeyToString(nodeBackend.publicKeyFromPrivate(priv))
  } catch {
    // A correctly sealed file around bytes that are no private key (e.g. a P-256 scalar ≥ n).
    throw invalid('not a valid private key')
  }
  if (derived !== f.publicKey) throw invalid('public key does not match')
  return priv
}
