import { copyBytes, latin1Slice, TrellisError } from '@trellis/utils'
import type { LedgerErrorType } from '../errors.js'

// ignoreBOM: a leading U+FEFF is content; stripping it would let two byte strings decode to one string.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Strict reader for the canonical encoding: rejects truncation, non-minimal varints, integers above
 * 2^53−1, invalid UTF-8 and (via {@link Reader.end}) trailing bytes, so every value has exactly one
 * accepted byte form.
 */
export class Reader {
  pos = 0

  constructor(readonly buf: Uint8Array) {}

  fail(reason: string): never {
    throw new TrellisError<LedgerErrorType>(
      { code: 'ENCODING_INVALID', reason, offset: this.pos },
      `invalid encoding at byte ${this.pos}: ${reason}`,
    )
  }

  get remaining(): number {
    return this.buf.length - this.pos
  }

  u8(): number {
    if (this.pos >= this.buf.length) this.fail('unexpected end of input')
    return this.buf[this.pos++] as number
  }

  varint(): number {
    let result = 0
    let mul = 1
    for (let i = 0; ; i++) {
      if (i === 8) this.fail('varint too long')
      const b = this.u8()
      result += (b & 0x7f) * mul
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) this.fail('non-minimal varint')
        if (result > Number.MAX_SAFE_INTEGER) this.fail('integer above 2^53-1')
        return result
      }
      mul *= 0x80
    }
  }

  raw(n: number): Uint8Array {
    if (n > this.remaining) this.fail(`needs ${n} bytes, ${this.remaining} left`)
    const out = copyBytes(this.buf.subarray(this.pos, this.pos + n))
    this.pos += n
    return out
  }

  /** Length-prefixed bytes as a view into the input (no copy): for callers that own the input. */
  bytesView(max = Number.MAX_SAFE_INTEGER): Uint8Array {
    const n = this.varint()
    if (n > max) this.fail(`length ${n} above limit ${max}`)
    if (n > this.remaining) this.fail(`needs ${n} bytes, ${this.remaining} left`)
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  bytes(max = Number.MAX_SAFE_INTEGER): Uint8Array {
    return copyBytes(this.bytesView(max))
  }

  /** Where the string read last lies in the input: [lastStringStart, lastStringEnd). */
  lastStringStart = 0
  lastStringEnd = 0

  string(max = Number.MAX_SAFE_INTEGER): string {
    const n = this.varint()
    if (n > max) this.fail(`length ${n} above limit ${max}`)
    if (n > this.remaining) this.fail(`needs ${n} bytes, ${this.remaining} left`)
    const start = this.pos
    const end = start + n
    this.pos = end
    this.lastStringStart = start
    this.lastStringEnd = end
    const buf = this.buf
    // Short ASCII (names, ids, hex: nearly every string) is read without a view or a decoder call.
    if (n <= 64) {
      let ascii = true
      for (let i = start; i < end; i++) {
        if ((buf[i] as number) > 0x7f) {
          ascii = false
          break
        }
      }
      if (ascii) return latin1Slice(buf, start, end)
    }
    try {
      return decoder.decode(buf.subarray(start, end))
    } catch {
      return this.fail('invalid UTF-8')
    }
  }

  /** Compares the input's bytes [aStart, aEnd) and [bStart, bEnd) as {@link compareBytes} does. */
  compareRanges(aStart: number, aEnd: number, bStart: number, bEnd: number): number {
    const buf = this.buf
    const n = Math.min(aEnd - aStart, bEnd - bStart)
    for (let i = 0; i < n; i++) {
      const d = (buf[aStart + i] as number) - (buf[bStart + i] as number)
      if (d !== 0) return d
    }
    return aEnd - aStart - (bEnd - bStart)
  }

  /** A length prefix for a list, checked against the bytes left so garbage cannot allocate huge arrays. */
  count(minItemSize = 1): number {
    const n = this.varint()
    if (n * minItemSize > this.remaining) this.fail(`list of ${n} items cannot fit in ${this.remaining} bytes`)
    return n
  }

  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} trailing bytes`)
  }
}
