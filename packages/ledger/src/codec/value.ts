import { base64ToBytes, bytesToBase64, compareBytes, TrellisError, utf8ToBytes } from '@trellis/utils'
import type { LedgerErrorType } from '../errors.js'
import { Reader } from './reader.js'
import { Writer } from './writer.js'

/**
 * The data model of contract arguments, return values, events and state: JSON without floats, plus
 * byte strings. Integers are safe integers (|n| ≤ 2^53−1); amounts beyond that travel as strings.
 */
export type Value = null | boolean | number | string | Uint8Array | readonly Value[] | { readonly [key: string]: Value }

/** Protocol limit on nesting, so decoding hostile input cannot exhaust the stack. */
export const MAX_VALUE_DEPTH = 32

const TAG = { null: 0, false: 1, true: 2, int: 3, string: 4, bytes: 5, array: 6, map: 7, negInt: 8 } as const

function invalid(reason: string): never {
  throw new TrellisError<LedgerErrorType>({ code: 'ENCODING_INVALID', reason, offset: -1 }, `invalid value: ${reason}`)
}

const SURROGATE = /[\uD800-\uDFFF]/

// Map keys sort by their UTF-8 bytes, which is code-point order. UTF-16 code-unit order (JavaScript's
// `<`) agrees with it except around surrogate pairs, so those alone take the slow path.
function compareKeys(a: string, b: string): number {
  if (SURROGATE.test(a) || SURROGATE.test(b)) return compareBytes(utf8ToBytes(a), utf8ToBytes(b))
  return a < b ? -1 : a > b ? 1 : 0
}

/** A map's keys in canonical order. Small maps (nearly all) are insertion-sorted in place: no allocation. */
function sortedKeys(v: object): string[] {
  const keys = Object.keys(v)
  const n = keys.length
  if (n > 16) return keys.sort(compareKeys)
  for (let i = 0; i < n; i++) if (SURROGATE.test(keys[i] as string)) return keys.sort(compareKeys)
  for (let i = 1; i < n; i++) {
    const k = keys[i] as string
    let j = i - 1
    while (j >= 0 && (keys[j] as string) > k) {
      keys[j + 1] = keys[j] as string
      j--
    }
    keys[j + 1] = k
  }
  return keys
}

function writeValue(w: Writer, v: Value, depth: number): void {
  if (depth > MAX_VALUE_DEPTH) invalid(`nested deeper than ${MAX_VALUE_DEPTH}`)
  if (v === null) w.u8(TAG.null)
  else if (v === false) w.u8(TAG.false)
  else if (v === true) w.u8(TAG.true)
  else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) invalid(`number ${v} is not a safe integer`)
    // Negative integers carry their magnitude minus one, so every integer has one encoding (-0 is 0).
    if (v < 0) w.u8(TAG.negInt).varint(-v - 1)
    else w.u8(TAG.int).varint(v === 0 ? 0 : v)
  } else if (typeof v === 'string') w.u8(TAG.string).string(v)
  else if (v instanceof Uint8Array) w.u8(TAG.bytes).bytes(v)
  else if (Array.isArray(v)) {
    w.u8(TAG.array).varint(v.length)
    for (const item of v) writeValue(w, item, depth + 1)
  } else if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const keys = sortedKeys(v)
    w.u8(TAG.map).varint(keys.length)
    for (const k of keys) {
      w.string(k)
      writeValue(w, (v as Record<string, Value>)[k] as Value, depth + 1)
    }
  } else invalid(`unsupported type ${typeof v}`)
}

// Set when readValue decodes a byte string (see decodeValueJSON).
let bytesDecoded = false

function readValue(r: Reader, depth: number): Value {
  if (depth > MAX_VALUE_DEPTH) r.fail(`nested deeper than ${MAX_VALUE_DEPTH}`)
  const tag = r.u8()
  switch (tag) {
    case TAG.null:
      return null
    case TAG.false:
      return false
    case TAG.true:
      return true
    case TAG.int:
      return r.varint()
    case TAG.negInt: {
      const m = r.varint()
      if (m >= Number.MAX_SAFE_INTEGER) r.fail('integer below -(2^53-1)')
      return -m - 1
    }
    case TAG.string:
      return r.string()
    case TAG.bytes:
      bytesDecoded = true
      return r.bytes()
    case TAG.array: {
      const n = r.count()
      const out: Value[] = new Array(n)
      for (let i = 0; i < n; i++) out[i] = readValue(r, depth + 1)
      return out
    }
    case TAG.map: {
      const n = r.count(2)
      // A plain object filled by putOwn keeps V8's fast properties (maps of the same shape share one
      // hidden class); inherited names such as "__proto__" become own data, never the prototype.
      const out: Record<string, Value> = {}
      let prevStart = -1
      let prevEnd = -1
      for (let i = 0; i < n; i++) {
        const k = r.string()
        const start = r.lastStringStart
        const end = r.lastStringEnd
        if (prevStart >= 0 && r.compareRanges(prevStart, prevEnd, start, end) >= 0) r.fail('map keys not strictly ascending')
        prevStart = start
        prevEnd = end
        const v = readValue(r, depth + 1)
        putOwn(out, k, v)
      }
      return out
    }
    default:
      return r.fail(`unknown value tag ${tag}`)
  }
}

/** Appends the canonical encoding of `v`. @throws TrellisError ENCODING_INVALID for non-values (floats, functions…). */
export function writeValueTo(w: Writer, v: Value): void {
  writeValue(w, v, 0)
}

/** Reads one value. @throws TrellisError ENCODING_INVALID */
export function readValueFrom(r: Reader): Value {
  return readValue(r, 0)
}

/** Canonical bytes of a value. @throws TrellisError ENCODING_INVALID */
const scratch = new Writer(4096)

export function encodeValue(v: Value): Uint8Array {
  // Encoding is synchronous and not re-entrant, so one scratch buffer serves every call.
  scratch.reset()
  writeValue(scratch, v, 0)
  return scratch.copy()
}

/** Length in bytes of the canonical encoding of `v`, without allocating it. */
export function encodedValueLength(v: Value): number {
  scratch.reset()
  writeValue(scratch, v, 0)
  return scratch.length
}

// An upper bound of a value's encoded length, found without encoding it (Infinity past the depth
// limit or for anything unusual: the exact path then decides, and reports errors).
function lengthBound(v: Value, depth: number): number {
  if (depth > MAX_VALUE_DEPTH) return Infinity
  if (v === null || typeof v === 'boolean') return 1
  if (typeof v === 'number') return Number.isSafeInteger(v) ? 10 : Infinity
  if (typeof v === 'string') return 9 + 3 * v.length
  if (v instanceof Uint8Array) return 9 + v.length
  let total = 9
  if (Array.isArray(v)) {
    for (const item of v as readonly Value[]) total += lengthBound(item, depth + 1)
    return total
  }
  if (typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype) return Infinity
  for (const k of Object.keys(v)) total += 8 + 3 * k.length + lengthBound((v as Record<string, Value>)[k] as Value, depth + 1)
  return total
}

/**
 * Whether the canonical encoding of `v` is at most `max` bytes: the same answer as comparing
 * {@link encodedValueLength}, but values far below the limit (nearly all) are not encoded to tell.
 * @throws TrellisError ENCODING_INVALID for non-values, like encodedValueLength
 */
export function encodedValueFits(v: Value, max: number): boolean {
  if (lengthBound(v, 0) <= max) return true
  return encodedValueLength(v) <= max
}

/** Decodes exactly one value, rejecting trailing bytes. @throws TrellisError ENCODING_INVALID */
export function decodeValue(bytes: Uint8Array): Value {
  const r = new Reader(bytes)
  const v = readValue(r, 0)
  r.end()
  return v
}

// The names Object.prototype has when this module loads: "__proto__", "constructor", "toString"…
// and whatever the environment added before (setters included). A `k in out` test per key would
// also see later additions, but it doubles the cost of decoding a map (keys read from bytes are not
// yet internalised strings).
const INHERITED = new Set(Object.getOwnPropertyNames(Object.prototype))

/**
 * Sets an own data property on a fresh object. Assignment keeps V8's fast properties. An inherited
 * name is defined instead: assigning it could set the prototype, call a setter, or throw when
 * Object.prototype is frozen.
 */
function putOwn<T>(out: Record<string, T>, k: string, v: T): void {
  if (INHERITED.has(k)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true })
  else out[k] = v
}

/** A JSON-compatible form of a value: byte strings become `{ "$bytes": "<base64>" }`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** Converts a value to JSON-compatible data (bytes → `{ $bytes: base64 }`). */
export function valueToJSON(v: Value): JsonValue {
  if (v instanceof Uint8Array) return { $bytes: bytesToBase64(v) }
  if (Array.isArray(v)) return v.map(valueToJSON)
  if (v !== null && typeof v === 'object') {
    const out: Record<string, JsonValue> = {}
    for (const [k, x] of Object.entries(v as Record<string, Value>)) putOwn(out, k, valueToJSON(x))
    return out
  }
  return v as JsonValue
}

/**
 * Converts JSON data to a value (`{ $bytes: base64 }` → bytes), validating it on the way.
 * @throws TrellisError ENCODING_INVALID for floats, unsafe integers, bad base64 or excessive depth.
 */
export function valueFromJSON(j: unknown, depth = 0): Value {
  if (depth > MAX_VALUE_DEPTH) invalid(`nested deeper than ${MAX_VALUE_DEPTH}`)
  if (j === null || typeof j === 'boolean' || typeof j === 'string') return j
  if (typeof j === 'number') {
    if (!Number.isSafeInteger(j)) invalid(`number ${j} is not a safe integer`)
    return j
  }
  if (Array.isArray(j)) return j.map((x) => valueFromJSON(x, depth + 1))
  if (typeof j === 'object') {
    const keys = Object.keys(j)
    const rec = j as Record<string, unknown>
    if (keys.length === 1 && keys[0] === '$bytes') {
      if (typeof rec.$bytes !== 'string') invalid('$bytes must be a base64 string')
      try {
        return base64ToBytes(rec.$bytes)
      } catch {
        invalid('$bytes is not valid base64')
      }
    }
    const out: Record<string, Value> = {}
    for (const k of keys) putOwn(out, k, valueFromJSON(rec[k], depth + 1))
    return out
  }
  return invalid(`unsupported JSON type ${typeof j}`)
}

/**
 * The JSON text of an encoded value: `JSON.stringify(valueToJSON(decodeValue(bytes)))`. A value
 * without byte strings is already JSON data, so it is not copied first.
 * @throws TrellisError ENCODING_INVALID
 */
export function decodeValueJSON(bytes: Uint8Array): string {
  bytesDecoded = false
  const v = decodeValue(bytes)
  return JSON.stringify(bytesDecoded ? valueToJSON(v) : v)
}

// Whether JSON data is a value as it stands: no floats or unsafe integers, no `$bytes` object, not
// too deep. Anything else takes valueFromJSON's path, which converts it or reports why not.
function isPlainValue(j: unknown, depth: number): boolean {
  if (depth > MAX_VALUE_DEPTH) return false
  if (j === null || typeof j === 'boolean' || typeof j === 'string') return true
  if (typeof j === 'number') return Number.isSafeInteger(j)
  if (Array.isArray(j)) {
    for (let i = 0; i < j.length; i++) if (!isPlainValue(j[i], depth + 1)) return false
    return true
  }
  if (typeof j !== 'object' || Object.getPrototypeOf(j) !== Object.prototype) return false
  const keys = Object.keys(j)
  if (keys.length === 1 && keys[0] === '$bytes') return false
  for (let i = 0; i < keys.length; i++) if (!isPlainValue((j as Record<string, unknown>)[keys[i] as string], depth + 1)) return false
  return true
}

/**
 * {@link valueFromJSON} for data fresh from `JSON.parse`, which the caller owns: such data that is
 * already a value is returned as it is, not copied.
 * @throws TrellisError ENCODING_INVALID, as valueFromJSON
 */
export function valueFromParsedJSON(j: unknown): Value {
  return isPlainValue(j, 0) ? (j as Value) : valueFromJSON(j)
}

/** True when `v` is a map value (a plain object, not bytes or an array). */
export function isValueMap(v: Value): v is { readonly [key: string]: Value } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)
}
