import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeValue,
  decodeValueJSON,
  encodedValueFits,
  encodedValueLength,
  encodeValue,
  Reader,
  type Value,
  valueFromJSON,
  valueFromParsedJSON,
  valueToJSON,
  Writer,
} from '../src/index.js'

// ASCII of every length class the fast paths distinguish (≤64, ≤127 and ≥128 bytes: one- and
// two-byte length prefixes), and strings with multi-byte, astral and lone-surrogate characters.
const stringArb = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', '\u007f', '\u0080', 'é', '𝄞', '\uD800', 'a'.repeat(127) + 'é', 'b'.repeat(128)),
)
const valueArb: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4 },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    stringArb,
    fc.uint8Array({ maxLength: 80 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(stringArb, tie('value'), { maxKeys: 20, noNullPrototype: true }),
  ),
})).value

const utf8 = new TextEncoder()
// Child processes run the built package (npm test builds first).
const LEDGER_DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url))

describe('canonical value encoding', () => {
  it('writes every string as its varint byte length and UTF-8 bytes, and reads it back', () => {
    fc.assert(
      fc.property(stringArb, (s) => {
        const bytes = new Writer(4).string(s).finish()
        const expected = new Writer(4).bytes(utf8.encode(s)).finish()
        expect(bytes).toEqual(expected)
        // Lone surrogates become U+FFFD on the way in; everything else reads back unchanged.
        expect(new Reader(bytes).string()).toBe(new TextDecoder().decode(utf8.encode(s)))
      }),
      { numRuns: 1000 },
    )
  })

  it('round-trips values, with map keys in one canonical order whatever the insertion order', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const bytes = encodeValue(v)
        const back = decodeValue(bytes)
        expect(encodeValue(back)).toEqual(bytes)
        if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) {
          const reversed = Object.fromEntries(Object.entries(v).reverse()) as Value
          expect(encodeValue(reversed)).toEqual(bytes)
        }
      }),
      { numRuns: 500 },
    )
  })

  it('encodedValueFits agrees with the exact encoded length at and around every limit', () => {
    fc.assert(
      fc.property(valueArb, fc.integer({ min: -3, max: 3 }), (v, delta) => {
        const n = encodedValueLength(v)
        for (const max of [0, n + delta, n, n * 3 + 50]) expect(encodedValueFits(v, max)).toBe(n <= max)
      }),
      { numRuns: 500 },
    )
  })

  it('reading a value back from its JSON form is the same without printing and parsing the text', () => {
    const withBytesMaps = fc.oneof(
      valueArb,
      valueArb.map((v) => ({ $bytes: 'AAAA', v }) as Value),
      fc.constant({ $bytes: 'AAAA' } as Value),
    )
    fc.assert(
      fc.property(withBytesMaps, (v) => {
        const j = valueToJSON(v)
        expect(encodeValue(valueFromJSON(j))).toEqual(encodeValue(valueFromJSON(JSON.parse(JSON.stringify(j)))))
      }),
      { numRuns: 500 },
    )
  })

  it('decodeValueJSON prints what valueToJSON then JSON.stringify print, byte strings, integer-like and inherited keys included', () => {
    const tricky = fc.dictionary(fc.constantFrom('0', '7', '10', '__proto__', 'constructor', 'toJSON', 'b', 'a', '$bytes'), valueArb, {
      maxKeys: 6,
      noNullPrototype: true,
    }) as fc.Arbitrary<Value>
    fc.assert(
      fc.property(fc.oneof(valueArb, tricky, fc.array(tricky, { maxLength: 3 })), (v) => {
        const bytes = encodeValue(v)
        expect(decodeValueJSON(bytes)).toBe(JSON.stringify(valueToJSON(decodeValue(bytes))))
      }),
      { numRuns: 800 },
    )
    // A value with bytes after one without: the bytes are noticed each time.
    expect(decodeValueJSON(encodeValue({ a: 1 }))).toBe('{"a":1}')
    expect(decodeValueJSON(encodeValue({ a: Uint8Array.of(1) }))).toBe('{"a":{"$bytes":"AQ=="}}')
    expect(() => decodeValueJSON(Uint8Array.of(99))).toThrow(/unknown value tag/)
  })

  it('valueFromParsedJSON gives the value valueFromJSON gives, or the same error, for any parsed JSON', () => {
    // Conversion and encoding fail apart: the executor reports the first as VALUE_INVALID and the
    // second, later, as ENCODING_INVALID, so a check moved from one to the other changes receipts.
    const outcome = (f: () => Value): string => {
      let v: Value
      try {
        v = f()
      } catch (err) {
        return `convert-error ${(err as Error).message}`
      }
      try {
        return `ok ${Buffer.from(encodeValue(v)).toString('hex')}`
      } catch (err) {
        return `encode-error ${(err as Error).message}`
      }
    }
    let deep: unknown = 1
    for (let i = 0; i < 40; i++) deep = [deep]
    const json = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }),
      valueArb.map((v) => valueToJSON(v)),
      fc.constantFrom<unknown>({ $bytes: 'AAAA' }, { $bytes: 1 }, { $bytes: '!' }, { a: 1.5, b: 2 ** 60 }, [-0], { __proto__x: 1 }, deep),
    )
    fc.assert(
      fc.property(json, (j) => {
        const text = JSON.stringify(j)
        expect(outcome(() => valueFromParsedJSON(JSON.parse(text)))).toBe(outcome(() => valueFromJSON(JSON.parse(text))))
      }),
      { numRuns: 1000 },
    )
    expect(() => valueFromParsedJSON(deep)).toThrow(/nested deeper than 32/)
    expect(() => valueFromParsedJSON({ a: [1.5] })).toThrow(/not a safe integer/)
    // Data that is already a value is not copied; anything to convert is.
    const plain = JSON.parse('{"a":[1,"x",null,true],"__proto__":{"b":2}}') as Value
    expect(valueFromParsedJSON(plain)).toBe(plain)
    expect(Object.getPrototypeOf(plain)).toBe(Object.prototype)
    const withBytes = JSON.parse('{"a":{"$bytes":"AQ=="}}') as unknown
    expect(valueFromParsedJSON(withBytes)).toEqual({ a: Uint8Array.of(1) })
  })

  it('rejects what the exact encoder rejects, whatever the limit', () => {
    for (const bad of [1.5, Number.NaN, 2 ** 60, { a: [1, 0.5] }, new Map(), { x: undefined }, () => 1] as unknown as Value[]) {
      expect(() => encodedValueLength(bad)).toThrow()
      expect(() => encodedValueFits(bad, 1_000_000)).toThrow()
    }
  })

  it('keeps keys such as "__proto__" as own data in decoded and converted maps, never as the prototype', () => {
    const keyArb = fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '0', '10', 'a', 'é')
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(keyArb, valueArb), { selector: ([k]) => k, maxLength: 6 }), (entries) => {
        const src: Record<string, Value> = {}
        for (const [k, v] of entries) Object.defineProperty(src, k, { value: v, enumerable: true, writable: true, configurable: true })
        const bytes = encodeValue(src)
        const values = [decodeValue(bytes), valueFromJSON(valueToJSON(src))]
        const jsons = [valueToJSON(decodeValue(bytes)), valueToJSON(src)]
        for (const m of [...values, ...jsons] as object[]) {
          expect(Object.getPrototypeOf(m)).toBe(Object.prototype)
          expect(Object.keys(m).sort()).toEqual(entries.map(([k]) => k).sort())
          for (const [k] of entries) expect(Object.getOwnPropertyDescriptor(m, k)?.enumerable).toBe(true)
        }
        for (const v of values) expect(encodeValue(v)).toEqual(bytes)
        for (const j of jsons) expect(encodeValue(valueFromJSON(j))).toEqual(bytes)
      }),
      { numRuns: 300 },
    )
  })

  it('keeps a key as own data when Object.prototype has a setter or is frozen for that name', () => {
    // A child process: the setter must be on Object.prototype before the codec loads, and a frozen
    // prototype cannot be thawed for the other tests.
    const setter = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const calls = []
         Object.defineProperty(Object.prototype, 'trap', { set: (v) => calls.push(v), get: () => 'inherited', configurable: true })
         const { decodeValue, encodeValue, valueFromJSON, valueToJSON } = await import(${JSON.stringify(LEDGER_DIST)})
         const bytes = encodeValue(Object.defineProperty({}, 'trap', { value: 'data', enumerable: true }))
         const maps = [decodeValue(bytes), valueFromJSON(JSON.parse('{"trap":"data"}')), valueToJSON(decodeValue(bytes))]
         console.log(JSON.stringify([maps.map((m) => Object.getOwnPropertyDescriptor(m, 'trap')?.value), maps.every((m) => Buffer.from(encodeValue(m)).equals(bytes)), calls]))`,
      ],
      { encoding: 'utf8' },
    )
    expect(JSON.parse(setter)).toEqual([['data', 'data', 'data'], true, []])
    // A frozen prototype makes inherited names read-only: assignment to them would throw.
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { decodeValue, encodeValue, valueFromJSON } from ${JSON.stringify(LEDGER_DIST)}
         Object.freeze(Object.prototype)
         const v = valueFromJSON({ constructor: 1, toString: 2, valueOf: 3 })
         const back = decodeValue(encodeValue(v))
         console.log(JSON.stringify([Object.keys(back), back.constructor, Object.getPrototypeOf(back) === Object.prototype]))`,
      ],
      { encoding: 'utf8' },
    )
    expect(JSON.parse(out)).toEqual([['constructor', 'toString', 'valueOf'], 1, true])
  })

  it('decodes ASCII map keys around the fast path length bound, and refuses invalid UTF-8 in any', () => {
    for (const n of [0, 1, 31, 32, 33, 64]) {
      const k = 'k'.repeat(n)
      expect(Object.keys(decodeValue(encodeValue({ [k]: 1 })))).toEqual([k])
    }
    for (const key of [[0x80], [0xff], [0x61, 0xc3], new Array(31).fill(0x61).concat([0x80]), new Array(40).fill(0x61).concat([0x80])]) {
      const bytes = Uint8Array.of(0x07, 1, key.length, ...key, 0x00)
      expect(() => decodeValue(bytes)).toThrow(/invalid UTF-8/)
    }
  })

  it('refuses map keys out of order or repeated, comparing their UTF-8 bytes', () => {
    const swapped = (v: object, from: string, to: string) => {
      const bytes = encodeValue(v as Value)
      const i = bytes.indexOf(from.charCodeAt(0))
      const j = bytes.indexOf(to.charCodeAt(0))
      bytes[i] = to.charCodeAt(0)
      bytes[j] = from.charCodeAt(0)
      return bytes
    }
    expect(() => decodeValue(swapped({ x: 1, y: 2 }, 'x', 'y'))).toThrow(/map keys not strictly ascending/)
    expect(() => decodeValue(swapped({ kb: 1, kc: 2 }, 'b', 'c'))).toThrow(/map keys not strictly ascending/)
    const repeated = encodeValue({ x: 1, y: 2 })
    repeated[repeated.indexOf(0x79)] = 0x78
    expect(() => decodeValue(repeated)).toThrow(/map keys not strictly ascending/)
    // Shorter first when one key starts the other; non-ASCII keys after ASCII ones (UTF-8 order).
    expect(Object.keys(decodeValue(encodeValue({ ab: 1, a: 2, é: 3, z: 4 })) as object)).toEqual(['a', 'ab', 'z', 'é'])
  })

  it('refuses invalid UTF-8 in a string, also in short ones', () => {
    for (const body of [[0xff], [0x61, 0xc3], [0xed, 0xa0, 0x80], new Array(100).fill(0x61).concat([0x80])]) {
      const bytes = Uint8Array.of(...new Writer(4).varint(body.length).finish(), ...body)
      expect(() => new Reader(bytes).string()).toThrow(/invalid UTF-8/)
    }
  })
})
