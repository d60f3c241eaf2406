import {
  base64ToBytes,
  bytesToBase64,
  bytesToHex,
  bytesToUtf8,
  compareBytes,
  concatBytes,
  equalBytes,
  hexToBytes,
  isHex,
  isTrellisError,
  latin1Slice,
  TrellisError,
  toUint8Array,
  utf8ToBytes,
  writeU32BE,
  writeU64BE,
} from '@trellis/utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const bytesArb = fc.uint8Array({ maxLength: 200 })
/** 120 characters of valid base64 (90 bytes): long enough for any length-dependent fast path. */
const LONG_PREFIX = 'QUJD'.repeat(30)

/** Calls `fn` and returns the TrellisError it throws; fails the test when it does not throw one. */
function trellisErrorOf(fn: () => unknown): TrellisError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(TrellisError)
    return e as TrellisError
  }
  throw new Error('expected a TrellisError, nothing was thrown')
}

function expectCode(fn: () => unknown, code: string): void {
  expect(trellisErrorOf(fn).code).toBe(code)
}

const plain = (b: Uint8Array) => Array.from(b)

describe('hex', () => {
  it('encodes known values as lower-case hex without prefix', () => {
    expect(bytesToHex(new Uint8Array())).toBe('')
    expect(bytesToHex(Uint8Array.of(0))).toBe('00')
    expect(bytesToHex(Uint8Array.of(0x0f, 0xa0, 0xff, 0x10))).toBe('0fa0ff10')
    expect(bytesToHex(Uint8Array.from({ length: 256 }, (_, i) => i))).toBe(
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('hex'),
    )
  })

  it('decodes known values, with or without 0x prefix, in either case', () => {
    expect(plain(hexToBytes(''))).toEqual([])
    expect(plain(hexToBytes('0x'))).toEqual([])
    expect(plain(hexToBytes('00ff10'))).toEqual([0, 255, 16])
    expect(plain(hexToBytes('0x00ff10'))).toEqual([0, 255, 16])
    expect(plain(hexToBytes('ABcdEF'))).toEqual([0xab, 0xcd, 0xef])
    expect(hexToBytes('abcd')).toBeInstanceOf(Uint8Array)
  })

  it('round trips any bytes (property)', () => {
    fc.assert(
      fc.property(bytesArb, (b) => {
        const h = bytesToHex(b)
        expect(h).toMatch(/^[0-9a-f]*$/)
        expect(h.length).toBe(b.length * 2)
        expect(plain(hexToBytes(h))).toEqual(plain(b))
        expect(plain(hexToBytes(`0x${h}`))).toEqual(plain(b))
        expect(plain(hexToBytes(h.toUpperCase()))).toEqual(plain(b))
      }),
    )
  })

  it("agrees with Node's Buffer hex codec, also for views at an offset (property)", () => {
    fc.assert(
      fc.property(bytesArb, fc.nat(40), (b, offset) => {
        const h = bytesToHex(b)
        expect(h).toBe(Buffer.from(b).toString('hex'))
        expect(plain(hexToBytes(h))).toEqual(plain(Buffer.from(h, 'hex')))
        const backing = new Uint8Array(offset + b.length + 3).fill(0xaa)
        backing.set(b, offset)
        expect(bytesToHex(backing.subarray(offset, offset + b.length))).toBe(h)
      }),
    )
  })

  it.each([
    ['odd length', 'abc'],
    ['single digit', '0'],
    ['non-hex letter', 'zz'],
    ['g just past f', '0g'],
    ['inner space', 'ab cd'],
    ['leading space', ' abcd'],
    ['trailing newline', 'abcd\n'],
    ['sign', '-1'],
    ['upper-case prefix', '0X12'],
    ['double prefix', '0x0x12'],
    ['prefix with odd digits', '0x1'],
    ['non-ASCII digit', '١٢'],
    ['full-width digits', '１２'],
  ])('rejects %s (%j) with BYTES_INVALID_HEX', (_name, s) => {
    expectCode(() => hexToBytes(s), 'BYTES_INVALID_HEX')
  })

  it('rejects every string that is not (0x)?(hex pair)* and accepts every one that is (property)', () => {
    const valid = /^(?:0x)?(?:[0-9a-fA-F]{2})*$/
    const unit = fc.constantFrom(...'0123456789abcdefABCDEFxX gG-=\u00e9'.split(''))
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 12 }), (s) => {
        if (valid.test(s)) {
          const h = s.startsWith('0x') ? s.slice(2) : s
          expect(plain(hexToBytes(s))).toEqual(plain(Buffer.from(h, 'hex')))
        } else {
          expectCode(() => hexToBytes(s), 'BYTES_INVALID_HEX')
        }
      }),
      { numRuns: 500 },
    )
  })

  it('isHex checks even-length unprefixed hex and the byte length when given', () => {
    expect(isHex('')).toBe(true)
    expect(isHex('00aaFF')).toBe(true)
    expect(isHex('00aaFF', 3)).toBe(true)
    expect(isHex('00aaFF', 2)).toBe(false)
    expect(isHex('00aaFF', 4)).toBe(false)
    expect(isHex('0x00')).toBe(false)
    expect(isHex('abc')).toBe(false)
    expect(isHex('zz')).toBe(false)
    expect(isHex('', 0)).toBe(true)
  })
})

describe('base64', () => {
  // RFC 4648 §10 test vectors.
  it.each([
    ['', ''],
    ['f', 'Zg=='],
    ['fo', 'Zm8='],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg=='],
    ['fooba', 'Zm9vYmE='],
    ['foobar', 'Zm9vYmFy'],
  ])('RFC 4648 vector %j <-> %j', (text, b64) => {
    expect(bytesToBase64(utf8ToBytes(text))).toBe(b64)
    expect(bytesToUtf8(base64ToBytes(b64))).toBe(text)
  })

  it('uses the standard alphabet (+ and /), not the URL-safe one', () => {
    expect(bytesToBase64(Uint8Array.of(0xfb, 0xff, 0xbf))).toBe('+/+/')
    expect(plain(base64ToBytes('+/+/'))).toEqual([0xfb, 0xff, 0xbf])
  })

  it('round trips any bytes (property)', () => {
    fc.assert(
      fc.property(bytesArb, (b) => {
        const s = bytesToBase64(b)
        expect(s.length).toBe(Math.ceil(b.length / 3) * 4)
        expect(plain(base64ToBytes(s))).toEqual(plain(b))
      }),
    )
  })

  it("encodes exactly like Node's Buffer and decodes canonical text like it (property)", () => {
    fc.assert(
      fc.property(bytesArb, (b) => {
        const s = bytesToBase64(b)
        expect(s).toBe(Buffer.from(b).toString('base64'))
        expect(plain(base64ToBytes(s))).toEqual(plain(Buffer.from(s, 'base64')))
      }),
    )
  })

  it.each([
    ['missing padding (1 byte)', 'Zg'],
    ['missing padding (2 bytes)', 'Zm8'],
    ['one = where two are needed', 'Zg='],
    ['three =', 'Zg==='],
    ['= only', '===='],
    ['= in the middle', 'Zg==Zm8='],
    ['= inside a quantum', 'Z=g='],
    ['URL-safe -', 'Zm-v'],
    ['URL-safe _', 'Zm_v'],
    ['inner space', 'Zm9v Zm9v'],
    ['trailing newline', 'Zm9v\n'],
    ['length not a multiple of 4', 'Zm9vY'],
    ['single char', 'Z'],
    ['non-ASCII', 'Zm9\u00e9'],
    ['char above U+00FF', 'Zm9\u0176'],
    ['data URL prefix', 'data:Zm9v'],
  ])('rejects %s (%j) with BYTES_INVALID_BASE64, alone and after a long valid prefix', (_name, s) => {
    expectCode(() => base64ToBytes(s), 'BYTES_INVALID_BASE64')
    // Long inputs may take a different decoding path; the rules must not change with length.
    expectCode(() => base64ToBytes(LONG_PREFIX + s), 'BYTES_INVALID_BASE64')
  })

  it('rejects non-canonical padding bits that Buffer silently accepts', () => {
    // 'Zg==' is canonical for 'f' (0x66 = 011001|10 + 0000); 'Zh==' sets a padding bit.
    expect(plain(Buffer.from('Zh==', 'base64'))).toEqual([0x66])
    expectCode(() => base64ToBytes('Zh=='), 'BYTES_INVALID_BASE64')
    // 'Zm8=' is canonical for 'fo'; 'Zm9=' sets one of the two padding bits.
    expect(plain(Buffer.from('Zm9=', 'base64'))).toEqual([0x66, 0x6f])
    expectCode(() => base64ToBytes('Zm9='), 'BYTES_INVALID_BASE64')
    expectCode(() => base64ToBytes(`${LONG_PREFIX}Zh==`), 'BYTES_INVALID_BASE64')
    expectCode(() => base64ToBytes(`${LONG_PREFIX}Zm9=`), 'BYTES_INVALID_BASE64')
    expect(base64ToBytes(`${LONG_PREFIX}Zg==`).length).toBe(91)
  })

  it('accepts exactly one text form per byte string: every last-char variant other than the canonical one is rejected (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 120 }).filter((b) => b.length % 3 !== 0),
        (b) => {
          const s = bytesToBase64(b)
          const pad = b.length % 3 === 1 ? 2 : 1
          const at = s.length - pad - 1 // the last data character, which carries the padding bits
          const canonical = B64_ALPHABET.indexOf(s[at] as string)
          const unusedBits = pad === 2 ? 0b1111 : 0b11
          expect(canonical & unusedBits).toBe(0)
          for (let v = 0; v < 64; v++) {
            const variant = s.slice(0, at) + B64_ALPHABET[v] + s.slice(at + 1)
            if ((v & unusedBits) !== 0) {
              // Non-zero padding bits are refused; with the same data bits Node decodes it to the same bytes.
              expectCode(() => base64ToBytes(variant), 'BYTES_INVALID_BASE64')
              if ((v & ~unusedBits) === canonical) expect(plain(Buffer.from(variant, 'base64'))).toEqual(plain(b))
            } else if (v === canonical) {
              expect(plain(base64ToBytes(variant))).toEqual(plain(b))
            } else {
              // Different data bits: a different byte string, itself canonical.
              expect(plain(base64ToBytes(variant))).not.toEqual(plain(b))
              expect(bytesToBase64(base64ToBytes(variant))).toBe(variant)
            }
          }
        },
      ),
      { numRuns: 60 },
    )
  })

  it('any string either is rejected or is the canonical encoding of what it decodes to (property)', () => {
    const unit = fc.constantFrom(...'AQgwZh+/=9-_ '.split(''))
    let accepted = 0
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 12 }), (s) => {
        let decoded: Uint8Array
        try {
          decoded = base64ToBytes(s)
        } catch (e) {
          expect(isTrellisError(e, 'BYTES_INVALID_BASE64')).toBe(true)
          return
        }
        accepted++
        expect(bytesToBase64(decoded)).toBe(s)
        expect(plain(decoded)).toEqual(plain(Buffer.from(s, 'base64')))
      }),
      { numRuns: 2000 },
    )
    // The generator must actually reach the accepting branch, or the property says nothing.
    expect(accepted).toBeGreaterThan(20)
  })

  it('the same holds for long strings: a canonical prefix followed by an arbitrary tail (property)', () => {
    const unit = fc.constantFrom(...'AQgwZh+/=9-_ \n'.split(''))
    let accepted = 0
    let rejected = 0
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 48, maxLength: 150 }), fc.string({ unit, maxLength: 8 }), (prefix, tail) => {
        const head = bytesToBase64(prefix.subarray(0, prefix.length - (prefix.length % 3)))
        const s = head + tail
        let decoded: Uint8Array
        try {
          decoded = base64ToBytes(s)
        } catch (e) {
          expect(isTrellisError(e, 'BYTES_INVALID_BASE64')).toBe(true)
          rejected++
          return
        }
        accepted++
        expect(bytesToBase64(decoded)).toBe(s)
        expect(plain(decoded)).toEqual(plain(Buffer.from(s, 'base64')))
      }),
      { numRuns: 2000 },
    )
    expect(accepted).toBeGreaterThan(20)
    expect(rejected).toBeGreaterThan(20)
  })

  it('returns a plain array whose bytes no other array shares (long and short inputs)', () => {
    for (const b of [Uint8Array.of(1, 2, 3), Uint8Array.from({ length: 150 }, (_, i) => i)]) {
      const text = bytesToBase64(b)
      const out = base64ToBytes(text)
      const other = base64ToBytes(text)
      const buffer = Buffer.from(text, 'base64')
      expect(Object.getPrototypeOf(out)).toBe(Uint8Array.prototype)
      out.fill(0xee)
      expect(plain(other)).toEqual(plain(b))
      expect(plain(buffer)).toEqual(plain(b))
      expect(plain(base64ToBytes(text))).toEqual(plain(b))
    }
  })
})

describe('compareBytes / equalBytes / concatBytes', () => {
  const sign = (n: number) => Math.sign(n)
  // Short arrays over a tiny alphabet so equal prefixes and equal arrays actually occur.
  const smallBytes = fc.uint8Array({ maxLength: 4, min: 0, max: 2 })

  it('orders lexicographically, shorter prefix first', () => {
    expect(compareBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBeLessThan(0)
    expect(compareBytes(Uint8Array.of(2), Uint8Array.of(1, 255))).toBeGreaterThan(0)
    expect(compareBytes(Uint8Array.of(1), Uint8Array.of(1, 0))).toBeLessThan(0)
    expect(compareBytes(new Uint8Array(), new Uint8Array())).toBe(0)
    expect(compareBytes(new Uint8Array(), Uint8Array.of(0))).toBeLessThan(0)
    expect(compareBytes(Uint8Array.of(255), Uint8Array.of(0))).toBeGreaterThan(0)
  })

  it('agrees in sign with Buffer.compare (property)', () => {
    fc.assert(
      fc.property(fc.oneof(smallBytes, bytesArb), fc.oneof(smallBytes, bytesArb), (a, b) => {
        expect(sign(compareBytes(a, b))).toBe(Buffer.compare(Buffer.from(a), Buffer.from(b)))
      }),
      { numRuns: 500 },
    )
  })

  it('is reflexive, antisymmetric, zero exactly on equal arrays (property)', () => {
    fc.assert(
      fc.property(smallBytes, smallBytes, (a, b) => {
        expect(compareBytes(a, a)).toBe(0)
        expect(compareBytes(a, Uint8Array.from(a))).toBe(0)
        expect(sign(compareBytes(a, b)) + sign(compareBytes(b, a))).toBe(0)
        expect(compareBytes(a, b) === 0).toBe(equalBytes(a, b))
      }),
      { numRuns: 500 },
    )
  })

  it('is transitive (property)', () => {
    fc.assert(
      fc.property(smallBytes, smallBytes, smallBytes, (a, b, c) => {
        if (compareBytes(a, b) <= 0 && compareBytes(b, c) <= 0) expect(compareBytes(a, c)).toBeLessThanOrEqual(0)
        if (compareBytes(a, b) < 0 && compareBytes(b, c) <= 0) expect(compareBytes(a, c)).toBeLessThan(0)
      }),
      { numRuns: 1000 },
    )
  })

  it('sorts like the lower-case hex strings sort (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(smallBytes, fc.uint8Array({ maxLength: 6 })), { maxLength: 20 }), (arr) => {
        const byBytes = [...arr].sort(compareBytes).map(bytesToHex)
        const byHex = arr.map(bytesToHex).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
        expect(byBytes).toEqual(byHex)
      }),
    )
  })

  it('equalBytes compares length and every byte', () => {
    expect(equalBytes(new Uint8Array(), new Uint8Array())).toBe(true)
    expect(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true)
    expect(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 0))).toBe(false)
    expect(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false)
    expect(equalBytes(Uint8Array.of(9, 2), Uint8Array.of(1, 2))).toBe(false)
    expect(equalBytes(Buffer.from([1, 2]), Uint8Array.of(1, 2))).toBe(true)
  })

  it('concatBytes concatenates into a fresh array (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 10 }), { maxLength: 6 }), (parts) => {
        const out = concatBytes(...parts)
        expect(plain(out)).toEqual(parts.flatMap(plain))
        expect(plain(out)).toEqual(plain(Buffer.concat(parts)))
        for (const p of parts) if (p.length > 0) expect(out.buffer).not.toBe(p.buffer)
      }),
    )
    const a = Uint8Array.of(1)
    const out = concatBytes(a)
    a[0] = 7
    expect(plain(out)).toEqual([1])
    expect(plain(concatBytes())).toEqual([])
  })
})

describe('utf8', () => {
  it('round trips any string of valid code points, like Buffer (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const b = utf8ToBytes(s)
        expect(plain(b)).toEqual(plain(Buffer.from(s, 'utf8')))
        expect(bytesToUtf8(b)).toBe(s)
      }),
    )
  })

  it.each([
    ['lone continuation byte', [0x80]],
    ['invalid byte 0xff', [0xff]],
    ['overlong NUL', [0xc0, 0x80]],
    ['encoded surrogate', [0xed, 0xa0, 0x80]],
    ['truncated 3-byte sequence', [0xe2, 0x82]],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('bytesToUtf8 throws a TypeError on %s', (_name, bytes) => {
    expect(() => bytesToUtf8(Uint8Array.from(bytes))).toThrow(TypeError)
  })
})

describe('toUint8Array', () => {
  it('returns a plain Uint8Array as is', () => {
    const u = Uint8Array.of(1, 2, 3)
    expect(toUint8Array(u)).toBe(u)
  })

  it('turns a Buffer into a plain Uint8Array view over the same memory', () => {
    const pool = Buffer.from([9, 9, 1, 2, 3, 9])
    const buf = pool.subarray(2, 5)
    const u = toUint8Array(buf)
    expect(Object.getPrototypeOf(u)).toBe(Uint8Array.prototype)
    expect(Buffer.isBuffer(u)).toBe(false)
    expect(plain(u)).toEqual([1, 2, 3])
    expect(u.byteOffset).toBe(buf.byteOffset)
    expect(u.byteLength).toBe(3)
    buf[0] = 42
    expect(u[0]).toBe(42)
  })
})

describe('big-endian integer writers', () => {
  it('write what DataView writes, at any offset (property)', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.integer({ min: 0, max: 0xffffffff }), fc.nat(8), (n64, n32, off) => {
        const a = new Uint8Array(off + 12)
        writeU64BE(a, off, n64)
        writeU32BE(a, off + 8, n32)
        const b = new Uint8Array(off + 12)
        const v = new DataView(b.buffer)
        v.setBigUint64(off, BigInt(n64))
        v.setUint32(off + 8, n32)
        expect(plain(a)).toEqual(plain(b))
      }),
    )
  })
})

describe('latin1Slice', () => {
  it('reads one character per byte, from any range of any view (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), fc.nat(8), (bytes, a, b, skip) => {
        const view = new Uint8Array(bytes.length + skip)
        view.set(bytes, skip)
        const inner = view.subarray(skip)
        const start = bytes.length === 0 ? 0 : a % bytes.length
        const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1))
        expect(latin1Slice(inner, start, end)).toBe(String.fromCharCode(...bytes.subarray(start, end)))
      }),
    )
  })
})
