/**
 * Entries a shard holds at most, on average, for the expected size. V8 keeps a Map of more than
 * 4,096 entries in its large-object space: each time its table grows or is rebuilt (a Map rebuilds
 * it once deletions have left enough holes), the new table is a fresh mapping whose pages all fault
 * in when first written, and the old one is unmapped. Page faults are costly on virtual machines
 * (~14 µs each on this project's machine kind): building a 6,000-entry Map cost ~1.2 ms, against
 * ~0.14 ms for 4,096 entries. Shards of about a thousand entries stay well under that size even when
 * keys spread unevenly, so their tables live in the ordinary heap, whose pages are reused.
 */
const SHARD_ENTRIES = 1024

/**
 * A `Map` with string keys, split into shards that each stay small (see {@link SHARD_ENTRIES}), for
 * the node's large maps: per-block maps of thousands of writes and caches of up to hundreds of
 * thousands of entries.
 *
 * The shard of a key depends on its length, its last eight characters and its middle one, so it suits
 * keys whose ends vary, like the node's `byteKey` strings of hashes, state keys and tree-node keys. Iteration goes shard by
 * shard, each in insertion order: callers must not depend on the order across shards.
 */
export class ShardedMap<V> {
  private readonly shards: Map<string, V>[]
  private readonly mask: number

  /** `expectedSize`: how many entries the map holds at its largest (sizes the shard count). */
  constructor(expectedSize: number) {
    let n = 1
    while (n * SHARD_ENTRIES < expectedSize && n < 4096) n *= 2
    this.shards = Array.from({ length: n }, () => new Map<string, V>())
    this.mask = n - 1
  }

  /** The number of shards. */
  get shardCount(): number {
    return this.shards.length
  }

  /** The shard that holds `key`. */
  shard(key: string): Map<string, V> {
    if (this.mask === 0) return this.shards[0] as Map<string, V>
    // FNV-1a over the last eight characters and the middle one, then the high bits folded in: keys
    // that differ only in a few digits at the end (asset ids) still spread over all the shards.
    const n = key.length
    let h = 0x811c9dc5 ^ n
    for (let i = n > 8 ? n - 8 : 0; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
    if (n > 0) h = Math.imul(h ^ key.charCodeAt(n >>> 1), 0x01000193)
    h ^= h >>> 15
    return this.shards[(h ^ (h >>> 8)) & this.mask] as Map<string, V>
  }

  /** The shard at `index` (0 to {@link shardCount} - 1). */
  shardAt(index: number): Map<string, V> {
    return this.shards[index] as Map<string, V>
  }

  get size(): number {
    let n = 0
    for (const s of this.shards) n += s.size
    return n
  }

  get(key: string): V | undefined {
    return this.shard(key).get(key)
  }

  has(key: string): boolean {
    return this.shard(key).has(key)
  }

  set(key: string, value: V): this {
    this.shard(key).set(key, value)
    return this
  }

  delete(key: string): boolean {
    return this.shard(key).delete(key)
  }

  clear(): void {
    for (const s of this.shards) s.clear()
  }

  /** Calls `fn` for each entry, shard by shard (cheaper than iterating). */
  forEach(fn: (value: V, key: string) => void): void {
    for (const s of this.shards) for (const [k, v] of s) fn(v, k)
  }

  *entries(): IterableIterator<[string, V]> {
    for (const s of this.shards) yield* s.entries()
  }

  *keys(): IterableIterator<string> {
    for (const s of this.shards) yield* s.keys()
  }

  *values(): IterableIterator<V> {
    for (const s of this.shards) yield* s.values()
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries()
  }
}
