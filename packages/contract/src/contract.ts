/* eslint-disable @typescript-eslint/no-explicit-any -- inferring argument and result types from a user's method map needs `any` in the constraints */
import { checkPatterns, type Infer, type Json, nodeChecks, noArgs, type Schema, SchemaError, type SchemaDescriptor } from './schema.js'

// The contract authoring API. A contract module default-exports `defineContract({...})`; the build
// step wraps it with an entry point the node's sandbox calls. Everything here runs INSIDE the sandbox
// (QuickJS): no Node.js API, no clock, no randomness. The only way out is the host bridge
// (`__host`), which exchanges JSON text with the node.

/** Who called: a user (the tx signer) or, for a contract-to-contract call, the calling contract. */
export interface Caller {
  readonly kind: 'user' | 'contract'
  /** A user's public key (`p256:…`) or a contract's name. */
  readonly id: string
  /** The organisation and role of a user's certificate; null in public-key mode (dev networks). */
  readonly org: string | null
  readonly role: string | null
  /** Certificate attributes (e.g. department, licence number); empty in public-key mode. */
  readonly attributes: Readonly<Record<string, string>>
}

export interface Env {
  readonly contract: { readonly name: string; readonly version: string }
  /** The immediate caller. */
  readonly caller: Caller
  /** The user who signed the tx (same as `caller` unless this is a nested call). */
  readonly origin: Caller
  /** The tx being executed; null in a read-only query. */
  readonly tx: { readonly id: string } | null
  /** The block: its consensus timestamp (ms) is the only clock a contract sees. */
  readonly block: { readonly height: number; readonly timestamp: number; readonly chainId: string }
}

export interface RangeOptions {
  /** Only keys under this prefix: a string, or composite-key parts (see {@link ReadState.key}). */
  readonly prefix?: string | readonly string[]
  /** Inclusive lower bound. */
  readonly start?: string
  /** Exclusive upper bound. */
  readonly end?: string
  /** Continue after this key (the `next` of the previous page). */
  readonly after?: string
  /** Page size: 1-1000 (default 100). */
  readonly limit?: number
  /** Highest keys first. */
  readonly reverse?: boolean
}

/** What `put` accepts: JSON-shaped data; the node rejects fractions, NaN and non-JSON values. */
export type Storable = object | string | number | boolean | null

export interface RangePage<T = Json> {
  readonly entries: ReadonlyArray<{ readonly key: string; readonly value: T }>
  /** Pass as `after` for the next page; null on the last page. */
  readonly next: string | null
}

export interface HistoryEntry<T = Json> {
  readonly height: number
  readonly txId: string
  /** null when the tx deleted the key. */
  readonly value: T | null
}

const SEP = '\u0000'

/** State of the running contract (its own namespace only). Keys sort by their UTF-8 bytes. */
export class ReadState {
  /** The value under `key`, or undefined. */
  get<T = Json>(key: string): T | undefined {
    const k = checkKey(key)
    flush()
    const raw = host().get(k)
    return raw === null ? undefined : (lib().parse(raw) as T)
  }

  has(key: string): boolean {
    const k = checkKey(key)
    flush()
    return host().get(k) !== null
  }

  /** An ordered page of entries. */
  range<T = Json>(opts: RangeOptions = {}): RangePage<T> {
    const limit = opts.limit ?? 100
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ContractError('RANGE_LIMIT_INVALID', 'limit must be 1-1000')
    const prefix = opts.prefix === undefined ? '' : typeof opts.prefix === 'string' ? opts.prefix : this.key(...opts.prefix) + SEP
    let start = opts.start
    let end = opts.end
    if (opts.after !== undefined) {
      if (opts.reverse === true) end = end === undefined || opts.after < end ? opts.after : end
      else start = opts.after + SEP
    }
    flush()
    const raw = host().range(
      JSON.stringify({ prefix, start: start ?? null, end: end ?? null, limit: limit + 1, reverse: opts.reverse === true }),
    )
    const rows = JSON.parse(raw) as [string, string][]
    const entries = rows.slice(0, limit).map(([key, value]) => ({ key, value: JSON.parse(value) as T }))
    const last = entries[entries.length - 1]
    return { entries, next: rows.length > limit && last !== undefined ? last.key : null }
  }

  /** Newest-first committed history of a key (queries only: history is not part of consensus). */
  history<T = Json>(key: string, opts: { readonly limit?: number } = {}): HistoryEntry<T>[] {
    const limit = opts.limit ?? 20
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new ContractError('HISTORY_LIMIT_INVALID', 'limit must be 1-100')
    return JSON.parse(host().history(checkKey(key), String(limit))) as HistoryEntry<T>[]
  }

  /** A composite key: parts joined so that `range({ prefix: [first parts] })` finds them in order. */
  key(...parts: string[]): string {
    if (parts.length === 0) throw new ContractError('KEY_INVALID', 'a composite key needs at least one part')
    // Joined and checked by the sandbox (n non-empty parts joined by the separator hold exactly
    // n - 1 separators unless a part holds one too), charged as the built-ins it uses.
    const key = lib().key(parts)
    if (key === null) throw keyPartsInvalid()
    return key
  }

  /** The parts of a composite key. */
  splitKey(key: string): string[] {
    return key.split(SEP)
  }
}

export class WriteState extends ReadState {
  /** Stores a JSON value (objects, arrays, strings, booleans, null and safe integers). */
  put(key: string, value: Storable): void {
    const k = checkKey(key)
    // Serialized now: the stored value is the value as it was at the call, whatever happens to it later.
    const json = lib().stringify(value)
    if (json === undefined) throw new ContractError('VALUE_INVALID', `the value of "${key}" is not a storable JSON value`)
    add('["p",' + k + ',' + json + ']')
  }

  delete(key: string): void {
    add('["d",' + checkKey(key) + ']')
  }
}

export interface QueryContext extends Env {
  readonly state: ReadState
  /** Runs another contract's query method. */
  query<R = Json>(contract: string, method: string, args?: Storable): R
}

export interface CallContext extends QueryContext {
  readonly state: WriteState
  readonly tx: { readonly id: string }
  /** Records an event in the receipt, indexed by contract and name. */
  emit(name: string, payload?: Storable): void
  /** Runs another contract's method with that contract's own state; its failure fails this tx. */
  call<R = Json>(contract: string, method: string, args?: Storable): R
}

/** A business-rule failure: the tx fails with this code in its receipt and its writes are rolled back. */
export class ContractError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    // Intrinsics are frozen in the sandbox, so `this.name = …` would hit the frozen Error.prototype.name.
    Object.defineProperty(this, 'name', { value: 'ContractError' })
    if (!/^[A-Z][A-Z0-9_]{0,63}$/.test(code)) throw new Error(`error codes are UPPER_SNAKE_CASE (got "${code}")`)
  }
}

/** Throws a {@link ContractError} unless `condition` holds. */
export function ensure(condition: unknown, code: string, message: string | (() => string)): asserts condition {
  if (!condition) throw new ContractError(code, typeof message === 'function' ? message() : message)
}

export interface MethodDef<A, R, K extends 'call' | 'query' = 'call' | 'query'> {
  readonly kind: K
  readonly args: Schema<A>
  readonly description: string
  readonly handler: (ctx: K extends 'call' ? CallContext : QueryContext, args: A) => R
}

type Returnable = unknown

/** A state-changing method, invoked by a signed tx. */
export function call<S extends Schema<any>, R extends Returnable>(
  spec: { readonly args?: S; readonly description?: string },
  handler: (ctx: CallContext, args: Infer<S>) => R,
): MethodDef<Infer<S>, R, 'call'> {
  return { kind: 'call', args: (spec.args ?? noArgs) as Schema<Infer<S>>, description: spec.description ?? '', handler }
}

/** A read-only method, answered by any node without a tx. */
export function query<S extends Schema<any>, R extends Returnable>(
  spec: { readonly args?: S; readonly description?: string },
  handler: (ctx: QueryContext, args: Infer<S>) => R,
): MethodDef<Infer<S>, R, 'query'> {
  return { kind: 'query', args: (spec.args ?? noArgs) as Schema<Infer<S>>, description: spec.description ?? '', handler }
}

export interface ContractSpec<M extends Record<string, MethodDef<any, any>>> {
  /** Semantic version of this code; an upgrade must change it. */
  readonly version: string
  readonly description?: string
  readonly methods: M
  /** Runs once, in the deploy tx. */
  readonly init?: MethodDef<any, Returnable, 'call'>
  /** Runs in the upgrade tx, on the new code, with the old state; `ctx.contract.version` is the new one. */
  readonly upgrade?: MethodDef<any, Returnable, 'call'>
}

export interface ContractDefinition<M extends Record<string, MethodDef<any, any>>> extends ContractSpec<M> {
  readonly __trellis: 1
}

const METHOD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

export function defineContract<M extends Record<string, MethodDef<any, any>>>(spec: ContractSpec<M>): ContractDefinition<M> {
  if (typeof spec.version !== 'string' || !/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/.test(spec.version))
    throw new Error('version must be a semantic version such as 1.0.0')
  for (const name of Object.keys(spec.methods)) if (!METHOD_NAME.test(name)) throw new Error(`invalid method name "${name}"`)
  return { ...spec, __trellis: 1 }
}

/** The published description of a contract: its version, methods and argument schemas. */
export interface Manifest {
  readonly version: string
  readonly description: string
  readonly methods: ReadonlyArray<{
    readonly name: string
    readonly kind: 'call' | 'query'
    readonly description: string
    readonly args: SchemaDescriptor
    /**
     * The arguments' schema was built with `s` alone: the node checks arguments against `args`
     * before the call (all but patterns, which the contract tests), and rejects what fails.
     */
    readonly nodeChecked?: boolean
  }>
  readonly init: SchemaDescriptor | null
  readonly upgrade: SchemaDescriptor | null
}

// ---- typing helpers for clients (the SDK derives typed proxies from these) -------------------

export type MethodsOf<C> = C extends ContractDefinition<infer M> ? M : never
export type CallNames<C> = {
  [K in keyof MethodsOf<C>]: MethodsOf<C>[K] extends MethodDef<any, any, 'call'> ? K : never
}[keyof MethodsOf<C>]
export type QueryNames<C> = {
  [K in keyof MethodsOf<C>]: MethodsOf<C>[K] extends MethodDef<any, any, 'query'> ? K : never
}[keyof MethodsOf<C>]
export type ArgsOf<C, K extends keyof MethodsOf<C>> = MethodsOf<C>[K] extends MethodDef<infer A, any> ? A : never
export type ResultOf<C, K extends keyof MethodsOf<C>> =
  MethodsOf<C>[K] extends MethodDef<any, infer R> ? (R extends void ? null : R) : never

// ---- the sandbox entry ---------------------------------------------------------------------------

/** The node's bridge. Every argument and result is JSON text. */
interface Host {
  get(key: string): string | null
  put(key: string, value: string): null
  del(key: string): null
  range(request: string): string
  history(key: string, limit: string): string
  emit(name: string, payload: string): null
  call(request: string): string
  /** Writes, deletions and events in order, one JSON array of `["p", key, value]`, `["d", key]`, `["e", name, payload]`. */
  batch(ops: string): null
}

// A call's writes, deletions and events cross to the node in one batch (each crossing of the bridge
// costs more than most contract code): at the end of the call, or before anything that reads —
// a get, a range scan, another contract's call or query — so every read sees exactly what the node
// stores (canonical values; keys as UTF-8, where distinct strings can name one key). Contracts that
// read before they write, the usual shape, cross twice per call.
// Plain syntax (`+`) rather than built-in calls (join), which the prelude meters by the
// sizes they touch (template literals compile to String.prototype.concat calls).
// The batch is built as text: the JSON array's opening and the operations so far.
let pending = ''

/** Adds one operation's JSON to the batch; a batch past 64 K characters crosses at once. */
function add(op: string): void {
  pending = pending === '' ? '[' + op : pending + ',' + op
  if (pending.length > 65536) flush()
}

function flush(): void {
  if (pending === '') return
  const ops = pending + ']'
  pending = ''
  host().batch(ops)
}

function reset(): void {
  pending = ''
}

// Event names checked and quoted so far (a contract emits a few names many times).
const eventNames = new Map<string, string>()
const EVENT_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/

function eventName(name: string): string {
  const known = eventNames.get(name)
  if (known !== undefined) return known
  if (typeof name !== 'string' || !EVENT_NAME.test(name))
    throw new ContractError('EVENT_NAME_INVALID', 'event names are 1-64 letters, digits, _ . -, starting with a letter')
  const quoted = JSON.stringify(name)
  if (eventNames.size < 256) eventNames.set(name, quoted)
  return quoted
}

function host(): Host {
  const h = (globalThis as { __host?: Host }).__host
  if (h === undefined) throw new Error('@trellis/contract only runs inside the Trellis sandbox')
  return h
}

/**
 * What the sandbox's prelude provides the library: composite keys, JSON.stringify and JSON.parse,
 * with the built-ins' results and gas, without the metering wrapper's own cost.
 */
interface Lib {
  key(parts: readonly unknown[]): string | null
  stringify(value: unknown): string | undefined
  parse(text: string): unknown
}

function lib(): Lib {
  const l = (globalThis as { __trellis?: Lib }).__trellis
  if (l === undefined) throw new Error('@trellis/contract only runs inside the Trellis sandbox')
  return l
}

function keyPartsInvalid(): ContractError {
  return new ContractError('KEY_INVALID', 'composite key parts must be non-empty strings without U+0000')
}

/** Keys cross the bridge as JSON text: the engine's string conversion stops at U+0000. */
function checkKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 512)
    throw new ContractError('KEY_INVALID', 'keys are strings of 1-512 characters')
  return lib().stringify(key) as string
}

/** What the node asks the entry point to do. */
export interface EntryRequest {
  readonly kind: 'call' | 'query' | 'init' | 'upgrade' | 'describe'
  readonly method: string
  readonly args: unknown
  /**
   * Set when the node checked `args` against the method's published descriptor, which it does only
   * for methods whose manifest entry says `nodeChecked`; the entry then tests only the patterns.
   */
  readonly argsChecked?: boolean
  readonly env: Env
}

function schemaOrNull(m: MethodDef<any, any> | undefined): SchemaDescriptor | null {
  return m === undefined ? null : m.args.descriptor
}

function describeContract(def: ContractDefinition<Record<string, MethodDef<any, any>>>): Manifest {
  return {
    version: def.version,
    description: def.description ?? '',
    methods: Object.keys(def.methods)
      .sort()
      .map((name) => {
        const m = def.methods[name] as MethodDef<any, any>
        return { name, kind: m.kind, description: m.description, args: m.args.descriptor, nodeChecked: nodeChecks(m.args) }
      }),
    init: schemaOrNull(def.init),
    upgrade: schemaOrNull(def.upgrade),
  }
}

/**
 * The function the build step installs as the sandbox entry. Not for contract authors.
 * @internal
 */
export function __entry(def: ContractDefinition<Record<string, MethodDef<any, any>>>, req: EntryRequest): unknown {
  if (req.kind === 'describe') return describeContract(def)
  let m: MethodDef<any, any> | undefined
  if (req.kind === 'init' || req.kind === 'upgrade') {
    m = def[req.kind]
    if (m === undefined) return null
  } else {
    m = Object.prototype.hasOwnProperty.call(def.methods, req.method) ? def.methods[req.method] : undefined
    if (m === undefined || m.kind !== req.kind) {
      throw new ContractError(
        'METHOD_NOT_FOUND',
        `contract "${req.env.contract.name}" has no ${req.kind === 'call' ? 'callable' : 'query'} method "${req.method}"`,
      )
    }
  }
  let args: unknown
  try {
    const given = req.args === null && m.args.descriptor.type === 'object' ? {} : req.args
    if (req.argsChecked === true && nodeChecks(m.args)) {
      checkPatterns(m.args, given)
      args = given
    } else args = m.args.parse(given)
  } catch (err) {
    if (err instanceof SchemaError) throw new ContractError('ARGS_INVALID', err.message)
    throw err
  }
  const env = req.env
  const state = req.kind === 'query' ? new ReadState() : new WriteState()
  // A call that failed part-way (its tx failed) may have left a batch behind in this instance.
  reset()
  const ctx = {
    ...env,
    state,
    query: (contract: string, method: string, a: Storable = null) => {
      flush()
      return lib().parse(host().call(lib().stringify({ contract, method, args: a, readOnly: true }) as string)) as Json
    },
    call: (contract: string, method: string, a: Storable = null) => {
      flush()
      return lib().parse(host().call(lib().stringify({ contract, method, args: a, readOnly: false }) as string)) as Json
    },
    emit: (name: string, payload: Storable = null) => {
      const quoted = eventName(name)
      const json = lib().stringify(payload)
      if (json === undefined) throw new ContractError('VALUE_INVALID', `the payload of event "${name}" is not a storable JSON value`)
      add('["e",' + quoted + ',' + json + ']')
    },
  }
  const result = m.handler(ctx as CallContext, args)
  flush()
  return result === undefined ? null : result
}
