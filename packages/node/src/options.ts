import { defaultMempoolOptions, type MempoolOptions } from './mempool/mempool.js'

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
  readonly mempool: MempoolOptions
  /** Largest accepted HTTP body (batches of txs). */
  readonly maxBodyBytes: number
  /** Default and maximum wait for `wait=true` submissions. */
  readonly waitTimeoutMs: number
  /** Origins allowed to call the API from browsers (`*` = any; empty = none). */
  readonly corsOrigins: readonly string[]
}

export const defaultNodeOptions: Omit<NodeOptions, 'dataDir'> = {
  host: '127.0.0.1',
  port: 7700,
  blockIntervalMs: 200,
  targetBlockTxs: 2000,
  createEmptyBlocks: false,
  syncWrites: true,
  verifyWorkers: 2,
  mempool: defaultMempoolOptions,
  maxBodyBytes: 32 * 1024 * 1024,
  waitTimeoutMs: 30_000,
  corsOrigins: ['*'],
}
