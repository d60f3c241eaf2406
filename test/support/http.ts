// Helpers for suites that talk to a node over HTTP: start an in-process node in a temp data dir and
// make requests that never throw on error statuses.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Genesis } from '@trellis/ledger'
import { initDataDir, type StartNodeOptions, startNode, type TrellisNode } from '@trellis/node'
import { silentLogger } from './fixtures.js'

export const PASSWORD = 'correct horse battery'

export interface HttpResult {
  readonly status: number
  readonly text: string
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field in the tests
  readonly body: any
  readonly contentType: string
}

export interface RequestOptions {
  readonly json?: unknown
  /** A raw body, sent as is (malformed JSON, wrong media types). */
  readonly raw?: string
  readonly contentType?: string
  readonly headers?: Readonly<Record<string, string>>
}

/** One HTTP request; the body is parsed as JSON when it is JSON. */
export async function http(
  base: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  o: RequestOptions = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = { ...o.headers }
  let body: string | undefined
  if (o.json !== undefined) {
    body = JSON.stringify(o.json)
    headers['content-type'] = 'application/json'
  } else if (o.raw !== undefined) {
    body = o.raw
    headers['content-type'] = o.contentType ?? 'application/json'
  }
  const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
  const text = await res.text()
  const contentType = res.headers.get('content-type') ?? ''
  let parsed: unknown
  try {
    parsed = contentType.includes('json') ? JSON.parse(text) : undefined
  } catch {
    parsed = undefined
  }
  return { status: res.status, text, body: parsed, contentType }
}

export interface TestNode {
  readonly node: TrellisNode
  readonly url: string
  readonly dataDir: string
  readonly genesis: Genesis
  readonly get: (path: string) => Promise<HttpResult>
  readonly post: (path: string, o?: RequestOptions) => Promise<HttpResult>
  close(): Promise<void>
}

/** Creates a chain in a fresh temp dir and starts a node on it (LevelDB, random port). */
export async function startTestNode(
  o: Partial<Omit<StartNodeOptions, 'dataDir' | 'password' | 'logger'>> & { chainId?: string } = {},
): Promise<TestNode> {
  const { chainId, ...rest } = o
  const dataDir = await mkdtemp(join(tmpdir(), 'trellis-e2e-'))
  const { genesis } = await initDataDir({ dataDir, chainId: chainId ?? 'e2e-chain', password: PASSWORD, keystore: { scryptN: 1024 } })
  const { node, url } = await startNode({
    dataDir,
    password: PASSWORD,
    logger: silentLogger,
    port: 0,
    blockIntervalMs: 20,
    syncWrites: false,
    verifyWorkers: 1,
    ...rest,
  })
  return {
    node,
    url,
    dataDir,
    genesis,
    get: (path) => http(url, 'GET', path),
    post: (path, ro) => http(url, 'POST', path, ro),
    async close() {
      await node.close()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** Polls `f` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(f: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export interface SseMessage {
  readonly event: string
  readonly id: string
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- message payloads are checked in the tests
  readonly data: any
}

export interface SseStream {
  readonly messages: SseMessage[]
  readonly status: Promise<number>
  /** Resolves once a message satisfies `pred`. */
  waitFor(pred: (m: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>
  close(): void
}

/** Opens a server-sent-events stream and collects its messages. */
export function openSse(base: string, path: string): SseStream {
  const messages: SseMessage[] = []
  const controller = new AbortController()
  let buffer = ''
  let resolveStatus: (s: number) => void = () => undefined
  const status = new Promise<number>((resolve) => {
    resolveStatus = resolve
  })
  const parse = (chunk: string) => {
    let event = 'message'
    let id = ''
    const data: string[] = []
    for (const line of chunk.split('\n')) {
      if (line.startsWith(':')) continue
      const i = line.indexOf(':')
      const field = i < 0 ? line : line.slice(0, i)
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '')
      if (field === 'event') event = value
      else if (field === 'id') id = value
      else if (field === 'data') data.push(value)
    }
    if (data.length > 0) messages.push({ event, id, data: JSON.parse(data.join('\n')) })
  }
  void (async () => {
    try {
      const res = await fetch(`${base}${path}`, { signal: controller.signal })
      resolveStatus(res.status)
      const decoder = new TextDecoder()
      for await (const part of res.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(part, { stream: true })
        let end = buffer.indexOf('\n\n')
        while (end >= 0) {
          parse(buffer.slice(0, end))
          buffer = buffer.slice(end + 2)
          end = buffer.indexOf('\n\n')
        }
      }
    } catch {
      // aborted by close(), or the server went away
    }
  })()
  return {
    messages,
    status,
    waitFor: (pred, timeoutMs = 10_000) => eventually(() => messages.find(pred), timeoutMs, 'an SSE message'),
    close: () => controller.abort(),
  }
}
