import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { ContractArtifact } from '@trellis/cli'
import { type Receipt, ReceiptStatus, type SignedTx, valueFromJSON, valueToJSON } from '@trellis/ledger'
import { rebuildBlock, TX_GAS } from '@trellis/node'
import { TrellisError } from '@trellis/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { contractArtifact, ContractHarness } from '../support/contracts.js'
import { testKey } from '../support/fixtures.js'

// The acceptance list for hostile contract code: every escape attempt, runaway computation and abuse
// of the host fails the tx with a specific code, identically on independent nodes, and the node
// keeps serving the next block. Each behaviour is its own tiny contract, built from TypeScript.

const user = testKey(301)
const ADMIN = testKey(9000)

/** A contract whose `run` call does something hostile; `ok` and `probe` show what survived. */
function hostileSource(run: string): string {
  return `import { call, ContractError, defineContract, query, s } from '@trellis/contract'
declare const process: any
declare const setTimeout: any
export default defineContract({
  version: '1.0.0',
  methods: {
    run: call({ args: s.any() }, (ctx, args: any): any => {
      ${run}
    }),
    // The same, as a read-only query.
    q: query({ args: s.any() }, (ctx: any, args: any): any => {
      ${run}
    }),
    ok: call({}, (ctx) => {
      const n = (ctx.state.get<number>('n') ?? 0) + 1
      ctx.state.put('n', n)
      ctx.emit('Ok', { n })
      return { n, polluted: ({} as any).polluted ?? null, json: JSON.stringify(JSON.parse('{"a":[1]}')) }
    }),
    probe: query({}, (ctx) => ({ n: ctx.state.get<number>('n') ?? 0, polluted: ({} as any).polluted ?? null, late: ctx.state.get('late') ?? null })),
  },
})
`
}

interface Case {
  readonly name: string
  readonly run: string
  /** The acceptable receipt codes (one unless the issue allows either). */
  readonly codes: readonly string[]
  readonly args?: unknown
}

const CASES: readonly Case[] = [
  { name: 'date', run: `return new Date().getTime()`, codes: ['VM_CONTRACT_ERROR'] },
  { name: 'date-now', run: `return Date.now()`, codes: ['VM_CONTRACT_ERROR'] },
  { name: 'math-random', run: `return Math.random()`, codes: ['VM_CONTRACT_ERROR'] },
  { name: 'set-timeout', run: `setTimeout(() => ctx.state.put('late', 1), 0); return 1`, codes: ['VM_CONTRACT_ERROR'] },
  { name: 'process', run: `return process.env.HOME`, codes: ['VM_CONTRACT_ERROR'] },
  {
    name: 'require',
    run: `const req = (globalThis as any)['require']; return req('fs').readFileSync('/etc/hostname', 'utf8')`,
    codes: ['VM_CONTRACT_ERROR'],
  },
  // A specifier the bundler cannot see: import() yields a promise, and contracts are synchronous.
  { name: 'dynamic-import', run: `return import(args.m)`, args: { m: 'fs' }, codes: ['VM_CONTRACT_ERROR'] },
  { name: 'tamper-json', run: `'use strict'; (JSON as any).parse = () => ({}); return 1`, codes: ['VM_CONTRACT_ERROR'] },
  { name: 'tamper-proto', run: `'use strict'; (Object.prototype as any).polluted = 'yes'; return 1`, codes: ['VM_CONTRACT_ERROR'] },
  {
    name: 'define-proto',
    run: `Object.defineProperty(Object.prototype, 'polluted', { value: 'yes', enumerable: true }); return 1`,
    codes: ['VM_CONTRACT_ERROR'],
  },
  { name: 'set-proto-of', run: `Object.setPrototypeOf(Object.prototype, { polluted: 'yes' }); return 1`, codes: ['VM_CONTRACT_ERROR'] },
  { name: 'args-proto', run: `'use strict'; args.__proto__.polluted = 'yes'; return ({} as any).polluted`, codes: ['VM_CONTRACT_ERROR'] },
  {
    name: 'ctor-escape',
    run: `const g = (function () {}).constructor.constructor('return this')(); return g.process.mainModule.require('fs').readFileSync('/etc/hostname', 'utf8')`,
    codes: ['VM_CONTRACT_ERROR'],
  },
  {
    name: 'ctor-escape-host',
    // The sandbox's own global is all it reaches: the host bridge is frozen.
    run: `'use strict'; const g = ({}).constructor.constructor('return this')(); g.__host.put = () => null; return 1`,
    codes: ['VM_CONTRACT_ERROR'],
  },
  { name: 'infinite-loop', run: `for (;;) {}`, codes: ['VM_OUT_OF_GAS'] },
  { name: 'catch-gas', run: `for (;;) { try { for (;;) {} } catch (e) {} }`, codes: ['VM_OUT_OF_GAS'] },
  { name: 'recursion', run: `const f = (n: number): number => f(n + 1) + 1; return f(0)`, codes: ['VM_STACK_OVERFLOW'] },
  { name: 'alloc-buffer', run: `return new ArrayBuffer(2 ** 30).byteLength`, codes: ['VM_OUT_OF_MEMORY', 'VM_CONTRACT_ERROR'] },
  { name: 'alloc-string', run: `return 'x'.repeat(2 ** 30).length`, codes: ['VM_OUT_OF_MEMORY', 'VM_CONTRACT_ERROR'] },
  { name: 'huge-return', run: `return 'x'.repeat(1 << 20)`, codes: ['VM_RESULT_TOO_LARGE', 'RETURN_TOO_LARGE'] },
  { name: 'deep-return', run: `let o: unknown[] = []; for (let i = 0; i < 100000; i++) o = [o]; return o`, codes: ['VM_STACK_OVERFLOW'] },
  { name: 'float-state', run: `ctx.state.put('f', 1.5); return 1`, codes: ['VALUE_INVALID'] },
  { name: 'caught-host-error', run: `try { ctx.state.put('f', 1.5) } catch (e) {} return 1`, codes: ['VALUE_INVALID'] },
  { name: 'big-value', run: `ctx.state.put('big', 'x'.repeat(70000)); return 1`, codes: ['VALUE_TOO_LARGE'] },
  {
    name: 'long-key',
    // Past the library's 512 characters, straight to the host: a key the history could not file.
    run: `(globalThis as unknown as { __host: { put(k: string, v: string): null } }).__host.put(JSON.stringify('k'.repeat(70000)), '1'); return 1`,
    codes: ['KEY_TOO_LONG'],
  },
  { name: 'many-writes', run: `for (let i = 0; i < 1001; i++) ctx.state.put('k' + i, i); return 1`, codes: ['TX_TOO_MANY_WRITES'] },
  { name: 'many-events', run: `for (let i = 0; i < 101; i++) ctx.emit('E', i); return 1`, codes: ['TX_TOO_MANY_EVENTS'] },
  {
    name: 'lifecycle-call',
    run: `return ctx.call('trellis', 'freeze', { name: 'good' })`,
    codes: ['CALL_NOT_ALLOWED'],
  },
]

const GOOD = `import { call, defineContract, query, s } from '@trellis/contract'
export default defineContract({
  version: '1.0.0',
  methods: {
    ok: call({}, (ctx) => {
      const n = (ctx.state.get<number>('n') ?? 0) + 1
      ctx.state.put('n', n)
      return n
    }),
    echo: call({ args: s.any() }, (ctx, a: any) => {
      ctx.state.put('echo', a)
      return { own: Object.keys(a), polluted: ({} as any).polluted ?? null }
    }),
    n: query({}, (ctx) => ctx.state.get<number>('n') ?? 0),
    globals: query({}, () => Object.getOwnPropertyNames(globalThis).sort()),
    escape: query({}, () => {
      let g: any
      try {
        g = ({}).constructor.constructor('return this')()
      } catch (e) {
        return 'blocked'
      }
      return g === globalThis ? 'sandbox global' : 'another global'
    }),
  },
})
`

let dir: string
const artifacts = new Map<string, ContractArtifact>()
const nameOf = (c: Case) => `h-${c.name}`

async function build(file: string, source: string): Promise<ContractArtifact> {
  const path = join(dir, file)
  writeFileSync(path, source)
  return contractArtifact(path)
}

/** A node's contract-building error code, or 'BUILT'. */
async function buildOutcome(file: string, source: string): Promise<string> {
  try {
    await build(file, source)
    return 'BUILT'
  } catch (err) {
    return err instanceof TrellisError ? err.code : `UNEXPECTED ${String(err)}`
  }
}

/** Deploys every contract with the same signed txs, so that two chains stay comparable. */
function deployTxs(h: ContractHarness, list: ReadonlyArray<[string, ContractArtifact]>): SignedTx[] {
  return list.map(([name, art]) => h.tx(h.admin, 'trellis', 'deploy', { name, code: art.code }))
}

/** Two independent chains (same genesis admin) with `good` and the named hostile contracts deployed. */
async function twoChains(names: readonly string[] = CASES.map((c) => c.name)): Promise<[ContractHarness, ContractHarness]> {
  const a = await ContractHarness.create({ admin: ADMIN })
  const b = await ContractHarness.create({ admin: ADMIN })
  const list: Array<[string, ContractArtifact]> = [['good', artifacts.get('good') as ContractArtifact]]
  for (const n of names) list.push([`h-${n}`, artifacts.get(n) as ContractArtifact])
  const txs = deployTxs(a, list)
  for (const h of [a, b]) {
    const rs = await h.block(txs)
    expect(rs.filter((r) => r.status !== ReceiptStatus.Ok).map((r) => r.errorCode + r.errorMessage)).toEqual([])
  }
  return [a, b]
}

/** Comparable receipt fields. */
const summary = (r: Receipt) => ({ status: r.status, errorCode: r.errorCode, cost: r.cost, returnValue: r.returnValue })

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trellis-hostile-'))
  artifacts.set('good', await build('good.ts', GOOD))
  // A few at a time: each build loads its own engine to read the manifest.
  for (let i = 0; i < CASES.length; i += 4) {
    const batch = CASES.slice(i, i + 4)
    const built = await Promise.all(batch.map((c) => build(`${c.name}.ts`, hostileSource(c.run))))
    batch.forEach((c, j) => artifacts.set(c.name, built[j] as ContractArtifact))
  }
}, 60_000)

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('hostile contracts: every attempt fails with a clear code, deterministically', () => {
  let a: ContractHarness
  let b: ContractHarness
  let receipts: Receipt[]
  let txs: SignedTx[]

  beforeAll(async () => {
    ;[a, b] = await twoChains()
    // One block: a normal call, every hostile call, a normal call again.
    txs = [a.tx(user, 'good', 'ok', {}), ...CASES.map((c) => a.tx(user, nameOf(c), 'run', c.args ?? {})), a.tx(user, 'good', 'ok', {})]
    receipts = await a.block(txs)
  }, 60_000)

  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s fails with its code', (_name, c, i) => {
    const r = receipts[i + 1] as Receipt
    expect(r.status, `${c.name}: ${r.errorCode} ${r.errorMessage}`).toBe(ReceiptStatus.Failed)
    expect(c.codes).toContain(r.errorCode)
    expect(r.returnValue).toBeNull()
    expect(r.events).toEqual([])
    expect(r.cost).toBeGreaterThan(0)
  })

  it('normal calls around the hostile ones succeed in the same block', () => {
    expect(summary(receipts[0] as Receipt)).toMatchObject({ status: ReceiptStatus.Ok, returnValue: 1 })
    expect(summary(receipts[receipts.length - 1] as Receipt)).toMatchObject({ status: ReceiptStatus.Ok, returnValue: 2 })
  })

  it('a second, independent chain gives identical receipts, state root and block hash', async () => {
    const other = await b.block(txs)
    expect(other.map(summary)).toEqual(receipts.map(summary))
    expect(other).toEqual(receipts)
    expect(b.chain.head.stateRoot).toEqual(a.chain.head.stateRoot)
    expect(b.chain.head.hash).toEqual(a.chain.head.hash)
  })

  it('the node keeps serving: the next block of normal calls succeeds on every contract, unpolluted', async () => {
    const next = [a.tx(user, 'good', 'ok', {}), ...CASES.map((c) => a.tx(user, nameOf(c), 'ok', {}))]
    for (const h of [a, b]) {
      const rs = await h.block(next)
      expect(rs.map((r) => r.errorCode)).toEqual(next.map(() => ''))
      expect(valueToJSON(rs[0]?.returnValue ?? null)).toBe(3)
      // Every hostile `run` failed, so each contract's counter starts from scratch.
      for (const r of rs.slice(1)) expect(valueToJSON(r.returnValue)).toEqual({ n: 1, polluted: null, json: '{"a":[1]}' })
    }
    expect(b.chain.head.hash).toEqual(a.chain.head.hash)
    for (const c of CASES) {
      expect(valueToJSON((await a.query(nameOf(c), 'probe', {})).result)).toEqual({ n: 1, polluted: null, late: null })
    }
    // The host's own intrinsics were never touched.
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    expect(JSON.parse('{"a":1}')).toEqual({ a: 1 })
  })
})

describe('hostile contracts: what does not build or load', () => {
  const contract = (body: string, top = '') =>
    `import { call, defineContract } from '@trellis/contract'\n${top}\nexport default defineContract({ version: '1.0.0', methods: { run: call({}, (): any => { ${body} }) } })\n`

  it.each([
    ['a static import of fs', contract(`return fs.readFileSync('/etc/hostname', 'utf8')`, `import * as fs from 'fs'`)],
    ['require("fs")', contract(`return require('fs').readFileSync('/etc/hostname', 'utf8')`, 'declare const require: any')],
    ['import("fs") with a literal', contract(`return import('fs')`)],
    ['node:child_process', contract(`return cp.execSync('id').toString()`, `import * as cp from 'node:child_process'`)],
    ['Date at the top level', contract(`return t`, 'const t = Date.now()')],
    ['no default export', `export const x = 1\n`],
  ])('%s → CONTRACT_BUILD_FAILED', async (what, source) => {
    expect(await buildOutcome(`build-${what.replace(/\W+/g, '-')}.ts`, source)).toBe('CONTRACT_BUILD_FAILED')
  })

  it('code that throws at load (bypassing the builder) is refused at deploy: CONTRACT_LOAD_FAILED', async () => {
    const h = await ContractHarness.create({ admin: ADMIN })
    const good = artifacts.get('good') as ContractArtifact
    const rs = await h.block([
      h.tx(h.admin, 'trellis', 'deploy', { name: 'at-load', code: `Date.now();\n${good.code}` }),
      h.tx(h.admin, 'trellis', 'deploy', { name: 'loops-at-load', code: `for (;;) {}\n${good.code}` }),
      h.tx(h.admin, 'trellis', 'deploy', { name: 'no-entry', code: `globalThis.x = 1` }),
      h.tx(h.admin, 'trellis', 'deploy', { name: 'good', code: good.code }),
    ])
    expect(rs.map((r) => r.errorCode)).toEqual(['CONTRACT_LOAD_FAILED', 'CONTRACT_LOAD_FAILED', 'CONTRACT_LOAD_FAILED', ''])
    expect((await h.call(user, 'good', 'ok', {})).errorCode).toBe('')
    let err: unknown
    try {
      await h.query('at-load', 'n', {})
    } catch (e) {
      err = e
    }
    expect((err as TrellisError).code).toBe('CONTRACT_NOT_FOUND')
  })
})

describe('hostile contracts: isolation', () => {
  it('constructor.constructor("return this")() reaches only the sandbox global, with no host objects', async () => {
    const [a] = await twoChains([])
    // Either code generation from strings is disabled, or it yields the sandbox's own global.
    expect(['blocked', 'sandbox global']).toContain(valueToJSON((await a.query('good', 'escape', {})).result))
    const names = valueToJSON((await a.query('good', 'globals', {})).result) as string[]
    for (const forbidden of [
      'process',
      'require',
      'module',
      'Buffer',
      'fetch',
      'setTimeout',
      'setInterval',
      'console',
      'Date',
      'WebAssembly',
    ])
      expect(names).not.toContain(forbidden)
    expect(names).toContain('__trellis_entry')
  })

  it('args with an own "__proto__" key pollute nothing, in the sandbox or in the node', async () => {
    const [a, b] = await twoChains(['date'])
    const args = valueFromJSON(JSON.parse('{"__proto__":{"polluted":"yes"},"x":1}'))
    const txs = [a.tx(user, 'good', 'echo', valueToJSON(args)), a.tx(user, 'h-date', 'ok', {}), a.tx(user, 'good', 'ok', {})]
    const ra = await a.block(txs)
    const rb = await b.block(txs)
    expect(rb).toEqual(ra)
    expect(ra.map((r) => r.errorCode)).toEqual(['', '', ''])
    expect(valueToJSON(ra[0]?.returnValue ?? null)).toEqual({ own: ['__proto__', 'x'], polluted: null })
    expect(valueToJSON(ra[1]?.returnValue ?? null)).toMatchObject({ polluted: null })
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')
  })

  it('promise jobs a call queues never run, in that tx or a later one', async () => {
    const h = await ContractHarness.create({ admin: ADMIN })
    const art = await build('microtask.ts', hostileSource(`Promise.resolve().then(() => ctx.state.put('late', 1)); return 1`))
    expect((await h.deploy('micro', art)).errorCode).toBe('')
    const rs = await h.block([h.tx(user, 'micro', 'run', {}), h.tx(user, 'micro', 'ok', {}), h.tx(user, 'micro', 'run', {})])
    expect(rs.map((r) => r.errorCode)).toEqual(['', '', ''])
    expect(rs.flatMap((r) => r.events.map((e) => e.name))).toEqual(['Ok'])
    expect(valueToJSON((await h.query('micro', 'probe', {})).result)).toMatchObject({ late: null, n: 1 })
  })

  it('a failed tx that replaces globalThis.JSON does not change the next tx of the same block', async () => {
    const h = await ContractHarness.create({ admin: ADMIN })
    const art = await build(
      'fake-json.ts',
      hostileSource(
        `(globalThis as any).JSON = { parse: () => ({ kind: 'call', method: 'ok', args: null, env: {} }), stringify: () => '"pwned"' }
        throw new ContractError('TAMPERED', 'replaced the global JSON')`,
      ),
    )
    expect((await h.deploy('fake-json', art)).errorCode).toBe('')
    const rs = await h.block([h.tx(user, 'fake-json', 'run', {}), h.tx(user, 'fake-json', 'ok', {})])
    expect(rs[0]).toMatchObject({ status: ReceiptStatus.Failed, errorCode: 'TAMPERED' })
    // The failed tx is rolled back: the next call runs as if it never happened.
    expect(rs[1]?.errorCode).toBe('')
    expect(valueToJSON(rs[1]?.returnValue ?? null)).toEqual({ n: 1, polluted: null, json: '{"a":[1]}' })
  })

  it('replacing the global JSON cannot make the node misread a result: the real result, or VM_BAD_RESULT (call and query)', async () => {
    const h = await ContractHarness.create({ admin: ADMIN })
    const art = await build(
      'bad-result.ts',
      `import { call, defineContract, query } from '@trellis/contract'
const breakJson = () => { (globalThis as any).JSON = { parse: JSON.parse, stringify: () => 'not json' } }
export default defineContract({ version: '1.0.0', methods: {
  run: call({}, () => { breakJson(); return 1 }),
  q: query({}, () => { breakJson(); return 1 }),
} })
`,
    )
    expect((await h.deploy('bad-result', art)).errorCode).toBe('')
    const [r] = await h.block([h.tx(user, 'bad-result', 'run', {})])
    // Never EXECUTION_FAILED with V8's JSON.parse message: messages are part of the receipt (and of
    // the block hash), and V8's wording differs between Node.js versions.
    if (r?.status === ReceiptStatus.Ok) expect(r.returnValue).toBe(1)
    else {
      expect(r?.errorCode).toBe('VM_BAD_RESULT')
      expect(r?.errorMessage).not.toMatch(/Unexpected token|is not valid JSON/)
    }
    let out: unknown
    try {
      out = valueToJSON((await h.query('bad-result', 'q', {})).result)
    } catch (e) {
      out = e
    }
    if (out instanceof Error) {
      expect(out).toBeInstanceOf(TrellisError)
      expect((out as TrellisError).code).toBe('QUERY_FAILED')
      expect((out as TrellisError).details).toMatchObject({ errorCode: 'VM_BAD_RESULT' })
    } else expect(out).toBe(1)
  })
})

describe('hostile contracts: no effect on other contracts or on consensus', () => {
  // A hostile call may overflow the host's own (native) stack, or make the bridge throw: the engine
  // is then replaced. Whether the host's stack overflows depends on the machine (Node.js version,
  // --stack-size), so nothing another contract's receipt says may depend on it.
  it.each([['deep-return'], ['huge-return'], ['recursion'], ['infinite-loop'], ['alloc-buffer']])(
    '%s: a hostile call leaves the receipts of other contracts’ txs in its block unchanged',
    async (name) => {
      const [a, b] = await twoChains([name])
      const calm = [a.tx(user, 'good', 'ok', {}), a.tx(user, 'good', 'ok', {}), a.tx(user, 'good', 'ok', {})]
      const hostile = a.tx(user, `h-${name}`, 'run', {})
      const ra = await a.block([calm[0] as SignedTx, hostile, calm[1] as SignedTx, calm[2] as SignedTx])
      const rb = await b.block(calm)
      expect(ra[1]?.status).toBe(ReceiptStatus.Failed)
      expect([ra[0], ra[2], ra[3]].map((r) => summary(r as Receipt))).toEqual(rb.map(summary))
    },
  )

  it('a hostile query served while a block executes does not change the block (receipts, block hash)', async () => {
    const [a, b] = await twoChains(['deep-return'])
    const txs = Array.from({ length: 6 }, () => a.tx(user, 'good', 'ok', {}))
    // Node a answers a query that overflows the host stack while it executes the block; node b does not.
    const [ra] = await Promise.all([a.block(txs), a.query('h-deep-return', 'q', {}).catch(() => null), a.query('good', 'n', {})])
    const rb = await b.block(txs)
    expect(ra.map(summary)).toEqual(rb.map(summary))
    expect(a.chain.head.hash).toEqual(b.chain.head.hash)
  })
})

describe('hostile contracts: gas bounds the time a call takes', () => {
  // Run in a worker thread, which can be stopped however long the call runs (a synchronous run
  // cannot be interrupted from the test's own thread).
  const vmEntry = pathToFileURL(createRequire(import.meta.url).resolve('@trellis/vm')).href
  const request = JSON.stringify({
    kind: 'call',
    method: 'run',
    args: {},
    env: {
      contract: { name: 'h', version: '1.0.0' },
      caller: { kind: 'user', id: 'p256:00', org: null, role: null, attributes: {} },
      origin: { kind: 'user', id: 'p256:00', org: null, role: null, attributes: {} },
      tx: { id: '00' },
      block: { height: 1, timestamp: 0, chainId: 'test-chain' },
    },
  })

  async function timedRun(code: string, limitMs: number): Promise<{ code: string; ms: number } | 'TIMED_OUT'> {
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads')
      import(workerData.vmEntry).then(async ({ Sandbox, defaultVmLimits }) => {
        const sandbox = await Sandbox.create()
        const host = { get: () => null, put: () => null, del: () => null, range: () => '[]', history: () => '[]', emit: () => null, call: () => 'null' }
        parentPort.postMessage({ started: true })
        const t = Date.now()
        const r = sandbox.runSync(workerData.code, '__trellis_entry', workerData.request, host, { ...defaultVmLimits, gas: workerData.gas })
        parentPort.postMessage({ code: r.ok ? 'OK' : (r.contractCode ?? r.code), ms: Date.now() - t })
      })`,
      { eval: true, workerData: { vmEntry, code, request, gas: TX_GAS } },
    )
    try {
      return await new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined
        worker.on('error', reject)
        worker.on('message', (m: { started?: boolean; code?: string; ms?: number }) => {
          if (m.started === true) timer = setTimeout(() => resolve('TIMED_OUT'), limitMs)
          else {
            clearTimeout(timer)
            resolve({ code: m.code as string, ms: m.ms as number })
          }
        })
      })
    } finally {
      await worker.terminate()
    }
  }

  it('an infinite loop runs out of gas within seconds (the yardstick)', async () => {
    const out = await timedRun((artifacts.get('infinite-loop') as ContractArtifact).code, 10_000)
    expect(out).not.toBe('TIMED_OUT')
    expect(out).toMatchObject({ code: 'VM_OUT_OF_GAS' })
  }, 30_000)

  it('recursion that catches its stack overflow and recurses again: a producer leaves the tx out after its time limit, a proposal with it is refused', async () => {
    // Each caught overflow builds an error over the whole stack but the meter counts it as one step:
    // the gas budget alone lets this call burn a CPU for many minutes (measured: still running after
    // 14 min). The wall-clock limit of block production and proposal checks is the safety net.
    const art = await build(
      'catch-overflow.ts',
      hostileSource(`const f = (n: number): number => { try { return f(n + 1) } catch (e) { return f(n + 1) } }; return f(0)`),
    )
    const h = await ContractHarness.create({ admin: ADMIN })
    const deployed = await h.block(
      deployTxs(h, [
        ['good', artifacts.get('good') as ContractArtifact],
        ['h-catch-overflow', art],
      ]),
    )
    expect(deployed.map((r) => r.status)).toEqual([ReceiptStatus.Ok, ReceiptStatus.Ok])
    const good1 = h.tx(user, 'good', 'ok', {})
    const bad = h.tx(user, 'h-catch-overflow', 'run', {})
    const good2 = h.tx(user, 'good', 'ok', {})
    const started = performance.now()
    const built = await h.produce([good1, bad, good2], { txTimeLimitMs: 1_000 })
    expect(performance.now() - started).toBeLessThan(20_000)
    expect(built.excluded).toEqual([bad])
    expect(built.block.txs).toEqual([good1, good2])
    expect(built.exec.receipts.map((r) => r.status)).toEqual([ReceiptStatus.Ok, ReceiptStatus.Ok])

    // A proposal that includes it cannot be checked in time: refused (a validator prevotes nil).
    const checked = await rebuildBlock({
      chain: h.chain,
      executor: h.executor,
      parent: h.chain.head,
      state: h.chain,
      block: { header: { ...built.block.header, txCount: 3 }, txs: [good1, bad, good2] },
      validatorSetHash: new Uint8Array(32),
      txTimeLimitMs: 1_000,
    })
    expect(checked).toEqual({ invalid: expect.stringMatching(/ran past the 1000 ms execution limit/) })
  }, 60_000)
})
