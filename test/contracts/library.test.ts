import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ContractArtifact } from '@trellis/cli'
import { type Receipt, ReceiptStatus, valueToJSON } from '@trellis/ledger'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { contractArtifact, ContractHarness } from '../support/contracts.js'
import { testKey } from '../support/fixtures.js'

// The authoring library's own checks, through the real sandbox and executor: composite keys, event
// names (checked once, then remembered per instance) and `ensure` with eager and lazy messages. The
// calls of one block share a contract instance, so the remembered names are exercised too.

const SOURCE = `import { call, defineContract, ensure, query, s, SchemaError } from '@trellis/contract'
export default defineContract({
  version: '1.0.0',
  methods: {
    keyed: call({ args: s.object({ parts: s.array(s.string()) }) }, (ctx, a) => {
      const key = ctx.state.key(...a.parts)
      ctx.state.put(key, a.parts.length)
      return { key, split: ctx.state.splitKey(key), stored: ctx.state.get(key) ?? null }
    }),
    emit: call({ args: s.object({ names: s.array(s.string()) }) }, (ctx, a) => {
      for (const n of a.names) ctx.emit(n, { n })
      return a.names.length
    }),
    check: call({ args: s.object({ ok: s.boolean(), lazy: s.boolean() }) }, (ctx, a) => {
      // The function throws if it is called although the check holds.
      if (a.lazy) ensure(a.ok, 'LAZY_FAILED', () => { if (a.ok) throw new Error('called eagerly'); return 'built lazily' })
      else ensure(a.ok, 'EAGER_FAILED', 'built eagerly')
      return 'passed'
    }),
    read: query({ args: s.object({ parts: s.array(s.string()) }) }, (ctx, a) => ctx.state.get(ctx.state.key(...a.parts)) ?? null),
    // Writes and events past one batch's size cross in several batches, in order, reads between.
    bulk: call({ args: s.object({ n: s.int({ min: 1, max: 200 }), size: s.int({ min: 1, max: 4000 }) }) }, (ctx, a) => {
      for (let i = 0; i < a.n; i++) {
        ctx.state.put(ctx.state.key('bulk', String(i).padStart(3, '0')), 'v'.repeat(a.size) + i)
        if (i < 60) ctx.emit('Bulk', i)
        if (i % 50 === 49) ctx.state.delete(ctx.state.key('bulk', String(i - 1).padStart(3, '0')))
      }
      const page = ctx.state.range({ prefix: ['bulk'], limit: 1000 })
      return { rows: page.entries.length, last: (ctx.state.get(ctx.state.key('bulk', String(a.n - 1).padStart(3, '0'))) as string).length }
    }),
    // Library schemas: the node checks the arguments; the method gets them as sent (canonical key order).
    order: call({ args: s.object({ b: s.string({ pattern: '^[a-z]+$' }), a: s.optional(s.int({ min: 0 })) }) }, (_ctx, a) => Object.keys(a)),
    // A pattern that backtracks exponentially: left to the sandbox's meter, never run by the node.
    greedy: call({ args: s.object({ word: s.string({ pattern: '^(a+)+$' }) }) }, (_ctx, a) => a.word),
    // A schema of the contract's own: the sandbox always runs its parse (here stricter than its descriptor).
    own: call({ args: { descriptor: { type: 'string' }, parse: (v: unknown) => { if (v !== 'yes') throw new SchemaError('', 'must be yes'); return v } } }, (_ctx, a) => a),
    nested: call({ args: s.object({ inner: s.array({ descriptor: { type: 'any' }, parse: (v: unknown) => Number(v) * 2 }) }) }, (_ctx, a) => a.inner),
    // A refinement made by copying a library schema: its own parse still runs.
    refined: call({ args: s.object({ to: { ...s.string({ max: 10 }), parse: (v: unknown) => String(v).toLowerCase() } }) }, (_ctx, a) => a.to),
  },
})
`

let dir: string
let artifact: ContractArtifact
const user = testKey(401)

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trellis-library-'))
  const path = join(dir, 'lib.ts')
  writeFileSync(path, SOURCE)
  artifact = await contractArtifact(path)
}, 60_000)

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

const outcome = (r: Receipt) => (r.status === ReceiptStatus.Ok ? valueToJSON(r.returnValue) : `${r.errorCode}: ${r.errorMessage}`)

describe('contract library', () => {
  it('composite keys join their parts with U+0000, split back, and refuse empty parts or parts containing U+0000', async () => {
    const h = await ContractHarness.create()
    expect((await h.deploy('lib', artifact)).status).toBe(ReceiptStatus.Ok)
    const rs = await h.block([
      h.tx(user, 'lib', 'keyed', { parts: ['asset', 'a-1'] }),
      h.tx(user, 'lib', 'keyed', { parts: ['owner', 'alice', 'a-1'] }),
      h.tx(user, 'lib', 'keyed', { parts: ['solo'] }),
      h.tx(user, 'lib', 'keyed', { parts: ['a', ''] }),
      h.tx(user, 'lib', 'keyed', { parts: ['a', 'b\u0000c'] }),
      h.tx(user, 'lib', 'keyed', { parts: [] }),
      // Separators at either end of a part, in a single part, or making a part look empty.
      h.tx(user, 'lib', 'keyed', { parts: ['x\u0000y'] }),
      h.tx(user, 'lib', 'keyed', { parts: ['a\u0000', 'b'] }),
      h.tx(user, 'lib', 'keyed', { parts: ['a', '\u0000b', 'c'] }),
      h.tx(user, 'lib', 'keyed', { parts: ['\u0000'] }),
      h.tx(user, 'lib', 'keyed', { parts: ['a', '\u0000'] }),
    ])
    expect(rs.map(outcome)).toEqual([
      { key: 'asset\u0000a-1', split: ['asset', 'a-1'], stored: 2 },
      { key: 'owner\u0000alice\u0000a-1', split: ['owner', 'alice', 'a-1'], stored: 3 },
      { key: 'solo', split: ['solo'], stored: 1 },
      'KEY_INVALID: composite key parts must be non-empty strings without U+0000',
      'KEY_INVALID: composite key parts must be non-empty strings without U+0000',
      'KEY_INVALID: a composite key needs at least one part',
      ...Array.from({ length: 5 }, () => 'KEY_INVALID: composite key parts must be non-empty strings without U+0000'),
    ])
    expect(valueToJSON((await h.query('lib', 'read', { parts: ['owner', 'alice', 'a-1'] })).result)).toBe(3)
  })

  it('writes and events larger than one batch all land, in order', async () => {
    const h = await ContractHarness.create()
    await h.deploy('lib', artifact)
    // 60 values of ~2 KB: about 120 K characters of batch, so at least two crossings.
    const [r] = await h.block([h.tx(user, 'lib', 'bulk', { n: 60, size: 2000 })])
    expect(outcome(r as Receipt)).toEqual({ rows: 59, last: 2002 })
    expect(r?.events.map((e) => valueToJSON(e.data))).toEqual(Array.from({ length: 60 }, (_, i) => i))
    expect(valueToJSON((await h.query('lib', 'read', { parts: ['bulk', '048'] })).result)).toBe(null)
    expect(valueToJSON((await h.query('lib', 'read', { parts: ['bulk', '049'] })).result)).toBe('v'.repeat(2000) + 49)
  })

  it('event names are checked on every call, also after a valid name was remembered', async () => {
    const h = await ContractHarness.create()
    await h.deploy('lib', artifact)
    const rs = await h.block([
      h.tx(user, 'lib', 'emit', { names: ['Moved', 'Moved', 'Asset.Created'] }),
      h.tx(user, 'lib', 'emit', { names: ['Moved', '9bad'] }),
      h.tx(user, 'lib', 'emit', { names: ['Moved'] }),
      h.tx(user, 'lib', 'emit', { names: ['Moved', 'has space'] }),
      h.tx(user, 'lib', 'emit', { names: ['Moved', '__proto__'] }),
      h.tx(user, 'lib', 'emit', { names: ['Moved', 'constructor'] }),
    ])
    expect(rs.map(outcome)).toEqual([
      3,
      'EVENT_NAME_INVALID: event names are 1-64 letters, digits, _ . -, starting with a letter',
      1,
      'EVENT_NAME_INVALID: event names are 1-64 letters, digits, _ . -, starting with a letter',
      'EVENT_NAME_INVALID: event names are 1-64 letters, digits, _ . -, starting with a letter',
      2,
    ])
    expect(rs[0]?.events.map((e) => [e.name, valueToJSON(e.data)])).toEqual([
      ['Moved', { n: 'Moved' }],
      ['Moved', { n: 'Moved' }],
      ['Asset.Created', { n: 'Asset.Created' }],
    ])
    // A failed call's events are dropped with its writes.
    expect(rs[1]?.events).toEqual([])
    expect(rs[2]?.events.map((e) => e.name)).toEqual(['Moved'])
  })

  it("arguments of library schemas are checked by the node with the library's wording; schemas of the contract's own are parsed in the sandbox", async () => {
    const h = await ContractHarness.create()
    await h.deploy('lib', artifact)
    const rs = await h.block([
      h.tx(user, 'lib', 'order', { a: 1, b: 'x' }),
      h.tx(user, 'lib', 'order', { b: 'x' }),
      h.tx(user, 'lib', 'order', { b: 'X1' }),
      h.tx(user, 'lib', 'order', { b: 1 }),
      h.tx(user, 'lib', 'order', { b: 'x', c: 1 }),
      h.tx(user, 'lib', 'order', { a: -1 }),
      h.tx(user, 'lib', 'own', 'yes'),
      h.tx(user, 'lib', 'own', 'no'),
      h.tx(user, 'lib', 'nested', { inner: [1, 2] }),
      h.tx(user, 'lib', 'refined', { to: 'NoBody' }),
    ])
    expect(rs.map(outcome)).toEqual([
      // Checked by the node, not parsed again: the keys keep the order they were sent in (a decoded
      // tx's is the canonical, sorted order), where the library's parse gives the declared order.
      ['a', 'b'],
      ['b'],
      'ARGS_INVALID: args.b: must match ^[a-z]+$',
      'ARGS_INVALID: args.b: expected a string, got a number',
      'ARGS_INVALID: args: unknown property "c"',
      // Two faults: the node names the first in the manifest's (canonical, sorted) order.
      'ARGS_INVALID: args.a: must be at least 0',
      'yes',
      'ARGS_INVALID: args: must be yes',
      // The contract's own item schema ran: it doubles the numbers.
      [2, 4],
      'nobody',
    ])
    // The manifest says which methods the node checks.
    const methods = (await h.query('trellis', 'get', { name: 'lib' })).result
    const nodeChecked = Object.fromEntries(
      (valueToJSON(methods) as { manifest: { methods: Array<{ name: string; nodeChecked: boolean }> } }).manifest.methods.map((m) => [
        m.name,
        m.nodeChecked,
      ]),
    )
    expect(nodeChecked).toMatchObject({ order: true, keyed: true, own: false, nested: false, refined: false })
  })

  it('admission tests only patterns whose backtracking V8 bounds; the sandbox meters the others', async () => {
    const h = await ContractHarness.create()
    await h.deploy('lib', artifact)
    // Run by V8 on the main thread, this pattern backtracks 2^n times on n characters (for hours at
    // 40): admission leaves it to the sandbox. (Were it run, it would refuse this value.)
    const hostile = h.tx(user, 'lib', 'greedy', { word: 'a'.repeat(24) + '!' })
    expect(() => h.precheck(hostile)).not.toThrow()
    // A bounded pattern is still tested at admission, with the library's wording.
    expect(() => h.precheck(h.tx(user, 'lib', 'order', { b: 'X1' }))).toThrow('args.b: must match ^[a-z]+$')
    const rs = await h.block([hostile, h.tx(user, 'lib', 'greedy', { word: 'aaa' }), h.tx(user, 'lib', 'greedy', { word: 'ab' })])
    expect(rs.map(outcome)).toEqual(['VM_OUT_OF_GAS: the gas budget was exhausted', 'aaa', 'ARGS_INVALID: args.word: must match ^(a+)+$'])
  })

  it('ensure takes its message as text or as a function called only when the check fails', async () => {
    const h = await ContractHarness.create()
    await h.deploy('lib', artifact)
    const rs = await h.block([
      h.tx(user, 'lib', 'check', { ok: true, lazy: true }),
      h.tx(user, 'lib', 'check', { ok: false, lazy: true }),
      h.tx(user, 'lib', 'check', { ok: true, lazy: false }),
      h.tx(user, 'lib', 'check', { ok: false, lazy: false }),
    ])
    expect(rs.map(outcome)).toEqual(['passed', 'LAZY_FAILED: built lazily', 'passed', 'EAGER_FAILED: built eagerly'])
  })
})
