import { publicKeyToString } from '@trellis/crypto'
import {
  type ContractEvent,
  decodeValue,
  encodedValueLength,
  encodeValue,
  type Receipt,
  ReceiptStatus,
  type SignedTx,
  stateKey,
  type Value,
  Writer,
  writeReceipt,
} from '@trellis/ledger'
import { bytesToHex, TrellisError } from '@trellis/utils'
import type { StateWrite } from '../chain/chainStore.js'
import type { NodeErrorType } from '../errors.js'
import {
  type BlockExecution,
  type BlockInput,
  type Contract,
  type ContractContext,
  ContractError,
  type ContractInfo,
  type ContractMethod,
  type Executor,
  type StateReader,
} from './types.js'
import { byteKey } from '../byteKey.js'

// Receipts are encoded one at a time; one growing scratch buffer avoids a new one per tx.
const receiptWriter = new Writer(1024)

/** Deterministic cost schedule (work units). Counts operations and bytes, never time. */
export const COST = { base: 1000, read: 100, write: 200, perByte: 1, event: 100 } as const

/** Receipt-level limits: a tx that exceeds them fails deterministically. */
export const TX_LIMITS = { maxWrites: 1000, maxEvents: 100, maxValueBytes: 64 * 1024, maxReturnBytes: 64 * 1024 } as const

function fail(type: NodeErrorType, message: string): never {
  throw new TrellisError<NodeErrorType>(type, message)
}

/** One tx's view of state: reads see the block's earlier writes; its own writes are journaled. */
class TxState {
  readonly writes = new Map<string, { key: Uint8Array; value: Uint8Array | null }>()
  readonly events: ContractEvent[] = []
  cost: number = COST.base

  constructor(
    private readonly block: Map<string, { key: Uint8Array; value: Uint8Array | null }>,
    private readonly committed: StateReader,
  ) {}

  read(sk: Uint8Array): Uint8Array | undefined {
    this.cost += COST.read
    const id = byteKey(sk)
    const w = this.writes.get(id) ?? this.block.get(id)
    const raw = w !== undefined ? (w.value ?? undefined) : this.committed.getLatest(sk)
    if (raw !== undefined) this.cost += raw.length * COST.perByte
    return raw
  }

  write(sk: Uint8Array, value: Uint8Array | null): void {
    if (this.writes.size >= TX_LIMITS.maxWrites)
      throw new ContractLimitError('TX_TOO_MANY_WRITES', `a tx may write at most ${TX_LIMITS.maxWrites} keys`)
    if (value !== null && value.length > TX_LIMITS.maxValueBytes) {
      throw new ContractLimitError('VALUE_TOO_LARGE', `a state value may be at most ${TX_LIMITS.maxValueBytes} bytes`)
    }
    this.cost += COST.write + (value?.length ?? 0) * COST.perByte
    this.writes.set(byteKey(sk), { key: sk, value })
  }
}

class ContractLimitError extends TrellisError<{ code: string }> {
  constructor(code: string, message: string) {
    super({ code }, message)
  }
}

function receiptOf(tx: SignedTx, fields: Omit<Receipt, 'txId'>): Receipt {
  return { txId: tx.id, ...fields }
}

/** Longest stretch of execution before yielding to the event loop (a large block runs for 100s of ms). */
const YIELD_AFTER_MS = 8

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** The executor for contracts compiled into the node (the notary today). */
export class BuiltinExecutor implements Executor {
  private readonly registry = new Map<string, Contract>()

  constructor(contracts: readonly Contract[]) {
    for (const c of contracts) this.registry.set(c.name, c)
  }

  contracts(): ContractInfo[] {
    return [...this.registry.values()].map((c) => ({
      name: c.name,
      version: c.version,
      methods: Object.entries(c.methods).map(([name, m]) => ({ name, kind: m.kind, description: m.description })),
    }))
  }

  private method(contract: string, method: string, kind: ContractMethod['kind']): ContractMethod {
    const c = this.registry.get(contract)
    if (c === undefined) fail({ code: 'CONTRACT_NOT_FOUND', contract }, `no contract named "${contract}"`)
    const m = Object.hasOwn(c.methods, method) ? c.methods[method] : undefined
    if (m === undefined || m.kind !== kind) {
      fail(
        { code: 'METHOD_NOT_FOUND', contract, method },
        `contract "${contract}" has no ${kind === 'call' ? 'callable' : 'query'} method "${method}"`,
      )
    }
    return m
  }

  precheck(tx: SignedTx): void {
    const { contract, method, args } = tx.body
    const m = this.method(contract, method, 'call')
    const reason = m.validate(args)
    if (reason !== undefined)
      fail({ code: 'ARGS_INVALID', contract, method, reason }, `invalid arguments for ${contract}.${method}: ${reason}`)
  }

  async executeBlock(input: BlockInput, committed: StateReader): Promise<BlockExecution> {
    const blockWrites = new Map<string, { key: Uint8Array; value: Uint8Array | null }>()
    const receipts: Receipt[] = []
    const receiptBytes: Uint8Array[] = []
    const writes: StateWrite[] = []
    const blockCtx = { height: input.height, timestamp: input.timestamp, chainId: input.chainId }
    let sliceStart = performance.now()
    for (let txIndex = 0; txIndex < input.txs.length; txIndex++) {
      const tx = input.txs[txIndex] as SignedTx
      if ((txIndex & 63) === 63 && performance.now() - sliceStart > YIELD_AFTER_MS) {
        await yieldToEventLoop()
        sliceStart = performance.now()
      }
      const state = new TxState(blockWrites, committed)
      const receipt = this.executeTx(tx, state, blockCtx)
      if (receipt.status === ReceiptStatus.Ok) {
        for (const [id, w] of state.writes) {
          blockWrites.set(id, w)
          writes.push({ stateKey: w.key, value: w.value, txIndex, txId: tx.id })
        }
      }
      receipts.push(receipt)
      receiptBytes.push(writeReceipt(receiptWriter.reset(), receipt).finish())
    }
    return { receipts, receiptBytes, writes }
  }

  private executeTx(tx: SignedTx, state: TxState, block: ContractContext['block']): Receipt {
    const { contract, method, args } = tx.body
    let m: ContractMethod
    try {
      m = this.method(contract, method, 'call')
    } catch (err) {
      const e = err as TrellisError
      return receiptOf(tx, {
        status: ReceiptStatus.Failed,
        errorCode: e.code,
        errorMessage: e.message,
        returnValue: null,
        events: [],
        cost: state.cost,
      })
    }
    const ctx = this.context(contract, tx, state, block)
    try {
      const reason = m.validate(args)
      if (reason !== undefined) throw new ContractError('ARGS_INVALID', `invalid arguments for ${contract}.${method}: ${reason}`)
      const returnValue = m.run(ctx, args)
      if (encodedValueLength(returnValue) > TX_LIMITS.maxReturnBytes) {
        throw new ContractLimitError('RETURN_TOO_LARGE', `a return value may be at most ${TX_LIMITS.maxReturnBytes} bytes`)
      }
      return receiptOf(tx, {
        status: ReceiptStatus.Ok,
        errorCode: '',
        errorMessage: '',
        returnValue,
        events: state.events,
        cost: state.cost,
      })
    } catch (err) {
      // Business failures carry their own code; anything else is a contract bug, reported the same
      // way on every validator because execution is deterministic.
      const code = err instanceof TrellisError ? err.code : 'EXECUTION_FAILED'
      const message = err instanceof Error ? err.message : 'contract failed'
      return receiptOf(tx, {
        status: ReceiptStatus.Failed,
        errorCode: code,
        errorMessage: message,
        returnValue: null,
        events: [],
        cost: state.cost,
      })
    }
  }

  private context(contract: string, tx: SignedTx | undefined, state: TxState, block: ContractContext['block']): ContractContext {
    return {
      contract,
      tx:
        tx === undefined
          ? { id: new Uint8Array(32), idHex: '', signer: { alg: 'p256', bytes: new Uint8Array(33) }, signerId: '' }
          : txInfo(tx),
      block,
      get: (key) => {
        const raw = state.read(stateKey(contract, key))
        return raw === undefined ? undefined : decodeValue(raw)
      },
      put: (key, value) => state.write(stateKey(contract, key), encodeValue(value)),
      delete: (key) => state.write(stateKey(contract, key), null),
      emit: (name, data) => {
        if (state.events.length >= TX_LIMITS.maxEvents)
          throw new ContractLimitError('TX_TOO_MANY_EVENTS', `a tx may emit at most ${TX_LIMITS.maxEvents} events`)
        state.cost += COST.event + encodedValueLength(data) * COST.perByte
        state.events.push({ contract, name, data })
      },
    }
  }

  query(contract: string, method: string, args: Value, committed: StateReader, block: ContractContext['block']): Value {
    const m = this.method(contract, method, 'query')
    const reason = m.validate(args)
    if (reason !== undefined)
      fail({ code: 'ARGS_INVALID', contract, method, reason }, `invalid arguments for ${contract}.${method}: ${reason}`)
    const state = new TxState(new Map(), committed)
    const ctx = this.context(contract, undefined, state, block)
    const readOnly: ContractContext = {
      ...ctx,
      put: () => {
        throw new ContractError('QUERY_WRITE', 'a query cannot write state')
      },
      delete: () => {
        throw new ContractError('QUERY_WRITE', 'a query cannot write state')
      },
    }
    try {
      return m.run(readOnly, args)
    } catch (err) {
      const code = err instanceof TrellisError ? err.code : 'EXECUTION_FAILED'
      return fail({ code: 'QUERY_FAILED', contract, method, errorCode: code }, err instanceof Error ? err.message : 'query failed')
    }
  }
}

function txInfo(tx: SignedTx): ContractContext['tx'] {
  return { id: tx.id, idHex: bytesToHex(tx.id), signer: tx.body.signer, signerId: publicKeyToString(tx.body.signer) }
}
