import type { JsonValue } from '@trellis/ledger'
import type { QueryOptions, TrellisClient } from './client.js'
import { type ContractCallOptions, sendCall } from './contract.js'

/** The system contract through which organisations govern the consortium. */
export const GOVERNANCE_CONTRACT = 'governance'

/** A governance action (see `governance.config()` for every type and what it does). */
export type GovernanceAction =
  | { readonly type: 'org.add'; readonly id: string; readonly name: string; readonly caCerts: readonly string[] }
  | { readonly type: 'org.update'; readonly id: string; readonly name?: string; readonly caCerts?: readonly string[] }
  | { readonly type: 'org.remove'; readonly id: string }
  | {
      readonly type: 'cert.revoke'
      readonly org: string
      readonly serial?: string
      readonly certificate?: string
      readonly reason?: string
      readonly effectiveHeight?: number
    }
  | {
      readonly type: 'contract.approve'
      readonly contract: string
      readonly operation: 'deploy' | 'upgrade' | 'pause' | 'resume' | 'freeze'
      readonly codeHash?: string
      /** The init/upgrade hook arguments the deploy or upgrade must carry (default none). */
      readonly args?: JsonValue
    }
  | {
      readonly type: 'acl.set'
      readonly contract: string
      readonly method?: string
      readonly rule: { readonly orgs?: readonly string[]; readonly roles?: readonly string[] } | null
    }
  | {
      readonly type: 'validator.add'
      readonly name: string
      readonly publicKey: string
      readonly org: string
      readonly power?: number
      /** host:port where the other validators reach it. */
      readonly address?: string
    }
  | { readonly type: 'validator.remove'; readonly name: string }
  | { readonly type: 'validator.replace'; readonly name: string; readonly publicKey: string; readonly address?: string }
  | {
      readonly type: 'params.set'
      readonly maxBlockTxs?: number
      readonly maxBlockBytes?: number
      readonly maxTxBytes?: number
      readonly maxTxTtlMs?: number
      /** Consensus round timeouts (ms) for every validator; null returns to each node's own. */
      readonly timeouts?: Partial<
        Record<'proposeMs' | 'proposeDeltaMs' | 'prevoteMs' | 'prevoteDeltaMs' | 'precommitMs' | 'precommitDeltaMs', number>
      > | null
    }
  | {
      readonly type: 'config.set'
      readonly policies?: Readonly<Record<string, GovernancePolicy>>
      readonly proposalTtlMs?: number
      readonly certificatesRequired?: boolean
      readonly adminKeysRetired?: boolean
    }

export type GovernancePolicy =
  | { readonly rule: 'ANY' | 'ALL' | 'MAJORITY'; readonly role?: string }
  | { readonly rule: 'K_OF_N'; readonly k: number; readonly orgs: readonly string[]; readonly role?: string }

export interface ProposalView {
  readonly id: number
  readonly action: { readonly type: string } & Readonly<Record<string, JsonValue>>
  readonly description: string
  readonly proposer: { readonly id: string; readonly org: string }
  readonly policy: GovernancePolicy
  readonly createdHeight: number
  readonly createdAt: number
  readonly expiresAt: number
  readonly votes: ReadonlyArray<{ org: string; voter: string; approve: boolean; height: number; txId: string }>
  readonly status: 'open' | 'executed' | 'rejected' | 'failed' | 'cancelled' | 'expired'
  readonly decidedHeight: number | null
  readonly error: { readonly code: string; readonly message: string } | null
}

const query = async (client: TrellisClient, method: string, args: JsonValue, options?: QueryOptions) =>
  (await client.query(GOVERNANCE_CONTRACT, method, args as never, options)).result as unknown

/**
 * Governance: proposals and votes by member organisations (signed with an organisation certificate
 * in the role the policy asks, `admin` by default), and the consortium's current rules.
 */
export const governance = {
  /** Proposes `action`; the proposer's organisation votes yes. Resolves to the proposal (with `wait`). */
  propose: (client: TrellisClient, action: GovernanceAction, options: ContractCallOptions & { readonly description?: string } = {}) =>
    sendCall(
      client,
      GOVERNANCE_CONTRACT,
      'propose',
      { action, ...(options.description === undefined ? {} : { description: options.description }) },
      options,
    ),
  /** Votes on proposal `id` for the signer's organisation; the deciding vote executes the action. */
  vote: (client: TrellisClient, id: number, approve: boolean, options: ContractCallOptions = {}) =>
    sendCall(client, GOVERNANCE_CONTRACT, 'vote', { id, approve }, options),
  /** Withdraws an open proposal (its proposing organisation only). */
  cancel: (client: TrellisClient, id: number, options: ContractCallOptions = {}) =>
    sendCall(client, GOVERNANCE_CONTRACT, 'cancel', { id }, options),
  proposal: async (client: TrellisClient, id: number, options?: QueryOptions) =>
    (await query(client, 'proposal', { id }, options)) as ProposalView,
  proposals: async (
    client: TrellisClient,
    page: { after?: number; limit?: number; status?: ProposalView['status'] } = {},
    options?: QueryOptions,
  ) => (await query(client, 'proposals', page as JsonValue, options)) as { items: ProposalView[]; next: number | null },
  orgs: (client: TrellisClient, options?: QueryOptions) => query(client, 'orgs', {}, options),
  org: (client: TrellisClient, id: string, options?: QueryOptions) => query(client, 'org', { id }, options),
  config: (client: TrellisClient, options?: QueryOptions) => query(client, 'config', {}, options),
  revocations: (client: TrellisClient, options?: QueryOptions) => query(client, 'revocations', {}, options),
  /** Member organisations' CA certificates expiring within `withinMs` (default 30 days), soonest first. */
  expiring: async (client: TrellisClient, withinMs?: number, options?: QueryOptions) =>
    (await query(client, 'expiring', withinMs === undefined ? {} : { withinMs }, options)) as Array<{
      org: string
      commonName: string
      serial: string
      notAfter: number
      expired: boolean
    }>,
  /** The genesis validator set and every decided change, with the height it takes effect. */
  validators: (client: TrellisClient, options?: QueryOptions) => query(client, 'validators', {}, options),
  permissions: (client: TrellisClient, contract: string, options?: QueryOptions) => query(client, 'permissions', { contract }, options),
}
