import { equalBytes, hexToBytes, isTrellisError, TrellisError } from '@trellis/utils'
import { ecdsaSignatureToDer, p256UncompressedPoint, strictEd25519Point } from '../curve.js'
import type { CryptoErrorType } from '../errors.js'
import type { CryptoBackend, KeyPair, PrivateKey, PublicKey } from '../types.js'
import { attributesProblem, attributesToJson } from './attributes.js'
import {
  derBitString,
  derBoolean,
  derOctetString,
  derOid,
  derSequence,
  derSmallUnsigned,
  derTime,
  derTlv,
  derUnsigned,
  derUtf8String,
  explicitTag,
  Tag,
} from './der.js'
import { isCertRole, isNameValue } from './names.js'
import { KEY_USAGE, OID } from './oids.js'
import { parseCertificate, subjectKeyIdentifierOf, subjectNameOf } from './parseCertificate.js'
import type {
  Certificate,
  CertificateWithKey,
  CertRole,
  CreateCertificateAuthorityOptions,
  DistinguishedName,
  IssueCertificateOptions,
} from './types.js'

type Backend = Pick<CryptoBackend, 'sha256' | 'sign' | 'generateKeyPair' | 'publicKeyFromPrivate' | 'randomBytes'>

const DAY_MS = 86_400_000
const DEFAULT_VALIDITY_DAYS = 365
// UTCTime starts in 1950; GeneralizedTime's four digits end in 9999.
const MIN_TIME = Date.UTC(1950, 0, 1)
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59)
const MAX_PATH_LENGTH = 0x7fffffff
const SERIAL_BYTES = 16
const SERIAL_RE = /^[0-9a-fA-F]{1,40}$/
// RFC 7093 §2 method 1: the leftmost 160 bits of the SHA-256 of the subjectPublicKey bits.
const KEY_ID_BYTES = 20

function invalid(reason: string, cause?: unknown): never {
  throw new TrellisError<CryptoErrorType>(
    { code: 'CERT_INVALID_REQUEST', reason },
    `invalid certificate request: ${reason}`,
    cause === undefined ? undefined : { cause },
  )
}

/**
 * Creates a CA: a self-signed root, or an intermediate signed by `parent` (same organisation).
 * @throws TrellisError CERT_INVALID_REQUEST (as a rejection)
 */
export async function createCertificateAuthority(backend: Backend, o: CreateCertificateAuthorityOptions): Promise<CertificateWithKey> {
  checkName(o.org, 'org')
  checkName(o.commonName, 'commonName')
  const keyPair = o.keyPair ?? backend.generateKeyPair()
  checkKeyPair(backend, keyPair, 'keyPair')
  if (o.parent !== undefined) checkParent(backend, o.parent, o)
  if (o.pathLength !== undefined && !(Number.isInteger(o.pathLength) && o.pathLength >= 0 && o.pathLength <= MAX_PATH_LENGTH)) {
    invalid('pathLength must be a non-negative integer')
  }
  const notBefore = startTime(o.notBefore)
  const subject: DistinguishedName = { org: o.org, commonName: o.commonName }
  const cert = signCertificate(backend, {
    issuer: o.parent === undefined ? name(subject, undefined) : issuerName(o.parent.cert),
    subject,
    role: undefined,
    notBefore,
    notAfter: endTime(notBefore, o.validityDays, undefined),
    publicKey: keyPair.publicKey,
    serial: randomSerial(backend),
    extensions: [
      basicConstraints(true, o.pathLength),
      keyUsage(KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign),
      subjectKeyIdentifier(backend, keyPair.publicKey),
      ...(o.parent === undefined ? [] : [authorityKeyIdentifier(backend, o.parent.cert)]),
    ],
    signer: o.parent?.privateKey ?? keyPair.privateKey,
  })
  return { cert, privateKey: keyPair.privateKey }
}

/**
 * Issues an end-entity certificate: subject O is the issuer's, OU the role, keyUsage digitalSignature,
 * not a CA.
 * @throws TrellisError CERT_INVALID_REQUEST (as a rejection)
 */
export async function issueCertificate(backend: Backend, o: IssueCertificateOptions): Promise<Certificate> {
  checkIssuer(backend, o.issuer, 'issuer')
  checkName(o.commonName, 'commonName')
  if (!isCertRole(o.role)) invalid(`unknown role "${String(o.role)}"`)
  const attributes = o.attributes ?? {}
  const problem = attributesProblem(attributes)
  if (problem !== undefined) invalid(problem)
  const notBefore = startTime(o.notBefore)
  const issuerCert = o.issuer.cert
  return signCertificate(backend, {
    issuer: issuerName(issuerCert),
    subject: { org: issuerCert.subject.org, commonName: o.commonName },
    role: o.role,
    notBefore,
    notAfter: endTime(notBefore, o.validityDays, o.notAfter),
    publicKey: o.subjectPublicKey,
    serial: o.serial === undefined ? randomSerial(backend) : serialBytes(o.serial),
    extensions: [
      basicConstraints(false, undefined),
      keyUsage(KEY_USAGE.digitalSignature),
      subjectKeyIdentifier(backend, o.subjectPublicKey),
      authorityKeyIdentifier(backend, issuerCert),
      ...(Object.keys(attributes).length === 0
        ? []
        : [extension(OID.trellisAttributes, false, derUtf8String(attributesToJson(attributes)))]),
    ],
    signer: o.issuer.privateKey,
  })
}

function checkName(value: unknown, what: string): void {
  if (!isNameValue(value)) invalid(`${what} must be 1-64 printable characters`)
}

function checkKeyPair(backend: Backend, kp: KeyPair, what: string): void {
  if (!equalPublicKeys(publicKeyOf(backend, kp.privateKey, what), kp.publicKey)) {
    invalid(`${what}: the private key does not match the public key`)
  }
}

function checkIssuer(backend: Backend, issuer: CertificateWithKey, what: string): void {
  if (!issuer.cert.isCA) invalid(`${what} certificate is not a CA`)
  if (!equalPublicKeys(publicKeyOf(backend, issuer.privateKey, what), issuer.cert.publicKey)) {
    invalid(`${what}: the private key is not the certificate's`)
  }
}

function checkParent(backend: Backend, parent: CertificateWithKey, o: CreateCertificateAuthorityOptions): void {
  checkIssuer(backend, parent, 'parent')
  const { org } = parent.cert.subject
  if (o.org !== org) invalid(`an intermediate CA belongs to its parent's organisation "${org}"`)
  const limit = parent.cert.pathLength
  if (limit === 0) invalid('the parent CA has pathLength 0: it may not issue CA certificates')
  if (limit !== null && o.pathLength !== undefined && o.pathLength >= limit) {
    invalid(`pathLength must be below the parent's (${limit})`)
  }
}

function publicKeyOf(backend: Backend, priv: PrivateKey, what: string): PublicKey {
  try {
    return backend.publicKeyFromPrivate(priv)
  } catch (cause) {
    return invalid(`${what}: invalid private key`, cause)
  }
}

function equalPublicKeys(a: PublicKey, b: PublicKey): boolean {
  return a.alg === b?.alg && b.bytes instanceof Uint8Array && equalBytes(a.bytes, b.bytes)
}

/** `ms` (now by default) truncated to the second, in the range certificates can encode. */
function startTime(ms: number | undefined): number {
  const t = ms ?? Date.now()
  if (!Number.isFinite(t) || t < MIN_TIME || t > MAX_TIME) invalid('notBefore must be a time between 1950 and 9999')
  return Math.floor(t / 1000) * 1000
}

function endTime(notBefore: number, validityDays: number | undefined, notAfter: number | undefined): number {
  if (validityDays !== undefined && notAfter !== undefined) invalid('give validityDays or notAfter, not both')
  const days = validityDays ?? DEFAULT_VALIDITY_DAYS
  if (notAfter === undefined && !(Number.isSafeInteger(days) && days > 0)) invalid('validityDays must be a positive integer')
  const end = notAfter === undefined ? notBefore + days * DAY_MS : Math.floor(notAfter / 1000) * 1000
  if (!Number.isFinite(end) || end <= notBefore || end > MAX_TIME) invalid('notAfter must be after notBefore and before the year 10000')
  return end
}

function randomSerial(backend: Backend): Uint8Array {
  const b = backend.randomBytes(SERIAL_BYTES)
  // Positive, and exactly 16 bytes long.
  b[0] = ((b[0] as number) & 0x7f) | 0x40
  return b
}

function serialBytes(hex: string): Uint8Array {
  const digits = typeof hex === 'string' ? hex.replace(/^0+/, '') : ''
  if (!SERIAL_RE.test(digits)) invalid('serial must be the hex of a positive integer of at most 20 bytes')
  return hexToBytes(digits.length % 2 === 0 ? digits : `0${digits}`)
}

interface CertificateContents {
  /** The DER Name: an issuer's subject exactly as its certificate has it. */
  readonly issuer: Uint8Array
  readonly subject: DistinguishedName
  readonly role: CertRole | undefined
  readonly notBefore: number
  readonly notAfter: number
  readonly publicKey: PublicKey
  readonly serial: Uint8Array
  readonly extensions: readonly Uint8Array[]
  readonly signer: PrivateKey
}

function signCertificate(backend: Backend, c: CertificateContents): Certificate {
  const algorithm = signatureAlgorithm(c.signer)
  const tbs = derSequence(
    derTlv(explicitTag(0), derSmallUnsigned(2)),
    derUnsigned(c.serial),
    algorithm,
    c.issuer,
    derSequence(derTime(c.notBefore), derTime(c.notAfter)),
    name(c.subject, c.role),
    subjectPublicKeyInfo(c.publicKey),
    derTlv(explicitTag(3), derSequence(...c.extensions)),
  )
  const sig = backend.sign(c.signer, tbs)
  const der = derSequence(tbs, algorithm, derBitString(c.signer.alg === 'p256' ? ecdsaSignatureToDer(sig) : sig))
  try {
    return parseCertificate(backend, der)
  } catch (cause) {
    // Reachable only through an issuer certificate that did not come from parseCertificate.
    if (isTrellisError(cause, 'CERT_MALFORMED')) invalid(`the result would not parse: ${cause.message}`, cause)
    throw cause
  }
}

function issuerName(issuer: Certificate): Uint8Array {
  try {
    return subjectNameOf(issuer)
  } catch (cause) {
    return invalid('the issuer certificate has no readable subject', cause)
  }
}

function signatureAlgorithm(signer: PrivateKey): Uint8Array {
  return derSequence(derOid(signer.alg === 'p256' ? OID.ecdsaWithSha256 : OID.ed25519))
}

function name(dn: DistinguishedName, role: CertRole | undefined): Uint8Array {
  const rdn = (oid: string, value: string) => derTlv(Tag.Set, derSequence(derOid(oid), derUtf8String(value)))
  return derSequence(rdn(OID.org, dn.org), ...(role === undefined ? [] : [rdn(OID.orgUnit, role)]), rdn(OID.commonName, dn.commonName))
}

/** The bits of the subjectPublicKey: the uncompressed point for P-256 (the form every X.509 stack reads). */
function subjectPublicKeyBits(pub: PublicKey): Uint8Array {
  try {
    if (pub.alg === 'p256') return p256UncompressedPoint(pub)
    if (pub.alg === 'ed25519' && strictEd25519Point(pub.bytes) !== undefined) return pub.bytes
  } catch (cause) {
    return invalid('the subject public key is not a valid key', cause)
  }
  return invalid('the subject public key is not a valid key')
}

function subjectPublicKeyInfo(pub: PublicKey): Uint8Array {
  const algorithm = pub.alg === 'p256' ? derSequence(derOid(OID.ecPublicKey), derOid(OID.prime256v1)) : derSequence(derOid(OID.ed25519))
  return derSequence(algorithm, derBitString(subjectPublicKeyBits(pub)))
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return derSequence(derOid(oid), ...(critical ? [derBoolean(true)] : []), derOctetString(value))
}

function basicConstraints(isCA: boolean, pathLength: number | undefined): Uint8Array {
  const fields = isCA ? [derBoolean(true), ...(pathLength === undefined ? [] : [derSmallUnsigned(pathLength)])] : []
  return extension(OID.basicConstraints, true, derSequence(...fields))
}

/** keyUsage with the bits of `firstByte` (all in the first byte), as the DER named bit list. */
function keyUsage(firstByte: number): Uint8Array {
  let unused = 0
  while (((firstByte >> unused) & 1) === 0) unused++
  return extension(OID.keyUsage, true, derTlv(Tag.BitString, Uint8Array.of(unused, firstByte)))
}

function keyIdentifier(backend: Backend, pub: PublicKey): Uint8Array {
  return backend.sha256(subjectPublicKeyBits(pub)).slice(0, KEY_ID_BYTES)
}

function subjectKeyIdentifier(backend: Backend, pub: PublicKey): Uint8Array {
  return extension(OID.subjectKeyIdentifier, false, derOctetString(keyIdentifier(backend, pub)))
}

/** The issuer's own subjectKeyIdentifier when it has one, so that chain builders match them. */
function authorityKeyIdentifier(backend: Backend, issuer: Certificate): Uint8Array {
  let id: Uint8Array | undefined
  try {
    id = subjectKeyIdentifierOf(issuer)
  } catch {
    id = undefined
  }
  id ??= keyIdentifier(backend, issuer.publicKey)
  return extension(OID.authorityKeyIdentifier, false, derSequence(derTlv(0x80, id)))
}
