/** The signature algorithms Trellis accepts. P-256 is the default (fastest to verify, the X.509 norm). */
export const SignatureAlgorithm = {
  P256: 'p256',
  Ed25519: 'ed25519',
} as const
export type SignatureAlgorithm = (typeof SignatureAlgorithm)[keyof typeof SignatureAlgorithm]

/**
 * A public key. `bytes` is the canonical form: P-256 is the 33-byte SEC1 compressed point, Ed25519 the
 * 32-byte RFC 8032 encoding.
 */
export interface PublicKey {
  readonly alg: SignatureAlgorithm
  readonly bytes: Uint8Array
}

/** A private key: the 32-byte P-256 scalar or the 32-byte Ed25519 seed. */
export interface PrivateKey {
  readonly alg: SignatureAlgorithm
  readonly bytes: Uint8Array
}

export interface KeyPair {
  readonly publicKey: PublicKey
  readonly privateKey: PrivateKey
}

/**
 * What a crypto backend provides. The Node entry implements it with node:crypto; the browser entry
 * with @noble. Both produce and accept exactly the same bytes (a shared conformance suite checks it).
 */
export interface CryptoBackend {
  sha256(data: Uint8Array): Uint8Array
  /** SHA-256 of `data` written into `out[0..32)`. */
  sha256Into(data: Uint8Array, out: Uint8Array): void
  generateKeyPair(alg?: SignatureAlgorithm): KeyPair
  publicKeyFromPrivate(privateKey: PrivateKey): PublicKey
  sign(privateKey: PrivateKey, message: Uint8Array): Uint8Array
  verify(publicKey: PublicKey, message: Uint8Array, signature: Uint8Array): boolean
  /**
   * Verifies a signature in its X.509 form: a DER ECDSA-Sig-Value with any S for P-256 (other CAs often
   * sign high-S), the 64-byte RFC 8032 signature for Ed25519. False, never a throw, for anything malformed.
   */
  verifyDer(publicKey: PublicKey, message: Uint8Array, signature: Uint8Array): boolean
  randomBytes(length: number): Uint8Array
}
