import { bytesToHex, concatBytes, hexToBytes, TrellisError, utf8ToBytes } from '@trellis/utils'
import type { CryptoErrorType } from '../errors.js'

/** Universal tags used by certificates. */
export const Tag = {
  Boolean: 0x01,
  Integer: 0x02,
  BitString: 0x03,
  OctetString: 0x04,
  Null: 0x05,
  Oid: 0x06,
  Utf8String: 0x0c,
  PrintableString: 0x13,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  Sequence: 0x30,
  Set: 0x31,
} as const

/** The tag of `[n] EXPLICIT` (context-specific, constructed). */
export function explicitTag(n: number): number {
  return 0xa0 | n
}

/** Throws the one error a certificate parser throws. */
export function malformed(reason: string, cause?: unknown): never {
  throw new TrellisError<CryptoErrorType>(
    { code: 'CERT_MALFORMED', reason },
    `malformed certificate: ${reason}`,
    cause === undefined ? undefined : { cause },
  )
}

/** One element: its tag, where its header starts and where its contents start and end. */
export interface Tlv {
  readonly tag: number
  readonly offset: number
  readonly start: number
  readonly end: number
}

/**
 * A strict DER reader over `bytes[start, end)`: single-byte tags, definite minimal lengths, elements
 * that fit their parent. Every violation throws CERT_MALFORMED.
 */
export class DerReader {
  private pos: number

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    private readonly end = bytes.length,
  ) {
    this.pos = start
  }

  /** A reader over the contents of `tlv`. */
  inside(tlv: Tlv): DerReader {
    return new DerReader(this.bytes, tlv.start, tlv.end)
  }

  get done(): boolean {
    return this.pos >= this.end
  }

  /** The tag of the next element, or undefined at the end. */
  peekTag(): number | undefined {
    return this.done ? undefined : this.bytes[this.pos]
  }

  /** The next element, which must have tag `tag` when given. */
  read(tag?: number, what = 'element'): Tlv {
    if (this.done) malformed(`missing ${what}`)
    const offset = this.pos
    const t = this.bytes[offset] as number
    if (tag !== undefined && t !== tag) malformed(`${what}: expected tag 0x${hex(tag)}, found 0x${hex(t)}`)
    if ((t & 0x1f) === 0x1f) malformed(`${what}: multi-byte tags are not supported`)
    const { length, start } = this.readLength(offset + 1, what)
    const end = start + length
    if (end > this.end) malformed(`${what}: length runs past its container`)
    this.pos = end
    return { tag: t, offset, start, end }
  }

  /** The next element when it has tag `tag`, else undefined (nothing is consumed). */
  readOptional(tag: number, what?: string): Tlv | undefined {
    return this.peekTag() === tag ? this.read(tag, what) : undefined
  }

  /** Throws unless every byte was read. */
  finish(what: string): void {
    if (!this.done) malformed(`trailing bytes after ${what}`)
  }

  contents(tlv: Tlv): Uint8Array {
    return this.bytes.subarray(tlv.start, tlv.end)
  }

  /** The whole encoding of `tlv`, header included. */
  encoding(tlv: Tlv): Uint8Array {
    return this.bytes.subarray(tlv.offset, tlv.end)
  }

  private readLength(at: number, what: string): { length: number; start: number } {
    if (at >= this.end) malformed(`${what}: truncated header`)
    const first = this.bytes[at] as number
    if (first < 0x80) return { length: first, start: at + 1 }
    const n = first & 0x7f
    if (n === 0) malformed(`${what}: indefinite length`)
    if (n > 3) malformed(`${what}: too long`)
    if (at + n >= this.end) malformed(`${what}: truncated header`)
    let length = 0
    for (let i = 1; i <= n; i++) length = length * 256 + (this.bytes[at + i] as number)
    if (this.bytes[at + 1] === 0 || length < 0x80) malformed(`${what}: non-minimal length`)
    return { length, start: at + 1 + n }
  }
}

/** Reads an OBJECT IDENTIFIER, checks its encoding, and returns the hex of its contents (see {@link oidKey}). */
export function readOid(r: DerReader, what: string): string {
  const b = r.contents(r.read(Tag.Oid, what))
  if (b.length === 0 || ((b[b.length - 1] as number) & 0x80) !== 0) malformed(`${what}: invalid object identifier`)
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x80 && (i === 0 || ((b[i - 1] as number) & 0x80) === 0)) malformed(`${what}: non-minimal object identifier`)
  }
  return bytesToHex(b)
}

/** The key {@link readOid} returns for a dotted OID. */
export function oidKey(dotted: string): string {
  return bytesToHex(oidContents(dotted))
}

/** Dotted form of the OID whose contents have hex `key`, for messages. */
export function oidText(key: string): string {
  const b = hexToBytes(key)
  const arcs: bigint[] = []
  let v = 0n
  for (const byte of b) {
    v = (v << 7n) | BigInt(byte & 0x7f)
    if ((byte & 0x80) === 0) {
      arcs.push(v)
      v = 0n
    }
  }
  const [first = 0n, ...rest] = arcs
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n]
  return [...head, ...rest].join('.')
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0')
}

// ---------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------

/** One DER element: `tag`, minimal definite length, then the concatenated contents. */
export function derTlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const body = concatBytes(...contents)
  return concatBytes(Uint8Array.of(tag), derLength(body.length), body)
}

function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n)
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256)
  return Uint8Array.of(0x80 | bytes.length, ...bytes)
}

export function derSequence(...contents: Uint8Array[]): Uint8Array {
  return derTlv(Tag.Sequence, ...contents)
}

/** A non-negative INTEGER from big-endian magnitude bytes. */
export function derUnsigned(magnitude: Uint8Array): Uint8Array {
  let i = 0
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++
  const m = magnitude.length === 0 ? Uint8Array.of(0) : magnitude.subarray(i)
  return derTlv(Tag.Integer, (m[0] as number) & 0x80 ? Uint8Array.of(0) : new Uint8Array(), m)
}

export function derSmallUnsigned(n: number): Uint8Array {
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256)
  return derUnsigned(Uint8Array.from(bytes))
}

/** The contents octets of an OBJECT IDENTIFIER given in dotted form (arcs of any size). */
export function oidContents(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(BigInt)
  const [a = 0n, b = 0n, ...rest] = arcs
  const out: number[] = []
  for (const arc of [a * 40n + b, ...rest]) {
    const groups: number[] = []
    for (let v = arc; ; v >>= 7n) {
      groups.unshift(Number(v & 0x7fn) | (groups.length > 0 ? 0x80 : 0))
      if (v < 0x80n) break
    }
    out.push(...groups)
  }
  return Uint8Array.from(out)
}

export function derOid(dotted: string): Uint8Array {
  return derTlv(Tag.Oid, oidContents(dotted))
}

export function derUtf8String(s: string): Uint8Array {
  return derTlv(Tag.Utf8String, utf8ToBytes(s))
}

export function derOctetString(bytes: Uint8Array): Uint8Array {
  return derTlv(Tag.OctetString, bytes)
}

/** A BIT STRING of whole bytes (no unused bits). */
export function derBitString(bytes: Uint8Array): Uint8Array {
  return derTlv(Tag.BitString, Uint8Array.of(0), bytes)
}

export function derBoolean(value: boolean): Uint8Array {
  return derTlv(Tag.Boolean, Uint8Array.of(value ? 0xff : 0))
}

/**
 * A certificate Time (RFC 5280 §4.1.2.5): UTCTime through 2049, GeneralizedTime from 2050, whole
 * seconds. `ms` must be a whole second in years 1950–9999.
 */
export function derTime(ms: number): Uint8Array {
  const d = new Date(ms)
  const year = d.getUTCFullYear()
  const rest = [d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
  const digits = rest.map((n) => String(n).padStart(2, '0')).join('')
  if (year < 2050) return derTlv(Tag.UtcTime, utf8ToBytes(`${String(year % 100).padStart(2, '0')}${digits}Z`))
  return derTlv(Tag.GeneralizedTime, utf8ToBytes(`${year}${digits}Z`))
}
