import { Agent, request } from 'node:http'

/** The outcome of an HTTP exchange: a response (any status) or a transport error code. Never throws. */
export type HttpOutcome = { readonly status: number; readonly body: string } | { readonly error: string }

export function createAgent(sockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets })
}

/** One request; a transport failure (ECONNRESET, timeout, …) resolves to `{ error }`. */
export function httpRequest(
  agent: Agent | false,
  url: string,
  o: { method?: 'GET' | 'POST'; body?: string; timeoutMs?: number } = {},
): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    let settled = false
    const finish = (r: HttpOutcome) => {
      if (settled) return
      settled = true
      resolve(r)
    }
    let req: ReturnType<typeof request>
    try {
      req = request(url, {
        method: o.method ?? 'GET',
        agent,
        headers: o.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(o.body) },
      })
    } catch (err) {
      finish({ error: (err as { code?: string }).code ?? 'REQUEST_FAILED' })
      return
    }
    req.setTimeout(o.timeoutMs ?? 30_000, () => {
      req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }))
    })
    req.on('error', (err) => finish({ error: (err as { code?: string }).code ?? 'REQUEST_FAILED' }))
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', (err) => finish({ error: (err as { code?: string }).code ?? 'RESPONSE_FAILED' }))
      res.on('aborted', () => finish({ error: 'ECONNRESET' }))
      res.on('end', () => finish({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.end(o.body)
  })
}

/** GET a JSON document; throws with a readable message when the node does not answer 200. */
export async function getJSON<T>(url: string, timeoutMs = 10_000): Promise<T> {
  const r = await httpRequest(false, url, { timeoutMs })
  if ('error' in r) throw new Error(`GET ${url}: ${r.error}`)
  if (r.status !== 200) throw new Error(`GET ${url}: HTTP ${r.status} ${r.body.slice(0, 300)}`)
  return JSON.parse(r.body) as T
}

/** POST a JSON document; throws unless the node answers 200. */
export async function postJSON<T>(url: string, body: unknown, timeoutMs = 60_000): Promise<T> {
  const r = await httpRequest(false, url, { method: 'POST', body: JSON.stringify(body), timeoutMs })
  if ('error' in r) throw new Error(`POST ${url}: ${r.error}`)
  if (r.status !== 200) throw new Error(`POST ${url}: HTTP ${r.status} ${r.body.slice(0, 300)}`)
  return JSON.parse(r.body) as T
}
