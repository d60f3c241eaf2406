import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Reader, Writer } from '../src/index.js'

// Writers draw their buffers from the shared byte pool (ADR 0015): several writers alive at once,
// growing past their first buffer and finishing in any order, must each return exactly their bytes,
// and what one returned must not change when others (or a reused scratch writer) write on.
const chunk = fc.oneof(
  fc.record({ kind: fc.constant('raw' as const), b: fc.uint8Array({ maxLength: 300 }) }),
  fc.record({ kind: fc.constant('str' as const), s: fc.string({ maxLength: 80 }) }),
  fc.record({ kind: fc.constant('int' as const), n: fc.maxSafeNat() }),
)

describe('Writer on the byte pool', () => {
  it('interleaved writers return exactly their own bytes, which stay intact (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ writer: fc.nat(3), chunk, finish: fc.boolean() }), { maxLength: 60 }),
        fc.array(fc.nat(2000), { minLength: 4, maxLength: 4 }),
        (steps, sizes) => {
          const scratch = new Writer(64)
          const live = sizes.map((s) => ({ w: new Writer(s), parts: [] as (typeof steps)[number]['chunk'][] }))
          const done: { bytes: Uint8Array; copy: number[]; parts: (typeof steps)[number]['chunk'][] }[] = []
          const write = (w: Writer, c: (typeof steps)[number]['chunk']) => {
            if (c.kind === 'raw') w.bytes(c.b)
            else if (c.kind === 'str') w.string(c.s)
            else w.varint(c.n)
          }
          for (const step of steps) {
            const slot = live[step.writer % live.length]!
            write(slot.w, step.chunk)
            slot.parts.push(step.chunk)
            // A scratch writer reused between steps: its copies must not alias each other.
            write(scratch.reset(), step.chunk)
            const c = scratch.copy()
            done.push({ bytes: c, copy: Array.from(c), parts: [step.chunk] })
            if (step.finish) {
              const bytes = slot.w.finish()
              done.push({ bytes, copy: Array.from(bytes), parts: slot.parts })
              slot.w = new Writer(64)
              slot.parts = []
            }
          }
          for (const d of done) {
            expect(Array.from(d.bytes)).toEqual(d.copy)
            const r = new Reader(d.bytes)
            for (const c of d.parts) {
              if (c.kind === 'raw') expect(Array.from(r.bytes())).toEqual(Array.from(c.b))
              else if (c.kind === 'str') expect(r.string()).toBe(c.s)
              else expect(r.varint()).toBe(c.n)
            }
            r.end()
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('Writer misuse', () => {
  it('fails on a write or a second finish() after finish()', () => {
    const w = new Writer(16).varint(5)
    expect(Array.from(w.finish())).toEqual([5])
    expect(() => w.u8(1)).toThrow(/after finish/)
    expect(() => w.varint(1)).toThrow(/after finish/)
    expect(() => w.finish()).toThrow(/twice/)
  })

  it('treats a bad initial size as the default and still grows', () => {
    const w = new Writer(Number.NaN).raw(new Uint8Array(1000).fill(3))
    expect(w.finish().length).toBe(1000)
    expect(new Writer(0).string('abc').finish().length).toBe(4)
  })
})
