// Argument schemas: each is both a validator (run inside the sandbox on every call) and a JSON
// descriptor (published in the contract's manifest for the SDK, the console and OpenAPI). The
// TypeScript type of the arguments is inferred from the schema, so typed clients need no codegen.

/** The values a contract stores, receives and returns: JSON with integer numbers only. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json }

/** The JSON description of a schema, as published in the manifest. */
export type SchemaDescriptor =
  | { readonly type: 'string'; readonly minLength?: number; readonly maxLength?: number; readonly pattern?: string }
  | { readonly type: 'integer'; readonly minimum?: number; readonly maximum?: number }
  | { readonly type: 'boolean' }
  | { readonly type: 'null' }
  | { readonly type: 'enum'; readonly values: readonly string[] }
  | { readonly type: 'array'; readonly items: SchemaDescriptor; readonly maxItems?: number }
  | { readonly type: 'object'; readonly properties: Readonly<Record<string, SchemaDescriptor>>; readonly required: readonly string[] }
  | { readonly type: 'record'; readonly values: SchemaDescriptor; readonly maxEntries?: number }
  | { readonly type: 'optional'; readonly inner: SchemaDescriptor }
  | { readonly type: 'any' }

/** A validation failure: the path of the bad value and why. */
export class SchemaError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path === '' ? 'args' : `args${path}`}: ${reason}`)
    Object.defineProperty(this, 'name', { value: 'SchemaError' })
  }
}

export interface Schema<T> {
  readonly descriptor: SchemaDescriptor
  /** Returns `value` typed as T, or throws {@link SchemaError}. */
  parse(value: unknown, path?: string): T
  /** Marker for type inference only. */
  readonly _type?: T
}

export type Infer<S> = S extends Schema<infer T> ? T : never

/** Tests a value the node already checked against the descriptor, for the patterns only. */
type PatternCheck = (v: unknown, path: string) => void

// Schemas built here whose descriptor says exactly what `parse` checks, except patterns: for them
// the node checks the arguments before the call (ADR 0020) and the sandbox tests only the patterns
// (null: none). Kept privately, so a copy of a schema (a spread, Object.assign) is not one of them.
const nodeCheckable = new WeakMap<Schema<unknown>, PatternCheck | null>()

/**
 * Whether the node may check arguments for `schema`: built with {@link s} alone, with well-formed
 * options. @internal
 */
export function nodeChecks(schema: Schema<unknown>): boolean {
  return nodeCheckable.has(schema)
}

/** Tests the patterns of a node-checked schema on arguments the node checked. @internal */
export function checkPatterns(schema: Schema<unknown>, value: unknown): void {
  nodeCheckable.get(schema)?.(value, '')
}

function patternsOf(sub: Schema<unknown>): PatternCheck | null | undefined {
  return nodeCheckable.get(sub)
}

/** A finite number or absent: what a descriptor carries as given (JSON has no Infinity or NaN). */
function exactBound(n: unknown): boolean {
  return n === undefined || (typeof n === 'number' && Number.isFinite(n))
}

function frozen<V>(v: V): V {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const k of Object.keys(v)) frozen((v as Record<string, unknown>)[k])
  }
  return v
}

// Schemas are frozen, descriptors deeply: a marked schema cannot be given another parse, nor its
// descriptor another bound, after it was built.
function schema<T>(descriptor: SchemaDescriptor, check: (v: unknown, path: string) => T, patterns?: PatternCheck | null): Schema<T> {
  const out: Schema<T> = Object.freeze({ descriptor: frozen(descriptor), parse: (v: unknown, path = '') => check(v, path) })
  if (patterns !== undefined) nodeCheckable.set(out as Schema<unknown>, patterns)
  return out
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

type OptionalKeys<S> = { [K in keyof S]: S[K] extends Schema<infer T> ? (undefined extends T ? K : never) : never }[keyof S]
type RequiredKeys<S> = Exclude<keyof S, OptionalKeys<S>>
type ObjectOf<S extends Record<string, Schema<unknown>>> = { [K in RequiredKeys<S>]: Infer<S[K]> } & {
  [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined>
}
type Flatten<T> = { [K in keyof T]: T[K] } & {}

/** Schema builders. Every object schema is strict: unknown properties are rejected. */
export const s = {
  /**
   * A string, optionally bounded in length and matching `pattern`. Every pattern is tested at
   * execution, where a failed test is the receipt's error. Nodes also test it at admission, and
   * refuse the tx before it reaches a block, when it cannot backtrack far: anchored (`^…$`), with
   * no groups, alternation, back-references or assertions, at most one quantifier whose count
   * varies and little after it, such as `^[a-z0-9-]{1,64}$`, on a value short enough (a `max` keeps
   * it so; ADR 0020).
   */
  string(opts: { readonly min?: number; readonly max?: number; readonly pattern?: string } = {}): Schema<string> {
    // A copy: changing the options object later changes neither the check nor the descriptor.
    const o = { ...opts }
    const re = o.pattern === undefined ? undefined : new RegExp(o.pattern)
    const d: SchemaDescriptor = {
      type: 'string',
      ...(o.min === undefined ? {} : { minLength: o.min }),
      ...(o.max === undefined ? {} : { maxLength: o.max }),
      ...(o.pattern === undefined ? {} : { pattern: o.pattern }),
    }
    const exact = exactBound(o.min) && exactBound(o.max) && (o.pattern === undefined || typeof o.pattern === 'string')
    const patterns =
      re === undefined
        ? null
        : (v: unknown, path: string) => {
            // exec, not test: one metered built-in call instead of two (test calls exec).
            if (re.exec(v as string) === null) throw new SchemaError(path, `must match ${o.pattern}`)
          }
    return schema(
      d,
      (v, path) => {
        if (typeof v !== 'string') throw new SchemaError(path, `expected a string, got ${describe(v)}`)
        if (o.min !== undefined && v.length < o.min) throw new SchemaError(path, `must be at least ${o.min} characters`)
        if (o.max !== undefined && v.length > o.max) throw new SchemaError(path, `must be at most ${o.max} characters`)
        if (re !== undefined && !re.test(v)) throw new SchemaError(path, `must match ${o.pattern}`)
        return v
      },
      exact ? patterns : undefined,
    )
  },
  int(opts: { readonly min?: number; readonly max?: number } = {}): Schema<number> {
    const o = { ...opts }
    const d: SchemaDescriptor = {
      type: 'integer',
      ...(o.min === undefined ? {} : { minimum: o.min }),
      ...(o.max === undefined ? {} : { maximum: o.max }),
    }
    return schema(
      d,
      (v, path) => {
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new SchemaError(path, `expected a safe integer, got ${describe(v)}`)
        if (o.min !== undefined && v < o.min) throw new SchemaError(path, `must be at least ${o.min}`)
        if (o.max !== undefined && v > o.max) throw new SchemaError(path, `must be at most ${o.max}`)
        return v
      },
      exactBound(o.min) && exactBound(o.max) ? null : undefined,
    )
  },
  boolean(): Schema<boolean> {
    return schema(
      { type: 'boolean' },
      (v, path) => {
        if (typeof v !== 'boolean') throw new SchemaError(path, `expected a boolean, got ${describe(v)}`)
        return v
      },
      null,
    )
  },
  null(): Schema<null> {
    return schema(
      { type: 'null' },
      (v, path) => {
        if (v !== null) throw new SchemaError(path, `expected null, got ${describe(v)}`)
        return null
      },
      null,
    )
  },
  enum<const V extends readonly [string, ...string[]]>(given: V): Schema<V[number]> {
    const values = [...given] as unknown as V
    return schema(
      { type: 'enum', values },
      (v, path) => {
        if (typeof v !== 'string' || !values.includes(v)) throw new SchemaError(path, `must be one of ${values.join(', ')}`)
        return v as V[number]
      },
      Array.isArray(values) && values.every((x) => typeof x === 'string') ? null : undefined,
    )
  },
  array<T>(items: Schema<T>, opts: { readonly max?: number } = {}): Schema<T[]> {
    const o = { ...opts }
    const d: SchemaDescriptor = { type: 'array', items: items.descriptor, ...(o.max === undefined ? {} : { maxItems: o.max }) }
    const inner = patternsOf(items)
    return schema(
      d,
      (v, path) => {
        if (!Array.isArray(v)) throw new SchemaError(path, `expected an array, got ${describe(v)}`)
        if (o.max !== undefined && v.length > o.max) throw new SchemaError(path, `may have at most ${o.max} items`)
        // `+`, not template literals: the sandbox meters String.prototype.concat, which templates compile to.
        return v.map((x, i) => items.parse(x, path + '[' + i + ']'))
      },
      inner === undefined || !exactBound(o.max)
        ? undefined
        : inner === null
          ? null
          : (v, path) => {
              const a = v as unknown[]
              for (let i = 0; i < a.length; i++) inner(a[i], path + '[' + i + ']')
            },
    )
  },
  object<S extends Record<string, Schema<unknown>>>(shape: S): Schema<Flatten<ObjectOf<S>>> {
    // A copy, as for the other options.
    shape = Object.freeze({ ...shape })
    const keys = Object.keys(shape)
    const required = keys.filter((k) => (shape[k] as Schema<unknown>).descriptor.type !== 'optional')
    const properties: Record<string, SchemaDescriptor> = {}
    for (const k of keys) properties[k] = (shape[k] as Schema<unknown>).descriptor
    // The node checks an object when it checks every property; the patterns below are tested on the
    // properties present.
    // Indexed loops: in the sandbox, for…of and destructuring call the metered array iterator.
    const patternKeys: string[] = []
    const patternChecks: PatternCheck[] = []
    // A `__proto__` property cannot be written into the descriptor's properties by assignment.
    let exact = !keys.includes('__proto__')
    for (const k of keys) {
      const inner = patternsOf(shape[k] as Schema<unknown>)
      if (inner === undefined) exact = false
      else if (inner !== null) {
        patternKeys.push(k)
        patternChecks.push(inner)
      }
    }
    const patterns: PatternCheck | null | undefined = !exact
      ? undefined
      : patternKeys.length === 0
        ? null
        : (v, path) => {
            const o = v as Record<string, unknown>
            for (let i = 0; i < patternKeys.length; i++) {
              const k = patternKeys[i] as string
              if (Object.prototype.hasOwnProperty.call(o, k)) (patternChecks[i] as PatternCheck)(o[k], path + '.' + k)
            }
          }
    return schema(
      { type: 'object', properties, required },
      (v, path) => {
        if (!isPlainObject(v)) throw new SchemaError(path, `expected an object, got ${describe(v)}`)
        for (const k of Object.keys(v))
          if (!Object.prototype.hasOwnProperty.call(shape, k)) throw new SchemaError(path, `unknown property "${k}"`)
        const out: Record<string, unknown> = {}
        for (const k of keys) {
          const present = Object.prototype.hasOwnProperty.call(v, k)
          const sub = shape[k] as Schema<unknown>
          if (!present) {
            if (sub.descriptor.type !== 'optional') throw new SchemaError(`${path}.${k}`, 'is required')
            continue
          }
          out[k] = sub.parse(v[k], path + '.' + k)
        }
        return out as Flatten<ObjectOf<S>>
      },
      patterns,
    )
  },
  record<T>(values: Schema<T>, opts: { readonly max?: number } = {}): Schema<Record<string, T>> {
    const o = { ...opts }
    const d: SchemaDescriptor = { type: 'record', values: values.descriptor, ...(o.max === undefined ? {} : { maxEntries: o.max }) }
    const inner = patternsOf(values)
    return schema(
      d,
      (v, path) => {
        if (!isPlainObject(v)) throw new SchemaError(path, `expected an object, got ${describe(v)}`)
        const entries = Object.keys(v)
        if (o.max !== undefined && entries.length > o.max) throw new SchemaError(path, `may have at most ${o.max} entries`)
        const out: Record<string, T> = {}
        for (const k of entries) out[k] = values.parse(v[k], path + '.' + k)
        return out
      },
      inner === undefined || !exactBound(o.max)
        ? undefined
        : inner === null
          ? null
          : (v, path) => {
              const o = v as Record<string, unknown>
              const ks = Object.keys(o)
              for (let i = 0; i < ks.length; i++) inner(o[ks[i] as string], path + '.' + ks[i])
            },
    )
  },
  optional<T>(inner: Schema<T>): Schema<T | undefined> {
    const patterns = patternsOf(inner)
    return schema(
      { type: 'optional', inner: inner.descriptor },
      (v, path) => (v === undefined ? undefined : inner.parse(v, path)),
      patterns === undefined || patterns === null ? patterns : (v, path) => (v === undefined ? undefined : patterns(v, path)),
    )
  },
  /** Any JSON value (integers only), unchecked beyond that. */
  any(): Schema<Json> {
    return schema({ type: 'any' }, (v) => v as Json, null)
  },
}

/** Methods that take no arguments use this schema: `{}` (or no args at all). */
export const noArgs: Schema<Record<string, never>> = s.object({}) as Schema<Record<string, never>>
