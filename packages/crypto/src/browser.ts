/** @trellis/crypto — browser entry: the same API as the Node entry on @noble (no keystore files). */
import { bindBackend } from './api.js'
import { nobleBackend } from './noble/backend.js'

export * from './exports.js'

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
} = bindBackend(nobleBackend)
