import { toUint8Array } from '@trellis/utils'
import type { BatchOperation, GetOptions, IteratorOptions, Snapshot } from 'classic-level'
import { ClassicLevel } from 'classic-level'
import { closedError, invalidArgument, storageError } from '../errors.js'
import type { LevelStoreOptions } from '../options.js'
import { defaultLevelStoreOptions } from '../options.js'
import type { BatchOp, KVReader, KVSnapshot, KVStore, RangeOptions } from '../types.js'
import type { NormalizedRange } from '../validate.js'
import { assertBatch, assertKey, assertKeys, assertValue, normalizeRange } from '../validate.js'

type Db = ClassicLevel<Uint8Array, Uint8Array>
type Entry = [Uint8Array, Uint8Array]
type ReadOptions = GetOptions<Uint8Array, Uint8Array>

// Naming the encodings the database already uses keeps abstract-level from cloning the options on
// every read.
function snapshotReadOptions(snapshot: Snapshot): ReadOptions {
  return { snapshot, keyEncoding: 'view', valueEncoding: 'view' }
}

// Entries fetched from LevelDB per round trip to the native side while iterating.
const ITERATOR_BATCH = 1000

/** classic-level's chained batch through its implementation methods (no per-operation checks). */
interface NativeBatch {
  _put(key: Uint8Array, value: Uint8Array): void
  _del(key: Uint8Array): void
  _write(options: { sync: boolean }): Promise<void>
  _clear(): void
  close(): Promise<void>
}

/** A native chained batch of `db`, or undefined when this classic-level has none (then the public API is used). */
function nativeBatch(db: Db): NativeBatch | undefined {
  const create = (db as unknown as { _chainedBatch?: () => Partial<NativeBatch> })._chainedBatch
  if (typeof create !== 'function') return undefined
  const b = create.call(db)
  if (
    typeof b._put === 'function' &&
    typeof b._del === 'function' &&
    typeof b._write === 'function' &&
    typeof b._clear === 'function' &&
    typeof b.close === 'function'
  )
    return b as NativeBatch
  void b.close?.()
  return undefined
}

/** True when `err`, or an error in its `cause` chain, carries the abstract-level `code`. */
function hasLevelCode(err: unknown, code: string): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    if ((e as { code?: unknown }).code === code) return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function toRangeOptions(range: NormalizedRange, snapshot: Snapshot | undefined): IteratorOptions<Uint8Array, Uint8Array> {
  const options: IteratorOptions<Uint8Array, Uint8Array> = { reverse: range.reverse }
  if (range.lower !== undefined) {
    if (range.lowerInclusive) options.gte = range.lower
    else options.gt = range.lower
  }
  if (range.upper !== undefined) {
    if (range.upperInclusive) options.lte = range.upper
    else options.lt = range.upper
  }
  if (range.limit !== Number.POSITIVE_INFINITY) options.limit = range.limit
  if (snapshot !== undefined) options.snapshot = snapshot
  return options
}

abstract class LevelReader implements KVReader {
  protected readonly db: Db

  constructor(db: Db) {
    this.db = db
  }

  /** Throws STORAGE_CLOSED when this reader may no longer be used. */
  protected abstract assertOpen(): void

  /** The explicit snapshot to read from, if any. */
  protected abstract readSnapshot(): Snapshot | undefined

  abstract get(key: Uint8Array): Uint8Array | undefined
  abstract getMany(keys: readonly Uint8Array[]): (Uint8Array | undefined)[]

  has(key: Uint8Array): boolean {
    return this.get(key) !== undefined
  }

  iterate(options?: RangeOptions): AsyncIterable<Entry> {
    const range = normalizeRange(options)
    return { [Symbol.asyncIterator]: () => this.entries(range) }
  }

  protected readError(err: unknown): Error {
    this.assertOpen()
    if (hasLevelCode(err, 'LEVEL_DATABASE_NOT_OPEN')) return closedError('store')
    if (hasLevelCode(err, 'LEVEL_SNAPSHOT_NOT_OPEN')) return closedError('snapshot')
    return storageError({ code: 'STORAGE_READ_FAILED' }, `read failed: ${messageOf(err)}`, err)
  }

  protected getFrom(key: Uint8Array, options: ReadOptions | undefined): Uint8Array | undefined {
    let value: Uint8Array | undefined
    try {
      // Without options classic-level takes its fast path (no snapshot to reference).
      value = options === undefined ? this.db.getSync(key) : this.db.getSync(key, options)
    } catch (err) {
      throw this.readError(err)
    }
    return value === undefined ? undefined : toUint8Array(value)
  }

  private async *entries(range: NormalizedRange): AsyncGenerator<Entry, void, undefined> {
    this.assertOpen()
    if (range.limit === 0) return
    // LevelDB iterators read from an implicit snapshot taken here, so concurrent writes are not seen.
    const it = this.db.iterator(toRangeOptions(range, this.readSnapshot()))
    try {
      for (;;) {
        let batch: Entry[]
        try {
          batch = await it.nextv(ITERATOR_BATCH)
        } catch (err) {
          throw this.readError(err)
        }
        if (batch.length === 0) return
        for (const [key, value] of batch) {
          // classic-level hands out a fresh Buffer per key and value: a plain view aliases nothing.
          yield [toUint8Array(key), toUint8Array(value)]
          this.assertOpen()
        }
      }
    } finally {
      // Closing can only fail when the database is already gone, which closed the iterator anyway.
      await it.close().catch(() => undefined)
    }
  }
}

class LevelSnapshot extends LevelReader implements KVSnapshot {
  readonly #store: LevelStore
  readonly #snapshot: Snapshot
  readonly #readOptions: ReadOptions
  #closed = false

  constructor(store: LevelStore, db: Db) {
    super(db)
    this.#store = store
    this.#snapshot = db.snapshot()
    this.#readOptions = snapshotReadOptions(this.#snapshot)
  }

  protected assertOpen(): void {
    if (this.#store.closed) throw closedError('store')
    if (this.#closed) throw closedError('snapshot')
  }

  protected readSnapshot(): Snapshot {
    return this.#snapshot
  }

  get(key: Uint8Array): Uint8Array | undefined {
    assertKey(key)
    this.assertOpen()
    return this.getFrom(key, this.#readOptions)
  }

  getMany(keys: readonly Uint8Array[]): (Uint8Array | undefined)[] {
    assertKeys(keys)
    this.assertOpen()
    return keys.map((key) => this.getFrom(key, this.#readOptions))
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      await this.#snapshot.close()
    } catch (err) {
      throw storageError({ code: 'STORAGE_CLOSE_FAILED' }, `failed to release snapshot: ${messageOf(err)}`, err)
    }
  }
}

class LevelStore extends LevelReader implements KVStore {
  readonly #path: string
  #closed = false
  /** Emptied native batches kept for the next writes (see {@link write}). */
  #spareBatches: NativeBatch[] = []
  #closing: Promise<void> | undefined

  constructor(db: Db, path: string) {
    super(db)
    this.#path = path
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed
  }

  protected assertOpen(): void {
    if (this.#closed) throw closedError('store')
  }

  protected readSnapshot(): undefined {
    return undefined
  }

  get(key: Uint8Array): Uint8Array | undefined {
    assertKey(key)
    this.assertOpen()
    return this.getFrom(key, undefined)
  }

  getMany(keys: readonly Uint8Array[]): (Uint8Array | undefined)[] {
    assertKeys(keys)
    this.assertOpen()
    const first = keys[0]
    if (keys.length === 1 && first !== undefined) return [this.getFrom(first, undefined)]
    if (keys.length === 0) return []
    // Batches commit on a libuv thread, so one could land between two point reads: read every key
    // from one snapshot instead.
    const snapshot = this.db.snapshot()
    const options = snapshotReadOptions(snapshot)
    try {
      return keys.map((key) => this.getFrom(key, options))
    } finally {
      // The native release runs synchronously inside close(); the promise only reports it.
      snapshot.close().catch(() => undefined)
    }
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    assertKey(key)
    assertValue(value)
    this.assertOpen()
    try {
      await this.db.put(key, value)
    } catch (err) {
      throw this.writeError(err)
    }
  }

  async delete(key: Uint8Array): Promise<void> {
    assertKey(key)
    this.assertOpen()
    try {
      await this.db.del(key)
    } catch (err) {
      throw this.writeError(err)
    }
  }

  async write(ops: readonly BatchOp[], options?: { sync?: boolean }): Promise<void> {
    assertBatch(ops)
    this.assertOpen()
    if (ops.length === 0) return
    const sync = options?.sync === true
    try {
      // abstract-level's batch() clones and re-validates every operation (~10 µs each, the largest
      // single cost of a block commit). The ops are validated above and this store uses no hooks or
      // events, so they go straight to classic-level's native batch: one binding call per operation
      // with the key and value as arguments (~0.25 µs; the array form, which reads each operation's
      // properties from native code, costs ~1.2 µs). The public path remains for any other state
      // (e.g. still opening).
      const native = this.db.status === 'open' ? (this.#spareBatches.pop() ?? nativeBatch(this.db)) : undefined
      if (native !== undefined) {
        let written = false
        try {
          for (const op of ops) {
            if (op.type === 'put') native._put(op.key, op.value)
            else native._del(op.key)
          }
          await native._write({ sync })
          written = true
        } finally {
          // A native batch's memory is freed only when the batch is collected, or when the database
          // closes: a few are emptied and reused rather than left to the GC (which does not see that
          // memory, so blocks' batches piled up). A failed one is closed (detached from the database).
          if (written && !this.#closed && this.#spareBatches.length < 2) {
            native._clear()
            this.#spareBatches.push(native)
          } else await native.close()
        }
        return
      }
      const batch: BatchOperation<Db, Uint8Array, Uint8Array>[] = ops.map((op) =>
        op.type === 'put' ? { type: 'put', key: op.key, value: op.value } : { type: 'del', key: op.key },
      )
      await this.db.batch(batch, { sync })
    } catch (err) {
      throw this.writeError(err)
    }
  }

  snapshot(): KVSnapshot {
    this.assertOpen()
    return new LevelSnapshot(this, this.db)
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true
      this.#closing = this.db.close().catch((err: unknown) => {
        throw storageError({ code: 'STORAGE_CLOSE_FAILED' }, `failed to close storage at ${this.#path}: ${messageOf(err)}`, err)
      })
    }
    return this.#closing
  }

  private writeError(err: unknown): Error {
    if (this.#closed || hasLevelCode(err, 'LEVEL_DATABASE_NOT_OPEN')) return closedError('store')
    return storageError({ code: 'STORAGE_WRITE_FAILED' }, `write to storage at ${this.#path} failed: ${messageOf(err)}`, err)
  }
}

function assertSize(value: number, argument: string): void {
  if (!(Number.isSafeInteger(value) && value > 0)) throw invalidArgument(argument, `${argument} must be a positive integer`)
}

/**
 * Opens (creating when missing) a LevelDB-backed {@link KVStore} at `options.path` via classic-level.
 * Point reads are synchronous; iterators and snapshots use LevelDB's snapshots.
 *
 * @throws TrellisError STORAGE_INVALID_ARGUMENT for bad options; STORAGE_OPEN_FAILED when the
 * database cannot be opened, with `locked: true` when another process or store holds its LOCK.
 * @example
 * const store = await createLevelStore({ path: '/var/lib/trellis/chain' })
 * await store.write(ops, { sync: true })
 * await store.close()
 */
export async function createLevelStore(options: LevelStoreOptions): Promise<KVStore> {
  const { path } = options
  if (typeof path !== 'string' || path === '') throw invalidArgument('path', 'path must be a non-empty string')
  const cacheSize = options.cacheSizeBytes ?? defaultLevelStoreOptions.cacheSizeBytes
  const writeBufferSize = options.writeBufferSizeBytes ?? defaultLevelStoreOptions.writeBufferSizeBytes
  assertSize(cacheSize, 'cacheSizeBytes')
  assertSize(writeBufferSize, 'writeBufferSizeBytes')

  const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(path, {
    keyEncoding: 'view',
    valueEncoding: 'view',
    createIfMissing: true,
    errorIfExists: false,
    cacheSize,
    writeBufferSize,
    // Keys and values are mostly hashes and signatures, which do not compress: Snappy would only cost CPU.
    compression: false,
    maxFileSize: 8 * 1024 * 1024,
  })
  try {
    await db.open()
  } catch (err) {
    const locked = hasLevelCode(err, 'LEVEL_LOCKED')
    const message = locked
      ? `cannot open storage at ${path}: its LOCK is held by another process or another store in this process`
      : `cannot open storage at ${path}: ${messageOf((err as { cause?: unknown }).cause ?? err)}`
    throw storageError({ code: 'STORAGE_OPEN_FAILED', path, locked }, message, err)
  }
  return new LevelStore(db, path)
}
