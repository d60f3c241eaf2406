import {
  decodeValue,
  emptyStateRoot,
  encodeValue,
  genesisHash,
  headerHash,
  merkleRoot,
  type SignedTx,
  StateTree,
  stateKey,
  stateKeyHash,
  stateValueHash,
  type Value,
  verifyCertificate,
  verifyStateProof,
} from '@trellis/ledger'
import { type BatchOp, createMemoryStore, type KVStore } from '@trellis/storage'
import { bytesToHex, hexToBytes, TrellisError } from '@trellis/utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  buildCommit,
  callTx,
  docHash,
  executeAndCommit,
  GENESIS_TIME,
  kvContract,
  makeGenesis,
  recordTx,
  replayBlock,
  testKey,
} from '../../../test/support/fixtures.js'
import { ARCHIVE_END, archiveFrom, blockKey, META, PREFIX, STORE_FORMAT, txIndexKey } from '../src/chain/layout.js'
import { scanBudget } from '../src/chain/chainStore.js'
import { ContractExecutor, ChainStore, type HistoryEntry, notaryContract } from '../src/index.js'

const validator = testKey(0)
const alice = testKey(1)
const genesis = makeGenesis(validator)
const EXP = GENESIS_TIME + 3_600_000
const newExecutor = () => ContractExecutor.create({ builtins: [notaryContract, kvContract], admins: [validator.publicKey] })

let nonce = 0
const kvSet = (key: string, value: Value) =>
  callTx(alice, { key, value }, { contract: 'kv', method: 'set', expiresAt: EXP, nonce: nonce++ })
const kvDel = (key: string) => callTx(alice, { key }, { contract: 'kv', method: 'del', expiresAt: EXP, nonce: nonce++ })

async function dump(store: KVStore): Promise<string[]> {
  const out: string[] = []
  for await (const [k, v] of store.iterate()) out.push(`${bytesToHex(k)}=${bytesToHex(v)}`)
  return out
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (err instanceof TrellisError) return err.code
    throw err
  }
  return 'NO_ERROR'
}

/** A real memory store whose next `write` fails: the fault a full disk or an I/O error causes. */
function faultyStore(): { store: KVStore; failNextWrite: () => void } {
  const inner = createMemoryStore()
  let fail = false
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'write') {
        return async (ops: readonly BatchOp[], o?: { sync?: boolean }) => {
          if (fail) {
            fail = false
            throw new TrellisError({ code: 'STORAGE_WRITE_FAILED' }, 'injected write failure')
          }
          return target.write(ops, o)
        }
      }
      const v = Reflect.get(target, prop, receiver)
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
  return { store, failNextWrite: () => (fail = true) }
}

describe('ChainStore open', () => {
  it('initialises an empty store at the genesis and reopens to the same head', async () => {
    const store = createMemoryStore()
    const chain = await ChainStore.open(store, genesis)
    expect(chain.head).toMatchObject({ height: 0, header: undefined, timestamp: GENESIS_TIME })
    expect(chain.head.hash).toEqual(genesisHash(genesis))
    expect(chain.head.stateRoot).toEqual(emptyStateRoot())
    await executeAndCommit(chain, await newExecutor(), validator, GENESIS_TIME + 1, [kvSet('a', 1)])
    const again = await ChainStore.open(store, genesis)
    expect(again.head).toEqual(chain.head)
    expect(again.getLatest(stateKey('kv', 'a'))).toEqual(encodeValue(1))
  })

  it('refuses a store of another chain (GENESIS_MISMATCH) and detects a missing head block (CHAIN_CORRUPT)', async () => {
    const store = createMemoryStore()
    const chain = await ChainStore.open(store, genesis)
    expect(await errorCode(ChainStore.open(store, makeGenesis(validator, { chainId: 'other-chain' })))).toBe('GENESIS_MISMATCH')
    await executeAndCommit(chain, await newExecutor(), validator, GENESIS_TIME + 1, [kvSet('a', 1)])
    await store.delete(blockKey(1))
    expect(await errorCode(ChainStore.open(store, genesis))).toBe('CHAIN_CORRUPT')
  })
})

describe('ChainStore commit', () => {
  it('indexes everything a block commits and moves the head', async () => {
    const chain = await ChainStore.open(createMemoryStore(), genesis)
    const ex = await newExecutor()
    const txs = [
      recordTx(alice, docHash('a'), { expiresAt: EXP, nonce: nonce++ }),
      kvSet('x', 'y'),
      recordTx(alice, docHash('a'), { expiresAt: EXP, nonce: nonce++ }),
    ]
    const { commit } = await executeAndCommit(chain, ex, validator, GENESIS_TIME + 5, txs)
    const { header } = commit.block
    expect(chain.head).toEqual({ height: 1, hash: commit.hash, header, stateRoot: header.stateRoot, timestamp: GENESIS_TIME + 5 })
    expect(header.prevHash).toEqual(genesisHash(genesis))
    expect(headerHash(header)).toEqual(commit.hash)
    expect(chain.getBlock(1)).toEqual(commit.block)
    expect(chain.getCertificate(1)).toEqual(commit.certificate)
    verifyCertificate(chain.getCertificate(1)!, genesis.chainId, 1, commit.hash, genesis.validators)
    const receipts = chain.getReceipts(1)!
    expect(receipts.bytes).toEqual(commit.receiptBytes)
    expect(merkleRoot(receipts.bytes)).toEqual(header.receiptRoot)
    expect(receipts.receipts.map((r) => r.errorCode)).toEqual(['', '', 'NOTARY_ALREADY_RECORDED'])
    expect(chain.heightOfHash(commit.hash)).toBe(1)
    for (const [i, t] of txs.entries()) expect(chain.txLocation(t.id)).toEqual({ height: 1, index: i })
    expect(chain.committedHeights([txs[1]!.id, new Uint8Array(32)])).toEqual([1, undefined])
    expect(chain.getBlock(2)).toBeUndefined()
    expect(chain.getReceipts(2)).toBeUndefined()
  })

  it('refuses a commit that is not on the head (CHAIN_CORRUPT) and writes nothing', async () => {
    const store = createMemoryStore()
    const chain = await ChainStore.open(store, genesis)
    const ex = await newExecutor()
    const txs = [kvSet('a', 1)]
    const exec = await ex.executeBlock({ chainId: genesis.chainId, height: 1, timestamp: GENESIS_TIME + 1, txs }, chain)
    const c = buildCommit(chain, validator, GENESIS_TIME + 1, txs, exec)
    await chain.commit(c, { sync: false })
    const before = await dump(store)
    expect(await errorCode(chain.commit(c, { sync: false }))).toBe('CHAIN_CORRUPT')
    expect(await dump(store)).toEqual(before)
    expect(chain.head.height).toBe(1)
  })

  it('is atomic: a failed write leaves neither data nor a moved head, and the same block commits afterwards', async () => {
    const { store, failNextWrite } = faultyStore()
    const chain = await ChainStore.open(store, genesis)
    const ex = await newExecutor()
    await executeAndCommit(chain, ex, validator, GENESIS_TIME + 1, [kvSet('a', 1)])
    const head = chain.head
    const before = await dump(store)
    const txs = [kvSet('a', 2), kvSet('b', 3)]
    const exec = await ex.executeBlock({ chainId: genesis.chainId, height: 2, timestamp: GENESIS_TIME + 2, txs }, chain)
    const c = buildCommit(chain, validator, GENESIS_TIME + 2, txs, exec)
    failNextWrite()
    expect(await errorCode(chain.commit(c, { sync: true }))).toBe('STORAGE_WRITE_FAILED')
    expect(chain.head).toBe(head)
    expect(await dump(store)).toEqual(before)
    expect((await ChainStore.open(store, genesis)).head).toEqual(head)
    await chain.commit(c, { sync: true })
    expect(chain.head.height).toBe(2)
    expect(chain.getLatest(stateKey('kv', 'a'))).toEqual(encodeValue(2))
  })
})

describe('ChainStore state history', () => {
  it('answers values at past heights, including deletions and neighbouring keys', async () => {
    const chain = await ChainStore.open(createMemoryStore(), genesis)
    const ex = await newExecutor()
    const t = (h: number) => GENESIS_TIME + h
    await executeAndCommit(chain, ex, validator, t(1), [kvSet('a', 1)]) // h1: a=1
    await executeAndCommit(chain, ex, validator, t(2), [kvSet('a', 2), kvSet('ab', 'x'), kvSet('b', 'y')]) // h2: a=2
    await executeAndCommit(chain, ex, validator, t(3), [kvDel('a')]) // h3: a deleted
    await executeAndCommit(chain, ex, validator, t(4), [kvSet('b', 'z')]) // h4: a untouched
    await executeAndCommit(chain, ex, validator, t(5), [kvSet('a', 5), kvSet('a', 6)]) // h5: two writes, last wins
    const sk = stateKey('kv', 'a')
    expect(await chain.getValueAt(sk, 0)).toBeUndefined()
    const at = async (h: number) => {
      const e = await chain.getValueAt(sk, h)
      return e === undefined ? 'absent' : e.value === null ? 'deleted' : decodeValue(e.value)
    }
    expect([await at(1), await at(2), await at(3), await at(4), await at(5), await at(99)]).toEqual([1, 2, 'deleted', 'deleted', 6, 6])
    expect((await chain.getValueAt(sk, 5))?.txIndex).toBe(1)
    expect(chain.getLatest(sk)).toEqual(encodeValue(6))
    expect(chain.getLatest(stateKey('kv', 'ab'))).toEqual(encodeValue('x'))
    expect(await chain.getValueAt(stateKey('kv', ''), 5)).toBeUndefined()
    expect(await chain.getValueAt(stateKey('kv', 'abc'), 5)).toBeUndefined()
    expect((await chain.getValueAt(stateKey('kv', 'b'), 3))?.value).toEqual(encodeValue('y'))
    // A key too long for the history's length field was never written: absent, not an error.
    expect(await chain.getValueAt(new Uint8Array(70_000), 5)).toBeUndefined()
    expect(await chain.history(new Uint8Array(70_000), 5, { height: 3, txIndex: 0 })).toEqual([])
  })

  it('pages a key history newest first with no gap or repeat', async () => {
    const chain = await ChainStore.open(createMemoryStore(), genesis)
    const ex = await newExecutor()
    const expected: Array<{ height: number; txIndex: number; value: Value | null; txId: string }> = []
    for (let h = 1; h <= 12; h++) {
      const txs: SignedTx[] = [kvSet('other', h)]
      const writes = h % 4 === 0 ? 0 : h % 3 === 0 ? 3 : 1
      for (let i = 0; i < writes; i++) txs.push(h % 5 === 0 && i === 0 ? kvDel('k') : kvSet('k', h * 10 + i))
      await executeAndCommit(chain, ex, validator, GENESIS_TIME + h, txs)
      txs.slice(1).forEach((tx, i) => {
        expected.push({ height: h, txIndex: i + 1, value: h % 5 === 0 && i === 0 ? null : h * 10 + i, txId: bytesToHex(tx.id) })
      })
    }
    expected.reverse()
    const sk = stateKey('kv', 'k')
    const toPlain = (e: HistoryEntry) => ({
      height: e.height,
      txIndex: e.txIndex,
      value: e.value === null ? null : decodeValue(e.value),
      txId: bytesToHex(e.txId),
    })
    expect((await chain.history(sk, 1000)).map(toPlain)).toEqual(expected)
    for (const limit of [1, 2, 3, 7]) {
      const seen: ReturnType<typeof toPlain>[] = []
      let before: { height: number; txIndex: number } | undefined
      for (;;) {
        const page = await chain.history(sk, limit, before)
        expect(page.length).toBeLessThanOrEqual(limit)
        if (page.length === 0) break
        seen.push(...page.map(toPlain))
        const last = page[page.length - 1] as HistoryEntry
        before = { height: last.height, txIndex: last.txIndex }
      }
      expect(seen).toEqual(expected)
    }
    expect(await chain.history(stateKey('kv', 'never'), 10)).toEqual([])
  })
})

describe('ChainStore range scans at past heights', () => {
  // Keys of several lengths, some prefixes of others: history entries sort by key length first.
  const names = ['a', 'ab', 'abc', 'abd', 'b', 'ba', 'bab', 'c', 'k1', 'k10', 'k2', 'z'.repeat(300)]
  const bounds = ['', 'a', 'ab', 'abc', 'b', 'bb', 'c', 'k', 'k10', 'k2', '~']

  it('finds a key equal to what the bounds share, stops at the limit in every key length, and keeps to its record budget', async () => {
    const chain = await ChainStore.open(createMemoryStore(), genesis)
    const ex = await newExecutor()
    await executeAndCommit(chain, ex, validator, GENESIS_TIME + 1, [kvSet('a', 1), kvSet('ab', 2), kvSet('abc', 3), kvSet('ac', 4)])
    await executeAndCommit(chain, ex, validator, GENESIS_TIME + 2, [kvDel('ab'), kvSet('a', 5)])
    await executeAndCommit(chain, ex, validator, GENESIS_TIME + 3, [kvSet('zz', 6)])
    const sk = (k: string) => stateKey('kv', k)
    const scan = async (lo: string, hi: string, reverse: boolean, limit: number, h: number) =>
      (await chain.scanAt(sk(lo), sk(hi), reverse, limit, h)).map(([k, v]) => `${bytesToHex(k).slice(6)}=${String(decodeValue(v))}`)
    const hex = (s: string) => bytesToHex(new TextEncoder().encode(s))
    // The key 'a' is the bounds' common part: the shortest key the range can hold.
    expect(await scan('a', 'ab', false, 5, 1)).toEqual([`${hex('a')}=1`])
    expect(await scan('a', 'b', false, 2, 1)).toEqual([`${hex('a')}=1`, `${hex('ab')}=2`])
    expect(await scan('a', 'b', false, 3, 2)).toEqual([`${hex('a')}=5`, `${hex('abc')}=3`, `${hex('ac')}=4`])
    expect(await scan('a', 'b', true, 2, 2)).toEqual([`${hex('ac')}=4`, `${hex('abc')}=3`])
    expect(await scan('a', 'b', false, 5, 0)).toEqual([])
    // The records one query's scans read are bounded, in all: a scan that needs n fits a budget of
    // n and fails with n - 1; two such scans need 2n.
    const used = scanBudget(1000)
    await chain.scanAt(sk('a'), sk('b'), false, 10, 2, used)
    const n = used.records - used.left
    expect(n).toBeGreaterThan(5)
    expect(await chain.scanAt(sk('a'), sk('b'), false, 10, 2, scanBudget(n))).toHaveLength(3)
    expect(await errorCode(chain.scanAt(sk('a'), sk('b'), false, 10, 2, scanBudget(n - 1)))).toBe('QUERY_HISTORY_TOO_LONG')
    const shared = scanBudget(2 * n)
    await chain.scanAt(sk('a'), sk('b'), false, 10, 2, shared)
    await chain.scanAt(sk('a'), sk('b'), false, 10, 2, shared)
    expect(await errorCode(chain.scanAt(sk('a'), sk('b'), false, 10, 2, shared))).toBe('QUERY_HISTORY_TOO_LONG')
  })

  it('property: a scan at every height equals that height’s state, in both directions, with any limit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.record({ del: fc.boolean(), key: fc.constantFrom(...names) }), { maxLength: 6 }), {
          minLength: 1,
          maxLength: 7,
        }),
        fc.array(
          fc.record({
            lo: fc.constantFrom(...bounds),
            hi: fc.constantFrom(...bounds),
            reverse: fc.boolean(),
            limit: fc.integer({ min: 1, max: 6 }),
          }),
          {
            minLength: 1,
            maxLength: 5,
          },
        ),
        async (blocks, scans) => {
          const chain = await ChainStore.open(createMemoryStore(), genesis)
          const ex = await newExecutor()
          // Each key's value after the block at each height.
          const states: Array<Map<string, Uint8Array>> = [new Map()]
          for (const [i, ops] of blocks.entries()) {
            // Every value written is distinct, so an answer from the wrong version cannot match by chance.
            const txs = ops.map((o, j) => (o.del ? kvDel(o.key) : kvSet(o.key, i * 100 + j)))
            const timestamp = GENESIS_TIME + 1 + i
            const exec = await ex.executeBlock({ chainId: genesis.chainId, height: i + 1, timestamp, txs }, chain.tipState)
            const next = new Map(states[i])
            for (const w of exec.writes) {
              if (w.value === null) next.delete(bytesToHex(w.stateKey))
              else next.set(bytesToHex(w.stateKey), w.value)
            }
            states.push(next)
            await chain.commit(buildCommit(chain, validator, timestamp, txs, exec), { sync: false })
          }
          for (const { lo, hi, reverse, limit } of scans) {
            const lower = stateKey('kv', lo)
            const upper = stateKey('kv', hi)
            for (let h = 0; h < states.length; h++) {
              const expected = [...(states[h] as Map<string, Uint8Array>)]
                .map(([k, v]) => [hexToBytes(k), v] as [Uint8Array, Uint8Array])
                .filter(([k]) => Buffer.compare(k, lower) >= 0 && Buffer.compare(k, upper) < 0)
                .sort((a, b) => (reverse ? -1 : 1) * Buffer.compare(a[0], b[0]))
                .slice(0, limit)
              expect(await chain.scanAt(lower, upper, reverse, limit, h)).toEqual(expected)
            }
          }
        },
      ),
      { numRuns: 80 },
    )
  })
})

type Op = { kind: 'set' | 'del' | 'record' | 'bad'; key: number; value: number }
const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom('set', 'set', 'del', 'record', 'bad'),
  key: fc.nat(8),
  value: fc.integer({ min: -1000, max: 1000 }),
})

function txFor(op: Op): SignedTx {
  switch (op.kind) {
    case 'set':
      return kvSet(`k${op.key}`, op.value)
    case 'del':
      return kvDel(`k${op.key}`)
    case 'record':
      return recordTx(alice, docHash(op.key), { expiresAt: EXP, nonce: nonce++, meta: { v: op.value } })
    case 'bad':
      return callTx(alice, { key: `k${op.key}` }, { contract: 'kv', method: 'setThenFail', expiresAt: EXP, nonce: nonce++ })
  }
}

describe('ChainStore with a separate archive', () => {
  const isArchiveKey = (entry: string) => entry.startsWith(PREFIX.archive.toString(16))

  it('writes blocks, certificates, receipts and tree nodes to the archive and everything else to the main store', async () => {
    const main = createMemoryStore()
    const archive = createMemoryStore()
    const shared = createMemoryStore()
    const chain = await ChainStore.open(main, genesis, GENESIS_TIME, archive)
    const reference = await ChainStore.open(shared, genesis, GENESIS_TIME)
    const txs = [kvSet('a', 1), recordTx(alice, docHash('z'), { expiresAt: EXP, nonce: nonce++ }), kvDel('b')]
    // One commit for both (certificate signatures are randomised).
    const { commit } = await executeAndCommit(chain, await newExecutor(), validator, GENESIS_TIME + 1, txs)
    await reference.commit(commit, { sync: false })
    const [m, a, s] = [await dump(main), await dump(archive), await dump(shared)]
    expect(a.length).toBeGreaterThan(3)
    expect(a.every(isArchiveKey)).toBe(true)
    expect(m.some(isArchiveKey)).toBe(false)
    // Split or not, the same records are written.
    expect([...m, ...a].sort()).toEqual([...s].sort())
    const again = await ChainStore.open(main, genesis, GENESIS_TIME, archive)
    expect(again.head).toEqual(reference.head)
    expect(again.getBlock(1)).toEqual(reference.getBlock(1))
    expect(again.getLatest(stateKey('kv', 'a'))).toEqual(encodeValue(1))
  })

  it('after a crash between the archive write and the main write, reopens at the previous head without the orphaned records', async () => {
    const { store: main, failNextWrite } = faultyStore()
    const archive = createMemoryStore()
    const chain = await ChainStore.open(main, genesis, GENESIS_TIME, archive)
    await executeAndCommit(chain, await newExecutor(), validator, GENESIS_TIME + 1, [kvSet('a', 1)])
    const head = chain.head
    const [mainBefore, archiveBefore] = [await dump(main), await dump(archive)]
    // Block 2 reaches the archive only: the main write (indexes, values, head) fails.
    const ex = await newExecutor()
    const txs = [kvSet('a', 2), kvSet('orphan', 'x')]
    const exec = await ex.executeBlock({ chainId: genesis.chainId, height: 2, timestamp: GENESIS_TIME + 2, txs }, chain)
    failNextWrite()
    expect(await errorCode(chain.commit(buildCommit(chain, validator, GENESIS_TIME + 2, txs, exec), { sync: true }))).toBe(
      'STORAGE_WRITE_FAILED',
    )
    expect(await dump(main)).toEqual(mainBefore)
    expect((await dump(archive)).length).toBeGreaterThan(archiveBefore.length)
    // Nothing above the head is readable, although the archive holds it.
    expect(chain.head).toBe(head)
    expect(chain.getBlock(2)).toBeUndefined()
    expect(chain.getCertificate(2)).toBeUndefined()
    expect(chain.getReceipts(2)).toBeUndefined()
    // Reopening deletes the orphaned records; another block 2 then commits.
    const reopened = await ChainStore.open(main, genesis, GENESIS_TIME, archive)
    expect(reopened.head).toEqual(head)
    expect(await dump(archive)).toEqual(archiveBefore)
    await executeAndCommit(reopened, await newExecutor(), validator, GENESIS_TIME + 3, [kvSet('b', 3)])
    expect(reopened.head.height).toBe(2)
    expect(reopened.getBlock(2)?.header.timestamp).toBe(GENESIS_TIME + 3)
    expect(reopened.getLatest(stateKey('kv', 'a'))).toEqual(encodeValue(1))
    expect(reopened.getLatest(stateKey('kv', 'orphan'))).toBeUndefined()
    const kh = stateKeyHash(stateKey('kv', 'orphan'))
    expect(verifyStateProof(reopened.head.stateRoot, kh, null, reopened.tree.prove(2, kh))).toBe(true)
  })

  it('writes nothing to the main store when the archive write fails', async () => {
    const main = createMemoryStore()
    const { store: archive, failNextWrite } = faultyStore()
    const chain = await ChainStore.open(main, genesis, GENESIS_TIME, archive)
    await executeAndCommit(chain, await newExecutor(), validator, GENESIS_TIME + 1, [kvSet('a', 1)])
    const [mainBefore, archiveBefore] = [await dump(main), await dump(archive)]
    const txs = [kvSet('a', 2)]
    const exec = await (await newExecutor()).executeBlock({ chainId: genesis.chainId, height: 2, timestamp: GENESIS_TIME + 2, txs }, chain)
    const c = buildCommit(chain, validator, GENESIS_TIME + 2, txs, exec)
    failNextWrite()
    expect(await errorCode(chain.commit(c, { sync: true }))).toBe('STORAGE_WRITE_FAILED')
    expect([await dump(main), await dump(archive)]).toEqual([mainBefore, archiveBefore])
    await chain.commit(c, { sync: true })
    expect(chain.head.height).toBe(2)
  })

  it('deletes orphaned records in batches, however many there are', async () => {
    const main = createMemoryStore()
    const archive = createMemoryStore()
    const chain = await ChainStore.open(main, genesis, GENESIS_TIME, archive)
    await executeAndCommit(chain, await newExecutor(), validator, GENESIS_TIME + 1, [kvSet('a', 1)])
    const before = await dump(archive)
    const junk: BatchOp[] = []
    // Orphans of the two blocks a producer writes at once (heights 2 and 3 on head 1).
    for (let i = 0; i < 25_000; i++) {
      const k = new Uint8Array(14)
      k.set(archiveFrom(2 + (i % 2)))
      new DataView(k.buffer).setUint32(10, i)
      junk.push({ type: 'put', key: k, value: Uint8Array.of(i & 255) })
    }
    await archive.write(junk)
    const reopened = await ChainStore.open(main, genesis, GENESIS_TIME, archive)
    expect(reopened.head).toEqual(chain.head)
    expect(await dump(archive)).toEqual(before)
    let left = 0
    for await (const _ of archive.iterate({ gte: archiveFrom(2), lt: ARCHIVE_END })) left++
    expect(left).toBe(0)
  })

  it('refuses, deleting nothing, an archive with records far above the head (a main store older than its archive)', async () => {
    const main = createMemoryStore()
    const archive = createMemoryStore()
    const chain = await ChainStore.open(main, genesis, GENESIS_TIME, archive)
    const ex = await newExecutor()
    await executeAndCommit(chain, ex, validator, GENESIS_TIME + 1, [kvSet('a', 1)])
    const oldMain = await dump(main)
    for (let h = 2; h <= 4; h++) await executeAndCommit(chain, ex, validator, GENESIS_TIME + h, [kvSet('a', h)])
    // The main store goes back to height 1 (a restored backup); the archive keeps blocks 2-4.
    const restored = createMemoryStore()
    await restored.write(oldMain.map((e) => ({ type: 'put', key: hexToBytes(e.split('=')[0]!), value: hexToBytes(e.split('=')[1]!) })))
    const archiveBefore = await dump(archive)
    expect(await errorCode(ChainStore.open(restored, genesis, GENESIS_TIME, archive))).toBe('CHAIN_CORRUPT')
    expect(await dump(archive)).toEqual(archiveBefore)
  })

  it('refuses an archive of another chain, and one with blocks next to an empty main store', async () => {
    const archive = createMemoryStore()
    const chain = await ChainStore.open(createMemoryStore(), genesis, GENESIS_TIME, archive)
    await executeAndCommit(chain, await newExecutor(), validator, GENESIS_TIME + 1, [kvSet('a', 1)])
    const archiveBefore = await dump(archive)
    const other = makeGenesis(validator, { chainId: 'other-chain' })
    expect(await errorCode(ChainStore.open(createMemoryStore(), other, GENESIS_TIME, archive))).toBe('GENESIS_MISMATCH')
    expect(await errorCode(ChainStore.open(createMemoryStore(), genesis, GENESIS_TIME, archive))).toBe('CHAIN_CORRUPT')
    expect(await dump(archive)).toEqual(archiveBefore)
    // An archive with only the genesis records (a crash while a new chain was being created) is reused.
    const fresh = createMemoryStore()
    await ChainStore.open(createMemoryStore(), genesis, GENESIS_TIME, fresh)
    expect((await ChainStore.open(createMemoryStore(), genesis, GENESIS_TIME, fresh)).head.height).toBe(0)
  })

  it('does not report a tx or block hash as committed before the head has moved to its block', async () => {
    const inner = createMemoryStore()
    let release: (() => void) | undefined
    let landed = 0
    // A store whose writes land at once but report completion only when released: the window between
    // LevelDB applying a batch and its callback moving the head.
    const main = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'write') {
          return async (ops: readonly BatchOp[], o?: { sync?: boolean }) => {
            await target.write(ops, o)
            landed++
            if (release === undefined) return
            await new Promise<void>((resolve) => (release = resolve))
          }
        }
        const v = Reflect.get(target, prop, receiver)
        return typeof v === 'function' ? v.bind(target) : v
      },
    })
    const chain = await ChainStore.open(main, genesis, GENESIS_TIME, createMemoryStore())
    const txs = [kvSet('a', 1)]
    const exec = await (await newExecutor()).executeBlock({ chainId: genesis.chainId, height: 1, timestamp: GENESIS_TIME + 1, txs }, chain)
    const c = buildCommit(chain, validator, GENESIS_TIME + 1, txs, exec)
    release = () => undefined
    const before = landed
    const w = chain.commit(c, { sync: true })
    while (landed === before) await new Promise((r) => setTimeout(r, 1))
    expect(inner.get(txIndexKey(txs[0]!.id))).toBeDefined()
    expect(chain.txLocation(txs[0]!.id)).toBeUndefined()
    expect(chain.heightOfHash(c.hash)).toBeUndefined()
    release()
    await w
    expect(chain.txLocation(txs[0]!.id)).toEqual({ height: 1, index: 0 })
    expect(chain.heightOfHash(c.hash)).toBe(1)
  })

  it('property: with crashes between or during the two writes, the chain equals one that never crashed', async () => {
    // Each block either commits, fails in its archive write, or lands in the archive only (a crash
    // between the writes; the node reopens). A failed block is then retried with a later timestamp.
    // Whatever happened, the records of both stores together are those of a single-store chain that
    // committed the same blocks without a fault.
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ ops: fc.array(opArb, { maxLength: 6 }), fault: fc.constantFrom('none', 'none', 'archive', 'main') }), {
          minLength: 1,
          maxLength: 6,
        }),
        async (blocks) => {
          const m = faultyStore()
          const a = faultyStore()
          let chain = await ChainStore.open(m.store, genesis, GENESIS_TIME, a.store)
          const reference = await ChainStore.open(createMemoryStore(), genesis, GENESIS_TIME)
          let t = GENESIS_TIME
          for (const { ops, fault } of blocks) {
            const txs = ops.map(txFor)
            if (fault !== 'none') {
              const exec = await (
                await newExecutor()
              ).executeBlock({ chainId: genesis.chainId, height: chain.head.height + 1, timestamp: ++t, txs }, chain)
              const c = buildCommit(chain, validator, t, txs, exec)
              ;(fault === 'archive' ? a : m).failNextWrite()
              expect(await errorCode(chain.commit(c, { sync: false }))).toBe('STORAGE_WRITE_FAILED')
              chain = await ChainStore.open(m.store, genesis, GENESIS_TIME, a.store)
            }
            const time = ++t
            // One commit for both (certificate signatures are randomised).
            const { commit } = await executeAndCommit(chain, await newExecutor(), validator, time, txs)
            await reference.commit(commit, { sync: false })
          }
          expect(chain.head).toEqual(reference.head)
          expect([...(await dump(m.store)), ...(await dump(a.store))].sort()).toEqual((await dump(reference.store)).sort())
        },
      ),
      { numRuns: 25, seed: 0x5eed },
    )
  })

  it('commits a block on top of one still being written; the head moves in order and reads stay durable', async () => {
    const main = createMemoryStore()
    const archive = createMemoryStore()
    const chain = await ChainStore.open(main, genesis, GENESIS_TIME, archive)
    const ex = await newExecutor()
    const exec = (txs: SignedTx[], t: number) =>
      ex.executeBlock({ chainId: genesis.chainId, height: chain.tip.height + 1, timestamp: t, txs }, chain.tipState)
    const txs1 = [kvSet('a', 1), kvSet('b', 1)]
    const c1 = buildCommit(chain, validator, GENESIS_TIME + 1, txs1, await exec(txs1, GENESIS_TIME + 1))
    const w1 = chain.commit(c1, { sync: true })
    expect(chain.tip.height).toBe(1)
    expect(chain.head.height).toBe(0)
    // Block 2 executes on block 1's state while block 1 is written.
    const txs2 = [kvSet('a', 2), kvDel('b')]
    const e2 = await exec(txs2, GENESIS_TIME + 2)
    const c2 = buildCommit(chain, validator, GENESIS_TIME + 2, txs2, e2)
    expect(c2.block.header.prevHash).toEqual(c1.hash)
    const w2 = chain.commit(c2, { sync: true })
    expect(chain.tip.height).toBe(2)
    expect(chain.tipState.getLatest(stateKey('kv', 'a'))).toEqual(encodeValue(2))
    expect(chain.tipState.getLatest(stateKey('kv', 'b'))).toBeUndefined()
    expect(await chain.tipState.scanLatest(stateKey('kv', ''), stateKey('kv', '~'), false, 10)).toEqual([
      [stateKey('kv', 'a'), encodeValue(2)],
    ])
    expect(chain.getBlock(1)).toBeUndefined()
    const heads: number[] = []
    await Promise.all([w1.then(() => heads.push(chain.head.height)), w2.then(() => heads.push(chain.head.height))])
    expect(heads).toEqual([1, 2])
    expect(chain.tip).toBe(chain.head)
    const reopened = await ChainStore.open(main, genesis, GENESIS_TIME, archive)
    expect(reopened.head).toEqual(chain.head)
    expect(reopened.getLatest(stateKey('kv', 'a'))).toEqual(encodeValue(2))
    expect(reopened.getLatest(stateKey('kv', 'b'))).toBeUndefined()
  })

  it('when a block fails to be written, the block committed on top of it fails too and both can be committed again', async () => {
    const { store: main, failNextWrite } = faultyStore()
    const archive = createMemoryStore()
    const chain = await ChainStore.open(main, genesis, GENESIS_TIME, archive)
    const ex = await newExecutor()
    const build = async (txs: SignedTx[], t: number) =>
      buildCommit(
        chain,
        validator,
        t,
        txs,
        await ex.executeBlock({ chainId: genesis.chainId, height: chain.tip.height + 1, timestamp: t, txs }, chain.tipState),
      )
    const c1 = await build([kvSet('a', 1)], GENESIS_TIME + 1)
    failNextWrite()
    const w1 = chain.commit(c1, { sync: true })
    const c2 = await build([kvSet('a', 2)], GENESIS_TIME + 2)
    const w2 = chain.commit(c2, { sync: true })
    expect(await errorCode(w1)).toBe('STORAGE_WRITE_FAILED')
    expect(await errorCode(w2)).toBe('STORAGE_WRITE_FAILED')
    expect(chain.tip).toBe(chain.head)
    expect(chain.head.height).toBe(0)
    expect((await ChainStore.open(main, genesis, GENESIS_TIME, archive)).head.height).toBe(0)
    await chain.commit(c1, { sync: true })
    await chain.commit(c2, { sync: true })
    expect(chain.head.hash).toEqual(c2.hash)
    expect(chain.getLatest(stateKey('kv', 'a'))).toEqual(encodeValue(2))
  })

  it('refuses a main store whose head block the archive lacks (CHAIN_CORRUPT)', async () => {
    const main = createMemoryStore()
    const chain = await ChainStore.open(main, genesis, GENESIS_TIME, createMemoryStore())
    await executeAndCommit(chain, await newExecutor(), validator, GENESIS_TIME + 1, [kvSet('a', 1)])
    expect(await errorCode(ChainStore.open(main, genesis, GENESIS_TIME, createMemoryStore()))).toBe('CHAIN_CORRUPT')
  })

  it('refuses a store written in another storage format (STORE_FORMAT_UNSUPPORTED)', async () => {
    const store = createMemoryStore()
    await ChainStore.open(store, genesis)
    expect(store.get(META.format)).toEqual(Uint8Array.of(0, 0, 0, STORE_FORMAT))
    await store.put(META.format, Uint8Array.of(0, 0, 0, STORE_FORMAT + 1))
    expect(await errorCode(ChainStore.open(store, genesis))).toBe('STORE_FORMAT_UNSUPPORTED')
    await store.delete(META.format)
    expect(await errorCode(ChainStore.open(store, genesis))).toBe('STORE_FORMAT_UNSUPPORTED')
  })
})

describe('ChainStore reproducibility', () => {
  it('re-executing the blocks on a fresh store reproduces every header, receipt and state root', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { maxLength: 10 }), { minLength: 1, maxLength: 8 }), async (blocks) => {
        const original = await ChainStore.open(createMemoryStore(), genesis)
        for (const [i, ops] of blocks.entries())
          await executeAndCommit(original, await newExecutor(), validator, GENESIS_TIME + 1 + i, ops.map(txFor))
        const fresh = await ChainStore.open(createMemoryStore(), genesis)
        const ex = await newExecutor()
        for (let h = 1; h <= original.head.height; h++) {
          const block = original.getBlock(h)!
          const replayed = await replayBlock(fresh, ex, validator, block, original.getCertificate(h)!)
          expect(replayed.header).toEqual(block.header)
          expect(replayed.receiptBytes).toEqual(original.getReceipts(h)!.bytes)
          expect(fresh.head.hash).toEqual(headerHash(block.header))
        }
        expect(fresh.head).toEqual(original.head)
        // The root depends only on the final contents: building the tree in one go gives the same root.
        const latest: Array<{ keyHash: Uint8Array; valueHash: Uint8Array }> = []
        const keys = [
          ...Array.from({ length: 9 }, (_, k) => stateKey('kv', `k${k}`)),
          ...Array.from({ length: 9 }, (_, k) => stateKey('notary', `doc:${docHash(k)}`)),
        ]
        for (const sk of keys) {
          const v = original.getLatest(sk)
          if (v !== undefined) latest.push({ keyHash: stateKeyHash(sk), valueHash: stateValueHash(v) })
          // Every key's value (or absence) at the head is proven by the head's state root.
          const proof = original.tree.prove(original.head.height, stateKeyHash(sk))
          expect(verifyStateProof(original.head.stateRoot, stateKeyHash(sk), v === undefined ? null : stateValueHash(v), proof)).toBe(true)
        }
        const nodes = new Map<string, Uint8Array>()
        const scratch = new StateTree({ getNode: (k: Uint8Array) => nodes.get(bytesToHex(k)) })
        expect(scratch.update(null, 1, latest).root).toEqual(original.head.stateRoot)
      }),
      { numRuns: 30, seed: 0xc4a1 },
    )
  })
})

describe('ChainStore latest-value cache', () => {
  it('property: reads at the head and the tip equal the values at their height, through pipelined commits and failed writes', async () => {
    const keys = Array.from({ length: 9 }, (_, k) => stateKey('kv', `k${k}`))
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ ops: fc.array(opArb, { maxLength: 10 }), overlap: fc.boolean(), fail: fc.constantFrom(false, false, false, true) }),
          { minLength: 1, maxLength: 10 },
        ),
        async (blocks) => {
          const { store, failNextWrite } = faultyStore()
          const chain = await ChainStore.open(store, genesis)
          const ex = await newExecutor()
          // Every key's value after the block at each height (of the blocks built last at that height).
          const values = new Map<number, Map<string, Uint8Array | undefined>>([[0, new Map()]])
          const at = (height: number, sk: Uint8Array) => (values.get(height) as Map<string, Uint8Array | undefined>).get(bytesToHex(sk))
          const check = (settled: boolean) => {
            for (const sk of keys) {
              expect(chain.tipState.getLatest(sk)).toEqual(at(chain.tip.height, sk))
              // While a block is being written its batch may land before the head moves, and a read at
              // the head that misses the cache then sees it: only keys no pending block changes are
              // checked then.
              const stable = settled || at(chain.tip.height, sk) === at(chain.head.height, sk)
              if (stable) expect(chain.getLatest(sk)).toEqual(at(chain.head.height, sk))
              else chain.getLatest(sk)
            }
          }
          let writing: Promise<unknown> | undefined
          for (const [i, { ops, overlap, fail }] of blocks.entries()) {
            if (!overlap) {
              await writing
              check(true)
            }
            const txs = ops.map(txFor)
            const timestamp = GENESIS_TIME + 1 + i
            const parent = chain.tip.height
            const exec = await ex.executeBlock({ chainId: genesis.chainId, height: parent + 1, timestamp, txs }, chain.tipState)
            const next = new Map(values.get(parent))
            for (const w of exec.writes) next.set(bytesToHex(w.stateKey), w.value ?? undefined)
            values.set(parent + 1, next)
            if (fail) failNextWrite()
            // A failed write takes its block, and those built on it, off the tip.
            writing = chain.commit(buildCommit(chain, validator, timestamp, txs, exec), { sync: false }).catch(() => undefined)
            check(false)
          }
          await writing
          check(true)
          const fresh = await ChainStore.open(store, genesis)
          expect(fresh.head).toEqual(chain.head)
          for (const sk of keys) expect(fresh.getLatest(sk)).toEqual(at(chain.head.height, sk))
        },
      ),
      { numRuns: 60, seed: 0x1a7e },
    )
  })
})
