import { publicKeyToString } from '@trellis/crypto'
import { decodeValue, type Receipt, ReceiptStatus, stateKey, valueToJSON } from '@trellis/ledger'
import { bytesToHex, TrellisError } from '@trellis/utils'
import { beforeAll, describe, expect, it } from 'vitest'
import { contractArtifact, ContractHarness } from '../../../test/support/contracts.js'
import type { Asset } from '../src/index.js'
import { testKey } from '../../../test/support/fixtures.js'

// Scenario tests of the asset-transfer contract on a real in-memory chain: every business flow and
// every forbidden transition, with receipts, events, paging, history, past heights and proofs.

const NAME = 'assets'
const alice = testKey(101)
const bob = testKey(102)
const carol = testKey(103)
const ALICE = publicKeyToString(alice.publicKey)
const BOB = publicKeyToString(bob.publicKey)
const CAROL = publicKeyToString(carol.publicKey)
const SEP = '\u0000'

interface Page {
  assets: Asset[]
  next: string | null
}

async function deployed(): Promise<ContractHarness> {
  const h = await ContractHarness.create()
  const r = await h.deploy(NAME, await contractArtifact('asset-transfer'))
  expect(r.errorCode).toBe('')
  expect(r.status).toBe(ReceiptStatus.Ok)
  return h
}

const newAsset = (id: string, o: Partial<Pick<Asset, 'color' | 'size' | 'appraisedValue'>> = {}) => ({
  id,
  color: o.color ?? 'blue',
  size: o.size ?? 5,
  appraisedValue: o.appraisedValue ?? 300,
})

const ok = (r: Receipt | undefined): void => {
  expect(r?.errorCode).toBe('')
  expect(r?.status).toBe(ReceiptStatus.Ok)
}

const failedWith = (r: Receipt | undefined, code: string): void => {
  expect(r).toMatchObject({ status: ReceiptStatus.Failed, errorCode: code, returnValue: null, events: [] })
}

async function result<T>(h: ContractHarness, method: string, args: unknown, height?: number): Promise<T> {
  return valueToJSON((await h.query(NAME, method, args, height)).result) as T
}

/** The TrellisError a query fails with. */
async function queryError(p: Promise<unknown>): Promise<TrellisError> {
  let err: unknown
  try {
    await p
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(TrellisError)
  return err as TrellisError
}

/** Walks every page of `method` with `limit`, returning the pages. */
async function walk(h: ContractHarness, method: 'byOwner' | 'all', args: Record<string, unknown>, limit: number): Promise<Page[]> {
  const pages: Page[] = []
  let after: string | null = null
  for (let i = 0; i < 100; i++) {
    const page: Page = await result<Page>(h, method, { ...args, limit, ...(after === null ? {} : { after }) })
    pages.push(page)
    if (page.next === null) return pages
    after = page.next
  }
  throw new Error('paging did not end')
}

let artifactName: string
beforeAll(async () => {
  artifactName = (await contractArtifact('asset-transfer')).name
})

describe('asset-transfer: deploy', () => {
  it('deploys under a chosen name with its manifest, version and code hash', async () => {
    const art = await contractArtifact('asset-transfer')
    expect(artifactName).toBe('asset-transfer')
    expect(art.version).toBe('1.0.0')
    expect(art.manifest.methods.map((m) => `${m.kind}:${m.name}`)).toEqual([
      'query:all',
      'query:byOwner',
      'call:create',
      'query:exists',
      'query:history',
      'query:read',
      'call:remove',
      'call:transfer',
      'call:update',
    ])
    const h = await ContractHarness.create()
    const r = await h.deploy(NAME, art)
    ok(r)
    expect(r.events).toEqual([
      { contract: 'trellis', name: 'ContractDeployed', data: { name: NAME, version: '1.0.0', codeHash: art.codeHash } },
    ])
    const rec = await h.query('trellis', 'get', { name: NAME })
    expect(valueToJSON(rec.result)).toMatchObject({ name: NAME, version: '1.0.0', codeHash: art.codeHash, status: 'active' })
  })
})

describe('asset-transfer: create, read, update, transfer, remove', () => {
  it('runs the whole life of an asset with receipts and events', async () => {
    const h = await deployed()
    // create
    const created = await h.call(alice, NAME, 'create', newAsset('car-1', { color: 'red', size: 4, appraisedValue: 1000 }))
    ok(created)
    const t1 = h.time
    const asset1: Asset = {
      id: 'car-1',
      color: 'red',
      size: 4,
      appraisedValue: 1000,
      owner: ALICE,
      createdAt: t1,
      updatedAt: t1,
    }
    expect(valueToJSON(created.returnValue)).toEqual(asset1)
    expect(created.events).toEqual([{ contract: NAME, name: 'AssetCreated', data: { id: 'car-1', owner: ALICE } }])
    expect(created.cost).toBeGreaterThan(0)
    expect(await result(h, 'read', { id: 'car-1' })).toEqual(asset1)
    expect(await result(h, 'exists', { id: 'car-1' })).toBe(true)
    expect(await result(h, 'exists', { id: 'car-2' })).toBe(false)

    // update: only the given fields change, updatedAt moves
    const updated = await h.call(alice, NAME, 'update', { id: 'car-1', color: 'green' })
    ok(updated)
    const asset2 = { ...asset1, color: 'green', updatedAt: h.time }
    expect(valueToJSON(updated.returnValue)).toEqual(asset2)
    expect(updated.events).toEqual([{ contract: NAME, name: 'AssetUpdated', data: { id: 'car-1' } }])
    expect(await result(h, 'read', { id: 'car-1' })).toEqual(asset2)

    // transfer
    const moved = await h.call(alice, NAME, 'transfer', { id: 'car-1', newOwner: BOB })
    ok(moved)
    expect(valueToJSON(moved.returnValue)).toEqual({ id: 'car-1', from: ALICE, to: BOB })
    expect(moved.events).toEqual([{ contract: NAME, name: 'AssetTransferred', data: { id: 'car-1', from: ALICE, to: BOB } }])
    const asset3 = { ...asset2, owner: BOB, updatedAt: h.time }
    expect(await result(h, 'read', { id: 'car-1' })).toEqual(asset3)
    expect((await result<Page>(h, 'byOwner', { owner: ALICE })).assets).toEqual([])
    expect(await result<Page>(h, 'byOwner', { owner: BOB })).toEqual({ assets: [asset3], next: null })

    // the new owner may update it, the old one may not
    failedWith(await h.call(alice, NAME, 'update', { id: 'car-1', size: 9 }), 'NOT_OWNER')
    ok(await h.call(bob, NAME, 'update', { id: 'car-1', size: 9 }))

    // remove
    const lower = stateKey(NAME, '')
    const upper = Uint8Array.of(...lower.subarray(0, -1), 1) // just past the namespace
    expect(await h.chain.scanLatest(lower, upper, false, 100)).toHaveLength(2) // the asset and its owner index entry
    const removed = await h.call(bob, NAME, 'remove', { id: 'car-1' })
    ok(removed)
    expect(removed.returnValue).toBeNull()
    expect(removed.events).toEqual([{ contract: NAME, name: 'AssetDeleted', data: { id: 'car-1', owner: BOB } }])
    expect(await result(h, 'exists', { id: 'car-1' })).toBe(false)
    expect((await result<Page>(h, 'byOwner', { owner: BOB })).assets).toEqual([])
    expect((await result<Page>(h, 'all', {})).assets).toEqual([])
    // Nothing is left in the contract's namespace.
    expect(await h.chain.scanLatest(lower, upper, false, 100)).toEqual([])

    // A removed id can be created again, by anyone.
    ok(await h.call(carol, NAME, 'create', newAsset('car-1')))
    expect((await result<Asset>(h, 'read', { id: 'car-1' })).owner).toBe(CAROL)
  })

  it('fails NOT_OWNER when someone else updates, transfers or removes, and changes nothing', async () => {
    const h = await deployed()
    ok(await h.call(alice, NAME, 'create', newAsset('bike')))
    const before = await result<Asset>(h, 'read', { id: 'bike' })
    const root = h.chain.head.stateRoot
    const rs = await h.block([
      h.tx(bob, NAME, 'update', { id: 'bike', color: 'black' }),
      h.tx(bob, NAME, 'transfer', { id: 'bike', newOwner: BOB }),
      h.tx(bob, NAME, 'remove', { id: 'bike' }),
      h.tx(h.admin, NAME, 'remove', { id: 'bike' }), // the chain admin is no owner either
    ])
    for (const r of rs) failedWith(r, 'NOT_OWNER')
    expect(rs[0]?.errorMessage).toContain(ALICE)
    expect(rs.every((r) => r.cost > 0)).toBe(true)
    expect(await result(h, 'read', { id: 'bike' })).toEqual(before)
    expect(h.chain.head.stateRoot).toEqual(root)
  })

  it('fails ASSET_EXISTS on a second create (later block and same block), keeping the first', async () => {
    const h = await deployed()
    ok(await h.call(alice, NAME, 'create', newAsset('a1', { color: 'red' })))
    failedWith(await h.call(bob, NAME, 'create', newAsset('a1', { color: 'blue' })), 'ASSET_EXISTS')
    const rs = await h.block([h.tx(bob, NAME, 'create', newAsset('a2')), h.tx(alice, NAME, 'create', newAsset('a2'))])
    ok(rs[0])
    failedWith(rs[1], 'ASSET_EXISTS')
    expect(await result<Asset>(h, 'read', { id: 'a1' })).toMatchObject({ owner: ALICE, color: 'red' })
    expect(await result<Asset>(h, 'read', { id: 'a2' })).toMatchObject({ owner: BOB })
  })

  it('fails ASSET_NOT_FOUND for missing assets: in calls (receipt) and queries (QUERY_FAILED)', async () => {
    const h = await deployed()
    const rs = await h.block([
      h.tx(alice, NAME, 'update', { id: 'ghost', color: 'white' }),
      h.tx(alice, NAME, 'transfer', { id: 'ghost', newOwner: BOB }),
      h.tx(alice, NAME, 'remove', { id: 'ghost' }),
    ])
    for (const r of rs) failedWith(r, 'ASSET_NOT_FOUND')
    const err = await queryError(h.query(NAME, 'read', { id: 'ghost' }))
    expect(err.code).toBe('QUERY_FAILED')
    expect(err.details).toMatchObject({ contract: NAME, method: 'read', errorCode: 'ASSET_NOT_FOUND' })
    expect((await queryError(h.query(NAME, 'history', { id: 'bad id!' }))).code).toBe('ARGS_INVALID')
  })

  it('fails SAME_OWNER when transferring an asset to its owner', async () => {
    const h = await deployed()
    ok(await h.call(alice, NAME, 'create', newAsset('x')))
    failedWith(await h.call(alice, NAME, 'transfer', { id: 'x', newOwner: ALICE }), 'SAME_OWNER')
  })

  const badArgs: Array<[string, string, unknown]> = [
    ['create without id', 'create', { color: 'red', size: 1, appraisedValue: 1 }],
    ['create with an empty id', 'create', newAsset('')],
    ['create with a bad id character', 'create', newAsset('a b')],
    ['create with a too long id', 'create', newAsset('x'.repeat(65))],
    ['create with a negative size', 'create', { ...newAsset('n'), size: -1 }],
    ['create with a fractional-looking size as string', 'create', { ...newAsset('n'), size: '5' }],
    ['create with too big a size', 'create', { ...newAsset('n'), size: 1_000_001 }],
    ['create with an empty color', 'create', { ...newAsset('n'), color: '' }],
    ['create with an unknown field', 'create', { ...newAsset('n'), owner: 'me' }],
    ['create with an array', 'create', [newAsset('n')]],
    ['create with a string', 'create', 'n'],
    ['update with a bad color type', 'update', { id: 'n', color: 7 }],
    ['transfer without newOwner', 'transfer', { id: 'n' }],
    ['transfer with an empty newOwner', 'transfer', { id: 'n', newOwner: '' }],
    ['remove with null args', 'remove', null],
  ]
  it.each(badArgs)('rejects %s with ARGS_INVALID (precheck and receipt)', async (_what, method, args) => {
    const h = await deployed()
    const tx = h.tx(alice, NAME, method, args)
    let pre: unknown
    try {
      h.precheck(tx)
    } catch (e) {
      pre = e
    }
    expect((pre as TrellisError | undefined)?.code).toBe('ARGS_INVALID')
    const root = h.chain.head.stateRoot
    const [r] = await h.block([tx])
    failedWith(r, 'ARGS_INVALID')
    expect(h.chain.head.stateRoot).toEqual(root)
  })

  it('rejects bad query args with ARGS_INVALID and an unknown method with METHOD_NOT_FOUND', async () => {
    const h = await deployed()
    expect((await queryError(h.query(NAME, 'read', {}))).code).toBe('ARGS_INVALID')
    expect((await queryError(h.query(NAME, 'byOwner', { owner: ALICE, limit: 0 }))).code).toBe('ARGS_INVALID')
    expect((await queryError(h.query(NAME, 'byOwner', { owner: ALICE, limit: 101 }))).code).toBe('ARGS_INVALID')
    expect((await queryError(h.query(NAME, 'nope', {}))).code).toBe('METHOD_NOT_FOUND')
    // A call method is not a query, and a query method is not callable.
    expect((await queryError(h.query(NAME, 'create', newAsset('q')))).code).toBe('METHOD_NOT_FOUND')
    failedWith(await h.call(alice, NAME, 'read', { id: 'q' }), 'METHOD_NOT_FOUND')
  })
})

describe('asset-transfer: paging', () => {
  const ids = Array.from({ length: 45 }, (_, i) => `asset-${String(i).padStart(3, '0')}`)
  // Interleaved owners, created in a scrambled order so that id order is not insertion order.
  const ownerOf = (i: number) => (i % 3 === 0 ? bob : alice)
  let h: ContractHarness
  beforeAll(async () => {
    h = await deployed()
    const order = ids.map((_, i) => (i * 17) % ids.length)
    expect(new Set(order).size).toBe(ids.length)
    const rs = await h.block(order.map((i) => h.tx(ownerOf(i), NAME, 'create', newAsset(ids[i] as string, { size: i }))))
    for (const r of rs) ok(r)
  })

  it('byOwner walks every asset of each owner exactly once, in id order, 20 a page', async () => {
    for (const [kp, id] of [
      [alice, ALICE],
      [bob, BOB],
    ] as const) {
      const expected = ids.filter((_, i) => ownerOf(i) === kp)
      const pages = await walk(h, 'byOwner', { owner: id }, 20)
      const seen = pages.flatMap((p) => p.assets.map((a) => a.id))
      expect(seen).toEqual(expected)
      expect(pages.flatMap((p) => p.assets).every((a) => a.owner === id)).toBe(true)
      expect(pages.length).toBe(Math.ceil(expected.length / 20))
      for (const p of pages.slice(0, -1)) expect(p.assets).toHaveLength(20)
      // `next` is the id of the last asset on its page.
      for (const p of pages.slice(0, -1)) expect(p.next).toBe(p.assets[p.assets.length - 1]?.id)
    }
    expect(await result<Page>(h, 'byOwner', { owner: CAROL })).toEqual({ assets: [], next: null })
  })

  it('byOwner pages of exactly the remaining size end with next = null', async () => {
    const mine = ids.filter((_, i) => ownerOf(i) === bob) // 15
    expect(mine).toHaveLength(15)
    const page = await result<Page>(h, 'byOwner', { owner: BOB, limit: 15 })
    expect(page.assets.map((a) => a.id)).toEqual(mine)
    expect(page.next).toBeNull()
    const pages = await walk(h, 'byOwner', { owner: BOB }, 5)
    expect(pages).toHaveLength(3)
    expect(pages.flatMap((p) => p.assets.map((a) => a.id))).toEqual(mine)
  })

  it('all walks every asset exactly once, in id order', async () => {
    for (const limit of [20, 7, 45, 100]) {
      const pages = await walk(h, 'all', {}, limit)
      expect(pages.flatMap((p) => p.assets.map((a) => a.id))).toEqual(ids)
      expect(pages.length).toBe(Math.ceil(ids.length / limit))
    }
    const first = await result<Page>(h, 'all', {})
    expect(first.assets).toHaveLength(20) // default page size
    expect(first.next).toBe(ids[19])
  })
})

describe('asset-transfer: writes and ranges in one block', () => {
  it('creates, transfers, updates and removes in the same block; ranges see the committed result', async () => {
    const h = await deployed()
    ok(await h.call(bob, NAME, 'create', newAsset('b-0')))
    const rs = await h.block([
      h.tx(alice, NAME, 'create', newAsset('a-1')),
      h.tx(alice, NAME, 'create', newAsset('a-2')),
      h.tx(alice, NAME, 'create', newAsset('a-3')),
      h.tx(alice, NAME, 'transfer', { id: 'a-2', newOwner: BOB }),
      h.tx(bob, NAME, 'update', { id: 'a-2', color: 'gold' }), // bob owns it now, within the block
      h.tx(alice, NAME, 'update', { id: 'a-2', color: 'lead' }), // alice no longer does
      h.tx(alice, NAME, 'remove', { id: 'a-3' }),
      h.tx(bob, NAME, 'transfer', { id: 'b-0', newOwner: ALICE }),
      h.tx(alice, NAME, 'transfer', { id: 'a-3', newOwner: BOB }), // removed earlier in the block
      h.tx(carol, NAME, 'create', newAsset('a-3')), // the removed id is free again
    ])
    expect(rs.map((r) => r.errorCode)).toEqual(['', '', '', '', '', 'NOT_OWNER', '', '', 'ASSET_NOT_FOUND', ''])
    const ofAlice = await result<Page>(h, 'byOwner', { owner: ALICE })
    expect(ofAlice.assets.map((a) => a.id)).toEqual(['a-1', 'b-0'])
    const ofBob = await result<Page>(h, 'byOwner', { owner: BOB })
    expect(ofBob.assets.map((a) => [a.id, a.color])).toEqual([['a-2', 'gold']])
    expect((await result<Page>(h, 'byOwner', { owner: CAROL })).assets.map((a) => a.id)).toEqual(['a-3'])
    expect(
      (await result<Page>(h, 'all', {})).assets.map((a) => `${a.id}:${a.owner === ALICE ? 'A' : a.owner === BOB ? 'B' : 'C'}`),
    ).toEqual(['a-1:A', 'a-2:B', 'a-3:C', 'b-0:A'])
    // The block's writes: the owner index holds exactly one entry per asset.
    const index = await h.chain.scanLatest(stateKey(NAME, `owner${SEP}`), stateKey(NAME, `owner${SEP}\u00ff`), false, 100)
    expect(index).toHaveLength(4)
  })
})

describe('asset-transfer: history, past heights and proofs', () => {
  it('history lists past versions newest first, with the deletion, and respects limit and height', async () => {
    const h = await deployed()
    const c = await h.call(alice, NAME, 'create', newAsset('h1'))
    const hCreate = h.chain.head.height
    const u = await h.call(alice, NAME, 'update', { id: 'h1', appraisedValue: 999 })
    const t = await h.call(alice, NAME, 'transfer', { id: 'h1', newOwner: BOB })
    const hTransfer = h.chain.head.height
    const d = await h.call(bob, NAME, 'remove', { id: 'h1' })
    for (const r of [c, u, t, d]) ok(r)
    const hist = await result<Array<{ height: number; txId: string; value: Asset | null }>>(h, 'history', { id: 'h1' })
    expect(hist.map((e) => e.height)).toEqual([hTransfer + 1, hTransfer, hCreate + 1, hCreate])
    expect(hist.map((e) => e.txId)).toEqual([d, t, u, c].map((r) => bytesToHex(r.txId)))
    expect(hist[0]?.value).toBeNull()
    expect(hist[1]?.value).toMatchObject({ owner: BOB, appraisedValue: 999 })
    expect(hist[2]?.value).toMatchObject({ owner: ALICE, appraisedValue: 999 })
    expect(hist[3]?.value).toEqual(valueToJSON(c.returnValue))
    const two = await result<unknown[]>(h, 'history', { id: 'h1', limit: 2 })
    expect(two).toEqual(hist.slice(0, 2))
    // At a past height, history ends there.
    const past = await result<Array<{ height: number }>>(h, 'history', { id: 'h1' }, hCreate + 1)
    expect(past.map((e) => e.height)).toEqual([hCreate + 1, hCreate])
    expect(await result(h, 'history', { id: 'never' })).toEqual([])
  })

  it('a query at a past height sees the old owner, in reads and in ranges (by owner, all)', async () => {
    const h = await deployed()
    ok(await h.call(alice, NAME, 'create', newAsset('p1')))
    const before = h.chain.head.height
    ok(await h.call(alice, NAME, 'transfer', { id: 'p1', newOwner: BOB }))
    ok(await h.call(bob, NAME, 'update', { id: 'p1', color: 'pink' }))
    expect(await result<Asset>(h, 'read', { id: 'p1' }, before)).toMatchObject({ owner: ALICE, color: 'blue' })
    expect(await result<Asset>(h, 'read', { id: 'p1' }, before + 1)).toMatchObject({ owner: BOB, color: 'blue' })
    expect(await result<Asset>(h, 'read', { id: 'p1' })).toMatchObject({ owner: BOB, color: 'pink' })
    expect(await result(h, 'exists', { id: 'p1' }, before - 1)).toBe(false)
    const err = await queryError(h.query(NAME, 'read', { id: 'p1' }, before - 1))
    expect(err.details).toMatchObject({ errorCode: 'ASSET_NOT_FOUND' })
    // Range scans at a past height see that height's index and values.
    const ids = (page: { assets: Asset[] }) => page.assets.map((a) => `${a.id}:${a.owner === ALICE ? 'alice' : 'bob'}:${a.color}`)
    expect(ids(await result(h, 'byOwner', { owner: ALICE }, before))).toEqual(['p1:alice:blue'])
    expect(ids(await result(h, 'byOwner', { owner: BOB }, before))).toEqual([])
    expect(ids(await result(h, 'byOwner', { owner: ALICE }, before + 1))).toEqual([])
    expect(ids(await result(h, 'byOwner', { owner: BOB }, before + 1))).toEqual(['p1:bob:blue'])
    expect(ids(await result(h, 'all', {}, before - 1))).toEqual([])
    expect(ids(await result(h, 'all', {}, before + 1))).toEqual(['p1:bob:blue'])
    expect(ids(await result(h, 'all', {}, before + 2))).toEqual(['p1:bob:pink'])
  })

  it('read names the proven state key; its result equals the stored value', async () => {
    const h = await deployed()
    ok(await h.call(alice, NAME, 'create', newAsset('proof-me', { appraisedValue: 77 })))
    const out = await h.query(NAME, 'read', { id: 'proof-me' })
    expect(out.provenKey).toEqual({ contract: NAME, key: `asset${SEP}proof-me` })
    const stored = h.chain.getLatest(stateKey(NAME, `asset${SEP}proof-me`))
    expect(stored).toBeDefined()
    expect(decodeValue(stored as Uint8Array)).toEqual(out.result)
    expect(out.cost).toBeGreaterThan(0)
    // Also at a past height.
    const height = h.chain.head.height
    ok(await h.call(alice, NAME, 'update', { id: 'proof-me', appraisedValue: 78 }))
    const past = await h.query(NAME, 'read', { id: 'proof-me' }, height)
    expect(past.provenKey).toEqual({ contract: NAME, key: `asset${SEP}proof-me` })
    expect(valueToJSON(past.result)).toMatchObject({ appraisedValue: 77 })
    // A computed result (a boolean, a page) is no state value: nothing to prove.
    expect((await h.query(NAME, 'exists', { id: 'proof-me' })).provenKey).toBeUndefined()
    expect((await h.query(NAME, 'byOwner', { owner: ALICE })).provenKey).toBeUndefined()
  })
})
