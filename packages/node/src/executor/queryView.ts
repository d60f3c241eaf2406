import { type ChainStore, scanBudget } from '../chain/chainStore.js'
import type { QueryView } from './types.js'

/**
 * The committed state a query runs against: the chain's head (synchronous reads and range scans) or
 * a past height (reads and range scans from the per-key history). Height 0 is the genesis state.
 */
export function chainQueryView(chain: ChainStore, height: number = chain.head.height): QueryView {
  const atHead = height === chain.head.height
  // The history records this query's range scans may read, in all.
  const budget = scanBudget()
  return {
    height,
    timestamp: height === 0 ? chain.genesis.genesisTime : (chain.getBlock(height)?.header.timestamp ?? chain.genesis.genesisTime),
    chainId: chain.genesis.chainId,
    ...(atHead
      ? { getSync: (sk: Uint8Array) => chain.getLatest(sk), scan: chain.scanLatest.bind(chain) }
      : {
          scan: (lower: Uint8Array, upper: Uint8Array, reverse: boolean, limit: number) =>
            chain.scanAt(lower, upper, reverse, limit, height, budget),
        }),
    get: async (sk) => (await chain.getValueAt(sk, height))?.value ?? undefined,
    history: (sk, limit) => chain.history(sk, limit, { height: height + 1, txIndex: 0 }),
  }
}
