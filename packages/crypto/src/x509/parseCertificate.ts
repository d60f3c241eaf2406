import { bytesToHex, bytesToUtf8, equalBytes, isTrellisError } from '@trellis/utils'
import { ecdsaSignatureFromDer, p256CompressedPoint } from '../curve.js'
import type { CryptoBackend, PublicKey } from '../types.js'
import { attributesFromJson } from './attributes.js'
import { DerReader, explicitTag, malformed, oidText, readOid, Tag, type Tlv } from './der.js'
import { isCertRole, isNameValue } from './names.js'
import { KEY_USAGE, OID_KEY } from './oids.js'
import type { Certificate, CertRole, DistinguishedName } from './types.js'

const VERSION_3 = Uint8Array.of(Tag.Integer, 1, 2)
const MAX_SERIAL_BYTES = 20
const PRINTABLE_RE = /^[A-Za-z0-9 '()+,\-./:=?]*$/
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/**
 * Parses a DER X.509 v3 certificate strictly (DER rules, RFC 5280 structure, Trellis's profile).
 * @throws TrellisError CERT_MALFORMED for anything unparseable or unsupported, and nothing else
 */
export function parseCertificate(backend: Pick<CryptoBackend, 'sha256'>, input: Uint8Array): Certificate {
  if (!(input instanceof Uint8Array)) malformed('not a byte array')
  // A private copy: the certificate must not change when the caller reuses its buffer.
  const der = new Uint8Array(input)
  try {
    return readCertificate(der, backend.sha256)
  } catch (e) {
    if (isTrellisError(e, 'CERT_MALFORMED')) throw e
    return malformed('unparseable', e)
  }
}

/**
 * True when `issuer` is a CA, named as `cert`'s issuer (CN and O), and its key verifies `cert`'s
 * signature (any S for ECDSA). Never throws.
 */
export function verifyCertificateSignature(backend: Pick<CryptoBackend, 'verifyDer'>, cert: Certificate, issuer: Certificate): boolean {
  try {
    return (
      issuer.isCA === true &&
      sameName(cert.issuer, issuer.subject) &&
      SIGNATURE_KEY_ALG[cert.signatureAlgorithm] === issuer.publicKey.alg &&
      backend.verifyDer(issuer.publicKey, cert.tbs, cert.signature)
    )
  } catch {
    return false
  }
}

const SIGNATURE_KEY_ALG: Record<Certificate['signatureAlgorithm'], PublicKey['alg']> = { 'ecdsa-sha256': 'p256', ed25519: 'ed25519' }

function sameName(a: DistinguishedName, b: DistinguishedName): boolean {
  return a.commonName === b.commonName && a.org === b.org
}

function readCertificate(der: Uint8Array, sha256: (data: Uint8Array) => Uint8Array): Certificate {
  const top = new DerReader(der)
  const outer = top.inside(top.read(Tag.Sequence, 'certificate'))
  top.finish('the certificate')
  const tbsTlv = outer.read(Tag.Sequence, 'tbsCertificate')
  const algTlv = outer.read(Tag.Sequence, 'signatureAlgorithm')
  const signatureAlgorithm = readSignatureAlgorithm(outer.inside(algTlv))
  const signature = readBitString(outer, outer.read(Tag.BitString, 'signatureValue'), 'signatureValue')
  outer.finish('signatureValue')
  checkSignatureShape(signatureAlgorithm, signature)
  const fields = readTbs(outer.inside(tbsTlv), outer.encoding(algTlv))
  return Object.freeze({ der, hash: sha256(der), ...fields, tbs: outer.encoding(tbsTlv), signatureAlgorithm, signature })
}

type TbsFields = Omit<Certificate, 'der' | 'hash' | 'tbs' | 'signatureAlgorithm' | 'signature'>

function readTbs(r: DerReader, outerAlgorithm: Uint8Array): TbsFields {
  if (!equalBytes(r.contents(r.read(explicitTag(0), 'version')), VERSION_3)) malformed('only version 3 certificates are supported')
  const serial = readSerial(r.contents(r.read(Tag.Integer, 'serialNumber')))
  if (!equalBytes(r.encoding(r.read(Tag.Sequence, 'signature')), outerAlgorithm)) {
    malformed('the signature algorithm inside and outside tbsCertificate differ')
  }
  const issuerName = readName(r.inside(r.read(Tag.Sequence, 'issuer')), 'issuer')
  const validity = r.inside(r.read(Tag.Sequence, 'validity'))
  const notBefore = readTime(validity, 'notBefore')
  const notAfter = readTime(validity, 'notAfter')
  validity.finish('validity')
  const subjectName = readName(r.inside(r.read(Tag.Sequence, 'subject')), 'subject')
  const publicKey = readSubjectPublicKey(r.inside(r.read(Tag.Sequence, 'subjectPublicKeyInfo')))
  const extensionsTlv = r.readOptional(explicitTag(3), 'extensions')
  r.finish('tbsCertificate')
  const ext = extensionsTlv === undefined ? NO_EXTENSIONS : readExtensions(r.inside(extensionsTlv))
  return {
    serial,
    subject: distinguishedName(subjectName, 'subject'),
    issuer: distinguishedName(issuerName, 'issuer'),
    isCA: ext.isCA,
    pathLength: ext.pathLength,
    role: subjectName.ou === undefined ? null : role(subjectName.ou),
    attributes: ext.attributes,
    notBefore,
    notAfter,
    publicKey,
  }
}

function readSignatureAlgorithm(r: DerReader): Certificate['signatureAlgorithm'] {
  const oid = readOid(r, 'signature algorithm')
  const alg = oid === OID_KEY.ecdsaWithSha256 ? 'ecdsa-sha256' : oid === OID_KEY.ed25519 ? 'ed25519' : undefined
  if (alg === undefined) malformed(`unsupported signature algorithm ${oidText(oid)}`)
  r.finish(`the ${alg} algorithm identifier (its parameters must be absent)`)
  return alg
}

function checkSignatureShape(alg: Certificate['signatureAlgorithm'], signature: Uint8Array): void {
  if (alg === 'ed25519' ? signature.length !== 64 : ecdsaSignatureFromDer(signature) === undefined) {
    malformed(`the signature is not a well-formed ${alg} signature`)
  }
}

/** The bytes of a BIT STRING that must have no unused bits. */
function readBitString(r: DerReader, tlv: Tlv, what: string): Uint8Array {
  const b = r.contents(tlv)
  if (b[0] !== 0) malformed(`${what}: not a whole number of bytes`)
  return b.subarray(1)
}

/** The magnitude of a non-negative, minimally encoded INTEGER. */
function readUnsigned(b: Uint8Array, what: string): Uint8Array {
  if (b.length === 0) malformed(`${what}: empty integer`)
  const [first = 0, second = 0] = b
  if (b.length > 1 && ((first === 0 && second < 0x80) || (first === 0xff && second >= 0x80))) malformed(`${what}: non-minimal integer`)
  if (first & 0x80) malformed(`${what}: negative`)
  return first === 0 ? b.subarray(1) : b
}

function readSerial(b: Uint8Array): string {
  const magnitude = readUnsigned(b, 'serialNumber')
  if (magnitude.length > MAX_SERIAL_BYTES) malformed(`serialNumber: longer than ${MAX_SERIAL_BYTES} bytes`)
  return bytesToHex(magnitude).replace(/^0+/, '') || '0'
}

interface NameFields {
  readonly cn?: string
  readonly o?: string
  readonly ou?: string
}

const NAME_FIELD = new Map<string, keyof NameFields>([
  [OID_KEY.commonName, 'cn'],
  [OID_KEY.org, 'o'],
  [OID_KEY.orgUnit, 'ou'],
])

/** CN, O and OU of a Name; any other attribute is skipped, any of these three twice is refused. */
function readName(rdns: DerReader, what: string): NameFields {
  const fields: { -readonly [K in keyof NameFields]: string } = {}
  while (!rdns.done) {
    const rdn = rdns.inside(rdns.read(Tag.Set, `${what} name`))
    if (rdn.done) malformed(`${what}: empty relative distinguished name`)
    while (!rdn.done) {
      const atv = rdn.inside(rdn.read(Tag.Sequence, `${what} name attribute`))
      const field = NAME_FIELD.get(readOid(atv, `${what} name attribute type`))
      const value = atv.read(undefined, `${what} name attribute value`)
      atv.finish(`${what} name attribute`)
      if (field === undefined) continue
      if (fields[field] !== undefined) malformed(`${what} has more than one ${field.toUpperCase()}`)
      fields[field] = readDirectoryString(atv, value, `${what} ${field.toUpperCase()}`)
    }
  }
  return fields
}

function readDirectoryString(r: DerReader, tlv: Tlv, what: string): string {
  const b = r.contents(tlv)
  // 64 characters are at most 256 UTF-8 bytes; longer values are refused before decoding.
  if (b.length > 256) malformed(`${what} is too long`)
  if (tlv.tag === Tag.Utf8String) {
    try {
      return bytesToUtf8(b)
    } catch (cause) {
      return malformed(`${what} is not valid UTF-8`, cause)
    }
  }
  if (tlv.tag === Tag.PrintableString) {
    const s = String.fromCharCode(...b)
    if (!PRINTABLE_RE.test(s)) malformed(`${what} is not a valid PrintableString`)
    return s
  }
  return malformed(`${what} must be a UTF8String or PrintableString`)
}

function distinguishedName(fields: NameFields, what: string): DistinguishedName {
  const { cn, o } = fields
  if (cn === undefined) malformed(`${what} has no common name (CN)`)
  if (o === undefined) malformed(`${what} has no organisation (O)`)
  if (!isNameValue(cn)) malformed(`${what} CN must be 1-64 printable characters`)
  if (!isNameValue(o)) malformed(`${what} O must be 1-64 printable characters`)
  return Object.freeze({ commonName: cn, org: o })
}

function role(ou: string): CertRole {
  if (!isCertRole(ou)) malformed(`unknown role "${ou.slice(0, 64)}" in the subject OU`)
  return ou
}

/** A UTCTime (`YYMMDDHHMMSSZ`, 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`, to 9999), as RFC 5280 §4.1.2.5 allows them. */
function readTime(r: DerReader, what: string): number {
  const tlv = r.read(undefined, what)
  const b = r.contents(tlv)
  const yearDigits = tlv.tag === Tag.UtcTime ? 2 : tlv.tag === Tag.GeneralizedTime ? 4 : 0
  if (yearDigits === 0 || b.length !== yearDigits + 11 || b[b.length - 1] !== 0x5a) {
    malformed(`${what} is not a UTCTime or GeneralizedTime of the form RFC 5280 requires`)
  }
  const num = (at: number, n: number): number => {
    let v = 0
    for (let i = at; i < at + n; i++) {
      const d = (b[i] as number) - 0x30
      if (d < 0 || d > 9) malformed(`${what} is not a valid time`)
      v = v * 10 + d
    }
    return v
  }
  const yy = num(0, yearDigits)
  const year = yearDigits === 4 ? yy : yy < 50 ? 2000 + yy : 1900 + yy
  const [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map((at) => num(yearDigits + at, 2)) as [
    number,
    number,
    number,
    number,
    number,
  ]
  if (year < 1950 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    malformed(`${what} is not a valid date`)
  }
  return Date.UTC(year, month - 1, day, hour, minute, second)
}

function daysInMonth(year: number, month: number): number {
  if (month !== 2) return DAYS_IN_MONTH[month - 1] as number
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
}

function readSubjectPublicKey(r: DerReader): PublicKey {
  const alg = r.inside(r.read(Tag.Sequence, 'subjectPublicKeyInfo algorithm'))
  const algOid = readOid(alg, 'public key algorithm')
  const key = readBitString(r, r.read(Tag.BitString, 'subjectPublicKey'), 'subjectPublicKey')
  r.finish('subjectPublicKeyInfo')
  if (algOid === OID_KEY.ecPublicKey) {
    const curve = readOid(alg, 'EC curve')
    alg.finish('EC public key parameters')
    if (curve !== OID_KEY.prime256v1) malformed(`unsupported elliptic curve ${oidText(curve)}`)
    const bytes = p256CompressedPoint(key)
    if (bytes === undefined) malformed('the subject public key is not a P-256 point')
    return { alg: 'p256', bytes }
  }
  if (algOid === OID_KEY.ed25519) {
    alg.finish('the Ed25519 key algorithm (its parameters must be absent)')
    if (key.length !== 32) malformed('the subject Ed25519 key is not 32 bytes')
    return { alg: 'ed25519', bytes: key.slice() }
  }
  return malformed(`unsupported public key algorithm ${oidText(algOid)}`)
}

interface ExtensionFields {
  readonly isCA: boolean
  readonly pathLength: number | null
  readonly attributes: Readonly<Record<string, string>>
}

const NO_EXTENSIONS: ExtensionFields = { isCA: false, pathLength: null, attributes: Object.freeze({}) }

function readExtensions(wrapper: DerReader): ExtensionFields {
  const list = wrapper.inside(wrapper.read(Tag.Sequence, 'extensions'))
  wrapper.finish('extensions')
  if (list.done) malformed('extensions: present but empty')
  const seen = new Set<string>()
  let basic: { isCA: boolean; pathLength: number | null } = { isCA: false, pathLength: null }
  let keyUsage: number | undefined
  let attributes = NO_EXTENSIONS.attributes
  while (!list.done) {
    const e = list.inside(list.read(Tag.Sequence, 'extension'))
    const oid = readOid(e, 'extension id')
    const critical = readDefaultFalse(e, 'extension critical flag')
    const value = e.contents(e.read(Tag.OctetString, 'extension value'))
    e.finish('extension')
    if (seen.has(oid)) malformed(`extension ${oidText(oid)} appears twice`)
    seen.add(oid)
    if (oid === OID_KEY.basicConstraints) basic = readBasicConstraints(value)
    else if (oid === OID_KEY.keyUsage) keyUsage = readKeyUsage(value)
    else if (oid === OID_KEY.trellisAttributes) attributes = readAttributes(value)
    else if (critical) malformed(`unsupported critical extension ${oidText(oid)}`)
  }
  // RFC 5280 §4.2.1.9 forbids the first; the second is a CA that may not sign certificates, which
  // this profile does not support (isCA must mean "may issue").
  const certSign = keyUsage === undefined ? basic.isCA : (keyUsage & KEY_USAGE.keyCertSign) !== 0
  if (certSign && !basic.isCA) malformed('keyUsage keyCertSign on a certificate that is not a CA')
  if (!certSign && basic.isCA) malformed('a CA certificate whose keyUsage lacks keyCertSign')
  return { ...basic, attributes }
}

/** An optional `BOOLEAN DEFAULT FALSE`: DER omits FALSE, so only TRUE may be present. */
function readDefaultFalse(r: DerReader, what: string): boolean {
  if (r.peekTag() !== Tag.Boolean) return false
  const b = r.contents(r.read(Tag.Boolean, what))
  if (b.length !== 1 || b[0] !== 0xff) malformed(`${what}: only TRUE may be encoded`)
  return true
}

/** The contents of an extension's OCTET STRING: exactly one element of `tag`. */
function extensionValue(value: Uint8Array, tag: number, what: string): { r: DerReader; tlv: Tlv } {
  const r = new DerReader(value)
  const tlv = r.read(tag, what)
  r.finish(what)
  return { r, tlv }
}

function readBasicConstraints(value: Uint8Array): { isCA: boolean; pathLength: number | null } {
  const { r, tlv } = extensionValue(value, Tag.Sequence, 'basicConstraints')
  const bc = r.inside(tlv)
  const isCA = readDefaultFalse(bc, 'basicConstraints cA')
  if (bc.done) return { isCA, pathLength: null }
  if (!isCA) malformed('basicConstraints pathLenConstraint without cA')
  const magnitude = readUnsigned(bc.contents(bc.read(Tag.Integer, 'basicConstraints pathLenConstraint')), 'pathLenConstraint')
  bc.finish('basicConstraints')
  if (magnitude.length > 4) malformed('basicConstraints pathLenConstraint is too large')
  return { isCA, pathLength: magnitude.reduce((n, byte) => n * 256 + byte, 0) }
}

/** The first byte of keyUsage's bits (every bit this profile reads lives there). */
function readKeyUsage(value: Uint8Array): number {
  const { r, tlv } = extensionValue(value, Tag.BitString, 'keyUsage')
  const b = r.contents(tlv)
  const unused = b[0] ?? 8
  const last = b[b.length - 1] as number
  // DER: 0–7 unused bits, all zero, and no trailing zero bit (so at least one usage is asserted).
  if (b.length < 2 || unused > 7 || ((last >> unused) & 1) === 0 || (last & ((1 << unused) - 1)) !== 0) {
    malformed('keyUsage is not a DER bit string with at least one usage')
  }
  return b[1] as number
}

function readAttributes(value: Uint8Array): Readonly<Record<string, string>> {
  const { r, tlv } = extensionValue(value, Tag.Utf8String, 'attributes extension')
  let text: string
  try {
    text = bytesToUtf8(r.contents(tlv))
  } catch (cause) {
    return malformed('the attributes extension is not valid UTF-8', cause)
  }
  const attrs = attributesFromJson(text)
  if (typeof attrs === 'string') malformed(`attributes extension: ${attrs}`)
  return attrs
}

/** The encodings of the elements of a certificate's tbsCertificate, in order (version first). */
function tbsElements(cert: Certificate): Uint8Array[] {
  const r = new DerReader(cert.tbs)
  const tbs = r.inside(r.read(Tag.Sequence, 'tbsCertificate'))
  const out: Uint8Array[] = []
  while (!tbs.done) out.push(tbs.encoding(tbs.read()))
  return out
}

/** The DER of a parsed certificate's subject Name, as it must appear in the issuer field of what it issues. */
export function subjectNameOf(cert: Certificate): Uint8Array {
  const name = tbsElements(cert)[5]
  if (name === undefined) malformed('no subject')
  return name
}

/** The subjectKeyIdentifier of a parsed certificate, when it has one. */
export function subjectKeyIdentifierOf(cert: Certificate): Uint8Array | undefined {
  const wrapper = tbsElements(cert)[7]
  if (wrapper === undefined) return undefined
  const w = new DerReader(wrapper)
  const inner = w.inside(w.read(explicitTag(3), 'extensions'))
  const list = inner.inside(inner.read(Tag.Sequence, 'extensions'))
  while (!list.done) {
    const e = list.inside(list.read(Tag.Sequence, 'extension'))
    if (readOid(e, 'extension id') !== OID_KEY.subjectKeyIdentifier) continue
    readDefaultFalse(e, 'critical')
    const { r: v, tlv } = extensionValue(e.contents(e.read(Tag.OctetString)), Tag.OctetString, 'subjectKeyIdentifier')
    return v.contents(tlv).slice()
  }
  return undefined
}
