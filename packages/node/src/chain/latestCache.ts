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
 * "oldest" is per shard: each shard gives up its oldest entries, one shard after another. That memory is counted by backing buffer, not by value: a value may be
 * a view into a larger buffer (a block's copies), which stays alive as long as any cached value uses
 * it. Keys and per-entry overhead (~100 bytes an entry) come on top.
 */
export class LatestValueCache {
  private readonly entries: ShardedMap<Uint8Array | null>
  private count = 0
  /** The shard the next eviction starts with. */
  private cursor = 0
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
   * Down to nine tenths of both bounds. Shard after shard, each gives up its oldest entries until it
   * holds at most its share of the entries, and, while the bytes are over, more. Every shard is
   * visited at most once: by then each holds at most its share, or is empty.
   */
  private evict(): void {
    const entries = this.maxEntries - Math.ceil(this.maxEntries / 10)
    const bytes = this.maxBytes - Math.ceil(this.maxBytes / 10)
    const shards = this.entries.shardCount
    const share = Math.floor(entries / shards)
    for (let visited = 0; visited < shards && (this.count > entries || this.bytes > bytes); visited++) {
      const shard = this.entries.shardAt(this.cursor)
      this.cursor = (this.cursor + 1) % shards
      for (const [k, v] of shard) {
        if (shard.size <= share && this.bytes <= bytes) break
        shard.delete(k)
        this.count--
        if (v !== null) this.release(v.buffer)
      }
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
