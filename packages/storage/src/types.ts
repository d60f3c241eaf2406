/** One operation of an atomic batch: put a value under a key, or delete a key. */
export type BatchOp =
  { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array } | { readonly type: 'del'; readonly key: Uint8Array }

/**
 * A key range for {@link KVReader.iterate}. Bounds compare keys by unsigned byte order. When both
 * `gt` and `gte` (or `lt` and `lte`) are given, the inclusive one wins, as in abstract-level.
 */
export interface RangeOptions {
  /** Only keys strictly greater than this. */
  gt?: Uint8Array
  /** Only keys greater than or equal to this. */
  gte?: Uint8Array
  /** Only keys strictly less than this. */
  lt?: Uint8Array
  /** Only keys less than or equal to this. */
  lte?: Uint8Array
  /** Yield entries from the highest key down. */
  reverse?: boolean
  /** At most this many entries (a non-negative integer, or `Infinity`); with `reverse`, the highest ones. */
  limit?: number
}

/** Read access to an ordered key-value space. */
export interface KVReader {
  /**
   * The value stored under `key`, or `undefined`. Synchronous (LevelDB: classic-level's `getSync`).
   * @throws TrellisError STORAGE_CLOSED once the store (or snapshot) is closed.
   */
  get(key: Uint8Array): Uint8Array | undefined
  /**
   * The values of `keys`, in the same order, all read from one consistent view.
   * @throws TrellisError STORAGE_CLOSED once the store (or snapshot) is closed.
   */
  getMany(keys: readonly Uint8Array[]): (Uint8Array | undefined)[]
  /**
   * True when a value is stored under `key`.
   * @throws TrellisError STORAGE_CLOSED once the store (or snapshot) is closed.
   */
  has(key: Uint8Array): boolean
  /**
   * Entries `[key, value]` in `options`' range, ordered by unsigned byte order of keys. The iterable
   * can be iterated more than once; each iteration reads from a consistent view fixed when it begins
   * (first `next()`), so writes made meanwhile neither show up nor break it.
   * @throws TrellisError STORAGE_INVALID_ARGUMENT for a bad range; STORAGE_CLOSED when the store (or
   * snapshot) is closed before or during iteration.
   */
  iterate(options?: RangeOptions): AsyncIterable<[Uint8Array, Uint8Array]>
}

/** A consistent, read-only, point-in-time view of a store; close it to release what it pins. */
export interface KVSnapshot extends KVReader {
  /** Releases the snapshot; idempotent. Closing the store closes its snapshots too. */
  close(): Promise<void>
}

/** An ordered key-value store with atomic batches and snapshots. */
export interface KVStore extends KVReader {
  /**
   * Stores `value` under `key`.
   * @throws TrellisError STORAGE_CLOSED, STORAGE_WRITE_FAILED
   */
  put(key: Uint8Array, value: Uint8Array): Promise<void>
  /**
   * Removes `key` (no error when absent).
   * @throws TrellisError STORAGE_CLOSED, STORAGE_WRITE_FAILED
   */
  delete(key: Uint8Array): Promise<void>
  /**
   * Applies all `ops` atomically, in order (a later op on the same key wins). With `sync: true` the
   * batch is durable (fsync) when the promise resolves.
   * @throws TrellisError STORAGE_INVALID_ARGUMENT (nothing applied), STORAGE_CLOSED, STORAGE_WRITE_FAILED
   */
  write(ops: readonly BatchOp[], options?: { sync?: boolean }): Promise<void>
  /**
   * A consistent view of the store as of now, unaffected by later writes.
   * @throws TrellisError STORAGE_CLOSED
   */
  snapshot(): KVSnapshot
  /** Closes the store and its snapshots; idempotent. Later use throws STORAGE_CLOSED. */
  close(): Promise<void>
}
