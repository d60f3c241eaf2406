import { httpStatusOf, READ_AUTH_SCHEME, readRequestMessage, type ResponseOf, type RouteDef, type RouteName, routes } from '@trellis/api'
import { sign } from '@trellis/crypto'
import { type SignedTx, type Value, valueToJSON } from '@trellis/ledger'
import { bytesToBase64, bytesToHex, TrellisError } from '@trellis/utils'
import type { SdkErrorType, ServerErrorType } from './errors.js'
import { type ClientOptions, defaultClientOptions, type FetchFn, type RequestOptions, type SubmitOptions } from './options.js'
import type {
  BlockResponse,
  ContractsResponse,
  HealthResponse,
  JsonRouteName,
  QueryResponse,
  ContractResponse,
  StateHistoryResponse,
  StateResponse,
  StatusResponse,
  SubmitResponse,
  SubmitResult,
  TxResponse,
} from './types.js'

/** The parts of a request, before encoding: path parameters, query string and JSON body. */
export interface RouteInput {
  /** Substituted for the `:name` segments of the route's path (URI-encoded). */
  readonly params?: Readonly<Record<string, string | number>>
  /** Query-string fields; `undefined` ones are left out. */
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>
  /** Sent as `application/json`. */
  readonly body?: unknown
}

/** Options of {@link TrellisClient.getBlock}. */
export interface GetBlockOptions extends RequestOptions {
  /** `full` adds the transactions themselves to the ids. */
  readonly txs?: 'ids' | 'full'
}

/** Options of {@link TrellisClient.getState}. */
export interface QueryOptions extends RequestOptions {
  /** Run against the state at this committed height (default: the latest). */
  readonly height?: number
}

export interface GetStateOptions extends RequestOptions {
  /** Read the value as of this height (default: the latest). */
  readonly height?: number
}

/** Options of {@link TrellisClient.getStateHistory}. */
export interface GetStateHistoryOptions extends RequestOptions {
  /** Page size (1–1000; the node's default is 50). */
  readonly limit?: number
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string
}

/** A typed client of one node's HTTP API; every method maps to one route of `@trellis/api`. */
export interface TrellisClient {
  /** The base URL, without a trailing slash. */
  readonly url: string
  /** Calls any JSON route by name; the typed methods below are built on it. */
  request<N extends JsonRouteName>(name: N, input?: RouteInput, options?: RequestOptions): Promise<ResponseOf<N>>
  /**
   * Calls any route and returns the raw 2xx `Response` once its headers arrived (the timeout stops
   * there): for streams (`streamEvents`) and text (`metrics`). Errors are mapped like `request`'s.
   */
  requestRaw(name: RouteName, input?: RouteInput, options?: RequestOptions): Promise<Response>
  /** `GET /v1/status`. */
  status(options?: RequestOptions): Promise<StatusResponse>
  /**
   * Submits one signed tx (`POST /v1/txs`). A refused tx throws (e.g. `TX_BAD_SIGNATURE`,
   * `TX_DUPLICATE`); with `wait` the result carries the commit height and the receipt. A tx that
   * committed but failed in its contract is NOT an error: check `receipt.status`.
   */
  submit(tx: SignedTx | Uint8Array, options?: SubmitOptions): Promise<SubmitResult>
  /** Submits up to 5000 txs at once; refusals are reported per tx in the results, not thrown. */
  submitBatch(txs: ReadonlyArray<SignedTx | Uint8Array>, options?: SubmitOptions): Promise<SubmitResult[]>
  /** A committed tx with its receipt and proof (`TX_NOT_FOUND` until it commits). */
  getTx(id: string | Uint8Array, options?: RequestOptions): Promise<TxResponse>
  /** A block by height, by hash (hex) or `'latest'`. */
  getBlock(ref: number | string, options?: GetBlockOptions): Promise<BlockResponse>
  /** A contract's state value (JSON form) with its proof; `exists: false` proves absence. */
  getState(contract: string, key: string, options?: GetStateOptions): Promise<StateResponse>
  /** Every value a key had, newest first, one page at a time. */
  getStateHistory(contract: string, key: string, options?: GetStateHistoryOptions): Promise<StateHistoryResponse>
  /** Contracts on the chain with their methods and argument schemas. */
  listContracts(options?: RequestOptions): Promise<ContractsResponse>
  /** One contract: version, status, code hash, methods and argument schemas. */
  getContract(name: string, options?: RequestOptions): Promise<ContractResponse>
  /**
   * Runs a contract's read-only method against the latest state (or `options.height`); `args` is sent
   * in JSON form. When the result is exactly one state value, the response carries its proof.
   */
  query(contract: string, method: string, args?: Value, options?: QueryOptions): Promise<QueryResponse>
  /** `GET /healthz`. */
  health(options?: RequestOptions): Promise<HealthResponse>
}

// The node caps `wait` at 120 s; a waiting request gets that much plus this grace before the client
// gives up, so the node's own WAIT_TIMEOUT answer arrives first.
const MAX_WAIT_MS = 120_000
const WAIT_GRACE_MS = 10_000
// setTimeout's delay is a signed 32-bit integer; larger values fire at once.
const MAX_TIMER_MS = 2 ** 31 - 1
const ERROR_BODY_SNIPPET = 1024

function invalidArgument(argument: string, reason: string): TrellisError<SdkErrorType> {
  return new TrellisError<SdkErrorType>({ code: 'SDK_INVALID_ARGUMENT', argument, reason }, `invalid ${argument}: ${reason}`)
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function normalizeBaseUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw invalidArgument('url', `"${url}" is not an absolute URL`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalidArgument('url', 'must be http: or https:')
  if (parsed.search !== '' || parsed.hash !== '') throw invalidArgument('url', 'must not have a query or a fragment')
  return parsed.href.replace(/\/+$/, '')
}

function buildUrl(base: string, def: RouteDef, input: RouteInput): string {
  const path = def.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_match, name: string) => {
    const v = input.params?.[name]
    if (v === undefined || v === '') throw invalidArgument(name, 'is required')
    const s = String(v)
    // URL parsers collapse "." and ".." segments even when percent-encoded, so they cannot be addressed.
    if (s === '.' || s === '..') throw invalidArgument(name, `"${s}" cannot be used as a path segment`)
    return encodeURIComponent(s)
  })
  const qs = new URLSearchParams()
  for (const [k, v] of Object.entries(input.query ?? {})) if (v !== undefined) qs.append(k, String(v))
  const q = qs.toString()
  return q === '' ? `${base}${path}` : `${base}${path}?${q}`
}

/** The error of a non-2xx response: the node's `{ code, message, details? }`, or SDK_HTTP_ERROR. */
export function errorFromResponse(
  status: number,
  statusText: string,
  text: string,
): TrellisError<ServerErrorType> | TrellisError<SdkErrorType> {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  if (isRecord(body) && typeof body.code === 'string' && body.code !== '' && typeof body.message === 'string') {
    const type: ServerErrorType = { code: body.code, status }
    if (isRecord(body.details)) type.details = body.details
    return new TrellisError<ServerErrorType>(type, body.message)
  }
  const snippet = text.slice(0, ERROR_BODY_SNIPPET)
  return new TrellisError<SdkErrorType>(
    { code: 'SDK_HTTP_ERROR', status, body: snippet },
    `HTTP ${status}${statusText === '' ? '' : ` ${statusText}`} (not a Trellis error response)`,
  )
}

interface Deadline {
  readonly signal: AbortSignal
  timedOut(): boolean
  /** Stops the timer (the response is being streamed to the caller); the caller's signal stays linked. */
  stopTimer(): void
  dispose(): void
}

function deadline(timeoutMs: number, outer: AbortSignal | undefined): Deadline {
  const controller = new AbortController()
  let timedOut = false
  const onAbort = (): void => controller.abort(outer?.reason)
  if (outer?.aborted) controller.abort(outer.reason)
  else outer?.addEventListener('abort', onAbort, { once: true })
  const timer =
    Number.isFinite(timeoutMs) && timeoutMs > 0
      ? setTimeout(
          () => {
            timedOut = true
            controller.abort()
          },
          Math.min(timeoutMs, MAX_TIMER_MS),
        )
      : undefined
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    stopTimer: () => clearTimeout(timer),
    dispose: () => {
      clearTimeout(timer)
      outer?.removeEventListener('abort', onAbort)
    },
  }
}

function toSubmitBytes(tx: SignedTx | Uint8Array): string {
  return bytesToBase64(tx instanceof Uint8Array ? tx : tx.bytes)
}

function submitQuery(options: SubmitOptions): NonNullable<RouteInput['query']> {
  return options.wait === true ? { wait: 'true', timeoutMs: options.timeoutMs } : {}
}

function submitTimeout(options: SubmitOptions, clientTimeoutMs: number): number {
  if (options.wait !== true) return options.timeoutMs ?? clientTimeoutMs
  return Math.max(clientTimeoutMs, Math.min(options.timeoutMs ?? MAX_WAIT_MS, MAX_WAIT_MS) + WAIT_GRACE_MS)
}

/**
 * Creates a client of a node's HTTP API. Browser-safe: it only needs `fetch`.
 * @throws TrellisError SDK_INVALID_ARGUMENT when `url` is not an absolute http(s) URL.
 * @example
 * const client = createClient({ url: 'http://127.0.0.1:8080' })
 * const { height } = await client.status()
 */
export function createClient(options: ClientOptions): TrellisClient {
  const base = normalizeBaseUrl(options.url)
  const clientTimeoutMs = options.timeoutMs ?? defaultClientOptions.timeoutMs
  const extraHeaders = options.headers ?? {}
  const auth = options.auth
  let lastSignedAt = 0
  // Signed reads name the chain: asked once from /healthz (which is never signed) unless given.
  let chainId: Promise<string> | undefined = auth?.chainId === undefined ? undefined : Promise.resolve(auth.chainId)
  const chainIdFor = (opts: RequestOptions): Promise<string> => {
    chainId ??= send('health', {}, opts, 'json').then(({ response, text }) => {
      if (!response.ok)
        throw new TrellisError<SdkErrorType>(
          { code: 'SDK_INVALID_ARGUMENT', argument: 'url', reason: 'no /healthz' },
          `cannot learn the chain id from ${base}/healthz`,
        )
      return (JSON.parse(text) as { chainId: string }).chainId
    })
    chainId.catch(() => {
      chainId = undefined
    })
    return chainId
  }
  // Resolved per call and never called as a method: browsers throw "Illegal invocation" on an unbound fetch.
  const doFetch: FetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init))

  async function send(
    name: RouteName,
    input: RouteInput,
    opts: RequestOptions,
    mode: 'json' | 'raw',
  ): Promise<{ response: Response; text: string }> {
    const def: RouteDef = routes[name]
    const url = buildUrl(base, def, input)
    const timeoutMs = opts.timeoutMs ?? clientTimeoutMs
    const headers: Record<string, string> = { accept: def.produces ?? 'application/json', ...extraHeaders }
    if (auth !== undefined && name !== 'health') {
      // Strictly increasing: two identical requests in one millisecond must not sign the same
      // message (deterministic signatures would repeat, and the node refuses a replayed one).
      const ts = Math.max(Date.now(), lastSignedAt + 1)
      lastSignedAt = ts
      const message = readRequestMessage(await chainIdFor(opts), def.method, url.slice(base.length), ts, input.body)
      const signature = sign(auth.privateKey, message)
      headers.authorization = `${READ_AUTH_SCHEME} cert=${bytesToBase64(auth.certificate)}, ts=${ts}, sig=${bytesToBase64(signature)}`
    }
    const init: RequestInit = { method: def.method, headers }
    if (input.body !== undefined) {
      headers['content-type'] = 'application/json'
      init.body = JSON.stringify(input.body)
    }
    const d = deadline(timeoutMs, opts.signal)
    init.signal = d.signal
    let keepLinked = false
    try {
      const response = await doFetch(url, init)
      if (mode === 'raw' && response.ok) {
        d.stopTimer()
        keepLinked = true
        return { response, text: '' }
      }
      return { response, text: await response.text() }
    } catch (cause) {
      if (opts.signal?.aborted === true) {
        throw new TrellisError<SdkErrorType>({ code: 'SDK_ABORTED', method: def.method, url }, `${def.method} ${url} aborted`, { cause })
      }
      if (d.timedOut()) {
        throw new TrellisError<SdkErrorType>(
          { code: 'SDK_TIMEOUT', method: def.method, url, timeoutMs },
          `${def.method} ${url} timed out after ${timeoutMs} ms`,
          {
            cause,
          },
        )
      }
      const reason = cause instanceof Error ? cause.message : String(cause)
      throw new TrellisError<SdkErrorType>(
        { code: 'SDK_NETWORK_ERROR', method: def.method, url },
        `${def.method} ${url} failed: ${reason}`,
        { cause },
      )
    } finally {
      // A streamed response stays cancellable through the caller's signal until it is consumed.
      if (!keepLinked) d.dispose()
    }
  }

  async function request<N extends JsonRouteName>(name: N, input: RouteInput = {}, opts: RequestOptions = {}): Promise<ResponseOf<N>> {
    const { response, text } = await send(name, input, opts, 'json')
    if (!response.ok) throw errorFromResponse(response.status, response.statusText, text)
    try {
      return JSON.parse(text) as ResponseOf<N>
    } catch (cause) {
      throw new TrellisError<SdkErrorType>(
        { code: 'SDK_BAD_RESPONSE', status: response.status, reason: 'body is not JSON' },
        `${routes[name].method} ${routes[name].path}: the node answered ${response.status} with a body that is not JSON`,
        { cause },
      )
    }
  }

  async function requestRaw(name: RouteName, input: RouteInput = {}, opts: RequestOptions = {}): Promise<Response> {
    const { response, text } = await send(name, input, opts, 'raw')
    if (!response.ok) throw errorFromResponse(response.status, response.statusText, text)
    return response
  }

  async function submitTxs(body: { tx: string } | { txs: string[] }, o: SubmitOptions): Promise<SubmitResponse> {
    const ro: { timeoutMs: number; signal?: AbortSignal } = { timeoutMs: submitTimeout(o, clientTimeoutMs) }
    if (o.signal !== undefined) ro.signal = o.signal
    return request('submitTxs', { query: submitQuery(o), body }, ro)
  }

  return {
    url: base,
    request,
    requestRaw,
    status: (o = {}) => request('getStatus', {}, o),
    async submit(tx, o = {}) {
      const res = await submitTxs({ tx: toSubmitBytes(tx) }, o)
      const r = res.results[0]
      if (r === undefined) {
        throw new TrellisError<SdkErrorType>(
          { code: 'SDK_BAD_RESPONSE', status: 200, reason: 'no result' },
          'the node returned no result for the submitted tx',
        )
      }
      if (!r.accepted) {
        const code = r.error?.code ?? 'TX_REJECTED'
        const type: ServerErrorType = { code, status: httpStatusOf(code) }
        const details = { ...(r.error?.details ?? {}), ...(r.id === '' ? {} : { txId: r.id }) }
        if (Object.keys(details).length > 0) type.details = details
        throw new TrellisError<ServerErrorType>(type, r.error?.message ?? 'transaction refused')
      }
      return r
    },
    async submitBatch(txs, o = {}) {
      if (txs.length === 0) return []
      const res = await submitTxs({ txs: txs.map(toSubmitBytes) }, o)
      return res.results
    },
    async getTx(id, o = {}) {
      const hex = typeof id === 'string' ? id.toLowerCase() : bytesToHex(id)
      return request('getTx', { params: { id: hex } }, o)
    },
    async getBlock(ref, o = {}) {
      if (typeof ref === 'number' && (!Number.isSafeInteger(ref) || ref < 0))
        throw invalidArgument('ref', 'a height must be a non-negative integer')
      const r = typeof ref === 'number' ? String(ref) : ref.toLowerCase()
      return request('getBlock', { params: { ref: r }, query: { txs: o.txs } }, o)
    },
    async getState(contract, key, o = {}) {
      return request('getState', { params: { contract, key }, query: { height: o.height } }, o)
    },
    async getStateHistory(contract, key, o = {}) {
      return request('getStateHistory', { params: { contract, key }, query: { limit: o.limit, cursor: o.cursor } }, o)
    },
    listContracts: (o = {}) => request('listContracts', {}, o),
    getContract: (name, o = {}) => request('getContract', { params: { name } }, o),
    async query(contract, method, args, o = {}) {
      if (o.height !== undefined && (!Number.isSafeInteger(o.height) || o.height < 1))
        throw invalidArgument('height', 'must be a positive integer')
      const body = {
        method,
        ...(args === undefined ? {} : { args: valueToJSON(args) }),
        ...(o.height === undefined ? {} : { height: o.height }),
      }
      return request('queryContract', { params: { name: contract }, body }, o)
    },
    health: (o = {}) => request('health', {}, o),
  }
}
