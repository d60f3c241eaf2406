import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { byteKey } from '../src/byteKey.js'
import { ShardedMap } from '../src/shardedMap.js'

/** A state key as the executor files it: contract name, NUL, the contract's composite key. */
function stateKey(contract: string, ...parts: string[]): Uint8Array {
  return new TextEncoder().encode(`${contract}\u0000${parts.join('\u0000')}`)
}

/** A tree node's storage key: version (u64 big-endian) then the nibble path, as the state tree writes it. */
function nodeKey(version: number, path: number[]): Uint8Array {
  const b = new Uint8Array(9 + Math.ceil(path.length / 2))
  new DataView(b.buffer).setBigUint64(0, BigInt(version))
  b[8] = path.length
  path.forEach((n, i) => (b[9 + (i >> 1)] |= i % 2 === 0 ? n << 4 : n))
  return b
}

function shardSizes<V>(m: ShardedMap<V>): number[] {
  return Array.from({ length: m.shardCount }, (_, i) => m.shardAt(i).size)
}

describe('ShardedMap', () => {
  it('sizes its shards for about a thousand entries each, at least one shard', () => {
    expect(new ShardedMap(0).shardCount).toBe(1)
    expect(new ShardedMap(1024).shardCount).toBe(1)
    expect(new ShardedMap(1025).shardCount).toBe(2)
    expect(new ShardedMap(6000).shardCount).toBe(8)
    expect(new ShardedMap(100_000).shardCount).toBe(128)
  })

  it('property: behaves as a Map for get, has, set, delete, size and the set of entries', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.array(fc.tuple(fc.constantFrom('set', 'delete', 'get'), fc.string({ maxLength: 6 }), fc.integer()), { maxLength: 300 }),
        (expected, ops) => {
          const m = new ShardedMap<number>(expected)
          const truth = new Map<string, number>()
          for (const [op, k, v] of ops) {
            if (op === 'set') {
              expect(m.set(k, v)).toBe(m)
              truth.set(k, v)
            } else if (op === 'delete') expect(m.delete(k)).toBe(truth.delete(k))
            expect(m.get(k)).toBe(truth.get(k))
            expect(m.has(k)).toBe(truth.has(k))
            expect(m.size).toBe(truth.size)
          }
          const sorted = (it: Iterable<[string, number]>) => [...it].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
          expect(sorted(m)).toEqual(sorted(truth))
          expect(sorted(m.entries())).toEqual(sorted(truth))
          expect([...m.keys()].sort()).toEqual([...truth.keys()].sort())
          expect([...m.values()].sort()).toEqual([...truth.values()].sort())
          const seen: Array<[string, number]> = []
          m.forEach((v, k) => seen.push([k, v]))
          expect(sorted(seen)).toEqual(sorted(truth))
          m.clear()
          expect(m.size).toBe(0)
        },
      ),
      { numRuns: 200, seed: 0x5a4d },
    )
  })

  it('keeps the insertion order within a shard (what the caches evict by)', () => {
    const m = new ShardedMap<number>(1)
    for (const k of ['c', 'a', 'b']) m.set(k, 0)
    m.delete('a')
    m.set('a', 1)
    expect([...m.keys()]).toEqual(['c', 'b', 'a'])
  })

  it('spreads the node’s keys evenly: no shard near the size V8 moves to its large-object space', () => {
    const cases: Array<[string, Uint8Array[]]> = [
      // asset-transfer's keys: assets and the owner index, ids ending in digits (256 shards)
      [
        'state keys',
        Array.from({ length: 200_000 }, (_, i) =>
          i % 2 === 0 ? stateKey('asset-transfer', 'asset', `a${i}`) : stateKey('asset-transfer', 'owner', `u${i % 1000}`, `a${i}`),
        ),
      ],
      // the nodes one block writes at one version: every path of one to four nibbles under a few roots
      [
        'tree-node keys',
        Array.from({ length: 20_000 }, (_, i) => nodeKey(7, [i & 15, (i >> 4) & 15, (i >> 8) & 15, (i >> 12) & 15].slice(0, 1 + (i % 4)))),
      ],
      ['hashes', Array.from({ length: 30_000 }, (_, i) => nodeKey(i, []).map((b, j) => (b * 31 + i * (j + 7)) & 255))],
    ]
    for (const [name, keys] of cases) {
      const m = new ShardedMap<number>(keys.length)
      for (const k of keys) m.set(byteKey(k), 0)
      const sizes = shardSizes(m)
      const mean = m.size / m.shardCount
      expect(Math.max(...sizes), name).toBeLessThan(Math.max(2.5 * mean, 64))
      expect(Math.max(...sizes), name).toBeLessThan(4096)
    }
  })
})
