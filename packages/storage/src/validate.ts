import { invalidArgument } from './errors.js'
import type { BatchOp, RangeOptions } from './types.js'

/** A range in one normal form, shared by every backend so they agree on edge cases. */
export interface NormalizedRange {
  readonly lower: Uint8Array | undefined
  readonly lowerInclusive: boolean
  readonly upper: Uint8Array | undefined
  readonly upperInclusive: boolean
  readonly reverse: boolean
  /** `Infinity` when unlimited. */
  readonly limit: number
}

export function assertKey(key: unknown, argument = 'key'): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw invalidArgument(argument, `${argument} must be a Uint8Array`)
}

export function assertKeys(keys: readonly unknown[]): asserts keys is readonly Uint8Array[] {
  if (!Array.isArray(keys)) throw invalidArgument('keys', 'keys must be an array')
  for (let i = 0; i < keys.length; i++) assertKey(keys[i], `keys[${i}]`)
}

export function assertValue(value: unknown, argument = 'value'): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalidArgument(argument, `${argument} must be a Uint8Array`)
}

/** Validates a whole batch before any of it is applied, so a bad op leaves the store untouched. */
export function assertBatch(ops: readonly BatchOp[]): void {
  if (!Array.isArray(ops)) throw invalidArgument('ops', 'ops must be an array')
  for (let i = 0; i < ops.length; i++) {
    const op: unknown = ops[i]
    if (typeof op !== 'object' || op === null) throw invalidArgument(`ops[${i}]`, `ops[${i}] must be an object`)
    const { type, key } = op as { type?: unknown; key?: unknown }
    assertKey(key, `ops[${i}].key`)
    if (type === 'put') assertValue((op as { value?: unknown }).value, `ops[${i}].value`)
    else if (type !== 'del') throw invalidArgument(`ops[${i}].type`, `ops[${i}].type must be 'put' or 'del'`)
  }
}

/**
 * Validates `options` and puts them in normal form.
 * @throws TrellisError STORAGE_INVALID_ARGUMENT
 */
export function normalizeRange(options: RangeOptions | undefined): NormalizedRange {
  const { gt, gte, lt, lte, reverse = false, limit = Number.POSITIVE_INFINITY } = options ?? {}
  if (gt !== undefined) assertKey(gt, 'gt')
  if (gte !== undefined) assertKey(gte, 'gte')
  if (lt !== undefined) assertKey(lt, 'lt')
  if (lte !== undefined) assertKey(lte, 'lte')
  if (typeof reverse !== 'boolean') throw invalidArgument('reverse', 'reverse must be a boolean')
  if (!(limit === Number.POSITIVE_INFINITY || (Number.isSafeInteger(limit) && limit >= 0))) {
    throw invalidArgument('limit', 'limit must be a non-negative integer or Infinity')
  }
  return {
    lower: gte ?? gt,
    lowerInclusive: gte !== undefined,
    upper: lte ?? lt,
    upperInclusive: lte !== undefined,
    reverse,
    limit,
  }
}
