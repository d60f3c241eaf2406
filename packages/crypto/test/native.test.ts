import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { nativeHashing, sha256 } from '@trellis/crypto'
import { loadNativeSha256, type Sha256Into } from '../src/node/native.js'

const reference = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest())

// The install step builds the addon on this machine kind; a silently failed build would only show as
// a slower node, so the suite insists on it (TRELLIS_NATIVE=0 runs it without).
const expectNative = process.env.TRELLIS_NATIVE !== '0'

describe('native SHA-256 (ADR 0021)', () => {
  const native = loadNativeSha256() as Sha256Into
  const hash = (b: Uint8Array) => {
    const out = new Uint8Array(32)
    native(b, b.length, out)
    return out
  }

  it('is built, loaded and used by the node backend', () => {
    expect(nativeHashing).toBe(expectNative)
    expect(native !== undefined).toBe(expectNative)
  })

  it.runIf(expectNative)('matches node:crypto at every length to 300 bytes and on long inputs', () => {
    for (let n = 0; n <= 300; n++) {
      const msg = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n * 7) & 255)
      expect(hash(msg), `length ${n}`).toEqual(reference(msg))
      expect(sha256(msg), `length ${n}`).toEqual(reference(msg))
    }
    for (const n of [1000, 65_536, 1_000_003]) {
      const msg = Uint8Array.from({ length: n }, (_, i) => (i * 17) & 255)
      expect(hash(msg)).toEqual(reference(msg))
    }
  })

  it.runIf(expectNative)('hashes the viewed bytes of subarrays and Buffers, into an output view', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(16), fc.nat(400), (bytes, cut, len) => {
        const view = bytes.subarray(Math.min(cut, bytes.length), Math.min(bytes.length, cut + len))
        expect(hash(view)).toEqual(reference(view))
        expect(hash(Buffer.from(view))).toEqual(reference(view))
        // Into the middle of a larger array: only those 32 bytes change.
        const big = new Uint8Array(48).fill(7)
        native(view, view.length, big.subarray(8, 40))
        expect(big.subarray(8, 40)).toEqual(reference(view))
        expect([...big.subarray(0, 8), ...big.subarray(40)]).toEqual(new Array(16).fill(7))
        // A prefix: only `length` bytes are read.
        const cutAt = Math.min(len, view.length)
        const prefix = new Uint8Array(32)
        native(view, cutAt, prefix)
        expect(prefix).toEqual(reference(view.subarray(0, cutAt)))
      }),
      { numRuns: 2000 },
    )
  })

  it.runIf(expectNative)('refuses bad arguments with a TypeError, without touching memory', () => {
    const call = native as unknown as (...args: unknown[]) => void
    const out = new Uint8Array(32).fill(9)
    const bad: unknown[][] = [
      [new Uint8Array(1)],
      [new Uint8Array(1), 1],
      ['abc', 3, out],
      [new Uint8Array(1), 1, new Uint8Array(31)],
      [new Float32Array(4), 4, out],
      [new Uint8Array(1), 1, new Uint16Array(16)],
      [new Uint8Array(1).buffer, 1, out],
      [new Uint8Array(4), 5, out],
      [new Uint8Array(4), -1, out],
      [new Uint8Array(4), 1.5, out],
      [new Uint8Array(4), Number.NaN, out],
      [new Uint8Array(4), '2', out],
      [new Uint8Array(4), 2, out, 'extra'],
    ]
    for (const args of bad) expect(() => call(...args), String(args.length)).toThrow(TypeError)
    expect(out).toEqual(new Uint8Array(32).fill(9))
  })

  it.runIf(expectNative)('gives each digest its own array, for short inputs in V8 heap and long ones alike', () => {
    const short = [Uint8Array.of(1), new Uint8Array(64).fill(2)]
    const long = new Uint8Array(65).fill(3)
    const digests = [...short, long].map((b) => sha256(b))
    expect(digests).toEqual([...short, long].map(reference))
    digests[0]?.fill(0)
    expect(digests[1]).toEqual(reference(short[1] as Uint8Array))
  })

  describe('TRELLIS_NATIVE=0', () => {
    const saved = process.env.TRELLIS_NATIVE
    afterEach(() => {
      if (saved === undefined) delete process.env.TRELLIS_NATIVE
      else process.env.TRELLIS_NATIVE = saved
      vi.resetModules()
    })

    it('leaves hashing to JavaScript, with the same digests (what a machine without a compiler runs)', async () => {
      process.env.TRELLIS_NATIVE = '0'
      expect(loadNativeSha256()).toBeUndefined()
      // A fresh instance of the backend module, loaded with the variable set.
      vi.resetModules()
      const js = await import('../src/node/backend.js')
      expect(js.nativeHashing).toBe(false)
      for (const n of [0, 1, 33, 64, 65, 183, 184, 1000, 100_000]) {
        const msg = Uint8Array.from({ length: n }, (_, i) => (i * 29 + n) & 255)
        expect(js.nodeBackend.sha256(msg), `length ${n}`).toEqual(reference(msg))
        const out = new Uint8Array(32)
        js.nodeBackend.sha256Into(msg, out)
        expect(out, `length ${n}`).toEqual(reference(msg))
      }
    })
  })
})
