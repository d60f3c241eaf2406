import { bytesToHex, compareBytes } from '@trellis/utils'
import * as fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { AvlTree } from '../src/memory/avlTree.js'
import { avlInsert, avlRange, avlRemove } from '../src/memory/avlTree.js'
import { normalizeRange } from '../src/validate.js'

/** Checks the AVL invariants and returns the height. */
function checkNode(n: AvlTree, lo: Uint8Array | undefined, hi: Uint8Array | undefined): number {
  if (n === undefined) return 0
  if (lo !== undefined) expect(compareBytes(n.key, lo)).toBeGreaterThan(0)
  if (hi !== undefined) expect(compareBytes(n.key, hi)).toBeLessThan(0)
  const hl = checkNode(n.left, lo, n.key)
  const hr = checkNode(n.right, n.key, hi)
  expect(Math.abs(hl - hr)).toBeLessThanOrEqual(1)
  expect(n.height).toBe(Math.max(hl, hr) + 1)
  return n.height
}

function dump(root: AvlTree): string[] {
  return [...avlRange(root, normalizeRange(undefined))].map((n) => `${bytesToHex(n.key)}=${bytesToHex(n.value)}`)
}

describe('persistent AVL tree', () => {
  it('stays balanced and sorted, and never changes a published root', () => {
    const key = fc.uint8Array({ maxLength: 2 })
    const op = fc.oneof(
      fc.record({ put: fc.constant(true as const), key, value: fc.uint8Array({ maxLength: 1 }) }),
      fc.record({ put: fc.constant(false as const), key }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        let root: AvlTree
        const history: { root: AvlTree; dump: string[] }[] = []
        for (const o of ops) {
          root = o.put ? avlInsert(root, o.key, o.value) : avlRemove(root, o.key)
          checkNode(root, undefined, undefined)
          history.push({ root, dump: dump(root) })
        }
        for (const past of history) expect(dump(past.root)).toEqual(past.dump)
      }),
    )
  })

  it('keeps logarithmic height for sequential keys', () => {
    let root: AvlTree
    const n = 1 << 14
    for (let i = 0; i < n; i++) root = avlInsert(root, Uint8Array.of(i >> 8, i & 0xff), new Uint8Array(0))
    expect(root?.height).toBeLessThanOrEqual(Math.ceil(1.45 * Math.log2(n + 2)))
    for (let i = 0; i < n; i += 2) root = avlRemove(root, Uint8Array.of(i >> 8, i & 0xff))
    expect(checkNode(root, undefined, undefined)).toBeLessThanOrEqual(Math.ceil(1.45 * Math.log2(n / 2 + 2)))
  })

  it('returns the same root when removing an absent key', () => {
    const root = avlInsert(avlInsert(undefined, Uint8Array.of(1), Uint8Array.of(1)), Uint8Array.of(3), Uint8Array.of(3))
    expect(avlRemove(root, Uint8Array.of(2))).toBe(root)
  })
})
