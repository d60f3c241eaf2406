// The surface shared by the Node and browser entry points.

export { ED25519_L, isCanonicalSignature, isSignatureAlgorithm, P256_HALF_N, P256_N, SIGNATURE_LENGTH } from './curve.js'
export type { CryptoErrorType } from './errors.js'
export { nobleBackend } from './noble/backend.js'
export { ALGORITHM_TAG, publicKeyFromBytes, publicKeyFromString, publicKeyToBytes, publicKeyToString } from './publicKey.js'
export type { CryptoBackend, KeyPair, PrivateKey, PublicKey } from './types.js'
export { SignatureAlgorithm } from './types.js'
