import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LatestValueCache } from '../src/chain/latestCache.js'

describe('LatestValueCache', () => {
  it('remembers values and absences, and a key set again replaces its value', () => {
    const c = new LatestValueCache(10, 1024)
    expect(c.get('a')).toBeUndefined()
    c.set('a', Uint8Array.of(1))
    c.set('b', null)
    expect(c.get('a')).toEqual(Uint8Array.of(1))
    expect(c.get('b')).toBeNull()
    c.set('a', null)
    c.set('b', Uint8Array.of(2))
    expect(c.get('a')).toBeNull()
    expect(c.get('b')).toEqual(Uint8Array.of(2))
    expect(c.retainedBytes).toBe(1)
  })

  it('evicts the oldest entries first, a tenth at a time, once over its entry count; a key set again counts as new', () => {
    const c = new LatestValueCache(10, 1024)
    for (let i = 0; i < 10; i++) c.set(`k${i}`, null)
    c.set('k0', null)
    expect(c.size).toBe(10)
    c.set('new', null)
    // 11 entries: down to 9, the two oldest (k1 and k2; k0 was set again) leave.
    expect(c.size).toBe(9)
    expect(['k1', 'k2'].map((k) => c.get(k))).toEqual([undefined, undefined])
    expect(['k0', 'k3', 'k9', 'new'].map((k) => c.get(k))).toEqual([null, null, null, null])
  })

  it('counts the buffers values keep alive, once per buffer, and evicts to stay within its bytes', () => {
    const c = new LatestValueCache(100, 100)
    const shared = new Uint8Array(60)
    c.set('a', shared.subarray(0, 10))
    c.set('b', shared.subarray(10, 20))
    expect(c.retainedBytes).toBe(60)
    c.set('c', new Uint8Array(30))
    expect(c.retainedBytes).toBe(90)
    // 60 + 30 + 20 > 100: the oldest go until the rest fits; the shared buffer is released with its last view.
    c.set('d', new Uint8Array(20))
    expect(c.get('a')).toBeUndefined()
    expect(c.get('b')).toBeUndefined()
    expect(c.retainedBytes).toBe(50)
    // A buffer larger than the budget is not cached (and the old value of its key is gone).
    c.set('c', new Uint8Array(101))
    expect(c.get('c')).toBeUndefined()
    expect(c.retainedBytes).toBe(20)
  })

  it('property: a sharded cache (over 1,024 entries) stays within both bounds, agrees with a plain map, and counts its buffers', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 6000 }), fc.option(fc.integer({ min: 0, max: 200 }), { nil: null })), {
          minLength: 1000,
          maxLength: 4000,
        }),
        (ops) => {
          const c = new LatestValueCache(2000, 100_000)
          const truth = new Map<string, Uint8Array | null>()
          for (const [key, len] of ops) {
            const v = len === null ? null : new Uint8Array(len)
            c.set(`k${key}`, v)
            truth.set(`k${key}`, v)
            expect(c.size).toBeLessThanOrEqual(2000)
            expect(c.retainedBytes).toBeLessThanOrEqual(100_000)
          }
          let held = 0
          let bytes = 0
          for (const [k, v] of truth) {
            const got = c.get(k)
            if (got === undefined) continue
            expect(got).toBe(v)
            held++
            bytes += got?.buffer.byteLength ?? 0
          }
          expect(c.size).toBe(held)
          expect(c.retainedBytes).toBe(bytes)
        },
      ),
      // Runs are long: a failure is reported as found, not shrunk.
      { numRuns: 30, seed: 0x5eed, endOnFailure: true },
    )
  })

  it('evicts by bytes the oldest blocks first when each block’s values share a buffer and spread over all the shards', () => {
    // As the chain caches a block's latest values: 1,000 values packed into one array per block.
    const c = new LatestValueCache(200_000, 500_000)
    for (let block = 0; block < 200; block++) {
      const packed = new Uint8Array(10_000)
      for (let i = 0; i < 1000; i++) c.set(`asset-transfer\u0000asset\u0000a${block * 1000 + i}`, packed.subarray(i * 10, i * 10 + 10))
      expect(c.retainedBytes).toBeLessThanOrEqual(500_000)
    }
    // 50 blocks fit in the bytes: most of them stay, and the newest are all there.
    expect(c.size).toBeGreaterThan(30_000)
    for (let i = 190_000; i < 200_000; i++) expect(c.get(`asset-transfer\u0000asset\u0000a${i}`)).toBeDefined()
  })

  it('property: agrees with a plain map on every key it still holds, within its bounds', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.option(fc.integer({ min: 0, max: 40 }), { nil: null }), fc.boolean())),
        (ops) => {
          const c = new LatestValueCache(8, 64)
          const truth = new Map<string, Uint8Array | null>()
          const slab = new Uint8Array(32)
          let at = 0
          for (const [key, len, pooled] of ops) {
            let v: Uint8Array | null = null
            if (len !== null) {
              if (pooled && at + len <= slab.length) {
                v = slab.subarray(at, at + len)
                at += len
              } else v = new Uint8Array(len)
            }
            c.set(`k${key}`, v)
            truth.set(`k${key}`, v)
            expect(c.size).toBeLessThanOrEqual(8)
            expect(c.retainedBytes).toBeLessThanOrEqual(64)
          }
          let expected = 0
          const buffers = new Set<ArrayBufferLike>()
          for (const [k, v] of truth) {
            const got = c.get(k)
            if (got === undefined) continue
            expect(got).toBe(v)
            if (got !== null && !buffers.has(got.buffer)) {
              buffers.add(got.buffer)
              expected += got.buffer.byteLength
            }
          }
          expect(c.retainedBytes).toBe(expected)
        },
      ),
      { numRuns: 300, seed: 0x5eed },
    )
  })
})
