import { createHash } from 'node:crypto'
import { bytesToHex, compareBytes, isTrellisError } from '@trellis/utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeStateNodeKey,
  emptyStateRoot,
  encodeStateNodeKey,
  type StateProof,
  StateTree,
  type StateTreeUpdateResult,
  type StateUpdate,
  stateLeafHash,
  type TreeNodeReader,
  verifyStateProof,
} from '../src/stateTree/index.js'
import { NodeView } from '../src/stateTree/node.js'

// ---------------------------------------------------------------------------------------------
// Independent reference: the binary sparse Merkle tree semantics, literally (node:crypto directly).
const H = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}
const bit = (k: Uint8Array, i: number): number => ((k[i >> 3] as number) >> (7 - (i & 7))) & 1
function refRoot(entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>, depth = 0): Uint8Array {
  if (entries.length === 0) return new Uint8Array(32)
  if (entries.length === 1) return H(Uint8Array.of(0), entries[0]![0], entries[0]![1])
  const left = entries.filter(([k]) => bit(k, depth) === 0)
  const right = entries.filter(([k]) => bit(k, depth) === 1)
  return H(Uint8Array.of(1), refRoot(left, depth + 1), refRoot(right, depth + 1))
}
type Model = Map<string, readonly [Uint8Array, Uint8Array]>
const refRootOf = (m: Model): Uint8Array => refRoot([...m.values()])

// ---------------------------------------------------------------------------------------------
/** In-memory node store that also checks that no write ever replaces an existing node. */
class MemoryNodeStore implements TreeNodeReader {
  readonly nodes = new Map<string, Uint8Array>()
  getNode(nodeKey: Uint8Array): Uint8Array | undefined {
    return this.nodes.get(bytesToHex(nodeKey))
  }
  apply(version: number, result: StateTreeUpdateResult): void {
    for (const [k, v] of result.writes) {
      const hex = bytesToHex(k)
      expect(this.nodes.has(hex), `node ${hex} rewritten`).toBe(false)
      expect(decodeStateNodeKey(k)?.version).toBe(version)
      this.nodes.set(hex, v)
    }
  }
}

/** Keys of every node reachable from the root of `version`. */
function reachable(store: MemoryNodeStore, version: number): Set<string> {
  const out = new Set<string>()
  const walk = (nodeKey: Uint8Array, nibbles: number[]): void => {
    out.add(bytesToHex(nodeKey))
    const view = NodeView.decode(store.getNode(nodeKey)!)!
    for (let s = 0; s < 16; s++) {
      if (view.kind(s) === 2) walk(encodeStateNodeKey(view.childVersion(s), [...nibbles, s]), [...nibbles, s])
    }
  }
  walk(encodeStateNodeKey(version, []), [])
  return out
}

/** Recomputes every stored leaf hash, inner position hash and child hash of every node from scratch. */
function checkStoredHashes(store: MemoryNodeStore): void {
  const Z = new Uint8Array(32)
  const bad: string[] = []
  const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0
  for (const [keyHex, bytes] of store.nodes) {
    const view = NodeView.decode(bytes)!
    const path = decodeStateNodeKey(Uint8Array.from(Buffer.from(keyHex, 'hex')))!.nibbles
    // Literal binary hashing of the 16 slots with the single-leaf collapsing rule, bottom-up.
    const hash: Uint8Array[] = new Array(32)
    const leaves: number[] = new Array(32)
    for (let s = 0; s < 16; s++) {
      const kind = view.kind(s)
      leaves[16 + s] = kind
      if (kind === 0) hash[16 + s] = Z
      else if (kind === 1) {
        hash[16 + s] = H(Uint8Array.of(0), view.leafKey(s), view.leafValue(s))
        if (!same(view.leafHash(s), hash[16 + s]!)) bad.push(`${keyHex} leaf ${s}`)
      } else {
        hash[16 + s] = view.childHash(s)
        const child = NodeView.decode(store.getNode(encodeStateNodeKey(view.childVersion(s), [...path, s]))!)!
        if (!same(child.positionHash(1), view.childHash(s))) bad.push(`${keyHex} child ${s}`)
      }
    }
    for (let p = 15; p >= 1; p--) {
      const l = leaves[2 * p]!
      const r = leaves[2 * p + 1]!
      leaves[p] = Math.min(2, l + r)
      if (l + r === 0) hash[p] = Z
      else if (l + r === 1) hash[p] = l === 1 ? hash[2 * p]! : hash[2 * p + 1]!
      else hash[p] = H(Uint8Array.of(1), hash[2 * p]!, hash[2 * p + 1]!)
    }
    for (let p = 1; p < 32; p++) if (!same(view.positionHash(p), hash[p]!)) bad.push(`${keyHex} position ${p}`)
  }
  expect(bad).toEqual([])
}

const flip = (b: Uint8Array, i: number, mask = 1): Uint8Array => {
  const c = b.slice()
  c[i] = (c[i] as number) ^ mask
  return c
}
const hex = bytesToHex
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 })

// Keys that share long prefixes (deep paths, long chains of single-child nodes, leaves at depth
// 256) mixed with uniformly random keys.
const BASES = [new Uint8Array(32), new Uint8Array(32).fill(0xff), Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 255)]
const clusteredKey = fc.tuple(fc.nat(BASES.length - 1), fc.nat(255), fc.nat(255)).map(([b, i, j]) => {
  const k = BASES[b]!.slice()
  k[i >> 3] = (k[i >> 3] as number) ^ (0x80 >> (i & 7))
  k[j >> 3] = (k[j >> 3] as number) ^ (0x80 >> (j & 7))
  return k
})
const keyArb = fc.oneof(bytes32, clusteredKey)
const valueArb = fc.oneof(bytes32, fc.constantFrom(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)))
/** Batches of updates over a shared key pool; a null value deletes. */
const scenarioArb = fc.uniqueArray(keyArb, { minLength: 1, maxLength: 60, selector: hex }).chain((pool) =>
  fc.record({
    pool: fc.constant(pool),
    batches: fc.array(fc.array(fc.tuple(fc.nat(pool.length - 1), fc.option(valueArb, { freq: 3 })), { maxLength: 40 }), {
      minLength: 1,
      maxLength: 6,
    }),
  }),
)

function toUpdates(pool: Uint8Array[], batch: ReadonlyArray<readonly [number, Uint8Array | null]>): StateUpdate[] {
  return batch.map(([i, v]) => ({ keyHash: pool[i]!, valueHash: v }))
}
function applyToModel(model: Model, updates: StateUpdate[]): Model {
  const next: Model = new Map(model)
  for (const u of updates) {
    if (u.valueHash === null) next.delete(hex(u.keyHash))
    else next.set(hex(u.keyHash), [u.keyHash, u.valueHash])
  }
  return next
}

/** Runs the batches as versions 1, 2, …; returns the store, the tree and the model of every version. */
function runScenario(pool: Uint8Array[], batches: ReadonlyArray<ReadonlyArray<readonly [number, Uint8Array | null]>>) {
  const store = new MemoryNodeStore()
  const tree = new StateTree(store)
  const models: Model[] = [new Map()]
  const roots: Uint8Array[] = [emptyStateRoot()]
  const results: StateTreeUpdateResult[] = []
  store.apply(0, tree.update(null, 0, []))
  batches.forEach((batch, b) => {
    const updates = toUpdates(pool, batch)
    const result = tree.update(b, b + 1, updates)
    store.apply(b + 1, result)
    results.push(result)
    models.push(applyToModel(models[b]!, updates))
    roots.push(result.root)
  })
  return { store, tree, models, roots, results }
}

function expectThrows(code: string, f: () => unknown): void {
  let err: unknown
  try {
    f()
  } catch (e) {
    err = e
  }
  expect(isTrellisError(err, code), `expected ${code}, got ${String(err)}`).toBe(true)
}

/** Every single-byte corruption we try on a valid proof; all must fail. */
function mutations(proof: StateProof): StateProof[] {
  const out: StateProof[] = []
  proof.siblings.forEach((s, i) => {
    for (const b of [0, 17, 31]) {
      const siblings = proof.siblings.slice()
      siblings[i] = flip(s, b, 0x80 >> (i % 8))
      out.push({ ...proof, siblings })
    }
  })
  if (proof.leaf !== undefined) {
    const { keyHash, valueHash } = proof.leaf
    for (const b of [0, 13, 31]) {
      out.push({ ...proof, leaf: { keyHash: flip(keyHash, b), valueHash } })
      out.push({ ...proof, leaf: { keyHash, valueHash: flip(valueHash, b) } })
    }
  }
  if (proof.siblings.length > 0) {
    out.push({ ...proof, siblings: proof.siblings.slice(1) })
    out.push({ ...proof, siblings: proof.siblings.slice(0, -1) })
  }
  out.push({ ...proof, siblings: [...proof.siblings, new Uint8Array(32)] })
  out.push({ ...proof, siblings: [...proof.siblings, new Uint8Array(32).fill(9)] })
  out.push({ ...proof, siblings: [new Uint8Array(32), ...proof.siblings] })
  if (proof.siblings.length > 0) {
    out.push({ ...proof, siblings: proof.siblings.map((s, i) => (i === 0 ? s.subarray(0, 31) : s)) })
    out.push({ ...proof, siblings: proof.siblings.map((s, i) => (i === proof.siblings.length - 1 ? Uint8Array.of(...s, 0) : s)) })
  }
  return out
}

// ---------------------------------------------------------------------------------------------
describe('state tree', () => {
  it('property (a, e): every version root equals the reference SMT; past versions stay readable and provable', () => {
    fc.assert(
      fc.property(scenarioArb, ({ pool, batches }) => {
        const { store, tree, models, roots } = runScenario(pool, batches)
        checkStoredHashes(store)
        models.forEach((model, v) => {
          expect(hex(roots[v]!)).toBe(hex(refRootOf(model)))
          expect(tree.root(v)).toEqual(roots[v])
          for (const k of pool) {
            const entry = model.get(hex(k))
            expect(tree.get(v, k)).toEqual(entry?.[1])
            const proof = tree.prove(v, k)
            expect(verifyStateProof(roots[v]!, k, entry?.[1] ?? null, proof)).toBe(true)
          }
        })
      }),
      { numRuns: 150 },
    )
  })

  it('property (b): the root is history-independent', () => {
    fc.assert(
      fc.property(scenarioArb, fc.array(keyArb, { maxLength: 30 }), fc.nat(), ({ pool, batches }, junk, seed) => {
        const { models, roots } = runScenario(pool, batches)
        const final = models[models.length - 1]!
        const expected = roots[roots.length - 1]!
        // One batch into the empty tree, in shuffled order.
        const entries = [...final.values()]
        const shuffled = entries.map((e, i) => [e, (i * 7919 + seed) % 1009] as const).sort((a, b) => a[1] - b[1])
        const t1 = new StateTree(new MemoryNodeStore())
        expect(
          t1.update(
            null,
            1,
            shuffled.map(([[k, v]]) => ({ keyHash: k, valueHash: v })),
          ).root,
        ).toEqual(expected)
        // One key per version, in reverse order, with junk keys inserted first and deleted at the end.
        const store = new MemoryNodeStore()
        const t2 = new StateTree(store)
        let version = 0
        store.apply(
          0,
          t2.update(
            null,
            0,
            junk.map((k) => ({ keyHash: k, valueHash: new Uint8Array(32).fill(7) })),
          ),
        )
        for (const [k, v] of entries.reverse()) {
          version++
          store.apply(version, t2.update(version - 1, version, [{ keyHash: k, valueHash: v }]))
        }
        const junkDeletes = junk.filter((k) => !final.has(hex(k))).map((k) => ({ keyHash: k, valueHash: null }))
        const junkRestores = junk.filter((k) => final.has(hex(k))).map((k) => ({ keyHash: k, valueHash: final.get(hex(k))![1] }))
        const last = t2.update(version, version + 1, [...junkDeletes, ...junkRestores])
        expect(last.root).toEqual(expected)
      }),
      { numRuns: 100 },
    )
  })

  it('property (c, d): inclusion and non-inclusion proofs verify; any corruption or other key fails', () => {
    fc.assert(
      fc.property(scenarioArb, fc.array(keyArb, { minLength: 1, maxLength: 10 }), ({ pool, batches }, absentCandidates) => {
        const { tree, models, roots } = runScenario(pool, batches)
        const v = models.length - 1
        const model = models[v]!
        const root = roots[v]!
        const present = [...model.values()]
        for (const [k, value] of present.slice(0, 20)) {
          const proof = tree.prove(v, k)
          expect(proof.leaf?.keyHash).toEqual(k)
          expect(verifyStateProof(root, k, value, proof)).toBe(true)
          expect(verifyStateProof(root, k, null, proof)).toBe(false)
          for (const b of [0, 31]) expect(verifyStateProof(root, k, flip(value, b), proof)).toBe(false)
          for (const b of [0, 15, 31]) expect(verifyStateProof(flip(root, b), k, value, proof)).toBe(false)
          for (const bad of mutations(proof)) expect(verifyStateProof(root, k, value, bad)).toBe(false)
          // Not a proof for any other key, present or absent, with either value.
          for (const [k2, value2] of present.slice(0, 8)) {
            if (compareBytes(k, k2) === 0) continue
            expect(verifyStateProof(root, k2, value, proof)).toBe(false)
            expect(verifyStateProof(root, k2, value2, proof)).toBe(false)
            expect(verifyStateProof(root, k2, null, proof)).toBe(false)
          }
          expect(verifyStateProof(root, flip(k, 31, 1), value, proof)).toBe(false)
        }
        for (const k of [...absentCandidates, ...pool].filter((x) => !model.has(hex(x)))) {
          const proof = tree.prove(v, k)
          expect(tree.get(v, k)).toBeUndefined()
          expect(verifyStateProof(root, k, null, proof)).toBe(true)
          for (const value of [new Uint8Array(32), new Uint8Array(32).fill(1), ...(proof.leaf ? [proof.leaf.valueHash] : [])]) {
            expect(verifyStateProof(root, k, value, proof)).toBe(false)
          }
          for (const b of [0, 31]) expect(verifyStateProof(flip(root, b), k, null, proof)).toBe(false)
          for (const bad of mutations(proof)) expect(verifyStateProof(root, k, null, bad)).toBe(false)
          // An absence proof never shows a present key absent, nor proves it present — except that an
          // absence proof ending at another key's leaf is exactly that key's inclusion proof.
          for (const [k2, value2] of present.slice(0, 8)) {
            expect(verifyStateProof(root, k2, null, proof)).toBe(false)
            const isLeafOfProof = proof.leaf !== undefined && compareBytes(proof.leaf.keyHash, k2) === 0
            expect(verifyStateProof(root, k2, value2, proof)).toBe(isLeafOfProof)
          }
          // The leaf of a "different leaf on the path" proof is provable on its own.
          if (proof.leaf !== undefined) {
            expect(verifyStateProof(root, proof.leaf.keyHash, proof.leaf.valueHash, tree.prove(v, proof.leaf.keyHash))).toBe(true)
          }
        }
      }),
      { numRuns: 120 },
    )
  })

  it('property (f): deleting everything gives the zero root, and stale keys are exactly the unreachable nodes', () => {
    fc.assert(
      fc.property(scenarioArb, ({ pool, batches }) => {
        const { store, tree, models, results } = runScenario(pool, batches)
        // Stale keys of version v = nodes reachable from v − 1 but not from v.
        results.forEach((result, i) => {
          const v = i + 1
          const before = reachable(store, v - 1)
          const after = reachable(store, v)
          const gone = [...before].filter((k) => !after.has(k)).sort()
          expect(result.staleNodeKeys.map(hex).sort()).toEqual(gone)
        })
        const v = models.length - 1
        const del = tree.update(
          v,
          v + 1,
          pool.map((k) => ({ keyHash: k, valueHash: null })),
        )
        expect(del.root).toEqual(emptyStateRoot())
        store.apply(v + 1, del)
        expect(tree.root(v + 1)).toEqual(emptyStateRoot())
        expect(del.writes).toHaveLength(1)
        for (const k of pool) {
          expect(tree.get(v + 1, k)).toBeUndefined()
          expect(tree.prove(v + 1, k)).toEqual({ siblings: [] })
          expect(verifyStateProof(emptyStateRoot(), k, null, { siblings: [] })).toBe(true)
        }
      }),
      { numRuns: 100 },
    )
  })

  it('property: pruning the stale nodes of each version keeps the latest version intact', () => {
    fc.assert(
      fc.property(scenarioArb, ({ pool, batches }) => {
        const store = new MemoryNodeStore()
        const tree = new StateTree(store)
        let model: Model = new Map()
        store.apply(0, tree.update(null, 0, []))
        batches.forEach((batch, b) => {
          const updates = toUpdates(pool, batch)
          const result = tree.update(b, b + 1, updates)
          store.apply(b + 1, result)
          for (const k of result.staleNodeKeys) expect(store.nodes.delete(hex(k))).toBe(true)
          model = applyToModel(model, updates)
        })
        const v = batches.length
        expect(store.nodes.size).toBe(reachable(store, v).size)
        expect(tree.root(v)).toEqual(refRootOf(model))
        for (const k of pool) expect(verifyStateProof(tree.root(v), k, model.get(hex(k))?.[1] ?? null, tree.prove(v, k))).toBe(true)
      }),
      { numRuns: 80 },
    )
  })

  it('matches the reference on a larger tree under incremental batches of inserts, changes and deletes', () => {
    // Deterministic pseudo-random keys: full 16-ary nodes at the top, sparse ones below.
    let seed = 1
    const rnd = (): Uint8Array => H(Uint8Array.of(seed & 255, (seed >> 8) & 255, (seed++ >> 16) & 255))
    const store = new MemoryNodeStore()
    const tree = new StateTree(store)
    let model: Model = new Map()
    let keys: Uint8Array[] = []
    const roots: Uint8Array[] = []
    for (let v = 0; v < 8; v++) {
      const updates: StateUpdate[] = []
      for (let i = 0; i < (v === 0 ? 4000 : 400); i++) updates.push({ keyHash: rnd(), valueHash: rnd() })
      for (let i = 0; v > 0 && i < 300; i++) {
        const k = keys[(i * 7919 + v * 31) % keys.length]!
        updates.push({ keyHash: k, valueHash: i % 2 === 0 ? null : rnd() })
      }
      const result = tree.update(v === 0 ? null : v - 1, v, updates)
      store.apply(v, result)
      model = applyToModel(model, updates)
      keys = [...model.values()].map(([k]) => k)
      expect(hex(result.root)).toBe(hex(refRootOf(model)))
      roots.push(result.root)
      for (let i = 0; i < 50; i++) {
        const k = keys[(i * 104729 + v) % keys.length]!
        expect(verifyStateProof(result.root, k, model.get(hex(k))![1], tree.prove(v, k))).toBe(true)
        const absent = rnd()
        expect(verifyStateProof(result.root, absent, null, tree.prove(v, absent))).toBe(true)
      }
    }
    roots.forEach((r, v) => {
      expect(tree.root(v)).toEqual(r)
    })
    checkStoredHashes(store)
  })

  it('reads the nodes it just wrote through the views it built, as it reads decoded copies', () => {
    // A store that hands back the written arrays exercises the views `finish` registered; one that
    // hands back copies makes every read decode. Both must see the same trees.
    class CopyingStore extends MemoryNodeStore {
      override getNode(nodeKey: Uint8Array): Uint8Array | undefined {
        return super.getNode(nodeKey)?.slice()
      }
    }
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.tuple(fc.nat(300), fc.option(fc.nat(5), { nil: null })), { maxLength: 120 }), { minLength: 1, maxLength: 6 }),
        (batches) => {
          const same = new MemoryNodeStore()
          const copies = new CopyingStore()
          const a = new StateTree(same)
          const b = new StateTree(copies)
          batches.forEach((batch, v) => {
            const updates: StateUpdate[] = batch.map(([k, x]) => ({
              keyHash: H(Uint8Array.of(k & 255, k >> 8)),
              valueHash: x === null ? null : H(Uint8Array.of(x)),
            }))
            const ra = a.update(v === 0 ? null : v - 1, v, updates)
            const rb = b.update(v === 0 ? null : v - 1, v, updates)
            expect(hex(ra.root)).toBe(hex(rb.root))
            expect(ra.writes.map(([k, n]) => hex(k) + hex(n))).toEqual(rb.writes.map(([k, n]) => hex(k) + hex(n)))
            same.apply(v, ra)
            copies.apply(v, rb)
            const probe = H(Uint8Array.of(batch.length))
            expect(a.prove(v, probe)).toEqual(b.prove(v, probe))
          })
        },
      ),
      { numRuns: 150 },
    )
  })

  it('writes a root node for every version, even with no updates, and only rewrites changed paths', () => {
    const store = new MemoryNodeStore()
    const tree = new StateTree(store)
    const keys = Array.from({ length: 300 }, (_, i) => H(Uint8Array.of(i >> 8, i & 255)))
    const value = H(Uint8Array.of(1))
    const r0 = tree.update(null, 0, [])
    expect(r0.root).toEqual(emptyStateRoot())
    expect(r0.writes).toHaveLength(1)
    expect(r0.staleNodeKeys).toEqual([])
    store.apply(0, r0)
    expect(tree.root(0)).toEqual(emptyStateRoot())
    expect(tree.hasVersion(0)).toBe(true)
    expect(tree.hasVersion(1)).toBe(false)

    const r1 = tree.update(
      0,
      1,
      keys.map((k) => ({ keyHash: k, valueHash: value })),
    )
    store.apply(1, r1)
    const r2 = tree.update(1, 2, [])
    expect(r2.root).toEqual(r1.root)
    expect(r2.writes).toHaveLength(1)
    expect(r2.staleNodeKeys.map(hex)).toEqual([hex(encodeStateNodeKey(1, []))])
    store.apply(2, r2)
    // Re-setting values to what they are, and deleting absent keys, changes nothing below the root.
    const r3 = tree.update(2, 5, [
      { keyHash: keys[0]!, valueHash: value },
      { keyHash: new Uint8Array(32), valueHash: null },
    ])
    expect(r3.root).toEqual(r1.root)
    expect(r3.writes).toHaveLength(1)
    store.apply(5, r3)
    expect(tree.root(5)).toEqual(r1.root)
    // One changed key rewrites only the nodes on its path.
    const r4 = tree.update(5, 6, [{ keyHash: keys[7]!, valueHash: H(Uint8Array.of(2)) }])
    expect(r4.writes.length).toBeGreaterThanOrEqual(1)
    expect(r4.writes.length).toBeLessThanOrEqual(3)
    expect(r4.staleNodeKeys).toHaveLength(r4.writes.length)
    store.apply(6, r4)
    expect(tree.get(6, keys[7]!)).toEqual(H(Uint8Array.of(2)))
    expect(tree.get(5, keys[7]!)).toEqual(value)
  })

  it('takes the last of duplicate keys in one update', () => {
    const tree = new StateTree(new MemoryNodeStore())
    const k = H(Uint8Array.of(1))
    const a = H(Uint8Array.of(2))
    const b = H(Uint8Array.of(3))
    const k2 = H(Uint8Array.of(4))
    const r = tree.update(null, 1, [
      { keyHash: k, valueHash: a },
      { keyHash: k2, valueHash: a },
      { keyHash: k, valueHash: null },
      { keyHash: k, valueHash: b },
      { keyHash: k2, valueHash: null },
    ])
    expect(r.root).toEqual(stateLeafHash(k, b))
    expect(r.root).toEqual(refRoot([[k, b]]))
  })

  it('single-key and two-key trees follow the collapsing rule', () => {
    const store = new MemoryNodeStore()
    const tree = new StateTree(store)
    const k1 = new Uint8Array(32)
    const k2 = new Uint8Array(32)
    k2[31] = 1 // differs only in the last bit: both leaves sit at depth 256
    const v = H(Uint8Array.of(5))
    store.apply(1, tree.update(null, 1, [{ keyHash: k1, valueHash: v }]))
    expect(tree.root(1)).toEqual(stateLeafHash(k1, v))
    expect(tree.prove(1, k1)).toEqual({ siblings: [], leaf: { keyHash: k1, valueHash: v } })
    store.apply(2, tree.update(1, 2, [{ keyHash: k2, valueHash: v }]))
    expect(tree.root(2)).toEqual(
      refRoot([
        [k1, v],
        [k2, v],
      ] as const),
    )
    const proof = tree.prove(2, k2)
    expect(proof.siblings).toHaveLength(256)
    expect(proof.siblings[255]).toEqual(stateLeafHash(k1, v))
    expect(proof.siblings.slice(0, 255).every((s) => s.every((x) => x === 0))).toBe(true)
    expect(verifyStateProof(tree.root(2), k2, v, proof)).toBe(true)
    // 63 single-child nodes + the root: all on one path.
    expect(reachable(store, 2).size).toBe(64)
    store.apply(3, tree.update(2, 3, [{ keyHash: k1, valueHash: null }]))
    expect(tree.root(3)).toEqual(stateLeafHash(k2, v))
    expect(reachable(store, 3).size).toBe(1)
  })

  it('encodes nodes as documented', () => {
    const store = new MemoryNodeStore()
    const tree = new StateTree(store)
    const k1 = new Uint8Array(32).fill(0x11) // slot 1 of the root
    const k2 = new Uint8Array(32).fill(0x22) // slot 2
    const k3 = new Uint8Array(32).fill(0x23) // slot 2, then slot 3 of node "2"
    const v = new Uint8Array(32).fill(0xaa)
    const { writes, root } = tree.update(
      null,
      258,
      [k1, k2, k3].map((k) => ({ keyHash: k, valueHash: v })),
    )
    // Children before parents: node at path [2], then the root.
    expect(writes.map(([k]) => hex(k))).toEqual(['0000000000000102' + '01' + '20', '0000000000000102' + '00'])
    const child = writes[0]![1]
    const l2 = stateLeafHash(k2, v)
    const l3 = stateLeafHash(k3, v)
    const Z = new Uint8Array(32)
    const I = (l: Uint8Array, r: Uint8Array): Uint8Array => H(Uint8Array.of(1), l, r)
    // Inside node "2" the keys continue 0010 / 0011: positions 1 → 2 → 4 → 9 → slots 18, 19.
    const childHash = I(I(I(Z, I(l2, l3)), Z), Z)
    // tag, existence = slots 2,3, leaves = slots 2,3, two leaves, then heap positions 1, 2, 4, 9.
    expect(hex(child.subarray(0, 5))).toBe('01000c000c')
    expect(child.subarray(5, 101)).toEqual(Uint8Array.of(...k2, ...v, ...l2))
    expect(child.subarray(101, 197)).toEqual(Uint8Array.of(...k3, ...v, ...l3))
    expect(child.length).toBe(197 + 4 * 32)
    expect(child.subarray(197, 229)).toEqual(childHash)
    expect(child.subarray(229, 261)).toEqual(I(I(Z, I(l2, l3)), Z))
    expect(child.subarray(261, 293)).toEqual(I(Z, I(l2, l3)))
    expect(child.subarray(293, 325)).toEqual(I(l2, l3))
    const rootNode = writes[1]![1]
    expect(hex(rootNode.subarray(0, 5))).toBe('0100060002')
    expect(rootNode.subarray(5, 101)).toEqual(Uint8Array.of(...k1, ...v, ...stateLeafHash(k1, v)))
    expect(hex(rootNode.subarray(101, 109))).toBe('0000000000000102')
    expect(rootNode.subarray(109, 141)).toEqual(childHash)
    // Weight-2 positions: 1, 2 (slots 0..7), 4 (slots 0..3) and 9 (slots 2..3, holding a child node);
    // position 8 (slots 0..1) holds the lone leaf k1, so its hash is not stored.
    expect(rootNode.length).toBe(141 + 4 * 32)
    expect(rootNode.subarray(141, 173)).toEqual(root)
    expect(rootNode.subarray(237, 269)).toEqual(I(childHash, Z))
    expect(root).toEqual(refRoot([k1, k2, k3].map((k) => [k, v] as const)))
  })

  it('encodes and decodes node keys', () => {
    expect(hex(encodeStateNodeKey(0, []))).toBe('000000000000000000')
    expect(hex(encodeStateNodeKey(2 ** 40 + 5, [0xa, 0xb, 0xc]))).toBe('000001000000000503abc0')
    expect(decodeStateNodeKey(encodeStateNodeKey(2 ** 40 + 5, [0xa, 0xb, 0xc]))).toEqual({ version: 2 ** 40 + 5, nibbles: [0xa, 0xb, 0xc] })
    expect(decodeStateNodeKey(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 0xab))).toBeUndefined()
    expect(decodeStateNodeKey(Uint8Array.of(0xff, 0, 0, 0, 0, 0, 0, 0, 0))).toBeUndefined()
    expect(decodeStateNodeKey(Uint8Array.of(0, 0))).toBeUndefined()
  })

  it('throws typed errors', () => {
    const store = new MemoryNodeStore()
    const tree = new StateTree(store)
    const k = H(Uint8Array.of(1))
    expectThrows('STATE_VERSION_NOT_FOUND', () => tree.root(0))
    expectThrows('STATE_VERSION_NOT_FOUND', () => tree.get(3, k))
    expectThrows('STATE_VERSION_NOT_FOUND', () => tree.prove(-1, k))
    expectThrows('STATE_VERSION_NOT_FOUND', () => tree.update(4, 5, []))
    expectThrows('STATE_VERSION_INVALID', () => tree.update(4, 4, []))
    expectThrows('STATE_VERSION_INVALID', () => tree.update(null, 1.5, []))
    expectThrows('STATE_VERSION_INVALID', () => tree.update(null, -1, []))
    expectThrows('STATE_HASH_INVALID', () => tree.update(null, 1, [{ keyHash: k.subarray(1), valueHash: k }]))
    expectThrows('STATE_HASH_INVALID', () => tree.update(null, 1, [{ keyHash: k, valueHash: new Uint8Array(33) }]))
    const keys = Array.from({ length: 40 }, (_, i) => H(Uint8Array.of(i)))
    store.apply(
      1,
      tree.update(
        null,
        1,
        keys.map((kk) => ({ keyHash: kk, valueHash: kk })),
      ),
    )
    expectThrows('STATE_HASH_INVALID', () => tree.get(1, k.subarray(2)))
    // Drop and then corrupt a non-root node.
    const [victim] = [...store.nodes.keys()].filter((x) => x !== hex(encodeStateNodeKey(1, [])))
    const saved = store.nodes.get(victim!)!
    store.nodes.delete(victim!)
    const hit = (f: (kk: Uint8Array) => unknown): void => {
      let seen = false
      for (const kk of keys) {
        try {
          f(kk)
        } catch (e) {
          expect(isTrellisError(e, 'STATE_NODE_MISSING')).toBe(true)
          seen = true
        }
      }
      expect(seen).toBe(true)
    }
    hit((kk) => tree.get(1, kk))
    hit((kk) => tree.prove(1, kk))
    hit((kk) => tree.update(1, 2, [{ keyHash: kk, valueHash: null }]))
    store.nodes.set(victim!, saved.subarray(0, saved.length - 1))
    hit((kk) => tree.get(1, kk))
    store.nodes.set(hex(encodeStateNodeKey(1, [])), Uint8Array.of(9))
    expectThrows('STATE_NODE_MISSING', () => tree.root(1))
  })

  it('rejects malformed nodes at decode', () => {
    const good = NodeView.decode(Uint8Array.of(1, 0, 0, 0, 0))
    expect(good?.childCount).toBe(0)
    for (const bad of [
      Uint8Array.of(),
      Uint8Array.of(2, 0, 0, 0, 0),
      Uint8Array.of(1, 0, 0, 0, 1), // leaf bit outside existence
      Uint8Array.of(1, 0, 1, 0, 1), // a leaf announced but missing
      Uint8Array.of(1, 0, 0, 0, 0, 0), // trailing byte
      Uint8Array.of(1, 0, 1, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, ...new Uint8Array(32)), // unsafe child version
    ]) {
      expect(NodeView.decode(bad)).toBeUndefined()
    }
  })
})
