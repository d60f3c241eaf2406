// The surface shared by the Node and browser entry points.
export type { CryptoBackend, KeyPair, PrivateKey, PublicKey } from './types.js'
export { SignatureAlgorithm } from './types.js'
export type { CryptoErrorType } from './errors.js'
export { ED25519_L, P256_HALF_N, P256_N, SIGNATURE_LENGTH, isCanonicalSignature, isSignatureAlgorithm } from './curve.js'
export { ALGORITHM_TAG, publicKeyFromBytes, publicKeyFromString, publicKeyToBytes, publicKeyToString } from './publicKey.js'
export { nobleBackend } from './noble/backend.js'
