import type { PublicKey } from '@trellis/crypto'
import type { Receipt, SignedTx, Value } from '@trellis/ledger'
import { TrellisError } from '@trellis/utils'
import type { StateWrite } from '../chain/chainStore.js'

/** What a contract method sees. The block timestamp is the only clock; there is no randomness. */
export interface ContractContext {
  readonly contract: string
  readonly tx: { readonly id: Uint8Array; readonly idHex: string; readonly signer: PublicKey; readonly signerId: string }
  readonly block: { readonly height: number; readonly timestamp: number; readonly chainId: string }
  get(key: string): Value | undefined
  put(key: string, value: Value): void
  delete(key: string): void
  emit(name: string, data: Value): void
}

export type MethodKind = 'call' | 'query'

export interface ContractMethod {
  readonly kind: MethodKind
  readonly description: string
  /** Returns why `args` are invalid, or undefined. Runs at admission and again at execution. */
  validate(args: Value): string | undefined
  run(ctx: ContractContext, args: Value): Value
}

/** A contract known to the executor (built in now; the contract runtime adds deployed ones). */
export interface Contract {
  readonly name: string
  readonly version: string
  readonly methods: Readonly<Record<string, ContractMethod>>
}

/**
 * A business-rule failure raised by a contract. The tx is committed with a failed receipt carrying
 * this code; its writes are discarded.
 */
export class ContractError extends TrellisError<{ code: string }> {
  constructor(code: string, message: string) {
    super({ code }, message)
    this.name = 'ContractError'
  }
}

/** Read access to committed state (the latest block, or the tip being built on). */
export interface StateReader {
  getLatest(stateKey: Uint8Array): Uint8Array | undefined
  /** Latest values of the state keys in `[lower, upper)`, in byte order (descending with `reverse`). */
  scanLatest(lower: Uint8Array, upper: Uint8Array, reverse: boolean, limit: number): Promise<Array<[Uint8Array, Uint8Array]>>
}

/** A committed key's past value, newest first (see ChainStore.history). */
export interface KeyHistoryEntry {
  readonly height: number
  readonly txId: Uint8Array
  readonly value: Uint8Array | null
}

/** The committed state a read-only query runs against: the head or a past height. */
export interface QueryView {
  readonly height: number
  readonly timestamp: number
  readonly chainId: string
  /** Synchronous reads: available at the head. */
  readonly getSync?: (stateKey: Uint8Array) => Uint8Array | undefined
  get(stateKey: Uint8Array): Promise<Uint8Array | undefined>
  /** Ordered scans (at a past height, from the per-key history, within a record budget). */
  readonly scan?: StateReader['scanLatest']
  history(stateKey: Uint8Array, limit: number): Promise<KeyHistoryEntry[]>
}

/** An authenticated reader (a certificate holder of a member organisation), as contracts see callers. */
export interface Reader {
  readonly kind: 'user'
  readonly id: string
  readonly org: string | null
  readonly role: string | null
  readonly attributes: Readonly<Record<string, string>>
}

/** A query's result; `provenKey` names the state entry the result is exactly equal to, if any. */
export interface QueryOutcome {
  readonly result: Value
  readonly cost: number
  readonly provenKey?: { readonly contract: string; readonly key: string }
}

export interface BlockInput {
  readonly chainId: string
  readonly height: number
  readonly timestamp: number
  readonly txs: readonly SignedTx[]
}

export interface BlockExecution {
  readonly receipts: readonly Receipt[]
  /** Canonical receipt bytes, the leaves of the receipt root. */
  readonly receiptBytes: readonly Uint8Array[]
  /** State changes of successful txs, in execution order. */
  readonly writes: readonly StateWrite[]
  /**
   * Index of the first tx that was not run because the block's gas was spent (its receipt, and
   * those of the txs after it, fail with BLOCK_GAS_EXHAUSTED). A block producer leaves such txs for
   * the next block; a block that contains them is still valid.
   */
  readonly gasExhaustedAt?: number
  /** With ExecuteOptions.blockTimeLimitMs: txs from this index on were not executed (no receipts). */
  readonly stoppedAt?: number
}

export interface ContractInfo {
  readonly name: string
  readonly version: string
  /** `builtin`: compiled into the node; `system`: the lifecycle contract; `deployed`: user code. */
  readonly kind: 'builtin' | 'system' | 'deployed'
  readonly status: 'active' | 'paused' | 'frozen'
  readonly codeHash: string | null
  readonly description: string
  readonly methods: ReadonlyArray<{
    readonly name: string
    readonly kind: MethodKind
    readonly description: string
    /** The argument schema (a contract manifest descriptor); null when not declared. */
    readonly args: unknown
  }>
}

export interface ExecuteOptions {
  /**
   * Wall-clock limit of one tx (nested calls included). A tx still running then makes executeBlock
   * throw {@link TxTimeLimitError}: a safety net for work the gas meter prices badly, used when
   * producing a block (the tx is left out) or checking a proposal (it is refused) — never when
   * applying a committed block.
   */
  readonly txTimeLimitMs?: number
  /**
   * Producing only: once the block's execution has taken this long, no further tx is started; the
   * execution covers the txs before `stoppedAt` and the producer leaves the rest for the next block.
   */
  readonly blockTimeLimitMs?: number
}

/** A tx passed the wall-clock limit of {@link ExecuteOptions.txTimeLimitMs}. */
export class TxTimeLimitError extends TrellisError<{ code: 'TX_TIME_LIMIT'; txIndex: number; limitMs: number }> {
  constructor(
    readonly txIndex: number,
    readonly limitMs: number,
  ) {
    super({ code: 'TX_TIME_LIMIT', txIndex, limitMs }, `tx ${txIndex} of the block ran past the ${limitMs} ms execution limit`)
  }
}

/**
 * Executes transactions deterministically: same block + same prior state ⇒ same receipts and writes
 * on every validator.
 */
export interface Executor {
  /** Contracts known at `state`: built-in, system and deployed ones. */
  contracts(state: StateReader): Promise<ContractInfo[]>
  /** Cheap admission checks (contract and method exist, arguments are well-formed). @throws TrellisError */
  precheck(tx: SignedTx, state: StateReader, at: { readonly height: number; readonly now: number }): void
  /**
   * Executes a block's txs in order. Asynchronous so that a long block can yield to the event loop
   * and fetch ordered ranges from storage; the result must not depend on where it yields.
   */
  executeBlock(input: BlockInput, state: StateReader, options?: ExecuteOptions): Promise<BlockExecution>
  /**
   * Runs a read-only method against committed state, for `caller` (an authenticated reader) or
   * anonymously. @throws TrellisError
   */
  query(contract: string, method: string, args: Value, view: QueryView, caller?: Reader): Promise<QueryOutcome>
  /** Whether API reads must be signed by a member (governance `readAccess`); absent: public. */
  readAccess?(state: StateReader): 'public' | 'members'
  /** The identity a certificate gives at the head (CA, validity, revocation). @throws TrellisError CERT_* */
  checkCertificate?(
    certificate: Uint8Array,
    state: StateReader,
    at: { readonly height: number; readonly now: number },
    options?: { readonly ignoreExpiry?: boolean },
  ): Reader
  /** The reader a read request's certificate identifies, at the head. @throws TrellisError CERT_* | READ_NOT_PERMITTED */
  authenticateReader?(certificate: Uint8Array, state: StateReader, at: { readonly height: number; readonly now: number }): Reader
}
