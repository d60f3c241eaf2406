import type { ServerResponse } from 'node:http'
import { type BlockMessage, createClient, type EventMessage, type SubscriptionErrorInfo, subscribe, TrellisError } from '@trellis/sdk'
import { afterEach, describe, expect, it } from 'vitest'
import { type RecordedRequest, sendJson, startServer, type TestServer } from './helpers/httpServer.js'

const HEAD = 10

// Events of a height: none for multiples of 3, several txs and several events per tx otherwise.
function eventsAt(height: number): EventMessage[] {
  const out: EventMessage[] = []
  for (let txIndex = 0; txIndex < height % 3; txIndex++) {
    const perTx = height % 4 === 0 ? 2 : 1
    for (let eventIndex = 0; eventIndex < perTx; eventIndex++) {
      out.push({
        height,
        txIndex,
        eventIndex,
        txId: `${height}`.padStart(64, '0'),
        contract: 'notary',
        name: 'DocumentRecorded',
        data: { n: height },
      })
    }
  }
  return out
}

function blockAt(height: number): BlockMessage {
  return { height, hash: `${height}`.padStart(64, 'f'), timestamp: 1000 + height, txIds: [] }
}

type Delivered = { kind: 'block'; height: number } | { kind: 'event'; id: string }

function keyOfEvent(e: EventMessage): string {
  return `${e.height}-${e.txIndex}-${e.eventIndex}`
}

// What the node would send from `fromHeight` (inclusive), as SSE text, one string per message.
function stream(fromHeight: number, blocks: boolean): Array<{ text: string; item: Delivered }> {
  const out: Array<{ text: string; item: Delivered }> = []
  for (let h = Math.max(1, fromHeight); h <= HEAD; h++) {
    if (blocks) out.push({ text: `event: block\nid: ${h}\ndata: ${JSON.stringify(blockAt(h))}\n\n`, item: { kind: 'block', height: h } })
    for (const e of eventsAt(h)) {
      out.push({ text: `event: event\nid: ${keyOfEvent(e)}\ndata: ${JSON.stringify(e)}\n\n`, item: { kind: 'event', id: keyOfEvent(e) } })
    }
  }
  return out
}

function expectedAll(blocks: boolean, from = 1): Delivered[] {
  return stream(from, blocks).map((m) => m.item)
}

/** How one connection behaves: how many whole messages it sends, then how it ends. */
interface Script {
  readonly messages: number
  /** Also write the first half of the next message before ending. */
  readonly partial?: boolean
  readonly end: 'destroy' | 'end' | 'keep'
}

let server: TestServer | undefined

afterEach(async () => {
  await server?.close()
  server = undefined
})

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

function sseHead(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  res.write('retry: 10\n\n: hello\n\n')
}

// An event endpoint that follows one script per connection (the last one repeats) and a status endpoint.
async function scriptedNode(scripts: Script[], headHeight = 0): Promise<{ server: TestServer; streams: RecordedRequest[] }> {
  let conn = 0
  const s = await startServer((req, res) => {
    if (req.path === '/v1/status') return sendJson(res, 200, { height: headHeight, chainId: 'test' })
    if (req.path !== '/v1/events') return sendJson(res, 404, { code: 'ROUTE_NOT_FOUND', message: 'no route' })
    const script = scripts[Math.min(conn++, scripts.length - 1)] as Script
    const from = Number(req.query.get('fromHeight') ?? HEAD + 1)
    const msgs = stream(from, req.query.get('blocks') !== 'false')
    sseHead(res)
    // Whole messages glued together and written in uneven pieces, as TCP may deliver them.
    let text = msgs
      .slice(0, script.messages)
      .map((m) => m.text)
      .join('')
    const next = msgs[script.messages]
    if (script.partial === true && next !== undefined) text += next.text.slice(0, Math.floor(next.text.length / 2))
    const pieces = [text.slice(0, 7), text.slice(7, 100), text.slice(100)]
    for (const p of pieces) if (p.length > 0) res.write(p)
    if (script.end === 'destroy') setTimeout(() => res.destroy(), 20)
    else if (script.end === 'end') res.end()
  })
  server = s
  return { server: s, streams: s.requests.filter((r) => r.path === '/v1/events') }
}

function collector() {
  const delivered: Delivered[] = []
  const errors: Array<{ error: Error; info: SubscriptionErrorInfo }> = []
  return {
    delivered,
    errors,
    onBlock: (b: BlockMessage) => {
      delivered.push({ kind: 'block', height: b.height })
    },
    onEvent: (e: EventMessage) => {
      delivered.push({ kind: 'event', id: keyOfEvent(e) })
    },
    onError: (error: Error, info: SubscriptionErrorInfo) => {
      errors.push({ error, info })
    },
  }
}

function eventStreams(s: TestServer): RecordedRequest[] {
  return s.requests.filter((r) => r.path === '/v1/events')
}

describe('subscribe', () => {
  it('resumes after dropped connections from the first height not fully delivered, without duplicates or gaps', async () => {
    const all = expectedAll(true)
    // Connection 1 breaks inside height 2 (block 2 and one of its events delivered, half a message
    // more); connection 2 ends right after the last event of height 4; connection 3 is ended by the
    // node after height 6; connection 4 stays open.
    const upToMid2 = all.findIndex((m) => m.kind === 'block' && m.height === 2) + 2
    const fromTwoTo4 = stream(2, true).findIndex((m) => m.item.kind === 'block' && m.item.height === 5)
    const fromFourTo6 = stream(4, true).findIndex((m) => m.item.kind === 'block' && m.item.height === 7)
    const { server: s } = await scriptedNode([
      { messages: upToMid2, partial: true, end: 'destroy' },
      { messages: fromTwoTo4, end: 'destroy' },
      { messages: fromFourTo6, end: 'end' },
      { messages: 1000, end: 'keep' },
    ])
    const c = collector()
    const sub = subscribe(s.url, { fromHeight: 1, ...c })
    await until(() => c.delivered.length >= all.length)
    await new Promise((r) => setTimeout(r, 50))
    sub.close()
    await sub.done
    expect(c.delivered).toEqual(all)
    expect(eventStreams(s).map((r) => r.query.get('fromHeight'))).toEqual(['1', '2', '4', '6'])
    expect(c.errors.map((e) => [e.error instanceof TrellisError && e.error.code, e.info.willRetry])).toEqual([
      ['SDK_NETWORK_ERROR', true],
      ['SDK_NETWORK_ERROR', true],
      ['SDK_NETWORK_ERROR', true],
    ])
    // The last height may still get events, so it is not counted as delivered yet.
    expect(sub.lastDeliveredHeight).toBe(HEAD - 1)
  })

  it('resumes an events-only stream the same way', async () => {
    const all = expectedAll(false)
    const { server: s } = await scriptedNode([
      { messages: 3, partial: true, end: 'destroy' },
      { messages: 2, end: 'destroy' },
      { messages: 1, partial: true, end: 'end' },
      { messages: 1000, end: 'keep' },
    ])
    const c = collector()
    const sub = subscribe(createClient({ url: s.url }), { fromHeight: 1, blocks: false, onEvent: c.onEvent })
    await until(() => c.delivered.length >= all.length)
    await new Promise((r) => setTimeout(r, 50))
    sub.close()
    await sub.done
    expect(c.delivered).toEqual(all)
    const froms = eventStreams(s).map((r) => Number(r.query.get('fromHeight')))
    expect(froms).toHaveLength(4)
    expect(froms).toEqual([...froms].sort((a, b) => a - b))
    expect(eventStreams(s).every((r) => r.query.get('blocks') === 'false')).toBe(true)
  })

  it('passes filters through and, without fromHeight, starts after the head it reads from status', async () => {
    const { server: s } = await scriptedNode([{ messages: 1000, end: 'keep' }], 5)
    const c = collector()
    const sub = subscribe(s.url, { contract: 'notary', name: 'DocumentRecorded', events: true, ...c })
    await until(() => c.delivered.length >= expectedAll(true, 6).length)
    sub.close()
    await sub.done
    expect(c.delivered).toEqual(expectedAll(true, 6))
    const q = eventStreams(s)[0]?.query
    expect(Object.fromEntries(q ?? [])).toEqual({ fromHeight: '6', contract: 'notary', name: 'DocumentRecorded', events: 'true' })
    expect(s.requests[0]?.path).toBe('/v1/status')
  })

  it('retries 5xx answers and stops on 4xx ones, rejecting done', async () => {
    let calls = 0
    server = await startServer((_req, res) => {
      calls++
      if (calls <= 2) sendJson(res, 503, { code: 'NODE_STOPPING', message: 'restarting' })
      else sendJson(res, 400, { code: 'REQUEST_INVALID', message: 'bad fromHeight' })
    })
    const c = collector()
    const sub = subscribe(server.url, { fromHeight: 1, reconnectDelayMs: 5, ...c })
    await expect(sub.done).rejects.toMatchObject({ code: 'REQUEST_INVALID' })
    expect(c.errors.map((e) => [(e.error as TrellisError).code, e.info.willRetry, e.info.attempt])).toEqual([
      ['NODE_STOPPING', true, 1],
      ['NODE_STOPPING', true, 2],
      ['REQUEST_INVALID', false, 3],
    ])
  })

  it('backs off exponentially up to the ceiling', async () => {
    server = await startServer((_req, res) => sendJson(res, 503, { code: 'MEMPOOL_FULL', message: 'later' }))
    const delays: number[] = []
    const sub = subscribe(server.url, {
      fromHeight: 1,
      reconnectDelayMs: 4,
      maxReconnectDelayMs: 20,
      onError: (_e, info) => {
        delays.push(info.delayMs)
        if (delays.length === 6) sub.close()
      },
    })
    await sub.done
    const nominal = [4, 8, 16, 20, 20, 20]
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(Math.floor((nominal[i] as number) * 0.8))
      expect(d).toBeLessThanOrEqual(Math.ceil((nominal[i] as number) * 1.2))
    })
  })

  it('rejects done with the error of a throwing callback and stops', async () => {
    const { server: s } = await scriptedNode([{ messages: 1000, end: 'keep' }])
    const boom = new Error('consumer failed')
    const seen: number[] = []
    const sub = subscribe(s.url, {
      fromHeight: 1,
      onBlock: (b) => {
        seen.push(b.height)
        if (b.height === 2) throw boom
      },
    })
    await expect(sub.done).rejects.toBe(boom)
    expect(seen).toEqual([1, 2])
    expect(eventStreams(s)).toHaveLength(1)
    expect(sub.lastDeliveredHeight).toBe(1)
  })

  it('waits for async callbacks, delivering in order', async () => {
    const { server: s } = await scriptedNode([{ messages: 1000, end: 'keep' }])
    const order: string[] = []
    const sub = subscribe(s.url, {
      fromHeight: 8,
      onBlock: async (b) => {
        await new Promise((r) => setTimeout(r, 20))
        order.push(`b${b.height}`)
      },
      onEvent: (e) => {
        order.push(`e${keyOfEvent(e)}`)
      },
    })
    await until(() => order.length === expectedAll(true, 8).length)
    sub.close()
    await sub.done
    expect(order).toEqual(expectedAll(true, 8).map((m) => (m.kind === 'block' ? `b${m.height}` : `e${m.id}`)))
  })

  it('replaces a silent connection after idleTimeoutMs', async () => {
    let conn = 0
    server = await startServer((req, res) => {
      sseHead(res)
      if (conn++ === 0) return // headers, then silence
      res.write(stream(Number(req.query.get('fromHeight')), true)[0]?.text ?? '')
    })
    const c = collector()
    const sub = subscribe(server.url, { fromHeight: 3, idleTimeoutMs: 150, ...c })
    await until(() => c.delivered.length === 1)
    sub.close()
    await sub.done
    expect(c.delivered).toEqual([{ kind: 'block', height: 3 }])
    expect(c.errors.map((e) => [(e.error as TrellisError).code, e.info.willRetry])).toEqual([['SDK_TIMEOUT', true]])
  })

  it('stops on a response that is not an event stream', async () => {
    server = await startServer((_req, res) => sendJson(res, 200, { hello: 'world' }))
    const sub = subscribe(server.url, { fromHeight: 1 })
    await expect(sub.done).rejects.toMatchObject({ code: 'SDK_BAD_RESPONSE' })
  })

  it('stops on a malformed message', async () => {
    server = await startServer((_req, res) => {
      sseHead(res)
      res.write('event: block\ndata: {not json\n\n')
    })
    const sub = subscribe(server.url, { fromHeight: 1 })
    await expect(sub.done).rejects.toMatchObject({ code: 'SDK_BAD_RESPONSE' })
  })

  it('closes: by close(), by signal, and with an already aborted signal before any request', async () => {
    let open = 0
    server = await startServer((_req, res) => {
      open++
      res.on('close', () => open--)
      sseHead(res)
    })
    const sub = subscribe(server.url, { fromHeight: 1 })
    await until(() => open === 1)
    sub.close()
    sub.close()
    await sub.done
    await until(() => open === 0)

    const ac = new AbortController()
    const sub2 = subscribe(server.url, { fromHeight: 1, signal: ac.signal })
    await until(() => open === 1)
    ac.abort()
    await sub2.done
    await until(() => open === 0)

    const requests = server.requests.length
    await subscribe(server.url, { signal: AbortSignal.abort() }).done
    expect(server.requests.length).toBe(requests)
  })

  it('keeps retrying while the node is down, until closed', async () => {
    const s = await startServer(() => {})
    const url = s.url
    await s.close()
    const errors: string[] = []
    const sub = subscribe(url, {
      fromHeight: 1,
      reconnectDelayMs: 5,
      onError: (e, info) => {
        errors.push(`${(e as TrellisError).code}:${info.willRetry}`)
        if (errors.length === 3) sub.close()
      },
    })
    await sub.done
    expect(errors).toEqual(['SDK_NETWORK_ERROR:true', 'SDK_NETWORK_ERROR:true', 'SDK_NETWORK_ERROR:true'])
  })

  it('rejects a bad fromHeight at once', () => {
    expect(() => subscribe('http://127.0.0.1:1', { fromHeight: -1 })).toThrowError(/fromHeight/)
  })
})
