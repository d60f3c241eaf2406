import {
  createSignedTx,
  type Genesis,
  genesisHash,
  headerHash,
  merkleRoot,
  type SignedTx,
  stateKey,
  validatorSetHash,
  verifyCertificate,
} from '@trellis/ledger'
import { type BatchOp, createMemoryStore, type KVStore } from '@trellis/storage'
import { bytesToHex, TrellisError } from '@trellis/utils'
import { afterEach, describe, expect, it } from 'vitest'
import { callTx, docHash, GENESIS_TIME, kvContract, makeGenesis, recordTx, silentLogger, testKey } from '../../../test/support/fixtures.js'
import {
  BlockProducer,
  ContractExecutor,
  ChainStore,
  type CommittedBlock,
  defaultNodeOptions,
  Mempool,
  type NodeOptions,
  notaryContract,
  TrellisNode,
} from '../src/index.js'

const validator = testKey(0)
const alice = testKey(1)
const bob = testKey(2)

interface Rig {
  chain: ChainStore
  mempool: Mempool
  producer: BlockProducer
  committed: CommittedBlock[]
  clock: { now: number }
}

async function rig(o: { genesis?: Genesis; createEmptyBlocks?: boolean; targetBlockTxs?: number; store?: KVStore } = {}): Promise<Rig> {
  const genesis = o.genesis ?? makeGenesis(validator)
  const chain = await ChainStore.open(o.store ?? createMemoryStore(), genesis)
  const mempool = new Mempool()
  const clock = { now: GENESIS_TIME + 1000 }
  const committed: CommittedBlock[] = []
  const producer = new BlockProducer(
    { blockIntervalMs: 10, targetBlockTxs: o.targetBlockTxs ?? 2000, createEmptyBlocks: o.createEmptyBlocks ?? false, syncWrites: false },
    {
      chain,
      mempool,
      executor: await ContractExecutor.create({ builtins: [notaryContract, kvContract] }),
      params: genesis.params,
      validators: genesis.validators,
      validatorKey: validator.privateKey,
      validatorPublicKey: validator.publicKey,
      validatorIndex: 0,
      clock: () => clock.now,
      logger: silentLogger,
      metrics: null,
      onCommit: (b) => committed.push(b),
    },
  )
  return { chain, mempool, producer, committed, clock }
}

const EXP = GENESIS_TIME + 3_600_000
let nonce = 0
const rec = (label: string, kp = alice, expiresAt = EXP) => recordTx(kp, docHash(label), { expiresAt, nonce: nonce++ })

function allCommittedIds(chain: ChainStore): string[] {
  const out: string[] = []
  for (let h = 1; h <= chain.head.height; h++) for (const t of chain.getBlock(h)?.txs ?? []) out.push(bytesToHex(t.id))
  return out
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void
  let reject!: (e: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => undefined)
  return { promise, resolve, reject }
}

/** A memory store whose writes can be held at a gate the test then opens (or fails), to hold a block mid-write. */
function gatedStore(): { store: KVStore; writesStarted: () => number; hold: () => void; open: () => void; fail: () => void } {
  const inner = createMemoryStore()
  let started = 0
  let gate = deferred()
  gate.resolve() // open until held
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'write') {
        return async (ops: readonly BatchOp[], o?: { sync?: boolean }) => {
          started++
          await gate.promise
          return target.write(ops, o)
        }
      }
      const v = Reflect.get(target, prop, receiver)
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
  return {
    store,
    writesStarted: () => started,
    hold: () => {
      gate = deferred()
    },
    open: () => gate.resolve(),
    fail: () => {
      gate.reject(new TrellisError({ code: 'STORAGE_WRITE_FAILED' }, 'injected write failure'))
    },
  }
}

const kvSet = (key: string, value: number, n: number) =>
  callTx(alice, { key, value }, { contract: 'kv', method: 'set', expiresAt: EXP, nonce: 10_000 + n })

async function until(f: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !f(); i++) await new Promise((resolve) => setTimeout(resolve, 2))
  expect(f()).toBe(true)
}

describe('pipelined production', () => {
  it('executes block N+1 on top of block N while N is being written; nothing unwritten is visible', async () => {
    const g = gatedStore()
    const r = await rig({ store: g.store })
    g.hold()
    const before = g.writesStarted()
    r.mempool.add(kvSet('k', 1, 1))
    const first = r.producer.produce()
    await until(() => g.writesStarted() === before + 1)
    // Block 1 is being written: it is the tip for building, but not the head anyone reads.
    expect(r.chain.tip.height).toBe(1)
    expect(r.chain.head.height).toBe(0)
    expect(r.chain.getBlock(1)).toBeUndefined()
    r.mempool.add(kvSet('k', 2, 2))
    const second = r.producer.produce()
    await new Promise((resolve) => setTimeout(resolve, 20))
    // Block 2 waits for block 1's write before writing itself.
    expect(g.writesStarted()).toBe(before + 1)
    expect(r.committed).toHaveLength(0)
    g.open()
    const [b1, b2] = await Promise.all([first, second])
    expect([b1?.block.header.height, b2?.block.header.height]).toEqual([1, 2])
    expect(b2?.block.header.prevHash).toEqual(b1?.hash)
    // kv.set returns the previous value: block 2 saw block 1's write while it was still unwritten.
    expect(b2?.receipts[0]?.returnValue).toBe(1)
    expect(r.committed.map((b) => b.block.header.height)).toEqual([1, 2])
    expect(r.chain.head.height).toBe(2)
    expect(r.chain.head.stateRoot).toEqual(b2?.block.header.stateRoot)
  })

  it('a failed write fails the block built on top of it too, and leaves the head where it was', async () => {
    const g = gatedStore()
    const r = await rig({ store: g.store })
    g.hold()
    const before = g.writesStarted()
    r.mempool.add(kvSet('f', 1, 3))
    const first = r.producer.produce()
    await until(() => g.writesStarted() === before + 1)
    r.mempool.add(kvSet('f', 2, 4))
    const second = r.producer.produce()
    g.fail()
    const codes = await Promise.all(
      [first, second].map((p) =>
        p.then(
          () => 'ok',
          (e: { code?: string }) => e.code,
        ),
      ),
    )
    expect(codes).toEqual(['STORAGE_WRITE_FAILED', 'STORAGE_WRITE_FAILED'])
    expect(r.chain.head.height).toBe(0)
    expect(r.chain.tip.height).toBe(0)
    expect(r.committed).toHaveLength(0)
  })

  it('after a failed write, builds nothing more, even on a tip that looks intact, and reports that failure', async () => {
    const g = gatedStore()
    const r = await rig({ store: g.store })
    r.mempool.add(kvSet('g', 1, 5))
    await r.producer.produce()
    g.hold()
    r.mempool.add(kvSet('g', 2, 6))
    const failing = r.producer.produce()
    g.fail()
    expect(
      await failing.then(
        () => 'ok',
        (e: { code?: string }) => e.code,
      ),
    ).toBe('STORAGE_WRITE_FAILED')
    // Block 1 is durable and the tip again; block 2's tx is still in flight in the mempool.
    expect(r.chain.tip.height).toBe(1)
    g.hold()
    g.open()
    r.mempool.add(kvSet('g', 3, 7))
    const writes = g.writesStarted()
    expect(
      await r.producer.produce().then(
        () => 'ok',
        (e: { code?: string }) => e.code,
      ),
    ).toBe('STORAGE_WRITE_FAILED')
    expect(g.writesStarted()).toBe(writes)
    expect(r.chain.head.height).toBe(1)
  })
})

describe('BlockProducer.produce', () => {
  it('builds a linked, certified block whose roots match its content, and reports it', async () => {
    const r = await rig()
    const txs = [rec('a'), rec('b', bob), rec('c')]
    for (const t of txs) r.mempool.add(t)
    const b1 = await r.producer.produce()
    expect(b1).toBeDefined()
    const { header } = b1!.block
    const genesis = r.chain.genesis
    expect(header).toMatchObject({ chainId: genesis.chainId, height: 1, timestamp: r.clock.now, txCount: 3 })
    expect(header.prevHash).toEqual(genesisHash(genesis))
    expect(header.validatorSetHash).toEqual(validatorSetHash(genesis.validators))
    expect(header.txRoot).toEqual(merkleRoot(b1!.block.txs.map((t) => t.bytes)))
    expect(b1!.hash).toEqual(headerHash(header))
    verifyCertificate(b1!.certificate, genesis.chainId, 1, b1!.hash, genesis.validators)
    expect(r.committed).toEqual([b1])
    expect(r.chain.head.hash).toEqual(b1!.hash)
    expect(new Set(b1!.block.txs.map((t) => bytesToHex(t.id)))).toEqual(new Set(txs.map((t) => bytesToHex(t.id))))
    for (const t of txs) expect(r.mempool.has(t.id)).toBe(false)
    expect(r.mempool.size).toBe(0)

    r.mempool.add(rec('d'))
    const b2 = await r.producer.produce()
    expect(b2!.block.header.prevHash).toEqual(b1!.hash)
    expect(r.chain.head.height).toBe(2)
  })

  it('leaves every key its blocks set in the head key filter (reads that miss the latest-value cache rely on it)', async () => {
    const r = await rig()
    const kv = (method: string, args: Record<string, string>) =>
      callTx(alice, args, { contract: 'kv', method, expiresAt: EXP, nonce: nonce++ })
    for (const k of ['a', 'b', 'c']) r.mempool.add(kv('set', { key: k, value: k }))
    await r.producer.produce()
    r.mempool.add(kv('del', { key: 'b' }))
    r.mempool.add(kv('set', { key: 'd', value: 'd' }))
    await r.producer.produce()
    for (const k of ['a', 'c', 'd']) expect(r.chain.keyFilterMightContain(stateKey('kv', k))).toBe(true)
    expect(r.chain.getLatest(stateKey('kv', 'b'))).toBeUndefined()
  })

  it('keeps timestamps strictly increasing even when the clock stalls or goes back', async () => {
    const r = await rig()
    const stamps: number[] = []
    for (const step of [0, 0, -500, 10, -1]) {
      r.clock.now += step
      r.mempool.add(rec(`t${stamps.length}`))
      stamps.push((await r.producer.produce())!.block.header.timestamp)
    }
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1] as number)
  })

  it('produces no empty blocks unless asked to', async () => {
    const r = await rig()
    expect(await r.producer.produce()).toBeUndefined()
    expect(r.chain.head.height).toBe(0)
    const e = await rig({ createEmptyBlocks: true })
    const b = await e.producer.produce()
    expect(b?.block.txs).toEqual([])
    expect(b?.block.header.txRoot).toEqual(merkleRoot([]))
    expect(e.chain.head.height).toBe(1)
  })

  it('splits the mempool by maxBlockTxs and maxBlockBytes', async () => {
    const r = await rig({ genesis: makeGenesis(validator, { params: { maxBlockTxs: 5 } }) })
    for (let i = 0; i < 12; i++) r.mempool.add(rec(`split${i}`, testKey(3 + (i % 4))))
    const sizes: number[] = []
    while (r.mempool.size > 0) sizes.push((await r.producer.produce())!.block.txs.length)
    expect(sizes).toEqual([5, 5, 2])
    const one = rec('size-probe')
    const s = await rig({ genesis: makeGenesis(validator, { params: { maxBlockBytes: 2 * one.bytes.length + 10 } }) })
    for (let i = 0; i < 5; i++) s.mempool.add(rec(`bytes${i}`, testKey(3 + i)))
    expect((await s.producer.produce())!.block.txs).toHaveLength(2)
  })

  it("caps blocks at the producer's targetBlockTxs, below the chain's maxBlockTxs", async () => {
    const r = await rig({ targetBlockTxs: 4 })
    for (let i = 0; i < 10; i++) r.mempool.add(rec(`target${i}`, testKey(3 + (i % 4))))
    const sizes: number[] = []
    while (r.mempool.size > 0) sizes.push((await r.producer.produce())!.block.txs.length)
    expect(sizes).toEqual([4, 4, 2])
  })

  it('never includes an expired tx', async () => {
    const r = await rig()
    const stale = rec('stale', alice, r.clock.now) // expires exactly at the next block time
    const fresh = rec('fresh', bob)
    r.mempool.add(stale)
    r.mempool.add(fresh)
    const b = await r.producer.produce()
    expect(b!.block.txs.map((t) => bytesToHex(t.id))).toEqual([bytesToHex(fresh.id)])
    expect(r.chain.txLocation(stale.id)).toBeUndefined()
  })
})

describe('replay protection', () => {
  it('never includes a committed tx again, even when it re-enters the mempool (also with another signature)', async () => {
    const r = await rig()
    const tx = rec('once')
    r.mempool.add(tx)
    await r.producer.produce()
    expect(r.chain.txLocation(tx.id)).toEqual({ height: 1, index: 0 })
    // Bypass admission: the producer's own check must drop it.
    r.mempool.add(tx)
    expect(await r.producer.produce()).toBeUndefined()
    expect(r.mempool.has(tx.id)).toBe(false)
    // The same body with a different (here invalid) signature has the same id: still never included.
    r.mempool.add(createSignedTx(tx.body, new Uint8Array(64).fill(7)))
    const other = rec('other')
    r.mempool.add(other)
    const b = await r.producer.produce()
    expect(b!.block.txs.map((t) => bytesToHex(t.id))).toEqual([bytesToHex(other.id)])
    expect(allCommittedIds(r.chain).filter((id) => id === bytesToHex(tx.id))).toHaveLength(1)
  })
})

describe('TrellisNode admission and production', () => {
  const nodes: TrellisNode[] = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.close()))
  })

  async function openNode(o: Partial<NodeOptions> = {}, clock?: () => number, genesis = makeGenesis(validator)): Promise<TrellisNode> {
    const node = await TrellisNode.open(
      { ...defaultNodeOptions, dataDir: '/nonexistent', verifyWorkers: 0, syncWrites: false, blockIntervalMs: 5, ...o },
      {
        logger: silentLogger,
        genesis,
        validatorKey: validator.privateKey,
        store: createMemoryStore(),
        metrics: false,
        ...(clock ? { clock } : {}),
      },
    )
    nodes.push(node)
    return node
  }

  it('commits every accepted tx exactly once while the same txs are resubmitted during production', async () => {
    const node = await openNode({}, undefined, makeGenesis(validator, { genesisTime: Date.now() - 1000 }))
    const exp = Date.now() + 600_000
    const txs: SignedTx[] = []
    for (let i = 0; i < 60; i++) txs.push(recordTx(testKey(3 + (i % 5)), docHash(`loop${i}`), { expiresAt: exp, nonce: i }))
    const codes = new Map<string, number>()
    const waits = txs.map((t) => node.waitForCommit(bytesToHex(t.id)).promise)
    for (let round = 0; round < 6; round++) {
      const results = await node.submit(txs.slice(0, 10 * (round + 1)).map((t) => t.bytes))
      for (const res of results) {
        const code = res.accepted ? 'accepted' : res.error.code
        codes.set(code, (codes.get(code) ?? 0) + 1)
      }
      await new Promise((resolve) => setTimeout(resolve, 3))
    }
    await Promise.all(waits)
    expect(codes.get('accepted')).toBe(60)
    expect([...codes.keys()].sort()).toEqual(expect.arrayContaining(['accepted']))
    for (const c of codes.keys()) expect(['accepted', 'TX_DUPLICATE', 'TX_ALREADY_COMMITTED']).toContain(c)
    const ids = allCommittedIds(node.chain)
    expect(ids).toHaveLength(60)
    expect(new Set(ids).size).toBe(60)
    const again = await node.submit([txs[0]!.bytes])
    expect(again[0]).toMatchObject({ accepted: false })
    expect(again[0]?.accepted === false && again[0].error.type).toMatchObject({
      code: 'TX_ALREADY_COMMITTED',
      height: node.chain.txLocation(txs[0]!.id)?.height,
    })
  })

  it('reports a tx as already committed when its block commits while its signature is being verified', async () => {
    // A manual clock and an interval longer than the clock keep the production loop idle.
    const clock = { now: 1_000_000 }
    const node = await openNode(
      { blockIntervalMs: 2 ** 30, verifyWorkers: 1 },
      () => clock.now,
      makeGenesis(validator, { genesisTime: 1000 }),
    )
    const tx = recordTx(alice, docHash('race'), { expiresAt: clock.now + 60_000 })
    const first = node.submit([tx.bytes])
    const second = node.submit([tx.bytes]) // passes the pre-checks before the first is admitted
    const produced = first.then(() => node.producer.produce())
    const [a, b] = await Promise.all([first, second])
    const block = await produced
    expect(a[0]?.accepted).toBe(true)
    expect(block?.block.txs.map((t) => bytesToHex(t.id))).toEqual([bytesToHex(tx.id)])
    expect(b[0]?.accepted).toBe(false)
    expect(b[0]?.accepted === false && b[0].error.code).toMatch(/^(TX_ALREADY_COMMITTED|TX_DUPLICATE)$/)
    // Nothing stale is left behind: the tx is neither pending nor admitted twice.
    expect(node.mempool.size).toBe(0)
  })
})
