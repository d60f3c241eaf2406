import { type Certificate, parseCertificate, verifyCertificateSignature } from '@trellis/crypto'
import { equalBytes, TrellisError } from '@trellis/utils'
import type { LedgerErrorType } from '../errors.js'

/** Organisation ids are what their certificates carry in the subject's O. */
export const ORG_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
/** A bundle holds a root and at most a few intermediates (and their successors during a rotation). */
export const MAX_ORG_CAS = 8
/** Root → intermediate → … → leaf: at most this many CAs between a leaf and its root (the root included). */
export const MAX_CHAIN_CAS = 3

/** A consortium member: its id, display name and the CA certificates that issue its identities. */
export interface Organisation {
  readonly id: string
  readonly name: string
  /** DER; at least one self-signed root, every other one issued (directly or not) by a root here. */
  readonly caCerts: readonly Uint8Array[]
}

function invalid(reason: string): never {
  throw new TrellisError<LedgerErrorType>({ code: 'ORG_INVALID', reason }, `invalid organisation: ${reason}`)
}

export function isSelfSigned(c: Certificate): boolean {
  return c.issuer.org === c.subject.org && c.issuer.commonName === c.subject.commonName && verifyCertificateSignature(c, c)
}

/**
 * Every chain from `cert`'s issuer up to a self-signed root within `cas` (issuer first), at most
 * {@link MAX_CHAIN_CAS} CAs long. Several exist when a CA was renewed with the same key.
 */
export function chainsIn(cert: Certificate, cas: readonly Certificate[]): Certificate[][] {
  const out: Certificate[][] = []
  const walk = (cur: Certificate, chain: Certificate[]): void => {
    if (chain.length >= MAX_CHAIN_CAS) return
    for (const ca of cas) {
      if (chain.includes(ca) || equalBytes(ca.hash, cur.hash) || !verifyCertificateSignature(cur, ca)) continue
      // basicConstraints pathLength: at most that many intermediates below this CA.
      if (ca.pathLength !== null && ca.pathLength < chain.length) continue
      const next = [...chain, ca]
      if (isSelfSigned(ca)) out.push(next)
      else walk(ca, next)
    }
  }
  walk(cert, [])
  return out
}

/**
 * Parses and checks an organisation's CA bundle: 1–8 distinct CA certificates for organisation `id`,
 * with at least one self-signed root, every other one chaining to a root of the bundle.
 * @throws TrellisError ORG_INVALID
 */
export function checkOrgCAs(id: string, ders: readonly Uint8Array[]): Certificate[] {
  if (!ORG_ID_RE.test(id)) invalid(`organisation id "${id}" must be 1-64 characters of [A-Za-z0-9._-]`)
  if (ders.length === 0 || ders.length > MAX_ORG_CAS) invalid(`an organisation has 1 to ${MAX_ORG_CAS} CA certificates`)
  const certs = ders.map((der, i) => {
    let c: Certificate
    try {
      c = parseCertificate(der)
    } catch (err) {
      return invalid(`CA certificate ${i}: ${err instanceof TrellisError ? err.message : 'unparseable'}`)
    }
    if (!c.isCA) invalid(`certificate ${i} (${c.subject.commonName}) is not a CA certificate`)
    if (c.subject.org !== id) invalid(`CA certificate ${i} is for organisation "${c.subject.org}", not "${id}"`)
    return c
  })
  for (const [i, c] of certs.entries()) {
    if (certs.findIndex((d) => equalBytes(d.hash, c.hash)) !== i) invalid(`CA certificate ${i} is listed twice`)
    // Each CA must leave room below it for the leaves it issues (MAX_CHAIN_CAS in all).
    if (!isSelfSigned(c) && !chainsIn(c, certs).some((chain) => chain.length < MAX_CHAIN_CAS))
      invalid(
        `CA certificate ${i} (${c.subject.commonName}) does not chain to a root certificate of the organisation within ${MAX_CHAIN_CAS - 1} levels`,
      )
  }
  if (!certs.some(isSelfSigned)) invalid('the bundle has no self-signed root CA certificate')
  return certs
}
