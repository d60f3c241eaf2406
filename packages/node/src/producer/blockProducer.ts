import { type PrivateKey, type PublicKey, sign } from '@trellis/crypto'
import {
  type Block,
  type ChainParams,
  type CommitCertificate,
  type Receipt,
  type ValidatorSet,
  VoteType,
  validatorSetHash,
  voteSignBytes,
} from '@trellis/ledger'
import type { NodeErrorType } from '../errors.js'
import { bytesToHex, equalBytes, TrellisError } from '@trellis/utils'
import type { Logger } from 'pino'
import type { ChainStore } from '../chain/chainStore.js'
import type { Executor } from '../executor/types.js'
import type { Mempool } from '../mempool/mempool.js'
import type { NodeMetrics } from '../metrics.js'
import { buildBlock, dropCommitted, TX_TIME_LIMIT_MS, BLOCK_TIME_LIMIT_MS } from '../chain/blockBuilder.js'

/** A block as it was committed, handed to subscribers (event streams, waiters, metrics). */
export interface CommittedBlock {
  readonly block: Block
  readonly hash: Uint8Array
  readonly certificate: CommitCertificate
  readonly receipts: readonly Receipt[]
}

export interface BlockProducerOptions {
  /** Longest wait between a tx's arrival and its block being cut, when blocks are not full. */
  readonly blockIntervalMs: number
  /** Cut a block as soon as this many txs wait; take at most this many (capped by the chain's maxBlockTxs). */
  readonly targetBlockTxs: number
  readonly createEmptyBlocks: boolean
  /** fsync every block commit (durable across power loss, not only process crashes). */
  readonly syncWrites: boolean
}

export interface BlockProducerModules {
  readonly chain: ChainStore
  readonly mempool: Mempool
  readonly executor: Executor
  readonly params: ChainParams
  /** The parameters in force at a height, when governance may change them (default: `params`). */
  readonly paramsAt?: (height: number) => ChainParams
  readonly validators: ValidatorSet
  readonly validatorKey: PrivateKey
  readonly validatorPublicKey: PublicKey
  readonly validatorIndex: number
  readonly clock: () => number
  readonly logger: Logger
  readonly metrics: NodeMetrics | null
  readonly onCommit: (b: CommittedBlock) => void
}

/**
 * Single-validator block production: cuts a block when the mempool holds a full block or when the
 * interval since the last block has passed, executes it, computes its roots, certifies it with the
 * validator's precommit signature and commits it atomically. The BFT engine replaces the
 * certification step with 2f+1 precommits; everything else stays.
 */
export class BlockProducer {
  private running = false
  private loop: Promise<void> | undefined
  private wake: (() => void) | undefined
  private lastBlockAt = 0
  private readonly validatorSetHash: Uint8Array
  /** The write of the last built block, with its post-commit steps; rejects if the write failed. */
  private writing: Promise<CommittedBlock> | undefined
  /** The write of the block before it (possibly still in progress too). */
  private writingBelow: Promise<CommittedBlock> | undefined
  /** The first write that failed: production stops there, and every later build reports it. */
  private writeFailure: { readonly error: unknown } | undefined

  constructor(
    private readonly options: BlockProducerOptions,
    private readonly m: BlockProducerModules,
  ) {
    this.validatorSetHash = validatorSetHash(m.validators)
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.loop = this.run().catch((err) => {
      this.m.logger.fatal({ err }, 'block production stopped')
      this.running = false
      throw err
    })
  }

  /** Stops after the block in progress (if any) is committed. */
  async stop(): Promise<void> {
    this.running = false
    this.wake?.()
    await this.loop?.catch(() => undefined)
    await this.writingBelow?.catch(() => undefined)
    await this.writing?.catch(() => undefined)
  }

  /** Wakes the producer when txs arrive. */
  notify(): void {
    this.wake?.()
  }

  /** Resolves when the production loop ends (on stop or a fatal error). */
  get done(): Promise<void> {
    return this.loop ?? Promise.resolve()
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      function done() {
        clearTimeout(t)
        resolve()
      }
      this.wake = done
    })
  }

  private get blockTxs(): number {
    const params = this.m.paramsAt?.(this.m.chain.tip.height + 1) ?? this.m.params
    return Math.max(1, Math.min(this.options.targetBlockTxs, params.maxBlockTxs))
  }

  private async run(): Promise<void> {
    while (this.running) {
      const { mempool, clock } = this.m
      if (mempool.size === 0) {
        await this.sleep(this.options.createEmptyBlocks ? this.options.blockIntervalMs : 1000)
        if (mempool.size === 0 && !this.options.createEmptyBlocks) continue
      }
      const since = clock() - this.lastBlockAt
      if (this.running && mempool.size < this.blockTxs && since < this.options.blockIntervalMs) {
        await this.sleep(this.options.blockIntervalMs - since)
        // Wake-ups by new txs only matter once a full block is waiting.
        while (this.running && mempool.size < this.blockTxs && clock() - this.lastBlockAt < this.options.blockIntervalMs) {
          await this.sleep(this.options.blockIntervalMs - (clock() - this.lastBlockAt))
        }
      }
      if (!this.running) break
      this.lastBlockAt = clock()
      await this.buildNext()
    }
    await this.writingBelow
    await this.writing
  }

  /** Builds, certifies and commits one block from the mempool, resolving once it is durable. Exposed for tests. */
  async produce(): Promise<CommittedBlock | undefined> {
    const built = await this.buildNext()
    return built === undefined ? undefined : await built.writing
  }

  private throwIfWriteFailed(): void {
    if (this.writeFailure !== undefined) throw this.writeFailure.error
  }

  /**
   * Builds the next block on the chain's tip — which may be the previous block while its batches are
   * still being written: execution of block N+1 overlaps the storage writes of block N — then starts
   * its write once block N-1 is durable (block N's may still be in progress). Resolves when the write
   * has started, with the promise of the committed block. A failed write rejects that promise and every
   * later build.
   */
  private async buildNext(): Promise<{ readonly writing: Promise<CommittedBlock> } | undefined> {
    this.throwIfWriteFailed()
    const { chain, mempool, executor, clock, metrics } = this.m
    const started = performance.now()
    const tip = chain.tip
    const height = tip.height + 1
    const params = this.m.paramsAt?.(height) ?? this.m.params
    const timestamp = Math.max(clock(), tip.timestamp + 1)
    const reaped = mempool.reap(this.blockTxs, params.maxBlockBytes, timestamp)
    const txs = dropCommitted(chain, reaped)
    if (txs.length === 0 && !this.options.createEmptyBlocks) {
      mempool.committed(reaped)
      return undefined
    }
    const chainId = chain.genesis.chainId
    // When a block under it fails to be written meanwhile, that failure is the one to report.
    const under = [this.writingBelow, this.writing]
    const { block, hash, exec, treeWrites, treeStale, setKeyHashes, excluded } = await buildBlock({
      chain,
      executor,
      parent: tip,
      state: chain.tipState,
      txs,
      timestamp,
      proposer: this.m.validatorPublicKey,
      validatorSetHash: this.validatorSetHash,
      trimToGas: true,
      txTimeLimitMs: TX_TIME_LIMIT_MS.produce,
      blockTimeLimitMs: BLOCK_TIME_LIMIT_MS,
    }).catch(async (err: unknown) => {
      for (const u of under) await u
      throw err
    })
    if (excluded.length > 0) {
      mempool.committed(excluded)
      for (const tx of excluded)
        this.m.logger.warn(
          { tx: bytesToHex(tx.id), limitMs: TX_TIME_LIMIT_MS.produce },
          'tx dropped: its execution ran past the time limit',
        )
    }
    // Txs the block's gas could not cover wait for the next block.
    // (Built blocks keep the given txs' order and objects, so when none was left out there is none to find.)
    const included = block.txs.length + excluded.length === txs.length ? undefined : new Set(block.txs)
    const waiting = included === undefined ? [] : txs.filter((t) => !included.has(t) && !excluded.includes(t))
    if (waiting.length > 0) mempool.release(waiting)
    // What this block settles: all it reaped but the txs released for a later block (which may be
    // reaped again meanwhile and must stay in flight for that block).
    const settled = waiting.length === 0 ? reaped : reaped.filter((t) => !waiting.includes(t))
    const signature = sign(this.m.validatorKey, voteSignBytes({ type: VoteType.Precommit, chainId, height, round: 0, blockHash: hash }))
    const certificate: CommitCertificate = {
      height,
      round: 0,
      blockHash: hash,
      signatures: [{ validatorIndex: this.m.validatorIndex, signature }],
    }
    const executed = performance.now()
    // Two blocks are written at a time: this one's archive batch can be written while the previous
    // block's main batch is (the chain store orders them). More would only queue up.
    const before = this.writingBelow
    if (before !== undefined) await before
    // A block written meanwhile failed (possibly the one this block is built on): nothing more is
    // committed, even on a tip that looks intact, since that block's txs are still in flight.
    this.throwIfWriteFailed()
    // The block this one is built on left the tip: its write failed, and that is the error to report.
    if (!equalBytes(chain.tip.hash, block.header.prevHash)) {
      throw (
        chain.lastWriteFailure ??
        new TrellisError<NodeErrorType>(
          { code: 'CHAIN_CORRUPT', reason: `block ${height - 1} left the tip` },
          'the parent block left the chain tip',
        )
      )
    }
    const commit = async (): Promise<CommittedBlock> => {
      const writeStarted = performance.now()
      await chain.commit(
        { block, hash, certificate, receiptBytes: exec.receiptBytes, writes: exec.writes, treeWrites, treeStale, setKeyHashes },
        { sync: this.options.syncWrites },
      )
      mempool.committed(settled)
      const committed: CommittedBlock = { block, hash, certificate, receipts: exec.receipts }
      const done = performance.now()
      metrics?.blockCommitted(txs.length, (executed - started) / 1000, (done - writeStarted) / 1000)
      this.m.logger.debug(
        { height, txs: txs.length, execMs: Math.round(executed - started), commitMs: Math.round(done - writeStarted) },
        'block committed',
      )
      this.m.onCommit(committed)
      return committed
    }
    const writing = commit()
    // Failures surface where the promise is awaited (the next builds, run() or stop()).
    writing.catch((error: unknown) => {
      this.writeFailure ??= { error }
    })
    this.writingBelow = this.writing
    this.writing = writing
    // Wrapped: an async function returning the promise itself would wait for it.
    return { writing }
  }
}
