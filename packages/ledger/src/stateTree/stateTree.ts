/**
 * The authenticated, versioned state tree: a Jellyfish Merkle Tree (as in Diem/Aptos).
 *
 * ## Logical tree (the protocol: these hashes are consensus-critical)
 * A binary sparse Merkle tree of depth 256 over 32-byte key hashes (bit 0 = most significant bit of
 * byte 0) mapping to 32-byte value hashes. Each leaf sits at the shortest bit prefix of its key that
 * no other present key shares, so a subtree holding exactly one leaf hashes to that leaf's hash.
 * - leaf     = SHA-256(0x00 ‖ keyHash ‖ valueHash)
 * - internal = SHA-256(0x01 ‖ left ‖ right)        (left = bit 0)
 * - empty subtree = 32 zero bytes; the root of the empty tree is 32 zero bytes.
 * The root depends only on the set of (key, value) pairs present (history independence).
 *
 * ## Physical nodes
 * Each stored node is a 16-ary internal node covering 4 binary levels; leaves are stored inline in
 * their parent's slot. The structure is canonical: a non-root node exists at nibble path p iff at
 * least two present keys start with p; slot n of the node at p is empty (no key starts with p‖n), a
 * leaf (exactly one) or a child node (two or more). The root node (empty path) always exists, with 0,
 * 1 or more children. Node encoding:
 *
 *     tag          u8 = 0x01
 *     existence    u16 BE, bit (1 << n) set iff slot n is non-empty
 *     leafBitmap   u16 BE, bit (1 << n) set iff slot n holds a leaf (subset of existence)
 *     for each non-empty slot n, ascending:
 *       leaf:   keyHash (32) ‖ valueHash (32) ‖ leaf hash (32)
 *       child:  version (u64 BE) ‖ child hash (32)     — the child is stored at (version, p‖n)
 *     for each heap position q in 1..15, ascending, whose subtree holds ≥ 2 leaves: its hash (32)
 *
 * Heap positions number the binary levels inside a node: q = 1 is the node itself, 2q and 2q + 1
 * its bit-0 and bit-1 children, 16 + n is slot n. Position hashes follow the logical rules above
 * (a position holding one leaf hashes to that leaf, so its hash is not stored). Storing the inner
 * and leaf hashes makes proofs hash-free and lets an update rehash only the changed paths.
 * Position 1 is thus stored in every non-root node (it equals the hash in the parent's slot) and in
 * the root when it holds ≥ 2 leaves; the root hash of a version is position 1 of its root node.
 *
 * ## Node keys
 *     version (u64 BE) ‖ nibbleCount (u8, 0..63) ‖ ⌈nibbleCount/2⌉ bytes of packed nibbles
 *     (high nibble first; the unused low half of an odd count's last byte is 0)
 * The root of version v is `v ‖ 0x00`. An update at version v writes only nodes keyed at version v
 * (the root always, plus every node on a changed path), so all older versions stay readable; the node
 * keys it replaces are returned as stale for a pruner to delete once no reader needs them.
 *
 * ## Proofs
 * See {@link StateProof}: siblings root → leaf, empty ones as 32 zero bytes in memory and elided by a
 * bitmap in the binary encoding ({@link encodeStateProof}).
 */
import { bytesToHex, compareBytes, equalBytes, TrellisError } from '@trellis/utils'
import type { StateTreeErrorType } from './errors.js'
import { HASH_LENGTH, isHash, nibbleAt, stateLeafHash, ZERO_HASH } from './hash.js'
import { ByteArena, EMPTY_NODE, NodeDraft, NodeView, nodeKeyOf, type SlotContent } from './node.js'
import type { StateProof } from './proof.js'

/** Synchronous access to stored state tree nodes (LevelDB `getSync`, an in-memory map, …). */
export interface TreeNodeReader {
  /** The node stored under `nodeKey`, or undefined. */
  getNode(nodeKey: Uint8Array): Uint8Array | undefined
}

/** One change to the state: set `keyHash` to `valueHash`, or delete it when `valueHash` is null. */
export type StateUpdate = { keyHash: Uint8Array; valueHash: Uint8Array | null }

/** What {@link StateTree.update} produced: the new root and the storage changes for the caller to apply. */
export type StateTreeUpdateResult = {
  root: Uint8Array
  /**
   * New nodes, children before parents; none of them overwrites a node of an earlier version. The
   * node byte arrays are views into shared chunks of up to 1 MiB (copy one to keep it on its own).
   */
  writes: Array<[nodeKey: Uint8Array, node: Uint8Array]>
  /** Keys of base-version nodes this version no longer references (for pruning). */
  staleNodeKeys: Uint8Array[]
}

/** The root of the empty state tree: 32 zero bytes. */
export function emptyStateRoot(): Uint8Array {
  return new Uint8Array(HASH_LENGTH)
}

// A subtree after an update: empty, a single leaf (which moves up into the parent's slot), or a node.
type Subtree = SlotContent

const EMPTY_SUBTREE: Subtree = { kind: 0 }
const MAX_NIBBLES = 2 * HASH_LENGTH

function assertHash(x: unknown, field: 'keyHash' | 'valueHash'): asserts x is Uint8Array {
  if (!isHash(x)) {
    const length = x instanceof Uint8Array ? x.length : null
    throw new TrellisError<StateTreeErrorType>({ code: 'STATE_HASH_INVALID', field, length }, `${field} must be 32 bytes`)
  }
}

/**
 * A Jellyfish Merkle Tree over a {@link TreeNodeReader}. It never writes: {@link StateTree.update}
 * returns the nodes to store. Every version that was written stays readable and provable until pruned.
 *
 * @example
 * const tree = new StateTree(store)
 * const { root, writes } = tree.update(null, 0, [{ keyHash, valueHash }])
 * store.putAll(writes)
 * tree.get(0, keyHash) // valueHash
 */
export class StateTree {
  private readonly reader: TreeNodeReader

  constructor(reader: TreeNodeReader) {
    this.reader = reader
  }

  /**
   * Applies `updates` (valueHash null = delete; for a key given twice the last wins) on top of
   * `baseVersion` (null = the empty tree) and returns version `version`'s root and nodes. A root
   * node is written even when nothing changes. Work is batched: updates are sorted and each node on
   * the changed paths is rebuilt once, rehashing only the changed binary paths inside it.
   * @throws TrellisError STATE_VERSION_INVALID unless `version` is a safe integer above `baseVersion`.
   * @throws TrellisError STATE_HASH_INVALID when a key or value hash is not 32 bytes.
   * @throws TrellisError STATE_VERSION_NOT_FOUND when `baseVersion` was never written.
   * @throws TrellisError STATE_NODE_MISSING when storage lacks a referenced node.
   */
  update(baseVersion: number | null, version: number, updates: ReadonlyArray<StateUpdate>): StateTreeUpdateResult {
    const validBase = baseVersion === null || (Number.isSafeInteger(baseVersion) && baseVersion >= 0)
    if (!validBase || !Number.isSafeInteger(version) || version < 0 || (baseVersion !== null && version <= baseVersion)) {
      throw new TrellisError<StateTreeErrorType>(
        { code: 'STATE_VERSION_INVALID', version, baseVersion },
        `cannot write version ${version} on top of ${baseVersion}`,
      )
    }
    for (const u of updates) {
      assertHash(u.keyHash, 'keyHash')
      if (u.valueHash !== null) assertHash(u.valueHash, 'valueHash')
    }
    // Sort by key, then keep the last update of each key.
    const order = updates.map((_, i) => i)
    order.sort((a, b) => compareBytes(updates[a]!.keyHash, updates[b]!.keyHash) || a - b)
    const keys: Uint8Array[] = []
    const values: Array<Uint8Array | null> = []
    for (let i = 0; i < order.length; i++) {
      const u = updates[order[i]!]!
      const next = order[i + 1]
      if (next !== undefined && equalBytes(updates[next]!.keyHash, u.keyHash)) continue
      keys.push(u.keyHash)
      values.push(u.valueHash)
    }

    const base = baseVersion === null ? EMPTY_NODE : this.readRoot(baseVersion)
    const run = new UpdateRun(this.reader, version, keys, values)
    // The root is always rewritten, so this is a node, never null/empty/leaf.
    const root = run.updateNode(base, 0, 0, keys.length, true) as { kind: 2; hash: Uint8Array }
    if (baseVersion !== null) run.stale.push(nodeKeyOf(baseVersion, ZERO_HASH, 0))
    return { root: root.hash.slice(), writes: run.writes, staleNodeKeys: run.stale }
  }

  /**
   * The state root of `version`.
   * @throws TrellisError STATE_VERSION_NOT_FOUND when that version was never written.
   */
  root(version: number): Uint8Array {
    return this.readRoot(version).positionHash(1).slice()
  }

  /** True when a root node for `version` is stored. */
  hasVersion(version: number): boolean {
    return Number.isSafeInteger(version) && version >= 0 && this.reader.getNode(nodeKeyOf(version, ZERO_HASH, 0)) !== undefined
  }

  /**
   * The value hash of `keyHash` at `version`, or undefined when the key is absent.
   * @throws TrellisError STATE_VERSION_NOT_FOUND, STATE_NODE_MISSING, STATE_HASH_INVALID
   */
  get(version: number, keyHash: Uint8Array): Uint8Array | undefined {
    assertHash(keyHash, 'keyHash')
    let view = this.readRoot(version)
    for (let depth = 0; depth < MAX_NIBBLES; depth++) {
      const slot = nibbleAt(keyHash, depth)
      const kind = view.kind(slot)
      if (kind === 0) return undefined
      if (kind === 1) return equalBytes(view.leafKey(slot), keyHash) ? view.leafValue(slot).slice() : undefined
      view = readNode(this.reader, nodeKeyOf(view.childVersion(slot), keyHash, depth + 1))
    }
    throw corrupt(nodeKeyOf(version, keyHash, MAX_NIBBLES))
  }

  /**
   * An inclusion proof for `keyHash` at `version` when it is present, else a non-inclusion proof.
   * Check it with {@link verifyStateProof}.
   * @throws TrellisError STATE_VERSION_NOT_FOUND, STATE_NODE_MISSING, STATE_HASH_INVALID
   */
  prove(version: number, keyHash: Uint8Array): StateProof {
    assertHash(keyHash, 'keyHash')
    const siblings: Uint8Array[] = []
    let view = this.readRoot(version)
    for (let depth = 0; depth < MAX_NIBBLES; depth++) {
      const slot = nibbleAt(keyHash, depth)
      let p = 1
      for (let level = 0; ; level++) {
        const w = view.weight(p)
        if (w === 0) return { siblings }
        if (w === 1) {
          const leafSlot = loneLeafSlot(view, p)
          return { siblings, leaf: { keyHash: view.leafKey(leafSlot).slice(), valueHash: view.leafValue(leafSlot).slice() } }
        }
        if (level === 4) break
        const child = 2 * p + ((slot >> (3 - level)) & 1)
        siblings.push(view.positionHash(child ^ 1).slice())
        p = child
      }
      view = readNode(this.reader, nodeKeyOf(view.childVersion(slot), keyHash, depth + 1))
    }
    throw corrupt(nodeKeyOf(version, keyHash, MAX_NIBBLES))
  }

  private readRoot(version: number): NodeView {
    if (!Number.isSafeInteger(version) || version < 0) throw versionNotFound(version)
    const nodeKey = nodeKeyOf(version, ZERO_HASH, 0)
    const bytes = this.reader.getNode(nodeKey)
    if (bytes === undefined) throw versionNotFound(version)
    return viewOf(bytes, nodeKey)
  }
}

function versionNotFound(version: number): TrellisError<StateTreeErrorType> {
  return new TrellisError<StateTreeErrorType>({ code: 'STATE_VERSION_NOT_FOUND', version }, `state version ${version} not found`)
}

function corrupt(nodeKey: Uint8Array): TrellisError<StateTreeErrorType> {
  return new TrellisError<StateTreeErrorType>(
    { code: 'STATE_NODE_MISSING', nodeKey: bytesToHex(nodeKey), reason: 'malformed' },
    'state tree node is malformed',
  )
}

/** The node stored under `nodeKey`; a referenced node that is absent or undecodable is corruption. */
function readNode(reader: TreeNodeReader, nodeKey: Uint8Array): NodeView {
  const bytes = reader.getNode(nodeKey)
  if (bytes === undefined) {
    throw new TrellisError<StateTreeErrorType>(
      { code: 'STATE_NODE_MISSING', nodeKey: bytesToHex(nodeKey), reason: 'absent' },
      'state tree node missing from storage',
    )
  }
  return viewOf(bytes, nodeKey)
}

// Readers that cache nodes hand out the same byte arrays again and again (the upper levels on every
// read): their decoded views are kept beside them, and go when the bytes do. Nodes are immutable
// once written, so a view never goes stale.
const views = new WeakMap<Uint8Array, NodeView>()

function viewOf(bytes: Uint8Array, nodeKey: Uint8Array): NodeView {
  let view = views.get(bytes)
  if (view === undefined) {
    view = NodeView.decode(bytes)
    if (view === undefined) throw corrupt(nodeKey)
    views.set(bytes, view)
  }
  return view
}

/** The slot of the single leaf below a weight-1 heap position p. */
function loneLeafSlot(view: NodeView, p: number): number {
  const level = 31 - Math.clz32(p)
  const width = 16 >> level
  const first = (p - (1 << level)) * width
  let s = first
  while (s < first + width - 1 && view.kind(s) !== 1) s++
  return s
}

/** One batched update: the sorted, de-duplicated changes and what it has produced so far. */
class UpdateRun {
  readonly writes: Array<[Uint8Array, Uint8Array]> = []
  readonly stale: Uint8Array[] = []
  private readonly arena = new ByteArena()

  constructor(
    private readonly reader: TreeNodeReader,
    private readonly version: number,
    private readonly keys: Uint8Array[],
    private readonly values: Array<Uint8Array | null>,
  ) {}

  /**
   * Applies keys[lo, hi) — all below this node, at nibble depth `depth` — to a stored node. Returns
   * null when nothing below changed (a non-root node is then kept as is).
   */
  updateNode(view: NodeView, depth: number, lo: number, hi: number, isRoot: boolean): Subtree | null {
    const { keys } = this
    const draft = new NodeDraft(view)
    let i = lo
    while (i < hi) {
      const slot = nibbleAt(keys[i]!, depth)
      let j = i + 1
      while (j < hi && nibbleAt(keys[j]!, depth) === slot) j++
      const kind = view.kind(slot)
      let sub: Subtree | null
      if (kind === 0) sub = this.insertIntoEmpty(depth + 1, i, j)
      else if (kind === 1) sub = this.mergeIntoLeaf(view, slot, depth + 1, i, j)
      else {
        const childKey = nodeKeyOf(view.childVersion(slot), keys[i]!, depth + 1)
        sub = this.updateNode(readNode(this.reader, childKey), depth + 1, i, j, false)
        if (sub !== null) this.stale.push(childKey)
      }
      if (sub !== null) draft.set(slot, sub)
      i = j
    }
    if (!isRoot) {
      if (draft.changedMask === 0) return null
      if (draft.childCount === 0) return EMPTY_SUBTREE
      const lone = draft.loneLeafSlot()
      if (lone >= 0) return { kind: 1, ...draft.leaf(lone) }
    }
    return this.write(draft, nodeKeyOf(this.version, isRoot ? ZERO_HASH : keys[lo]!, depth))
  }

  /** Encodes a finished node, records its write and returns it as a child slot of its parent. */
  private write(draft: NodeDraft, nodeKey: Uint8Array): Subtree {
    const { bytes, hash, view } = draft.finish(this.arena)
    // The view a later read of this node would decode (the reader hands back these same bytes).
    views.set(bytes, view)
    this.writes.push([nodeKey, bytes])
    return { kind: 2, version: this.version, hash }
  }

  /** An empty slot receiving keys[lo, hi): only the insertions matter. */
  private insertIntoEmpty(depth: number, lo: number, hi: number): Subtree | null {
    const { keys, values } = this
    let inserts = 0
    for (let t = lo; t < hi; t++) if (values[t] !== null) inserts++
    if (inserts === 0) return null
    if (inserts === hi - lo) return this.build(keys, values as Uint8Array[], undefined, lo, hi, depth)
    const ek: Uint8Array[] = []
    const ev: Uint8Array[] = []
    for (let t = lo; t < hi; t++) {
      const v = values[t]!
      if (v !== null) {
        ek.push(keys[t]!)
        ev.push(v)
      }
    }
    return this.build(ek, ev, undefined, 0, ek.length, depth)
  }

  /** A slot holding a leaf receiving keys[lo, hi): merge them, or null when nothing changes. */
  private mergeIntoLeaf(view: NodeView, slot: number, depth: number, lo: number, hi: number): Subtree | null {
    const { keys, values } = this
    const k0 = view.leafKey(slot)
    const v0 = view.leafValue(slot)
    const ek: Uint8Array[] = []
    const ev: Uint8Array[] = []
    // Known leaf hashes (the existing leaf's), so it is not hashed again.
    const eh: Array<Uint8Array | undefined> = []
    let placed = false
    let changed = false
    for (let t = lo; t < hi; t++) {
      const k = keys[t]!
      const v = values[t]!
      const c = placed ? 1 : compareBytes(k, k0)
      if (c > 0 && !placed) {
        ek.push(k0)
        ev.push(v0)
        eh[ek.length - 1] = view.leafHash(slot)
        placed = true
      }
      if (c === 0) {
        placed = true
        const same = v !== null && equalBytes(v, v0)
        if (!same) changed = true
        if (v !== null) {
          ek.push(k)
          ev.push(v)
          if (same) eh[ek.length - 1] = view.leafHash(slot)
        }
      } else if (v !== null) {
        changed = true
        ek.push(k)
        ev.push(v)
      }
    }
    if (!changed) return null
    if (!placed) {
      ek.push(k0)
      ev.push(v0)
      eh[ek.length - 1] = view.leafHash(slot)
    }
    return this.build(ek, ev, eh, 0, ek.length, depth)
  }

  /** A fresh subtree at nibble depth `depth` holding the sorted, distinct entries [lo, hi). */
  private build(
    ek: Uint8Array[],
    ev: Uint8Array[],
    eh: Array<Uint8Array | undefined> | undefined,
    lo: number,
    hi: number,
    depth: number,
  ): Subtree {
    const n = hi - lo
    if (n === 0) return EMPTY_SUBTREE
    if (n === 1) {
      const key = ek[lo]!
      const value = ev[lo]!
      return { kind: 1, key, value, hash: eh?.[lo] ?? stateLeafHash(key, value) }
    }
    const draft = new NodeDraft()
    let i = lo
    while (i < hi) {
      const slot = nibbleAt(ek[i]!, depth)
      let j = i + 1
      while (j < hi && nibbleAt(ek[j]!, depth) === slot) j++
      draft.set(slot, this.build(ek, ev, eh, i, j, depth + 1))
      i = j
    }
    return this.write(draft, nodeKeyOf(this.version, ek[lo]!, depth))
  }
}
