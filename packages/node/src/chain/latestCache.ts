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
 * before its oldest live entry. That memory is counted by backing buffer, not by value: a value may be
 * a view into a larger buffer (a block's copies), which stays alive as long as any cached value uses
 * it. Keys and per-entry overhead (~100 bytes an entry) come on top.
 */
export class LatestValueCache {
  private readonly entries = new Map<string, Uint8Array | null>()
  /** Cached values per backing buffer. */
  private readonly buffers = new Map<ArrayBufferLike, number>()
  private bytes = 0

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.entries.size
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
    const old = this.entries.get(id)
    if (old !== undefined) {
      this.entries.delete(id)
      if (old !== null) this.release(old.buffer)
    }
    // A buffer larger than the whole budget would only push everything else out.
    if (value !== null && value.buffer.byteLength > this.maxBytes) return
    this.entries.set(id, value)
    if (value !== null) {
      const n = this.buffers.get(value.buffer) ?? 0
      if (n === 0) this.bytes += value.buffer.byteLength
      this.buffers.set(value.buffer, n + 1)
    }
    if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) return
    const entries = this.maxEntries - Math.ceil(this.maxEntries / 10)
    const bytes = this.maxBytes - Math.ceil(this.maxBytes / 10)
    for (const [k, v] of this.entries) {
      if (this.entries.size <= entries && this.bytes <= bytes) break
      this.entries.delete(k)
      if (v !== null) this.release(v.buffer)
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
