/**
 * @trellis/crypto — hashing, signatures, keys, X.509 identities and the encrypted keystore (Node entry,
 * node:crypto). Browsers get `browser.ts` through the `browser` export condition: same functions, same bytes.
 */
import { bindBackend } from './api.js'
import { nodeBackend } from './node/backend.js'

export * from './exports.js'
export type { KeyFile, KeystoreOptions } from './keystore/keystore.js'
export { decryptPrivateKey, encryptPrivateKey } from './keystore/keystore.js'
export { nativeHashing, nativeP256Verification, nodeBackend } from './node/backend.js'

export const {
  sha256,
  sha256Into,
  generateKeyPair,
  publicKeyFromPrivate,
  sign,
  verify,
  verifyDer,
  randomBytes,
  parseCertificate,
  verifyCertificateSignature,
  createCertificateAuthority,
  issueCertificate,
} = bindBackend(nodeBackend)
