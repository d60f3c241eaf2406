import { ShardedMap } from '../shardedMap.js'

/**
 * Latest values of recently read or written state keys, as of the chain's durable head: the
 * executor's reads of hot keys (a contract's record on every call, a value written by the previous
 * blocks) skip the state tree and LevelDB.
 *
 * The owner keeps it exact: it fills an entry only with what the store holds at the head, and updates
 * every key a block writes synchronously with the head's move. `null` remembers an absent key.
 * Entries leave in the order they were set (a hit does not renew an entry: a hot key that leaves is
 * read again once) once there are more than `maxEntries`, or once the memory their values keep alive
 * exceeds `maxBytes`: a tenth of each at a time, since a Map walks the holes its deletions leave
 * before its oldest live entry. A large cache is split into shards ({@link ShardedMap}), and then
 * "oldest" is per shard (see {@link evict}). That memory is counted by backing buffer, not by
 * value: a value may be a view into a larger buffer (a block's copies), which stays alive as long as
 * any cached value uses it. Keys and per-entry overhead (~100 bytes an entry) come on top.
 */
export class LatestValueCache {
  private readonly entries: ShardedMap<Uint8Array | null>
  private count = 0
  /** Cached values per backing buffer. */
  private readonly buffers = new Map<ArrayBufferLike, number>()
  private bytes = 0

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {
    this.entries = new ShardedMap(maxEntries)
  }

  get size(): number {
    return this.count
  }

  /** Bytes of the buffers the cached values keep alive. */
  get retainedBytes(): number {
    return this.bytes
  }

  /** The cached value (`null`: absent), or `undefined` when the key is not cached. */
  get(id: string): Uint8Array | null | undefined {
    return this.entries.get(id)
  }

  /** Sets the value of `id` (`null`: absent). The array must not change afterwards. */
  set(id: string, value: Uint8Array | null): void {
    const shard = this.entries.shard(id)
    const old = shard.get(id)
    if (old !== undefined) {
      shard.delete(id)
      this.count--
      if (old !== null) this.release(old.buffer)
    }
    // A buffer larger than the whole budget would only push everything else out.
    if (value !== null && value.buffer.byteLength > this.maxBytes) return
    shard.set(id, value)
    this.count++
    if (value !== null) {
      const n = this.buffers.get(value.buffer) ?? 0
      if (n === 0) this.bytes += value.buffer.byteLength
      this.buffers.set(value.buffer, n + 1)
    }
    if (this.count > this.maxEntries || this.bytes > this.maxBytes) this.evict()
  }

  /**
   * Down to nine tenths of both bounds. First every shard gives up its oldest entries down to its
   * share of the entry bound. Then, while the bytes are over, passes over all the shards take the
   * oldest tenth of each: a block's values share buffers and are spread over every shard, so taking
   * a little of each shard's oldest frees the oldest blocks' buffers first, as a single Map's
   * insertion order did. Each pass removes at least one entry from every non-empty shard.
   */
  private evict(): void {
    const entries = this.maxEntries - Math.ceil(this.maxEntries / 10)
    const bytes = this.maxBytes - Math.ceil(this.maxBytes / 10)
    const shards = this.entries.shardCount
    if (this.count > entries) {
      const share = Math.floor(entries / shards)
      for (let i = 0; i < shards; i++) {
        const shard = this.entries.shardAt(i)
        this.dropOldest(shard, shard.size - share)
      }
    }
    while (this.bytes > bytes && this.count > 0) {
      for (let i = 0; i < shards && this.bytes > bytes; i++) {
        const shard = this.entries.shardAt(i)
        this.dropOldest(shard, Math.ceil(shard.size / 10))
      }
    }
  }

  /** Removes the `n` oldest entries of `shard` (none when `n` ≤ 0). */
  private dropOldest(shard: Map<string, Uint8Array | null>, n: number): void {
    if (n <= 0) return
    for (const [k, v] of shard) {
      shard.delete(k)
      this.count--
      if (v !== null) this.release(v.buffer)
      if (--n === 0) return
    }
  }

  private release(buffer: ArrayBufferLike): void {
    const n = (this.buffers.get(buffer) ?? 1) - 1
    if (n > 0) this.buffers.set(buffer, n)
    else {
      this.buffers.delete(buffer)
      this.bytes -= buffer.byteLength
    }
  }
}
