// The surface shared by the Node and browser entry points.

export { ED25519_L, isCanonicalSignature, isSignatureAlgorithm, P256_HALF_N, P256_N, SIGNATURE_LENGTH } from './curve.js'
export type { CryptoErrorType } from './errors.js'
export { nobleBackend } from './noble/backend.js'
export { ALGORITHM_TAG, publicKeyFromBytes, publicKeyFromString, publicKeyToBytes, publicKeyToString } from './publicKey.js'
export type { CryptoBackend, KeyPair, PrivateKey, PublicKey } from './types.js'
export { SignatureAlgorithm } from './types.js'
export { CERT_ATTRIBUTES_OID } from './x509/oids.js'
export { certificateFromPem, certificateToPem } from './x509/pem.js'
export type {
  Certificate,
  CertificateWithKey,
  CertRole,
  CreateCertificateAuthorityOptions,
  DistinguishedName,
  IssueCertificateOptions,
} from './x509/types.js'
export { CERT_ROLES } from './x509/types.js'
