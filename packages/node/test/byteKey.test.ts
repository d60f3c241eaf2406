import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { byteKey, byteKeyBytes } from '../src/byteKey.js'

describe('byteKey', () => {
  it('is one char per byte, round-trips, and tells distinct byte strings apart (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), fc.nat(64), (a, b, offset) => {
        // Views at an offset into a larger buffer, as pooled arrays are.
        const backing = new Uint8Array(offset + a.length)
        backing.set(a, offset)
        const view = backing.subarray(offset)
        const k = byteKey(view)
        expect(k).toBe(String.fromCharCode(...a))
        expect(Array.from(byteKeyBytes(k))).toEqual(Array.from(a))
        expect(k === byteKey(b)).toBe(a.length === b.length && a.every((x, i) => x === b[i]))
      }),
    )
  })
})
