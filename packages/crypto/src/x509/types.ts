import type { KeyPair, PrivateKey, PublicKey } from '../types.js'

/** The roles a Trellis identity certificate can carry, in the subject's organizational unit (OU). */
export const CERT_ROLES = ['admin', 'client', 'node', 'device', 'auditor'] as const
export type CertRole = (typeof CERT_ROLES)[number]

/** The parts of an X.509 name Trellis uses: common name (CN) and organisation (O). */
export interface DistinguishedName {
  readonly commonName: string
  readonly org: string
}

/** A parsed X.509 v3 certificate with a P-256 or Ed25519 key, signed with ECDSA-SHA256 or Ed25519. */
export interface Certificate {
  /** The exact DER bytes parsed. */
  readonly der: Uint8Array
  /** SHA-256 of `der`. */
  readonly hash: Uint8Array
  /** Lower-case hex of the serial number, without leading zeros ('0' for zero). */
  readonly serial: string
  readonly subject: DistinguishedName
  readonly issuer: DistinguishedName
  /** basicConstraints cA. */
  readonly isCA: boolean
  /** basicConstraints pathLenConstraint; null when absent. */
  readonly pathLength: number | null
  /** The subject's OU; null when absent (CA certificates). */
  readonly role: CertRole | null
  /** The Trellis attributes extension; {} when absent. */
  readonly attributes: Readonly<Record<string, string>>
  /** Milliseconds since the epoch (whole seconds). */
  readonly notBefore: number
  readonly notAfter: number
  /** The subject's key: P-256 compressed, or Ed25519. */
  readonly publicKey: PublicKey
  /** DER of the tbsCertificate: what the issuer signed. */
  readonly tbs: Uint8Array
  readonly signatureAlgorithm: 'ecdsa-sha256' | 'ed25519'
  /** As in the certificate: a DER ECDSA-Sig-Value for ECDSA, 64 bytes for Ed25519. */
  readonly signature: Uint8Array
}

/** A certificate with its subject's private key: what it takes to issue certificates under it. */
export interface CertificateWithKey {
  readonly cert: Certificate
  readonly privateKey: PrivateKey
}

export interface CreateCertificateAuthorityOptions {
  readonly org: string
  readonly commonName: string
  readonly validityDays: number
  /** Milliseconds since the epoch; now by default. Fractional seconds are dropped. */
  readonly notBefore?: number
  /** The CA's key pair; a fresh P-256 pair by default. */
  readonly keyPair?: KeyPair
  /** The issuing CA for an intermediate; absent for a self-signed root. */
  readonly parent?: CertificateWithKey
  /** basicConstraints pathLenConstraint: how many CAs may follow this one in a chain. */
  readonly pathLength?: number
}

export interface IssueCertificateOptions {
  readonly issuer: CertificateWithKey
  readonly subjectPublicKey: PublicKey
  readonly commonName: string
  readonly role: CertRole
  readonly attributes?: Readonly<Record<string, string>>
  /** 365 by default; not together with `notAfter`. */
  readonly validityDays?: number
  /** Milliseconds since the epoch; now by default. Fractional seconds are dropped. */
  readonly notBefore?: number
  readonly notAfter?: number
  /** Hex, positive, at most 20 bytes; 16 random bytes by default. */
  readonly serial?: string
}
