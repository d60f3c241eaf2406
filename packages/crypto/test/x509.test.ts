import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { p256 } from '@noble/curves/nist.js'
import * as nodeEntry from '@trellis/crypto'
import {
  CERT_ATTRIBUTES_OID,
  CERT_ROLES,
  type Certificate,
  type CertificateWithKey,
  certificateFromPem,
  certificateToPem,
  type IssueCertificateOptions,
  P256_HALF_N,
  type PrivateKey,
} from '@trellis/crypto'
import { bytesToHex, concatBytes, equalBytes, hexToBytes, isTrellisError, utf8ToBytes } from '@trellis/utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as browserEntry from '../src/browser.js'
import {
  derBitString,
  derBoolean,
  DerReader,
  derOctetString,
  derOid,
  derSequence,
  derTlv,
  derUtf8String,
  explicitTag,
  oidContents,
} from '../src/x509/der.js'
import { be, expectCode, highS, p256Der } from './conformance.js'

/** Certificates made by OpenSSL (see the file's comment). */
const vectors = JSON.parse(readFileSync(new URL('./vectors/x509-openssl.json', import.meta.url), 'utf8')) as {
  rootPem: string
  rootPrivateKey: string
  leafPem: string
  rsaPem: string
}

type Api = Pick<
  typeof nodeEntry,
  | 'parseCertificate'
  | 'verifyCertificateSignature'
  | 'createCertificateAuthority'
  | 'issueCertificate'
  | 'generateKeyPair'
  | 'sha256'
  | 'sign'
>
const apis: { name: string; api: Api }[] = [
  { name: 'node', api: nodeEntry },
  { name: 'noble', api: browserEntry },
]
const node = nodeEntry

const DAY = 86_400_000
const T0 = Date.UTC(2025, 0, 1)
const ATTRS = { dept: 'claims', level: '3', '10': 'ten', '9': 'nine', 'a.b-c_d': 'ünïcødé ✓' }

const root = await node.createCertificateAuthority({ org: 'org1', commonName: 'org1 root CA', validityDays: 3650, notBefore: T0 })
const intermediate = await node.createCertificateAuthority({
  org: 'org1',
  commonName: 'org1 CA',
  validityDays: 730,
  notBefore: T0,
  parent: root,
  pathLength: 0,
})
const alice = node.generateKeyPair()
const leaf = await node.issueCertificate({
  issuer: intermediate,
  subjectPublicKey: alice.publicKey,
  commonName: 'alice',
  role: 'client',
  attributes: ATTRS,
  notBefore: T0 + 1500,
  notAfter: T0 + 90 * DAY + 999,
  serial: '00ff01',
})
// Same names as `root`, another key: a different CA.
const impostor = await node.createCertificateAuthority({ org: 'org1', commonName: 'org1 root CA', validityDays: 3650, notBefore: T0 })

function issue(o: Partial<IssueCertificateOptions> = {}, api: Api = node): Promise<Certificate> {
  return api.issueCertificate({ issuer: intermediate, subjectPublicKey: alice.publicKey, commonName: 'alice', role: 'client', ...o })
}

async function rejectionCode(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    expect(isTrellisError(e)).toBe(true)
    return (e as { code: string }).code
  }
  throw new Error('expected a rejection')
}

// ---------------------------------------------------------------------------------------------------
// Rebuilding certificates piece by piece (the parser does not check signatures)
// ---------------------------------------------------------------------------------------------------

/** The encodings of the elements inside a constructed element. */
function children(der: Uint8Array): Uint8Array[] {
  const r = new DerReader(der)
  const inner = r.inside(r.read())
  const out: Uint8Array[] = []
  while (!inner.done) out.push(inner.encoding(inner.read()))
  return out
}

/** version, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, [3] extensions */
function tbsParts(cert: Certificate): Uint8Array[] {
  return children(cert.tbs)
}

function assemble(parts: Uint8Array[], cert: Certificate = leaf, outer?: { alg?: Uint8Array; sig?: Uint8Array }): Uint8Array {
  return derSequence(derSequence(...parts), outer?.alg ?? (tbsParts(cert)[2] as Uint8Array), outer?.sig ?? derBitString(cert.signature))
}

function withPart(index: number, part: Uint8Array | undefined, cert: Certificate = leaf): Uint8Array {
  const parts = tbsParts(cert)
  if (part === undefined) parts.splice(index, 1)
  else parts[index] = part
  return assemble(parts, cert)
}

function extensionsOf(cert: Certificate): Uint8Array[] {
  return children(children(tbsParts(cert)[7] as Uint8Array)[0] as Uint8Array)
}

function withExtensions(exts: Uint8Array[], cert: Certificate = leaf): Uint8Array {
  return withPart(7, derTlv(explicitTag(3), derSequence(...exts)), cert)
}

function ext(oid: string, value: Uint8Array, critical?: boolean): Uint8Array {
  return derSequence(
    derOid(oid),
    ...(critical === undefined ? [] : [derTlv(0x01, Uint8Array.of(critical ? 0xff : 0))]),
    derOctetString(value),
  )
}

function attributesExt(json: string): Uint8Array {
  return ext(CERT_ATTRIBUTES_OID, derUtf8String(json))
}

/** A name from (oid, tag, bytes) attributes, one per RDN unless grouped in an inner array. */
function name(...rdns: ([string, number, string | Uint8Array] | [string, number, string | Uint8Array][])[]): Uint8Array {
  const atv = ([oid, tag, v]: [string, number, string | Uint8Array]) =>
    derSequence(derOid(oid), derTlv(tag, typeof v === 'string' ? utf8ToBytes(v) : v))
  return derSequence(
    ...rdns.map((rdn) =>
      derTlv(0x31, ...(Array.isArray(rdn[0]) ? (rdn as [string, number, string][]) : [rdn as [string, number, string]]).map(atv)),
    ),
  )
}

const O = '2.5.4.10'
const CN = '2.5.4.3'
const OU = '2.5.4.11'
const UTF8 = 0x0c
const PRINTABLE = 0x13

function validity(a: [number, string], b: [number, string]): Uint8Array {
  return derSequence(derTlv(a[0], utf8ToBytes(a[1])), derTlv(b[0], utf8ToBytes(b[1])))
}

function spki(algorithm: Uint8Array, key: Uint8Array): Uint8Array {
  return derSequence(algorithm, derBitString(key))
}

const EC_ALG = derSequence(derOid('1.2.840.10045.2.1'), derOid('1.2.840.10045.3.1.7'))
const uncompressedAlice = p256.Point.fromBytes(alice.publicKey.bytes).toBytes(false)

// ---------------------------------------------------------------------------------------------------

describe.each(apis)('X.509 ($name backend)', ({ api }) => {
  it('a root, an intermediate and a leaf carry every field through create → DER → parse', () => {
    const r = api.parseCertificate(root.cert.der)
    expect(r).toEqual(root.cert)
    expect(r.subject).toEqual({ org: 'org1', commonName: 'org1 root CA' })
    expect(r.issuer).toEqual(r.subject)
    expect(r).toMatchObject({ isCA: true, pathLength: null, role: null, attributes: {}, signatureAlgorithm: 'ecdsa-sha256' })
    expect(r.notBefore).toBe(T0)
    expect(r.notAfter).toBe(T0 + 3650 * DAY)
    expect(r.publicKey.alg).toBe('p256')
    expect(r.serial).toMatch(/^[4-7][0-9a-f]{31}$/)
    expect(equalBytes(r.hash, api.sha256(r.der))).toBe(true)
    expect(equalBytes(r.der.subarray(4, 4 + r.tbs.length), r.tbs)).toBe(true)

    const i = api.parseCertificate(intermediate.cert.der)
    expect(i).toEqual(intermediate.cert)
    expect(i).toMatchObject({ isCA: true, pathLength: 0, role: null, issuer: r.subject, subject: { org: 'org1', commonName: 'org1 CA' } })
    expect(i.notAfter - i.notBefore).toBe(730 * DAY)

    const l = api.parseCertificate(leaf.der)
    expect(l).toEqual(leaf)
    expect(l).toMatchObject({
      serial: 'ff01',
      subject: { org: 'org1', commonName: 'alice' },
      issuer: i.subject,
      isCA: false,
      pathLength: null,
      role: 'client',
      notBefore: T0 + 1000,
      notAfter: T0 + 90 * DAY,
      publicKey: alice.publicKey,
    })
    expect({ ...l.attributes }).toEqual(ATTRS)
    expect(Object.isFrozen(l) && Object.isFrozen(l.subject) && Object.isFrozen(l.attributes)).toBe(true)
  })

  it('stores the attributes as canonical JSON (sorted keys) in the non-critical Trellis extension', () => {
    const attrs = extensionsOf(leaf).find((e) => bytesToHex(e).includes(bytesToHex(oidContents(CERT_ATTRIBUTES_OID))))
    expect(attrs).toBeDefined()
    const json = '{"10":"ten","9":"nine","a.b-c_d":"ünïcødé ✓","dept":"claims","level":"3"}'
    expect(bytesToHex(attrs as Uint8Array)).toBe(bytesToHex(attributesExt(json)))
  })

  it.each(CERT_ROLES)('issues and parses role %s', async (role) => {
    const c = await issue({ role }, api)
    expect(api.parseCertificate(c.der).role).toBe(role)
    expect(api.verifyCertificateSignature(c, intermediate.cert)).toBe(true)
  })

  it('PEM round trips', () => {
    const pem = certificateToPem(leaf.der)
    expect(pem.startsWith('-----BEGIN CERTIFICATE-----\n')).toBe(true)
    expect(pem.endsWith('\n-----END CERTIFICATE-----\n')).toBe(true)
    expect(pem.split('\n').every((line) => line.length <= 64)).toBe(true)
    expect(api.parseCertificate(certificateFromPem(pem))).toEqual(leaf)
    const crlf = `Subject: alice\r\n${pem.replaceAll('\n', '\r\n')}`
    expect(equalBytes(certificateFromPem(crlf), leaf.der)).toBe(true)
  })

  it('Ed25519 CAs and subjects, mixed with P-256', async () => {
    const edRoot = await api.createCertificateAuthority({
      org: 'org2',
      commonName: 'ed root',
      validityDays: 10,
      keyPair: api.generateKeyPair('ed25519'),
    })
    const edLeaf = await api.issueCertificate({ issuer: edRoot, subjectPublicKey: alice.publicKey, commonName: 'alice', role: 'node' })
    const parsed = api.parseCertificate(edLeaf.der)
    expect(parsed.signatureAlgorithm).toBe('ed25519')
    expect(parsed.signature.length).toBe(64)
    expect(api.verifyCertificateSignature(edLeaf, edRoot.cert)).toBe(true)
    const bob = api.generateKeyPair('ed25519')
    const edSubject = await api.issueCertificate({ issuer: root, subjectPublicKey: bob.publicKey, commonName: 'bob', role: 'device' })
    expect(edSubject.publicKey).toEqual(bob.publicKey)
    expect(edSubject.subject.org).toBe('org1')
    expect(api.verifyCertificateSignature(edSubject, root.cert)).toBe(true)
  })

  describe('verifyCertificateSignature', () => {
    it('is true for each certificate and its issuer', () => {
      expect(api.verifyCertificateSignature(root.cert, root.cert)).toBe(true)
      expect(api.verifyCertificateSignature(intermediate.cert, root.cert)).toBe(true)
      expect(api.verifyCertificateSignature(leaf, intermediate.cert)).toBe(true)
    })

    it('is false for another CA with the same names, and for a CA of another name', () => {
      expect(impostor.cert.subject).toEqual(root.cert.subject)
      expect(api.verifyCertificateSignature(intermediate.cert, impostor.cert)).toBe(false)
      expect(api.verifyCertificateSignature(root.cert, impostor.cert)).toBe(false)
      expect(api.verifyCertificateSignature(leaf, root.cert)).toBe(false)
      expect(api.verifyCertificateSignature(intermediate.cert, intermediate.cert)).toBe(false)
    })

    it('is false when the issuer is not a CA, even over a signature of its key', async () => {
      const bob = api.generateKeyPair()
      const bobCert = await issue({ subjectPublicKey: bob.publicKey, commonName: 'bob' }, api)
      // A certificate "issued" by bob's leaf key: names and signature right, issuer not a CA.
      const parts = tbsParts(leaf)
      parts[3] = tbsParts(bobCert)[5] as Uint8Array
      const tbs = derSequence(...parts)
      const sig = p256Der(api.sign(bob.privateKey, tbs))
      const forged = api.parseCertificate(assemble(parts, leaf, { sig: derBitString(sig) }))
      expect(forged.issuer).toEqual(bobCert.subject)
      expect(nodeEntry.verifyDer(bob.publicKey, forged.tbs, forged.signature)).toBe(true)
      expect(api.verifyCertificateSignature(forged, bobCert)).toBe(false)
    })

    it('is false for a tampered tbs or signature byte (every position), never throws', () => {
      const positions = [...Array(leaf.tbs.length).keys()].filter((i) => i % (api === node ? 1 : 7) === 0)
      for (const i of positions) {
        const tbs = Uint8Array.from(leaf.tbs)
        tbs[i] = (tbs[i] as number) ^ 0x01
        expect(api.verifyCertificateSignature({ ...leaf, tbs }, intermediate.cert)).toBe(false)
      }
      for (let i = 0; i < leaf.signature.length; i++) {
        const signature = Uint8Array.from(leaf.signature)
        signature[i] = (signature[i] as number) ^ 0x01
        expect(api.verifyCertificateSignature({ ...leaf, signature }, intermediate.cert)).toBe(false)
      }
    })

    it('accepts a high-S ECDSA signature (as other CAs produce)', () => {
      const rs = compactOf(leaf.signature)
      const twin = highS(rs)
      expect(be(twin.subarray(32)) > P256_HALF_N).toBe(true)
      const der = assemble(tbsParts(leaf), leaf, { sig: derBitString(p256Der(twin)) })
      const c = api.parseCertificate(der)
      expect(api.verifyCertificateSignature(c, intermediate.cert)).toBe(true)
      expect(new X509Certificate(der).verify(new X509Certificate(intermediate.cert.der).publicKey)).toBe(true)
    })

    it('is false, never a throw, for malformed arguments', () => {
      const junk: unknown[] = [undefined, null, {}, { ...leaf, tbs: null }, { ...leaf, signatureAlgorithm: 'rsa' }, 'cert']
      for (const j of junk) {
        expect(api.verifyCertificateSignature(j as Certificate, intermediate.cert)).toBe(false)
        expect(api.verifyCertificateSignature(leaf, j as Certificate)).toBe(false)
      }
      expect(api.verifyCertificateSignature(leaf, { ...intermediate.cert, publicKey: root.cert.publicKey })).toBe(false)
      expect(api.verifyCertificateSignature({ ...leaf, signatureAlgorithm: 'ed25519' }, intermediate.cert)).toBe(false)
    })
  })

  it('flipping any byte of a valid certificate makes it CERT_MALFORMED or its signature fail (property)', () => {
    // A flipped root is checked against itself: its key may have changed too.
    const cases = [
      { cert: leaf, issuer: () => intermediate.cert },
      { cert: root.cert, issuer: (self: Certificate) => self },
    ]
    for (const { cert, issuer } of cases) {
      fc.assert(
        fc.property(fc.nat(cert.der.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
          const der = Uint8Array.from(cert.der)
          der[i] = (der[i] as number) ^ x
          let parsed: Certificate
          try {
            parsed = api.parseCertificate(der)
          } catch (e) {
            expect(isTrellisError(e, 'CERT_MALFORMED')).toBe(true)
            return
          }
          expect(api.verifyCertificateSignature(parsed, issuer(parsed))).toBe(false)
        }),
        { numRuns: api === node ? 1500 : 150 },
      )
    }
  })
})

describe('parseCertificate refuses malformed and unsupported certificates with CERT_MALFORMED', () => {
  const parts = tbsParts(leaf)
  const exts = extensionsOf(leaf)
  const [bc, ku, ski, aki, attrs] = exts as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array]
  const nameOf = (...extra: Parameters<typeof name>) => name([O, UTF8, 'org1'], [CN, UTF8, 'alice'], ...extra)
  const utc = (s: string): [number, string] => [0x17, s]
  const gen = (s: string): [number, string] => [0x18, s]
  const withEcdsaSig = (sig: Uint8Array) => assemble(parts, leaf, { sig: derBitString(sig) })

  const cases: [string, () => Uint8Array][] = [
    ['empty input', () => new Uint8Array()],
    ['a trailing byte after the certificate', () => concatBytes(leaf.der, Uint8Array.of(0))],
    ['two certificates back to back', () => concatBytes(leaf.der, leaf.der)],
    ['an indefinite outer length', () => concatBytes(Uint8Array.of(0x30, 0x80), leaf.der.subarray(4), Uint8Array.of(0, 0))],
    ['a non-minimal outer length', () => concatBytes(Uint8Array.of(0x30, 0x83, 0), leaf.der.subarray(2))],
    ['a multi-byte tag', () => concatBytes(Uint8Array.of(0x3f, 0x01), leaf.der.subarray(1))],
    ['a version 1 certificate (no version field)', () => withPart(0, undefined)],
    ['version 2', () => withPart(0, derTlv(explicitTag(0), Uint8Array.of(2, 1, 1)))],
    ['a negative serial', () => withPart(1, derTlv(2, Uint8Array.of(0x80, 1)))],
    ['a non-minimal serial', () => withPart(1, derTlv(2, Uint8Array.of(0, 1)))],
    ['a 21-byte serial', () => withPart(1, derTlv(2, new Uint8Array(21).fill(0x11)))],
    ['an empty serial', () => withPart(1, derTlv(2, new Uint8Array()))],
    ['an inner signature algorithm that differs from the outer one', () => withPart(2, derSequence(derOid('1.2.840.10045.4.3.3')))],
    [
      'ecdsa-with-SHA256 with NULL parameters',
      () => {
        const alg = derSequence(derOid('1.2.840.10045.4.3.2'), Uint8Array.of(5, 0))
        const p = tbsParts(leaf)
        p[2] = alg
        return assemble(p, leaf, { alg })
      },
    ],
    [
      'an unsupported signature algorithm (ecdsa-with-SHA384)',
      () => {
        const alg = derSequence(derOid('1.2.840.10045.4.3.3'))
        const p = tbsParts(leaf)
        p[2] = alg
        return assemble(p, leaf, { alg })
      },
    ],
    ['a signature that is not a DER ECDSA-Sig-Value', () => withEcdsaSig(compactOf(leaf.signature))],
    ['a signature with s = 0', () => withEcdsaSig(hexToBytes('3006020101020100'))],
    ['a signature bit string with unused bits', () => assemble(parts, leaf, { sig: derTlv(3, Uint8Array.of(1), leaf.signature) })],
    ['an issuer without CN', () => withPart(3, name([O, UTF8, 'org1']))],
    ['a subject without O', () => withPart(5, name([CN, UTF8, 'alice']))],
    ['an empty subject', () => withPart(5, derSequence())],
    ['an empty RDN', () => withPart(5, derSequence(derTlv(0x31), ...children(nameOf())))],
    ['two CNs', () => withPart(5, nameOf([CN, UTF8, 'bob']))],
    [
      'two Os in one RDN',
      () =>
        withPart(
          5,
          name(
            [CN, UTF8, 'alice'],
            [
              [O, UTF8, 'org1'],
              [O, UTF8, 'org2'],
            ],
          ),
        ),
    ],
    ['two OUs', () => withPart(5, nameOf([OU, UTF8, 'client'], [OU, UTF8, 'admin']))],
    ['an empty CN', () => withPart(5, name([O, UTF8, 'org1'], [CN, UTF8, '']))],
    ['a 65-character O', () => withPart(5, name([O, UTF8, 'o'.repeat(65)], [CN, UTF8, 'alice']))],
    ['a CN with a control character', () => withPart(5, name([O, UTF8, 'org1'], [CN, UTF8, 'al\nice']))],
    ['a CN that is not UTF-8', () => withPart(5, name([O, UTF8, 'org1'], [CN, UTF8, Uint8Array.of(0x61, 0xff)]))],
    ['a CN as a BMPString', () => withPart(5, name([O, UTF8, 'org1'], [CN, 0x1e, Uint8Array.of(0, 0x61)]))],
    ['a PrintableString with "@"', () => withPart(5, name([O, PRINTABLE, 'org@1'], [CN, UTF8, 'alice']))],
    ['a role that is not one of CERT_ROLES', () => withPart(5, nameOf([OU, UTF8, 'manager']))],
    ['a role in another case', () => withPart(5, nameOf([OU, UTF8, 'Client']))],
    ['a UTCTime without seconds', () => withPart(4, validity(utc('2501010000Z'), utc('2601010000Z')))],
    ['a UTCTime with an offset', () => withPart(4, validity(utc('250101000000+0100'), utc('260101000000Z')))],
    ['a GeneralizedTime with fractional seconds', () => withPart(4, validity(gen('20250101000000.5Z'), gen('20600101000000Z')))],
    ['February 30th', () => withPart(4, validity(utc('250230000000Z'), utc('260101000000Z')))],
    ['hour 24', () => withPart(4, validity(utc('250101240000Z'), utc('260101000000Z')))],
    ['second 60', () => withPart(4, validity(utc('250101235960Z'), utc('260101000000Z')))],
    ['a GeneralizedTime before 1950', () => withPart(4, validity(gen('19491231235959Z'), utc('260101000000Z')))],
    ['a lower-case z', () => withPart(4, validity(utc('250101000000z'), utc('260101000000Z')))],
    ['a UTCTime with a non-digit', () => withPart(4, validity(utc('25010100000AZ'), utc('260101000000Z')))],
    ['a time that is an OCTET STRING', () => withPart(4, validity([4, '250101000000Z'], utc('260101000000Z')))],
    [
      'a third validity time',
      () => withPart(4, derSequence(...children(parts[4] as Uint8Array), derTlv(0x17, utf8ToBytes('270101000000Z')))),
    ],
    ['a secp256k1 key', () => withPart(6, spki(derSequence(derOid('1.2.840.10045.2.1'), derOid('1.3.132.0.10')), uncompressedAlice))],
    [
      'a P-256 point off the curve',
      () => withPart(6, spki(EC_ALG, concatBytes(uncompressedAlice.subarray(0, 64), Uint8Array.of(uncompressedAlice[64]! ^ 1)))),
    ],
    [
      'a P-256 point with the hybrid prefix 06',
      () => withPart(6, spki(EC_ALG, concatBytes(Uint8Array.of(6), uncompressedAlice.subarray(1)))),
    ],
    ['EC parameters missing', () => withPart(6, spki(derSequence(derOid('1.2.840.10045.2.1')), uncompressedAlice))],
    ['a 31-byte Ed25519 key', () => withPart(6, spki(derSequence(derOid('1.3.101.112')), new Uint8Array(31).fill(1)))],
    [
      'Ed25519 with NULL parameters',
      () => withPart(6, spki(derSequence(derOid('1.3.101.112'), Uint8Array.of(5, 0)), new Uint8Array(32).fill(1))),
    ],
    ['an RSA key', () => withPart(6, spki(derSequence(derOid('1.2.840.113549.1.1.1'), Uint8Array.of(5, 0)), new Uint8Array(140).fill(1)))],
    ['a subjectUniqueID', () => assemble([...parts.slice(0, 7), derTlv(0x82, Uint8Array.of(0, 1)), parts[7] as Uint8Array])],
    ['extensions present but empty', () => withExtensions([])],
    ['a duplicate extension', () => withExtensions([bc, ku, ski, aki, attrs, ski])],
    ['an unsupported critical extension', () => withExtensions([...exts, ext('2.5.29.30', derSequence(), true)])],
    ['critical FALSE encoded explicitly', () => withExtensions([bc, ku, ext('2.5.29.14', derOctetString(new Uint8Array(20)), false)])],
    [
      'a BOOLEAN that is neither 0 nor 0xff',
      () =>
        withExtensions([
          ext('2.5.29.19', derSequence(), undefined),
          ku,
          derSequence(derOid('1.2.3'), derTlv(1, Uint8Array.of(1)), derOctetString(new Uint8Array())),
        ]),
    ],
    [
      'basicConstraints cA FALSE encoded explicitly',
      () => withExtensions([ext('2.5.29.19', derSequence(derTlv(1, Uint8Array.of(0))), true), ku]),
    ],
    ['a pathLenConstraint without cA', () => withExtensions([ext('2.5.29.19', derSequence(derTlv(2, Uint8Array.of(1))), true), ku])],
    [
      'a negative pathLenConstraint',
      () =>
        withExtensions([
          ext('2.5.29.19', derSequence(derBoolean(true), derTlv(2, Uint8Array.of(0xff))), true),
          ext('2.5.29.15', derTlv(3, Uint8Array.of(2, 4)), true),
        ]),
    ],
    [
      'basicConstraints with trailing bytes',
      () => withExtensions([ext('2.5.29.19', concatBytes(derSequence(), Uint8Array.of(0)), true), ku]),
    ],
    [
      'keyUsage keyCertSign on a certificate that is not a CA',
      () => withExtensions([bc, ext('2.5.29.15', derTlv(3, Uint8Array.of(2, 0x84)), true)]),
    ],
    ['keyUsage without any bit', () => withExtensions([bc, ext('2.5.29.15', derTlv(3, Uint8Array.of(0)), true)])],
    ['keyUsage with a trailing zero bit (not DER)', () => withExtensions([bc, ext('2.5.29.15', derTlv(3, Uint8Array.of(6, 0x80)), true)])],
    ['a CA whose keyUsage lacks keyCertSign', () => withExtensions([ext('2.5.29.19', derSequence(derBoolean(true)), true), ku])],
    ['attributes with whitespace', () => withExtensions([bc, ku, attributesExt('{"a": "b"}')])],
    ['attributes with unsorted keys', () => withExtensions([bc, ku, attributesExt('{"b":"1","a":"2"}')])],
    ['attributes with a duplicate key', () => withExtensions([bc, ku, attributesExt('{"a":"1","a":"2"}')])],
    ['attributes with a needless escape', () => withExtensions([bc, ku, attributesExt('{"a":"\\u0062"}')])],
    ['attributes with a number value', () => withExtensions([bc, ku, attributesExt('{"a":1}')])],
    ['attributes with a key outside [A-Za-z0-9_.-]', () => withExtensions([bc, ku, attributesExt('{"a b":"1"}')])],
    ['attributes with a 65-character key', () => withExtensions([bc, ku, attributesExt(`{"${'k'.repeat(65)}":"1"}`)])],
    ['an attribute value of 1025 characters', () => withExtensions([bc, ku, attributesExt(`{"a":"${'é'.repeat(1025)}"}`)])],
    [
      '33 attributes',
      () =>
        withExtensions([bc, ku, attributesExt(`{${[...Array(33).keys()].map((i) => `"k${String(i).padStart(2, '0')}":""`).join(',')}}`)]),
    ],
    ['attributes that are an array', () => withExtensions([bc, ku, attributesExt('["a"]')])],
    ['attributes that are not JSON', () => withExtensions([bc, ku, attributesExt('{a:1}')])],
    ['attributes with a lone surrogate', () => withExtensions([bc, ku, attributesExt('{"a":"\\ud800"}')])],
    ['attributes in an OCTET STRING', () => withExtensions([bc, ku, ext(CERT_ATTRIBUTES_OID, derOctetString(utf8ToBytes('{}')))])],
    ['the attributes extension twice', () => withExtensions([bc, ku, attrs, attrs])],
    [
      'a malformed object identifier',
      () => withExtensions([bc, ku, derSequence(derTlv(6, Uint8Array.of(0x2a, 0x86)), derOctetString(new Uint8Array()))]),
    ],
    [
      'a non-minimal object identifier',
      () => withExtensions([bc, ku, derSequence(derTlv(6, Uint8Array.of(0x2a, 0x80, 0x01)), derOctetString(new Uint8Array()))]),
    ],
    ['an RSA certificate made by OpenSSL', () => certificateFromPem(vectors.rsaPem)],
  ]

  it.each(cases)('%s', (_name, make) => {
    const der = make()
    for (const { api } of apis) {
      const e = expectCode(() => api.parseCertificate(der), 'CERT_MALFORMED')
      expect((e.details as { reason: string }).reason.length).toBeGreaterThan(0)
    }
  })

  it('the rebuilding helpers reproduce the original bytes', () => {
    expect(equalBytes(assemble(tbsParts(leaf)), leaf.der)).toBe(true)
    expect(equalBytes(withExtensions(exts), leaf.der)).toBe(true)
  })

  it('every truncation, and input that is not bytes, is CERT_MALFORMED', () => {
    for (let n = 0; n < leaf.der.length; n++) expectCode(() => node.parseCertificate(leaf.der.subarray(0, n)), 'CERT_MALFORMED')
    for (const junk of ['3082', null, undefined, [48, 0], { length: 3 }]) {
      expectCode(() => node.parseCertificate(junk as unknown as Uint8Array), 'CERT_MALFORMED')
    }
  })

  it('random bytes are CERT_MALFORMED, nothing else (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.uint8Array({ maxLength: 50 }).map((b) => concatBytes(Uint8Array.of(0x30, 0x82, 1, 0xef), b)),
        ),
        (b) => {
          expectCode(() => node.parseCertificate(b), 'CERT_MALFORMED')
        },
      ),
    )
  })

  it('accepts what DER and RFC 5280 allow: zero serial, PrintableString, multi-valued RDNs, compressed points, GeneralizedTime, unknown non-critical extensions, no extensions', () => {
    expect(node.parseCertificate(withPart(1, derTlv(2, Uint8Array.of(0)))).serial).toBe('0')
    expect(node.parseCertificate(withPart(1, derTlv(2, Uint8Array.of(0, 0x80, 0)))).serial).toBe('8000')
    const n = node.parseCertificate(
      withPart(
        5,
        name(
          [
            [CN, PRINTABLE, 'alice'],
            [O, PRINTABLE, 'Org (1), Ltd.'],
          ],
          [OU, PRINTABLE, 'admin'],
          ['2.5.4.6', PRINTABLE, 'DE'],
        ),
      ),
    )
    expect(n.subject).toEqual({ commonName: 'alice', org: 'Org (1), Ltd.' })
    expect(n.role).toBe('admin')
    expect(node.parseCertificate(withPart(6, spki(EC_ALG, alice.publicKey.bytes))).publicKey).toEqual(alice.publicKey)
    const v = node.parseCertificate(withPart(4, validity(gen('20250101000000Z'), gen('99991231235959Z'))))
    expect([v.notBefore, v.notAfter]).toEqual([T0, Date.UTC(9999, 11, 31, 23, 59, 59)])
    expect(node.parseCertificate(withPart(4, validity(utc('500101000000Z'), utc('491231235959Z')))).notBefore).toBe(Date.UTC(1950, 0, 1))
    expect(node.parseCertificate(withExtensions([ext('1.2.3.4', derSequence()), ...exts])).attributes).toEqual(leaf.attributes)
    expect(node.parseCertificate(withExtensions([bc, ku, attributesExt('{}')])).attributes).toEqual({})
    const bare = node.parseCertificate(assemble(parts.slice(0, 7)))
    expect(bare).toMatchObject({ isCA: false, pathLength: null, attributes: {}, role: 'client' })
  })
})

describe('issueCertificate and createCertificateAuthority refuse bad requests with CERT_INVALID_REQUEST', () => {
  const bad: [string, Partial<IssueCertificateOptions>][] = [
    ['an empty commonName', { commonName: '' }],
    ['a 65-character commonName', { commonName: 'x'.repeat(65) }],
    ['a commonName with a control character', { commonName: 'a\u0000b' }],
    ['an unknown role', { role: 'manager' as never }],
    ['attributes that are not an object', { attributes: 'x' as never }],
    ['an attribute key with a space', { attributes: { 'a b': '1' } }],
    ['an empty attribute key', { attributes: { '': '1' } }],
    ['a non-string attribute', { attributes: { a: 1 as never } }],
    ['an attribute value of 1025 characters', { attributes: { a: 'x'.repeat(1025) } }],
    ['33 attributes', { attributes: Object.fromEntries([...Array(33).keys()].map((i) => [`k${i}`, 'v'])) }],
    ['validityDays and notAfter together', { validityDays: 1, notAfter: T0 + DAY }],
    ['zero validityDays', { validityDays: 0 }],
    ['fractional validityDays', { validityDays: 1.5 }],
    ['notAfter before notBefore', { notBefore: T0, notAfter: T0 - 1000 }],
    ['notBefore before 1950', { notBefore: Date.UTC(1949, 11, 31) }],
    ['notAfter after 9999', { notBefore: T0, notAfter: Date.UTC(10000, 0, 1) }],
    ['a NaN notBefore', { notBefore: Number.NaN }],
    ['a zero serial', { serial: '000' }],
    ['a serial that is not hex', { serial: 'xyz' }],
    ['a 21-byte serial', { serial: 'ff'.repeat(21) }],
    [
      'a subject key that is not a point',
      { subjectPublicKey: { alg: 'p256', bytes: concatBytes(Uint8Array.of(2), new Uint8Array(32).fill(0xff)) } },
    ],
    ['a small-order Ed25519 subject key', { subjectPublicKey: { alg: 'ed25519', bytes: hexToBytes(`01${'00'.repeat(31)}`) } }],
    ['a leaf as the issuer', { issuer: { cert: leaf, privateKey: alice.privateKey } }],
    ["an issuer key that is not the certificate's", { issuer: { cert: intermediate.cert, privateKey: root.privateKey } }],
    [
      'an invalid issuer private key',
      { issuer: { cert: intermediate.cert, privateKey: { alg: 'p256', bytes: new Uint8Array(32) } as PrivateKey } },
    ],
  ]
  it.each(bad)('issueCertificate: %s', async (_name, o) => {
    for (const { api } of apis) expect(await rejectionCode(issue(o, api))).toBe('CERT_INVALID_REQUEST')
  })

  const ca = { org: 'org1', commonName: 'org1 CA 2', validityDays: 30 }
  const badCA: [string, Parameters<typeof node.createCertificateAuthority>[0]][] = [
    ['an empty org', { ...ca, org: '' }],
    ['a 65-character commonName', { ...ca, commonName: 'c'.repeat(65) }],
    ['a key pair that does not match', { ...ca, keyPair: { publicKey: root.cert.publicKey, privateKey: alice.privateKey } }],
    ['a negative pathLength', { ...ca, pathLength: -1 }],
    ['a parent that is not a CA', { ...ca, parent: { cert: leaf, privateKey: alice.privateKey } }],
    ['a parent of another organisation', { ...ca, org: 'org2', parent: root }],
    ['a parent with pathLength 0', { ...ca, parent: intermediate }],
    ["a pathLength not below the parent's", { ...ca, parent: root as CertificateWithKey, pathLength: 5 }],
  ]
  it.each(badCA)('createCertificateAuthority: %s', async (_name, o) => {
    const constrained = await node.createCertificateAuthority({ ...ca, pathLength: 5 })
    const options = o.pathLength === 5 ? { ...o, parent: constrained } : o
    for (const { api } of apis) expect(await rejectionCode(api.createCertificateAuthority(options))).toBe('CERT_INVALID_REQUEST')
  })
})

describe('interoperability', () => {
  const x = (c: Certificate) => new X509Certificate(c.der)

  it("node:crypto's X509Certificate reads our certificates as we do", () => {
    for (const c of [root.cert, intermediate.cert, leaf]) {
      const xc = x(c)
      expect(xc.serialNumber.toLowerCase().replace(/^0+/, '')).toBe(c.serial)
      expect(xc.ca).toBe(c.isCA)
      expect(new Date(xc.validFrom).getTime()).toBe(c.notBefore)
      expect(new Date(xc.validTo).getTime()).toBe(c.notAfter)
      const subject = xc.subject.split('\n')
      expect(subject).toContain(`O=${c.subject.org}`)
      expect(subject).toContain(`CN=${c.subject.commonName}`)
      expect(xc.issuer.split('\n')).toContain(`CN=${c.issuer.commonName}`)
      const spkiDer = xc.publicKey.export({ format: 'der', type: 'spki' })
      expect(bytesToHex(node.parseCertificate(withPart(6, spkiDer)).publicKey.bytes)).toBe(bytesToHex(c.publicKey.bytes))
    }
    expect(x(leaf).subject.split('\n')).toContain('OU=client')
  })

  it('checkIssued / verify agree with verifyCertificateSignature on every pair, including the impostor CA', () => {
    const certs = [root.cert, intermediate.cert, leaf, impostor.cert]
    for (const c of certs) {
      for (const issuer of certs) {
        const ours = node.verifyCertificateSignature(c, issuer)
        const theirs = x(c).checkIssued(x(issuer)) && x(c).verify(x(issuer).publicKey) && issuer.isCA
        expect(ours, `${c.subject.commonName} by ${issuer.subject.commonName}`).toBe(theirs)
      }
    }
  })

  it('certificates made by OpenSSL parse, including its high-S signature, a foreign SKI and the attributes extension', () => {
    const osRoot = node.parseCertificate(certificateFromPem(vectors.rootPem))
    const osLeaf = node.parseCertificate(certificateFromPem(vectors.leafPem))
    expect(osRoot).toMatchObject({ isCA: true, pathLength: null, role: null, subject: { org: 'Org2', commonName: 'Org2 Root CA' } })
    expect(osLeaf).toMatchObject({ serial: 'c0ffee', role: 'client', isCA: false, subject: { org: 'Org2', commonName: 'bob' } })
    expect(osLeaf.attributes).toEqual({ dept: 'risk', level: '3' })
    const s = be(compactOf(osLeaf.signature).subarray(32))
    expect(s > P256_HALF_N).toBe(true)
    for (const { api } of apis) {
      expect(api.verifyCertificateSignature(osLeaf, osRoot)).toBe(true)
      expect(api.verifyCertificateSignature(osRoot, osRoot)).toBe(true)
      expect(api.verifyCertificateSignature(osLeaf, root.cert)).toBe(false)
    }
  })

  it('a certificate we issue under an OpenSSL root chains to it for OpenSSL (authority key id = its SKI)', async () => {
    const osRoot = node.parseCertificate(certificateFromPem(vectors.rootPem))
    const issuer = { cert: osRoot, privateKey: { alg: 'p256', bytes: hexToBytes(vectors.rootPrivateKey) } as PrivateKey }
    const c = await node.issueCertificate({ issuer, subjectPublicKey: alice.publicKey, commonName: 'carol', role: 'auditor' })
    expect(c.subject.org).toBe('Org2')
    expect(node.verifyCertificateSignature(c, osRoot)).toBe(true)
    expect(x(c).checkIssued(x(osRoot))).toBe(true)
    expect(x(c).verify(x(osRoot).publicKey)).toBe(true)
  })

  it('the two backends parse every certificate identically and accept each other’s', async () => {
    const made = await browserEntry.issueCertificate({
      issuer: intermediate,
      subjectPublicKey: alice.publicKey,
      commonName: 'dave',
      role: 'admin',
      attributes: ATTRS,
    })
    for (const c of [root.cert, intermediate.cert, leaf, made]) {
      expect(browserEntry.parseCertificate(c.der)).toEqual(nodeEntry.parseCertificate(c.der))
    }
    expect(nodeEntry.verifyCertificateSignature(made, intermediate.cert)).toBe(true)
    expect(x(made).verify(x(intermediate.cert).publicKey)).toBe(true)
  })
})

/** r‖s of a DER ECDSA-Sig-Value (any S). */
function compactOf(der: Uint8Array): Uint8Array {
  return p256.Signature.fromBytes(der, 'der').toBytes('compact')
}
