import {
  type Certificate,
  certificateFromPem,
  certificateToPem,
  parseCertificate,
  publicKeyFromString,
  publicKeyToString,
} from '@trellis/crypto'
import { chainsIn, checkOrgCAs, isSelfSigned, ORG_ID_RE } from '@trellis/ledger'
import { bytesToHex, hexToBytes, TrellisError } from '@trellis/utils'
import { type Identities, type Identity, type Read } from './identity.js'
import {
  type AccessList,
  type AccessRule,
  type Approval,
  decodeRecord,
  DEFAULT_POLICY,
  encodeRecord,
  type GovernanceConfig,
  KEYS,
  type OrgRecord,
  type Policy,
  type Proposal,
  type ProposalStatus,
  hookArgsHash,
  normalSerial,
  type ParamsRecord,
  TIMEOUT_FIELDS,
  RESERVED_CONTRACT_NAMES,
  type Revocation,
  VALIDATOR_CHANGE_DELAY,
  type ValidatorEntry,
  type ValidatorSetRecord,
} from './records.js'

// The governance contract: organisations propose changes to the consortium and vote on them as
// organisations (one vote each, cast by a member in the role the policy names). A proposal that
// reaches its policy's threshold is executed in the tx of the deciding vote; one that can no longer
// reach it is rejected; one left open past its expiry can no longer be voted on. Every step is a
// state record and an event, so the whole decision history is on the ledger and provable.

export type GovernanceErrorType =
  | { code: 'GOV_NOT_MEMBER'; caller: string }
  | { code: 'GOV_ROLE_REQUIRED'; role: string; caller: string }
  | { code: 'GOV_NOT_ELIGIBLE'; org: string; proposal: number }
  | { code: 'GOV_ACTION_INVALID'; reason: string }
  | { code: 'PROPOSAL_NOT_FOUND'; proposal: number }
  | { code: 'PROPOSAL_CLOSED'; proposal: number; status: string }
  | { code: 'PROPOSAL_EXPIRED'; proposal: number; expiresAt: number }
  | { code: 'VOTE_DUPLICATE'; proposal: number; org: string }

function fail(type: GovernanceErrorType, message: string): never {
  throw new TrellisError<GovernanceErrorType>(type, message)
}

const invalidAction = (reason: string): never => fail({ code: 'GOV_ACTION_INVALID', reason }, `invalid proposal: ${reason}`)

/** The state access governance runs on (a tx's journal; writes are system writes). */
export interface GovernanceStore {
  read: Read
  write(stateKey: Uint8Array, value: Uint8Array | null): void
  /** Latest entries of governance keys under `prefix`, in key order. */
  scan(prefix: string, after: string | null, limit: number): Array<[string, Uint8Array]>
  emit(name: string, data: Record<string, unknown>): void
}

export interface GovernanceEnv {
  readonly caller: Identity
  readonly height: number
  readonly timestamp: number
  readonly txId: string
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const CONTRACT_NAME = /^[a-z][a-z0-9_-]{0,63}$/
const ROLES = ['admin', 'client', 'node', 'device', 'auditor']
const OPERATIONS = ['deploy', 'upgrade', 'pause', 'resume', 'freeze']
const MIN_TTL_MS = 60_000
const MAX_TTL_MS = 90 * 24 * 60 * 60 * 1000

function stringList(v: unknown, what: string, valid: (s: string) => boolean): string[] {
  if (!Array.isArray(v) || v.length > 64 || !v.every((s) => typeof s === 'string' && valid(s)))
    return invalidAction(`${what} must be a list of at most 64 valid names`)
  return [...new Set(v as string[])].sort()
}

/** A policy from JSON, normalised. */
export function parsePolicy(v: unknown, what = 'policy'): Policy {
  if (!isObject(v)) return invalidAction(`${what} must be an object`)
  const role = v.role === undefined ? 'admin' : v.role
  if (typeof role !== 'string' || !ROLES.includes(role)) invalidAction(`${what}.role must be one of ${ROLES.join(', ')}`)
  if (v.rule === 'ANY' || v.rule === 'ALL' || v.rule === 'MAJORITY') return { rule: v.rule, role: role as string }
  if (v.rule === 'K_OF_N') {
    const orgs = stringList(v.orgs, `${what}.orgs`, (s) => ORG_ID_RE.test(s))
    if (typeof v.k !== 'number' || !Number.isSafeInteger(v.k) || v.k < 1 || v.k > orgs.length)
      invalidAction(`${what}.k must be an integer from 1 to the number of organisations named`)
    return { rule: 'K_OF_N', k: v.k as number, orgs, role: role as string }
  }
  return invalidAction(`${what}.rule must be ANY, ALL, MAJORITY or K_OF_N`)
}

function parseRule(v: unknown): AccessRule | null {
  if (v === null) return null
  if (!isObject(v)) return invalidAction('rule must be an object or null')
  for (const k of Object.keys(v)) if (k !== 'orgs' && k !== 'roles') invalidAction(`rule.${k} is not a rule field`)
  return {
    ...(v.orgs === undefined ? {} : { orgs: stringList(v.orgs, 'rule.orgs', (s) => ORG_ID_RE.test(s)) }),
    ...(v.roles === undefined ? {} : { roles: stringList(v.roles, 'rule.roles', (s) => ROLES.includes(s)) }),
  }
}

/** How many yes votes `policy` needs among `eligible` organisations. */
export function threshold(policy: Policy, eligible: number): number {
  switch (policy.rule) {
    case 'ANY':
      return 1
    case 'ALL':
      return eligible
    case 'MAJORITY':
      return Math.floor(eligible / 2) + 1
    case 'K_OF_N':
      return policy.k
  }
}

/** Where a proposal stands given its votes and the organisations that may vote on it. */
export function tally(p: Pick<Proposal, 'policy' | 'votes'>, activeOrgs: readonly string[]): 'passed' | 'rejected' | 'open' {
  const eligible = p.policy.rule === 'K_OF_N' ? p.policy.orgs.filter((o) => activeOrgs.includes(o)) : activeOrgs
  const needed = threshold(p.policy, eligible.length)
  const counted = p.votes.filter((v) => eligible.includes(v.org))
  const yes = counted.filter((v) => v.approve).length
  const no = counted.length - yes
  if (needed >= 1 && yes >= needed) return 'passed'
  if (eligible.length - no < needed || needed < 1) return 'rejected'
  return 'open'
}

interface ActionHandler {
  readonly description: string
  /** Checks and normalises an action (at proposal time and again when it is executed). */
  check(a: Record<string, unknown>, g: Governance, store: GovernanceStore, env: GovernanceEnv): Record<string, unknown>
  /** Applies a checked action of proposal `p`; must not fail after writing. */
  apply(
    a: Record<string, unknown>,
    g: Governance,
    store: GovernanceStore,
    env: GovernanceEnv,
    p: { readonly id: number; readonly org: string },
  ): void
}

function pemList(v: unknown): Uint8Array[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) return invalidAction('caCerts must be a list of PEM certificates')
  try {
    return (v as string[]).map((pem) => certificateFromPem(pem))
  } catch (err) {
    return invalidAction(`caCerts: ${err instanceof TrellisError ? err.message : 'not PEM'}`)
  }
}

/** A checked CA bundle, as canonical PEM (what proposals record; org records keep DER in hex). */
function checkedCAs(id: string, v: unknown): string[] {
  const ders = pemList(v)
  try {
    checkOrgCAs(id, ders)
  } catch (err) {
    invalidAction(err instanceof TrellisError ? err.message : 'invalid CA certificates')
  }
  return ders.map((der) => certificateToPem(der))
}

const hexBundle = (pems: unknown): string[] => (pems as string[]).map((pem) => bytesToHex(certificateFromPem(pem)))

const ACTIONS: Record<string, ActionHandler> = {
  'org.add': {
    description: 'Admit an organisation with its CA certificates (PEM)',
    check(a, g, store) {
      const id = a.id
      if (typeof id !== 'string' || !ORG_ID_RE.test(id)) return invalidAction('id must be 1-64 characters of [A-Za-z0-9._-]')
      if (typeof a.name !== 'string' || a.name.length === 0 || a.name.length > 128) invalidAction('name must be 1-128 characters')
      const existing = g.identities.org(id, store.read)
      if (existing?.status === 'active') invalidAction(`organisation "${id}" is already a member`)
      return { type: 'org.add', id, name: a.name, caCerts: checkedCAs(id, a.caCerts) }
    },
    apply(a, g, store, env) {
      const existing = g.identities.org(a.id as string, store.read)
      const rec: OrgRecord = {
        id: a.id as string,
        name: a.name as string,
        caCerts: hexBundle(a.caCerts),
        status: 'active',
        addedHeight: env.height,
        updatedHeight: env.height,
      }
      store.write(KEYS.org(rec.id), encodeRecord(rec))
      store.emit(existing === undefined ? 'OrgAdded' : 'OrgReadmitted', { id: rec.id, name: rec.name })
    },
  },
  'org.update': {
    description: "Replace an organisation's name or CA certificates (CA rotation, a new intermediate)",
    check(a, g, store) {
      const rec = activeOrg(a.id, g, store)
      const name = a.name ?? rec.name
      if (typeof name !== 'string' || name.length === 0 || name.length > 128) invalidAction('name must be 1-128 characters')
      const caCerts = a.caCerts === undefined ? rec.caCerts.map((hex) => certificateToPem(hexToBytes(hex))) : checkedCAs(rec.id, a.caCerts)
      // The organisation's validators must stay certified by the new bundle (or be replaced first).
      const bundle = caCerts.map((pem) => parseCertificate(certificateFromPem(pem)))
      for (const v of g.latestValidators(store)) {
        if (v.org !== rec.id || v.certificate === undefined) continue
        if (chainsIn(parseCertificate(certificateFromPem(v.certificate)), bundle).length === 0)
          invalidAction(`the new CA certificates do not certify validator "${v.name}": give it a new node certificate first`)
      }
      return { type: 'org.update', id: rec.id, name, caCerts }
    },
    apply(a, g, store, env) {
      const rec = g.identities.org(a.id as string, store.read) as OrgRecord
      store.write(KEYS.org(rec.id), encodeRecord({ ...rec, name: a.name, caCerts: hexBundle(a.caCerts), updatedHeight: env.height }))
      store.emit('OrgUpdated', { id: rec.id, name: a.name as string })
    },
  },
  'org.remove': {
    description: 'Remove an organisation: its certificates stop working and it no longer votes',
    check(a, g, store) {
      const rec = activeOrg(a.id, g, store)
      const remaining = g.activeOrgs(store).filter((id) => id !== rec.id)
      if (remaining.length === 0) invalidAction('the last organisation cannot be removed')
      // Its validators would be cut off the network while their votes still count: remove them first.
      const runs = g.latestValidators(store).filter((v) => v.org === rec.id)
      if (runs.length > 0)
        invalidAction(`"${rec.id}" runs validators (${runs.map((v) => v.name).join(', ')}): remove or replace them first`)
      // A k-of-n policy must stay satisfiable, or governance could never change it again.
      for (const [type, policy] of Object.entries(g.identities.config(store.read).policies)) {
        if (policy.rule === 'K_OF_N' && policy.orgs.filter((o) => remaining.includes(o)).length < policy.k)
          invalidAction(`the ${type} policy needs ${policy.k} of ${policy.orgs.join(', ')}: change it before removing "${rec.id}"`)
      }
      return { type: 'org.remove', id: rec.id }
    },
    apply(a, g, store, env) {
      const rec = g.identities.org(a.id as string, store.read) as OrgRecord
      store.write(KEYS.org(rec.id), encodeRecord({ ...rec, status: 'removed', updatedHeight: env.height }))
      store.emit('OrgRemoved', { id: rec.id })
    },
  },
  'cert.revoke': {
    description: 'Revoke a certificate (by organisation and serial) from a height on',
    check(a, g, store) {
      const rec = activeOrg(a.org, g, store)
      let serial = a.serial
      if (typeof a.certificate === 'string') {
        try {
          const c = parseCertificate(certificateFromPem(a.certificate))
          if (c.subject.org !== rec.id) invalidAction(`the certificate is of "${c.subject.org}", not "${rec.id}"`)
          serial = c.serial
        } catch (err) {
          if (err instanceof TrellisError && err.code === 'GOV_ACTION_INVALID') throw err
          invalidAction('certificate is not a PEM certificate')
        }
      }
      if (typeof serial !== 'string' || !/^[0-9a-fA-F]{1,40}$/.test(serial)) return invalidAction('serial must be hex (1-40 digits)')
      // As certificates are parsed (no leading zeros): "0a1b" and "a1b" are one certificate.
      serial = normalSerial(serial)
      // A validator's node certificate: revoking it would cut a voting validator off the network.
      const validator = g
        .latestValidators(store)
        .find(
          (v) => v.org === rec.id && v.certificate !== undefined && parseCertificate(certificateFromPem(v.certificate)).serial === serial,
        )
      if (validator !== undefined)
        invalidAction(
          `certificate ${serial as string} is the node certificate of validator "${validator.name}": replace or remove the validator`,
        )
      if (store.read(KEYS.revoked(rec.id, serial as string)) !== undefined)
        invalidAction(`certificate ${serial} of "${rec.id}" is already revoked`)
      const reason = a.reason ?? ''
      if (typeof reason !== 'string' || reason.length > 256) invalidAction('reason must be at most 256 characters')
      const at = a.effectiveHeight ?? null
      if (at !== null && (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 1))
        invalidAction('effectiveHeight must be a positive integer')
      return { type: 'cert.revoke', org: rec.id, serial, reason, effectiveHeight: at }
    },
    apply(a, _g, store, env, p) {
      // Never in the past: blocks already committed stay valid.
      const effectiveHeight = Math.max(env.height + 1, (a.effectiveHeight as number | null) ?? 0)
      const r: Revocation = {
        org: a.org as string,
        serial: a.serial as string,
        reason: a.reason as string,
        effectiveHeight,
        proposal: p.id,
      }
      store.write(KEYS.revoked(r.org, r.serial), encodeRecord(r))
      store.emit('CertificateRevoked', { org: r.org, serial: r.serial, effectiveHeight })
    },
  },
  'contract.approve': {
    description:
      "Approve one deploy, upgrade, pause, resume or freeze of a contract, for the proposer's organisation to carry out before the approval expires (deploy and upgrade name the code hash and the hook arguments)",
    check(a) {
      if (typeof a.contract !== 'string' || !CONTRACT_NAME.test(a.contract)) invalidAction('contract must be a contract name')
      if (RESERVED_CONTRACT_NAMES.has(a.contract as string)) invalidAction(`"${a.contract as string}" is a system contract`)
      if (typeof a.operation !== 'string' || !OPERATIONS.includes(a.operation))
        invalidAction(`operation must be one of ${OPERATIONS.join(', ')}`)
      const needsCode = a.operation === 'deploy' || a.operation === 'upgrade'
      if (needsCode && (typeof a.codeHash !== 'string' || !/^[0-9a-f]{64}$/.test(a.codeHash)))
        invalidAction(`a ${a.operation as string} approval names the artifact's codeHash (64 hex digits)`)
      if (!needsCode && a.args !== undefined) invalidAction(`a ${a.operation as string} has no hook arguments`)
      try {
        hookArgsHash(a.args)
      } catch {
        invalidAction('args must be a JSON value without fractions')
      }
      return {
        type: 'contract.approve',
        contract: a.contract,
        operation: a.operation,
        codeHash: needsCode ? a.codeHash : null,
        ...(a.args === undefined ? {} : { args: a.args }),
      }
    },
    apply(a, g, store, env, p) {
      const ap: Approval = {
        contract: a.contract as string,
        operation: a.operation as string,
        codeHash: a.codeHash as string | null,
        argsHash: hookArgsHash(a.args),
        org: p.org,
        proposal: p.id,
        height: env.height,
        expiresAt: env.timestamp + g.identities.config(store.read).proposalTtlMs,
      }
      store.write(KEYS.approval(ap.contract, ap.operation, ap.codeHash), encodeRecord(ap))
      store.emit('ContractApproved', { contract: ap.contract, operation: ap.operation, codeHash: ap.codeHash, org: p.org, proposal: p.id })
    },
  },
  'acl.set': {
    description: "Set who may call a contract's method (`*`: every method without its own rule); a null rule removes it",
    check(a) {
      if (typeof a.contract !== 'string' || !CONTRACT_NAME.test(a.contract)) invalidAction('contract must be a contract name')
      if (RESERVED_CONTRACT_NAMES.has(a.contract as string))
        invalidAction('system contracts are governed by their policies, not by an access list')
      const method = a.method ?? '*'
      if (typeof method !== 'string' || !(method === '*' || /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/.test(method)))
        invalidAction('method must be a method name or *')
      if (Object.hasOwn(Object.prototype, method as string) || method === '__proto__' || method === 'prototype')
        invalidAction(`"${method as string}" cannot be a method name`)
      return { type: 'acl.set', contract: a.contract, method, rule: parseRule(a.rule) }
    },
    apply(a, _g, store) {
      const contract = a.contract as string
      const raw = store.read(KEYS.acl(contract))
      const rules = new Map(Object.entries(raw === undefined ? {} : decodeRecord<AccessList>(raw).rules))
      if (a.rule === null) rules.delete(a.method as string)
      else rules.set(a.method as string, a.rule as AccessRule)
      store.write(KEYS.acl(contract), rules.size === 0 ? null : encodeRecord({ contract, rules: Object.fromEntries(rules) }))
      store.emit('AccessChanged', { contract, method: a.method as string, rule: (a.rule ?? null) as Record<string, unknown> | null })
    },
  },
  'validator.add': validatorAction(
    `Add a validator (name, publicKey, org, power, p2p address) from ${VALIDATOR_CHANGE_DELAY} blocks after the decision`,
  ),
  'validator.remove': validatorAction(`Remove a validator (by name) from ${VALIDATOR_CHANGE_DELAY} blocks after the decision`),
  'validator.replace': validatorAction(
    `Give a validator a new key (rotation or replacement) from ${VALIDATOR_CHANGE_DELAY} blocks after the decision`,
  ),
  'params.set': {
    description: `Change chain parameters (maxBlockTxs, maxBlockBytes, maxTxBytes, maxTxTtlMs, consensus timeouts) from ${VALIDATOR_CHANGE_DELAY} blocks after the decision; sizes and the tx lifetime may not exceed the genesis values`,
    check(a, g, store) {
      const { params: cur, timeouts: curTimeouts } = g.latestParams(store)
      const limits = g.genesisParams
      const next = { ...cur }
      const fields = ['maxBlockTxs', 'maxBlockBytes', 'maxTxBytes', 'maxTxTtlMs'] as const
      for (const k of Object.keys(a))
        if (k !== 'type' && k !== 'timeouts' && !(fields as readonly string[]).includes(k)) invalidAction(`${k} is not a chain parameter`)
      let timeouts = curTimeouts
      if (a.timeouts === null) timeouts = null
      else if (a.timeouts !== undefined) {
        if (!isObject(a.timeouts)) invalidAction('timeouts must be an object of milliseconds, or null for each node’s own')
        const t = a.timeouts as Record<string, unknown>
        for (const k of Object.keys(t))
          if (!(TIMEOUT_FIELDS as readonly string[]).includes(k)) invalidAction(`timeouts.${k} is not a timeout`)
        const base = curTimeouts ?? DEFAULT_TIMEOUTS
        const chosen: Record<string, number> = {}
        for (const k of TIMEOUT_FIELDS) {
          const v = t[k] ?? base[k]
          if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 10 || v > 60_000) invalidAction(`timeouts.${k} must be 10..60000 ms`)
          chosen[k] = v as number
        }
        timeouts = chosen as NonNullable<ParamsRecord['timeouts']>
      }
      for (const k of fields) {
        const v = a[k]
        if (v === undefined) continue
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) invalidAction(`${k} must be a positive integer`)
        next[k] = v as number
      }
      // Floors keep the chain governable: a governance tx must still fit and live long enough.
      if (next.maxBlockTxs > limits.maxBlockTxs) invalidAction(`maxBlockTxs may not exceed the genesis value ${limits.maxBlockTxs}`)
      if (next.maxTxBytes < Math.min(16_384, limits.maxTxBytes)) invalidAction('maxTxBytes may not be below 16384')
      if (next.maxBlockBytes < Math.min(1_048_576, limits.maxBlockBytes)) invalidAction('maxBlockBytes may not be below 1048576')
      if (next.maxTxTtlMs < Math.min(60_000, limits.maxTxTtlMs)) invalidAction('maxTxTtlMs may not be below 60000')
      if (next.maxBlockBytes > limits.maxBlockBytes)
        invalidAction(`maxBlockBytes may not exceed the genesis value ${limits.maxBlockBytes} (nodes size their p2p frames by it)`)
      if (next.maxTxTtlMs > limits.maxTxTtlMs)
        invalidAction(`maxTxTtlMs may not exceed the genesis value ${limits.maxTxTtlMs} (the replay window is sized by it)`)
      if (next.maxTxBytes > next.maxBlockBytes) invalidAction('maxTxBytes may not exceed maxBlockBytes')
      if (fields.every((k) => next[k] === cur[k]) && JSON.stringify(timeouts) === JSON.stringify(curTimeouts))
        invalidAction('nothing to change')
      return { type: 'params.set', ...next, timeouts: timeouts ?? null }
    },
    apply(a, _g, store, env, p) {
      const height = env.height + VALIDATOR_CHANGE_DELAY
      const { type: _type, timeouts, ...params } = a as Record<string, unknown>
      const rec: ParamsRecord = {
        height,
        params: params as unknown as ParamsRecord['params'],
        timeouts: (timeouts ?? null) as NonNullable<ParamsRecord['timeouts']> | null,
        proposal: p.id,
      }
      store.write(KEYS.params(height), encodeRecord(rec))
      store.emit('ParamsChanged', { height, ...params, timeouts: timeouts ?? null })
    },
  },
  'config.set': {
    description:
      'Change governance settings: policies (by action type or `default`), proposal TTL, certificate requirement, genesis admin keys, read access (public or members, and the roles that may read)',
    check(a, g, store) {
      const cur = g.identities.config(store.read)
      const out: Record<string, unknown> = { type: 'config.set' }
      if (a.policies !== undefined) {
        if (!isObject(a.policies)) invalidAction('policies must be an object')
        const policies: Record<string, Policy> = {}
        for (const [k, v] of Object.entries(a.policies as Record<string, unknown>)) {
          if (k !== 'default' && !Object.hasOwn(ACTIONS, k)) invalidAction(`policies.${k}: not an action type`)
          const policy = parsePolicy(v, `policies.${k}`)
          const members = g.activeOrgs(store)
          if (policy.rule === 'K_OF_N' && !policy.orgs.every((o) => members.includes(o)))
            invalidAction(`policies.${k}: every organisation named must be a member (${members.join(', ')})`)
          policies[k] = policy
        }
        out.policies = { ...cur.policies, ...policies }
      }
      if (a.proposalTtlMs !== undefined) {
        const t = a.proposalTtlMs
        if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < MIN_TTL_MS || t > MAX_TTL_MS)
          invalidAction(`proposalTtlMs must be an integer from ${MIN_TTL_MS} to ${MAX_TTL_MS}`)
        out.proposalTtlMs = t
      }
      for (const flag of ['certificatesRequired', 'adminKeysRetired'] as const) {
        if (a[flag] === undefined) continue
        if (typeof a[flag] !== 'boolean') invalidAction(`${flag} must be a boolean`)
        out[flag] = a[flag]
      }
      if (a.readAccess !== undefined) {
        if (a.readAccess !== 'public' && a.readAccess !== 'members') invalidAction('readAccess must be public or members')
        out.readAccess = a.readAccess
      }
      // Tx receipts carry return values: with members-only reads, only members may send txs.
      const certificates = (out.certificatesRequired ?? cur.certificatesRequired) as boolean
      if ((out.readAccess ?? cur.readAccess) === 'members' && !certificates)
        invalidAction('readAccess members needs certificatesRequired (tx receipts would show results to anyone)')
      if (a.readRoles !== undefined) {
        const roles = stringList(a.readRoles, 'readRoles', (r) => ROLES.includes(r))
        if (roles.length === 0) invalidAction('readRoles needs at least one role')
        out.readRoles = roles
      }
      if (Object.keys(out).length === 1) invalidAction('nothing to change')
      return out
    },
    apply(a, g, store) {
      const { type: _type, ...change } = a
      const next: GovernanceConfig = { ...g.identities.config(store.read), ...(change as Partial<GovernanceConfig>) }
      store.write(KEYS.config, encodeRecord(next))
      store.emit('ConfigChanged', change)
    },
  },
}

const VALIDATOR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
/** What a partial timeouts change starts from when governance never set them (the nodes' defaults). */
const DEFAULT_TIMEOUTS: Readonly<Record<(typeof TIMEOUT_FIELDS)[number], number>> = {
  proposeMs: 3000,
  proposeDeltaMs: 500,
  prevoteMs: 1000,
  prevoteDeltaMs: 500,
  precommitMs: 1000,
  precommitDeltaMs: 500,
}
const MAX_VALIDATORS = 64

function validatorKey(v: unknown): string {
  if (typeof v !== 'string') return invalidAction('publicKey must be a public key string (p256:… or ed25519:…)')
  try {
    return publicKeyToString(publicKeyFromString(v))
  } catch {
    return invalidAction(`"${v}" is not a valid public key`)
  }
}

function validatorAddress(v: unknown): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string' || !/^[^\s:]{1,253}:\d{1,5}$/.test(v)) return invalidAction('address must be host:port')
  return v
}

function findValidator(set: readonly ValidatorEntry[], name: unknown): number {
  if (typeof name !== 'string') return invalidAction('name must be a validator name')
  const i = set.findIndex((v) => v.name === name)
  if (i < 0) invalidAction(`no validator named "${name}" in the current set`)
  return i
}

/**
 * A validator's node certificate (PEM): role `node`, of the validator's organisation, for its key,
 * valid now. Required when the chain requires certificates; p2p connections are then refused once it
 * expires or is revoked.
 */
function nodeCertificate(
  v: unknown,
  org: string,
  publicKey: string,
  g: Governance,
  store: GovernanceStore,
  env: GovernanceEnv,
): string | undefined {
  if (v === undefined) {
    if (g.identities.config(store.read).certificatesRequired)
      invalidAction('this chain requires a node certificate (role node) for every validator')
    return undefined
  }
  if (typeof v !== 'string') return invalidAction('certificate must be a PEM certificate')
  let cert: Certificate
  try {
    cert = parseCertificate(certificateFromPem(v))
  } catch {
    return invalidAction('certificate must be a PEM certificate')
  }
  if (cert.role !== 'node') invalidAction(`the certificate has the role "${cert.role ?? 'none'}", not node`)
  if (cert.subject.org !== org) invalidAction(`the certificate is of "${cert.subject.org}", the validator of "${org}"`)
  if (publicKeyToString(cert.publicKey) !== publicKey) invalidAction("the certificate is not for the validator's key")
  try {
    g.identities.check(cert, store.read, env.timestamp, env.height)
  } catch (err) {
    invalidAction(`the node certificate is not valid: ${err instanceof TrellisError ? err.message : 'invalid'}`)
  }
  return certificateToPem(cert.der)
}

/** The change an action makes to the latest validator set (decided, possibly not yet in force). */
function changedSet(a: Record<string, unknown>, g: Governance, store: GovernanceStore, env: GovernanceEnv): ValidatorEntry[] {
  if (g.genesisValidators.length < 2)
    invalidAction('a single-validator chain runs without consensus: validators change on multi-validator networks only')
  const set = [...g.latestValidators(store)]
  switch (a.type) {
    case 'validator.add': {
      if (typeof a.name !== 'string' || !VALIDATOR_NAME.test(a.name)) invalidAction('name must be 1-64 characters of [A-Za-z0-9._-]')
      const publicKey = validatorKey(a.publicKey)
      const power = a.power ?? 1
      if (typeof power !== 'number' || !Number.isSafeInteger(power) || power < 1 || power > 1000) invalidAction('power must be 1..1000')
      const org = activeOrg(a.org, g, store).id
      if (set.some((v) => v.name === a.name)) invalidAction(`a validator named "${a.name as string}" exists`)
      if (set.some((v) => v.publicKey === publicKey)) invalidAction('that key is already a validator')
      if (set.length >= MAX_VALIDATORS) invalidAction(`a chain has at most ${MAX_VALIDATORS} validators`)
      const address = validatorAddress(a.address)
      const certificate = nodeCertificate(a.certificate, org, publicKey, g, store, env)
      set.push({
        name: a.name as string,
        publicKey,
        power: power as number,
        org,
        ...(address === undefined ? {} : { address }),
        ...(certificate === undefined ? {} : { certificate }),
      })
      return set
    }
    case 'validator.remove': {
      set.splice(findValidator(set, a.name), 1)
      if (set.length === 0) invalidAction('the last validator cannot be removed')
      return set
    }
    case 'validator.replace': {
      const i = findValidator(set, a.name)
      const publicKey = validatorKey(a.publicKey)
      if (set.some((v) => v.publicKey === publicKey)) invalidAction('that key is already a validator')
      const address = validatorAddress(a.address)
      const { certificate: _old, ...entry } = set[i] as ValidatorEntry
      const certificate = entry.org === null ? undefined : nodeCertificate(a.certificate, entry.org, publicKey, g, store, env)
      set[i] = { ...entry, publicKey, ...(address === undefined ? {} : { address }), ...(certificate === undefined ? {} : { certificate }) }
      return set
    }
    default:
      return invalidAction(`not a validator action: ${String(a.type)}`)
  }
}

function validatorAction(description: string): ActionHandler {
  return {
    description,
    check(a, g, store, env) {
      changedSet(a, g, store, env)
      const { type, name, publicKey, power, org, address, certificate } = a
      return {
        type,
        name,
        ...(publicKey === undefined ? {} : { publicKey: validatorKey(publicKey) }),
        ...(power === undefined ? {} : { power }),
        ...(org === undefined ? {} : { org }),
        ...(address === undefined ? {} : { address }),
        ...(certificate === undefined ? {} : { certificate }),
      }
    },
    apply(a, g, store, env, p) {
      const height = env.height + VALIDATOR_CHANGE_DELAY
      const rec: ValidatorSetRecord = { height, validators: changedSet(a, g, store, env), proposal: p.id }
      store.write(KEYS.valset(height), encodeRecord(rec))
      store.emit('ValidatorSetChanged', { height, change: a.type as string, name: a.name as string, validators: rec.validators.length })
    },
  }
}

function activeOrg(id: unknown, g: Governance, store: GovernanceStore): OrgRecord {
  if (typeof id !== 'string') return invalidAction('the organisation id must be a string')
  const rec = g.identities.org(id, store.read)
  if (rec === undefined || rec.status !== 'active') invalidAction(`"${id}" is not a member organisation`)
  return rec as OrgRecord
}

/** Action types and what they do (for the API and the CLI). */
export const ACTION_TYPES: ReadonlyArray<{ type: string; description: string }> = Object.entries(ACTIONS).map(([type, h]) => ({
  type,
  description: h.description,
}))

export class Governance {
  constructor(
    readonly identities: Identities,
    /** The genesis validator set (in force until a `valset:` record replaces it). */
    readonly genesisValidators: readonly ValidatorEntry[],
    /** The genesis chain parameters (in force until a `params:` record replaces them; also their upper bounds). */
    readonly genesisParams: ParamsRecord['params'],
  ) {}

  /**
   * The newest decided chain parameters and consensus timeouts (they may take effect at a future
   * height); timeouts null: each node's own configuration.
   */
  latestParams(store: Pick<GovernanceStore, 'scan'>): { params: ParamsRecord['params']; timeouts: ParamsRecord['timeouts'] } {
    const last = scanAll(store, KEYS.paramsPrefix).at(-1)
    if (last === undefined) return { params: this.genesisParams, timeouts: null }
    const rec = decodeRecord<ParamsRecord>(last[1])
    return { params: rec.params, timeouts: rec.timeouts ?? null }
  }

  /** The newest decided validator set (it may take effect at a future height). */
  latestValidators(store: Pick<GovernanceStore, 'scan'>): readonly ValidatorEntry[] {
    const last = scanAll(store, KEYS.valsetPrefix).at(-1)
    return last === undefined ? this.genesisValidators : decodeRecord<ValidatorSetRecord>(last[1]).validators
  }

  /** Ids of every organisation, members and removed ones (genesis and governance records), sorted. */
  private orgIds(store: Pick<GovernanceStore, 'scan'>): string[] {
    const ids = new Set<string>(this.identities.genesisOrgIds)
    for (const [k] of scanAll(store, KEYS.orgPrefix)) ids.add(k.slice(KEYS.orgPrefix.length))
    return [...ids].sort()
  }

  /** Ids of the member organisations, sorted. */
  activeOrgs(store: Pick<GovernanceStore, 'read' | 'scan'>): string[] {
    return this.orgIds(store).filter((id) => this.identities.org(id, store.read)?.status === 'active')
  }

  policyFor(type: string, read: Read): Policy {
    const { policies } = this.identities.config(read)
    return policies[type] ?? policies.default ?? DEFAULT_POLICY
  }

  /** The effective status (an open proposal past its expiry reads as expired). */
  static status(p: Proposal, now: number): ProposalStatus {
    return p.status === 'open' && now > p.expiresAt ? 'expired' : p.status
  }

  private member(caller: Identity, role: string, store: GovernanceStore): string {
    if (caller.org === null || this.identities.org(caller.org, store.read)?.status !== 'active')
      fail({ code: 'GOV_NOT_MEMBER', caller: caller.id }, `${caller.id} does not hold a certificate of a member organisation`)
    if (caller.role !== role)
      fail(
        { code: 'GOV_ROLE_REQUIRED', role, caller: caller.id },
        `this needs a certificate with the role "${role}" (${caller.id} has "${caller.role ?? 'none'}")`,
      )
    return caller.org as string
  }

  private load(id: unknown, store: GovernanceStore): Proposal {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1)
      return fail({ code: 'PROPOSAL_NOT_FOUND', proposal: -1 }, 'id must be a proposal number')
    const raw = store.read(KEYS.proposal(id))
    if (raw === undefined) fail({ code: 'PROPOSAL_NOT_FOUND', proposal: id }, `no proposal ${id}`)
    return decodeRecord<Proposal>(raw as Uint8Array)
  }

  private save(p: Proposal, store: GovernanceStore): void {
    store.write(KEYS.proposal(p.id), encodeRecord(p))
  }

  /** Counts the votes and, once decided, executes or rejects the proposal. */
  private settle(p: Proposal, store: GovernanceStore, env: GovernanceEnv): Proposal {
    const outcome = tally(p, this.activeOrgs(store))
    if (outcome === 'open') return p
    if (outcome === 'rejected') {
      const done: Proposal = { ...p, status: 'rejected', decidedHeight: env.height }
      store.emit('ProposalRejected', { id: p.id })
      return done
    }
    const handler = ACTIONS[p.action.type] as ActionHandler
    let checked: Record<string, unknown>
    try {
      checked = handler.check({ ...p.action }, this, store, env)
    } catch (err) {
      // Only a check's verdict fails the proposal; anything else (a fetch the executor retries) passes.
      if (!(err instanceof TrellisError) || err.code === 'VM_NEED_DATA') throw err
      store.emit('ProposalFailed', { id: p.id, code: err.code })
      return { ...p, status: 'failed', decidedHeight: env.height, error: { code: err.code, message: err.message } }
    }
    handler.apply(checked, this, store, env, { id: p.id, org: p.proposer.org })
    store.emit('ProposalExecuted', { id: p.id, type: p.action.type })
    return { ...p, status: 'executed', decidedHeight: env.height }
  }

  call(method: string, a: Record<string, unknown>, store: GovernanceStore, env: GovernanceEnv): unknown {
    switch (method) {
      case 'propose': {
        if (!isObject(a.action) || typeof a.action.type !== 'string' || !Object.hasOwn(ACTIONS, a.action.type))
          return invalidAction(`action.type must be one of ${Object.keys(ACTIONS).join(', ')}`)
        const description = a.description ?? ''
        if (typeof description !== 'string' || description.length > 1024) invalidAction('description must be at most 1024 characters')
        const policy = this.policyFor(a.action.type, store.read)
        const org = this.member(env.caller, policy.role ?? 'admin', store)
        const action = (ACTIONS[a.action.type] as ActionHandler).check(a.action, this, store, env)
        const seqRaw = store.read(KEYS.seq)
        const id = (seqRaw === undefined ? 0 : decodeRecord<number>(seqRaw)) + 1
        store.write(KEYS.seq, encodeRecord(id))
        const ttl = this.identities.config(store.read).proposalTtlMs
        const proposal: Proposal = {
          id,
          action: action as Proposal['action'],
          description: description as string,
          proposer: { id: env.caller.id, org },
          policy,
          createdHeight: env.height,
          createdAt: env.timestamp,
          expiresAt: env.timestamp + ttl,
          votes: [],
          status: 'open',
          decidedHeight: null,
          error: null,
        }
        store.emit('ProposalCreated', { id, type: action.type as string, proposer: env.caller.id })
        // Proposing is approving, when the proposer's organisation is one that votes on it.
        const eligible = policy.rule !== 'K_OF_N' || policy.orgs.includes(org)
        return this.castVote(proposal, org, true, store, env, eligible)
      }
      case 'vote': {
        const p = this.load(a.id, store)
        if (typeof a.approve !== 'boolean') invalidAction('approve must be true or false')
        const status = Governance.status(p, env.timestamp)
        if (status === 'expired')
          fail(
            { code: 'PROPOSAL_EXPIRED', proposal: p.id, expiresAt: p.expiresAt },
            `proposal ${p.id} expired at ${new Date(p.expiresAt).toISOString()}`,
          )
        if (status !== 'open') fail({ code: 'PROPOSAL_CLOSED', proposal: p.id, status }, `proposal ${p.id} is ${status}`)
        const org = this.member(env.caller, p.policy.role ?? 'admin', store)
        if (p.policy.rule === 'K_OF_N' && !p.policy.orgs.includes(org))
          fail({ code: 'GOV_NOT_ELIGIBLE', org, proposal: p.id }, `"${org}" is not among the organisations that decide proposal ${p.id}`)
        return this.castVote(p, org, a.approve as boolean, store, env, true)
      }
      case 'cancel': {
        const p = this.load(a.id, store)
        const status = Governance.status(p, env.timestamp)
        if (status !== 'open') fail({ code: 'PROPOSAL_CLOSED', proposal: p.id, status }, `proposal ${p.id} is ${status}`)
        const org = this.member(env.caller, p.policy.role ?? 'admin', store)
        if (org !== p.proposer.org)
          fail(
            { code: 'GOV_NOT_ELIGIBLE', org, proposal: p.id },
            `only "${p.proposer.org}", which proposed it, can cancel proposal ${p.id}`,
          )
        const done: Proposal = { ...p, status: 'cancelled', decidedHeight: env.height }
        this.save(done, store)
        store.emit('ProposalCancelled', { id: p.id })
        return view(done, env.timestamp)
      }
      default:
        return invalidAction(`unknown method ${method}`)
    }
  }

  private castVote(p: Proposal, org: string, approve: boolean, store: GovernanceStore, env: GovernanceEnv, counts: boolean): unknown {
    let next = p
    if (counts) {
      if (p.votes.some((v) => v.org === org))
        fail({ code: 'VOTE_DUPLICATE', proposal: p.id, org }, `"${org}" has already voted on proposal ${p.id}`)
      next = { ...p, votes: [...p.votes, { org, voter: env.caller.id, approve, height: env.height, txId: env.txId }] }
      store.emit('VoteCast', { id: p.id, org, voter: env.caller.id, approve })
      next = this.settle(next, store, env)
    }
    this.save(next, store)
    return view(next, env.timestamp)
  }

  query(method: string, a: Record<string, unknown>, store: GovernanceStore, now: number): unknown {
    switch (method) {
      case 'proposal':
        return view(this.load(a.id, store), now)
      case 'proposals': {
        const limit = typeof a.limit === 'number' ? Math.min(Math.max(1, a.limit | 0), 100) : 50
        const after = typeof a.after === 'number' ? KEYS.proposalPrefix + String(a.after).padStart(10, '0') : null
        const rows = store.scan(KEYS.proposalPrefix, after, limit + 1)
        const items = rows.slice(0, limit).map(([, raw]) => view(decodeRecord<Proposal>(raw), now))
        const filtered = typeof a.status === 'string' ? items.filter((p) => p.status === a.status) : items
        const last = items.at(-1)
        return { items: filtered, next: rows.length > limit && last !== undefined ? last.id : null }
      }
      case 'org': {
        if (typeof a.id !== 'string') return invalidAction('id must be a string')
        const rec = this.identities.org(a.id, store.read)
        return rec === undefined ? null : this.describeOrg(rec)
      }
      case 'orgs':
        return this.orgIds(store).map((id) => this.describeOrg(this.identities.org(id, store.read) as OrgRecord))
      case 'config':
        return { ...this.identities.config(store.read), actions: ACTION_TYPES }
      case 'params': {
        const records = scanAll(store, KEYS.paramsPrefix).map(([, raw]) => decodeRecord<ParamsRecord>(raw))
        return { genesis: this.genesisParams, changes: records }
      }
      case 'validators': {
        const records = scanAll(store, KEYS.valsetPrefix).map(([, raw]) => decodeRecord<ValidatorSetRecord>(raw))
        return { genesis: this.genesisValidators, changes: records }
      }
      case 'revocations':
        return scanAll(store, KEYS.revokedPrefix).map(([, raw]) => decodeRecord<Revocation>(raw))
      case 'expiring': {
        // CA certificates of member organisations that expire within the window (or have expired).
        const within = typeof a.withinMs === 'number' ? a.withinMs : 30 * 24 * 60 * 60 * 1000
        return this.activeOrgs(store)
          .flatMap((id) =>
            this.identities.caCerts(this.identities.org(id, store.read) as OrgRecord).map((c) => ({
              org: id,
              commonName: c.subject.commonName,
              serial: c.serial,
              notAfter: c.notAfter,
              expired: c.notAfter < now,
            })),
          )
          .filter((c) => c.notAfter <= now + within)
          .sort((x, y) => x.notAfter - y.notAfter)
      }
      case 'permissions': {
        if (typeof a.contract !== 'string') return invalidAction('contract must be a string')
        const raw = store.read(KEYS.acl(a.contract))
        return raw === undefined ? { contract: a.contract, rules: {} } : decodeRecord<AccessList>(raw)
      }
      default:
        return invalidAction(`unknown query ${method}`)
    }
  }

  private describeOrg(rec: OrgRecord): Record<string, unknown> {
    return {
      ...rec,
      cas: this.identities.caCerts(rec).map((c) => ({
        commonName: c.subject.commonName,
        serial: c.serial,
        notBefore: c.notBefore,
        notAfter: c.notAfter,
        root: isSelfSigned(c),
      })),
    }
  }
}

function view(p: Proposal, now: number): Proposal {
  return { ...p, status: Governance.status(p, now) }
}

function scanAll(store: Pick<GovernanceStore, 'scan'>, prefix: string): Array<[string, Uint8Array]> {
  const out: Array<[string, Uint8Array]> = []
  let after: string | null = null
  for (;;) {
    const rows = store.scan(prefix, after, 500)
    out.push(...rows)
    if (rows.length < 500) return out
    after = (rows.at(-1) as [string, Uint8Array])[0]
  }
}
