import { ERROR_CODES, httpStatusOf } from '@trellis/api'
import { type PublicKey, SignatureAlgorithm } from '@trellis/crypto'
import {
  type BlockHeader,
  type CommitCertificate,
  createSignedTx,
  decodeBlock,
  decodeCertificate,
  decodeHeader,
  decodeReceipt,
  decodeSignedTx,
  decodeValue,
  encodeBlock,
  encodeCertificate,
  encodeHeader,
  encodeReceipt,
  encodeValue,
  MAX_VALUE_DEPTH,
  type Receipt,
  type SignedTx,
  type TxBody,
  type Value,
} from '@trellis/ledger'
import { bytesToBase64, bytesToHex, equalBytes, TrellisError } from '@trellis/utils'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docHash, recordTx, testKey } from '../support/fixtures.js'
import { type HttpResult, http, startTestNode, type TestNode } from '../support/http.js'

// ---------------------------------------------------------------------------------------------
// Arbitraries for every encoded type
// ---------------------------------------------------------------------------------------------

// Strings include the byte-order mark, NUL, multi-byte and astral characters: each must survive.
const stringArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => `\uFEFF${s}`),
  fc.constantFrom('', '\uFEFF', '\u0000', 'é', '𝄞', '__proto__', 'constructor'),
)
const valueArb: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 5 },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.integer({ min: -300, max: 300 }),
    stringArb,
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(stringArb, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value

const hashArb = fc.uint8Array({ minLength: 32, maxLength: 32 })
const publicKeyArb: fc.Arbitrary<PublicKey> = fc.oneof(
  fc
    .tuple(fc.constantFrom(2, 3), fc.uint8Array({ minLength: 32, maxLength: 32 }))
    .map(([p, x]) => ({ alg: SignatureAlgorithm.P256, bytes: Uint8Array.of(p, ...x) })),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => ({ alg: SignatureAlgorithm.Ed25519, bytes: b })),
)
const nameArb = fc.stringMatching(/^[a-z][a-z0-9_-]{0,20}$/)
const safeNat = fc.oneof(fc.nat(1000), fc.maxSafeNat())

const txBodyArb: fc.Arbitrary<TxBody> = fc.record({
  chainId: fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,30}$/),
  contract: nameArb,
  method: fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,20}$/),
  args: valueArb,
  signer: publicKeyArb,
  nonce: safeNat,
  expiresAt: safeNat,
})
const txArb: fc.Arbitrary<SignedTx> = fc
  .tuple(txBodyArb, fc.uint8Array({ minLength: 0, maxLength: 64 }))
  .map(([b, s]) => createSignedTx(b, s))

const headerArb: fc.Arbitrary<BlockHeader> = fc.record({
  chainId: fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,30}$/),
  height: safeNat,
  prevHash: hashArb,
  timestamp: safeNat,
  proposer: publicKeyArb,
  txRoot: hashArb,
  receiptRoot: hashArb,
  stateRoot: hashArb,
  validatorSetHash: hashArb,
  txCount: fc.nat(5),
})
const certArb: fc.Arbitrary<CommitCertificate> = fc.record({
  height: safeNat,
  round: safeNat,
  blockHash: hashArb,
  signatures: fc.array(fc.record({ validatorIndex: safeNat, signature: fc.uint8Array({ minLength: 64, maxLength: 64 }) }), {
    maxLength: 4,
  }),
})
const receiptArb: fc.Arbitrary<Receipt> = fc.record({
  txId: hashArb,
  status: fc.constantFrom(0, 1) as fc.Arbitrary<0 | 1>,
  errorCode: fc.string({ unit: 'binary', maxLength: 20 }),
  errorMessage: stringArb,
  returnValue: valueArb,
  events: fc.array(fc.record({ contract: nameArb, name: fc.string({ maxLength: 20 }), data: valueArb }), { maxLength: 3 }),
  cost: safeNat,
})
const blockArb = fc
  .tuple(headerArb, fc.array(txArb, { maxLength: 4 }))
  .map(([header, txs]) => ({ header: { ...header, txCount: txs.length }, txs }))

// ---------------------------------------------------------------------------------------------
// Decoders and their canonical re-encoders
// ---------------------------------------------------------------------------------------------

const codecs: Record<string, { decode: (b: Uint8Array) => unknown; encode: (x: never) => Uint8Array }> = {
  tx: { decode: decodeSignedTx, encode: (t: SignedTx) => createSignedTx(t.body, t.signature).bytes },
  block: { decode: decodeBlock, encode: encodeBlock },
  receipt: { decode: decodeReceipt, encode: encodeReceipt },
  value: { decode: decodeValue, encode: encodeValue },
  header: { decode: decodeHeader, encode: encodeHeader },
  certificate: { decode: decodeCertificate, encode: encodeCertificate },
}

/** Decodes with every decoder: each either succeeds canonically or throws a TrellisError, quickly. */
function decodeAll(bytes: Uint8Array): void {
  for (const [name, c] of Object.entries(codecs)) {
    const started = performance.now()
    let decoded: unknown
    let error: unknown
    try {
      decoded = c.decode(bytes)
    } catch (err) {
      error = err
    }
    const ms = performance.now() - started
    if (ms > 250) throw new Error(`${name} decoder took ${ms.toFixed(0)} ms on ${bytes.length} bytes`)
    if (error !== undefined) {
      if (!(error instanceof TrellisError))
        throw new Error(`${name} decoder threw a non-TrellisError on ${bytesToHex(bytes)}: ${String(error)}`)
      continue
    }
    const again = c.encode(decoded as never)
    if (!equalBytes(again, bytes))
      throw new Error(`${name}: accepted non-canonical bytes ${bytesToHex(bytes)} (re-encodes to ${bytesToHex(again)})`)
  }
}

type Mutation = { kind: 'flip' | 'set' | 'insert' | 'delete' | 'truncate' | 'duplicate'; pos: number; byte: number }
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate', 'duplicate'),
  pos: fc.nat(),
  byte: fc.nat(255),
})

function mutate(input: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Array.from(input)
  for (const m of ms) {
    const i = b.length === 0 ? 0 : m.pos % b.length
    if (m.kind === 'flip' && b.length > 0) b[i] = (b[i] as number) ^ (1 << (m.byte % 8))
    else if (m.kind === 'set' && b.length > 0) b[i] = m.byte
    else if (m.kind === 'insert') b.splice(i, 0, m.byte)
    else if (m.kind === 'delete') b.splice(i, 1)
    else if (m.kind === 'truncate') b = b.slice(0, i)
    else if (m.kind === 'duplicate') b = [...b.slice(0, i), ...b.slice(i, i + 1 + (m.byte % 8)), ...b.slice(i)]
  }
  return Uint8Array.from(b)
}

const validEncodingArb = fc.oneof(
  txArb.map((t) => t.bytes),
  blockArb.map(encodeBlock),
  receiptArb.map(encodeReceipt),
  valueArb.map(encodeValue),
  headerArb.map(encodeHeader),
  certArb.map(encodeCertificate),
)
const mutatedArb = fc.tuple(validEncodingArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 })).map(([b, ms]) => mutate(b, ms))

describe('decoders under fuzzing', () => {
  it('random bytes never throw anything but a TrellisError, never hang, and decode only canonically', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => decodeAll(b)),
      { numRuns: 3000, seed: 0xf022 },
    )
  })

  it('mutated valid encodings never throw anything but a TrellisError and decode only canonically', () => {
    fc.assert(
      fc.property(mutatedArb, (b) => decodeAll(b)),
      { numRuns: 3000, seed: 0xf023 },
    )
  })

  it('hostile shapes: deep nesting, huge counts and lengths, long varints', () => {
    const deep = new Uint8Array(200_000).fill(6)
    for (let i = 1; i < deep.length; i += 2) deep[i] = 1 // [[[[...]]]] far past MAX_VALUE_DEPTH
    const shapes = [
      deep,
      Uint8Array.of(6, 0xff, 0xff, 0xff, 0xff, 0x0f), // array of 2^32 items
      Uint8Array.of(7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f), // map of ~2^48 entries
      Uint8Array.of(4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), // string longer than memory
      Uint8Array.of(3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), // varint too long
      Uint8Array.of(3, 0x80, 0x00), // non-minimal varint
      Uint8Array.of(4, 2, 0xc3, 0x28), // invalid UTF-8
      Uint8Array.of(7, 2, 1, 0x62, 0, 1, 0x61, 0), // map keys out of order
      Uint8Array.of(7, 2, 1, 0x61, 0, 1, 0x61, 0), // duplicate map key
      Uint8Array.of(8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f), // -(2^53) is not safe
      Uint8Array.of(9), // unknown tag
    ]
    for (const s of shapes) decodeAll(s)
    let depthErr: unknown
    try {
      decodeValue(deep)
    } catch (err) {
      depthErr = err
    }
    expect(depthErr).toBeInstanceOf(TrellisError)
    expect((depthErr as TrellisError).code).toBe('ENCODING_INVALID')
    let nested: Value = 1
    for (let i = 0; i < MAX_VALUE_DEPTH; i++) nested = [nested]
    expect(decodeValue(encodeValue(nested))).toEqual(nested)
  })
})

describe('round trips', () => {
  it('values: decode(encode(v)) = v and encoding is canonical', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const bytes = encodeValue(v)
        const back = decodeValue(bytes)
        expect(back).toEqual(v)
        expect(encodeValue(back)).toEqual(bytes)
      }),
      { numRuns: 2000, seed: 0x7a1 },
    )
  })

  it('strings with a leading byte-order mark survive, also as map keys', () => {
    for (const v of ['\uFEFF', '\uFEFFabc', { '\uFEFFa': 1, a: 2 }, ['\uFEFF\uFEFF']] as Value[]) {
      expect(decodeValue(encodeValue(v))).toEqual(v)
    }
  })

  it('signed txs, blocks, receipts, headers and certificates', () => {
    fc.assert(
      fc.property(txArb, blockArb, receiptArb, headerArb, certArb, (tx, block, receipt, header, cert) => {
        const t = decodeSignedTx(tx.bytes)
        expect(t.body).toEqual(tx.body)
        expect(t.id).toEqual(tx.id)
        expect(t.signature).toEqual(tx.signature)
        expect(createSignedTx(t.body, t.signature).bytes).toEqual(tx.bytes)
        const b = encodeBlock(block)
        expect(encodeBlock(decodeBlock(b))).toEqual(b)
        expect(decodeBlock(b).header).toEqual(block.header)
        expect(decodeReceipt(encodeReceipt(receipt))).toEqual(receipt)
        expect(decodeHeader(encodeHeader(header))).toEqual(header)
        expect(decodeCertificate(encodeCertificate(cert))).toEqual(cert)
      }),
      { numRuns: 500, seed: 0x7a2 },
    )
  })
})

// ---------------------------------------------------------------------------------------------
// The running API under random and mutated requests
// ---------------------------------------------------------------------------------------------

describe('API under fuzzing', () => {
  let t: TestNode
  beforeAll(async () => {
    t = await startTestNode({ maxBodyBytes: 256 * 1024 })
  })
  afterAll(async () => {
    await t?.close()
  })

  type Req = { method: 'GET' | 'POST'; path: string; json?: unknown; raw?: string; contentType?: string }

  it('a few thousand random and mutated requests never yield a 5xx; the node stays healthy and consistent', async () => {
    const kp = testKey(1)
    const chainId = t.genesis.chainId
    const expiresAt = Date.now() + 600_000
    const seeds = Array.from(
      { length: 8 },
      (_, i) => recordTx(kp, docHash(`fuzz-${i}`), { chainId, expiresAt, nonce: i, meta: { i } }).bytes,
    )
    const seedArb = fc.constantFrom(...seeds)
    const mutatedTx = fc
      .tuple(seedArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }))
      .map(([b, ms]) => bytesToBase64(mutate(b, ms)))
    const txField = fc.oneof(
      { weight: 4, arbitrary: mutatedTx },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map(bytesToBase64) },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
      { weight: 1, arbitrary: seedArb.map(bytesToBase64) },
    )
    const segment = fc.oneof(
      fc.stringMatching(/^[a-z0-9:._-]{1,70}$/),
      fc.constantFrom('latest', '0', '1', '-1', docHash(1), '%00', '..', 'doc%3Ax'),
    )
    const reqArb: fc.Arbitrary<Req> = fc.oneof(
      fc.record({ method: fc.constant('POST' as const), path: fc.constant('/v1/txs'), json: fc.record({ tx: txField }) }),
      fc.record({
        method: fc.constant('POST' as const),
        path: fc.constant('/v1/txs'),
        json: fc.record({ txs: fc.array(txField, { minLength: 1, maxLength: 6 }) }),
      }),
      fc.record({
        method: fc.constant('POST' as const),
        path: fc.constantFrom('/v1/txs', '/v1/txs?wait=false', '/v1/contracts/notary/query'),
        json: fc.jsonValue({ maxDepth: 4 }),
      }),
      fc.record({
        method: fc.constant('POST' as const),
        path: fc.constantFrom('/v1/txs', '/v1/contracts/notary/query', '/v1/contracts/x/query'),
        raw: fc.string({ unit: 'binary', maxLength: 80 }),
        contentType: fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', 'application/json; charset=latin1'),
      }),
      fc.record({
        method: fc.constant('POST' as const),
        path: segment.map((c) => `/v1/contracts/${c}/query`),
        json: fc.record({
          method: fc.oneof(fc.string({ maxLength: 10 }), fc.constant('get')),
          args: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.record({ hash: fc.string() })),
        }),
      }),
      fc.record({ method: fc.constant('GET' as const), path: segment.map((s) => `/v1/txs/${s}`) }),
      fc.record({
        method: fc.constant('GET' as const),
        path: fc.tuple(segment, fc.constantFrom('', '?txs=full', '?txs=bad')).map(([s, q]) => `/v1/blocks/${s}${q}`),
      }),
      fc.record({
        method: fc.constant('GET' as const),
        path: fc
          .tuple(segment, segment, fc.oneof(fc.nat(), fc.integer(), fc.string({ maxLength: 6 })))
          .map(([c, k, h]) => `/v1/state/${c}/${k}?height=${encodeURIComponent(String(h))}`),
      }),
      fc.record({
        method: fc.constant('GET' as const),
        path: fc
          .tuple(segment, segment, fc.string({ maxLength: 8 }), fc.string({ maxLength: 22 }))
          .map(([c, k, l, cur]) => `/v1/state/${c}/${k}/history?limit=${encodeURIComponent(l)}&cursor=${encodeURIComponent(cur)}`),
      }),
      fc.record({ method: fc.constantFrom('GET' as const, 'POST' as const), path: segment.map((s) => `/${s}`) }),
    )
    const requests = fc.sample(reqArb, { numRuns: 3000, seed: 0xa91 })
    const statuses = new Map<number, number>()
    const failures: string[] = []
    const check = (r: Req, res: HttpResult) => {
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      const where = `${r.method} ${r.path} ${JSON.stringify(r.json ?? r.raw)?.slice(0, 200)} -> ${res.status} ${res.text.slice(0, 200)}`
      if (res.status >= 500) failures.push(where)
      else if (res.status >= 400) {
        const code = res.body?.code
        if (typeof code !== 'string' || !Object.hasOwn(ERROR_CODES, code) || httpStatusOf(code) !== res.status)
          failures.push(`undocumented error: ${where}`)
      } else if (r.path.startsWith('/v1/txs') && r.method === 'POST') {
        for (const x of res.body.results)
          if (!x.accepted && !Object.hasOwn(ERROR_CODES, x.error?.code)) failures.push(`undocumented tx error: ${where}`)
      }
    }
    const concurrency = 12
    let next = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests.length) {
          const r = requests[next++] as Req
          const res = await http(t.url, r.method, r.path, {
            ...(r.json !== undefined ? { json: r.json } : {}),
            ...(r.raw !== undefined ? { raw: r.raw, contentType: r.contentType ?? 'application/json' } : {}),
          })
          check(r, res)
        }
      }),
    )
    expect(failures.slice(0, 10)).toEqual([])
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true)
    expect(statuses.get(200)).toBeGreaterThan(0)

    // Still alive, and every view of the chain agrees.
    await new Promise((resolve) => setTimeout(resolve, 100))
    const health = await http(t.url, 'GET', '/healthz')
    expect(health.status).toBe(200)
    const status = (await http(t.url, 'GET', '/v1/status')).body
    const latest = await http(t.url, 'GET', '/v1/blocks/latest')
    expect(health.body.height).toBe(status.height)
    if (status.height > 0) expect(latest.body.header.height).toBe(status.height)
    let prev: string | undefined
    for (let h = 1; h <= status.height; h++) {
      const b = await http(t.url, 'GET', `/v1/blocks/${h}`)
      expect(b.status).toBe(200)
      if (prev !== undefined) expect(b.body.header.prevHash).toBe(prev)
      prev = b.body.hash
    }
    // Only the untouched seed txs can have been accepted, each at most once.
    const committed: string[] = []
    for (let h = 1; h <= status.height; h++) committed.push(...(await http(t.url, 'GET', `/v1/blocks/${h}`)).body.txIds)
    expect(new Set(committed).size).toBe(committed.length)
    const seedIds = new Set(seeds.map((s) => bytesToHex(decodeSignedTx(s).id)))
    for (const id of committed) expect(seedIds.has(id)).toBe(true)
  }, 60_000)
})
