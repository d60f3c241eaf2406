/** Options of {@link createLevelStore}. */
export interface LevelStoreOptions {
  /** Directory of the LevelDB database; created when missing. */
  path: string
  /** Size of LevelDB's LRU block cache, in bytes. */
  cacheSizeBytes?: number
  /** Size of the in-memory write buffer (memtable) before it is flushed to a table file, in bytes. */
  writeBufferSizeBytes?: number
}

/** Defaults for the optional {@link LevelStoreOptions}. */
export const defaultLevelStoreOptions: Readonly<Required<Omit<LevelStoreOptions, 'path'>>> = {
  cacheSizeBytes: 32 * 1024 * 1024,
  writeBufferSizeBytes: 64 * 1024 * 1024,
}
