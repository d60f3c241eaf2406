import type { PrivateKey } from '@trellis/crypto'
import type { BlockMessage, EventMessage } from '@trellis/api'

/** The `fetch` the client calls; the global one by default (any WHATWG-compatible implementation works). */
export type FetchFn = (input: string, init: RequestInit) => Promise<Response>

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** Base URL of a node's HTTP API, e.g. `http://127.0.0.1:8080`; a path prefix (behind a proxy) is kept. */
  readonly url: string
  /** Replaces the global `fetch` (tests, proxies, custom agents). */
  readonly fetch?: FetchFn
  /** Default per-request timeout, from sending until the whole body is read. */
  readonly timeoutMs?: number
  /** Extra headers sent with every request (e.g. an API gateway's authorization). */
  readonly headers?: Readonly<Record<string, string>>
  /**
   * Signs every request with a member's certificate and key, for chains readable by their members
   * only (governance `readAccess: members`).
   */
  readonly auth?: { readonly privateKey: PrivateKey; readonly certificate: Uint8Array; readonly chainId?: string }
}

export const defaultClientOptions = {
  timeoutMs: 30_000,
} as const

/** Per-call options of every client method. */
export interface RequestOptions {
  /** Overrides the client's `timeoutMs` for this call. */
  readonly timeoutMs?: number
  /** Cancels the call; it then rejects with `SDK_ABORTED`. */
  readonly signal?: AbortSignal
}

/** Options of {@link TrellisClient.submit} and {@link TrellisClient.submitBatch}. */
export interface SubmitOptions {
  /** Hold the response until every accepted tx is committed; results then carry `height` and `receipt`. */
  readonly wait?: boolean
  /**
   * With `wait`: how long the node may hold the response (the node caps it at its own limit, and
   * answers `WAIT_TIMEOUT` when it runs out); the HTTP request is given this plus a grace period.
   * Without `wait`: the request timeout.
   */
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
}

/** Options of {@link waitForCommit}. */
export interface WaitForCommitOptions {
  /** Give up (with `SDK_WAIT_TIMEOUT`) after this long. */
  readonly timeoutMs?: number
  /** Delay between two polls of `GET /v1/txs/:id`. */
  readonly pollMs?: number
  readonly signal?: AbortSignal
}

export const defaultWaitForCommitOptions = {
  timeoutMs: 60_000,
  pollMs: 500,
} as const

/** What {@link SubscribeOptions.onError} is told besides the error. */
export interface SubscriptionErrorInfo {
  /** False when the subscription stops because of this error (`done` then rejects with it). */
  readonly willRetry: boolean
  /** Consecutive failed attempts so far (1 for the first failure after a healthy connection). */
  readonly attempt: number
  /** With `willRetry`: how long until the next attempt. */
  readonly delayMs: number
}

/** Options of {@link subscribe}. */
export interface SubscribeOptions {
  /** First height to deliver (inclusive). Default: the chain head at subscription time + 1 (only new blocks). */
  readonly fromHeight?: number
  /** Only events of this contract. */
  readonly contract?: string
  /** Only events with this name. */
  readonly name?: string
  /** Deliver a `block` message per block (default true). */
  readonly blocks?: boolean
  /** Deliver contract `event` messages (default true). */
  readonly events?: boolean
  /**
   * Called once per block, in height order, before that block's events. May return a promise: the
   * stream waits for it. If it throws, the subscription stops and `done` rejects with the error.
   */
  readonly onBlock?: (block: BlockMessage) => void | Promise<void>
  /** Called once per event, in (height, txIndex, eventIndex) order; same rules as `onBlock`. */
  readonly onEvent?: (event: EventMessage) => void | Promise<void>
  /** Told about every connection error, whether or not it will be retried. */
  readonly onError?: (error: Error, info: SubscriptionErrorInfo) => void
  /** Ends the subscription (like `close()`). */
  readonly signal?: AbortSignal
  /** First reconnect delay; the node's SSE `retry:` field replaces it. Doubles per failure. */
  readonly reconnectDelayMs?: number
  /** Ceiling of the reconnect delay. */
  readonly maxReconnectDelayMs?: number
  /**
   * A connection that receives nothing (not even the node's keep-alive comments, sent every 15 s)
   * for this long is considered dead and replaced.
   */
  readonly idleTimeoutMs?: number
  /** Timeout of each connection attempt until the response headers arrive. */
  readonly connectTimeoutMs?: number
}

export const defaultSubscribeOptions = {
  reconnectDelayMs: 1000,
  maxReconnectDelayMs: 30_000,
  idleTimeoutMs: 45_000,
  connectTimeoutMs: 15_000,
} as const
