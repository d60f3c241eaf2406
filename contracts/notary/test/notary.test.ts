import { publicKeyToString } from '@trellis/crypto'
import { decodeValue, type Receipt, ReceiptStatus, stateKey, valueToJSON } from '@trellis/ledger'
import { bytesToHex, TrellisError } from '@trellis/utils'
import { describe, expect, it } from 'vitest'
import { contractArtifact, ContractHarness } from '../../../test/support/contracts.js'
import { docHash, testKey } from '../../../test/support/fixtures.js'

// The notary written on the public contract API, deployed as `docs` next to the built-in `notary`:
// the same records, the same rules.

const NAME = 'docs'
const alice = testKey(201)
const bob = testKey(202)
const ALICE = publicKeyToString(alice.publicKey)

async function deployed(): Promise<ContractHarness> {
  const h = await ContractHarness.create()
  const r = await h.deploy(NAME, await contractArtifact('notary'))
  expect(r.errorCode).toBe('')
  return h
}

const ok = (r: Receipt | undefined): void => {
  expect(r?.errorCode).toBe('')
  expect(r?.status).toBe(ReceiptStatus.Ok)
}

const failedWith = (r: Receipt | undefined, code: string): void => {
  expect(r).toMatchObject({ status: ReceiptStatus.Failed, errorCode: code, returnValue: null, events: [] })
}

async function get(h: ContractHarness, contract: string, hash: string, height?: number): Promise<unknown> {
  return valueToJSON((await h.query(contract, 'get', { hash }, height)).result)
}

describe('notary contract (deployed as docs)', () => {
  it('records a document hash with metadata and returns the record from get', async () => {
    const h = await deployed()
    const hash = docHash('contract.pdf')
    const tx = h.tx(alice, NAME, 'record', { hash, meta: { title: 'contract', pages: 3, signed: true } })
    h.precheck(tx)
    const [r] = await h.block([tx])
    ok(r)
    const record = {
      hash,
      owner: ALICE,
      meta: { title: 'contract', pages: 3, signed: true },
      txId: bytesToHex(tx.id),
      height: h.chain.head.height,
      timestamp: h.time,
    }
    expect(valueToJSON(r?.returnValue ?? null)).toEqual(record)
    expect(r?.events).toEqual([{ contract: NAME, name: 'DocumentRecorded', data: { hash, owner: ALICE } }])
    expect(await get(h, NAME, hash)).toEqual(record)
    expect(decodeValue(h.chain.getLatest(stateKey(NAME, `doc:${hash}`)) as Uint8Array)).toEqual(r?.returnValue)
    const out = await h.query(NAME, 'get', { hash })
    expect(out.provenKey).toEqual({ contract: NAME, key: `doc:${hash}` })
    expect(await get(h, NAME, docHash('never'))).toBeNull()
    // Without meta, the record has an empty meta object.
    const [plain] = await h.block([h.tx(bob, NAME, 'record', { hash: docHash('plain') })])
    ok(plain)
    expect(valueToJSON(plain?.returnValue ?? null)).toMatchObject({ meta: {}, owner: publicKeyToString(bob.publicKey) })
  })

  it('fails NOTARY_ALREADY_RECORDED in a later block, keeping the first record', async () => {
    const h = await deployed()
    const hash = docHash('once')
    ok(await h.call(alice, NAME, 'record', { hash }))
    const first = await get(h, NAME, hash)
    const root = h.chain.head.stateRoot
    const again = await h.call(bob, NAME, 'record', { hash, meta: { by: 'bob' } })
    failedWith(again, 'NOTARY_ALREADY_RECORDED')
    expect(again.errorMessage).toContain(ALICE)
    expect(await get(h, NAME, hash)).toEqual(first)
    expect(h.chain.head.stateRoot).toEqual(root)
  })

  it('fails NOTARY_ALREADY_RECORDED when the duplicate is in the same block', async () => {
    const h = await deployed()
    const hash = docHash('same-block')
    const first = h.tx(alice, NAME, 'record', { hash })
    const rs = await h.block([first, h.tx(bob, NAME, 'record', { hash }), h.tx(bob, NAME, 'record', { hash: docHash('other') })])
    expect(rs.map((r) => [r.status, r.errorCode])).toEqual([
      [ReceiptStatus.Ok, ''],
      [ReceiptStatus.Failed, 'NOTARY_ALREADY_RECORDED'],
      [ReceiptStatus.Ok, ''],
    ])
    expect(((await get(h, NAME, hash)) as { txId: string }).txId).toBe(bytesToHex(first.id))
  })

  const badArgs: Array<[string, unknown]> = [
    ['upper-case hash', { hash: docHash(1).toUpperCase() }],
    ['short hash', { hash: docHash(1).slice(1) }],
    ['long hash', { hash: `${docHash(1)}0` }],
    ['0x-prefixed hash', { hash: `0x${docHash(1).slice(2)}` }],
    ['non-hex hash', { hash: 'g'.repeat(64) }],
    ['hash not a string', { hash: 42 }],
    ['missing hash', { meta: {} }],
    ['null args', null],
    ['unknown argument', { hash: docHash(1), owner: 'me' }],
    ['meta not an object', { hash: docHash(1), meta: 'x' }],
    ['meta an array', { hash: docHash(1), meta: ['x'] }],
    ['too many meta entries', { hash: docHash(1), meta: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])) }],
    ['meta key too long', { hash: docHash(1), meta: { ['k'.repeat(65)]: 'x' } }],
    ['empty meta key', { hash: docHash(1), meta: { '': 'x' } }],
    ['meta string too long', { hash: docHash(1), meta: { note: 'x'.repeat(1025) } }],
    ['nested meta', { hash: docHash(1), meta: { nested: { a: 1 } } }],
    ['null meta value', { hash: docHash(1), meta: { a: null } }],
  ]

  it.each(badArgs)('fails ARGS_INVALID for %s, like the built-in notary, and writes nothing', async (_what, args) => {
    const h = await deployed()
    const root = h.chain.head.stateRoot
    const rs = await h.block([h.tx(alice, NAME, 'record', args), h.tx(alice, 'notary', 'record', args)])
    failedWith(rs[0], 'ARGS_INVALID')
    failedWith(rs[1], 'ARGS_INVALID') // the built-in agrees
    expect(h.chain.head.stateRoot).toEqual(root)
  })

  it('rejects a bad hash in the get query with ARGS_INVALID', async () => {
    const h = await deployed()
    let err: unknown
    try {
      await h.query(NAME, 'get', { hash: 'nope' })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(TrellisError)
    expect((err as TrellisError).code).toBe('ARGS_INVALID')
  })

  it('the built-in notary and the deployed one produce records with the same fields', async () => {
    const h = await deployed()
    const hash = docHash('both')
    const meta = { title: 'invoice', amount: 1200, paid: false, note: '中文 ✓' }
    const txs = [h.tx(alice, 'notary', 'record', { hash, meta }), h.tx(alice, NAME, 'record', { hash, meta })]
    const rs = await h.block(txs)
    for (const r of rs) ok(r)
    const height = h.chain.head.height
    const builtin = (await get(h, 'notary', hash)) as Record<string, unknown>
    const deployedRec = (await get(h, NAME, hash)) as Record<string, unknown>
    expect(Object.keys(deployedRec).sort()).toEqual(Object.keys(builtin).sort())
    // Only the tx differs: each record names its own.
    expect(builtin.txId).toBe(bytesToHex((txs[0] as { id: Uint8Array }).id))
    expect(deployedRec.txId).toBe(bytesToHex((txs[1] as { id: Uint8Array }).id))
    expect({ ...deployedRec, txId: null }).toEqual({ ...builtin, txId: null })
    expect(deployedRec).toMatchObject({ hash, owner: ALICE, meta, height, timestamp: h.time })
    // The stored bytes agree too, apart from the tx id.
    const raw = (contract: string) =>
      decodeValue(h.chain.getLatest(stateKey(contract, `doc:${hash}`)) as Uint8Array) as Record<string, unknown>
    expect({ ...raw(NAME), txId: null }).toEqual({ ...raw('notary'), txId: null })
    // The same events, apart from the emitting contract.
    expect(rs[0]?.events.map((e) => [e.name, e.data])).toEqual(rs[1]?.events.map((e) => [e.name, e.data]))
    // And the same duplicate rule.
    const dup = await h.block([h.tx(bob, 'notary', 'record', { hash }), h.tx(bob, NAME, 'record', { hash })])
    expect(dup.map((r) => r.errorCode)).toEqual(['NOTARY_ALREADY_RECORDED', 'NOTARY_ALREADY_RECORDED'])
    // A past height sees no record in either.
    expect(await get(h, 'notary', hash, height - 1)).toBeNull()
    expect(await get(h, NAME, hash, height - 1)).toBeNull()
  })
})
