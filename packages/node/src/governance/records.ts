import { decodeValue, encodeValue, type Organisation, stateKey, valueFromJSON, valueToJSON } from '@trellis/ledger'
import { sha256 } from '@trellis/crypto'
import { bytesToHex } from '@trellis/utils'

// The governance contract's state: organisations, proposals, revocations, approvals, permissions
// and its configuration. Everything is stored as canonical values under the `governance`
// namespace, so every record can be proven with a state proof like any contract value.

export const GOVERNANCE_CONTRACT = 'governance'

export type OrgStatus = 'active' | 'removed'

/** An organisation as governance keeps it (`org:<id>`). Genesis organisations have no record until changed. */
export interface OrgRecord {
  readonly id: string
  readonly name: string
  /** CA certificates, DER in hex. */
  readonly caCerts: readonly string[]
  readonly status: OrgStatus
  /** 0 for a genesis organisation. */
  readonly addedHeight: number
  readonly updatedHeight: number
}

/** Which organisations must approve, and in which role their voters act. */
export type Policy =
  | { readonly rule: 'ANY' | 'ALL' | 'MAJORITY'; readonly role?: string }
  | { readonly rule: 'K_OF_N'; readonly k: number; readonly orgs: readonly string[]; readonly role?: string }

export interface GovernanceConfig {
  /** By action type, with `default` for the others. */
  readonly policies: Readonly<Record<string, Policy>>
  /** How long a proposal stays open (block-time milliseconds). */
  readonly proposalTtlMs: number
  /** Public-key-only txs are refused (CERT_REQUIRED) when set. */
  readonly certificatesRequired: boolean
  /** The genesis admin keys lose their lifecycle rights when set (governance approves instead). */
  readonly adminKeysRetired: boolean
  /**
   * Who may read through the API: `public` (dev networks), or `members` — every read request is
   * signed with a member's certificate in one of `readRoles`.
   */
  readonly readAccess: 'public' | 'members'
  readonly readRoles: readonly string[]
}

export const DEFAULT_POLICY: Policy = { rule: 'MAJORITY', role: 'admin' }

export const defaultConfig: GovernanceConfig = {
  policies: { default: DEFAULT_POLICY },
  proposalTtlMs: 7 * 24 * 60 * 60 * 1000,
  certificatesRequired: false,
  adminKeysRetired: false,
  readAccess: 'public',
  readRoles: ['admin', 'client', 'node', 'device', 'auditor'],
}

export interface Vote {
  readonly org: string
  readonly voter: string
  readonly approve: boolean
  readonly height: number
  readonly txId: string
}

export type ProposalStatus = 'open' | 'executed' | 'rejected' | 'failed' | 'cancelled' | 'expired'

export interface Proposal {
  readonly id: number
  readonly action: { readonly type: string; readonly [k: string]: unknown }
  readonly description: string
  readonly proposer: { readonly id: string; readonly org: string }
  /** The policy in force when it was proposed: later policy changes do not move the goalposts. */
  readonly policy: Policy
  readonly createdHeight: number
  readonly createdAt: number
  readonly expiresAt: number
  readonly votes: readonly Vote[]
  /** Stored statuses never say `expired`: an open proposal past `expiresAt` reads as expired. */
  readonly status: ProposalStatus
  readonly decidedHeight: number | null
  /** Why execution failed (status `failed`). */
  readonly error: { readonly code: string; readonly message: string } | null
}

/** A revoked certificate (`revoked:<org>:<serial>`): unusable in blocks at `effectiveHeight` and after. */
export interface Revocation {
  readonly org: string
  readonly serial: string
  readonly reason: string
  readonly effectiveHeight: number
  readonly proposal: number
}

/** Who may call: both lists must admit the caller when present (an empty rule admits everyone). */
export interface AccessRule {
  readonly orgs?: readonly string[]
  readonly roles?: readonly string[]
}

/** Call permissions of one contract (`acl:<contract>`), by method, `*` for every other method. */
export interface AccessList {
  readonly contract: string
  readonly rules: Readonly<Record<string, AccessRule>>
}

/** A governance decision a lifecycle tx consumes (`approval:<contract>:<operation>:<codeHash or *>`). */
export interface Approval {
  readonly contract: string
  readonly operation: string
  readonly codeHash: string | null
  /** SHA-256 of the canonical init/upgrade hook arguments the approval covers (null arguments by default). */
  readonly argsHash: string
  /** Only an admin of this organisation (the proposer's) may use it. */
  readonly org: string
  readonly proposal: number
  readonly height: number
  /** Block time after which it can no longer be used. */
  readonly expiresAt: number
}

/** The hash an approval binds a lifecycle tx's hook arguments with (absent = null). */
export function hookArgsHash(args: unknown): string {
  return bytesToHex(sha256(encodeValue(valueFromJSON(args ?? null))))
}

/** Names no deployed contract may take. */
export const RESERVED_CONTRACT_NAMES: ReadonlySet<string> = new Set(['trellis', 'governance'])

/** A serial as certificates are parsed: lowercase hex without leading zeros. */
export function normalSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/^0+/, '')
  return s === '' ? '0' : s
}

/** A validator as governance records it (the ledger's validator set plus the operating organisation). */
export interface ValidatorEntry {
  readonly name: string
  /** `p256:…` / `ed25519:…` */
  readonly publicKey: string
  readonly power: number
  readonly org: string | null
  /** Where the other validators reach it (`host:port`); genesis validators have theirs in each node's configuration. */
  readonly address?: string
  /** Its node certificate (PEM, role node) when governance added it with one. */
  readonly certificate?: string
}

/** The validator set from `height` on (`valset:<height>`), until a later record. */
export interface ValidatorSetRecord {
  readonly height: number
  readonly validators: readonly ValidatorEntry[]
  /** The proposal that decided it. */
  readonly proposal: number
}

/**
 * Blocks between a validator change's decision and its first height: every node knows the set of
 * height h + 1 while still deciding h (it was decided by h − 1 at the latest), so votes and proposals
 * for the next height can be checked as they arrive.
 */
export const VALIDATOR_CHANGE_DELAY = 2

/** The chain parameters from `height` on (`params:<height>`), until a later record. */
export interface ParamsRecord {
  readonly height: number
  readonly params: {
    readonly maxTxBytes: number
    readonly maxBlockTxs: number
    readonly maxBlockBytes: number
    readonly maxTxTtlMs: number
  }
  /** Consensus round timeouts (ms) every validator uses from `height` on; null: each node's own configuration. */
  readonly timeouts?: Readonly<Record<(typeof TIMEOUT_FIELDS)[number], number>> | null
  readonly proposal: number
}

/** The consensus timeouts governance may set, in milliseconds. */
export const TIMEOUT_FIELDS = ['proposeMs', 'proposeDeltaMs', 'prevoteMs', 'prevoteDeltaMs', 'precommitMs', 'precommitDeltaMs'] as const

export const paramsKeyPart = (height: number): string => `params:${String(height).padStart(15, '0')}`

/** Key part of a validator-set record: zero-padded so that key order is height order. */
export const valsetKeyPart = (height: number): string => `valset:${String(height).padStart(15, '0')}`

const key = (k: string): Uint8Array => stateKey(GOVERNANCE_CONTRACT, k)
// Every call's permission check reads its contract's access list: its key is built once. Readers
// never write into a key, so sharing the bytes is safe.
const aclKeys = new Map<string, Uint8Array>()
export const KEYS = {
  org: (id: string) => key(`org:${id}`),
  orgPrefix: 'org:',
  config: key('config'),
  seq: key('seq'),
  proposal: (id: number) => key(`proposal:${String(id).padStart(10, '0')}`),
  proposalPrefix: 'proposal:',
  revoked: (org: string, serial: string) => key(`revoked:${org}:${serial}`),
  revokedPrefix: 'revoked:',
  acl: (contract: string) => {
    let k = aclKeys.get(contract)
    if (k === undefined) {
      if (aclKeys.size >= 1024) aclKeys.clear()
      // A copy with its own buffer: kept for the process's life, it must not pin a pooled slab.
      k = key(`acl:${contract}`).slice()
      aclKeys.set(contract, k)
    }
    return k
  },
  approval: (contract: string, operation: string, codeHash: string | null) => key(`approval:${contract}:${operation}:${codeHash ?? '*'}`),
  valset: (height: number) => key(valsetKeyPart(height)),
  params: (height: number) => key(paramsKeyPart(height)),
  paramsPrefix: 'params:',
  valsetPrefix: 'valset:',
} as const

export function decodeRecord<T>(raw: Uint8Array): T {
  return valueToJSON(decodeValue(raw)) as T
}

export function encodeRecord(record: unknown): Uint8Array {
  return encodeValue(valueFromJSON(record))
}

export function genesisOrgRecord(o: Organisation): OrgRecord {
  return {
    id: o.id,
    name: o.name,
    caCerts: o.caCerts.map(bytesToHex),
    status: 'active',
    addedHeight: 0,
    updatedHeight: 0,
  }
}
