// The one conformance suite every KVStore backend runs (STYLE.md: one shared suite per interface).
import { bytesToHex, compareBytes, hexToBytes, isTrellisError } from '@trellis/utils'
import * as fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import type { BatchOp, KVReader, KVStore, RangeOptions } from '../src/index.js'

/** How the suite gets stores from a backend. */
export interface KVConformanceFactory {
  /** A fresh, empty, open store. */
  create(): Promise<KVStore>
  /** Closes `store` and opens the same data again; only for persistent backends. */
  reopen?(store: KVStore): Promise<KVStore>
}

/** Knobs for slower backends. */
export interface KVConformanceOptions {
  /** Runs of each property test (each run opens a fresh store). */
  propertyRuns?: number
}

/** Bytes from a hex string ('' is the empty key). */
export const h = (hex: string): Uint8Array => hexToBytes(hex)

async function collect(reader: KVReader, options?: RangeOptions): Promise<[string, string][]> {
  const out: [string, string][] = []
  for await (const [k, v] of reader.iterate(options)) out.push([bytesToHex(k), bytesToHex(v)])
  return out
}

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(isTrellisError(thrown, code), `expected ${code}, got ${String(thrown)}`).toBe(true)
}

async function expectRejects(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(isTrellisError(err, code), `expected ${code}, got ${String(err)}`).toBe(true)
}

/** The reference model: a Map by hex key, sorted on demand. */
class ModelStore {
  readonly map = new Map<string, string>()

  apply(op: BatchOp): void {
    if (op.type === 'put') this.map.set(bytesToHex(op.key), bytesToHex(op.value))
    else this.map.delete(bytesToHex(op.key))
  }

  clone(): ModelStore {
    const m = new ModelStore()
    for (const [k, v] of this.map) m.map.set(k, v)
    return m
  }

  range(options: RangeOptions = {}): [string, string][] {
    const { gt, gte, lt, lte, reverse = false, limit = Number.POSITIVE_INFINITY } = options
    const entries = [...this.map.entries()].sort(([a], [b]) => compareBytes(h(a), h(b)))
    const selected = entries.filter(([k]) => {
      const key = h(k)
      if (gte !== undefined) {
        if (compareBytes(key, gte) < 0) return false
      } else if (gt !== undefined && compareBytes(key, gt) <= 0) return false
      if (lte !== undefined) {
        if (compareBytes(key, lte) > 0) return false
      } else if (lt !== undefined && compareBytes(key, lt) >= 0) return false
      return true
    })
    if (reverse) selected.reverse()
    return selected.slice(0, limit)
  }
}

// Keys chosen to stress byte order: the empty key, 0x00 and 0xff bytes, and prefix chains.
const TRICKY_KEYS = ['', '00', '0000', '00ff', '01', '61', '6100', '6162', '616263', '62', 'fe', 'ff', 'ff00', 'ffff']

async function fillTricky(store: KVStore): Promise<ModelStore> {
  const model = new ModelStore()
  const ops: BatchOp[] = TRICKY_KEYS.map((k, i) => ({ type: 'put', key: h(k), value: Uint8Array.of(i) }))
  await store.write(ops)
  for (const op of ops) model.apply(op)
  return model
}

const keyArb = fc.array(fc.constantFrom(0x00, 0x01, 0x61, 0x62, 0xfe, 0xff), { maxLength: 3 }).map((a) => Uint8Array.from(a))
const valueArb = fc.uint8Array({ maxLength: 4 })
const opArb: fc.Arbitrary<BatchOp> = fc.oneof(
  fc.record({ type: fc.constant('put' as const), key: keyArb, value: valueArb }),
  fc.record({ type: fc.constant('del' as const), key: keyArb }),
)
const rangeArb: fc.Arbitrary<RangeOptions> = fc.record(
  { gt: keyArb, gte: keyArb, lt: keyArb, lte: keyArb, reverse: fc.boolean(), limit: fc.nat(6) },
  { requiredKeys: [] },
)
type Command =
  | { kind: 'put'; key: Uint8Array; value: Uint8Array }
  | { kind: 'del'; key: Uint8Array }
  | { kind: 'batch'; ops: BatchOp[] }
  | { kind: 'snapshot' }
  | { kind: 'get'; keys: Uint8Array[] }
  | { kind: 'range'; range: RangeOptions }
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyArb, value: valueArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('del' as const), key: keyArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('batch' as const), ops: fc.array(opArb, { maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), keys: fc.array(keyArb, { maxLength: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('range' as const), range: rangeArb }) },
)

/**
 * Registers the KVStore conformance suite for one backend.
 *
 * @example
 * runKVConformance('MemoryStore', { create: async () => createMemoryStore() })
 */
export function runKVConformance(name: string, factory: KVConformanceFactory, options: KVConformanceOptions = {}): void {
  const propertyRuns = options.propertyRuns ?? 100

  describe(`KVStore conformance: ${name}`, () => {
    const opened: KVStore[] = []
    const fresh = async (): Promise<KVStore> => {
      const store = await factory.create()
      opened.push(store)
      return store
    }
    afterEach(async () => {
      // close() is idempotent, so stores the test closed itself are fine here.
      await Promise.all(opened.splice(0).map((s) => s.close()))
    })

    describe('point reads and writes', () => {
      it('gets, has and getMany reflect puts, overwrites and deletes', async () => {
        const store = await fresh()
        expect(store.get(h('01'))).toBeUndefined()
        expect(store.has(h('01'))).toBe(false)
        await store.put(h('01'), h('aa'))
        await store.put(h('02'), h('bb'))
        expect(store.get(h('01'))).toEqual(h('aa'))
        expect(store.has(h('01'))).toBe(true)
        await store.put(h('01'), h('cc'))
        expect(store.get(h('01'))).toEqual(h('cc'))
        expect(store.getMany([h('02'), h('03'), h('01'), h('02')])).toEqual([h('bb'), undefined, h('cc'), h('bb')])
        expect(store.getMany([])).toEqual([])
        await store.delete(h('01'))
        expect(store.get(h('01'))).toBeUndefined()
        expect(store.has(h('01'))).toBe(false)
        await store.delete(h('01'))
        await store.delete(h('99'))
        expect(store.getMany([h('01'), h('02')])).toEqual([undefined, h('bb')])
      })

      it('accepts the empty key and the empty value, and tells an empty value from a missing one', async () => {
        const store = await fresh()
        await store.put(h(''), h(''))
        expect(store.get(h(''))).toEqual(new Uint8Array(0))
        expect(store.has(h(''))).toBe(true)
        expect(await collect(store)).toEqual([['', '']])
        await store.delete(h(''))
        expect(store.has(h(''))).toBe(false)
      })

      it('returns plain Uint8Arrays', async () => {
        const store = await fresh()
        await store.put(h('01'), h('aa'))
        const value = store.get(h('01'))
        expect(Object.getPrototypeOf(value)).toBe(Uint8Array.prototype)
        expect(Object.getPrototypeOf(store.getMany([h('01')])[0])).toBe(Uint8Array.prototype)
        for await (const [k, v] of store.iterate()) {
          expect(Object.getPrototypeOf(k)).toBe(Uint8Array.prototype)
          expect(Object.getPrototypeOf(v)).toBe(Uint8Array.prototype)
        }
      })

      it('returns arrays that own their memory, shared with nothing else', async () => {
        const store = await fresh()
        await store.write(
          Array.from({ length: 20 }, (_, i) => ({ type: 'put' as const, key: Uint8Array.of(i), value: Uint8Array.of(i, i) })),
        )
        const returned: Uint8Array[] = [store.get(h('01'))!, ...(store.getMany([h('02'), h('03')]) as Uint8Array[])]
        for await (const [k, v] of store.iterate()) returned.push(k, v)
        const snap = store.snapshot()
        returned.push(snap.get(h('04'))!)
        for await (const [k, v] of snap.iterate({ limit: 2 })) returned.push(k, v)
        await snap.close()
        for (const b of returned) expect(b.byteLength).toBe(b.buffer.byteLength)
        expect(new Set(returned.map((b) => b.buffer)).size).toBe(returned.length)
      })

      it('does not alias caller buffers: inputs and outputs can be mutated freely', async () => {
        const store = await fresh()
        const key = h('0102')
        const value = h('aabb')
        const pending = store.put(key, value)
        // Mutating right after the call, before it resolves, must not change what gets stored.
        key[0] = 0x09
        value[0] = 0x00
        await pending
        expect(store.get(h('0102'))).toEqual(h('aabb'))
        expect(store.has(h('0902'))).toBe(false)

        const ops: BatchOp[] = [{ type: 'put', key: h('03'), value: h('cc') }]
        const writing = store.write(ops)
        ;(ops[0] as { value: Uint8Array }).value[0] = 0xdd
        await writing
        expect(store.get(h('03'))).toEqual(h('cc'))

        const got = store.get(h('0102'))!
        got[0] = 0xff
        expect(store.get(h('0102'))).toEqual(h('aabb'))
        const [many] = store.getMany([h('0102')])
        many![1] = 0xff
        expect(store.get(h('0102'))).toEqual(h('aabb'))
        for await (const [k, v] of store.iterate()) {
          k[0] = 0x7f
          v.fill(0)
        }
        expect(await collect(store)).toEqual([
          ['0102', 'aabb'],
          ['03', 'cc'],
        ])
      })

      it('rejects non-byte keys and values with STORAGE_INVALID_ARGUMENT', async () => {
        const store = await fresh()
        const bad = 'a' as unknown as Uint8Array
        expectCode(() => store.get(bad), 'STORAGE_INVALID_ARGUMENT')
        expectCode(() => store.has(bad), 'STORAGE_INVALID_ARGUMENT')
        expectCode(() => store.getMany([h('01'), bad]), 'STORAGE_INVALID_ARGUMENT')
        await expectRejects(store.put(bad, h('01')), 'STORAGE_INVALID_ARGUMENT')
        await expectRejects(store.put(h('01'), null as unknown as Uint8Array), 'STORAGE_INVALID_ARGUMENT')
        await expectRejects(store.delete(bad), 'STORAGE_INVALID_ARGUMENT')
        expect(store.has(h('01'))).toBe(false)
      })
    })

    describe('batches', () => {
      it('applies ops in order: the last op on a key wins', async () => {
        const store = await fresh()
        await store.put(h('03'), h('33'))
        await store.write([
          { type: 'put', key: h('01'), value: h('11') },
          { type: 'del', key: h('01') },
          { type: 'del', key: h('02') },
          { type: 'put', key: h('02'), value: h('22') },
          { type: 'put', key: h('03'), value: h('34') },
          { type: 'put', key: h('03'), value: h('35') },
          { type: 'del', key: h('04') },
        ])
        expect(await collect(store)).toEqual([
          ['02', '22'],
          ['03', '35'],
        ])
      })

      it('accepts an empty batch and sync writes', async () => {
        const store = await fresh()
        await store.write([])
        await store.write([], { sync: true })
        await store.write([{ type: 'put', key: h('01'), value: h('11') }], { sync: true })
        await store.write([{ type: 'put', key: h('02'), value: h('22') }], { sync: false })
        expect(store.getMany([h('01'), h('02')])).toEqual([h('11'), h('22')])
      })

      it('applies nothing when any op is invalid', async () => {
        const store = await fresh()
        await store.put(h('01'), h('11'))
        const ops = [
          { type: 'del', key: h('01') },
          { type: 'put', key: h('02'), value: h('22') },
          { type: 'put', key: h('03') },
        ] as unknown as BatchOp[]
        await expectRejects(store.write(ops), 'STORAGE_INVALID_ARGUMENT')
        await expectRejects(store.write([{ type: 'nope', key: h('02') } as unknown as BatchOp]), 'STORAGE_INVALID_ARGUMENT')
        expect(await collect(store)).toEqual([['01', '11']])
      })

      it('makes a batch visible all at once to concurrent readers', async () => {
        const store = await fresh()
        const keys = Array.from({ length: 200 }, (_, i) => Uint8Array.of(i >> 8, i & 0xff))
        for (let round = 0; round < 5; round++) {
          const value = Uint8Array.of(round)
          const ops: BatchOp[] = keys.map((key) => ({ type: 'put', key, value }))
          const writing = store.write(ops)
          let done = false
          void writing.then(() => {
            done = true
          })
          // Poll while the write is in flight: every read sees the whole batch or none of it.
          while (!done) {
            const seen = new Set(store.getMany(keys).map((v) => (v === undefined ? 'none' : String(v[0]))))
            expect(seen.size).toBe(1)
            await new Promise((resolve) => setImmediate(resolve))
          }
          await writing
          expect(store.getMany(keys).every((v) => v?.[0] === round)).toBe(true)
        }
      })
    })

    describe('range iteration', () => {
      it('iterates all entries in unsigned byte order, forwards and backwards', async () => {
        const store = await fresh()
        const model = await fillTricky(store)
        const sorted = [...TRICKY_KEYS].sort((a, b) => compareBytes(h(a), h(b)))
        expect((await collect(store)).map(([k]) => k)).toEqual(sorted)
        expect((await collect(store, { reverse: true })).map(([k]) => k)).toEqual([...sorted].reverse())
        expect(await collect(store)).toEqual(model.range())
      })

      it('honours bounds around prefixes and 0x00/0xff bytes', async () => {
        const store = await fresh()
        await fillTricky(store)
        const keys = async (options: RangeOptions): Promise<string[]> => (await collect(store, options)).map(([k]) => k)
        // Everything starting with 0x61 ('a'): the prefix itself and its extensions.
        expect(await keys({ gte: h('61'), lt: h('62') })).toEqual(['61', '6100', '6162', '616263'])
        expect(await keys({ gt: h('61'), lt: h('62') })).toEqual(['6100', '6162', '616263'])
        expect(await keys({ gt: h('6162'), lte: h('62') })).toEqual(['616263', '62'])
        expect(await keys({ gte: h('6162'), lte: h('616263'), reverse: true })).toEqual(['616263', '6162'])
        expect(await keys({ lt: h('00') })).toEqual([''])
        expect(await keys({ lte: h('00') })).toEqual(['', '00'])
        expect(await keys({ gt: h(''), lt: h('0000') })).toEqual(['00'])
        expect(await keys({ gte: h('ff') })).toEqual(['ff', 'ff00', 'ffff'])
        expect(await keys({ gt: h('ffff') })).toEqual([])
        expect(await keys({ gt: h('ff'), reverse: true, limit: 1 })).toEqual(['ffff'])
        expect(await keys({ gte: h('00ff'), lt: h('01ff') })).toEqual(['00ff', '01'])
      })

      it('yields nothing for empty and inverted ranges', async () => {
        const store = await fresh()
        await fillTricky(store)
        expect(await collect(store, { gte: h('62'), lt: h('62') })).toEqual([])
        expect(await collect(store, { gt: h('62'), lte: h('62') })).toEqual([])
        expect(await collect(store, { gt: h('fe'), lt: h('61') })).toEqual([])
        expect(await collect(store, { gt: h('fe'), lt: h('61'), reverse: true })).toEqual([])
        expect(await collect(store, { gte: h('0001'), lt: h('00ff') })).toEqual([])
        expect(await collect(store, { gte: h('62'), lte: h('62') })).toEqual([['62', '09']])
        expect(await collect(store, { limit: 0 })).toEqual([])
        const empty = await fresh()
        expect(await collect(empty)).toEqual([])
        expect(await collect(empty, { reverse: true, gte: h('01') })).toEqual([])
      })

      it('limits to the first entries, or the last ones with reverse', async () => {
        const store = await fresh()
        await fillTricky(store)
        expect((await collect(store, { limit: 2 })).map(([k]) => k)).toEqual(['', '00'])
        expect((await collect(store, { limit: 2, reverse: true })).map(([k]) => k)).toEqual(['ffff', 'ff00'])
        expect((await collect(store, { limit: 100 })).length).toBe(TRICKY_KEYS.length)
        expect((await collect(store, { limit: Number.POSITIVE_INFINITY })).length).toBe(TRICKY_KEYS.length)
      })

      it('lets gte win over gt and lte over lt', async () => {
        const store = await fresh()
        const model = await fillTricky(store)
        const options: RangeOptions = { gt: h('61'), gte: h('61'), lt: h('62'), lte: h('62') }
        expect((await collect(store, options)).map(([k]) => k)).toEqual(['61', '6100', '6162', '616263', '62'])
        expect(await collect(store, options)).toEqual(model.range(options))
      })

      it('matches the reference model for every bound combination', async () => {
        const store = await fresh()
        const model = await fillTricky(store)
        const bounds = ['', '00', '0001', '61', '6162', '6163', 'ff', 'ffff', 'ffffff']
        const lowers: RangeOptions[] = [{}, ...bounds.flatMap((b) => [{ gt: h(b) }, { gte: h(b) }])]
        const uppers: RangeOptions[] = [{}, ...bounds.flatMap((b) => [{ lt: h(b) }, { lte: h(b) }])]
        for (const lower of lowers) {
          for (const upper of uppers) {
            for (const reverse of [false, true]) {
              for (const limit of [undefined, 1, 3]) {
                const options: RangeOptions = { ...lower, ...upper, reverse, ...(limit === undefined ? {} : { limit }) }
                expect(await collect(store, options)).toEqual(model.range(options))
              }
            }
          }
        }
      })

      it('rejects bad range options with STORAGE_INVALID_ARGUMENT', async () => {
        const store = await fresh()
        for (const limit of [-1, 1.5, Number.NaN]) expectCode(() => store.iterate({ limit }), 'STORAGE_INVALID_ARGUMENT')
        expectCode(() => store.iterate({ gt: 'a' as unknown as Uint8Array }), 'STORAGE_INVALID_ARGUMENT')
      })

      it('can iterate the same iterable twice and stop early', async () => {
        const store = await fresh()
        await fillTricky(store)
        const iterable = store.iterate({ gte: h('61') })
        const first = await (async () => {
          for await (const [k] of iterable) return bytesToHex(k)
          return undefined
        })()
        expect(first).toBe('61')
        await store.put(h('6101'), h('01'))
        // A new iteration begins a new view, which includes the put.
        expect((await collect(store, { gte: h('61'), lt: h('6102') })).map(([k]) => k)).toEqual(['61', '6100', '6101'])
        let n = 0
        for await (const _ of iterable) n++
        expect(n).toBe(10)
      })

      it('keeps iterating its starting view while the store is written', async () => {
        const store = await fresh()
        const model = await fillTricky(store)
        const before = model.range()
        const seen: [string, string][] = []
        let i = 0
        for await (const [k, v] of store.iterate()) {
          seen.push([bytesToHex(k), bytesToHex(v)])
          // Delete what comes next, insert around the cursor and overwrite what was seen.
          await store.write([
            { type: 'del', key: h(before[i + 1]?.[0] ?? '') },
            { type: 'put', key: Uint8Array.of(...k, 0x00), value: h('ee') },
            { type: 'put', key: k, value: h('dd') },
          ])
          await store.put(h('7f'), h('ff'))
          i++
        }
        expect(seen).toEqual(before)
        expect(store.get(h('7f'))).toEqual(h('ff'))
      })
    })

    describe('snapshots', () => {
      it('are unaffected by later writes', async () => {
        const store = await fresh()
        await store.write([
          { type: 'put', key: h('01'), value: h('11') },
          { type: 'put', key: h('02'), value: h('22') },
        ])
        const snap = store.snapshot()
        await store.put(h('01'), h('12'))
        await store.delete(h('02'))
        await store.write([{ type: 'put', key: h('03'), value: h('33') }])
        const snap2 = store.snapshot()
        await store.put(h('04'), h('44'))

        expect(snap.get(h('01'))).toEqual(h('11'))
        expect(snap.has(h('02'))).toBe(true)
        expect(snap.has(h('03'))).toBe(false)
        expect(snap.getMany([h('01'), h('02'), h('03')])).toEqual([h('11'), h('22'), undefined])
        expect(await collect(snap)).toEqual([
          ['01', '11'],
          ['02', '22'],
        ])
        expect(await collect(snap, { reverse: true, limit: 1 })).toEqual([['02', '22']])
        expect(await collect(snap2)).toEqual([
          ['01', '12'],
          ['03', '33'],
        ])
        expect(await collect(store)).toEqual([
          ['01', '12'],
          ['03', '33'],
          ['04', '44'],
        ])
        await snap.close()
        await snap2.close()
      })

      it('return copies that do not alias the snapshot', async () => {
        const store = await fresh()
        await store.put(h('01'), h('11'))
        const snap = store.snapshot()
        snap.get(h('01'))!.fill(0)
        expect(snap.get(h('01'))).toEqual(h('11'))
        await snap.close()
      })

      it('throw STORAGE_CLOSED after close, which is idempotent', async () => {
        const store = await fresh()
        await store.put(h('01'), h('11'))
        const snap = store.snapshot()
        await snap.close()
        await snap.close()
        expectCode(() => snap.get(h('01')), 'STORAGE_CLOSED')
        expectCode(() => snap.has(h('01')), 'STORAGE_CLOSED')
        expectCode(() => snap.getMany([h('01')]), 'STORAGE_CLOSED')
        await expectRejects(collect(snap), 'STORAGE_CLOSED')
        expect(store.get(h('01'))).toEqual(h('11'))
      })

      it('fail an iteration in progress when closed', async () => {
        const store = await fresh()
        await fillTricky(store)
        const snap = store.snapshot()
        const run = async (): Promise<void> => {
          for await (const _ of snap.iterate()) await snap.close()
        }
        await expectRejects(run(), 'STORAGE_CLOSED')
      })

      it('are closed when the store closes', async () => {
        const store = await fresh()
        await store.put(h('01'), h('11'))
        const snap = store.snapshot()
        await store.close()
        expectCode(() => snap.get(h('01')), 'STORAGE_CLOSED')
        await expectRejects(collect(snap), 'STORAGE_CLOSED')
        await snap.close()
      })
    })

    describe('close', () => {
      it('makes every later use throw STORAGE_CLOSED, and is idempotent', async () => {
        const store = await fresh()
        await store.put(h('01'), h('11'))
        await Promise.all([store.close(), store.close()])
        await store.close()
        expectCode(() => store.get(h('01')), 'STORAGE_CLOSED')
        expectCode(() => store.has(h('01')), 'STORAGE_CLOSED')
        expectCode(() => store.getMany([h('01')]), 'STORAGE_CLOSED')
        expectCode(() => store.snapshot(), 'STORAGE_CLOSED')
        await expectRejects(store.put(h('01'), h('11')), 'STORAGE_CLOSED')
        await expectRejects(store.delete(h('01')), 'STORAGE_CLOSED')
        await expectRejects(store.write([{ type: 'del', key: h('01') }]), 'STORAGE_CLOSED')
        await expectRejects(store.write([]), 'STORAGE_CLOSED')
        await expectRejects(collect(store), 'STORAGE_CLOSED')
      })

      it('fails an iteration in progress', async () => {
        const store = await fresh()
        await fillTricky(store)
        const run = async (): Promise<void> => {
          for await (const _ of store.iterate()) await store.close()
        }
        await expectRejects(run(), 'STORAGE_CLOSED')
      })
    })

    if (factory.reopen !== undefined) {
      const reopen = factory.reopen.bind(factory)
      describe('persistence', () => {
        it('keeps data across close and reopen', async () => {
          let store = await fresh()
          const model = await fillTricky(store)
          await store.write([{ type: 'del', key: h('61') }], { sync: true })
          model.apply({ type: 'del', key: h('61') })
          await store.put(h('0203'), h('04'))
          model.apply({ type: 'put', key: h('0203'), value: h('04') })
          store = await reopen(store)
          opened.push(store)
          expect(await collect(store)).toEqual(model.range())
          expect(store.get(h('0203'))).toEqual(h('04'))
          expect(store.has(h('61'))).toBe(false)
        })
      })
    }

    describe('property: behaves like a sorted map', () => {
      it('matches the reference model on random op sequences, ranges and snapshots', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.array(commandArb, { maxLength: 40 }),
            fc.array(rangeArb, { minLength: 1, maxLength: 4 }),
            async (commands, finalRanges) => {
              const store = await fresh()
              const model = new ModelStore()
              const snapshots: { snap: ReturnType<KVStore['snapshot']>; model: ModelStore }[] = []
              try {
                for (const c of commands) {
                  switch (c.kind) {
                    case 'put':
                      await store.put(c.key, c.value)
                      model.apply({ type: 'put', key: c.key, value: c.value })
                      break
                    case 'del':
                      await store.delete(c.key)
                      model.apply({ type: 'del', key: c.key })
                      break
                    case 'batch':
                      await store.write(c.ops)
                      for (const op of c.ops) model.apply(op)
                      break
                    case 'snapshot':
                      snapshots.push({ snap: store.snapshot(), model: model.clone() })
                      break
                    case 'get': {
                      const expected = c.keys.map((k) => model.map.get(bytesToHex(k)))
                      expect(store.getMany(c.keys).map((v) => (v === undefined ? undefined : bytesToHex(v)))).toEqual(expected)
                      for (const k of c.keys) expect(store.has(k)).toBe(model.map.has(bytesToHex(k)))
                      break
                    }
                    case 'range':
                      expect(await collect(store, c.range)).toEqual(model.range(c.range))
                      break
                  }
                }
                expect(await collect(store)).toEqual(model.range())
                for (const range of finalRanges) expect(await collect(store, range)).toEqual(model.range(range))
                for (const { snap, model: then } of snapshots) {
                  expect(await collect(snap)).toEqual(then.range())
                  for (const range of finalRanges) expect(await collect(snap, range)).toEqual(then.range(range))
                  for (const [k, v] of then.map) expect(bytesToHex(snap.get(h(k))!)).toBe(v)
                }
              } finally {
                await Promise.all(snapshots.map(({ snap }) => snap.close()))
                await store.close()
              }
            },
          ),
          { numRuns: propertyRuns },
        )
      })
    })
  })
}
