import type { Manifest } from '@trellis/contract'
import { type Certificate, certificateToPem, parseCertificate, type PublicKey, publicKeyToString, sha256 } from '@trellis/crypto'
import {
  type ContractEvent,
  decodeValue,
  decodeValueJSON,
  type ChainParams,
  defaultChainParams,
  type Organisation,
  type ValidatorSet,
  encodedValueFits,
  encodedValueLength,
  encodeValue,
  type Receipt,
  ReceiptStatus,
  type SignedTx,
  stateKey,
  type JsonValue,
  type Value,
  valueFromJSON,
  valueFromParsedJSON,
  valueToJSON,
  Writer,
  writeReceipt,
} from '@trellis/ledger'
import { bytesToHex, bytesToUtf8, compareBytes, concatBytes, equalBytes, TrellisError, utf8ToBytes } from '@trellis/utils'
import {
  type ContractInstance,
  defaultVmLimits,
  type EntryCall,
  entryRequestText,
  type GasMeter,
  HostError,
  type HostFunctions,
  type RunResult,
  Sandbox,
} from '@trellis/vm'
import type { StateWrite } from '../chain/chainStore.js'
import { mergeOverlay } from '../chain/chainStore.js'
import type { NodeErrorType } from '../errors.js'
import { byteKey } from '../byteKey.js'
import { ShardedMap } from '../shardedMap.js'
import {
  type Approval,
  decodeRecord,
  Governance,
  GOVERNANCE_CONTRACT,
  GOVERNANCE_KEYS,
  type GovernanceStore,
  Identities,
  type Identity,
  hookArgsHash,
  type Read,
} from '../governance/index.js'
import { argsVerdict, checkArgs } from './argsSchema.js'
import {
  type BlockExecution,
  type BlockInput,
  type Contract,
  type ContractContext,
  type ContractInfo,
  type ContractMethod,
  type Executor,
  type QueryOutcome,
  type QueryView,
  type Reader,
  type StateReader,
  type ExecuteOptions,
  TxTimeLimitError,
} from './types.js'

// The executor: built-in contracts (compiled into the node), the `trellis` system contract (the
// contract lifecycle) and deployed contracts, which run in the QuickJS sandbox. Every tx runs against
// a journal (its writes are applied only if it succeeds); reads see the block's earlier writes.
//
// Reads that storage can only answer asynchronously (ordered ranges; at past heights, every read)
// use a cache: a sandboxed run that misses the cache fails with VM_NEED_DATA, the executor fetches
// what was asked and runs the tx again from scratch. A run's result depends only on the state it
// reads, so the retries are invisible in the receipt.

/** Receipt encoding scratch buffer. */
const receiptWriter = new Writer(1024)

/** Deterministic cost schedule for built-ins and state access (work units, never time). */
export const COST = { base: 1000, read: 100, write: 200, perByte: 1, event: 100 } as const

/** Receipt-level limits: a tx that exceeds them fails deterministically. */
export const TX_LIMITS = {
  maxWrites: 1000,
  maxEvents: 100,
  maxValueBytes: 64 * 1024,
  maxReturnBytes: 64 * 1024,
  /** A written state key's bytes (contract name ‖ 0x00 ‖ key): the history's u16 length field holds it with room to spare. */
  maxKeyBytes: 4096,
} as const

/** The system contract that deploys, upgrades, pauses, resumes and freezes contracts. */
export const SYSTEM_CONTRACT = 'trellis'
/** Gas budget of one tx (all its nested calls included). */
export const TX_GAS = 10_000_000
/**
 * Gas of one block. Once the txs executed so far have used this much, the rest of the block is not
 * run (BLOCK_GAS_EXHAUSTED): it bounds a block's execution time (~1 s of CPU per 10 M gas in the
 * worst case measured, docs/benchmarks.md) whatever its txs do.
 */
export const BLOCK_GAS = 100_000_000
/** Wall-clock limit of a query (the safety net of ADR 0011: queries run on the node's event loop). */
export const QUERY_TIME_LIMIT_MS = 2_000
/** Gas budget of a read-only query. */
export const QUERY_GAS = 20_000_000
/**
 * Rounds of asynchronous range reads one tx may need (each re-runs it from the start): a tx needing
 * more fails with TX_TOO_MANY_FETCHES, charged the whole tx budget.
 */
export const MAX_FETCH_ROUNDS = 32
/** Nested calls each run on the host's native stack too (ADR 0010): kept shallow. */
export const MAX_CALL_DEPTH = 4
const ENTRY = '__trellis_entry'
const CONTRACT_NAME = /^[a-z][a-z0-9-]{1,63}$/

type Status = 'active' | 'paused' | 'frozen'

/** What a contract's code declares (`describe`): stored per code hash at `manifest:<hash>`. */
export type ContractManifest = Manifest

/**
 * A deployed contract's on-chain record (`trellis` state, key `contract:<name>`). Kept small: it is
 * read by every call; the code and its manifest live under their hash.
 */
export interface ContractRecord {
  readonly name: string
  readonly version: string
  readonly codeHash: string
  readonly status: Status
  readonly deployer: string
  readonly deployedHeight: number
  readonly updatedHeight: number
}

export const recordKey = (name: string): Uint8Array => stateKey(SYSTEM_CONTRACT, `contract:${name}`)
export const codeKey = (hash: string): Uint8Array => stateKey(SYSTEM_CONTRACT, `code:${hash}`)
export const manifestKey = (hash: string): Uint8Array => stateKey(SYSTEM_CONTRACT, `manifest:${hash}`)

function fail(type: NodeErrorType, message: string): never {
  throw new TrellisError<NodeErrorType>(type, message)
}

/** A coded failure inside execution: becomes the receipt's error code. */
class ExecError extends TrellisError<{ code: string }> {
  constructor(code: string, message: string) {
    super({ code }, message)
  }
}

const needData = (): HostError => new HostError('VM_NEED_DATA', 'state is being fetched')

type CallerJSON = Identity

/** The reads of one block's execution or one query, with caches for what must be fetched. */
class Reads {
  private readonly gets = new Map<string, Uint8Array | null>()
  private readonly scans = new Map<string, Array<[Uint8Array, Uint8Array]>>()
  private readonly histories = new Map<string, Array<{ height: number; txId: string; value: Uint8Array | null }>>()
  /** Fetches the last run asked for. */
  missing: Array<() => Promise<void>> = []

  constructor(
    private readonly src: {
      readonly getSync?: ((sk: Uint8Array) => Uint8Array | undefined) | undefined
      readonly get?: ((sk: Uint8Array) => Promise<Uint8Array | undefined>) | undefined
      readonly scan?: StateReader['scanLatest'] | undefined
      readonly history?: QueryView['history'] | undefined
    },
  ) {}

  get(sk: Uint8Array): Uint8Array | undefined {
    if (this.src.getSync !== undefined) return this.src.getSync(sk)
    const id = byteKey(sk)
    const hit = this.gets.get(id)
    if (hit !== undefined) return hit ?? undefined
    const get = this.src.get
    if (get === undefined) throw new ExecError('STATE_UNAVAILABLE', 'state cannot be read here')
    this.missing.push(async () => {
      this.gets.set(id, (await get(sk)) ?? null)
    })
    throw needData()
  }

  scan(lower: Uint8Array, upper: Uint8Array, reverse: boolean, limit: number): Array<[Uint8Array, Uint8Array]> {
    const scan = this.src.scan
    if (scan === undefined) throw new ExecError('RANGE_AT_PAST_HEIGHT', 'range scans are only available at the latest height')
    const id = `${byteKey(lower)}\u0001${byteKey(upper)}\u0001${reverse ? 1 : 0}\u0001${limit}`
    const hit = this.scans.get(id)
    if (hit !== undefined) return hit
    this.missing.push(async () => {
      this.scans.set(id, await scan(lower, upper, reverse, limit))
    })
    throw needData()
  }

  history(sk: Uint8Array, limit: number): Array<{ height: number; txId: string; value: Uint8Array | null }> {
    const history = this.src.history
    if (history === undefined) throw new ExecError('HISTORY_NOT_IN_CALLS', 'key history is available to queries only')
    const id = `${byteKey(sk)}\u0001${limit}`
    const hit = this.histories.get(id)
    if (hit !== undefined) return hit
    this.missing.push(async () => {
      const entries = await history(sk, limit)
      this.histories.set(
        id,
        entries.map((e) => ({ height: e.height, txId: bytesToHex(e.txId), value: e.value })),
      )
    })
    throw needData()
  }

  async fetchMissing(): Promise<void> {
    const fetches = this.missing
    this.missing = []
    await Promise.all(fetches.map((f) => f()))
  }
}

type Write = { key: Uint8Array; value: Uint8Array | null }
type Overlay = Map<string, Write>
/** The writes of a block's earlier txs: a {@link ShardedMap} while a block executes (thousands of keys). */
type BlockOverlay = Pick<ShardedMap<Write>, 'get' | 'forEach'>

/** One tx's (or query's) journal: reads see its own writes, then the block's, then storage. */
class TxState {
  readonly writes: Overlay = new Map()
  readonly events: ContractEvent[] = []
  cost: number = COST.base
  /** A query's top-level reads with their raw bytes, to recognise a result that is a state value. */
  reads: Array<{ contract: string; key: string; raw: Uint8Array }> | undefined

  constructor(
    /** The engine this tx or query runs in. */
    readonly engine: Sandbox,
    readonly block: BlockOverlay,
    readonly source: Reads,
    /** Contract instances of the block being executed, by contract name and code hash (absent for queries). */
    readonly instances?: Map<string, ContractInstance>,
    /** Wall-clock deadline of this tx (performance.now() ms), if any. */
    readonly deadline?: number,
  ) {}

  /** What a read would return, without charging for it (for data whose cost is priced otherwise). */
  peek(sk: Uint8Array): Uint8Array | undefined {
    const id = byteKey(sk)
    const w = this.writes.get(id) ?? this.block.get(id)
    return w !== undefined ? (w.value ?? undefined) : this.source.get(sk)
  }

  read(sk: Uint8Array): Uint8Array | undefined {
    this.cost += COST.read
    const id = byteKey(sk)
    const w = this.writes.get(id) ?? this.block.get(id)
    const raw = w !== undefined ? (w.value ?? undefined) : this.source.get(sk)
    if (raw !== undefined) this.cost += raw.length * COST.perByte
    return raw
  }

  write(sk: Uint8Array, value: Uint8Array | null, system = false): void {
    if (this.writes.size >= TX_LIMITS.maxWrites)
      throw new ExecError('TX_TOO_MANY_WRITES', `a tx may write at most ${TX_LIMITS.maxWrites} keys`)
    if (sk.length > TX_LIMITS.maxKeyBytes)
      throw new ExecError('KEY_TOO_LONG', `a state key may be at most ${TX_LIMITS.maxKeyBytes} bytes with its contract's name`)
    if (!system && value !== null && value.length > TX_LIMITS.maxValueBytes)
      throw new ExecError('VALUE_TOO_LARGE', `a state value may be at most ${TX_LIMITS.maxValueBytes} bytes`)
    this.cost += COST.write + (value?.length ?? 0) * COST.perByte
    this.writes.set(byteKey(sk), { key: sk, value })
  }

  /** Ordered entries in `[lower, upper)` as this tx sees them. */
  scan(lower: Uint8Array, upper: Uint8Array, reverse: boolean, limit: number): Array<[Uint8Array, Uint8Array]> {
    const lo = byteKey(lower)
    const hi = byteKey(upper)
    const overlay = new Map<string, [Uint8Array, Uint8Array | null]>()
    // The block's writes first, then the tx's own, which win.
    this.block.forEach((w, id) => id >= lo && id < hi && overlay.set(id, [w.key, w.value]))
    for (const [id, w] of this.writes) if (id >= lo && id < hi) overlay.set(id, [w.key, w.value])
    let deleted = 0
    for (const [, v] of overlay.values()) if (v === null) deleted++
    const base = this.source.scan(lower, upper, reverse, limit + deleted)
    const out = mergeOverlay(base, [...overlay.values()], reverse, limit)
    this.cost += COST.read * (1 + out.length)
    for (const [k, v] of out) this.cost += (k.length + v.length) * COST.perByte
    return out
  }
}

/** Where a call is running: which contract, for whom, how deep. */
interface Frame {
  readonly contract: string
  readonly version: string
  readonly readOnly: boolean
  readonly caller: CallerJSON
  readonly origin: CallerJSON
  readonly txId: string | null
  readonly stack: readonly string[]
}

interface BlockEnv {
  readonly height: number
  readonly timestamp: number
  readonly chainId: string
}

type Outcome =
  // A built-in's outcome carries `value` and `json` as getters, computed when a caller needs them.
  | { readonly ok: true; readonly json: string; readonly value?: Value; readonly gas: number }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly gas: number }

// The JSON text of the last block environment seen (one per block; it is not mutated).
let lastBlock: BlockEnv | undefined
let lastBlockText = ''

function blockText(block: BlockEnv): string {
  if (block !== lastBlock) {
    lastBlockText = JSON.stringify(block)
    lastBlock = block
  }
  return lastBlockText
}

/** The JSON text of `{ name, version }` for a contract frame (a few contracts make most calls). */
const contractTexts = new Map<string, string>()

function contractText(name: string, version: string): string {
  const id = `${name}\u0000${version}`
  let text = contractTexts.get(id)
  if (text === undefined) {
    text = JSON.stringify({ name, version })
    if (contractTexts.size >= 1024) contractTexts.clear()
    contractTexts.set(id, text)
  }
  return text
}

/**
 * The JSON text of a caller (identities of keys are shared objects, one per key: see
 * Identities.identify), so that an instance's kept values are looked up by the same string.
 */
const callerTexts = new WeakMap<CallerJSON, string>()

function callerText(caller: CallerJSON): string {
  let text = callerTexts.get(caller)
  if (text === undefined) {
    text = JSON.stringify(caller)
    if (Object.isFrozen(caller)) callerTexts.set(caller, text)
  }
  return text
}

/** The call the contract library's entry receives: `{ kind, method, args, env }` (see EntryCall). */
function entryCall(kind: string, method: string, args: unknown, argsChecked: boolean, frame: Frame, block: BlockEnv): EntryCall {
  const caller = callerText(frame.caller)
  return {
    kind,
    method,
    args: JSON.stringify(args) as string | undefined,
    argsChecked,
    contract: contractText(frame.contract, frame.version),
    caller,
    origin: frame.origin === frame.caller ? caller : callerText(frame.origin),
    block: blockText(block),
    txId: frame.txId,
  }
}

function outcomeOf(r: RunResult): Outcome {
  if (r.ok) return { ok: true, json: r.json, gas: r.gasUsed }
  // A contract's own code (ContractError) or a host failure's code, else the sandbox's. VM_* codes
  // are reserved to the sandbox: a contract cannot claim one (e.g. fake a timeout or a fetch).
  const own = r.code === 'VM_CONTRACT_ERROR' && r.contractCode?.startsWith('VM_') === true ? undefined : r.contractCode
  return { ok: false, code: own ?? r.code, message: r.message, gas: r.gasUsed }
}

/** JSON.parse with a fixed, deterministic error (V8's messages vary between Node versions). */
function parseJSON(json: string, what: string): unknown {
  try {
    return JSON.parse(json)
  } catch {
    throw new HostError('HOST_ARG_INVALID', `${what} is not valid JSON`)
  }
}

/** The byte range of the keys of `contract` under `prefix`, narrowed by `start`/`end`. */
export function rangeBounds(
  contract: string,
  prefix: string,
  start: string | null,
  end: string | null,
): [Uint8Array, Uint8Array] | undefined {
  const base = stateKey(contract, prefix)
  let lower = base
  let upper = successor(base)
  if (start !== null) {
    const s = stateKey(contract, start)
    if (compareBytes(s, lower) > 0) lower = s
  }
  if (end !== null) {
    const e = stateKey(contract, end)
    if (compareBytes(e, upper) < 0) upper = e
  }
  return compareBytes(lower, upper) < 0 ? [lower, upper] : undefined
}

/** The smallest byte string greater than every string that starts with `b`. */
function successor(b: Uint8Array): Uint8Array {
  const out = b.slice()
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0xff) {
      out[i] = (out[i] as number) + 1
      return out.subarray(0, i + 1)
    }
  }
  return concatBytes(b, Uint8Array.of(0xff, 0xff, 0xff, 0xff))
}

/** A parsed JSON value as a ledger value, or VALUE_INVALID (floats, too deep…). */
function storable(parsed: unknown, what: string): Value {
  try {
    return valueFromParsedJSON(parsed)
  } catch (err) {
    throw new ExecError('VALUE_INVALID', `${what} is not a storable value: ${err instanceof TrellisError ? err.message : 'invalid'}`)
  }
}

function jsonToValue(json: string, what: string): Value {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch {
    throw new ExecError('VALUE_INVALID', `${what} is not valid JSON`)
  }
  return storable(parsed, what)
}

function valueJSON(raw: Uint8Array): string {
  return decodeValueJSON(raw)
}

function parseRecord(raw: Uint8Array): ContractRecord {
  return valueToJSON(decodeValue(raw)) as unknown as ContractRecord
}

export interface ContractExecutorOptions {
  /** Contracts compiled into the node. */
  readonly builtins?: readonly Contract[]
  /**
   * Keys that may deploy, upgrade, pause, resume and freeze without a governance approval (the
   * genesis admins), until governance retires them (`adminKeysRetired`).
   */
  readonly admins?: readonly PublicKey[]
  /** The genesis organisations: certificates they issue identify tx signers. */
  readonly orgs?: readonly Organisation[]
  /** The genesis validator set, which governance changes. */
  readonly validators?: ValidatorSet
  /** The genesis chain parameters, which governance changes (within their genesis bounds). */
  readonly params?: ChainParams
}

/** When and where a tx is checked for admission: the next block's height, the node's clock. */
export interface AdmissionPoint {
  readonly height: number
  readonly now: number
}

/** Longest stretch of execution before yielding to the event loop. */
const YIELD_AFTER_MS = 8

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export class ContractExecutor implements Executor {
  private readonly builtins = new Map<string, Contract>()
  private readonly admins: Set<string>
  private readonly identities: Identities
  private readonly governance: Governance
  /** Governance reads of admission checks, for one height at a time. */
  private admissionReads: { height: number; cache: Map<string, Uint8Array | undefined> } = { height: -1, cache: new Map() }
  /** Contract code and manifests by code hash: immutable, so caching them is always correct. */
  private readonly codeCache = new Map<string, string>()
  private readonly manifestCache = new Map<string, ContractManifest>()
  /** Decoded contract records by name, with the bytes they were decoded from (see {@link record}). */
  private readonly records = new Map<string, { readonly raw: Uint8Array; readonly rec: ContractRecord }>()

  private constructor(
    private readonly sandbox: Sandbox,
    /** Queries run in their own engine: nothing a query does can touch a block's execution. */
    private readonly querySandbox: Sandbox,
    options: ContractExecutorOptions,
  ) {
    for (const c of options.builtins ?? []) this.builtins.set(c.name, c)
    this.admins = new Set((options.admins ?? []).map(publicKeyToString))
    this.identities = new Identities(options.orgs ?? [])
    this.governance = new Governance(
      this.identities,
      (options.validators?.validators ?? []).map((v) => ({
        name: v.name,
        publicKey: publicKeyToString(v.publicKey),
        power: v.power,
        // A genesis validator with a node certificate belongs to the certificate's organisation.
        org: v.certificate === undefined ? null : parseCertificate(v.certificate).subject.org,
        ...(v.certificate === undefined ? {} : { certificate: certificateToPem(v.certificate) }),
      })),
      { ...(options.params ?? defaultChainParams) },
    )
  }

  static async create(options: ContractExecutorOptions = {}): Promise<ContractExecutor> {
    const [blocks, queries] = await Promise.all([Sandbox.create(), Sandbox.create()])
    return new ContractExecutor(blocks, queries, options)
  }

  // ---- introspection and admission -----------------------------------------------------------

  async contracts(state: StateReader): Promise<ContractInfo[]> {
    const out: ContractInfo[] = []
    for (const c of this.builtins.values()) {
      out.push({
        name: c.name,
        version: c.version,
        kind: 'builtin',
        status: 'active',
        codeHash: null,
        description: '',
        methods: Object.entries(c.methods).map(([name, m]) => ({ name, kind: m.kind, description: m.description, args: null })),
      })
    }
    out.push(SYSTEM_INFO, GOVERNANCE_INFO)
    const bounds = rangeBounds(SYSTEM_CONTRACT, 'contract:', null, null) as [Uint8Array, Uint8Array]
    for (const [, raw] of await state.scanLatest(bounds[0], bounds[1], false, 10_000)) {
      const r = parseRecord(raw)
      const manifest = this.manifest(r.codeHash, (sk) => state.getLatest(sk))
      out.push({
        name: r.name,
        version: r.version,
        kind: 'deployed',
        status: r.status,
        codeHash: r.codeHash,
        description: manifest.description,
        methods: manifest.methods.map((m) => ({ name: m.name, kind: m.kind, description: m.description, args: m.args })),
      })
    }
    return out
  }

  precheck(tx: SignedTx, state: StateReader, at: AdmissionPoint): void {
    const { contract, method, args } = tx.body
    const bad = (reason: string): never =>
      fail({ code: 'ARGS_INVALID', contract, method, reason }, `invalid arguments for ${contract}.${method}: ${reason}`)
    // Governance state changes only with blocks: its reads are remembered for the height being admitted to.
    if (this.admissionReads.height !== at.height) this.admissionReads = { height: at.height, cache: new Map() }
    const read = memoRead(this.admissionReads.cache, (sk) => state.getLatest(sk))
    const caller = this.identities.identify(tx, read, at.now, at.height)
    if (contract === GOVERNANCE_CONTRACT) {
      const m = GOVERNANCE_METHODS[method]
      if (m === undefined || m.kind !== 'call')
        fail({ code: 'METHOD_NOT_FOUND', contract, method }, `contract "${contract}" has no callable method "${method}"`)
      const reason = checkArgs(m.args, valueToJSON(args))
      if (reason !== undefined) bad(reason)
      return
    }
    const builtin = this.builtins.get(contract)
    if (builtin !== undefined) {
      const m = builtinMethod(builtin, method, 'call')
      const reason = m.validate(args)
      if (reason !== undefined) bad(reason)
      this.identities.permit(caller, contract, method, read)
      return
    }
    if (contract === SYSTEM_CONTRACT) {
      const m = SYSTEM_METHODS[method]
      if (m === undefined || m.kind !== 'call')
        fail({ code: 'METHOD_NOT_FOUND', contract, method }, `contract "${contract}" has no callable method "${method}"`)
      const a = valueToJSON(args) as Record<string, unknown>
      const reason = checkArgs(m.args, a)
      if (reason !== undefined) bad(reason)
      this.lifecycleApproval(method, a, caller, read, at.now)
      return
    }
    const raw = state.getLatest(recordKey(contract))
    if (raw === undefined) fail({ code: 'CONTRACT_NOT_FOUND', contract }, `no contract named "${contract}"`)
    const rec = this.record(contract, raw)
    if (rec.status !== 'active')
      fail({ code: rec.status === 'paused' ? 'CONTRACT_PAUSED' : 'CONTRACT_FROZEN', contract }, statusMessage(contract, rec.status))
    const m = this.manifest(rec.codeHash, (sk) => state.getLatest(sk)).methods.find((x) => x.name === method && x.kind === 'call')
    if (m === undefined) fail({ code: 'METHOD_NOT_FOUND', contract, method }, `contract "${contract}" has no callable method "${method}"`)
    // A method whose schema is the contract's own (nodeChecked false) is checked by that schema, at
    // execution; manifests from before the flag keep the descriptor check here. Only patterns whose
    // backtracking is bounded are tested here, on the main thread: the others wait for the sandbox.
    const reason = m.nodeChecked === false ? undefined : checkArgs(m.args, args === null ? {} : valueToJSON(args), 'bounded')
    if (reason !== undefined) bad(reason)
    this.identities.permit(caller, contract, method, read)
  }

  /**
   * Whether `caller` may run lifecycle `method` now: a genesis admin key (until governance retires
   * them), or an admin of a member organisation holding the governance approval of exactly this
   * operation (and code). `consume` removes the approval (it is good for one tx).
   * @throws TrellisError LIFECYCLE_NOT_APPROVED
   */
  private lifecycleApproval(
    method: string,
    a: Record<string, unknown>,
    caller: CallerJSON,
    read: Read,
    now: number,
    consume?: (sk: Uint8Array) => void,
  ): void {
    if (caller.org === null && this.admins.has(caller.id) && !this.identities.config(read).adminKeysRetired) return
    const codeHash = method === 'deploy' || method === 'upgrade' ? bytesToHex(sha256(utf8ToBytes(a.code as string))) : null
    const sk = GOVERNANCE_KEYS.approval(a.name as string, method, codeHash)
    const raw = caller.org !== null && caller.role === 'admin' ? read(sk) : undefined
    if (raw !== undefined) {
      const ap = decodeRecord<Approval>(raw)
      const hookArgs = method === 'deploy' ? a.initArgs : method === 'upgrade' ? a.upgradeArgs : undefined
      const why =
        ap.contract !== a.name
          ? 'it is for another contract'
          : ap.org !== caller.org
            ? `it is for an admin of "${ap.org}", which proposed it`
            : now > ap.expiresAt
              ? `it expired at ${new Date(ap.expiresAt).toISOString()}`
              : ap.argsHash !== hookArgsHash(hookArgs)
                ? `its ${method === 'deploy' ? 'init' : 'upgrade'} arguments differ from the approved ones`
                : undefined
      if (why === undefined) {
        consume?.(sk)
        return
      }
      fail(
        { code: 'LIFECYCLE_NOT_APPROVED', signer: caller.id },
        `the approval of ${method} of "${a.name as string}" (proposal ${ap.proposal}) does not apply: ${why}`,
      )
    }
    fail({ code: 'LIFECYCLE_NOT_APPROVED', signer: caller.id }, notApproved(method, a.name as string, codeHash, caller.id))
  }

  // ---- block execution -------------------------------------------------------------------------

  async executeBlock(input: BlockInput, committed: StateReader, options: ExecuteOptions = {}): Promise<BlockExecution> {
    const limitMs = options.txTimeLimitMs
    const blockWrites = new ShardedMap<Write>(input.txs.length * 4)
    const receipts: Receipt[] = []
    const receiptBytes: Uint8Array[] = []
    const writes: StateWrite[] = []
    const block: BlockEnv = { height: input.height, timestamp: input.timestamp, chainId: input.chainId }
    const reads = new Reads({ getSync: (sk) => committed.getLatest(sk), scan: (a, b, r, l) => committed.scanLatest(a, b, r, l) })
    // One instance per contract code for the whole block, called in tx order on every validator:
    // loading a contract once per block instead of once per call is what makes calls cheap.
    const instances = new Map<string, ContractInstance>()
    const governanceReads = new Map<string, Uint8Array | undefined>()
    let blockGas = 0
    let gasExhaustedAt: number | undefined
    let stoppedAt: number | undefined
    const blockStart = performance.now()
    try {
      let sliceStart = performance.now()
      for (let txIndex = 0; txIndex < input.txs.length; txIndex++) {
        const tx = input.txs[txIndex] as SignedTx
        if (options.blockTimeLimitMs !== undefined && txIndex > 0 && performance.now() - blockStart > options.blockTimeLimitMs) {
          stoppedAt = txIndex
          break
        }
        if ((txIndex & 15) === 15 && performance.now() - sliceStart > YIELD_AFTER_MS) {
          await yieldToEventLoop()
          sliceStart = performance.now()
        }
        if (blockGas >= BLOCK_GAS) {
          gasExhaustedAt ??= txIndex
          const receipt: Receipt = {
            txId: tx.id,
            status: ReceiptStatus.Failed,
            errorCode: 'BLOCK_GAS_EXHAUSTED',
            errorMessage: `the block's ${BLOCK_GAS} gas was used by earlier txs`,
            returnValue: null,
            events: [],
            cost: 0,
          }
          receipts.push(receipt)
          receiptBytes.push(writeReceipt(receiptWriter.reset(), receipt).copy())
          continue
        }
        let state: TxState
        let receipt: Receipt
        // One deadline for the tx, whatever the fetch rounds (each round re-runs it from scratch).
        const deadline = limitMs === undefined ? undefined : performance.now() + limitMs
        for (let round = 0; ; round++) {
          if (!this.sandbox.ready) await this.sandbox.ensureReady()
          state = new TxState(this.sandbox, blockWrites, reads, instances, deadline)
          receipt = this.executeTx(tx, state, block, governanceReads)
          // Judged by the clock, not by the receipt: a timeout a contract caught (or a hook's) still counts.
          if (deadline !== undefined && limitMs !== undefined && performance.now() > deadline) throw new TxTimeLimitError(txIndex, limitMs)
          if (reads.missing.length === 0) break
          if (round >= MAX_FETCH_ROUNDS) {
            // Deterministic: every validator's cache starts empty per block and fills identically.
            reads.missing = []
            receipt = {
              txId: tx.id,
              status: ReceiptStatus.Failed,
              errorCode: 'TX_TOO_MANY_FETCHES',
              errorMessage: `the tx needed more than ${MAX_FETCH_ROUNDS} rounds of range reads`,
              returnValue: null,
              events: [],
              cost: TX_GAS,
            }
            break
          }
          await reads.fetchMissing()
          sliceStart = performance.now()
        }
        if (receipt.status === ReceiptStatus.Ok) {
          for (const [id, w] of state.writes) {
            blockWrites.set(id, w)
            writes.push({ stateKey: w.key, value: w.value, txIndex, txId: tx.id })
          }
          // Only governance txs write governance state: what the block's identity checks remember stays true otherwise.
          if (tx.body.contract === GOVERNANCE_CONTRACT) governanceReads.clear()
        }
        blockGas += receipt.cost
        receipts.push(receipt)
        receiptBytes.push(writeReceipt(receiptWriter.reset(), receipt).copy())
      }
    } finally {
      for (const i of instances.values()) i.dispose()
    }
    return {
      receipts,
      receiptBytes,
      writes,
      ...(gasExhaustedAt === undefined ? {} : { gasExhaustedAt }),
      ...(stoppedAt === undefined ? {} : { stoppedAt }),
    }
  }

  private executeTx(tx: SignedTx, state: TxState, block: BlockEnv, governanceReads: Map<string, Uint8Array | undefined>): Receipt {
    const { contract, method, args } = tx.body
    const failed = (code: string, message: string, cost: number): Receipt => ({
      txId: tx.id,
      status: ReceiptStatus.Failed,
      errorCode: code,
      errorMessage: message.slice(0, 500),
      returnValue: null,
      events: [],
      cost,
    })
    try {
      // Who signed, as of this block (certificate validity, revocations), and whether they may call.
      // Identity and access checks are the platform's, not the contract's: not charged, and remembered
      // for the block (the same few governance keys for every tx).
      const read = memoRead(governanceReads, (sk) => state.peek(sk))
      const user = this.identities.identify(tx, read, block.timestamp, block.height)
      if (contract !== SYSTEM_CONTRACT && contract !== GOVERNANCE_CONTRACT) this.identities.permit(user, contract, method, read)
      const frame: Frame = { contract, version: '', readOnly: false, caller: user, origin: user, txId: bytesToHex(tx.id), stack: [] }
      const out = this.invoke(contract, 'call', method, args, frame, state, block, TX_GAS, tx)
      if (!out.ok) return failed(out.code, out.message, state.cost + out.gas)
      const returnValue = out.value ?? jsonToValue(out.json, 'the return value')
      if (!encodedValueFits(returnValue, TX_LIMITS.maxReturnBytes))
        return failed('RETURN_TOO_LARGE', `a return value may be at most ${TX_LIMITS.maxReturnBytes} bytes`, state.cost + out.gas)
      return {
        txId: tx.id,
        status: ReceiptStatus.Ok,
        errorCode: '',
        errorMessage: '',
        returnValue,
        events: state.events,
        cost: state.cost + out.gas,
      }
    } catch (err) {
      if (err instanceof HostError && err.code === 'VM_NEED_DATA') return failed('VM_NEED_DATA', 'retry', 0)
      const code = err instanceof TrellisError ? err.code : 'EXECUTION_FAILED'
      return failed(code, err instanceof TrellisError ? err.message : 'execution failed', state.cost)
    }
  }

  /**
   * Runs `method` of `contract` (a call or a query) in `frame`. Failures are returned, not thrown,
   * except VM_NEED_DATA from built-ins (the caller retries). `tx` is set for top-level txs only.
   */
  private invoke(
    contract: string,
    kind: 'call' | 'query',
    method: string,
    args: Value,
    frame: Frame,
    state: TxState,
    block: BlockEnv,
    gas: number,
    tx?: SignedTx,
  ): Outcome {
    const builtin = this.builtins.get(contract)
    if (builtin !== undefined) return this.invokeBuiltin(builtin, kind, method, args, frame, state, block, tx)
    if (contract === SYSTEM_CONTRACT) {
      if (tx === undefined && kind === 'call')
        return { ok: false, code: 'CALL_NOT_ALLOWED', message: 'contracts cannot call the lifecycle contract', gas: 0 }
      return this.invokeSystem(kind, method, args, frame, state, block)
    }
    if (contract === GOVERNANCE_CONTRACT) {
      if (tx === undefined && kind === 'call')
        return { ok: false, code: 'CALL_NOT_ALLOWED', message: 'contracts cannot call the governance contract', gas: 0 }
      return this.invokeGovernance(kind, method, args, frame, state, block)
    }
    const raw = state.read(recordKey(contract))
    if (raw === undefined) return { ok: false, code: 'CONTRACT_NOT_FOUND', message: `no contract named "${contract}"`, gas: 0 }
    const rec = this.record(contract, raw)
    if (kind === 'call' && rec.status !== 'active')
      return { ok: false, code: statusCode(rec.status), message: statusMessage(contract, rec.status), gas: 0 }
    return this.runDeployed(
      rec,
      kind,
      method,
      valueToJSON(args),
      { ...frame, contract, version: rec.version, readOnly: kind === 'query' },
      state,
      block,
      gas,
    )
  }

  /**
   * The contract record stored as `raw`, decoded once while the stored bytes stay the same: every
   * call reads its contract's record, which changes only with lifecycle txs. Compared by content (a
   * copy is kept), so a changed record is always decoded again.
   */
  private record(contract: string, raw: Uint8Array): ContractRecord {
    const hit = this.records.get(contract)
    if (hit !== undefined && equalBytes(hit.raw, raw)) return hit.rec
    const rec = parseRecord(raw)
    if (this.records.size >= 1024) this.records.clear()
    this.records.set(contract, { raw: raw.slice(), rec })
    return rec
  }

  /** A contract's code (cached by hash). Not charged as a state read: loading is priced per call. */
  private code(hash: string, state: TxState): string {
    const hit = this.codeCache.get(hash)
    if (hit !== undefined) return hit
    const raw = state.peek(codeKey(hash))
    if (raw === undefined) throw new ExecError('CONTRACT_CODE_MISSING', `the code ${hash} is not in state`)
    const code = decodeValue(raw)
    if (typeof code !== 'string') throw new ExecError('CONTRACT_CODE_MISSING', `the code ${hash} is not a string`)
    this.codeCache.set(hash, code)
    return code
  }

  private runDeployed(
    rec: Pick<ContractRecord, 'codeHash'>,
    kind: 'call' | 'query' | 'init' | 'upgrade' | 'describe',
    method: string,
    args: unknown,
    frame: Frame,
    state: TxState,
    block: BlockEnv,
    gas: number,
    code?: string,
  ): Outcome {
    // A method's arguments are checked here, against its published descriptor, when its manifest
    // entry says `nodeChecked` and the check is exact; the library then tests only the patterns.
    let argsChecked = false
    if (code === undefined && (kind === 'call' || kind === 'query')) {
      const verdict = this.argsVerdict(rec.codeHash, kind, method, args, state)
      if (typeof verdict === 'string') return { ok: false, code: 'ARGS_INVALID', message: verdict, gas: 0 }
      argsChecked = verdict
    }
    const host = (meter: GasMeter): HostFunctions => this.host(frame, state, block, meter.remaining)
    const instances = state.instances
    if (code !== undefined || instances === undefined) {
      const request = entryRequestText(entryCall(kind, method, args, argsChecked, frame, block), (json) => json)
      return outcomeOf(
        state.engine.runSync(code ?? this.code(rec.codeHash, state), ENTRY, request, host, { ...defaultVmLimits, gas }, state.deadline),
      )
    }
    // One instance per deployed name: the same code under two names keeps two module states (and a
    // nested call never re-enters a running instance, since a contract cannot call itself).
    const id = `${frame.contract}\u0000${rec.codeHash}`
    let instance = instances.get(id)
    if (instance === undefined || !instance.usable) {
      instance?.dispose()
      instance = state.engine.instantiate(this.code(rec.codeHash, state))
      instances.set(id, instance)
    }
    return outcomeOf(instance.callEntry(ENTRY, entryCall(kind, method, args, argsChecked, frame, block), host, gas, state.deadline))
  }

  /** The host bridge of one running frame. */
  private host(frame: Frame, state: TxState, block: BlockEnv, remaining: () => number): HostFunctions {
    // Arguments are JSON text (the engine's string conversion stops at U+0000, which composite keys use).
    const text = (json: string, what: string): string => {
      let v: unknown
      try {
        v = JSON.parse(json)
      } catch {
        v = undefined
      }
      if (typeof v !== 'string') throw new HostError('HOST_ARG_INVALID', `${what} must be a JSON string`)
      return v
    }
    const sk = (key: string): Uint8Array => stateKey(frame.contract, key)
    const writable = (): void => {
      if (frame.readOnly) throw new HostError('STATE_READ_ONLY', 'a query cannot write state or emit events')
    }
    // State costs of a sandboxed frame are charged to its gas meter, not to the tx's base cost.
    const gasOf = (before: number): number => {
      const g = state.cost - before
      state.cost = before
      return g
    }
    const nsLength = utf8ToBytes(frame.contract).length + 1
    // One write or event, for the single-operation host functions and the batch alike (the value is
    // made after the checks that come first). `emit` returns the event's gas.
    const put = (key: string, value: () => Value): void => state.write(sk(key), encodeValue(value()))
    const emit = (name: string, data: () => Value): number => {
      if (state.events.length >= TX_LIMITS.maxEvents)
        throw new ExecError('TX_TOO_MANY_EVENTS', `a tx may emit at most ${TX_LIMITS.maxEvents} events`)
      const d = data()
      state.events.push({ contract: frame.contract, name, data: d })
      return COST.event + encodedValueLength(d) * COST.perByte
    }
    return {
      get: (keyJson) => {
        const key = text(keyJson, 'the key')
        const before = state.cost
        const raw = state.read(sk(key))
        if (raw !== undefined && frame.stack.length === 0) state.reads?.push({ contract: frame.contract, key, raw })
        return { result: raw === undefined ? null : valueJSON(raw), gas: gasOf(before) }
      },
      put: (keyJson, json) => {
        const key = text(keyJson, 'the key')
        writable()
        const before = state.cost
        put(key, () => jsonToValue(json, `the value of "${key}"`))
        return { result: null, gas: gasOf(before) }
      },
      del: (keyJson) => {
        const key = text(keyJson, 'the key')
        writable()
        const before = state.cost
        state.write(sk(key), null)
        return { result: null, gas: gasOf(before) }
      },
      range: (requestJson) => {
        const q = parseJSON(requestJson, 'the range request') as {
          prefix: unknown
          start: unknown
          end: unknown
          limit: unknown
          reverse: unknown
        }
        if (
          q === null ||
          typeof q !== 'object' ||
          typeof q.prefix !== 'string' ||
          (q.start !== null && typeof q.start !== 'string') ||
          (q.end !== null && typeof q.end !== 'string') ||
          typeof q.limit !== 'number'
        )
          throw new HostError('HOST_ARG_INVALID', 'the range request is malformed')
        const before = state.cost
        const bounds = rangeBounds(frame.contract, q.prefix, q.start as string | null, q.end as string | null)
        const rows =
          bounds === undefined ? [] : state.scan(bounds[0], bounds[1], q.reverse === true, Math.min(Math.max(1, q.limit | 0), 1001))
        const result = JSON.stringify(rows.map(([k, v]) => [bytesToUtf8(k.subarray(nsLength)), valueJSON(v)]))
        return { result, gas: gasOf(before) }
      },
      history: (keyJson, limitText) => {
        const key = text(keyJson, 'the key')
        const rows = state.source.history(sk(key), Math.min(Math.max(1, Number(limitText) | 0), 100))
        const result = JSON.stringify(
          rows.map((e) => ({ height: e.height, txId: e.txId, value: e.value === null ? null : valueToJSON(decodeValue(e.value)) })),
        )
        return { result, gas: COST.read * (1 + rows.length) }
      },
      emit: (nameJson, json) => {
        const name = text(nameJson, 'the event name')
        writable()
        return { result: null, gas: emit(name, () => jsonToValue(json, 'the event payload')) }
      },
      // A call's writes, deletions and events in one crossing, applied in order with the same checks
      // and state costs as one by one (the bridge is charged once).
      batch: (opsJson) => {
        const ops = parseJSON(opsJson, 'the write batch')
        if (!Array.isArray(ops)) throw new HostError('HOST_ARG_INVALID', 'the write batch must be an array')
        writable()
        const before = state.cost
        let eventGas = 0
        for (const op of ops as unknown[]) {
          if (!Array.isArray(op) || typeof op[1] !== 'string') throw new HostError('HOST_ARG_INVALID', 'a batched operation is malformed')
          const [kind, name, payload] = op as [unknown, string, unknown]
          if (kind === 'p' && op.length === 3) put(name, () => storable(payload, `the value of "${name}"`))
          else if (kind === 'd' && op.length === 2) state.write(sk(name), null)
          else if (kind === 'e' && op.length === 3) eventGas += emit(name, () => storable(payload, 'the event payload'))
          else throw new HostError('HOST_ARG_INVALID', 'a batched operation is malformed')
        }
        return { result: null, gas: gasOf(before) + eventGas }
      },
      call: (requestJson) => {
        const q = parseJSON(requestJson, 'the call request') as {
          contract: unknown
          method: unknown
          args: unknown
          readOnly: boolean
        } | null
        if (q === null || typeof q !== 'object') throw new HostError('HOST_ARG_INVALID', 'the call request is malformed')
        if (typeof q.contract !== 'string' || typeof q.method !== 'string')
          throw new HostError('CALL_INVALID', 'contract and method must be strings')
        if (frame.stack.length + 1 >= MAX_CALL_DEPTH) throw new HostError('CALL_TOO_DEEP', `calls may nest at most ${MAX_CALL_DEPTH} deep`)
        if (q.contract === frame.contract || frame.stack.includes(q.contract))
          throw new HostError('CALL_REENTRANT', `"${q.contract}" is already running in this call chain`)
        if (frame.readOnly && !q.readOnly) throw new HostError('STATE_READ_ONLY', 'a query can only query other contracts')
        const child: Frame = {
          contract: q.contract,
          version: '',
          readOnly: q.readOnly,
          caller: { kind: 'contract', id: frame.contract, org: null, role: null, attributes: {} },
          origin: frame.origin,
          txId: frame.txId,
          stack: [...frame.stack, frame.contract],
        }
        let args: Value
        try {
          args = valueFromJSON(q.args ?? null)
        } catch (err) {
          throw new ExecError(
            'VALUE_INVALID',
            `the call arguments is not a storable value: ${err instanceof TrellisError ? err.message : 'invalid'}`,
          )
        }
        const out = this.invoke(q.contract, q.readOnly ? 'query' : 'call', q.method, args, child, state, block, remaining())
        // A failed nested call fails the whole tx with the callee's code (its writes are in the same journal).
        if (!out.ok) throw new HostError(out.code, `${q.contract}.${q.method}: ${out.message}`, out.gas)
        return { result: out.json, gas: out.gas }
      },
    }
  }

  private invokeBuiltin(
    c: Contract,
    kind: 'call' | 'query',
    method: string,
    args: Value,
    frame: Frame,
    state: TxState,
    block: BlockEnv,
    tx: SignedTx | undefined,
  ): Outcome {
    let result: JsonValue = null
    const out = this.native(state, () => {
      const m = builtinMethod(c, method, kind)
      const reason = m.validate(args)
      if (reason !== undefined) throw new ExecError('ARGS_INVALID', `invalid arguments for ${c.name}.${method}: ${reason}`)
      const ctx: ContractContext = {
        contract: c.name,
        tx:
          tx === undefined
            ? {
                id: new Uint8Array(32),
                idHex: frame.txId ?? '',
                signer: { alg: 'p256', bytes: new Uint8Array(33) },
                signerId: frame.origin.id,
              }
            : { id: tx.id, idHex: bytesToHex(tx.id), signer: tx.body.signer, signerId: frame.origin.id },
        block,
        get: (key) => {
          const raw = state.read(stateKey(c.name, key))
          if (raw !== undefined && frame.stack.length === 0) state.reads?.push({ contract: c.name, key, raw })
          return raw === undefined ? undefined : decodeValue(raw)
        },
        put: (key, value) => {
          if (frame.readOnly) throw new ExecError('STATE_READ_ONLY', 'a query cannot write state')
          state.write(stateKey(c.name, key), encodeValue(value))
        },
        delete: (key) => {
          if (frame.readOnly) throw new ExecError('STATE_READ_ONLY', 'a query cannot write state')
          state.write(stateKey(c.name, key), null)
        },
        emit: (name, data) => {
          if (frame.readOnly) throw new ExecError('STATE_READ_ONLY', 'a query cannot emit events')
          if (state.events.length >= TX_LIMITS.maxEvents)
            throw new ExecError('TX_TOO_MANY_EVENTS', `a tx may emit at most ${TX_LIMITS.maxEvents} events`)
          state.cost += COST.event + encodedValueLength(data) * COST.perByte
          state.events.push({ contract: c.name, name, data })
        },
      }
      result = valueToJSON(m.run(ctx, args))
      return ''
    })
    if (!out.ok) return out
    // The value as a sandboxed contract's would be: through its JSON form (so a `{ $bytes }` map is
    // bytes), without printing and parsing the JSON text unless a caller asks for it. `storable` may
    // return `j` itself (valueFromParsedJSON): it is this call's own fresh copy, and neither getter's
    // result is changed afterwards.
    const j = result
    let v: Value | undefined
    return {
      ok: true,
      gas: out.gas,
      get value() {
        v ??= storable(j, 'the return value')
        return v
      },
      get json() {
        return JSON.stringify(j)
      },
    }
  }

  /**
   * Runs native (built-in or lifecycle) code as one outcome: its state costs become the outcome's
   * gas (the tx's base cost stays what it was), its failures a coded outcome. VM_NEED_DATA passes
   * through: the tx is retried once the data is fetched.
   */
  private native(state: TxState, run: () => string): Outcome {
    const before = state.cost
    try {
      const json = run()
      return { ok: true, json, gas: state.cost - before }
    } catch (err) {
      if (err instanceof HostError && err.code === 'VM_NEED_DATA') throw err
      const code = err instanceof TrellisError ? err.code : 'EXECUTION_FAILED'
      return { ok: false, code, message: err instanceof TrellisError ? err.message : 'execution failed', gas: state.cost - before }
    } finally {
      state.cost = before
    }
  }

  // ---- the lifecycle contract ------------------------------------------------------------------

  private invokeSystem(kind: 'call' | 'query', method: string, args: Value, frame: Frame, state: TxState, block: BlockEnv): Outcome {
    return this.native(state, () => {
      const m = SYSTEM_METHODS[method]
      if (m === undefined || m.kind !== kind)
        throw new ExecError(
          'METHOD_NOT_FOUND',
          `contract "${SYSTEM_CONTRACT}" has no ${kind === 'call' ? 'callable' : 'query'} method "${method}"`,
        )
      const a = valueToJSON(args) as Record<string, unknown>
      const reason = checkArgs(m.args, a)
      if (reason !== undefined) throw new ExecError('ARGS_INVALID', `invalid arguments for ${SYSTEM_CONTRACT}.${method}: ${reason}`)
      if (kind === 'call')
        this.lifecycleApproval(
          method,
          a,
          frame.origin,
          (sk) => state.read(sk),
          block.timestamp,
          (sk) => state.write(sk, null, true),
        )
      return JSON.stringify(this.system(method, a, frame, state, block))
    })
  }

  // ---- the governance contract -----------------------------------------------------------------

  private invokeGovernance(kind: 'call' | 'query', method: string, args: Value, frame: Frame, state: TxState, block: BlockEnv): Outcome {
    return this.native(state, () => {
      const m = GOVERNANCE_METHODS[method]
      if (m === undefined || m.kind !== kind)
        throw new ExecError(
          'METHOD_NOT_FOUND',
          `contract "${GOVERNANCE_CONTRACT}" has no ${kind === 'call' ? 'callable' : 'query'} method "${method}"`,
        )
      const a = valueToJSON(args) as Record<string, unknown>
      const reason = checkArgs(m.args, a)
      if (reason !== undefined) throw new ExecError('ARGS_INVALID', `invalid arguments for ${GOVERNANCE_CONTRACT}.${method}: ${reason}`)
      const store = governanceStore(state)
      const result =
        kind === 'query'
          ? this.governance.query(method, a, store, block.timestamp)
          : this.governance.call(method, a, store, {
              caller: frame.origin,
              height: block.height,
              timestamp: block.timestamp,
              txId: frame.txId ?? '',
            })
      return JSON.stringify(result)
    })
  }

  private manifest(codeHash: string, read: (sk: Uint8Array) => Uint8Array | undefined): ContractManifest {
    const hit = this.manifestCache.get(codeHash)
    if (hit !== undefined) return hit
    const raw = read(manifestKey(codeHash))
    if (raw === undefined) throw new ExecError('CONTRACT_CODE_MISSING', `the manifest of code ${codeHash} is not in state`)
    const m = valueToJSON(decodeValue(raw)) as unknown as ContractManifest
    this.manifestCache.set(codeHash, m)
    return m
  }

  /**
   * True when `args` match the descriptor `method` publishes (patterns aside), why not when they do
   * not, false when the node leaves the check to the contract: no manifest or no such method (the
   * contract reports it), a method whose manifest entry does not say `nodeChecked` (a schema of the
   * contract's own, or a contract built before the flag), a descriptor the node's check does not
   * implement exactly.
   */
  private argsVerdict(codeHash: string, kind: 'call' | 'query', method: string, args: unknown, state: TxState): boolean | string {
    let manifest: ContractManifest
    try {
      manifest = this.manifest(codeHash, (sk) => state.peek(sk))
    } catch (err) {
      // The code's own load reports a missing manifest; a state fetch (VM_NEED_DATA) goes up.
      if (err instanceof ExecError && err.code === 'CONTRACT_CODE_MISSING') return false
      throw err
    }
    const m = manifest.methods.find((x) => x.name === method && x.kind === kind)
    if (m === undefined || m.nodeChecked !== true) return false
    const d = m.args as { readonly type?: unknown }
    const v = argsVerdict(d, args === null && d.type === 'object' ? {} : args)
    return v === undefined ? true : v === 'undecided' ? false : v
  }

  /** A record with its manifest, as the `get` and `list` queries return it. */
  private described(rec: ContractRecord, state: TxState): ContractRecord & { manifest: ContractManifest } {
    return { ...rec, manifest: this.manifest(rec.codeHash, (sk) => state.peek(sk)) }
  }

  private readRecord(name: string, state: TxState): ContractRecord | undefined {
    const raw = state.read(recordKey(name))
    return raw === undefined ? undefined : parseRecord(raw)
  }

  private writeRecord(rec: ContractRecord, state: TxState): void {
    state.write(recordKey(rec.name), encodeValue(valueFromJSON(rec)), true)
  }

  private system(method: string, a: Record<string, unknown>, frame: Frame, state: TxState, block: BlockEnv): unknown {
    const name = a.name as string
    if (method === 'get') {
      const rec = this.readRecord(name, state)
      return rec === undefined ? null : this.described(rec, state)
    }
    if (method === 'list') {
      const bounds = rangeBounds(SYSTEM_CONTRACT, 'contract:', null, null) as [Uint8Array, Uint8Array]
      return state.scan(bounds[0], bounds[1], false, 1000).map(([, raw]) => this.described(parseRecord(raw), state))
    }
    const existing = this.readRecord(name, state)
    const emit = (event: string, data: Record<string, unknown>): void => {
      state.events.push({ contract: SYSTEM_CONTRACT, name: event, data: valueFromJSON(data) })
    }
    if (method === 'deploy' || method === 'upgrade') {
      if (method === 'deploy') {
        if (this.builtins.has(name) || name === SYSTEM_CONTRACT || name === GOVERNANCE_CONTRACT || existing !== undefined)
          throw new ExecError('CONTRACT_EXISTS', `a contract named "${name}" already exists`)
      } else {
        if (existing === undefined) throw new ExecError('CONTRACT_NOT_FOUND', `no deployed contract named "${name}"`)
        if (existing.status === 'frozen') throw new ExecError('CONTRACT_FROZEN', `contract "${name}" is frozen: it cannot be upgraded`)
      }
      const code = a.code as string
      const codeHash = bytesToHex(sha256(utf8ToBytes(code)))
      // The manifest is stored (and cached) per code hash: it must depend on the code alone, so the
      // code describes itself read-only, with a fixed environment (no name, caller, height or time).
      const described = this.runDeployed(
        { codeHash },
        'describe',
        '',
        null,
        { contract: '', version: '', readOnly: true, caller: DESCRIBE_IDENTITY, origin: DESCRIBE_IDENTITY, txId: null, stack: [] },
        state,
        { height: 0, timestamp: 0, chainId: block.chainId },
        TX_GAS,
        code,
      )
      state.cost += described.gas
      if (!described.ok)
        throw new ExecError('CONTRACT_LOAD_FAILED', `the code does not load as a contract: ${described.code} ${described.message}`)
      const manifest = JSON.parse(described.json) as ContractManifest
      if (existing !== undefined && existing.version === manifest.version)
        throw new ExecError(
          'CONTRACT_VERSION_UNCHANGED',
          `contract "${name}" is already at version ${manifest.version}: an upgrade must change the version`,
        )
      if (existing !== undefined && existing.codeHash === codeHash)
        throw new ExecError('CONTRACT_CODE_UNCHANGED', 'the upgrade carries the same code')
      if (state.read(codeKey(codeHash)) === undefined) {
        state.write(codeKey(codeHash), encodeValue(code), true)
        state.write(manifestKey(codeHash), encodeValue(valueFromJSON(manifest)), true)
      }
      const rec: ContractRecord = {
        name,
        version: manifest.version,
        codeHash,
        status: existing?.status ?? 'active',
        deployer: existing?.deployer ?? frame.origin.id,
        deployedHeight: existing?.deployedHeight ?? block.height,
        updatedHeight: block.height,
      }
      this.writeRecord(rec, state)
      // The init/upgrade hook runs on the new code, as the contract, for the admin who sent the tx.
      const hookArgs = (method === 'deploy' ? a.initArgs : a.upgradeArgs) ?? null
      const hook = this.runDeployed(
        { codeHash },
        method === 'deploy' ? 'init' : 'upgrade',
        '',
        hookArgs,
        { ...frame, contract: name, version: rec.version, readOnly: false, stack: [SYSTEM_CONTRACT] },
        state,
        block,
        TX_GAS,
        code,
      )
      state.cost += hook.gas
      if (!hook.ok) throw new ExecError(hook.code, `the ${method === 'deploy' ? 'init' : 'upgrade'} hook failed: ${hook.message}`)
      emit(method === 'deploy' ? 'ContractDeployed' : 'ContractUpgraded', {
        name,
        version: rec.version,
        codeHash,
        ...(existing === undefined ? {} : { previousVersion: existing.version }),
      })
      return rec
    }
    if (existing === undefined) throw new ExecError('CONTRACT_NOT_FOUND', `no deployed contract named "${name}"`)
    const to: Record<string, Status> = { pause: 'paused', resume: 'active', freeze: 'frozen' }
    const status = to[method] as Status
    if (existing.status === 'frozen') throw new ExecError('CONTRACT_FROZEN', `contract "${name}" is frozen for good`)
    if (existing.status === status) throw new ExecError('CONTRACT_STATUS_UNCHANGED', `contract "${name}" is already ${status}`)
    const rec: ContractRecord = { ...existing, status, updatedHeight: block.height }
    this.writeRecord(rec, state)
    emit('ContractStatusChanged', { name, status, ...(typeof a.reason === 'string' ? { reason: a.reason } : {}) })
    return rec
  }

  // ---- queries ---------------------------------------------------------------------------------

  readAccess(state: StateReader): 'public' | 'members' {
    return this.identities.config((sk) => state.getLatest(sk)).readAccess
  }

  checkCertificate(
    certificate: Uint8Array,
    state: StateReader,
    at: AdmissionPoint,
    options: { readonly ignoreExpiry?: boolean } = {},
  ): Reader {
    const cert = parseCertificate(certificate)
    // Ignoring expiry: judged at a time inside the certificate's validity (CAs must cover it too).
    const now = options.ignoreExpiry === true ? Math.min(Math.max(at.now, cert.notBefore), cert.notAfter) : at.now
    return { ...this.identities.check(cert, (sk) => state.getLatest(sk), now, at.height), kind: 'user' }
  }

  authenticateReader(certificate: Uint8Array, state: StateReader, at: AdmissionPoint): Reader {
    let cert: Certificate
    try {
      cert = parseCertificate(certificate)
    } catch (err) {
      throw new TrellisError<NodeErrorType>(
        { code: 'READ_AUTH_INVALID', reason: 'certificate' },
        `the read request's certificate does not parse: ${err instanceof TrellisError ? err.message : 'invalid'}`,
      )
    }
    return { ...this.identities.reader(cert, (sk) => state.getLatest(sk), at.now, at.height), kind: 'user' }
  }

  async query(contract: string, method: string, args: Value, view: QueryView, reader?: Reader): Promise<QueryOutcome> {
    const reads = new Reads(view)
    const block: BlockEnv = { height: view.height, timestamp: view.timestamp, chainId: view.chainId }
    const caller: CallerJSON =
      reader === undefined
        ? { kind: 'user', id: '', org: null, role: null, attributes: {} }
        : { ...reader, attributes: { ...reader.attributes } }
    const frame: Frame = { contract, version: '', readOnly: true, caller, origin: caller, txId: null, stack: [] }
    const deadline = performance.now() + QUERY_TIME_LIMIT_MS
    for (let attempt = 0; ; attempt++) {
      if (!this.querySandbox.ready) await this.querySandbox.ensureReady()
      const state = new TxState(this.querySandbox, new Map(), reads, undefined, deadline)
      state.reads = []
      let out: Outcome
      try {
        out = this.invoke(contract, 'query', method, args, frame, state, block, QUERY_GAS)
      } catch (err) {
        if (!(err instanceof HostError && err.code === 'VM_NEED_DATA')) throw err
        out = { ok: false, code: 'VM_NEED_DATA', message: '', gas: 0 }
      }
      if (reads.missing.length > 0) {
        if (attempt >= 64) fail({ code: 'QUERY_TOO_MANY_READS', contract, method }, 'the query reads too much state to be answered')
        if (performance.now() > deadline)
          fail(
            { code: 'QUERY_TIMEOUT', contract, method, limitMs: QUERY_TIME_LIMIT_MS },
            `the query ran past its ${QUERY_TIME_LIMIT_MS} ms limit`,
          )
        await reads.fetchMissing()
        continue
      }
      if (!out.ok) {
        const status = out.code === 'CONTRACT_NOT_FOUND' || out.code === 'METHOD_NOT_FOUND' ? 'notFound' : 'failed'
        if (out.code === 'VM_TIMEOUT')
          fail(
            { code: 'QUERY_TIMEOUT', contract, method, limitMs: QUERY_TIME_LIMIT_MS },
            `the query ran past its ${QUERY_TIME_LIMIT_MS} ms limit`,
          )
        if (out.code === 'ARGS_INVALID') fail({ code: 'ARGS_INVALID', contract, method, reason: out.message }, out.message)
        if (out.code === 'CONTRACT_NOT_FOUND') fail({ code: 'CONTRACT_NOT_FOUND', contract }, out.message)
        if (out.code === 'METHOD_NOT_FOUND' && status === 'notFound') fail({ code: 'METHOD_NOT_FOUND', contract, method }, out.message)
        fail({ code: 'QUERY_FAILED', contract, method, errorCode: out.code }, `${out.code}: ${out.message}`)
      }
      const result = out.value ?? jsonToValue(out.json, 'the query result')
      const encoded = encodeValue(result)
      const proven = state.reads.find((r) => equalBytes(r.raw, encoded))
      return {
        result,
        cost: state.cost + out.gas,
        ...(proven === undefined ? {} : { provenKey: { contract: proven.contract, key: proven.key } }),
      }
    }
  }
}

function builtinMethod(c: Contract, method: string, kind: ContractMethod['kind']): ContractMethod {
  const m = Object.hasOwn(c.methods, method) ? c.methods[method] : undefined
  if (m === undefined || m.kind !== kind) {
    throw new TrellisError<NodeErrorType>(
      { code: 'METHOD_NOT_FOUND', contract: c.name, method },
      `contract "${c.name}" has no ${kind === 'call' ? 'callable' : 'query'} method "${method}"`,
    )
  }
  return m
}

function notApproved(method: string, name: string, codeHash: string | null, signer: string): string {
  const what = `${method} of "${name}"${codeHash === null ? '' : ` with code ${codeHash.slice(0, 16)}…`}`
  return `${what} needs a governance approval (a passed contract.approve proposal, used by an admin of a member organisation) or a genesis admin key; ${signer} has neither`
}

/** `read`, remembering answers by key in `cache`. */
function memoRead(cache: Map<string, Uint8Array | undefined>, read: Read): Read {
  return (sk) => {
    const id = byteKey(sk)
    if (cache.has(id)) return cache.get(id)
    const v = read(sk)
    cache.set(id, v)
    return v
  }
}

/** Governance state seen through a tx's journal. */
function governanceStore(state: TxState): GovernanceStore {
  const nsLength = utf8ToBytes(GOVERNANCE_CONTRACT).length + 1
  return {
    read: (sk) => state.read(sk),
    write: (sk, v) => state.write(sk, v, true),
    scan: (prefix, after, limit) => {
      const bounds = rangeBounds(GOVERNANCE_CONTRACT, prefix, after === null ? null : `${after}\u0000`, null)
      if (bounds === undefined) return []
      return state.scan(bounds[0], bounds[1], false, limit).map(([k, v]) => [bytesToUtf8(k.subarray(nsLength)), v])
    },
    emit: (name, data) => {
      state.events.push({ contract: GOVERNANCE_CONTRACT, name, data: valueFromJSON(data) })
    },
  }
}

function statusCode(status: Status): string {
  return status === 'paused' ? 'CONTRACT_PAUSED' : 'CONTRACT_FROZEN'
}

function statusMessage(name: string, status: Status): string {
  return status === 'paused'
    ? `contract "${name}" is paused by the consortium: calls are rejected until it is resumed (queries still work)`
    : `contract "${name}" is frozen: it accepts no more calls (queries still work)`
}

const nameArg = { type: 'string', minLength: 2, maxLength: 64, pattern: CONTRACT_NAME.source }
const objectArgs = (properties: Record<string, unknown>, required: string[]) => ({ type: 'object', properties, required })
/** deploy and upgrade: a name, the code, and optional arguments for the code's hook. */
const codeArgs = (hookArgs: string) =>
  objectArgs({ name: nameArg, code: { type: 'string', minLength: 1 }, [hookArgs]: { type: 'optional', inner: { type: 'any' } } }, [
    'name',
    'code',
  ])
/** pause and freeze: a name and an optional reason recorded with the change. */
const statusArgs = objectArgs({ name: nameArg, reason: { type: 'optional', inner: { type: 'string', maxLength: 256 } } }, ['name'])
/** Who a contract's code describes itself to (a fixed environment: see the deploy path). */
const DESCRIBE_IDENTITY: CallerJSON = { kind: 'contract', id: SYSTEM_CONTRACT, org: null, role: null, attributes: {} }

const SYSTEM_METHODS: Record<string, { kind: 'call' | 'query'; description: string; args: unknown }> = {
  deploy: {
    kind: 'call',
    description: 'Deploy a contract artifact under a new name; runs its init hook (admin approval required)',
    args: codeArgs('initArgs'),
  },
  upgrade: {
    kind: 'call',
    description: 'Replace a contract’s code with a new version, keeping its state; runs its upgrade hook (admin approval required)',
    args: codeArgs('upgradeArgs'),
  },
  pause: { kind: 'call', description: 'Reject calls to a contract until it is resumed (admin approval required)', args: statusArgs },
  resume: {
    kind: 'call',
    description: 'Accept calls to a paused contract again (admin approval required)',
    args: objectArgs({ name: nameArg }, ['name']),
  },
  freeze: {
    kind: 'call',
    description: 'Stop a contract for good: no more calls or upgrades; its state stays readable (admin approval required)',
    args: statusArgs,
  },
  get: {
    kind: 'query',
    description: 'The record of a deployed contract: version, code hash, status, manifest',
    args: objectArgs({ name: nameArg }, ['name']),
  },
  list: { kind: 'query', description: 'Every deployed contract’s record', args: objectArgs({}, []) },
}

const SYSTEM_INFO: ContractInfo = {
  name: SYSTEM_CONTRACT,
  version: '1.0.0',
  kind: 'system',
  status: 'active',
  codeHash: null,
  description: 'The contract lifecycle: deploy, upgrade, pause, resume and freeze contracts',
  methods: Object.entries(SYSTEM_METHODS).map(([name, m]) => ({ name, kind: m.kind, description: m.description, args: m.args })),
}

const proposalId = { type: 'integer', minimum: 1 }
const GOVERNANCE_METHODS: Record<string, { kind: 'call' | 'query'; description: string; args: unknown }> = {
  propose: {
    kind: 'call',
    description: 'Propose a change to the consortium (an admin of a member organisation; counts as its yes vote)',
    args: objectArgs(
      {
        action: { type: 'record', values: { type: 'any' } },
        description: { type: 'optional', inner: { type: 'string', maxLength: 1024 } },
      },
      ['action'],
    ),
  },
  vote: {
    kind: 'call',
    description: 'Vote for or against an open proposal, once per organisation; the deciding vote executes it',
    args: objectArgs({ id: proposalId, approve: { type: 'boolean' } }, ['id', 'approve']),
  },
  cancel: {
    kind: 'call',
    description: 'Withdraw an open proposal (its proposing organisation)',
    args: objectArgs({ id: proposalId }, ['id']),
  },
  proposal: { kind: 'query', description: 'One proposal with its votes and status', args: objectArgs({ id: proposalId }, ['id']) },
  proposals: {
    kind: 'query',
    description: 'Proposals in order, paged (after: the last id of the previous page)',
    args: objectArgs(
      {
        after: { type: 'optional', inner: { type: 'integer', minimum: 0 } },
        limit: { type: 'optional', inner: { type: 'integer', minimum: 1, maximum: 100 } },
        status: { type: 'optional', inner: { type: 'enum', values: ['open', 'executed', 'rejected', 'failed', 'cancelled', 'expired'] } },
      },
      [],
    ),
  },
  org: {
    kind: 'query',
    description: 'One organisation with its CA certificates',
    args: objectArgs({ id: { type: 'string', maxLength: 64 } }, ['id']),
  },
  orgs: { kind: 'query', description: 'Every organisation, members and removed ones', args: objectArgs({}, []) },
  config: {
    kind: 'query',
    description: 'Policies, proposal lifetime, certificate requirement and the action types',
    args: objectArgs({}, []),
  },
  revocations: { kind: 'query', description: 'Every revoked certificate with the height it takes effect', args: objectArgs({}, []) },
  expiring: {
    kind: 'query',
    description: "Member organisations' CA certificates expiring within withinMs (default 30 days) of the block time, soonest first",
    args: objectArgs({ withinMs: { type: 'optional', inner: { type: 'integer', minimum: 0 } } }, []),
  },
  params: {
    kind: 'query',
    description: 'The genesis chain parameters and every decided change, with the height it takes effect',
    args: objectArgs({}, []),
  },
  validators: {
    kind: 'query',
    description: 'The genesis validator set and every decided change, with the height it takes effect',
    args: objectArgs({}, []),
  },
  permissions: {
    kind: 'query',
    description: "A contract's access rules by method",
    args: objectArgs({ contract: { type: 'string', maxLength: 64 } }, ['contract']),
  },
}

const GOVERNANCE_INFO: ContractInfo = {
  name: GOVERNANCE_CONTRACT,
  version: '1.0.0',
  kind: 'system',
  status: 'active',
  codeHash: null,
  description:
    'Consortium governance: organisations, certificate revocation, contract approvals, permissions and policies, by proposal and vote',
  methods: Object.entries(GOVERNANCE_METHODS).map(([name, m]) => ({ name, kind: m.kind, description: m.description, args: m.args })),
}
