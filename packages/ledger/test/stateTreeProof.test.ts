import { createHash } from 'node:crypto'
import { bytesToHex, isTrellisError } from '@trellis/utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeStateProof,
  encodeStateProof,
  MAX_STATE_PROOF_DEPTH,
  type StateProof,
  StateTree,
  stateProofFromJSON,
  stateProofToJSON,
  type TreeNodeReader,
  verifyStateProof,
} from '../src/stateTree/index.js'

const H = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

class MemoryNodeStore implements TreeNodeReader {
  readonly nodes = new Map<string, Uint8Array>()
  getNode(nodeKey: Uint8Array): Uint8Array | undefined {
    return this.nodes.get(bytesToHex(nodeKey))
  }
}

function malformedOnly(f: () => unknown): void {
  let err: unknown
  try {
    f()
  } catch (e) {
    err = e
  }
  expect(isTrellisError(err, 'PROOF_MALFORMED'), `expected PROOF_MALFORMED, got ${String(err)}`).toBe(true)
}

// A tree with clustered keys so proofs have empty siblings in the middle and long paths.
const store = new MemoryNodeStore()
const tree = new StateTree(store)
const keys: Uint8Array[] = []
for (let i = 0; i < 2000; i++) keys.push(H(Uint8Array.of(i & 255, i >> 8)))
for (let i = 0; i < 40; i++) {
  const k = new Uint8Array(32).fill(0x5a)
  k[31 - (i >> 3)] = (k[31 - (i >> 3)] as number) ^ (1 << (i & 7))
  keys.push(k)
}
const result = tree.update(
  null,
  1,
  keys.map((k, i) => ({ keyHash: k, valueHash: H(Uint8Array.of(i & 255, 1)) })),
)
for (const [k, v] of result.writes) store.nodes.set(bytesToHex(k), v)
const root = result.root
const proofFor = (k: Uint8Array): StateProof => tree.prove(1, k)
const sampleProofs: Array<[Uint8Array, Uint8Array | null, StateProof]> = []
for (let i = 0; i < keys.length; i += 37) sampleProofs.push([keys[i]!, H(Uint8Array.of(i & 255, 1)), proofFor(keys[i]!)])
for (let i = 0; i < 40; i++) {
  const absent = H(Uint8Array.of(9, i, 0xff))
  sampleProofs.push([absent, null, proofFor(absent)])
}
const deepAbsent = new Uint8Array(32).fill(0x5a)
deepAbsent[30] = 0x5b
deepAbsent[31] = 0x01
sampleProofs.push([deepAbsent, null, proofFor(deepAbsent)])

describe('state proof encodings', () => {
  it('the sample covers inclusion, absence via an empty subtree and absence via another leaf', () => {
    expect(sampleProofs.some(([, v, p]) => v === null && p.leaf === undefined)).toBe(true)
    expect(sampleProofs.some(([, v, p]) => v === null && p.leaf !== undefined)).toBe(true)
    expect(sampleProofs.some(([, , p]) => p.siblings.length > 200)).toBe(true)
    sampleProofs.forEach(([k, v, p], i) => {
      expect(verifyStateProof(root, k, v, p), `sample ${i}`).toBe(true)
    })
  })

  it('binary encoding round-trips, is compact and verifies after decoding', () => {
    for (const [k, v, p] of sampleProofs) {
      const bytes = encodeStateProof(p)
      const nonEmpty = p.siblings.filter((s) => s.some((x) => x !== 0)).length
      expect(bytes.length).toBe(1 + (p.leaf ? 64 : 0) + 2 + Math.ceil(p.siblings.length / 8) + 32 * nonEmpty)
      const back = decodeStateProof(bytes)
      expect(back).toEqual(p)
      expect(encodeStateProof(back)).toEqual(bytes)
      expect(verifyStateProof(root, k, v, back)).toBe(true)
    }
  })

  it('decodes from a Node Buffer into plain, independent Uint8Arrays', () => {
    const [, , p] = sampleProofs[0]!
    const buf = Buffer.from(encodeStateProof(p))
    const back = decodeStateProof(buf)
    expect(Object.getPrototypeOf(back.siblings[0]!)).toBe(Uint8Array.prototype)
    buf.fill(0)
    expect(back).toEqual(p)
  })

  it('reads nodes handed out as Node Buffers and returns plain Uint8Arrays', () => {
    const bufferTree = new StateTree({ getNode: (k) => Buffer.from(store.getNode(k) ?? []) })
    const k = keys[3]!
    const value = bufferTree.get(1, k)!
    expect(Object.getPrototypeOf(value)).toBe(Uint8Array.prototype)
    const proof = bufferTree.prove(1, k)
    expect(Object.getPrototypeOf(proof.siblings[0]!)).toBe(Uint8Array.prototype)
    expect(verifyStateProof(root, k, value, proof)).toBe(true)
    expect(bufferTree.root(1)).toEqual(root)
  })

  it('binary layout: flags, leaf, depth, bitmap, non-empty siblings', () => {
    const s1 = new Uint8Array(32).fill(3)
    const z = new Uint8Array(32)
    const bytes = encodeStateProof({ siblings: [z, s1, z, z, z, z, z, z, z, s1], leaf: { keyHash: s1, valueHash: z } })
    expect(bytesToHex(bytes.subarray(0, 1))).toBe('01')
    expect(bytesToHex(bytes.subarray(65, 69))).toBe('000a4040')
    expect(bytes.length).toBe(69 + 64)
    expect(bytesToHex(encodeStateProof({ siblings: [] }))).toBe('000000')
  })

  it('JSON round-trips with hex and "" for empty siblings', () => {
    for (const [k, v, p] of sampleProofs) {
      const json = stateProofToJSON(p)
      const text = JSON.stringify(json)
      const back = stateProofFromJSON(JSON.parse(text))
      expect(back).toEqual(p)
      expect(verifyStateProof(root, k, v, back)).toBe(true)
      for (const s of json.siblings) expect(s === '' || /^[0-9a-f]{64}$/.test(s)).toBe(true)
    }
    // 64 zeros are accepted as an empty sibling too.
    const p = sampleProofs.find(([, , x]) => x.siblings.some((s) => s.every((b) => b === 0)))![2]
    const json = stateProofToJSON(p)
    const zeros = { ...json, siblings: json.siblings.map((s) => (s === '' ? '0'.repeat(64) : s)) }
    expect(stateProofFromJSON(zeros)).toEqual(p)
  })

  it('rejects every truncation and extension of a valid encoding with PROOF_MALFORMED', () => {
    for (const [, , p] of sampleProofs.slice(0, 20)) {
      const bytes = encodeStateProof(p)
      for (let n = 0; n < bytes.length; n++) malformedOnly(() => decodeStateProof(bytes.subarray(0, n)))
      malformedOnly(() => decodeStateProof(Uint8Array.of(...bytes, 0)))
    }
  })

  it('rejects non-canonical encodings', () => {
    const s1 = new Uint8Array(32).fill(3)
    // Unknown flags.
    malformedOnly(() => decodeStateProof(Uint8Array.of(2, 0, 0)))
    // Depth above 256.
    malformedOnly(() => decodeStateProof(Uint8Array.of(0, 1, 1, ...new Uint8Array(33))))
    // Bitmap padding bit set (depth 1, bit 1 set).
    malformedOnly(() => decodeStateProof(Uint8Array.of(0, 0, 1, 0x40, ...s1)))
    // A sibling marked non-empty that is all zeros.
    malformedOnly(() => decodeStateProof(Uint8Array.of(0, 0, 1, 0x80, ...new Uint8Array(32))))
    expect(decodeStateProof(Uint8Array.of(0, 0, 1, 0x80, ...s1))).toEqual({ siblings: [s1] })
    expect(decodeStateProof(Uint8Array.of(0, 0, 1, 0x00))).toEqual({ siblings: [new Uint8Array(32)] })
    malformedOnly(() => decodeStateProof('000000' as unknown as Uint8Array))
    malformedOnly(() => decodeStateProof(null as unknown as Uint8Array))
  })

  it('decoding random bytes either fails with PROOF_MALFORMED or yields the canonical decoding', () => {
    const canonical = fc.constantFrom(...sampleProofs.map(([, , p]) => encodeStateProof(p)))
    const mutated = fc.tuple(canonical, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([b, i, x]) => {
      const c = b.slice()
      c[i % c.length] = (c[i % c.length] as number) ^ x
      return c
    })
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), mutated), (bytes) => {
        let proof: StateProof
        try {
          proof = decodeStateProof(bytes)
        } catch (e) {
          expect(isTrellisError(e, 'PROOF_MALFORMED')).toBe(true)
          return
        }
        expect(encodeStateProof(proof)).toEqual(bytes)
      }),
      { numRuns: 3000 },
    )
  })

  it('parsing random JSON either fails with PROOF_MALFORMED or round-trips', () => {
    const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(bytesToHex)
    const jsonish = fc.oneof(
      fc.jsonValue(),
      fc.record({ siblings: fc.array(fc.oneof(hex64, fc.constant(''), fc.string()), { maxLength: 5 }) }, { requiredKeys: [] }),
      fc.record({
        siblings: fc.array(hex64, { maxLength: 3 }),
        leaf: fc.oneof(fc.jsonValue(), fc.record({ keyHash: fc.oneof(hex64, fc.string()), valueHash: hex64 }, { requiredKeys: [] })),
      }),
    )
    fc.assert(
      fc.property(jsonish, (json) => {
        let proof: StateProof
        try {
          proof = stateProofFromJSON(json)
        } catch (e) {
          expect(isTrellisError(e, 'PROOF_MALFORMED')).toBe(true)
          return
        }
        expect(stateProofFromJSON(stateProofToJSON(proof))).toEqual(proof)
      }),
      { numRuns: 2000 },
    )
    malformedOnly(() => stateProofFromJSON({ siblings: new Array(MAX_STATE_PROOF_DEPTH + 1).fill('') }))
    malformedOnly(() => stateProofFromJSON({ siblings: ['0x' + 'ab'.repeat(32)] }))
    malformedOnly(() => stateProofFromJSON({ siblings: ['AB'.repeat(31)] }))
    malformedOnly(() => stateProofFromJSON({ siblings: [], leaf: null }))
  })

  it('encoders reject malformed proofs with PROOF_MALFORMED', () => {
    const bad: unknown[] = [
      null,
      {},
      { siblings: [new Uint8Array(31)] },
      { siblings: new Array(257).fill(new Uint8Array(32)) },
      { siblings: [], leaf: { keyHash: new Uint8Array(32) } },
      { siblings: 'x' },
    ]
    for (const p of bad) {
      malformedOnly(() => encodeStateProof(p as StateProof))
      malformedOnly(() => stateProofToJSON(p as StateProof))
    }
  })

  it('the verifier never throws and returns false on garbage', () => {
    const [k, v, p] = sampleProofs[0]!
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (a, b) => {
        expect(verifyStateProof(root, k, v, a as StateProof)).toBe(false)
        expect(verifyStateProof(a as Uint8Array, k, v, p)).toBe(false)
        expect(verifyStateProof(root, a as Uint8Array, v, p)).toBe(false)
        expect(verifyStateProof(root, k, { siblings: [b] } as unknown as Uint8Array, p)).toBe(false)
        expect(verifyStateProof(root, k, v, { siblings: p.siblings, leaf: a } as StateProof)).toBe(false)
        expect(verifyStateProof(root, k, v, { siblings: [a, ...p.siblings] } as StateProof)).toBe(false)
      }),
      { numRuns: 500 },
    )
    const hostile = {
      get siblings(): never {
        throw new Error('boom')
      },
    }
    expect(verifyStateProof(root, k, v, hostile as unknown as StateProof)).toBe(false)
    expect(verifyStateProof(root, k, v, { siblings: new Array(257).fill(new Uint8Array(32)) })).toBe(false)
    expect(verifyStateProof(root, k, v, p)).toBe(true)
  })
})
