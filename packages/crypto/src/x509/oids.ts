import { oidKey } from './der.js'

/** The object identifiers a Trellis certificate uses. */
export const OID = {
  commonName: '2.5.4.3',
  org: '2.5.4.10',
  orgUnit: '2.5.4.11',
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  ed25519: '1.3.101.112',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  /** The Trellis attributes extension (a UUID OID, X.667). */
  trellisAttributes: '2.25.330558957275043128242395122195317136648',
} as const

/** The Trellis attributes extension: non-critical; its value is a DER UTF8String of the attributes as canonical JSON. */
export const CERT_ATTRIBUTES_OID = OID.trellisAttributes

/** {@link oidKey} of each OID, to match what the parser reads. */
export const OID_KEY = Object.fromEntries(Object.entries(OID).map(([name, dotted]) => [name, oidKey(dotted)])) as Record<
  keyof typeof OID,
  string
>

/** keyUsage bits (RFC 5280 §4.2.1.3) in the first byte of the bit string, the only one this profile reads. */
export const KEY_USAGE = { digitalSignature: 0x80, keyCertSign: 0x04, cRLSign: 0x02 } as const
