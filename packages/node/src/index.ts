/** @trellis/node — the assembled Trellis node: chain store, mempool, executor, block production, HTTP API. */

export { createApiServer, NODE_VERSION } from './api/server.js'
export type { BlockCommit, ChainHead, HistoryEntry, StateWrite } from './chain/chainStore.js'
export { ChainStore } from './chain/chainStore.js'
export type { InitDataDirOptions } from './dataDir.js'
export { dataDirPaths, initDataDir, loadGenesis, loadValidatorKey } from './dataDir.js'
export type { NodeErrorType } from './errors.js'
export {
  codeKey,
  ContractExecutor,
  type ContractExecutorOptions,
  type ContractManifest,
  type ContractRecord,
  BLOCK_GAS,
  COST,
  manifestKey,
  recordKey,
  SYSTEM_CONTRACT,
  TX_GAS,
  TX_LIMITS,
} from './executor/contractExecutor.js'
export { notaryContract, notaryKey } from './executor/notary.js'
export { chainQueryView } from './executor/queryView.js'
export type {
  BlockExecution,
  BlockInput,
  Contract,
  ContractContext,
  ContractInfo,
  ContractMethod,
  ExecuteOptions,
  Executor,
  KeyHistoryEntry,
  QueryOutcome,
  QueryView,
  StateReader,
} from './executor/types.js'
export { ContractError, TxTimeLimitError } from './executor/types.js'
export type { MempoolOptions } from './mempool/mempool.js'
export { defaultMempoolOptions, Mempool } from './mempool/mempool.js'
export { NodeMetrics } from './metrics.js'
export { MALLOC_TUNABLES, nodeProcessEnv } from './processEnv.js'
export type { CommitNotice, NodeModules, SubmitResult } from './node.js'
export { asTrellisError, TrellisNode } from './node.js'
export type { NodeOptions } from './options.js'
export { defaultNodeOptions } from './options.js'
export type { CommittedBlock } from './producer/blockProducer.js'
export { BlockProducer } from './producer/blockProducer.js'
export type { StartNodeOptions } from './startNode.js'
export { startNode } from './startNode.js'
export { SigVerifier } from './verify/sigVerifier.js'
export { BLOCK_TIME_LIMIT_MS, buildBlock, type BuiltBlock, rebuildBlock, TX_TIME_LIMIT_MS } from './chain/blockBuilder.js'
export { ConsensusDriver, type ConsensusDriverOptions, defaultConsensusDriverOptions } from './consensus/driver.js'
export { GuardedSigner, SignStep } from './consensus/signer.js'
export type { AddNetworkNodeOptions, InitNetworkOptions, NetworkFile, NetworkNode } from './networkDir.js'
export { addNetworkNode, initNetworkDir, loadNetworkFile, NETWORK_FILE, networkOptionsFor, orgFiles, ORGS_DIR } from './networkDir.js'
export * from './governance/index.js'
export type { NetworkOptions } from './options.js'
