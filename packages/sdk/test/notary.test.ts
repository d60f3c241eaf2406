import {
  createClient,
  decodeSignedTx,
  generateKeyPair,
  isTxSignatureValid,
  notary,
  notaryKey,
  sha256Hex,
  TrellisError,
  valueToJSON,
} from '@trellis/sdk'
import { base64ToBytes, bytesToHex } from '@trellis/utils'
import { afterEach, describe, expect, it } from 'vitest'
import { sendJson, startServer, type TestServer } from './helpers/httpServer.js'

let server: TestServer | undefined

afterEach(async () => {
  await server?.close()
  server = undefined
})

const HASH = sha256Hex('abc')

describe('notary helpers', () => {
  it('hashes bytes and strings with SHA-256', () => {
    expect(HASH).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe(HASH)
    expect(sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  })

  it('names the state key and checks the hash', () => {
    expect(notaryKey(HASH.toUpperCase())).toBe(`doc:${HASH}`)
    expect(() => notaryKey('abc')).toThrowError(TrellisError)
  })

  it('records: signs a notary.record tx for the node chain id and returns the receipt with wait', async () => {
    const { privateKey } = generateKeyPair()
    let submitted: Uint8Array | undefined
    server = await startServer((req, res) => {
      if (req.path === '/v1/status') return sendJson(res, 200, { chainId: 'trellis-dev', height: 1 })
      submitted = base64ToBytes((JSON.parse(req.body) as { tx: string }).tx)
      const id = bytesToHex(decodeSignedTx(submitted).id)
      const record = { hash: HASH, owner: 'p256:x', meta: { title: 'a.pdf' }, txId: id, height: 2, timestamp: 5 }
      const receipt = { txId: id, status: 'ok', errorCode: '', errorMessage: '', returnValue: record, events: [], cost: 1 }
      return sendJson(res, 200, { results: [{ id, accepted: true, height: 2, receipt }] })
    })
    const client = createClient({ url: server.url })
    const r = await notary.record(client, {
      hashHex: HASH,
      meta: { title: 'a.pdf', pages: 2, final: true },
      signer: privateKey,
      wait: true,
    })
    expect(server.requests.map((q) => q.url)).toEqual(['/v1/status', '/v1/txs?wait=true'])
    const tx = decodeSignedTx(submitted ?? new Uint8Array())
    expect(isTxSignatureValid(tx)).toBe(true)
    expect(tx.body.chainId).toBe('trellis-dev')
    expect(tx.body.contract).toBe('notary')
    expect(tx.body.method).toBe('record')
    expect(valueToJSON(tx.body.args)).toEqual({ hash: HASH, meta: { title: 'a.pdf', pages: 2, final: true } })
    expect(r.txId).toBe(bytesToHex(tx.id))
    expect(r.height).toBe(2)
    expect(r.record?.meta).toEqual({ title: 'a.pdf' })
  })

  it('throws the contract error of a committed but failed record', async () => {
    const { privateKey } = generateKeyPair()
    server = await startServer((req, res) => {
      const id = bytesToHex(decodeSignedTx(base64ToBytes((JSON.parse(req.body) as { tx: string }).tx)).id)
      const receipt = {
        txId: id,
        status: 'failed',
        errorCode: 'NOTARY_ALREADY_RECORDED',
        errorMessage: 'already recorded',
        returnValue: null,
        events: [],
        cost: 1,
      }
      sendJson(res, 200, { results: [{ id, accepted: true, height: 3, receipt }] })
    })
    const client = createClient({ url: server.url })
    const err = await notary.record(client, { hashHex: HASH, signer: privateKey, chainId: 'c', wait: true }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TrellisError)
    expect((err as TrellisError).code).toBe('NOTARY_ALREADY_RECORDED')
    expect((err as TrellisError).details).toMatchObject({ height: 3 })
    expect(server.requests.map((q) => q.url)).toEqual(['/v1/txs?wait=true'])
  })

  it('gets a record with its proof', async () => {
    const proof = { kind: 'state', height: 9, contract: 'notary', key: `doc:${HASH}`, value: null, proof: {}, header: '', certificate: '' }
    server = await startServer((_req, res) =>
      sendJson(res, 200, { contract: 'notary', key: `doc:${HASH}`, height: 9, exists: false, value: null, proof }),
    )
    const r = await notary.get(createClient({ url: server.url }), HASH, { height: 9 })
    expect(server.requests[0]?.url).toBe(`/v1/state/notary/doc%3A${HASH}?height=9`)
    expect(r.exists).toBe(false)
    expect(r.record).toBeNull()
    expect(r.proof).toEqual(proof)
  })
})
