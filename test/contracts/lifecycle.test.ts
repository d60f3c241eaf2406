import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ContractArtifact } from '@trellis/cli'
import { publicKeyToString } from '@trellis/crypto'
import { type Receipt, ReceiptStatus, type SignedTx, valueToJSON } from '@trellis/ledger'
import { bytesToHex, TrellisError } from '@trellis/utils'

import { ContractExecutor, notaryContract } from '@trellis/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { contractArtifact, ContractHarness } from '../support/contracts.js'
import { testKey } from '../support/fixtures.js'

// The contract lifecycle (the `trellis` system contract: deploy, upgrade, pause, resume, freeze, get,
// list), contract-to-contract calls, read-only queries and gas, on a real in-memory chain.

const ADMIN = testKey(9000)
const alice = testKey(501)
const mallory = testKey(502)
const ALICE = publicKeyToString(alice.publicKey)
const ADMIN_ID = publicKeyToString(ADMIN.publicKey)

const HEADER = `import { call, ContractError, defineContract, ensure, query, s } from '@trellis/contract'\n`

const V1 = `${HEADER}
export default defineContract({
  version: '1.0.0',
  description: 'registry v1',
  init: call({ args: s.object({ label: s.string({ min: 1 }), limit: s.int({ min: 1 }) }) }, (ctx, a) => {
    ensure(a.label !== 'refuse', 'INIT_REFUSED', 'the init hook refuses this label')
    ctx.state.put('config', { ...a, by: ctx.caller.id, kind: ctx.caller.kind, version: ctx.contract.version, height: ctx.block.height, tx: ctx.tx.id })
    ctx.emit('Initialised', { label: a.label })
  }),
  methods: {
    set: call({ args: s.object({ key: s.string({ min: 1 }), value: s.any() }) }, (ctx, a) => {
      ctx.state.put('v:' + a.key, a.value)
      ctx.emit('Set', { key: a.key })
      return null
    }),
    get: query({ args: s.object({ key: s.string({ min: 1 }) }) }, (ctx, a) => ctx.state.get('v:' + a.key) ?? null),
    config: query({}, (ctx) => ctx.state.get('config') ?? null),
    version: query({}, (ctx) => ctx.contract.version),
  },
})
`

// The same version with other code: not an upgrade.
const V1_AGAIN = V1.replace("'registry v1'", "'registry v1, reworded'")

const V2 = `${HEADER}
export default defineContract({
  version: '2.0.0',
  description: 'registry v2',
  upgrade: call({ args: s.object({ note: s.string() }) }, (ctx, a) => {
    const keys = ctx.state.range({ prefix: 'v:' }).entries.map((e) => e.key)
    ctx.state.put('migrated', { note: a.note, version: ctx.contract.version, keys, by: ctx.caller.id })
    ctx.emit('Migrated', { note: a.note })
  }),
  methods: {
    set: call({ args: s.object({ key: s.string({ min: 1 }), value: s.any() }) }, (ctx, a) => {
      ctx.state.put('v:' + a.key, a.value)
      return null
    }),
    get: query({ args: s.object({ key: s.string({ min: 1 }) }) }, (ctx, a) => ({ value: ctx.state.get('v:' + a.key) ?? null, version: ctx.contract.version })),
    migrated: query({}, (ctx) => ctx.state.get('migrated') ?? null),
    config: query({}, (ctx) => ctx.state.get('config') ?? null),
    version: query({}, (ctx) => ctx.contract.version),
  },
})
`

const V3_FAILING_UPGRADE = `${HEADER}
export default defineContract({
  version: '3.0.0',
  upgrade: call({}, (ctx) => {
    ctx.state.put('v:half-migrated', true)
    throw new ContractError('MIGRATION_FAILED', 'cannot migrate')
  }),
  methods: { version: query({}, (ctx) => ctx.contract.version) },
})
`

const ALPHA = `${HEADER}
export default defineContract({
  version: '1.0.0',
  methods: {
    callB: call({ args: s.object({ x: s.int() }) }, (ctx, a) => {
      ctx.state.put('before', a.x)
      const r = ctx.call('beta', 'record', { x: a.x })
      ctx.state.put('after', r as any)
      ctx.emit('Called', { x: a.x })
      return r
    }),
    callFail: call({ args: s.object({ catch: s.boolean() }) }, (ctx, a) => {
      ctx.state.put('before', 1)
      ctx.emit('Before', null)
      if (a.catch) {
        try {
          ctx.call('beta', 'fail')
        } catch (e) {
          return 'caught'
        }
      }
      return ctx.call('beta', 'fail')
    }),
    self: call({}, (ctx) => ctx.call('alpha', 'ping')),
    viaBeta: call({}, (ctx) => ctx.call('beta', 'callAlpha')),
    queryB: call({}, (ctx) => ctx.query('beta', 'seen')),
    queryWrites: call({}, (ctx) => ctx.query('beta', 'writeViaHost')),
    ping: call({}, () => 'pong'),
    readB: query({}, (ctx) => ctx.query('beta', 'seen')),
    has: query({ args: s.object({ key: s.string() }) }, (ctx, a) => ctx.state.has(a.key)),
  },
})
`

const BETA = `${HEADER}
export default defineContract({
  version: '1.0.0',
  methods: {
    record: call({ args: s.object({ x: s.int() }) }, (ctx, a) => {
      ctx.state.put('seen', { caller: ctx.caller, origin: ctx.origin, x: a.x, contract: ctx.contract.name, tx: ctx.tx.id })
      ctx.emit('Recorded', { x: a.x })
      return { by: ctx.caller.id, x: a.x }
    }),
    fail: call({}, (ctx) => {
      ctx.state.put('fail-wrote', 1)
      ctx.emit('Failing', null)
      throw new ContractError('BETA_REFUSED', 'beta refuses')
    }),
    callAlpha: call({}, (ctx) => ctx.call('alpha', 'ping')),
    seen: query({}, (ctx) => ctx.state.get('seen') ?? null),
    has: query({ args: s.object({ key: s.string() }) }, (ctx, a) => ctx.state.has(a.key)),
    writeViaHost: query({}, () => {
      ;(globalThis as any).__host.put(JSON.stringify('sneaky'), '1')
      return 1
    }),
    emitInQuery: query({}, (ctx) => {
      ;(ctx as any).emit('Sneaky', 1)
      return 1
    }),
    callInQuery: query({}, (ctx) => (ctx as any).call('alpha', 'ping')),
    historyInCall: call({}, (ctx) => ctx.state.history('seen')),
    history: query({}, (ctx) => ctx.state.history('seen')),
  },
})
`

// One code, deployed under several names (two instances of the same token, say).
const RELAY = `${HEADER}
export default defineContract({
  version: '1.0.0',
  methods: {
    forward: call({ args: s.object({ to: s.string() }) }, (ctx, a) => {
      const r = ctx.call(a.to, 'ping', {})
      let x = 0
      for (let i = 0; i < 100000; i++) x = (x + i) % 1000003
      ctx.state.put('after', x)
      return { r, x }
    }),
    ping: call({}, (ctx) => {
      ctx.state.put('pinged-by', ctx.caller.id)
      return 'pong:' + ctx.contract.name
    }),
  },
})
`

const STORE = `${HEADER}
export default defineContract({
  version: '1.0.0',
  methods: {
    set: call({ args: s.object({ k: s.string({ min: 1 }) }) }, (ctx, a) => {
      ctx.state.put('k:' + a.k, a.k)
      return null
    }),
    del: call({ args: s.object({ k: s.string({ min: 1 }) }) }, (ctx, a) => {
      ctx.state.delete('k:' + a.k)
      return null
    }),
    list: call({}, (ctx) => ctx.state.range({ prefix: 'k:' }).entries.map((e) => e.key)),
    ok: call({}, () => 1),
  },
})
`

// Writes, deletions and events cross to the node in one batch per call (see @trellis/contract).
const BATCH = `${HEADER}
export default defineContract({
  version: '1.0.0',
  methods: {
    readOwn: call({}, (ctx) => {
      const v = { n: 1, tags: ['a'] }
      ctx.state.put('x', v)
      v.n = 2
      v.tags.push('b')
      const seen = ctx.state.get('x')
      ctx.state.put('gone', 1)
      ctx.state.delete('gone')
      return { seen, has: ctx.state.has('x'), gone: ctx.state.has('gone'), getGone: ctx.state.get('gone') ?? null }
    }),
    scan: call({}, (ctx) => {
      ctx.state.put('r:1', 1)
      ctx.state.put('r:2', 2)
      const keys = ctx.state.range({ prefix: 'r:' }).entries.map((e) => e.key)
      ctx.state.put('r:3', 3)
      return keys
    }),
    order: call({}, (ctx) => {
      ctx.emit('First', 1)
      ctx.call('beta', 'record', { x: 7 })
      ctx.emit('Last', 2)
      return null
    }),
    failLate: call({}, (ctx) => {
      ctx.state.put('late', 1)
      ctx.emit('Late', null)
      throw new ContractError('LATE_REFUSED', 'refused after writing')
    }),
    get: query({ args: s.object({ k: s.string() }) }, (ctx, a) => ctx.state.get(a.k) ?? null),
    oldStyle: call({}, () => {
      const h = (globalThis as any).__host
      h.put(JSON.stringify('old'), JSON.stringify({ via: 'put' }))
      h.emit(JSON.stringify('OldEvent'), '1')
      return 1
    }),
    badBatch: call({ args: s.object({ ops: s.string() }) }, (ctx, a) => {
      ;(globalThis as any).__host.batch(a.ops)
      return 1
    }),
    notStorable: call({}, (ctx) => {
      ctx.state.put('f', (() => 1) as any)
      return 1
    }),
  },
})
`

let dir: string
const art: Record<string, ContractArtifact> = {}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trellis-lifecycle-'))
  const sources = { V1, V1_AGAIN, V2, V3_FAILING_UPGRADE, ALPHA, BETA, RELAY, STORE, BATCH }
  await Promise.all(
    Object.entries(sources).map(async ([name, source]) => {
      const path = join(dir, `${name.toLowerCase()}.ts`)
      writeFileSync(path, source)
      art[name] = await contractArtifact(path)
    }),
  )
}, 60_000)

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

const ok = (r: Receipt | undefined): void => {
  expect(r?.errorMessage).toBe('')
  expect(r?.errorCode).toBe('')
  expect(r?.status).toBe(ReceiptStatus.Ok)
}

const failedWith = (r: Receipt | undefined, code: string): void => {
  expect(r).toMatchObject({ status: ReceiptStatus.Failed, errorCode: code, returnValue: null, events: [] })
}

const harness = () => ContractHarness.create({ admin: ADMIN })

async function result(h: ContractHarness, contract: string, method: string, args: unknown = {}, height?: number): Promise<unknown> {
  return valueToJSON((await h.query(contract, method, args, height)).result)
}

async function thrown(p: Promise<unknown> | (() => unknown)): Promise<TrellisError> {
  let err: unknown
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(TrellisError)
  return err as TrellisError
}

const lifecycle = (h: ContractHarness, method: string, args: unknown, by = h.admin): SignedTx => h.tx(by, 'trellis', method, args)

describe('lifecycle: deploy and init', () => {
  it('runs the init hook at deploy with initArgs, as the deploying admin, and records the contract', async () => {
    const h = await harness()
    const r = await h.deploy('registry', art.V1 as ContractArtifact, { label: 'books', limit: 10 })
    ok(r)
    const height = h.chain.head.height
    expect(r.events).toEqual([
      { contract: 'registry', name: 'Initialised', data: { label: 'books' } },
      { contract: 'trellis', name: 'ContractDeployed', data: { name: 'registry', version: '1.0.0', codeHash: art.V1?.codeHash } },
    ])
    expect(await result(h, 'registry', 'config')).toEqual({
      label: 'books',
      limit: 10,
      by: ADMIN_ID,
      kind: 'user',
      version: '1.0.0',
      height,
      tx: bytesToHex(r.txId),
    })
    const rec = await result(h, 'trellis', 'get', { name: 'registry' })
    expect(rec).toMatchObject({
      name: 'registry',
      version: '1.0.0',
      codeHash: art.V1?.codeHash,
      status: 'active',
      deployer: ADMIN_ID,
      deployedHeight: height,
      updatedHeight: height,
      manifest: { version: '1.0.0', description: 'registry v1' },
    })
    expect((rec as { manifest: { methods: Array<{ name: string }> } }).manifest.methods.map((m) => m.name)).toEqual([
      'config',
      'get',
      'set',
      'version',
    ])
    expect(await result(h, 'trellis', 'get', { name: 'nothing-here' })).toBeNull()
    // The contract is callable right away.
    ok(await h.call(alice, 'registry', 'set', { key: 'k', value: { n: 1 } }))
    expect(await result(h, 'registry', 'get', { key: 'k' })).toEqual({ n: 1 })
  })

  it('a deploy whose init fails (bad initArgs or the hook refuses) deploys nothing', async () => {
    const h = await harness()
    const root = h.chain.head.stateRoot
    const rs = await h.block([
      lifecycle(h, 'deploy', { name: 'registry', code: art.V1?.code, initArgs: { label: 'x' } }),
      lifecycle(h, 'deploy', { name: 'registry', code: art.V1?.code, initArgs: { label: 'refuse', limit: 1 } }),
      lifecycle(h, 'deploy', { name: 'registry', code: art.V1?.code }),
    ])
    expect(rs.map((r) => r.errorCode)).toEqual(['ARGS_INVALID', 'INIT_REFUSED', 'ARGS_INVALID'])
    for (const r of rs) failedWith(r, r.errorCode)
    expect(h.chain.head.stateRoot).toEqual(root)
    expect(await result(h, 'trellis', 'get', { name: 'registry' })).toBeNull()
    expect((await thrown(h.query('registry', 'config'))).code).toBe('CONTRACT_NOT_FOUND')
  })

  it('deploying an existing name, a built-in or the system contract fails CONTRACT_EXISTS', async () => {
    const h = await harness()
    ok(await h.deploy('registry', art.V1 as ContractArtifact, { label: 'a', limit: 1 }))
    const before = await result(h, 'trellis', 'get', { name: 'registry' })
    const rs = await h.block([
      lifecycle(h, 'deploy', { name: 'registry', code: art.V2?.code }),
      lifecycle(h, 'deploy', { name: 'notary', code: art.STORE?.code }),
      lifecycle(h, 'deploy', { name: 'trellis', code: art.STORE?.code }),
    ])
    for (const r of rs) failedWith(r, 'CONTRACT_EXISTS')
    expect(await result(h, 'trellis', 'get', { name: 'registry' })).toEqual(before)
    expect(await result(h, 'registry', 'version')).toBe('1.0.0')
  })

  it('code describes itself in a fixed environment: its manifest depends on the code alone, not on name, deployer or height', async () => {
    const h = await harness()
    const code = `globalThis.__trellis_entry = function (req) {
      if (req.kind !== 'describe') return null
      const e = req.env
      return { version: '1.0.' + e.block.height, description: [e.contract.name, e.caller.id, e.block.timestamp].join('|'), methods: [], init: null, upgrade: null }
    }`
    await h.block([lifecycle(h, 'deploy', { name: 'first', code })])
    await h.block([lifecycle(h, 'deploy', { name: 'second', code })])
    for (const name of ['first', 'second']) {
      expect(await result(h, 'trellis', 'get', { name })).toMatchObject({ version: '1.0.0', manifest: { description: '|trellis|0' } })
    }
  })

  it('bad names and code that does not load are refused (ARGS_INVALID, CONTRACT_LOAD_FAILED)', async () => {
    const h = await harness()
    const good = art.STORE?.code as string
    const rs = await h.block([
      lifecycle(h, 'deploy', { name: 'X', code: good }),
      lifecycle(h, 'deploy', { name: 'a', code: good }),
      lifecycle(h, 'deploy', { name: 'with_underscore', code: good }),
      lifecycle(h, 'deploy', { name: 'store', code: '' }),
      lifecycle(h, 'deploy', { name: 'syntax', code: 'function (' }),
      lifecycle(h, 'deploy', { name: 'no-entry', code: 'globalThis.x = 1' }),
      lifecycle(h, 'deploy', { name: 'throws', code: `throw new Error('at load')` }),
      lifecycle(h, 'deploy', { name: 'not-defined', code: 'globalThis.__trellis_entry = function () { throw new Error("no") }' }),
      lifecycle(h, 'deploy', { name: 'store', code: good }),
    ])
    expect(rs.map((r) => r.errorCode)).toEqual([
      'ARGS_INVALID',
      'ARGS_INVALID',
      'ARGS_INVALID',
      'ARGS_INVALID',
      'CONTRACT_LOAD_FAILED',
      'CONTRACT_LOAD_FAILED',
      'CONTRACT_LOAD_FAILED',
      'CONTRACT_LOAD_FAILED',
      '',
    ])
    const list = (await result(h, 'trellis', 'list')) as Array<{ name: string }>
    expect(list.map((c) => c.name)).toEqual(['store'])
  })

  it('trellis.list returns every deployed contract’s record, in name order', async () => {
    const h = await harness()
    expect(await result(h, 'trellis', 'list')).toEqual([])
    ok(await h.deploy('zeta', art.STORE as ContractArtifact))
    ok(await h.deploy('beta', art.BETA as ContractArtifact))
    ok(await h.deploy('registry', art.V1 as ContractArtifact, { label: 'l', limit: 1 }))
    const list = (await result(h, 'trellis', 'list')) as Array<{ name: string; version: string; codeHash: string; status: string }>
    expect(list.map((c) => c.name)).toEqual(['beta', 'registry', 'zeta'])
    for (const c of list) expect(await result(h, 'trellis', 'get', { name: c.name })).toEqual(c)
    expect(list.find((c) => c.name === 'zeta')).toMatchObject({ codeHash: art.STORE?.codeHash, status: 'active', version: '1.0.0' })
    // The node's own view lists the built-ins and the system contracts too.
    const infos = await h.executor.contracts(h.chain)
    expect(infos.map((c) => `${c.kind}:${c.name}`).sort()).toEqual([
      'builtin:notary',
      'deployed:beta',
      'deployed:registry',
      'deployed:zeta',
      'system:governance',
      'system:trellis',
    ])
  })
})

describe('lifecycle: upgrade', () => {
  it('upgrades to a new version keeping the state, runs the upgrade hook and emits ContractUpgraded', async () => {
    const h = await harness()
    ok(await h.deploy('registry', art.V1 as ContractArtifact, { label: 'books', limit: 10 }))
    const deployedAt = h.chain.head.height
    ok(await h.call(alice, 'registry', 'set', { key: 'a', value: 'written by v1' }))
    ok(await h.call(alice, 'registry', 'set', { key: 'b', value: 2 }))
    const beforeUpgrade = h.chain.head.height
    const r = await h.call(h.admin, 'trellis', 'upgrade', { name: 'registry', code: art.V2?.code, upgradeArgs: { note: 'to v2' } })
    ok(r)
    expect(r.events).toEqual([
      { contract: 'registry', name: 'Migrated', data: { note: 'to v2' } },
      {
        contract: 'trellis',
        name: 'ContractUpgraded',
        data: { name: 'registry', version: '2.0.0', codeHash: art.V2?.codeHash, previousVersion: '1.0.0' },
      },
    ])
    // v2 reads what v1 wrote, and the hook saw it too.
    expect(await result(h, 'registry', 'get', { key: 'a' })).toEqual({ value: 'written by v1', version: '2.0.0' })
    expect(await result(h, 'registry', 'config')).toMatchObject({ label: 'books', version: '1.0.0' })
    expect(await result(h, 'registry', 'migrated')).toEqual({ note: 'to v2', version: '2.0.0', keys: ['v:a', 'v:b'], by: ADMIN_ID })
    expect(await result(h, 'trellis', 'get', { name: 'registry' })).toMatchObject({
      version: '2.0.0',
      codeHash: art.V2?.codeHash,
      status: 'active',
      deployedHeight: deployedAt,
      updatedHeight: h.chain.head.height,
      manifest: { version: '2.0.0', description: 'registry v2' },
    })
    // A query at a height before the upgrade runs the old code.
    expect(await result(h, 'registry', 'version', {}, beforeUpgrade)).toBe('1.0.0')
    expect(await result(h, 'registry', 'get', { key: 'a' }, beforeUpgrade)).toBe('written by v1')
    // The new code serves calls.
    ok(await h.call(alice, 'registry', 'set', { key: 'c', value: 3 }))
    expect(await result(h, 'registry', 'get', { key: 'c' })).toEqual({ value: 3, version: '2.0.0' })
  })

  it('the same version is refused (CONTRACT_VERSION_UNCHANGED), and a failing upgrade hook changes nothing', async () => {
    const h = await harness()
    ok(await h.deploy('registry', art.V1 as ContractArtifact, { label: 'books', limit: 10 }))
    const root = h.chain.head.stateRoot
    const rs = await h.block([
      lifecycle(h, 'upgrade', { name: 'registry', code: art.V1_AGAIN?.code }),
      lifecycle(h, 'upgrade', { name: 'registry', code: art.V1?.code }),
      lifecycle(h, 'upgrade', { name: 'registry', code: art.V3_FAILING_UPGRADE?.code }),
      lifecycle(h, 'upgrade', { name: 'registry', code: 'function (' }),
      lifecycle(h, 'upgrade', { name: 'nothing-here', code: art.V2?.code, upgradeArgs: { note: 'x' } }),
      lifecycle(h, 'upgrade', { name: 'registry', code: art.V2?.code, upgradeArgs: { wrong: 1 } }),
    ])
    expect(rs.map((r) => r.errorCode)).toEqual([
      'CONTRACT_VERSION_UNCHANGED',
      'CONTRACT_VERSION_UNCHANGED',
      'MIGRATION_FAILED',
      'CONTRACT_LOAD_FAILED',
      'CONTRACT_NOT_FOUND',
      'ARGS_INVALID',
    ])
    for (const r of rs) failedWith(r, r.errorCode)
    expect(h.chain.head.stateRoot).toEqual(root)
    expect(await result(h, 'trellis', 'get', { name: 'registry' })).toMatchObject({ version: '1.0.0', codeHash: art.V1?.codeHash })
    expect(await result(h, 'registry', 'get', { key: 'half-migrated' })).toBeNull()
  })
})

describe('lifecycle: admin approval', () => {
  it('deploy, upgrade, pause, resume and freeze signed by a non-admin fail LIFECYCLE_NOT_APPROVED and change nothing', async () => {
    const h = await harness()
    ok(await h.deploy('registry', art.V1 as ContractArtifact, { label: 'books', limit: 10 }))
    ok(await h.call(h.admin, 'trellis', 'pause', { name: 'registry' }))
    const root = h.chain.head.stateRoot
    const record = await result(h, 'trellis', 'get', { name: 'registry' })
    const txs = [
      lifecycle(h, 'deploy', { name: 'mine', code: art.STORE?.code }, mallory),
      lifecycle(h, 'upgrade', { name: 'registry', code: art.V2?.code, upgradeArgs: { note: 'x' } }, mallory),
      lifecycle(h, 'pause', { name: 'registry' }, mallory),
      lifecycle(h, 'resume', { name: 'registry' }, mallory),
      lifecycle(h, 'freeze', { name: 'registry' }, mallory),
    ]
    for (const tx of txs) {
      const err = await thrown(() => h.precheck(tx))
      expect(err.code).toBe('LIFECYCLE_NOT_APPROVED')
    }
    const rs = await h.block(txs)
    for (const r of rs) failedWith(r, 'LIFECYCLE_NOT_APPROVED')
    expect(rs[0]?.errorMessage).toContain(publicKeyToString(mallory.publicKey))
    expect(h.chain.head.stateRoot).toEqual(root)
    expect(await result(h, 'trellis', 'get', { name: 'registry' })).toEqual(record)
    expect(await result(h, 'trellis', 'get', { name: 'mine' })).toBeNull()
  })

  it('a contract cannot drive the lifecycle for its caller (CALL_NOT_ALLOWED), even when an admin signs', async () => {
    const h = await harness()
    const proxy = `${HEADER}
export default defineContract({ version: '1.0.0', methods: {
  pauseOther: call({ args: s.object({ name: s.string() }) }, (ctx, a) => ctx.call('trellis', 'pause', { name: a.name })),
} })
`
    const path = join(dir, 'proxy.ts')
    writeFileSync(path, proxy)
    ok(await h.deploy('proxy', await contractArtifact(path)))
    ok(await h.deploy('store', art.STORE as ContractArtifact))
    failedWith(await h.call(h.admin, 'proxy', 'pauseOther', { name: 'store' }), 'CALL_NOT_ALLOWED')
    expect(await result(h, 'trellis', 'get', { name: 'store' })).toMatchObject({ status: 'active' })
  })
})

describe('lifecycle: pause, resume, freeze', () => {
  it('a paused contract refuses calls (receipt and admission) but answers queries; resume restores it', async () => {
    const h = await harness()
    ok(await h.deploy('registry', art.V1 as ContractArtifact, { label: 'books', limit: 10 }))
    ok(await h.call(alice, 'registry', 'set', { key: 'k', value: 1 }))
    const paused = await h.call(h.admin, 'trellis', 'pause', { name: 'registry', reason: 'audit' })
    ok(paused)
    expect(paused.events).toEqual([
      { contract: 'trellis', name: 'ContractStatusChanged', data: { name: 'registry', status: 'paused', reason: 'audit' } },
    ])
    expect(await result(h, 'trellis', 'get', { name: 'registry' })).toMatchObject({ status: 'paused', updatedHeight: h.chain.head.height })
    const call = h.tx(alice, 'registry', 'set', { key: 'k', value: 2 })
    const err = await thrown(() => h.precheck(call))
    expect(err.code).toBe('CONTRACT_PAUSED')
    failedWith((await h.block([call]))[0], 'CONTRACT_PAUSED')
    expect(await result(h, 'registry', 'get', { key: 'k' })).toBe(1)
    failedWith(await h.call(h.admin, 'trellis', 'pause', { name: 'registry' }), 'CONTRACT_STATUS_UNCHANGED')
    // An upgrade of a paused contract keeps it paused.
    ok(await h.call(h.admin, 'trellis', 'upgrade', { name: 'registry', code: art.V2?.code, upgradeArgs: { note: 'while paused' } }))
    expect(await result(h, 'trellis', 'get', { name: 'registry' })).toMatchObject({ status: 'paused', version: '2.0.0' })
    const resumed = await h.call(h.admin, 'trellis', 'resume', { name: 'registry' })
    ok(resumed)
    expect(resumed.events).toEqual([{ contract: 'trellis', name: 'ContractStatusChanged', data: { name: 'registry', status: 'active' } }])
    const again = h.tx(alice, 'registry', 'set', { key: 'k', value: 3 })
    h.precheck(again)
    ok((await h.block([again]))[0])
    expect(await result(h, 'registry', 'get', { key: 'k' })).toEqual({ value: 3, version: '2.0.0' })
    failedWith(await h.call(h.admin, 'trellis', 'resume', { name: 'registry' }), 'CONTRACT_STATUS_UNCHANGED')
  })

  it('a pause takes effect for the rest of its own block', async () => {
    const h = await harness()
    ok(await h.deploy('store', art.STORE as ContractArtifact))
    const rs = await h.block([
      h.tx(alice, 'store', 'set', { k: '1' }),
      lifecycle(h, 'pause', { name: 'store' }),
      h.tx(alice, 'store', 'set', { k: '2' }),
      lifecycle(h, 'resume', { name: 'store' }),
      h.tx(alice, 'store', 'set', { k: '3' }),
    ])
    expect(rs.map((r) => r.errorCode)).toEqual(['', '', 'CONTRACT_PAUSED', '', ''])
  })

  it('a frozen contract refuses calls, upgrades, resume and pause for good; queries still work', async () => {
    const h = await harness()
    ok(await h.deploy('registry', art.V1 as ContractArtifact, { label: 'books', limit: 10 }))
    ok(await h.call(alice, 'registry', 'set', { key: 'k', value: 'kept' }))
    const frozen = await h.call(h.admin, 'trellis', 'freeze', { name: 'registry', reason: 'retired' })
    ok(frozen)
    expect(frozen.events).toEqual([
      { contract: 'trellis', name: 'ContractStatusChanged', data: { name: 'registry', status: 'frozen', reason: 'retired' } },
    ])
    const root = h.chain.head.stateRoot
    const call = h.tx(alice, 'registry', 'set', { key: 'k', value: 'changed' })
    expect((await thrown(() => h.precheck(call))).code).toBe('CONTRACT_FROZEN')
    const rs = await h.block([
      call,
      lifecycle(h, 'upgrade', { name: 'registry', code: art.V2?.code, upgradeArgs: { note: 'x' } }),
      lifecycle(h, 'resume', { name: 'registry' }),
      lifecycle(h, 'pause', { name: 'registry' }),
      lifecycle(h, 'freeze', { name: 'registry' }),
    ])
    for (const r of rs) failedWith(r, 'CONTRACT_FROZEN')
    expect(h.chain.head.stateRoot).toEqual(root)
    expect(await result(h, 'registry', 'get', { key: 'k' })).toBe('kept')
    expect(await result(h, 'trellis', 'get', { name: 'registry' })).toMatchObject({ status: 'frozen', version: '1.0.0' })
    // The name stays taken.
    failedWith(await h.call(h.admin, 'trellis', 'deploy', { name: 'registry', code: art.V2?.code }), 'CONTRACT_EXISTS')
  })

  it('pausing or freezing an unknown contract fails CONTRACT_NOT_FOUND', async () => {
    const h = await harness()
    const rs = await h.block([
      lifecycle(h, 'pause', { name: 'ghost' }),
      lifecycle(h, 'freeze', { name: 'ghost' }),
      lifecycle(h, 'resume', { name: 'ghost' }),
    ])
    for (const r of rs) failedWith(r, 'CONTRACT_NOT_FOUND')
  })
})

describe('contract-to-contract calls', () => {
  async function pair(): Promise<ContractHarness> {
    const h = await harness()
    const rs = await h.block([
      lifecycle(h, 'deploy', { name: 'alpha', code: art.ALPHA?.code }),
      lifecycle(h, 'deploy', { name: 'beta', code: art.BETA?.code }),
    ])
    for (const r of rs) ok(r)
    return h
  }

  it('B runs with its own state and sees the calling contract as caller, the signer as origin', async () => {
    const h = await pair()
    const tx = h.tx(alice, 'alpha', 'callB', { x: 7 })
    const [r] = await h.block([tx])
    ok(r)
    expect(valueToJSON(r?.returnValue ?? null)).toEqual({ by: 'alpha', x: 7 })
    expect(r?.events).toEqual([
      { contract: 'beta', name: 'Recorded', data: { x: 7 } },
      { contract: 'alpha', name: 'Called', data: { x: 7 } },
    ])
    expect(await result(h, 'beta', 'seen')).toEqual({
      caller: { kind: 'contract', id: 'alpha', org: null, role: null, attributes: {} },
      origin: { kind: 'user', id: ALICE, org: null, role: null, attributes: {} },
      x: 7,
      contract: 'beta',
      tx: bytesToHex(tx.id),
    })
    // Each wrote in its own namespace only.
    expect(await result(h, 'alpha', 'has', { key: 'seen' })).toBe(false)
    expect(await result(h, 'beta', 'has', { key: 'before' })).toBe(false)
    expect(await result(h, 'alpha', 'has', { key: 'before' })).toBe(true)
    expect(await result(h, 'alpha', 'has', { key: 'after' })).toBe(true)
    // Queries compose too.
    expect(await result(h, 'alpha', 'readB')).toMatchObject({ x: 7 })
    const q = await h.call(alice, 'alpha', 'queryB', {})
    ok(q)
    expect(valueToJSON(q.returnValue)).toMatchObject({ x: 7, contract: 'beta' })
  })

  it('re-entrancy fails CALL_REENTRANT: A calling itself, and A → B → A', async () => {
    const h = await pair()
    const rs = await h.block([h.tx(alice, 'alpha', 'self', {}), h.tx(alice, 'alpha', 'viaBeta', {}), h.tx(alice, 'alpha', 'ping', {})])
    failedWith(rs[0], 'CALL_REENTRANT')
    failedWith(rs[1], 'CALL_REENTRANT')
    ok(rs[2])
  })

  it('a failing nested call fails the whole tx and rolls back both contracts’ writes, even if A catches it', async () => {
    const h = await pair()
    const root = h.chain.head.stateRoot
    const rs = await h.block([h.tx(alice, 'alpha', 'callFail', { catch: false }), h.tx(alice, 'alpha', 'callFail', { catch: true })])
    failedWith(rs[0], 'BETA_REFUSED')
    failedWith(rs[1], 'BETA_REFUSED')
    expect(h.chain.head.stateRoot).toEqual(root)
    expect(await result(h, 'alpha', 'has', { key: 'before' })).toBe(false)
    expect(await result(h, 'beta', 'has', { key: 'fail-wrote' })).toBe(false)
  })

  it('the same code deployed under two names can call itself under the other name', async () => {
    const h = await harness()
    for (const r of await h.block([
      lifecycle(h, 'deploy', { name: 'relay-a', code: art.RELAY?.code }),
      lifecycle(h, 'deploy', { name: 'relay-b', code: art.RELAY?.code }),
    ]))
      ok(r)
    const rs = await h.block([h.tx(alice, 'relay-a', 'forward', { to: 'relay-b' }), h.tx(alice, 'relay-b', 'forward', { to: 'relay-a' })])
    for (const r of rs) ok(r)
    expect(valueToJSON(rs[0]?.returnValue ?? null)).toMatchObject({ r: 'pong:relay-b' })
    expect(valueToJSON(rs[1]?.returnValue ?? null)).toMatchObject({ r: 'pong:relay-a' })
  })

  it('a query cannot write: STATE_READ_ONLY for puts, events and calls, as a query and nested in a tx', async () => {
    const h = await pair()
    for (const method of ['writeViaHost', 'emitInQuery', 'callInQuery']) {
      const err = await thrown(h.query('beta', method))
      expect(err.code).toBe('QUERY_FAILED')
      expect(err.details).toMatchObject({ contract: 'beta', method, errorCode: 'STATE_READ_ONLY' })
    }
    failedWith(await h.call(alice, 'alpha', 'queryWrites', {}), 'STATE_READ_ONLY')
    expect(await result(h, 'beta', 'has', { key: 'sneaky' })).toBe(false)
  })

  it('key history is for queries: HISTORY_NOT_IN_CALLS inside a call', async () => {
    const h = await pair()
    ok(await h.call(alice, 'alpha', 'callB', { x: 1 }))
    ok(await h.call(alice, 'alpha', 'callB', { x: 2 }))
    failedWith(await h.call(alice, 'beta', 'historyInCall', {}), 'HISTORY_NOT_IN_CALLS')
    const hist = (await result(h, 'beta', 'history')) as Array<{ value: { x: number } }>
    expect(hist.map((e) => e.value.x)).toEqual([2, 1])
  })
})

describe('ranges and gas in a block', () => {
  it('a range in a call sees the block’s earlier writes and deletes', async () => {
    const h = await harness()
    ok(await h.deploy('store', art.STORE as ContractArtifact))
    ok(await h.call(alice, 'store', 'set', { k: 'a' }))
    ok(await h.call(alice, 'store', 'set', { k: 'b' }))
    const rs = await h.block([
      h.tx(alice, 'store', 'list', {}),
      h.tx(alice, 'store', 'set', { k: 'c' }),
      h.tx(alice, 'store', 'del', { k: 'a' }),
      h.tx(alice, 'store', 'list', {}),
    ])
    for (const r of rs) ok(r)
    expect(valueToJSON(rs[0]?.returnValue ?? null)).toEqual(['k:a', 'k:b'])
    expect(valueToJSON(rs[3]?.returnValue ?? null)).toEqual(['k:b', 'k:c'])
  })

  it('a tx’s cost is the same on two independent chains; the first call of a contract in a block pays for loading it', async () => {
    const a = await harness()
    const b = await harness()
    const deploy = lifecycle(a, 'deploy', { name: 'store', code: art.STORE?.code })
    for (const h of [a, b]) ok((await h.block([deploy]))[0])
    const txs = [a.tx(alice, 'store', 'ok', {}), a.tx(alice, 'store', 'ok', {}), a.tx(alice, 'store', 'ok', {})]
    const ra = await a.block(txs)
    const rb = await b.block(txs)
    expect(rb).toEqual(ra)
    const [first, second, third] = ra.map((r) => r.cost) as [number, number, number]
    expect(first).toBeGreaterThan(second)
    expect(first).toBeGreaterThan(third)
  })

  it('receipts do not depend on what a node has cached: a restarted node (cold caches) gives the same receipts', async () => {
    const h = await harness()
    ok(await h.deploy('store', art.STORE as ContractArtifact))
    ok(await h.call(alice, 'store', 'set', { k: 'a' })) // the running node has now loaded the contract's code
    const restarted = await ContractExecutor.create({ builtins: [notaryContract], admins: [ADMIN.publicKey] })
    const input = {
      chainId: h.chain.genesis.chainId,
      height: h.chain.head.height + 1,
      timestamp: h.time + 1000,
      txs: [h.tx(alice, 'store', 'ok', {}), h.tx(alice, 'store', 'set', { k: 'b' }), h.tx(alice, 'store', 'list', {})],
    }
    const warm = await h.executor.executeBlock(input, h.chain)
    const cold = await restarted.executeBlock(input, h.chain)
    expect(cold.receipts.map((r) => r.cost)).toEqual(warm.receipts.map((r) => r.cost))
    expect(cold.receiptBytes).toEqual(warm.receiptBytes)
  })

  it('fetching a range from storage mid-block: the call is run again from scratch, identically on every node', async () => {
    // The first `list` misses the block's range cache: the executor fetches the range and runs the tx
    // again on a fresh instance (so the aborted attempt cannot steer the retry through module state);
    // the retry pays the contract's loading again, the same way on every node.
    const txsOn = async (h: ContractHarness) => {
      ok(await h.deploy('store', art.STORE as ContractArtifact))
      ok(await h.call(alice, 'store', 'set', { k: 'a' }))
      return [h.tx(alice, 'store', 'ok', {}), h.tx(alice, 'store', 'list', {}), h.tx(alice, 'store', 'list', {})]
    }
    const a = await harness()
    const b = await harness()
    const txs = await txsOn(a)
    await txsOn(b)
    const ra = await a.block(txs)
    const rb = await b.block(txs)
    for (const r of ra) ok(r)
    expect(ra.map((r) => [r.status, r.errorCode, r.cost])).toEqual(rb.map((r) => [r.status, r.errorCode, r.cost]))
    expect(a.chain.head.stateRoot).toEqual(b.chain.head.stateRoot)
    expect(valueToJSON(ra[1]?.returnValue ?? null)).toEqual(valueToJSON(ra[2]?.returnValue ?? null))
  })
})

describe('batched writes and events', () => {
  it('a call reads its own writes as they were written; deletions hide them; everything lands in order', async () => {
    const h = await harness()
    ok(await h.deploy('batch', art.BATCH as ContractArtifact))
    ok(await h.deploy('beta', art.BETA as ContractArtifact))
    const r = await h.call(alice, 'batch', 'readOwn', {})
    ok(r)
    expect(valueToJSON(r.returnValue)).toEqual({ seen: { n: 1, tags: ['a'] }, has: true, gone: false, getGone: null })
    expect(await result(h, 'batch', 'get', { k: 'x' })).toEqual({ n: 1, tags: ['a'] })
    expect(await result(h, 'batch', 'get', { k: 'gone' })).toBe(null)
    // A range scan sees the writes made before it.
    const scan = await h.call(alice, 'batch', 'scan', {})
    ok(scan)
    expect(valueToJSON(scan.returnValue)).toEqual(['r:1', 'r:2'])
    expect(await result(h, 'batch', 'get', { k: 'r:3' })).toBe(3)
    // Events keep their order around a nested call (the callee's come between).
    const order = await h.call(alice, 'batch', 'order', {})
    ok(order)
    expect(order.events.map((e) => `${e.contract}.${e.name}`)).toEqual(['batch.First', 'beta.Recorded', 'batch.Last'])
  })

  it('a failed call leaves nothing behind, for itself or the next call in the block', async () => {
    const h = await harness()
    ok(await h.deploy('batch', art.BATCH as ContractArtifact))
    const [failed, next] = await h.block([h.tx(alice, 'batch', 'failLate', {}), h.tx(alice, 'batch', 'readOwn', {})])
    failedWith(failed, 'LATE_REFUSED')
    ok(next)
    expect(next?.events).toEqual([])
    expect(await result(h, 'batch', 'get', { k: 'late' })).toBe(null)
  })

  it('contracts built before batching (one host call per write) still work', async () => {
    const h = await harness()
    ok(await h.deploy('batch', art.BATCH as ContractArtifact))
    const r = await h.call(alice, 'batch', 'oldStyle', {})
    ok(r)
    expect(r.events.map((e) => [e.name, valueToJSON(e.data)])).toEqual([['OldEvent', 1]])
    expect(await result(h, 'batch', 'get', { k: 'old' })).toEqual({ via: 'put' })
  })

  it('a malformed batch or a value that is not JSON fails the tx with a clear code', async () => {
    const h = await harness()
    ok(await h.deploy('batch', art.BATCH as ContractArtifact))
    for (const ops of ['not json', '{}', '[["x","k",1]]', '[["p","k"]]', '[["p",1,1]]', '[["d","k",1]]']) {
      failedWith(await h.call(alice, 'batch', 'badBatch', { ops }), 'HOST_ARG_INVALID')
    }
    failedWith(await h.call(alice, 'batch', 'badBatch', { ops: '[["p","k",1.5]]' }), 'VALUE_INVALID')
    failedWith(await h.call(alice, 'batch', 'notStorable', {}), 'VALUE_INVALID')
  })
})
