import type { PublicKey } from '@trellis/crypto'
import { type Block, type BlockHeader, headerHash, merkleRoot, type SignedTx, stateKeyHash, stateValueHash } from '@trellis/ledger'
import { equalBytes } from '@trellis/utils'
import { byteKey } from '../byteKey.js'
import { ShardedMap } from '../shardedMap.js'
import { type BlockExecution, type Executor, type StateReader, TxTimeLimitError } from '../executor/types.js'
import type { BlockCommit, ChainHead, ChainStore } from './chainStore.js'

/**
 * Wall-clock limits of one tx's execution (the gas meter's safety net, see ExecuteOptions): a block
 * producer leaves out a tx that runs longer than `produce`; a validator refuses a proposal with a tx
 * that runs longer than `check` on its machine (more, for slower machines). Committed blocks are
 * applied without a limit.
 */
export const TX_TIME_LIMIT_MS = { produce: 2_000, check: 8_000 } as const

/**
 * A producer starts no further tx once its block has executed for this long (the rest waits for the
 * next block): it keeps a proposal well inside the consensus propose timeout (3 s).
 */
export const BLOCK_TIME_LIMIT_MS = 1_500

/** Replay protection at inclusion time: txs already on the ledger, or twice in the list, are left out. */
export function dropCommitted(chain: ChainStore, txs: readonly SignedTx[]): SignedTx[] {
  if (txs.length === 0) return []
  const heights = chain.committedHeights(txs.map((t) => t.id))
  const seen = new Set<string>()
  return txs.filter((t, i) => {
    const k = byteKey(t.id)
    if (heights[i] !== undefined || seen.has(k)) return false
    seen.add(k)
    return true
  })
}

/** A block executed on top of its parent, with everything its commit writes (except the certificate). */
export interface BuiltBlock {
  readonly block: Block
  readonly hash: Uint8Array
  readonly exec: BlockExecution
  readonly treeWrites: BlockCommit['treeWrites']
  readonly treeStale: readonly Uint8Array[]
  readonly setKeyHashes: readonly Uint8Array[]
  /** Txs left out because they ran past the time limit (producing only). */
  readonly excluded: readonly SignedTx[]
}

export interface BuildInput {
  readonly chain: ChainStore
  readonly executor: Executor
  /** The parent: the chain's head, or the block being written when production is pipelined. */
  readonly parent: ChainHead
  /** State as of the parent. */
  readonly state: StateReader
  readonly txs: readonly SignedTx[]
  readonly timestamp: number
  readonly proposer: PublicKey
  readonly validatorSetHash: Uint8Array
  /**
   * Producing (not checking) a block: txs the block's gas could not cover are left out (they stay
   * in the mempool for the next block) and the block is executed again without them.
   */
  readonly trimToGas?: boolean
  /**
   * Producing: a tx still running after this many ms is left out (and reported in `excluded`).
   * Checking a proposal: see {@link rebuildBlock}.
   */
  readonly txTimeLimitMs?: number
  /** Producing: see {@link BLOCK_TIME_LIMIT_MS}. */
  readonly blockTimeLimitMs?: number
}

/**
 * Executes txs as the child of `parent` and computes the header the protocol defines (docs/spec):
 * tx and receipt Merkle roots, the state root after the block, the validator-set hash. Producing a
 * block and checking someone else's are the same computation: see {@link rebuildBlock}.
 */
export async function buildBlock(i: BuildInput): Promise<BuiltBlock> {
  const { chain, parent, timestamp } = i
  let txs = i.txs
  const height = parent.height + 1
  const chainId = chain.genesis.chainId
  const excluded: SignedTx[] = []
  const options = {
    ...(i.txTimeLimitMs === undefined ? {} : { txTimeLimitMs: i.txTimeLimitMs }),
    ...(i.trimToGas === true && i.blockTimeLimitMs !== undefined ? { blockTimeLimitMs: i.blockTimeLimitMs } : {}),
  }
  const execute = async (): Promise<BlockExecution> => {
    for (;;) {
      try {
        return await i.executor.executeBlock({ chainId, height, timestamp, txs }, i.state, options)
      } catch (err) {
        if (!(err instanceof TxTimeLimitError) || i.trimToGas !== true) throw err
        excluded.push(txs[err.txIndex] as SignedTx)
        txs = txs.filter((_, k) => k !== err.txIndex)
      }
    }
  }
  let exec = await execute()
  if (i.trimToGas === true) {
    // Execution is sequential, so the results for a prefix of the txs are the prefix of the results:
    // leaving out the txs the block's gas or time could not cover needs no second execution (those
    // past the gas wrote nothing).
    const cut = Math.min(exec.gasExhaustedAt ?? txs.length, exec.stoppedAt ?? txs.length)
    if (cut < txs.length || exec.stoppedAt !== undefined) {
      txs = txs.slice(0, cut)
      exec = { receipts: exec.receipts.slice(0, cut), receiptBytes: exec.receiptBytes.slice(0, cut), writes: exec.writes }
    }
  }
  // The last write of each key; the tree sorts its updates, so their order does not matter.
  const last = new ShardedMap<{ keyHash: Uint8Array; valueHash: Uint8Array | null }>(exec.writes.length)
  for (const w of exec.writes) {
    const keyHash = stateKeyHash(w.stateKey)
    last.set(byteKey(keyHash), { keyHash, valueHash: w.value === null ? null : stateValueHash(w.value) })
  }
  const updates: Array<{ keyHash: Uint8Array; valueHash: Uint8Array | null }> = []
  last.forEach((u) => updates.push(u))
  const tree = chain.tree.update(parent.height, height, updates)
  const header: BlockHeader = {
    chainId,
    height,
    prevHash: parent.hash,
    timestamp,
    proposer: i.proposer,
    txRoot: merkleRoot(txs.map((t) => t.bytes)),
    receiptRoot: merkleRoot(exec.receiptBytes),
    stateRoot: tree.root,
    validatorSetHash: i.validatorSetHash,
    txCount: txs.length,
  }
  const setKeyHashes = updates.filter((u) => u.valueHash !== null).map((u) => u.keyHash)
  return {
    block: { header, txs },
    hash: headerHash(header),
    exec,
    treeWrites: tree.writes,
    treeStale: tree.staleNodeKeys,
    setKeyHashes,
    excluded,
  }
}

/**
 * Re-executes a block proposed by another validator on top of `parent` and returns it when the
 * header it claims is exactly the one re-execution yields; otherwise the reason it is invalid.
 */
export async function rebuildBlock(
  i: Omit<BuildInput, 'txs' | 'timestamp' | 'proposer' | 'trimToGas'> & { readonly block: Block },
): Promise<BuiltBlock | { readonly invalid: string }> {
  const h = i.block.header
  if (h.height !== i.parent.height + 1) return { invalid: `height ${h.height} does not follow ${i.parent.height}` }
  if (!equalBytes(h.prevHash, i.parent.hash)) return { invalid: 'prevHash is not the parent block' }
  if (h.chainId !== i.chain.genesis.chainId) return { invalid: `chain id ${h.chainId}` }
  if (h.timestamp <= i.parent.timestamp) return { invalid: 'timestamp does not increase' }
  if (h.txCount !== i.block.txs.length) return { invalid: 'txCount does not match the txs' }
  let built: BuiltBlock
  try {
    built = await buildBlock({ ...i, txs: i.block.txs, timestamp: h.timestamp, proposer: h.proposer, trimToGas: false })
  } catch (err) {
    if (err instanceof TxTimeLimitError) return { invalid: err.message }
    throw err
  }
  const got = built.block.header
  for (const field of ['txRoot', 'receiptRoot', 'stateRoot', 'validatorSetHash'] as const) {
    if (!equalBytes(got[field], h[field])) return { invalid: `${field} differs from re-execution` }
  }
  if (!equalBytes(built.hash, headerHash(h))) return { invalid: 'header differs from re-execution' }
  return built
}
