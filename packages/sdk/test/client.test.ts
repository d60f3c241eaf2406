import type { ServerResponse } from 'node:http'
import { buildTx, createClient, generateKeyPair, type TrellisClient, TrellisError, waitForCommit } from '@trellis/sdk'
import { base64ToBytes, bytesToHex } from '@trellis/utils'
import { afterEach, describe, expect, it } from 'vitest'
import { type Handler, sendJson, startServer, type TestServer } from './helpers/httpServer.js'

let server: TestServer | undefined

afterEach(async () => {
  await server?.close()
  server = undefined
})

async function serve(handler: Handler): Promise<{ server: TestServer; client: TrellisClient }> {
  server = await startServer(handler)
  return { server, client: createClient({ url: server.url, timeoutMs: 2000 }) }
}

async function caught(p: Promise<unknown>): Promise<TrellisError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(TrellisError)
    return err as TrellisError
  }
  throw new Error('expected a rejection')
}

const STATUS = {
  chainId: 'test-chain',
  nodeVersion: '0.1.0',
  height: 7,
  latestBlockHash: 'ab'.repeat(32),
  latestBlockTime: 1,
  stateRoot: 'cd'.repeat(32),
  genesisHash: 'ef'.repeat(32),
  validators: [],
  mempool: { txs: 0, bytes: 0 },
  contracts: ['notary'],
}

function tx() {
  const { privateKey } = generateKeyPair()
  return buildTx({
    chainId: 'test-chain',
    contract: 'notary',
    method: 'record',
    args: { hash: 'a'.repeat(64) },
    signer: privateKey,
    nonce: 1,
    now: 1000,
  })
}

describe('createClient', () => {
  it('builds requests from the route table: method, path, accept header and extra headers', async () => {
    server = await startServer((_req, res) => sendJson(res, 200, STATUS))
    const client = createClient({ url: `${server.url}/`, headers: { authorization: 'Bearer t' } })
    expect(client.url).toBe(server.url)
    expect(await client.status()).toEqual(STATUS)
    const r = server.requests[0]
    expect(r?.method).toBe('GET')
    expect(r?.path).toBe('/v1/status')
    expect(r?.headers.accept).toBe('application/json')
    expect(r?.headers.authorization).toBe('Bearer t')
  })

  it('keeps a base path prefix', async () => {
    const { server: s } = await serve((_req, res) => sendJson(res, 200, { status: 'ok', height: 3 }))
    const client = createClient({ url: `${s.url}/node-1/` })
    expect(await client.health()).toEqual({ status: 'ok', height: 3 })
    expect(s.requests[0]?.path).toBe('/node-1/healthz')
  })

  it('percent-encodes path parameters and writes the query string, leaving undefined fields out', async () => {
    const { server: s, client } = await serve((_req, res) => sendJson(res, 200, {}))
    await client.getState('notary', 'doc:a/b c?#%', { height: 5 })
    await client.getStateHistory('notary', 'k', { limit: 10 })
    await client.getBlock(12, { txs: 'full' })
    await client.getBlock('latest')
    await client.getTx('AB'.repeat(32))
    expect(s.requests.map((r) => r.url)).toEqual([
      '/v1/state/notary/doc%3Aa%2Fb%20c%3F%23%25?height=5',
      '/v1/state/notary/k/history?limit=10',
      '/v1/blocks/12?txs=full',
      '/v1/blocks/latest',
      `/v1/txs/${'ab'.repeat(32)}`,
    ])
  })

  it('refuses path segments that URL parsers would collapse', async () => {
    const { client } = await serve((_req, res) => sendJson(res, 200, {}))
    expect((await caught(client.getState('notary', '..'))).code).toBe('SDK_INVALID_ARGUMENT')
    expect(server?.requests).toHaveLength(0)
  })

  it('rejects a base URL that is not absolute http(s)', () => {
    expect(() => createClient({ url: 'localhost:8080' })).toThrowError(TrellisError)
    expect(() => createClient({ url: 'ftp://x' })).toThrowError(/http/)
  })

  it('sends query args as JSON values (bytes as $bytes)', async () => {
    const { server: s, client } = await serve((_req, res) => sendJson(res, 200, { height: 1, result: null }))
    await client.query('notary', 'get', { hash: 'x', raw: Uint8Array.of(1, 2, 3) })
    const r = s.requests[0]
    expect(r?.method).toBe('POST')
    expect(r?.path).toBe('/v1/contracts/notary/query')
    expect(r?.headers['content-type']).toBe('application/json')
    expect(JSON.parse(r?.body ?? '')).toEqual({ method: 'get', args: { hash: 'x', raw: { $bytes: 'AQID' } } })
  })

  it('maps a 4xx error body to a TrellisError with the server code, status, message and details', async () => {
    const { client } = await serve((_req, res) =>
      sendJson(res, 404, { code: 'TX_NOT_FOUND', message: 'no committed transaction', details: { id: 'ab' } }),
    )
    const err = await caught(client.getTx('ab'.repeat(32)))
    expect(err.code).toBe('TX_NOT_FOUND')
    expect(err.message).toBe('no committed transaction')
    expect(err.type).toEqual({ code: 'TX_NOT_FOUND', status: 404, details: { id: 'ab' } })
  })

  it('maps an error body without details', async () => {
    const { client } = await serve((_req, res) => sendJson(res, 400, { code: 'REQUEST_INVALID', message: 'bad' }))
    const err = await caught(client.listContracts())
    expect(err.type).toEqual({ code: 'REQUEST_INVALID', status: 400 })
  })

  it('maps a non-JSON 5xx to SDK_HTTP_ERROR with the status and a body snippet', async () => {
    const { client } = await serve((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' })
      res.end('<html>Bad Gateway</html>')
    })
    const err = await caught(client.status())
    expect(err.code).toBe('SDK_HTTP_ERROR')
    expect(err.type).toEqual({ code: 'SDK_HTTP_ERROR', status: 502, body: '<html>Bad Gateway</html>' })
    expect(err.message).toMatch(/502/)
  })

  it('maps a 2xx body that is not JSON to SDK_BAD_RESPONSE', async () => {
    const { client } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('hello')
    })
    expect((await caught(client.status())).code).toBe('SDK_BAD_RESPONSE')
  })

  it('times out with SDK_TIMEOUT (client default and per call)', async () => {
    const { client } = await serve(() => {
      // Never answers.
    })
    const started = Date.now()
    const err = await caught(client.status({ timeoutMs: 100 }))
    expect(err.code).toBe('SDK_TIMEOUT')
    expect(err.type).toMatchObject({ timeoutMs: 100, method: 'GET' })
    expect(Date.now() - started).toBeLessThan(1500)
    const slow = createClient({ url: server?.url ?? '', timeoutMs: 50 })
    expect((await caught(slow.health())).code).toBe('SDK_TIMEOUT')
  })

  it('times out while the body is still arriving', async () => {
    const { client } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"status":')
    })
    expect((await caught(client.health({ timeoutMs: 150 }))).code).toBe('SDK_TIMEOUT')
  })

  it('maps an abort by the caller to SDK_ABORTED', async () => {
    const { client } = await serve(() => {})
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 50)
    expect((await caught(client.status({ signal: ac.signal }))).code).toBe('SDK_ABORTED')
    expect((await caught(client.status({ signal: AbortSignal.abort() }))).code).toBe('SDK_ABORTED')
  })

  it('maps connection failures to SDK_NETWORK_ERROR', async () => {
    const s = await startServer(() => {})
    const url = s.url
    await s.close()
    const err = await caught(createClient({ url }).status())
    expect(err.code).toBe('SDK_NETWORK_ERROR')
    expect(err.cause).toBeDefined()
  })

  it('maps a connection reset mid-response to SDK_NETWORK_ERROR', async () => {
    const { client } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      res.write('{"status"', () => res.destroy())
    })
    expect((await caught(client.health())).code).toBe('SDK_NETWORK_ERROR')
  })

  it('uses an injected fetch', async () => {
    const calls: string[] = []
    const client = createClient({
      url: 'http://node.invalid',
      fetch: async (input) => {
        calls.push(input)
        return new Response(JSON.stringify({ status: 'ok', height: 1 }), { status: 200 })
      },
    })
    expect(await client.health()).toEqual({ status: 'ok', height: 1 })
    expect(calls).toEqual(['http://node.invalid/healthz'])
  })
})

describe('submit', () => {
  it('posts the tx bytes as base64, with wait and timeoutMs in the query', async () => {
    const t = tx()
    const id = bytesToHex(t.id)
    const { server: s, client } = await serve((_req, res) => sendJson(res, 200, { results: [{ id, accepted: true, height: 3 }] }))
    const r = await client.submit(t, { wait: true, timeoutMs: 5000 })
    expect(r).toEqual({ id, accepted: true, height: 3 })
    const req = s.requests[0]
    expect(req?.method).toBe('POST')
    expect(req?.url).toBe('/v1/txs?wait=true&timeoutMs=5000')
    const body = JSON.parse(req?.body ?? '') as { tx: string }
    expect(base64ToBytes(body.tx)).toEqual(t.bytes)
    await client.submit(t.bytes)
    expect(s.requests[1]?.url).toBe('/v1/txs')
  })

  it('throws the refusal of a single tx, from an error response', async () => {
    const { client } = await serve((_req, res) =>
      sendJson(res, 401, { code: 'TX_BAD_SIGNATURE', message: 'bad sig', details: { signer: 's' } }),
    )
    const err = await caught(client.submit(tx()))
    expect(err.type).toEqual({ code: 'TX_BAD_SIGNATURE', status: 401, details: { signer: 's' } })
  })

  it('throws the refusal of a single tx reported as accepted: false', async () => {
    const { client } = await serve((_req, res) =>
      sendJson(res, 200, {
        results: [{ id: 'ab'.repeat(32), accepted: false, error: { code: 'TX_DUPLICATE', message: 'already pending' } }],
      }),
    )
    const err = await caught(client.submit(tx()))
    expect(err.code).toBe('TX_DUPLICATE')
    expect(err.message).toBe('already pending')
    expect(err.type).toEqual({ code: 'TX_DUPLICATE', status: 409, details: { txId: 'ab'.repeat(32) } })
  })

  it('reports batch refusals per tx instead of throwing', async () => {
    const results = [
      { id: '01'.repeat(32), accepted: true },
      { id: '02'.repeat(32), accepted: false, error: { code: 'TX_EXPIRED', message: 'expired' } },
    ]
    const { server: s, client } = await serve((_req, res) => sendJson(res, 200, { results }))
    const t = tx()
    expect(await client.submitBatch([t, t.bytes])).toEqual(results)
    expect((JSON.parse(s.requests[0]?.body ?? '') as { txs: string[] }).txs).toHaveLength(2)
    expect(await client.submitBatch([])).toEqual([])
    expect(s.requests).toHaveLength(1)
  })

  it('gives a waiting request more time than the wait itself and than the client timeout', async () => {
    const { server: s } = await serve((_req, res) => {
      setTimeout(() => sendJson(res, 200, { results: [{ id: 'x', accepted: true }] }), 300)
    })
    const client = createClient({ url: s.url, timeoutMs: 100 })
    await expect(client.submit(tx(), { wait: true, timeoutMs: 100 })).resolves.toMatchObject({ accepted: true })
    // Without wait, timeoutMs is the request timeout.
    expect((await caught(client.submit(tx(), { timeoutMs: 100 }))).code).toBe('SDK_TIMEOUT')
  })
})

describe('waitForCommit', () => {
  function txResponse(id: string) {
    return { tx: { id }, height: 4, index: 0, receipt: { txId: id, status: 'ok' }, proof: { kind: 'tx' } }
  }

  it('polls through TX_NOT_FOUND and transient errors until the tx is found', async () => {
    const id = 'cd'.repeat(32)
    let calls = 0
    const { server: s, client } = await serve((_req, res) => {
      calls++
      if (calls <= 2) sendJson(res, 404, { code: 'TX_NOT_FOUND', message: 'not yet' })
      else if (calls === 3) sendJson(res, 503, { code: 'NODE_STOPPING', message: 'restarting' })
      else sendJson(res, 200, txResponse(id))
    })
    const r = await waitForCommit(client, id, { pollMs: 10, timeoutMs: 5000 })
    expect(r.height).toBe(4)
    expect(s.requests.map((q) => q.path)).toEqual(Array(4).fill(`/v1/txs/${id}`))
  })

  it('accepts a SignedTx and gives up with SDK_WAIT_TIMEOUT', async () => {
    let polls = 0
    const { client } = await serve((_req, res) => {
      polls++
      sendJson(res, 404, { code: 'TX_NOT_FOUND', message: 'not yet' })
    })
    const t = tx()
    const err = await caught(waitForCommit(client, t, { pollMs: 20, timeoutMs: 300 }))
    expect(err.type).toEqual({ code: 'SDK_WAIT_TIMEOUT', txId: bytesToHex(t.id), timeoutMs: 300 })
    expect(polls).toBeGreaterThan(0)
    // On a loaded machine the last poll may itself be cut short by the deadline.
    expect(['TX_NOT_FOUND', 'SDK_TIMEOUT']).toContain((err.cause as TrellisError).code)
  })

  it('stops at once on a non-transient error, and on abort', async () => {
    const { client } = await serve((_req, res: ServerResponse) => sendJson(res, 400, { code: 'REQUEST_INVALID', message: 'bad id' }))
    expect((await caught(waitForCommit(client, 'ab'.repeat(32), { pollMs: 10 }))).code).toBe('REQUEST_INVALID')
    expect((await caught(waitForCommit(client, 'ab'.repeat(32), { signal: AbortSignal.abort() }))).code).toBe('SDK_ABORTED')
    expect((await caught(waitForCommit(client, 'xyz'))).code).toBe('SDK_INVALID_ARGUMENT')
  })
})
