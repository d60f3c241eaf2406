// Run with: npx vitest bench --run packages/ledger
import { createHash } from 'node:crypto'
import { bytesToHex } from '@trellis/utils'
import { bench, describe } from 'vitest'
import { type StateProof, StateTree, type StateUpdate, type TreeNodeReader, verifyStateProof } from '../src/stateTree/index.js'

const TREE_SIZE = 200_000
const BATCH = 8_000
const PROOFS = 2_000

class MemoryNodeStore implements TreeNodeReader {
  readonly nodes = new Map<string, Uint8Array>()
  getNode(nodeKey: Uint8Array): Uint8Array | undefined {
    return this.nodes.get(bytesToHex(nodeKey))
  }
}

let counter = 0
const randomHash = (): Uint8Array => {
  counter++
  return new Uint8Array(createHash('sha256').update(`bench-${counter}`).digest())
}

const store = new MemoryNodeStore()
const tree = new StateTree(store)
const keys: Uint8Array[] = []
const initial: StateUpdate[] = []
for (let i = 0; i < TREE_SIZE; i++) {
  const keyHash = randomHash()
  keys.push(keyHash)
  initial.push({ keyHash, valueHash: randomHash() })
}
for (const [k, v] of tree.update(null, 1, initial).writes) store.nodes.set(bytesToHex(k), v)
const root = tree.root(1)

// Fresh random inserts, plus a batch of value changes to existing keys.
const inserts: StateUpdate[][] = Array.from({ length: 4 }, () =>
  Array.from({ length: BATCH }, () => ({ keyHash: randomHash(), valueHash: randomHash() })),
)
const changes: StateUpdate[] = Array.from({ length: BATCH }, (_, i) => ({
  keyHash: keys[(i * 7919) % TREE_SIZE]!,
  valueHash: randomHash(),
}))
let round = 0

const proveKeys = Array.from({ length: PROOFS }, (_, i) => keys[(i * 104_729) % TREE_SIZE]!)
const proofs: StateProof[] = proveKeys.map((k) => tree.prove(1, k))
const values = proveKeys.map((k) => tree.get(1, k)!)

describe(`state tree, ${TREE_SIZE / 1000}k keys`, () => {
  bench(`update: ${BATCH} random inserts (one version)`, () => {
    tree.update(1, 2, inserts[round++ % inserts.length]!)
  })

  bench(`update: ${BATCH} value changes of existing keys`, () => {
    tree.update(1, 2, changes)
  })

  bench(`prove ${PROOFS} keys`, () => {
    for (const k of proveKeys) tree.prove(1, k)
  })

  bench(`verify ${PROOFS} proofs`, () => {
    for (let i = 0; i < PROOFS; i++) {
      if (!verifyStateProof(root, proveKeys[i]!, values[i]!, proofs[i]!)) throw new RangeError('proof did not verify')
    }
  })
})
