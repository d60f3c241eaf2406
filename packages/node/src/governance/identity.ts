import { type Certificate, parseCertificate, publicKeyToString } from '@trellis/crypto'
import { chainsIn, type Organisation, type SignedTx, txCertificate } from '@trellis/ledger'
import { bytesToHex, hexToBytes, TrellisError } from '@trellis/utils'
import {
  type AccessList,
  type AccessRule,
  decodeRecord,
  defaultConfig,
  type GovernanceConfig,
  genesisOrgRecord,
  KEYS,
  type OrgRecord,
  type Revocation,
} from './records.js'

/** Who signed a tx, as contracts see it (`ctx.caller` / `ctx.origin`). */
export interface Identity {
  readonly kind: 'user' | 'contract'
  /** `<org>/<common name>` for a certificate (stable across renewals), the public key otherwise. */
  readonly id: string
  readonly org: string | null
  readonly role: string | null
  readonly attributes: Record<string, string>
}

export type IdentityErrorType =
  | { code: 'CERT_REQUIRED' }
  | { code: 'CERT_UNKNOWN_CA'; org: string }
  | { code: 'CERT_ORG_MISMATCH'; org: string; issuerOrg: string }
  | { code: 'CERT_NOT_YET_VALID'; notBefore: number; at: number }
  | { code: 'CERT_EXPIRED'; notAfter: number; at: number }
  | { code: 'CERT_REVOKED'; org: string; serial: string; height: number }
  | { code: 'CERT_NOT_END_ENTITY'; reason: string }
  | { code: 'PERMISSION_DENIED'; contract: string; method: string; caller: string }
  | { code: 'READ_NOT_PERMITTED'; role: string; caller: string }

function deny(type: IdentityErrorType, message: string): never {
  throw new TrellisError<IdentityErrorType>(type, message)
}

/** Reads governance state (charged by the caller as it sees fit). */
export type Read = (stateKey: Uint8Array) => Uint8Array | undefined

const MAX_CACHED = 10_000

/**
 * Resolves tx signers to identities against the organisations and revocations in governance state.
 * Every answer is a pure function of (tx, state, time, height); the caches hold parsed certificates
 * and verified signatures, which depend on bytes only.
 */
export class Identities {
  private readonly genesisOrgs = new Map<string, OrgRecord>()
  private readonly parsedCAs = new Map<string, Certificate>()
  /** `leafHash|orgRecordCaCerts` → the chains found (pure: signatures and names only). */
  private readonly chains = new Map<string, Certificate[][]>()
  /** Identities of keys that signed without a certificate, by key: the same (frozen) object each time. */
  private readonly keyIdentities = new Map<string, Identity>()

  constructor(orgs: readonly Organisation[]) {
    for (const o of orgs) this.genesisOrgs.set(o.id, genesisOrgRecord(o))
  }

  get genesisOrgIds(): readonly string[] {
    return [...this.genesisOrgs.keys()]
  }

  /** An organisation's current record: governance state first, else the genesis. */
  org(id: string, read: Read): OrgRecord | undefined {
    const raw = read(KEYS.org(id))
    return raw === undefined ? this.genesisOrgs.get(id) : decodeRecord<OrgRecord>(raw)
  }

  config(read: Read): GovernanceConfig {
    const raw = read(KEYS.config)
    return raw === undefined ? defaultConfig : { ...defaultConfig, ...decodeRecord<Partial<GovernanceConfig>>(raw) }
  }

  caCerts(rec: OrgRecord): Certificate[] {
    return rec.caCerts.map((hex) => {
      let c = this.parsedCAs.get(hex)
      if (c === undefined) {
        c = parseCertificate(hexToBytes(hex))
        if (this.parsedCAs.size >= MAX_CACHED) this.parsedCAs.clear()
        this.parsedCAs.set(hex, c)
      }
      return c
    })
  }

  private chainsOf(cert: Certificate, rec: OrgRecord): Certificate[][] {
    const id = `${bytesToHex(cert.hash)}|${rec.caCerts.join(',')}`
    let hit = this.chains.get(id)
    if (hit === undefined) {
      hit = chainsIn(cert, this.caCerts(rec))
      if (this.chains.size >= MAX_CACHED) this.chains.clear()
      this.chains.set(id, hit)
    }
    return hit
  }

  /**
   * The identity of a tx's signer at block time `now` and height `height`.
   * @throws TrellisError CERT_REQUIRED | CERT_UNKNOWN_CA | CERT_ORG_MISMATCH | CERT_NOT_YET_VALID |
   *   CERT_EXPIRED | CERT_REVOKED | CERT_NOT_END_ENTITY (and TX_INVALID_FIELD for an unparseable one)
   */
  identify(tx: SignedTx, read: Read, now: number, height: number): Identity {
    const cert = txCertificate(tx)
    if (cert === undefined) {
      if (this.config(read).certificatesRequired)
        deny({ code: 'CERT_REQUIRED' }, 'this chain requires transactions to carry an X.509 certificate of a member organisation')
      const id = publicKeyToString(tx.body.signer)
      let identity = this.keyIdentities.get(id)
      if (identity === undefined) {
        identity = Object.freeze({ kind: 'user', id, org: null, role: null, attributes: Object.freeze({}) })
        if (this.keyIdentities.size >= MAX_CACHED) this.keyIdentities.clear()
        this.keyIdentities.set(id, identity)
      }
      return identity
    }
    return this.check(cert, read, now, height)
  }

  /** Checks a certificate as {@link identify} does. */
  check(cert: Certificate, read: Read, now: number, height: number): Identity {
    if (cert.isCA || cert.role === null)
      deny(
        { code: 'CERT_NOT_END_ENTITY', reason: 'a CA certificate' },
        'a CA certificate cannot sign transactions: use a certificate it issued',
      )
    const org = cert.subject.org
    if (cert.issuer.org !== org)
      deny(
        { code: 'CERT_ORG_MISMATCH', org, issuerOrg: cert.issuer.org },
        `the certificate names organisation "${org}" but was issued by a CA of "${cert.issuer.org}"`,
      )
    const rec = this.org(org, read)
    const chains = rec !== undefined && rec.status === 'active' ? this.chainsOf(cert, rec) : []
    // A CA renewed with the same key gives several chains: use one valid now (else report the first).
    const chain = chains.find((c) => c.every((ca) => now >= ca.notBefore && now <= ca.notAfter)) ?? chains[0]
    if (chain === undefined) {
      deny(
        { code: 'CERT_UNKNOWN_CA', org },
        rec === undefined || rec.status !== 'active'
          ? `the certificate's organisation "${org}" is not a member of this chain`
          : `the certificate was not issued by a CA of organisation "${org}"`,
      )
    }
    for (const c of [cert, ...chain]) {
      if (now < c.notBefore)
        deny(
          { code: 'CERT_NOT_YET_VALID', notBefore: c.notBefore, at: now },
          `${c === cert ? 'the certificate' : `its CA "${c.subject.commonName}"`} is valid from ${new Date(c.notBefore).toISOString()} only`,
        )
      if (now > c.notAfter)
        deny(
          { code: 'CERT_EXPIRED', notAfter: c.notAfter, at: now },
          `${c === cert ? 'the certificate' : `its CA "${c.subject.commonName}"`} expired at ${new Date(c.notAfter).toISOString()}`,
        )
    }
    // The certificate and every CA above it (a revoked intermediate takes its certificates with it).
    for (const c of [cert, ...chain]) {
      const revokedRaw = read(KEYS.revoked(org, c.serial))
      if (revokedRaw === undefined) continue
      const r = decodeRecord<Revocation>(revokedRaw)
      if (height >= r.effectiveHeight)
        deny(
          { code: 'CERT_REVOKED', org, serial: c.serial, height: r.effectiveHeight },
          `${c === cert ? 'certificate' : `the CA certificate "${c.subject.commonName}", serial`} ${c.serial} of "${org}" is revoked from height ${r.effectiveHeight}: ${r.reason}`,
        )
    }
    return { kind: 'user', id: `${org}/${cert.subject.commonName}`, org, role: cert.role, attributes: { ...cert.attributes } }
  }

  /**
   * Who is reading, from the certificate of a signed read request, and whether they may.
   * @throws TrellisError CERT_* | READ_NOT_PERMITTED
   */
  reader(cert: Certificate, read: Read, now: number, height: number): Identity {
    const who = this.check(cert, read, now, height)
    const { readRoles } = this.config(read)
    if (!readRoles.includes(who.role ?? ''))
      deny(
        { code: 'READ_NOT_PERMITTED', role: who.role ?? '', caller: who.id },
        `the chain's readers are ${readRoles.join(', ')}; ${who.id} is ${who.role ?? 'without a role'}`,
      )
    return who
  }

  /**
   * Whether `caller` may call `method` of `contract` (the contract's access list; none = open).
   * @throws TrellisError PERMISSION_DENIED
   */
  permit(caller: Identity, contract: string, method: string, read: Read): void {
    const raw = read(KEYS.acl(contract))
    if (raw === undefined) return
    const { rules } = decodeRecord<AccessList>(raw)
    const rule = Object.hasOwn(rules, method) ? rules[method] : Object.hasOwn(rules, '*') ? rules['*'] : undefined
    if (rule === undefined || admits(rule, caller)) return
    deny(
      { code: 'PERMISSION_DENIED', contract, method, caller: caller.id },
      `${caller.id}${caller.org === null ? ' (no certificate)' : ` (${caller.org}, ${caller.role ?? 'no role'})`} may not call ${contract}.${method}: ${describeRule(rule)}`,
    )
  }
}

export function admits(rule: AccessRule, caller: Identity): boolean {
  if (rule.orgs !== undefined && (caller.org === null || !rule.orgs.includes(caller.org))) return false
  if (rule.roles !== undefined && (caller.role === null || !rule.roles.includes(caller.role))) return false
  return true
}

export function describeRule(rule: AccessRule): string {
  const parts: string[] = []
  if (rule.orgs !== undefined) parts.push(`organisations ${rule.orgs.join(', ') || '(none)'}`)
  if (rule.roles !== undefined) parts.push(`roles ${rule.roles.join(', ') || '(none)'}`)
  return parts.length === 0 ? 'open to all' : `reserved to ${parts.join(' with ')}`
}
