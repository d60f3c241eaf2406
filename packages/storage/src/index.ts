/**
 * @trellis/storage — the ordered key-value store the ledger persists to, with a LevelDB backend
 * (classic-level) and an in-memory one. Both pass the same conformance suite.
 */

export type { StorageError, StorageErrorType } from './errors.js'
export { createLevelStore } from './level/levelStore.js'
export { createMemoryStore } from './memory/memoryStore.js'
export type { LevelStoreOptions } from './options.js'
export { defaultLevelStoreOptions } from './options.js'
export type { BatchOp, KVReader, KVSnapshot, KVStore, RangeOptions } from './types.js'
