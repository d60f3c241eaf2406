import { z } from 'zod'

// One definition per endpoint drives the server (validation), the SDK client (request building) and
// the OpenAPI document served at /docs.

const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex characters')
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')
const jsonValue = z.unknown().describe('A Trellis value in JSON form; byte strings are { "$bytes": "<base64>" }')
const height = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

export const HeaderSchema = z.object({
  chainId: z.string(),
  height: z.number().int(),
  prevHash: hex32,
  timestamp: z.number().int(),
  proposer: z.string(),
  txRoot: hex32,
  receiptRoot: hex32,
  stateRoot: hex32,
  validatorSetHash: hex32,
  txCount: z.number().int(),
})

export const CertificateSchema = z.object({
  height: z.number().int(),
  round: z.number().int(),
  blockHash: hex32,
  signatures: z.array(z.object({ validatorIndex: z.number().int(), signature: z.string() })),
})

export const TxSchema = z.object({
  id: hex32,
  chainId: z.string(),
  contract: z.string(),
  method: z.string(),
  args: jsonValue,
  signer: z.string(),
  nonce: z.number().int(),
  expiresAt: z.number().int(),
  signature: z.string(),
})

export const ReceiptSchema = z.object({
  txId: hex32,
  status: z.enum(['ok', 'failed']),
  errorCode: z.string(),
  errorMessage: z.string(),
  returnValue: jsonValue,
  events: z.array(z.object({ contract: z.string(), name: z.string(), data: jsonValue })),
  cost: z.number().int(),
})

export const ContractInfoSchema = z.object({
  name: z.string(),
  version: z.string(),
  kind: z.enum(['builtin', 'system', 'deployed']),
  status: z.enum(['active', 'paused', 'frozen']),
  codeHash: z.string().nullable(),
  description: z.string(),
  methods: z.array(
    z.object({
      name: z.string(),
      kind: z.enum(['call', 'query']),
      description: z.string(),
      args: z.unknown().describe('The argument schema descriptor (null when not declared)'),
    }),
  ),
})

const MerkleProofSchema = z.object({ index: z.number().int(), size: z.number().int(), path: z.array(z.string()) })

export const TxProofSchema = z.object({
  kind: z.literal('tx'),
  height: z.number().int(),
  index: z.number().int(),
  tx: base64,
  receipt: base64,
  txProof: MerkleProofSchema,
  receiptProof: MerkleProofSchema,
  header: base64,
  certificate: base64,
})

export const StateValueProofSchema = z.object({
  kind: z.literal('state'),
  height: z.number().int(),
  contract: z.string(),
  key: z.string(),
  value: base64.nullable(),
  proof: z.unknown().describe('State-tree proof (docs/spec/state-tree.md)'),
  header: base64,
  certificate: base64,
})

export const ErrorSchema = z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() })

const SubmitResult = z.object({
  id: z.string().describe('The tx id (hex), when the bytes could be decoded'),
  accepted: z.boolean(),
  error: ErrorSchema.optional(),
  height: z.number().int().optional().describe('With wait=true: the commit height'),
  receipt: ReceiptSchema.optional().describe('With wait=true: the receipt'),
})

export interface RouteDef {
  readonly method: 'GET' | 'POST'
  readonly path: string
  readonly summary: string
  readonly tags: readonly string[]
  readonly params?: z.ZodObject
  readonly query?: z.ZodObject
  readonly body?: z.ZodType
  readonly response: z.ZodType
  /** Responses that are not JSON (SSE, Prometheus text). */
  readonly produces?: string
}

function route<const R extends RouteDef>(r: R): R {
  return r
}

export const routes = {
  getStatus: route({
    method: 'GET',
    path: '/v1/status',
    summary: 'Node and chain status',
    tags: ['node'],
    response: z.object({
      chainId: z.string(),
      nodeVersion: z.string(),
      height: z.number().int(),
      latestBlockHash: z.string(),
      latestBlockTime: z.number().int(),
      stateRoot: z.string(),
      genesisHash: hex32,
      validators: z.array(z.object({ name: z.string(), publicKey: z.string(), power: z.number().int() })),
      mempool: z.object({ txs: z.number().int(), bytes: z.number().int() }),
      contracts: z.array(z.string()),
      consensus: z
        .object({
          mode: z.enum(['single', 'bft']),
          height: z.number().int().describe('Height being decided'),
          round: z.number().int(),
          step: z.string(),
          peers: z.array(z.string()).describe('Connected peers (their node keys)'),
        })
        .describe('Consensus position; `single` for a single-validator chain'),
    }),
  }),
  submitTxs: route({
    method: 'POST',
    path: '/v1/txs',
    summary: 'Submit one signed transaction (`tx`) or a batch (`txs`), optionally waiting for commit',
    tags: ['txs'],
    query: z.object({
      wait: z.enum(['true', 'false']).optional().describe('Hold the response until every accepted tx is committed'),
      timeoutMs: z.coerce.number().int().min(1).max(120_000).optional(),
    }),
    body: z.union([
      z.object({ tx: base64.describe('Signed tx wire bytes (docs/spec/encoding.md), base64') }).strict(),
      z.object({ txs: z.array(base64).min(1).max(5000) }).strict(),
    ]),
    response: z.object({ results: z.array(SubmitResult) }),
  }),
  getTx: route({
    method: 'GET',
    path: '/v1/txs/:id',
    summary: 'A committed transaction with its receipt and an offline-verifiable proof',
    tags: ['txs'],
    params: z.object({ id: hex32 }),
    response: z.object({ tx: TxSchema, height: z.number().int(), index: z.number().int(), receipt: ReceiptSchema, proof: TxProofSchema }),
  }),
  getBlock: route({
    method: 'GET',
    path: '/v1/blocks/:ref',
    summary: 'A block by height, by hash, or `latest`',
    tags: ['blocks'],
    params: z.object({ ref: z.string().regex(/^(latest|[0-9]{1,16}|[0-9a-f]{64})$/, 'must be a height, a block hash or "latest"') }),
    query: z.object({ txs: z.enum(['ids', 'full']).optional() }),
    response: z.object({
      hash: hex32,
      header: HeaderSchema,
      certificate: CertificateSchema,
      txIds: z.array(hex32),
      txs: z.array(TxSchema).optional(),
    }),
  }),
  getState: route({
    method: 'GET',
    path: '/v1/state/:contract/:key',
    summary: "A contract's state value (or its absence) at a height, with a proof",
    tags: ['state'],
    params: z.object({ contract: z.string().min(1).max(64), key: z.string().min(1).max(1024) }),
    query: z.object({ height: height.optional().describe('Default: the latest height') }),
    response: z.object({
      contract: z.string(),
      key: z.string(),
      height: z.number().int(),
      exists: z.boolean(),
      value: jsonValue,
      proof: StateValueProofSchema,
    }),
  }),
  getStateHistory: route({
    method: 'GET',
    path: '/v1/state/:contract/:key/history',
    summary: 'Every value a key had, newest first, with the tx that wrote it (paged)',
    tags: ['state'],
    params: z.object({ contract: z.string().min(1).max(64), key: z.string().min(1).max(1024) }),
    query: z.object({
      limit: z.coerce.number().int().min(1).max(1000).optional(),
      cursor: z
        .string()
        .regex(/^[0-9]+-[0-9]+$/, 'must be a cursor returned by a previous page')
        .optional(),
    }),
    response: z.object({
      entries: z.array(
        z.object({ height: z.number().int(), txIndex: z.number().int(), txId: hex32, deleted: z.boolean(), value: jsonValue }),
      ),
      nextCursor: z.string().nullable(),
    }),
  }),
  listContracts: route({
    method: 'GET',
    path: '/v1/contracts',
    summary: 'Contracts on the chain (built-in, the lifecycle contract and deployed ones) with their methods and argument schemas',
    tags: ['contracts'],
    response: z.object({ contracts: z.array(ContractInfoSchema) }),
  }),
  getContract: route({
    method: 'GET',
    path: '/v1/contracts/:name',
    summary: 'One contract: version, status, code hash, methods and argument schemas',
    tags: ['contracts'],
    params: z.object({ name: z.string().min(1).max(64) }),
    response: ContractInfoSchema,
  }),
  queryContract: route({
    method: 'POST',
    path: '/v1/contracts/:name/query',
    summary:
      "Run a contract's read-only method against committed state, at the latest or a past height. When the result is exactly a state value the contract read, a proof of that value is included.",
    tags: ['contracts'],
    params: z.object({ name: z.string().min(1).max(64) }),
    body: z
      .object({
        method: z.string().min(1).max(64),
        args: jsonValue.optional(),
        height: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional().describe('Default: the latest height'),
      })
      .strict(),
    response: z.object({
      height: z.number().int(),
      result: jsonValue,
      cost: z.number().int(),
      proof: StateValueProofSchema.optional().describe('Present when the result is the value of one state key'),
    }),
  }),
  streamEvents: route({
    method: 'GET',
    path: '/v1/events',
    summary: 'Server-sent events: committed blocks (`block`) and contract events (`event`), resumable from a height',
    tags: ['events'],
    query: z.object({
      fromHeight: height.optional().describe('Replay from this height (inclusive); default: only new blocks'),
      contract: z.string().max(64).optional(),
      name: z.string().max(128).optional(),
      blocks: z.enum(['true', 'false']).optional().describe('Also send a `block` message per block (default true)'),
      events: z.enum(['true', 'false']).optional().describe('Send contract `event` messages (default true)'),
    }),
    response: z.string(),
    produces: 'text/event-stream',
  }),
  listEvidence: route({
    method: 'GET',
    path: '/v1/consensus/evidence',
    summary: 'Duplicate-vote evidence this node recorded: two different signed votes by one validator for one height, round and type',
    tags: ['node'],
    query: z.object({ limit: z.coerce.number().int().min(1).max(1000).optional() }),
    response: z.object({
      evidence: z.array(
        z.object({
          height: z.number().int(),
          round: z.number().int(),
          type: z.enum(['prevote', 'precommit']),
          validator: z.object({ index: z.number().int(), name: z.string(), publicKey: z.string() }),
          votes: z.array(z.object({ blockHash: z.string().nullable().describe('null: a nil vote'), signature: z.string() })),
        }),
      ),
    }),
  }),
  health: route({
    method: 'GET',
    path: '/healthz',
    summary: 'Liveness and readiness',
    tags: ['node'],
    response: z.object({ status: z.literal('ok'), height: z.number().int(), chainId: z.string() }),
  }),
  metrics: route({
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics',
    tags: ['node'],
    response: z.string(),
    produces: 'text/plain',
  }),
} as const

export type Routes = typeof routes
export type RouteName = keyof Routes
export type ResponseOf<N extends RouteName> = z.infer<Routes[N]['response']>

/** The SSE `block` message payload. */
export interface BlockMessage {
  height: number
  hash: string
  timestamp: number
  txIds: string[]
}

/** The SSE `event` message payload; its SSE id is `height-txIndex-eventIndex`. */
export interface EventMessage {
  height: number
  txIndex: number
  eventIndex: number
  txId: string
  contract: string
  name: string
  data: unknown
}
