import { allocBytes, copyBytes, growBytes, trimBytes } from '@trellis/utils'

const encoder = new TextEncoder()
// A finished writer's buffer: any further write or finish() fails instead of reaching into memory
// the pool may already have handed to someone else.
const FINISHED = new Uint8Array(0)

/**
 * Append-only byte writer for the canonical encoding (docs/spec/encoding.md). Integers are unsigned
 * LEB128 varints restricted to the safe-integer range; every length is a varint prefix.
 */
export class Writer {
  private buf: Uint8Array
  private pos = 0

  // The buffer comes from the shared byte pool: a short-lived writer costs no malloc, and finish()
  // hands back the unused capacity when nothing was allocated since.
  constructor(initialSize = 256) {
    this.buf = allocBytes(Number.isSafeInteger(initialSize) && initialSize > 0 ? initialSize : 256)
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    if (this.buf === FINISHED) throw new Error('Writer used after finish()')
    let size = Math.max(64, this.buf.length * 2)
    while (size < this.pos + n) size *= 2
    this.buf = growBytes(this.buf, size, this.pos)
  }

  u8(v: number): this {
    this.ensure(1)
    this.buf[this.pos++] = v
    return this
  }

  /** Unsigned LEB128 of a non-negative safe integer. */
  varint(v: number): this {
    this.ensure(8)
    let n = v
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80
      n = Math.floor(n / 0x80)
    }
    this.buf[this.pos++] = n
    return this
  }

  /** Raw bytes with no length prefix (fixed-size fields such as 32-byte hashes). */
  raw(b: Uint8Array): this {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
    return this
  }

  /** Length-prefixed bytes. */
  bytes(b: Uint8Array): this {
    return this.varint(b.length).raw(b)
  }

  /** Length-prefixed UTF-8. ASCII (the common case: names, hex, ids) is written without allocating. */
  string(s: string): this {
    const n = s.length
    // Optimistically ASCII (byte length = n): one pass copies and checks; a non-ASCII character
    // rewinds and takes the encoder.
    const start = this.pos
    this.varint(n)
    this.ensure(n)
    const buf = this.buf
    const at = this.pos
    let i = 0
    for (; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c > 0x7f) break
      buf[at + i] = c
    }
    if (i === n) {
      this.pos = at + n
      return this
    }
    this.pos = start
    return this.bytes(encoder.encode(s))
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos
  }

  /** Forgets what was written, keeping the buffer (for reuse as scratch space). */
  reset(): this {
    this.pos = 0
    return this
  }

  /** A copy of the bytes written so far (from the pool); the writer stays usable (scratch writers). */
  copy(): Uint8Array {
    return copyBytes(this.buf.subarray(0, this.pos))
  }

  /**
   * The bytes written, as an exact-length array that may share its memory with the pool (see
   * `allocBytes`: copy what is kept for long). The writer must not be used afterwards.
   */
  finish(): Uint8Array {
    if (this.buf === FINISHED) throw new Error('Writer.finish() called twice')
    const out = trimBytes(this.buf, this.pos)
    this.buf = FINISHED
    this.pos = 0
    return out
  }
}
