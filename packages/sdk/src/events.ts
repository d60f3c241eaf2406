import type { BlockMessage, EventMessage } from '@trellis/api'
import { TrellisError } from '@trellis/utils'
import { createClient, type TrellisClient } from './client.js'
import type { SdkErrorType, ServerErrorType } from './errors.js'
import { defaultSubscribeOptions, type SubscribeOptions } from './options.js'
import { sleep } from './sleep.js'
import { type SSEMessage, SSEParser } from './sse.js'

/** A running event subscription. */
export interface Subscription {
  /** Stops the subscription; `done` then resolves. Idempotent. */
  close(): void
  /** Resolves when the subscription is closed or its signal aborts; rejects on a non-retryable error. */
  readonly done: Promise<void>
  /**
   * Every height up to this one has been fully delivered (or skipped on purpose, as below the starting
   * height). Persist it and pass `lastDeliveredHeight + 1` as `fromHeight` to resume after a restart.
   * 0 until the starting height is known.
   */
  readonly lastDeliveredHeight: number
}

const MIN_SERVER_RETRY_MS = 10

// Marks a failure of the caller's own callback, which ends the subscription instead of reconnecting.
class HandlerFailure {
  constructor(readonly error: unknown) {}
}

function badMessage(reason: string): TrellisError<SdkErrorType> {
  return new TrellisError<SdkErrorType>({ code: 'SDK_BAD_RESPONSE', status: 200, reason }, `malformed event stream message: ${reason}`)
}

function isIndex(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}

function parseMessage(
  msg: SSEMessage,
): { kind: 'block'; block: BlockMessage; key: string } | { kind: 'event'; event: EventMessage; key: string } | undefined {
  if (msg.event !== 'block' && msg.event !== 'event') return undefined
  let data: unknown
  try {
    data = JSON.parse(msg.data)
  } catch {
    throw badMessage(`${msg.event} data is not JSON`)
  }
  if (typeof data !== 'object' || data === null) throw badMessage(`${msg.event} data is not an object`)
  const d = data as Record<string, unknown>
  if (!isIndex(d.height)) throw badMessage(`${msg.event} has no valid height`)
  if (msg.event === 'block') return { kind: 'block', block: data as BlockMessage, key: `b${d.height}` }
  if (!isIndex(d.txIndex) || !isIndex(d.eventIndex)) throw badMessage('event has no valid txIndex/eventIndex')
  return { kind: 'event', event: data as EventMessage, key: `e${d.height}-${d.txIndex}-${d.eventIndex}` }
}

function isFatal(err: unknown): boolean {
  if (err instanceof HandlerFailure) return true
  if (!(err instanceof TrellisError)) return true
  const code = err.code
  if (code === 'SDK_NETWORK_ERROR' || code === 'SDK_TIMEOUT') return false
  if (code === 'SDK_BAD_RESPONSE' || code === 'SDK_INVALID_ARGUMENT' || code === 'SDK_ABORTED') return true
  const status = (err.type as Partial<ServerErrorType>).status
  if (typeof status !== 'number') return true
  // Client errors will not fix themselves, except "try later" ones; server and proxy errors may.
  return status < 500 && status !== 408 && status !== 429
}

function unwrap(err: unknown): Error {
  const e = err instanceof HandlerFailure ? err.error : err
  return e instanceof Error
    ? e
    : new TrellisError<SdkErrorType>({ code: 'SDK_CALLBACK_FAILED', value: String(e) }, `a callback threw ${String(e)}`)
}

function optionalBoolean(b: boolean | undefined): 'true' | 'false' | undefined {
  return b === undefined ? undefined : b ? 'true' : 'false'
}

/**
 * Subscribes to committed blocks and contract events (`GET /v1/events`, Server-Sent Events parsed
 * over `fetch`, so it runs in browsers and Node alike). Messages are delivered in chain order, each
 * exactly once: after a dropped connection it reconnects with backoff, resuming from the first height
 * not fully delivered and skipping what was already delivered, until `close()` or `signal`.
 * @throws TrellisError SDK_INVALID_ARGUMENT for a bad `fromHeight` (other errors go to `onError`/`done`).
 * @example
 * const sub = subscribe(client, { contract: 'notary', onEvent: (e) => console.log(e.name, e.data) })
 * // later
 * sub.close()
 */
export function subscribe(source: TrellisClient | string, options: SubscribeOptions = {}): Subscription {
  const client = typeof source === 'string' ? createClient({ url: source }) : source
  const { fromHeight, onBlock, onEvent, onError, signal } = options
  if (fromHeight !== undefined && !isIndex(fromHeight)) {
    throw new TrellisError<SdkErrorType>(
      { code: 'SDK_INVALID_ARGUMENT', argument: 'fromHeight', reason: 'must be a non-negative integer' },
      'invalid fromHeight: must be a non-negative integer',
    )
  }
  const maxDelayMs = options.maxReconnectDelayMs ?? defaultSubscribeOptions.maxReconnectDelayMs
  const idleTimeoutMs = options.idleTimeoutMs ?? defaultSubscribeOptions.idleTimeoutMs
  const connectTimeoutMs = options.connectTimeoutMs ?? defaultSubscribeOptions.connectTimeoutMs
  let baseDelayMs = options.reconnectDelayMs ?? defaultSubscribeOptions.reconnectDelayMs

  const stop = new AbortController()
  const close = (): void => stop.abort()
  if (signal?.aborted === true) close()
  else signal?.addEventListener('abort', close, { once: true })

  // Heights below `nextHeight` are fully delivered; `seen` holds what was delivered at `currentHeight`,
  // the one height that may be partially delivered when a connection drops.
  let nextHeight: number | undefined = fromHeight
  let currentHeight = -1
  const seen = new Set<string>()

  async function deliver(msg: SSEMessage): Promise<void> {
    const parsed = parseMessage(msg)
    if (parsed === undefined) return
    const height = parsed.kind === 'block' ? parsed.block.height : parsed.event.height
    if (nextHeight !== undefined && height < nextHeight) return
    if (height > currentHeight) {
      // The node sends heights in order, so a new height completes every height before it.
      currentHeight = height
      nextHeight = height
      seen.clear()
    }
    if (seen.has(parsed.key) || stop.signal.aborted) return
    try {
      if (parsed.kind === 'block') await onBlock?.(parsed.block)
      else await onEvent?.(parsed.event)
    } catch (err) {
      throw new HandlerFailure(err)
    }
    seen.add(parsed.key)
  }

  // One connection: resolves when the node ends the stream, rejects on errors (aborts included).
  async function connect(onOpen: () => void): Promise<void> {
    const conn = new AbortController()
    const abortConn = (): void => conn.abort()
    stop.signal.addEventListener('abort', abortConn, { once: true })
    if (stop.signal.aborted) conn.abort()
    let idleTimer: ReturnType<typeof setTimeout> | undefined
    let idle = false
    const armIdle = (): void => {
      clearTimeout(idleTimer)
      idleTimer = setTimeout(() => {
        idle = true
        conn.abort()
      }, idleTimeoutMs)
    }
    try {
      const query = {
        fromHeight: nextHeight,
        contract: options.contract,
        name: options.name,
        blocks: optionalBoolean(options.blocks),
        events: optionalBoolean(options.events),
      }
      const res = await client.requestRaw('streamEvents', { query }, { signal: conn.signal, timeoutMs: connectTimeoutMs })
      const type = res.headers.get('content-type') ?? ''
      if (!type.toLowerCase().startsWith('text/event-stream') || res.body === null) {
        await res.body?.cancel().catch(() => undefined)
        throw new TrellisError<SdkErrorType>(
          { code: 'SDK_BAD_RESPONSE', status: res.status, reason: `content type "${type}" is not text/event-stream` },
          `the node answered the event stream with "${type}"`,
        )
      }
      onOpen()
      const reader = res.body.getReader()
      const parser = new SSEParser()
      armIdle()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        const messages = parser.push(value)
        // The node's `retry:` replaces the default delay (not one the caller chose); 0 would spin.
        if (parser.retryMs !== undefined && options.reconnectDelayMs === undefined)
          baseDelayMs = Math.max(parser.retryMs, MIN_SERVER_RETRY_MS)
        if (messages.length === 0) {
          armIdle()
          continue
        }
        // Time spent in the caller's callbacks is not network silence.
        clearTimeout(idleTimer)
        for (const m of messages) await deliver(m)
        armIdle()
      }
      parser.end()
    } catch (err) {
      if (idle && !stop.signal.aborted) {
        throw new TrellisError<SdkErrorType>(
          { code: 'SDK_TIMEOUT', method: 'GET', url: `${client.url}/v1/events`, timeoutMs: idleTimeoutMs },
          `event stream silent for ${idleTimeoutMs} ms`,
          { cause: err },
        )
      }
      if (err instanceof HandlerFailure || err instanceof TrellisError) throw err
      throw new TrellisError<SdkErrorType>(
        { code: 'SDK_NETWORK_ERROR', method: 'GET', url: `${client.url}/v1/events` },
        `event stream broke: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      )
    } finally {
      clearTimeout(idleTimer)
      stop.signal.removeEventListener('abort', abortConn)
      // Ends the HTTP response too when the loop stopped early (a callback threw, close()).
      conn.abort()
    }
  }

  async function run(): Promise<void> {
    let attempt = 0
    try {
      while (!stop.signal.aborted) {
        let error: unknown
        try {
          if (nextHeight === undefined) {
            // Pin "only new blocks" to a height, so that a reconnect misses nothing committed meanwhile.
            const status = await client.status({ signal: stop.signal, timeoutMs: connectTimeoutMs })
            nextHeight = status.height + 1
          }
          await connect(() => {
            attempt = 0
          })
          error = new TrellisError<SdkErrorType>(
            { code: 'SDK_NETWORK_ERROR', method: 'GET', url: `${client.url}/v1/events` },
            'the node ended the event stream',
          )
        } catch (err) {
          error = err
        }
        if (stop.signal.aborted) return
        if (isFatal(error)) {
          const e = unwrap(error)
          onError?.(e, { willRetry: false, attempt: attempt + 1, delayMs: 0 })
          throw e
        }
        attempt++
        const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempt - 1, 30))
        // Jitter spreads the reconnects of many clients after a node restart.
        const delayMs = Math.round(backoff * (0.8 + 0.4 * Math.random()))
        onError?.(unwrap(error), { willRetry: true, attempt, delayMs })
        await sleep(delayMs, stop.signal)
      }
    } finally {
      signal?.removeEventListener('abort', close)
      stop.abort()
    }
  }

  const done = run()
  // `done` is for whoever awaits it; an unobserved failure was already reported to onError.
  done.catch(() => undefined)
  return {
    close,
    done,
    get lastDeliveredHeight() {
      return nextHeight === undefined ? 0 : Math.max(0, nextHeight - 1)
    },
  }
}
