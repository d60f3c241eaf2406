import { readFileSync } from 'node:fs'
import { ERROR_CODES, errorCodesMarkdown, httpStatusOf, routes } from '@trellis/api'
import { generateKeyPair, P256_N, publicKeyToString, sign } from '@trellis/crypto'
import {
  createSignedTx,
  decodeValue,
  encodeTxBody,
  type SignedTx,
  type StateValueProofJSON,
  type TrustAnchor,
  type TxProofJSON,
  txSignBytes,
  verifyStateValueProof,
  verifyTxProof,
} from '@trellis/ledger'
import { ContractExecutor, notaryContract, notaryKey } from '@trellis/node'
import { base64ToBytes, bytesToBase64, bytesToHex, TrellisError } from '@trellis/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callTx, docHash, kvContract, makeGenesis, recordTx, testKey } from '../support/fixtures.js'
import { eventually, type HttpResult, http, openSse, startTestNode, type TestNode } from '../support/http.js'

const MAX_BODY = 1024 * 1024
let t: TestNode
let trust: TrustAnchor
const alice = testKey(1)
const bob = testKey(2)
let nonce = 0
let label = 0

beforeAll(async () => {
  t = await startTestNode({ maxBodyBytes: MAX_BODY, executor: await ContractExecutor.create({ builtins: [notaryContract, kvContract] }) })
  trust = { chainId: t.genesis.chainId, validators: t.genesis.validators }
})
afterAll(async () => {
  await t?.close()
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const exp = () => Date.now() + 60_000
const chainId = () => t.genesis.chainId
const b64 = (tx: SignedTx) => bytesToBase64(tx.bytes)
const newDoc = () => docHash(`api-${label++}-${Math.random()}`)
const record = (o: { hash?: string; kp?: typeof alice; meta?: Record<string, string | number | boolean> } = {}) =>
  recordTx(o.kp ?? alice, o.hash ?? newDoc(), { chainId: chainId(), expiresAt: exp(), nonce: nonce++, ...(o.meta ? { meta: o.meta } : {}) })

function expectError(res: HttpResult, code: string, status: number): void {
  expect({ status: res.status, code: res.body?.code }, res.text.slice(0, 300)).toEqual({ status, code })
  expect(Object.hasOwn(ERROR_CODES, code), `${code} is not documented in ERROR_CODES`).toBe(true)
  expect(httpStatusOf(code)).toBe(status)
  expect(typeof res.body.message).toBe('string')
  for (const k of Object.keys(res.body)) expect(['code', 'message', 'details']).toContain(k)
}

async function chainState() {
  const s = (await t.get('/v1/status')).body
  return { height: s.height, latestBlockHash: s.latestBlockHash, stateRoot: s.stateRoot, mempool: s.mempool }
}

/** Sends a bad request and checks its code, its status, and that the chain did not change. */
async function rejects(send: () => Promise<HttpResult>, code: string, status: number): Promise<HttpResult> {
  const before = await chainState()
  const res = await send()
  expectError(res, code, status)
  await sleep(50) // longer than two block intervals: a wrongly admitted tx would have committed
  expect(await chainState()).toEqual(before)
  return res
}

const submit = (body: unknown, query = '') => t.post(`/v1/txs${query}`, { json: body })

async function commit(
  txs: SignedTx[],
): Promise<Array<{ id: string; height: number; receipt: { status: string; errorCode: string; returnValue: unknown } }>> {
  const res = await submit({ txs: txs.map(b64) }, '?wait=true')
  expect(res.status, res.text).toBe(200)
  for (const r of res.body.results) expect(r.accepted, JSON.stringify(r)).toBe(true)
  return res.body.results
}

function malleate(tx: SignedTx): SignedTx {
  const sig = tx.signature
  const s = BigInt(`0x${bytesToHex(sig.subarray(32))}`)
  const high = (P256_N - s).toString(16).padStart(64, '0')
  const bytes = tx.bytes.slice()
  // Wire format: body ‖ varint(64) ‖ r ‖ s — the signature is the last 64 bytes.
  bytes.set(Uint8Array.from(Buffer.from(high, 'hex')), bytes.length - 32)
  return { ...tx, bytes, signature: bytes.slice(bytes.length - 64) }
}

describe('bad input: each case has its documented code and status, and nothing is written', () => {
  const valid = () => b64(record())
  const cases: Array<[string, () => Promise<HttpResult>, string, number]> = [
    ['malformed JSON', () => t.post('/v1/txs', { raw: '{"tx": "AAAA"' }), 'REQUEST_MALFORMED_JSON', 400],
    ['empty JSON body', () => t.post('/v1/txs', { raw: '' }), 'REQUEST_MALFORMED_JSON', 400],
    ['wrong type: tx is a number', () => submit({ tx: 123 }), 'REQUEST_INVALID', 400],
    ['wrong type: txs is a string', () => submit({ txs: valid() }), 'REQUEST_INVALID', 400],
    ['wrong type: body is an array', () => submit([valid()]), 'REQUEST_INVALID', 400],
    ['wrong type: body is null', () => submit(null), 'REQUEST_INVALID', 400],
    ['empty batch', () => submit({ txs: [] }), 'REQUEST_INVALID', 400],
    ['batch above 5000', () => submit({ txs: Array.from({ length: 5001 }, () => 'AAAA') }), 'REQUEST_INVALID', 400],
    ['missing body fields', () => submit({}), 'REQUEST_INVALID', 400],
    ['unknown field', () => submit({ tx: valid(), priority: 'high' }), 'REQUEST_INVALID', 400],
    ['both tx and txs', () => submit({ tx: valid(), txs: [valid()] }), 'REQUEST_INVALID', 400],
    ['bad query value', () => submit({ tx: valid() }, '?wait=yes'), 'REQUEST_INVALID', 400],
    ['bad timeout', () => submit({ tx: valid() }, '?wait=true&timeoutMs=0'), 'REQUEST_INVALID', 400],
    ['not base64 at all', () => submit({ tx: '#not base64#' }), 'REQUEST_INVALID', 400],
    ['bad base64 length', () => submit({ tx: 'abc' }), 'BYTES_INVALID_BASE64', 400],
    ['non-canonical base64', () => submit({ tx: 'AB==' }), 'BYTES_INVALID_BASE64', 400],
    [
      'wrong media type',
      () => t.post('/v1/txs', { raw: 'tx=AAAA', contentType: 'application/x-www-form-urlencoded' }),
      'UNSUPPORTED_MEDIA_TYPE',
      415,
    ],
    [
      'body above maxBodyBytes',
      () => t.post('/v1/txs', { raw: JSON.stringify({ tx: 'A'.repeat(MAX_BODY + 4) }) }),
      'REQUEST_TOO_LARGE',
      413,
    ],
    ['empty tx bytes', () => submit({ tx: '' }), 'TX_MALFORMED', 400],
    [
      'random bytes after the version byte',
      () => submit({ tx: bytesToBase64(Uint8Array.from({ length: 120 }, (_, i) => (i === 0 ? 1 : (i * 37 + 11) & 255))) }),
      'TX_MALFORMED',
      400,
    ],
    ['truncated tx', () => submit({ tx: bytesToBase64(record().bytes.slice(0, -1)) }), 'TX_MALFORMED', 400],
    [
      'trailing byte',
      () => {
        const tx = record()
        return submit({ tx: bytesToBase64(Uint8Array.from([...tx.bytes, 0])) })
      },
      'TX_MALFORMED',
      400,
    ],
    [
      'unknown tx version',
      () => {
        const bytes = record().bytes.slice()
        bytes[0] = 9
        return submit({ tx: bytesToBase64(bytes) })
      },
      'TX_UNSUPPORTED_VERSION',
      400,
    ],
    [
      'oversized tx (> maxTxBytes, big meta)',
      () => {
        const meta = Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`k${i}`, 'x'.repeat(1000)]))
        const tx = record({ meta })
        expect(tx.bytes.length).toBeGreaterThan(64 * 1024)
        return submit({ tx: b64(tx) })
      },
      'TX_TOO_LARGE',
      413,
    ],
    [
      'signature by another key',
      () => {
        const body = record().body
        return submit({ tx: b64(createSignedTx(body, sign(bob.privateKey, txSignBytes(encodeTxBody(body))))) })
      },
      'TX_BAD_SIGNATURE',
      401,
    ],
    ['malleated signature (r, n - s)', () => submit({ tx: b64(malleate(record())) }), 'TX_BAD_SIGNATURE', 401],
    ['zero signature', () => submit({ tx: b64(createSignedTx(record().body, new Uint8Array(64))) }), 'TX_BAD_SIGNATURE', 401],
    [
      'short signature',
      () => {
        const body = record().body
        return submit({ tx: b64(createSignedTx(body, sign(alice.privateKey, txSignBytes(encodeTxBody(body))).slice(0, 63))) })
      },
      'TX_BAD_SIGNATURE',
      401,
    ],
    [
      'wrong chain id',
      () => submit({ tx: b64(recordTx(alice, newDoc(), { chainId: 'another-chain', expiresAt: exp() })) }),
      'TX_WRONG_CHAIN',
      400,
    ],
    [
      'expired tx',
      () => submit({ tx: b64(recordTx(alice, newDoc(), { chainId: chainId(), expiresAt: Date.now() - 1000 })) }),
      'TX_EXPIRED',
      400,
    ],
    [
      'expiry too far',
      () =>
        submit({
          tx: b64(recordTx(alice, newDoc(), { chainId: chainId(), expiresAt: Date.now() + t.genesis.params.maxTxTtlMs + 60_000 })),
        }),
      'TX_EXPIRY_TOO_FAR',
      400,
    ],
    [
      'invalid contract name',
      () => submit({ tx: b64(callTx(alice, {}, { chainId: chainId(), contract: 'Notary', expiresAt: exp() })) }),
      'TX_INVALID_FIELD',
      400,
    ],
    [
      'unknown contract',
      () => submit({ tx: b64(callTx(alice, { hash: newDoc() }, { chainId: chainId(), contract: 'ghost', expiresAt: exp() })) }),
      'CONTRACT_NOT_FOUND',
      404,
    ],
    [
      'unknown method',
      () => submit({ tx: b64(callTx(alice, { hash: newDoc() }, { chainId: chainId(), method: 'erase', expiresAt: exp() })) }),
      'METHOD_NOT_FOUND',
      404,
    ],
    [
      'query method as call',
      () => submit({ tx: b64(callTx(alice, { hash: newDoc() }, { chainId: chainId(), method: 'get', expiresAt: exp() })) }),
      'METHOD_NOT_FOUND',
      404,
    ],
    [
      'bad args',
      () => submit({ tx: b64(callTx(alice, { hash: 'not-a-hash' }, { chainId: chainId(), expiresAt: exp() })) }),
      'ARGS_INVALID',
      400,
    ],
    ['tx id not found', () => t.get(`/v1/txs/${docHash('no such tx')}`), 'TX_NOT_FOUND', 404],
    ['tx id not hex', () => t.get('/v1/txs/XYZ'), 'REQUEST_INVALID', 400],
    ['block height not found', () => t.get('/v1/blocks/99999999'), 'BLOCK_NOT_FOUND', 404],
    ['block 0 (the genesis has no block)', () => t.get('/v1/blocks/0'), 'BLOCK_NOT_FOUND', 404],
    ['block hash not found', () => t.get(`/v1/blocks/${docHash('no such block')}`), 'BLOCK_NOT_FOUND', 404],
    ['block ref malformed', () => t.get('/v1/blocks/-1'), 'REQUEST_INVALID', 400],
    ['state height above head', () => t.get(`/v1/state/notary/${notaryKey(docHash(1))}?height=99999999`), 'HEIGHT_NOT_AVAILABLE', 404],
    ['state height 0', () => t.get(`/v1/state/notary/${notaryKey(docHash(1))}?height=0`), 'HEIGHT_NOT_AVAILABLE', 404],
    ['state height malformed', () => t.get(`/v1/state/notary/${notaryKey(docHash(1))}?height=1.5`), 'REQUEST_INVALID', 400],
    ['history cursor malformed', () => t.get(`/v1/state/notary/${notaryKey(docHash(1))}/history?cursor=abc`), 'REQUEST_INVALID', 400],
    ['history limit out of range', () => t.get(`/v1/state/notary/${notaryKey(docHash(1))}/history?limit=0`), 'REQUEST_INVALID', 400],
    [
      'query of an unknown contract',
      () => t.post('/v1/contracts/ghost/query', { json: { method: 'get', args: {} } }),
      'CONTRACT_NOT_FOUND',
      404,
    ],
    [
      'query of a call method',
      () => t.post('/v1/contracts/notary/query', { json: { method: 'record', args: { hash: docHash(1) } } }),
      'METHOD_NOT_FOUND',
      404,
    ],
    [
      'query with bad args',
      () => t.post('/v1/contracts/notary/query', { json: { method: 'get', args: { hash: 'x' } } }),
      'ARGS_INVALID',
      400,
    ],
    [
      'query args with a float',
      () => t.post('/v1/contracts/notary/query', { json: { method: 'get', args: { hash: 1.5 } } }),
      'ENCODING_INVALID',
      400,
    ],
    [
      'query with an unknown field',
      () => t.post('/v1/contracts/notary/query', { json: { method: 'get', args: {}, as: 'admin' } }),
      'REQUEST_INVALID',
      400,
    ],
    ['unknown route', () => t.get('/v1/nothing-here'), 'ROUTE_NOT_FOUND', 404],
    ['unknown method on a route', () => http(t.url, 'DELETE', '/v1/txs'), 'ROUTE_NOT_FOUND', 404],
  ]

  it.each(cases)('%s', async (_name, send, code, status) => {
    await rejects(send, code, status)
  })

  it('reports per-tx details: the signer of a bad signature, the issues of an invalid request', async () => {
    const tx = malleate(record())
    const res = await rejects(() => submit({ tx: b64(tx) }), 'TX_BAD_SIGNATURE', 401)
    expect(res.body.details).toEqual({ signer: bytesToHex(tx.body.signer.bytes) })
    const inv = await rejects(() => submit({ tx: 1 }), 'REQUEST_INVALID', 400)
    expect(Array.isArray(inv.body.details.issues)).toBe(true)
    expect(inv.body.details.issues.length).toBeGreaterThan(0)
  })
})

describe('submission', () => {
  it('wait=true returns the commit height and the receipt', async () => {
    const hash = newDoc()
    const tx = record({ hash, meta: { title: 'deed' } })
    const res = await submit({ tx: b64(tx) }, '?wait=true')
    expect(res.status).toBe(200)
    const [r] = res.body.results
    expect(r).toMatchObject({ id: bytesToHex(tx.id), accepted: true })
    expect(r.height).toBeGreaterThan(0)
    expect(r.receipt).toMatchObject({
      txId: bytesToHex(tx.id),
      status: 'ok',
      errorCode: '',
      events: [{ contract: 'notary', name: 'DocumentRecorded' }],
    })
    expect(r.receipt.returnValue).toMatchObject({
      hash,
      owner: publicKeyToString(alice.publicKey),
      meta: { title: 'deed' },
      height: r.height,
    })
    const got = await t.get(`/v1/txs/${bytesToHex(tx.id)}`)
    expect(got.status).toBe(200)
    expect(got.body).toMatchObject({
      height: r.height,
      receipt: r.receipt,
      tx: { id: bytesToHex(tx.id), contract: 'notary', method: 'record' },
    })
    // A business failure is a committed, failed receipt, not an HTTP error.
    const dup = await submit({ tx: b64(record({ hash, kp: bob })) }, '?wait=true')
    expect(dup.status).toBe(200)
    expect(dup.body.results[0].receipt).toMatchObject({ status: 'failed', errorCode: 'NOTARY_ALREADY_RECORDED', events: [] })
  })

  it('rejects a replayed (committed) tx with TX_ALREADY_COMMITTED and its height', async () => {
    const tx = record()
    const [c] = await commit([tx])
    const res = await rejects(() => submit({ tx: b64(tx) }), 'TX_ALREADY_COMMITTED', 409)
    expect(res.body.details).toEqual({ id: bytesToHex(tx.id), height: c?.height })
    // Malleating the signature does not make it new: same id, still a replay.
    await rejects(() => submit({ tx: b64(malleate(tx)) }), 'TX_ALREADY_COMMITTED', 409)
  })

  it('rejects a duplicate of a pending tx with TX_DUPLICATE, and wait=true times out with WAIT_TIMEOUT', async () => {
    await t.node.producer.stop()
    const tx = record()
    const other = record()
    try {
      const first = await submit({ tx: b64(tx) })
      expect(first.body.results[0]).toEqual({ id: bytesToHex(tx.id), accepted: true })
      const before = await chainState()
      const dup = await submit({ tx: b64(tx) })
      expectError(dup, 'TX_DUPLICATE', 409)
      expect(await chainState()).toEqual(before)
      expect(before.mempool.txs).toBe(1)
      const timedOut = await submit({ tx: b64(other) }, '?wait=true&timeoutMs=50')
      expectError(timedOut, 'WAIT_TIMEOUT', 504)
      expect(timedOut.body.details).toEqual({ ids: [bytesToHex(other.id)] })
    } finally {
      t.node.producer.start()
    }
    // Both txs committed (not only reaped: a reaped block may still be being written), so the next
    // tests count only their own blocks.
    const found = async (id: Uint8Array) => (await t.get(`/v1/txs/${bytesToHex(id)}`)).status === 200
    await eventually(async () => ((await found(tx.id)) && (await found(other.id)) ? true : undefined), 10_000, 'both txs to commit')
  })

  it('accepts only the good txs of a mixed batch', async () => {
    const good1 = record()
    const good2 = record({ kp: bob })
    const badSig = createSignedTx(record().body, new Uint8Array(64).fill(1))
    const expired = recordTx(alice, newDoc(), { chainId: chainId(), expiresAt: Date.now() - 1, nonce: nonce++ })
    const ghost = callTx(alice, { hash: newDoc() }, { chainId: chainId(), contract: 'ghost', expiresAt: exp(), nonce: nonce++ })
    const batch = [b64(good1), b64(badSig), b64(good2), b64(expired), 'abc', b64(good1), b64(ghost)]
    const before = await chainState()
    const res = await submit({ txs: batch }, '?wait=true')
    expect(res.status).toBe(200)
    const results = res.body.results
    expect(results.map((r: { accepted: boolean; error?: { code: string } }) => (r.accepted ? 'ok' : r.error?.code))).toEqual([
      'ok',
      'TX_BAD_SIGNATURE',
      'ok',
      'TX_EXPIRED',
      'BYTES_INVALID_BASE64',
      'TX_DUPLICATE',
      'CONTRACT_NOT_FOUND',
    ])
    expect(results[0].receipt.status).toBe('ok')
    expect(results[2].receipt.status).toBe('ok')
    for (const tx of [good1, good2]) expect((await t.get(`/v1/txs/${bytesToHex(tx.id)}`)).status).toBe(200)
    for (const tx of [badSig, expired, ghost]) expectError(await t.get(`/v1/txs/${bytesToHex(tx.id)}`), 'TX_NOT_FOUND', 404)
    const after = await chainState()
    let committed = 0
    for (let h = before.height + 1; h <= after.height; h++) committed += (await t.get(`/v1/blocks/${h}`)).body.txIds.length
    expect(committed).toBe(2)
  })

  it('serves blocks by height, hash and latest', async () => {
    const [c] = await commit([record()])
    const byHeight = await t.get(`/v1/blocks/${c?.height}?txs=full`)
    expect(byHeight.status).toBe(200)
    expect(byHeight.body.txs.map((x: { id: string }) => x.id)).toEqual(byHeight.body.txIds)
    expect((await t.get(`/v1/blocks/${byHeight.body.hash}`)).body).toEqual({ ...byHeight.body, txs: undefined })
    const latest = await t.get('/v1/blocks/latest')
    expect(latest.body.header.height).toBeGreaterThanOrEqual(c?.height as number)
  })

  it('pages state history through the API', async () => {
    const txs = Array.from({ length: 7 }, (_, i) =>
      callTx(alice, { key: 'paged', value: i }, { chainId: chainId(), contract: 'kv', method: 'set', expiresAt: exp(), nonce: nonce++ }),
    )
    for (const tx of txs) await commit([tx])
    const all: Array<{ value: number; txId: string }> = []
    let cursor: string | null = null
    do {
      const page: HttpResult = await t.get(`/v1/state/kv/paged/history?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`)
      expect(page.status).toBe(200)
      expect(page.body.entries.length).toBeLessThanOrEqual(3)
      all.push(...page.body.entries)
      cursor = page.body.nextCursor
    } while (cursor !== null)
    expect(all.map((e) => e.value)).toEqual([6, 5, 4, 3, 2, 1, 0])
    expect(all.map((e) => e.txId)).toEqual(txs.map((x) => bytesToHex(x.id)).reverse())
  })
})

function mutations(b64s: string): string[] {
  const bytes = base64ToBytes(b64s)
  const out: string[] = []
  for (let i = 0; i < bytes.length; i++) {
    const m = bytes.slice()
    m[i] = (m[i] as number) ^ (1 << (i % 8))
    out.push(bytesToBase64(m))
  }
  return out
}

/** Flips one bit in every byte of a base64 field in turn; `verify` must reject each variant. */
function rejectsEveryByteFlip(b64s: string, verify: (mutated: string) => unknown, what: string): void {
  for (const [i, m] of mutations(b64s).entries()) rejectsProof(() => verify(m), `${what} byte ${i}`)
}

function flipHex(h: string, i: number): string {
  const c = h[i] === '0' ? '1' : '0'
  return h.slice(0, i) + c + h.slice(i + 1)
}

function rejectsProof(f: () => unknown, what: string): void {
  let err: unknown
  try {
    f()
  } catch (e) {
    err = e
  }
  expect(err instanceof TrellisError && ['PROOF_INVALID', 'CERT_INVALID'].includes(err.code), `${what}: ${String(err)}`).toBe(true)
}

describe('proofs verify offline with the genesis validator set', () => {
  let docA: string
  let docB: string
  let txA: SignedTx
  let hA: number
  let hB: number

  beforeAll(async () => {
    docA = newDoc()
    docB = newDoc()
    txA = record({ hash: docA })
    // Several txs in one block so the Merkle paths are not empty.
    const results = await commit([record(), txA, record({ kp: bob }), record()])
    hA = results[1]?.height as number
    const [rb] = await commit([record({ hash: docB })])
    hB = rb?.height as number
    expect(hB).toBeGreaterThan(hA)
  })

  it('tx proof: verifies, and fails when any byte of tx, receipt, header, certificate or path changes', async () => {
    const res = await t.get(`/v1/txs/${bytesToHex(txA.id)}`)
    const proof: TxProofJSON = res.body.proof
    const v = verifyTxProof(proof, trust)
    expect(v.tx.id).toEqual(txA.id)
    expect(v.header.height).toBe(hA)
    expect(v.receipt.status).toBe(0)
    expect(bytesToHex(v.blockHash)).toBe((await t.get(`/v1/blocks/${hA}`)).body.hash)
    expect(proof.txProof.path.length).toBeGreaterThan(0)
    for (const field of ['tx', 'receipt', 'header', 'certificate'] as const) {
      rejectsEveryByteFlip(proof[field], (m) => verifyTxProof({ ...proof, [field]: m }, trust), field)
    }
    for (const which of ['txProof', 'receiptProof'] as const) {
      for (const j of proof[which].path.keys()) {
        for (const i of [0, 31, 63]) {
          const path = proof[which].path.map((x, k) => (k === j ? flipHex(x, i) : x))
          rejectsProof(() => verifyTxProof({ ...proof, [which]: { ...proof[which], path } }, trust), `${which} path ${j}`)
        }
      }
      rejectsProof(() => verifyTxProof({ ...proof, [which]: { ...proof[which], index: proof.index + 1 } }, trust), `${which} index`)
      rejectsProof(() => verifyTxProof({ ...proof, [which]: { ...proof[which], size: proof[which].size + 1 } }, trust), `${which} size`)
    }
    rejectsProof(() => verifyTxProof({ ...proof, height: proof.height + 1 }, trust), 'height')
    rejectsProof(() => verifyTxProof({ ...proof, index: proof.index + 1 }, trust), 'index')
    const stranger = makeGenesis(generateKeyPair(), { chainId: chainId() })
    rejectsProof(() => verifyTxProof(proof, { chainId: chainId(), validators: stranger.validators }), 'another validator set')
    rejectsProof(() => verifyTxProof(proof, { chainId: 'other', validators: t.genesis.validators }), 'another chain')
  })

  async function stateProof(doc: string, height: number): Promise<{ exists: boolean; value: unknown; proof: StateValueProofJSON }> {
    const res = await t.get(`/v1/state/notary/${notaryKey(doc)}?height=${height}`)
    expect(res.status, res.text).toBe(200)
    return res.body
  }

  function tamperState(proof: StateValueProofJSON): void {
    const p = proof.proof as { siblings: string[]; leaf?: { keyHash: string; valueHash: string } }
    if (proof.value !== null) rejectsEveryByteFlip(proof.value, (m) => verifyStateValueProof({ ...proof, value: m }, trust), 'value')
    rejectsEveryByteFlip(proof.header, (m) => verifyStateValueProof({ ...proof, header: m }, trust), 'header')
    rejectsEveryByteFlip(proof.certificate, (m) => verifyStateValueProof({ ...proof, certificate: m }, trust), 'certificate')
    for (const [j, sib] of p.siblings.entries()) {
      const siblings = p.siblings.map((x, k) => (k === j ? (sib === '' ? 'ab'.repeat(32) : flipHex(sib, 7)) : x))
      rejectsProof(() => verifyStateValueProof({ ...proof, proof: { ...p, siblings } }, trust), `sibling ${j}`)
    }
    if (p.leaf !== undefined) {
      const leaf = p.leaf
      rejectsProof(
        () => verifyStateValueProof({ ...proof, proof: { ...p, leaf: { ...leaf, keyHash: flipHex(leaf.keyHash, 63) } } }, trust),
        'leaf key',
      )
      rejectsProof(
        () => verifyStateValueProof({ ...proof, proof: { ...p, leaf: { ...leaf, valueHash: flipHex(leaf.valueHash, 0) } } }, trust),
        'leaf value',
      )
    }
    rejectsProof(() => verifyStateValueProof({ ...proof, proof: { siblings: [...p.siblings, ''] } }, trust), 'extra sibling')
    if (proof.value !== null) {
      rejectsProof(() => verifyStateValueProof({ ...proof, key: `${proof.key}x` }, trust), 'another key')
      rejectsProof(() => verifyStateValueProof({ ...proof, contract: 'kv' }, trust), 'another contract')
    } else {
      // An absence proof ends at an empty slot (or another leaf) a few bits deep, so it also proves the
      // absence of every other absent key routed there — by design. What it must never do is deny a
      // key that is present at that height.
      rejectsProof(() => verifyStateValueProof({ ...proof, key: `doc:${docA}` }, trust), 'absence of a present key')
    }
    rejectsProof(() => verifyStateValueProof({ ...proof, height: proof.height + 1 }, trust), 'height')
  }

  it('state proof of a present value, at the latest and at a past height', async () => {
    for (const h of [hA, hB]) {
      const body = await stateProof(docA, h)
      expect(body.exists).toBe(true)
      const v = verifyStateValueProof(body.proof, trust)
      expect(v.header.height).toBe(h)
      expect(v.value).toMatchObject({ hash: docA, txId: bytesToHex(txA.id), height: hA })
      expect(decodeValue(base64ToBytes(body.proof.value as string))).toEqual(v.value)
      tamperState(body.proof)
      // Claiming absence of a present key fails.
      rejectsProof(() => verifyStateValueProof({ ...body.proof, value: null }, trust), 'absence of a present key')
    }
  })

  it('state proof of an absent value, before it was recorded', async () => {
    const body = await stateProof(docB, hA)
    expect(body).toMatchObject({ exists: false, value: null })
    const v = verifyStateValueProof(body.proof, trust)
    expect(v.value).toBeUndefined()
    expect(v.header.height).toBe(hA)
    tamperState(body.proof)
    // Claiming the value the key holds later fails at the earlier height.
    const later = await stateProof(docB, hB)
    expect(later.exists).toBe(true)
    verifyStateValueProof(later.proof, trust)
    rejectsProof(() => verifyStateValueProof({ ...body.proof, value: later.proof.value }, trust), 'a later value at an earlier height')
  })
})

describe('event stream', () => {
  it('replays past blocks from fromHeight, then streams new ones with no gap or duplicate', async () => {
    await commit([record()])
    let stop = false
    const load = (async () => {
      while (!stop) {
        await submit({ tx: b64(record()) })
        await sleep(7)
      }
    })()
    await sleep(60)
    const sse = openSse(t.url, '/v1/events?fromHeight=1')
    expect(await sse.status).toBe(200)
    await sleep(150)
    stop = true
    await load
    await eventually(async () => ((await chainState()).mempool.txs === 0 ? true : undefined), 10_000, 'the mempool to drain')
    await sleep(60)
    const head = (await chainState()).height
    await sse.waitFor((m) => m.event === 'block' && m.data.height === head)
    sse.close()
    const blocks = sse.messages.filter((m) => m.event === 'block')
    expect(blocks.map((m) => m.data.height)).toEqual(Array.from({ length: head }, (_, i) => i + 1))
    for (const m of blocks) expect(m.id).toBe(String(m.data.height))
    for (const h of [1, Math.ceil(head / 2), head]) {
      const b = (await t.get(`/v1/blocks/${h}`)).body
      expect(blocks[h - 1]?.data).toMatchObject({ height: h, hash: b.hash, txIds: b.txIds })
    }
    const events = sse.messages.filter((m) => m.event === 'event')
    expect(new Set(events.map((m) => m.id)).size).toBe(events.length)
    expect(events.filter((m) => m.data.name === 'DocumentRecorded').length).toBeGreaterThan(0)
  })

  it('starts at fromHeight even when it is above the head', async () => {
    const head = (await chainState()).height
    const sse = openSse(t.url, `/v1/events?fromHeight=${head + 3}&events=false`)
    expect(await sse.status).toBe(200)
    for (let i = 0; i < 4; i++) await commit([record()])
    await sse.waitFor((m) => m.event === 'block' && m.data.height === head + 4)
    sse.close()
    expect(sse.messages.map((m) => m.data.height)).toEqual([head + 3, head + 4])
  })

  it('without fromHeight streams only new blocks, filtered by contract and event name', async () => {
    const head = (await chainState()).height
    const sse = openSse(t.url, '/v1/events?blocks=false&contract=notary&name=DocumentRecorded')
    expect(await sse.status).toBe(200)
    await sleep(20)
    const tx = record()
    await commit([
      callTx(alice, { key: 'sse', value: 1 }, { chainId: chainId(), contract: 'kv', method: 'set', expiresAt: exp(), nonce: nonce++ }),
      tx,
    ])
    const m = await sse.waitFor((x) => x.data.txId === bytesToHex(tx.id))
    sse.close()
    expect(m).toMatchObject({ event: 'event', data: { contract: 'notary', name: 'DocumentRecorded', txIndex: expect.any(Number) } })
    expect(m.data.height).toBeGreaterThan(head)
    for (const x of sse.messages) expect(x.data).toMatchObject({ contract: 'notary', name: 'DocumentRecorded' })
  })
})

describe('operations endpoints', () => {
  it('/v1/consensus/evidence lists recorded duplicate votes (none on a single-validator chain) and validates its query', async () => {
    const res = await t.get('/v1/consensus/evidence')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ evidence: [] })
    const bad = await t.get('/v1/consensus/evidence?limit=0')
    expect(bad.status).toBe(400)
    expect(bad.body.code).toBe('REQUEST_INVALID')
    const status = await t.get('/v1/status')
    expect(status.body.consensus).toMatchObject({ mode: 'single', peers: [] })
  })

  it('/healthz answers ok with the height and the chain id (signed reads name it)', async () => {
    const res = await t.get('/healthz')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ status: 'ok', height: (await chainState()).height, chainId: t.genesis.chainId })
  })

  it('/metrics exposes Prometheus metrics including trellis_chain_height', async () => {
    const res = await t.get('/metrics')
    expect(res.status).toBe(200)
    expect(res.contentType).toContain('text/plain')
    const line = res.text.split('\n').find((l) => l.startsWith('trellis_chain_height '))
    expect(line).toBeDefined()
    expect(Number(line?.split(' ')[1])).toBe((await chainState()).height)
    expect(res.text).toContain('trellis_api_txs_rejected_total{code="TX_BAD_SIGNATURE"}')
  })

  it('/docs/json is an OpenAPI document with every route of the route table', async () => {
    const res = await t.get('/docs/json')
    expect(res.status).toBe(200)
    expect(res.body.openapi).toMatch(/^3\./)
    for (const [name, def] of Object.entries(routes)) {
      const path = def.path.replace(/:([A-Za-z]+)/g, '{$1}')
      const op = res.body.paths?.[path]?.[def.method.toLowerCase()]
      expect(op, `${name}: ${def.method} ${path}`).toBeDefined()
      expect(op.summary).toBe(def.summary)
    }
  })

  it('docs/errors.md is the generated error-code table', () => {
    const file = new URL('../../docs/errors.md', import.meta.url)
    let text = ''
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      // reported below
    }
    expect(text, 'docs/errors.md is missing or stale: run `npm run docs:errors`').toBe(errorCodesMarkdown())
  })
})
