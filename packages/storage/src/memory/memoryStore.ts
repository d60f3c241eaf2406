import { closedError } from '../errors.js'
import type { BatchOp, KVReader, KVSnapshot, KVStore, RangeOptions } from '../types.js'
import type { NormalizedRange } from '../validate.js'
import { assertBatch, assertKey, assertKeys, assertValue, normalizeRange } from '../validate.js'
import type { AvlTree } from './avlTree.js'
import { avlGet, avlInsert, avlRange, avlRemove } from './avlTree.js'

// Stored bytes are private copies that are never mutated; readers get copies too, so neither side
// can change the other's bytes afterwards. Inputs are copied with `new Uint8Array(b)` because a
// Buffer's `slice` returns a view, not a copy; stored bytes are plain Uint8Arrays, whose `slice`
// copies and is the faster of the two.
function copyIn(b: Uint8Array): Uint8Array {
  return new Uint8Array(b)
}

function copyOut(b: Uint8Array): Uint8Array {
  return b.slice()
}

abstract class MemoryReader implements KVReader {
  /** The tree to read; throws STORAGE_CLOSED once closed. */
  protected abstract view(): AvlTree

  get(key: Uint8Array): Uint8Array | undefined {
    assertKey(key)
    const value = avlGet(this.view(), key)
    return value === undefined ? undefined : copyOut(value)
  }

  getMany(keys: readonly Uint8Array[]): (Uint8Array | undefined)[] {
    assertKeys(keys)
    const root = this.view()
    return keys.map((key) => {
      const value = avlGet(root, key)
      return value === undefined ? undefined : copyOut(value)
    })
  }

  has(key: Uint8Array): boolean {
    assertKey(key)
    return avlGet(this.view(), key) !== undefined
  }

  iterate(options?: RangeOptions): AsyncIterable<[Uint8Array, Uint8Array]> {
    const range = normalizeRange(options)
    return { [Symbol.asyncIterator]: () => this.entries(range) }
  }

  private async *entries(range: NormalizedRange): AsyncGenerator<[Uint8Array, Uint8Array], void, undefined> {
    // The root is immutable, so iterating it is unaffected by writes made while the consumer awaits.
    for (const n of avlRange(this.view(), range)) {
      yield [copyOut(n.key), copyOut(n.value)]
      this.view()
    }
  }
}

class MemorySnapshot extends MemoryReader implements KVSnapshot {
  #root: AvlTree
  #closed = false
  readonly #onClose: (snapshot: MemorySnapshot) => void

  constructor(root: AvlTree, onClose: (snapshot: MemorySnapshot) => void) {
    super()
    this.#root = root
    this.#onClose = onClose
  }

  protected view(): AvlTree {
    if (this.#closed) throw closedError('snapshot')
    return this.#root
  }

  /** Marks the snapshot closed and drops its tree; called by `close()` and when the store closes. */
  release(): void {
    this.#closed = true
    this.#root = undefined
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.release()
    this.#onClose(this)
  }
}

class MemoryStore extends MemoryReader implements KVStore {
  #root: AvlTree = undefined
  #closed = false
  readonly #snapshots = new Set<MemorySnapshot>()

  protected view(): AvlTree {
    if (this.#closed) throw closedError('store')
    return this.#root
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    assertKey(key)
    assertValue(value)
    this.#root = avlInsert(this.view(), copyIn(key), copyIn(value))
  }

  async delete(key: Uint8Array): Promise<void> {
    assertKey(key)
    this.#root = avlRemove(this.view(), key)
  }

  async write(ops: readonly BatchOp[], _options?: { sync?: boolean }): Promise<void> {
    assertBatch(ops)
    // Build the new tree aside and publish it with one assignment: readers see all of the batch or
    // none of it. `sync` has nothing to flush here.
    let root = this.view()
    for (const op of ops) {
      root = op.type === 'put' ? avlInsert(root, copyIn(op.key), copyIn(op.value)) : avlRemove(root, op.key)
    }
    this.#root = root
  }

  snapshot(): KVSnapshot {
    const snapshot = new MemorySnapshot(this.view(), (s) => this.#snapshots.delete(s))
    this.#snapshots.add(snapshot)
    return snapshot
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#root = undefined
    for (const snapshot of this.#snapshots) snapshot.release()
    this.#snapshots.clear()
  }
}

/**
 * An in-memory {@link KVStore}: an ordered, persistent (copy-on-write) AVL tree. Snapshots are O(1),
 * point reads and writes O(log n); for tests, simulations and ephemeral nodes (nothing is persisted).
 *
 * @example
 * const store = createMemoryStore()
 * await store.write([{ type: 'put', key: utf8ToBytes('a'), value: utf8ToBytes('1') }])
 * store.get(utf8ToBytes('a')) // Uint8Array [0x31]
 */
export function createMemoryStore(): KVStore {
  return new MemoryStore()
}
