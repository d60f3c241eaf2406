import type { ServerResponse } from 'node:http'
import cors from '@fastify/cors'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import {
  httpStatusOf,
  parseReadAuthorization,
  READ_AUTH_MAX_SKEW_MS,
  READ_AUTH_SCHEME,
  readRequestMessage,
  type RouteDef,
  routes,
} from '@trellis/api'
import { parseCertificate, publicKeyToString, verify } from '@trellis/crypto'
import {
  certificateToJSON,
  decodeValue,
  encodeCertificate,
  encodeHeader,
  headerToJSON,
  merkleProofToJSON,
  receiptToJSON,
  type StateValueProofJSON,
  stateKey,
  stateKeyHash,
  stateProofToJSON,
  type TxProofJSON,
  txToJSON,
  valueFromJSON,
  valueToJSON,
} from '@trellis/ledger'
import { base64ToBytes, bytesToBase64, bytesToHex, hexToBytes, TrellisError } from '@trellis/utils'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { NodeErrorType } from '../errors.js'
import { asTrellisError, type CommitNotice, type TrellisNode } from '../node.js'
import { serveEventStream } from './sse.js'
import { TxProofCache } from './txProofCache.js'
import { chainQueryView } from '../executor/queryView.js'
import type { Reader } from '../executor/types.js'

export const NODE_VERSION = '0.1.0'

function notFound(type: NodeErrorType, message: string): TrellisError<NodeErrorType> {
  return new TrellisError<NodeErrorType>(type, message)
}

function errorBody(err: TrellisError): { code: string; message: string; details?: Record<string, unknown> } {
  const details = err.details as Record<string, unknown>
  return Object.keys(details).length > 0 ? { code: err.code, message: err.message, details } : { code: err.code, message: err.message }
}

function sendError(reply: FastifyReply, err: TrellisError): FastifyReply {
  return reply.code(httpStatusOf(err.code)).send(errorBody(err))
}

interface Parsed {
  params: Record<string, unknown>
  query: Record<string, unknown>
  body: unknown
}

function parseRequest(def: RouteDef, req: FastifyRequest): Parsed {
  const issues: Array<{ path: string; message: string }> = []
  const part = (schema: z.ZodType | undefined, input: unknown, where: string): unknown => {
    if (schema === undefined) return input
    const r = schema.safeParse(input ?? {})
    if (r.success) return r.data
    for (const i of r.error.issues) issues.push({ path: [where, ...i.path.map(String)].join('.'), message: i.message })
    return undefined
  }
  const params = part(def.params, req.params, 'params') as Record<string, unknown>
  const query = part(def.query, req.query, 'query') as Record<string, unknown>
  const body = def.body === undefined ? undefined : part(def.body, req.body === undefined ? undefined : req.body, 'body')
  if (issues.length > 0) {
    const first = issues[0] as { path: string; message: string }
    throw new TrellisError({ code: 'REQUEST_INVALID', issues }, `invalid request: ${first.path}: ${first.message}`)
  }
  return { params, query, body }
}

/** The OpenAPI form of a route's parts, generated from its zod schemas. */
function openApiSchema(def: RouteDef): Record<string, unknown> {
  const js = (s: z.ZodType) => z.toJSONSchema(s, { target: 'draft-7', io: 'input', unrepresentable: 'any' })
  const schema: Record<string, unknown> = { summary: def.summary, tags: [...def.tags] }
  if (def.params) schema.params = js(def.params)
  if (def.query) schema.querystring = js(def.query)
  if (def.body) schema.body = js(def.body)
  schema.response = {
    200: def.produces === undefined ? js(def.response) : { type: 'string', description: def.produces },
    '4xx': js(z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() })),
  }
  if (def.produces !== undefined) schema.produces = [def.produces]
  return schema
}

/** Builds the HTTP API (fastify) of a node. Routes come from @trellis/api's table. */
export async function createApiServer(node: TrellisNode): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: node.options.maxBodyBytes, return503OnClosing: true, forceCloseConnections: true })
  const streams = new Set<ServerResponse>()
  // Requests are validated by the zod route definitions and responses serialised with JSON.stringify;
  // the JSON Schemas given to fastify only document the API.
  app.setValidatorCompiler(() => () => true)
  app.setSerializerCompiler(() => (data) => JSON.stringify(data))
  // Browser apps (the SDK runs in browsers) call the API cross-origin.
  await app.register(cors, {
    origin: node.options.corsOrigins.length === 0 ? false : node.options.corsOrigins.includes('*') ? true : [...node.options.corsOrigins],
  })
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Trellis node API',
        version: NODE_VERSION,
        description: 'Errors: `{ code, message, details? }`; codes in docs/errors.md.',
      },
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ code: 'ROUTE_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` })
  })
  app.setErrorHandler((err: unknown, req, reply) => {
    const e = err as { code?: string; statusCode?: number; message?: string }
    if (err instanceof TrellisError) return sendError(reply, err)
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return reply.code(413).send({ code: 'REQUEST_TOO_LARGE', message: 'request body is too large' })
    if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return reply.code(415).send({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send application/json' })
    if (err instanceof SyntaxError || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return reply.code(400).send({ code: 'REQUEST_MALFORMED_JSON', message: 'request body is not valid JSON' })
    }
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(e.statusCode).send({ code: 'REQUEST_INVALID', message: e.message ?? 'bad request' })
    }
    node.logger.error({ err, url: req.url }, 'request failed')
    return reply.code(500).send({ code: 'INTERNAL', message: 'internal error' })
  })
  // Event streams never end by themselves; end them first so closing the server cannot hang.
  app.addHook('preClose', async () => {
    for (const s of streams) s.end()
  })

  const { chain } = node
  const proofCache = new TxProofCache(chain)
  /** Authenticated readers of requests (members-only chains). */
  const readers = new WeakMap<FastifyRequest, Reader>()
  /** Signatures of signed reads seen within the time window, oldest first (replay protection). */
  const seenReads = new Map<string, number>()
  const MAX_SEEN_READS = 100_000
  /**
   * On a chain readable by members only, the reader a request's signature identifies.
   * @throws TrellisError READ_AUTH_REQUIRED | READ_AUTH_INVALID | READ_NOT_PERMITTED | CERT_*
   */
  const authenticate = (req: FastifyRequest): Reader | undefined => {
    const exec = node.executor
    if (exec.readAccess?.(chain) !== 'members' || exec.authenticateReader === undefined) return undefined
    const header = req.headers.authorization
    const fail = (type: NodeErrorType, message: string): never => {
      throw new TrellisError<NodeErrorType>(type, message)
    }
    if (header === undefined)
      fail({ code: 'READ_AUTH_REQUIRED' }, `this chain is readable by its members only: sign the request (${READ_AUTH_SCHEME})`)
    const parts = parseReadAuthorization(header as string)
    if (parts === undefined)
      return fail(
        { code: 'READ_AUTH_INVALID', reason: 'header' },
        `the Authorization header is not ${READ_AUTH_SCHEME} cert=…, ts=…, sig=…`,
      )
    const ts = Number(parts.ts)
    const now = node.clock()
    if (!Number.isSafeInteger(ts) || Math.abs(now - ts) > READ_AUTH_MAX_SKEW_MS)
      fail(
        { code: 'READ_AUTH_INVALID', reason: 'time' },
        `the signed time must be within ${READ_AUTH_MAX_SKEW_MS / 60_000} minutes of the node's`,
      )
    let der: Uint8Array
    let sig: Uint8Array
    let key
    try {
      der = base64ToBytes(parts.cert)
      sig = base64ToBytes(parts.sig)
      key = parseCertificate(der).publicKey
    } catch {
      return fail({ code: 'READ_AUTH_INVALID', reason: 'encoding' }, 'cert and sig must be base64, cert an X.509 certificate')
    }
    if (!verify(key, readRequestMessage(chain.genesis.chainId, req.method, req.url, ts, req.body), sig))
      fail({ code: 'READ_AUTH_INVALID', reason: 'signature' }, 'the read request signature does not verify with its certificate')
    // Each signed request is good once: a captured header cannot be replayed within its time window.
    const id = bytesToHex(sig)
    if (seenReads.has(id))
      fail({ code: 'READ_AUTH_INVALID', reason: 'replayed' }, 'this signed request was already used: sign each request')
    seenReads.set(id, ts)
    if (seenReads.size > MAX_SEEN_READS) {
      for (const [k, t] of seenReads) {
        if (seenReads.size <= MAX_SEEN_READS && t >= now - READ_AUTH_MAX_SKEW_MS) break
        seenReads.delete(k)
      }
    }
    return exec.authenticateReader(der, chain, { height: chain.head.height + 1, now })
  }
  // Tx submission is authenticated by the txs' own signatures; health and metrics are for operators.
  const OPEN_ROUTES: ReadonlySet<string> = new Set(['health', 'metrics', 'submitTxs'])
  const on = <N extends keyof typeof routes>(name: N, handler: (p: Parsed, req: FastifyRequest, reply: FastifyReply) => unknown) => {
    const def: RouteDef = routes[name]
    app.route({
      method: def.method,
      url: def.path,
      schema: openApiSchema(def),
      handler: async (req, reply) => {
        const reader = OPEN_ROUTES.has(name) ? undefined : authenticate(req)
        if (reader !== undefined) readers.set(req, reader)
        return handler(parseRequest(def, req), req, reply)
      },
    })
  }

  on('health', () => ({ status: 'ok', height: chain.head.height, chainId: chain.genesis.chainId }))

  on('metrics', async (_p, _req, reply) => {
    if (node.metrics === null) return reply.code(404).send({ code: 'ROUTE_NOT_FOUND', message: 'metrics are disabled' })
    reply.header('content-type', node.metrics.registry.contentType)
    return reply.send(await node.metrics.registry.metrics())
  })

  on('getStatus', async () => {
    const head = chain.head
    return {
      chainId: chain.genesis.chainId,
      nodeVersion: NODE_VERSION,
      height: head.height,
      latestBlockHash: bytesToHex(head.hash),
      latestBlockTime: head.timestamp,
      stateRoot: bytesToHex(head.stateRoot),
      genesisHash: bytesToHex(chain.genesisHash),
      // The set deciding the next block (governance may have changed it since the genesis).
      validators: node.schedule.at(head.height + 1).set.validators.map((v) => ({
        name: v.name,
        publicKey: publicKeyToString(v.publicKey),
        power: v.power,
      })),
      mempool: { txs: node.mempool.size, bytes: node.mempool.bytes },
      contracts: (await node.executor.contracts(chain)).map((c) => c.name),
      consensus:
        node.consensus === undefined
          ? { mode: 'single' as const, height: head.height + 1, round: 0, step: 'propose', peers: [] }
          : { mode: 'bft' as const, ...node.consensus.status, peers: node.p2p?.connected() ?? [] },
    }
  })

  on('listEvidence', async ({ query }) => {
    const q = query as { limit?: number }
    const found = node.consensus === undefined ? [] : await node.consensus.listEvidence(q.limit ?? 100)
    return {
      evidence: found.map(({ first, second }) => {
        const v = node.schedule.at(first.height).set.validators[first.validator]
        return {
          height: first.height,
          round: first.round,
          type: first.type === 1 ? ('prevote' as const) : ('precommit' as const),
          validator: { index: first.validator, name: v?.name ?? '', publicKey: v === undefined ? '' : publicKeyToString(v.publicKey) },
          votes: [first, second].map((x) => ({
            blockHash: x.blockHash === null ? null : bytesToHex(x.blockHash),
            signature: bytesToHex(x.signature),
          })),
        }
      }),
    }
  })

  on('submitTxs', async ({ query, body }, _req, reply) => {
    const b = body as { tx?: string; txs?: string[] }
    const encoded = b.txs ?? [b.tx as string]
    const raw: Uint8Array[] = []
    const decodeErrors = new Map<number, TrellisError>()
    encoded.forEach((s, i) => {
      try {
        raw.push(base64ToBytes(s))
      } catch (err) {
        decodeErrors.set(i, asTrellisError(err))
        raw.push(new Uint8Array(0))
      }
    })
    const results = await node.submit(raw)
    const out = results.map((r, i) => {
      const decodeError = decodeErrors.get(i)
      if (decodeError !== undefined) return { id: '', accepted: false, error: errorBody(decodeError) }
      return r.accepted ? { id: r.id, accepted: true } : { id: r.id, accepted: false, error: errorBody(r.error) }
    })
    // A single tx that was refused is an error response; a batch reports per tx.
    if (b.tx !== undefined && !results[0]?.accepted) {
      const r = results[0]
      const err = decodeErrors.get(0) ?? (r !== undefined && !r.accepted ? r.error : undefined)
      if (err !== undefined) return sendError(reply, err)
    }
    if (query.wait === 'true') {
      const timeoutMs = Math.min(Number(query.timeoutMs ?? node.options.waitTimeoutMs), node.options.waitTimeoutMs)
      const pending = out.flatMap((r, i) => (r.accepted ? [{ i, w: node.waitForCommit(r.id) }] : []))
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs)
        timer.unref()
      })
      const all = Promise.all(pending.map((p) => p.w.promise))
      const outcome = await Promise.race([all, timeout])
      clearTimeout(timer)
      if (outcome === 'timeout') {
        for (const p of pending) p.w.cancel()
        return sendError(
          reply,
          new TrellisError(
            { code: 'WAIT_TIMEOUT', ids: pending.map((p) => out[p.i]?.id) },
            `accepted but not committed within ${timeoutMs} ms`,
          ),
        )
      }
      ;(outcome as CommitNotice[]).forEach((n, k) => {
        const p = pending[k] as { i: number }
        Object.assign(out[p.i] as object, { height: n.height, receipt: receiptToJSON(n.receipt) })
      })
    }
    // Serialized natively: the schema serializer builds thousands of string pieces for a large batch,
    // and flattening them on write cost more than the rest of the response. The objects above are
    // exactly the documented shape.
    return reply.type('application/json; charset=utf-8').send(JSON.stringify({ results: out }))
  })

  on('getTx', ({ params }) => {
    const id = hexToBytes(params.id as string)
    const loc = chain.txLocation(id)
    if (loc === undefined) throw notFound({ code: 'TX_NOT_FOUND', id: params.id as string }, `no committed transaction ${params.id}`)
    const data = proofCache.get(loc.height)
    if (data === undefined) throw new TrellisError({ code: 'INTERNAL' }, 'block data missing')
    const { block, receipts, certificate: cert } = data
    const tx = block.txs[loc.index]
    const receipt = receipts.receipts[loc.index]
    if (tx === undefined || receipt === undefined) throw new TrellisError({ code: 'INTERNAL' }, 'tx index out of range')
    const proof: TxProofJSON = {
      kind: 'tx',
      height: loc.height,
      index: loc.index,
      tx: bytesToBase64(tx.bytes),
      receipt: bytesToBase64(receipts.bytes[loc.index] as Uint8Array),
      txProof: merkleProofToJSON(data.txTree.proof(loc.index)),
      receiptProof: merkleProofToJSON(data.receiptTree.proof(loc.index)),
      header: bytesToBase64(encodeHeader(block.header)),
      certificate: bytesToBase64(encodeCertificate(cert)),
    }
    return { tx: txToJSON(tx), height: loc.height, index: loc.index, receipt: receiptToJSON(receipt), proof }
  })

  on('getBlock', ({ params, query }) => {
    const ref = params.ref as string
    const height = ref === 'latest' ? chain.head.height : ref.length === 64 ? chain.heightOfHash(hexToBytes(ref)) : Number(ref)
    const block = height === undefined || height < 1 ? undefined : chain.getBlock(height)
    const cert = height === undefined ? undefined : chain.getCertificate(height)
    if (block === undefined || cert === undefined) throw notFound({ code: 'BLOCK_NOT_FOUND', ref }, `no block ${ref}`)
    return {
      hash: bytesToHex(cert.blockHash),
      header: headerToJSON(block.header),
      certificate: certificateToJSON(cert),
      txIds: block.txs.map((t) => bytesToHex(t.id)),
      ...(query.txs === 'full' ? { txs: block.txs.map(txToJSON) } : {}),
    }
  })

  /** A state value at a committed height with its proof against that block's certified header. */
  const provenState = async (contract: string, key: string, height: number) => {
    const sk = stateKey(contract, key)
    const entry = await chain.getValueAt(sk, height)
    const valueBytes = entry === undefined || entry.value === null ? null : entry.value
    const block = chain.getBlock(height)
    const cert = chain.getCertificate(height)
    if (block === undefined || cert === undefined) throw new TrellisError({ code: 'INTERNAL' }, 'block data missing')
    const proof: StateValueProofJSON = {
      kind: 'state',
      height,
      contract,
      key,
      value: valueBytes === null ? null : bytesToBase64(valueBytes),
      proof: stateProofToJSON(chain.tree.prove(height, stateKeyHash(sk))),
      header: bytesToBase64(encodeHeader(block.header)),
      certificate: bytesToBase64(encodeCertificate(cert)),
    }
    return { valueBytes, proof }
  }

  /** A committed height to read at: 1..head. */
  const readableHeight = (requested: number | undefined): number => {
    const head = chain.head.height
    const height = requested ?? head
    if (height > head || height < 1) {
      throw notFound(
        { code: 'HEIGHT_NOT_AVAILABLE', height, head },
        head === 0 ? 'no block has been committed yet' : `height ${height} is not in 1..${head}`,
      )
    }
    return height
  }

  on('getState', async ({ params, query }) => {
    const contract = params.contract as string
    const key = params.key as string
    const height = readableHeight(query.height as number | undefined)
    const { valueBytes, proof } = await provenState(contract, key, height)
    return {
      contract,
      key,
      height,
      exists: valueBytes !== null,
      value: valueBytes === null ? null : valueToJSON(decodeValue(valueBytes)),
      proof,
    }
  })

  on('getStateHistory', async ({ params, query }) => {
    const sk = stateKey(params.contract as string, params.key as string)
    const limit = (query.limit as number | undefined) ?? 50
    const cursor = query.cursor as string | undefined
    const before = cursor === undefined ? undefined : (([h, i]) => ({ height: Number(h), txIndex: Number(i) }))(cursor.split('-'))
    const entries = await chain.history(sk, limit + 1, before)
    const page = entries.slice(0, limit)
    const last = page[page.length - 1]
    return {
      entries: page.map((e) => ({
        height: e.height,
        txIndex: e.txIndex,
        txId: bytesToHex(e.txId),
        deleted: e.value === null,
        value: e.value === null ? null : valueToJSON(decodeValue(e.value)),
      })),
      nextCursor: entries.length > limit && last !== undefined ? `${last.height}-${last.txIndex}` : null,
    }
  })

  on('listContracts', async () => ({ contracts: await node.executor.contracts(chain) }))

  on('getContract', async ({ params }) => {
    const name = params.name as string
    const found = (await node.executor.contracts(chain)).find((c) => c.name === name)
    if (found === undefined) throw notFound({ code: 'CONTRACT_NOT_FOUND', contract: name }, `no contract named "${name}"`)
    return found
  })

  on('queryContract', async ({ params, body }, req) => {
    const b = body as { method: string; args?: unknown; height?: number }
    const contract = params.name as string
    const atHead = b.height === undefined || b.height === chain.head.height
    const height = atHead && chain.head.height === 0 ? 0 : readableHeight(b.height)
    const args = valueFromJSON(b.args ?? null)
    // An authenticated reader is the query's caller: contracts may answer by organisation and role.
    const out = await node.executor.query(contract, b.method, args, chainQueryView(chain, height), readers.get(req))
    const proof =
      out.provenKey === undefined || height === 0 ? undefined : (await provenState(out.provenKey.contract, out.provenKey.key, height)).proof
    return { height, result: valueToJSON(out.result), cost: out.cost, ...(proof === undefined ? {} : { proof }) }
  })

  on('streamEvents', async ({ query }, req, reply) => {
    // Browsers' EventSource reconnects with Last-Event-ID: `height` (a block) or `height-tx-event`.
    const lastId = /^([0-9]{1,15})(?:-([0-9]{1,9})-([0-9]{1,9}))?$/.exec(String(req.headers['last-event-id'] ?? ''))
    const after =
      query.fromHeight !== undefined || lastId === null
        ? undefined
        : lastId[2] === undefined
          ? { height: Number(lastId[1]), txIndex: Number.MAX_SAFE_INTEGER, eventIndex: Number.MAX_SAFE_INTEGER }
          : { height: Number(lastId[1]), txIndex: Number(lastId[2]), eventIndex: Number(lastId[3]) }
    reply.hijack()
    await serveEventStream(
      reply.raw,
      chain,
      node.bus,
      {
        after,
        fromHeight: (query.fromHeight as number | undefined) ?? (after === undefined ? undefined : after.height),
        contract: query.contract as string | undefined,
        name: query.name as string | undefined,
        blocks: query.blocks !== 'false',
        events: query.events !== 'false',
      },
      streams,
    )
  })

  return app
}
