import type { PeerAddress } from '@trellis/p2p'
import { type ConsensusDriverOptions, defaultConsensusDriverOptions } from './consensus/driver.js'
import { defaultMempoolOptions, type MempoolOptions } from './mempool/mempool.js'

/** Where this node meets the other validators. Without it the node runs a single-validator chain. */
export interface NetworkOptions {
  /** p2p listen address. */
  readonly host: string
  readonly port: number
  /** The other nodes: their keys (the validator set's) and p2p addresses. */
  readonly peers: readonly PeerAddress[]
}

export interface NodeOptions {
  /** Holds genesis.json, keys/ and db/. */
  readonly dataDir: string
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  readonly blockIntervalMs: number
  /**
   * This producer's block size: a block is cut as soon as this many txs wait, and holds at most this
   * many (never more than the chain's maxBlockTxs). Smaller blocks bound how long one block's
   * execution holds the node; with execution overlapping the previous block's write, they cost little.
   */
  readonly targetBlockTxs: number
  readonly createEmptyBlocks: boolean
  /** fsync each block commit; off only for throwaway dev chains. */
  readonly syncWrites: boolean
  /** Signature-verification worker threads (default: one per core). */
  readonly verifyWorkers: number
  /**
   * Nice value given to the process's other threads (signature workers, GC helpers, libuv's pool,
   * LevelDB's compaction) so that the main thread, the node's serial path, wins the CPU (ADR 0016).
   * Linux only, and only when the node runs on the process's main thread. 0 (the default for an
   * embedded node: they are the host application's threads too) leaves them alone; `trellis`
   * nodes use 10.
   */
  readonly backgroundNiceness: number
  readonly mempool: MempoolOptions
  /** Largest accepted HTTP body (batches of txs). */
  readonly maxBodyBytes: number
  /** Default and maximum wait for `wait=true` submissions. */
  readonly waitTimeoutMs: number
  /** Origins allowed to call the API from browsers (`*` = any; empty = none). */
  readonly corsOrigins: readonly string[]
  /** Multi-validator networking and BFT consensus; absent for a single-validator chain. */
  readonly network?: NetworkOptions
  readonly consensus: Omit<ConsensusDriverOptions, 'targetBlockTxs' | 'blockIntervalMs' | 'syncWrites'>
}

export const defaultNodeOptions: Omit<NodeOptions, 'dataDir'> = {
  host: '127.0.0.1',
  port: 7700,
  // 100 ms: at 4,000 notary tx/s the commit latency p99 was 452 ms against 642 ms with 200 ms blocks,
  // and a saturated node cuts full blocks either way (same throughput, docs/benchmarks.md).
  blockIntervalMs: 100,
  targetBlockTxs: 2000,
  createEmptyBlocks: false,
  syncWrites: true,
  verifyWorkers: 2,
  backgroundNiceness: 0,
  mempool: defaultMempoolOptions,
  maxBodyBytes: 32 * 1024 * 1024,
  waitTimeoutMs: 30_000,
  corsOrigins: ['*'],
  consensus: {
    timeouts: defaultConsensusDriverOptions.timeouts,
    emptyBlockIntervalMs: defaultConsensusDriverOptions.emptyBlockIntervalMs,
    gossipIntervalMs: defaultConsensusDriverOptions.gossipIntervalMs,
    maxClockDriftMs: defaultConsensusDriverOptions.maxClockDriftMs,
  },
}
