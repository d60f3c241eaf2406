import type { CryptoBackend } from './types.js'

/** Binds the top-level functions of an entry point to one backend. */
export function bindBackend(b: CryptoBackend) {
  return {
    /** SHA-256 of `data`. */
    sha256: b.sha256,
    /** A fresh key pair (P-256 unless another algorithm is named). */
    generateKeyPair: b.generateKeyPair,
    /** The public key of a private key. @throws TrellisError CRYPTO_INVALID_PRIVATE_KEY */
    publicKeyFromPrivate: b.publicKeyFromPrivate,
    /** A 64-byte canonical signature (P-256 over SHA-256 with low-S; Ed25519 per RFC 8032). */
    sign: b.sign,
    /** True only for a canonical, valid signature; malformed keys or signatures give false, never throw. */
    verify: b.verify,
    /** Cryptographically secure random bytes. */
    randomBytes: b.randomBytes,
  }
}
