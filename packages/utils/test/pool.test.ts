import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { allocBytes, copyBytes, growBytes, trimBytes } from '../src/index.js'

const plain = (b: Uint8Array) => Array.from(b)

// One live array in the model: what the pool returned and the bytes it must still hold.
interface Live {
  arr: Uint8Array
  expected: number[]
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('alloc' as const), n: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 3000, max: 9000 })) }),
  fc.record({ kind: fc.constant('trim' as const), pick: fc.nat(), keep: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('grow' as const), pick: fc.nat(), extra: fc.integer({ min: 0, max: 2000 }) }),
  fc.record({ kind: fc.constant('copy' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }),
)

describe('byte pool', () => {
  it('hands out zeroed arrays that never overlap, and trim/grow/copy keep every live array intact (property)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), fc.integer({ min: 1, max: 255 }), (ops, seed) => {
        const live: Live[] = []
        let stamp = seed
        // Fills an array with a pattern of its own, so any overlap with another live array shows.
        const fill = (l: Live) => {
          for (let i = 0; i < l.arr.length; i++) {
            stamp = (stamp * 31 + 7) & 255
            l.arr[i] = stamp
            l.expected[i] = stamp
          }
        }
        for (const o of ops) {
          if (o.kind === 'alloc') {
            const arr = allocBytes(o.n)
            expect(arr.length).toBe(o.n)
            expect(arr.every((b) => b === 0)).toBe(true)
            const l = { arr, expected: [] }
            fill(l)
            live.push(l)
            continue
          }
          if (live.length === 0) continue
          const i = o.pick % live.length
          const l = live[i] as Live
          if (o.kind === 'trim') {
            const n = Math.floor(o.keep * l.arr.length)
            const out = trimBytes(l.arr, n)
            expect(plain(out)).toEqual(l.expected.slice(0, n))
            live[i] = { arr: out, expected: l.expected.slice(0, n) }
          } else if (o.kind === 'grow') {
            const out = growBytes(l.arr, l.arr.length + o.extra)
            expect(plain(out.subarray(0, l.arr.length))).toEqual(l.expected)
            expect(out.subarray(l.arr.length).every((b) => b === 0)).toBe(true)
            live[i] = { arr: out, expected: [...l.expected, ...new Array<number>(o.extra).fill(0)] }
            // The old array may now share memory with the grown one: it is no longer the caller's.
          } else if (o.kind === 'copy') {
            const out = copyBytes(l.arr)
            expect(plain(out)).toEqual(l.expected)
            const c = { arr: out, expected: [] }
            fill(c)
            live.push(c)
          } else {
            live.splice(i, 1)
          }
        }
        for (const l of live) expect(plain(l.arr)).toEqual(l.expected)
      }),
      { numRuns: 300 },
    )
  })

  it('keeps small arrays in shared slabs and gives large ones their own buffer', () => {
    const a = allocBytes(100)
    const b = allocBytes(100)
    expect(a.buffer).toBe(b.buffer)
    expect(b.byteOffset).toBe(a.byteOffset + 100)
    const big = allocBytes(5000)
    expect(big.byteOffset).toBe(0)
    expect(big.buffer.byteLength).toBe(5000)
  })

  it('trim gives back the unused tail of the latest allocation, zeroed', () => {
    const w = allocBytes(256)
    w.fill(9)
    const out = trimBytes(w, 10)
    expect(out.length).toBe(10)
    const next = allocBytes(246)
    expect(next.buffer).toBe(out.buffer)
    expect(next.byteOffset).toBe(out.byteOffset + 10)
    expect(next.every((x) => x === 0)).toBe(true)
    expect(out.every((x) => x === 9)).toBe(true)
  })

  it('trim of an older allocation is a view, and of a large buffer a right-sized copy', () => {
    const older = allocBytes(50).fill(3)
    allocBytes(1)
    const v = trimBytes(older, 20)
    expect(v.buffer).toBe(older.buffer)
    expect(plain(v)).toEqual(new Array(20).fill(3))
    const big = new Uint8Array(10_000).fill(4)
    const c = trimBytes(big, 100)
    expect(c.buffer.byteLength).toBe(100)
    expect(plain(c)).toEqual(new Array(100).fill(4))
  })

  it('grow extends the latest allocation in place and copies an older one', () => {
    const a = allocBytes(16).fill(1)
    const g = growBytes(a, 64)
    expect(g.buffer).toBe(a.buffer)
    expect(g.byteOffset).toBe(a.byteOffset)
    expect(plain(g)).toEqual([...new Array(16).fill(1), ...new Array(48).fill(0)])
    allocBytes(1)
    const h = growBytes(g, 128, 8)
    expect(h.byteOffset).not.toBe(g.byteOffset)
    expect(plain(h)).toEqual([...new Array(8).fill(1), ...new Array(120).fill(0)])
  })
})

describe('byte pool, misuse', () => {
  it('leaves the pool untouched for sizes that are not small non-negative integers', () => {
    const before = allocBytes(8)
    expect(allocBytes(Number.NaN).length).toBe(0)
    expect(allocBytes(2.5).length).toBe(2)
    expect(() => allocBytes(-1)).toThrow(RangeError)
    const after = allocBytes(8)
    expect(after.buffer).toBe(before.buffer)
    expect(after.byteOffset).toBe(before.byteOffset + 8)
  })

  it('grow refuses to shrink and clears what it does not keep', () => {
    const b = allocBytes(8).fill(7)
    expect(() => growBytes(b, 4)).toThrow(RangeError)
    expect(() => growBytes(b, 16, 9)).toThrow(RangeError)
    expect(Array.from(growBytes(b, 16, 2))).toEqual([7, 7, ...new Array(14).fill(0)])
  })
})
