/**
 * Physical layout of the state tree: 16-ary versioned nodes and their storage keys.
 * The encodings are normative; they are documented in `stateTree.ts`.
 *
 * Inside a node the 4 binary levels are numbered as a heap: position 1 is the node itself, positions
 * 2p and 2p + 1 are the children (bit 0 and bit 1) of position p, and positions 16..31 are the child
 * slots 0..15 (slot = the key's nibble at this node's depth). The "weight" of a position is the number
 * of leaves below it, capped at 2: slot weights are 0 (empty), 1 (leaf) or 2 (child node — canonical
 * child nodes hold at least two leaves). A weight-0 position hashes to zero, a weight-1 position to
 * the hash of its only leaf, and a weight-2 position to SHA-256(0x01 ‖ left ‖ right).
 */
import { allocBytes, toUint8Array, writeU64BE } from '@trellis/utils'
import { HASH_LENGTH, stateInternalHashInto, ZERO_HASH } from './hash.js'

/** Tag byte of the (only) node format: a 16-ary internal node with inline leaves. */
export const NODE_TAG = 0x01
const HEADER_LENGTH = 5
const LEAF_ENTRY_LENGTH = 3 * HASH_LENGTH
const CHILD_ENTRY_LENGTH = 8 + HASH_LENGTH
const MAX_SAFE_HIGH_WORD = 0x1fffff

/** POS_MASK[p]: the 16-bit set of slots below heap position p (1..31). */
const POS_MASK: number[] = [0]
for (let p = 1; p < 32; p++) {
  const level = 31 - Math.clz32(p)
  const width = 16 >> level
  POS_MASK.push((((1 << width) - 1) << ((p - (1 << level)) * width)) & 0xffff)
}

/** Byte offset of a node's stored hashes: after its header, leaf entries and child entries. */
function hashesOffsetOf(leafMask: number, internalMask: number): number {
  return HEADER_LENGTH + LEAF_ENTRY_LENGTH * popcount16(leafMask) + CHILD_ENTRY_LENGTH * popcount16(internalMask)
}

/** Number of set bits of a 16-bit integer. */
export function popcount16(x: number): number {
  let v = x - ((x >> 1) & 0x5555)
  v = (v & 0x3333) + ((v >> 2) & 0x3333)
  v = (v + (v >> 4)) & 0x0f0f
  return (v + (v >> 8)) & 0x1f
}

/** Weight (0, 1 or 2 = "two or more leaves") of heap position p given the slot masks. */
function weightOf(leafMask: number, internalMask: number, p: number): number {
  const m = POS_MASK[p] as number
  if ((internalMask & m) !== 0) return 2
  const c = popcount16(leafMask & m)
  return Math.min(c, 2)
}

/** Bit p set for every position p in 1..15 whose weight is 2: the hashes a node stores. */
function storedMaskOf(leafMask: number, internalMask: number): number {
  let mask = 0
  for (let p = 1; p < 16; p++) if (weightOf(leafMask, internalMask, p) === 2) mask |= 1 << p
  return mask
}

/** The u64 big-endian at `off`, or -1 when it exceeds Number.MAX_SAFE_INTEGER. */
function readU64(b: Uint8Array, off: number): number {
  const hi = (((b[off] as number) << 24) | ((b[off + 1] as number) << 16) | ((b[off + 2] as number) << 8) | (b[off + 3] as number)) >>> 0
  const lo =
    (((b[off + 4] as number) << 24) | ((b[off + 5] as number) << 16) | ((b[off + 6] as number) << 8) | (b[off + 7] as number)) >>> 0
  return hi > MAX_SAFE_HIGH_WORD ? -1 : hi * 0x1_0000_0000 + lo
}

/**
 * Storage key of the node at `nibbleCount` nibbles deep on the path of `key` (any key below that
 * node), written at `version`: u64 BE version ‖ u8 nibble count ‖ the first ⌈count/2⌉ key bytes with
 * an unused low half of the last byte zeroed.
 */
export function nodeKeyOf(version: number, key: Uint8Array, nibbleCount: number): Uint8Array {
  const n = (nibbleCount + 1) >> 1
  const out = allocBytes(9 + n)
  writeU64BE(out, 0, version)
  out[8] = nibbleCount
  out.set(key.subarray(0, n), 9)
  if (nibbleCount & 1) out[8 + n] = (out[8 + n] as number) & 0xf0
  return out
}

/**
 * Storage key of a state tree node: u64 big-endian `version` ‖ u8 nibble count ‖ packed nibbles
 * (two per byte, high nibble first, the unused low half of an odd count's last byte zero).
 * The root node of a version has the empty path: 9 bytes, `version ‖ 0x00`.
 */
export function encodeStateNodeKey(version: number, nibbles: readonly number[]): Uint8Array {
  const packed = new Uint8Array(HASH_LENGTH)
  nibbles.forEach((n, i) => {
    packed[i >> 1] = (packed[i >> 1] as number) | ((n & 15) << (i & 1 ? 0 : 4))
  })
  return nodeKeyOf(version, packed, nibbles.length)
}

/** The version and nibble path of a state tree node key, or undefined when it is not one. */
export function decodeStateNodeKey(nodeKey: Uint8Array): { version: number; nibbles: number[] } | undefined {
  if (!(nodeKey instanceof Uint8Array) || nodeKey.length < 9) return undefined
  const version = readU64(nodeKey, 0)
  const count = nodeKey[8] as number
  if (version < 0 || count > 64 || nodeKey.length !== 9 + ((count + 1) >> 1)) return undefined
  if (count & 1 && ((nodeKey[nodeKey.length - 1] as number) & 15) !== 0) return undefined
  const nibbles: number[] = []
  for (let i = 0; i < count; i++) {
    const b = nodeKey[9 + (i >> 1)] as number
    nibbles.push(i & 1 ? b & 15 : b >> 4)
  }
  return { version, nibbles }
}

/** A zero-copy reader over an encoded node; `decode` validates the layout once. */
export class NodeView {
  private constructor(
    readonly bytes: Uint8Array,
    /** Slots holding a leaf. */
    readonly leafMask: number,
    /** Slots holding a child node. */
    readonly internalMask: number,
    private readonly storedMask: number,
    private readonly hashesOffset: number,
  ) {}

  /** A view of a node {@link NodeDraft.finish} just encoded: its layout is known, not parsed. */
  static encoded(bytes: Uint8Array, leafMask: number, internalMask: number, storedMask: number): NodeView {
    return new NodeView(bytes, leafMask, internalMask, storedMask, hashesOffsetOf(leafMask, internalMask))
  }

  /** Parses `bytes`, or returns undefined when they are not a well-formed node. */
  static decode(stored: Uint8Array): NodeView | undefined {
    if (!(stored instanceof Uint8Array) || stored.length < HEADER_LENGTH || stored[0] !== NODE_TAG) return undefined
    // A plain Uint8Array view (not a Buffer), so subarray/slice behave alike for every reader.
    const bytes = toUint8Array(stored)
    const existence = ((bytes[1] as number) << 8) | (bytes[2] as number)
    const leafMask = ((bytes[3] as number) << 8) | (bytes[4] as number)
    if ((leafMask & ~existence) !== 0) return undefined
    const internalMask = existence & ~leafMask
    const storedMask = storedMaskOf(leafMask, internalMask)
    const hashesOffset = hashesOffsetOf(leafMask, internalMask)
    if (bytes.length !== hashesOffset + HASH_LENGTH * popcount16(storedMask)) return undefined
    const view = new NodeView(bytes, leafMask, internalMask, storedMask, hashesOffset)
    for (let s = 0; s < 16; s++) if (internalMask & (1 << s) && view.childVersion(s) < 0) return undefined
    return view
  }

  /** 0 = empty, 1 = leaf, 2 = child node. */
  kind(slot: number): number {
    const bit = 1 << slot
    return this.leafMask & bit ? 1 : this.internalMask & bit ? 2 : 0
  }

  /** Byte offset of a slot's entry. */
  slotOffset(slot: number): number {
    const below = (1 << slot) - 1
    return (
      HEADER_LENGTH + LEAF_ENTRY_LENGTH * popcount16(this.leafMask & below) + CHILD_ENTRY_LENGTH * popcount16(this.internalMask & below)
    )
  }

  leafKey(slot: number): Uint8Array {
    const o = this.slotOffset(slot)
    return this.bytes.subarray(o, o + HASH_LENGTH)
  }

  leafValue(slot: number): Uint8Array {
    const o = this.slotOffset(slot) + HASH_LENGTH
    return this.bytes.subarray(o, o + HASH_LENGTH)
  }

  /** The stored leaf hash SHA-256(0x00 ‖ keyHash ‖ valueHash) of a leaf slot. */
  leafHash(slot: number): Uint8Array {
    const o = this.slotOffset(slot) + 2 * HASH_LENGTH
    return this.bytes.subarray(o, o + HASH_LENGTH)
  }

  childVersion(slot: number): number {
    return readU64(this.bytes, this.slotOffset(slot))
  }

  childHash(slot: number): Uint8Array {
    const o = this.slotOffset(slot) + 8
    return this.bytes.subarray(o, o + HASH_LENGTH)
  }

  /** Weight of heap position p (1..31). */
  weight(p: number): number {
    return weightOf(this.leafMask, this.internalMask, p)
  }

  /** Number of non-empty slots. */
  get childCount(): number {
    return popcount16(this.leafMask | this.internalMask)
  }

  /** Byte offset of the stored hash of a weight-2 position p in 1..15. */
  storedHashOffset(p: number): number {
    return this.hashesOffset + HASH_LENGTH * popcount16(this.storedMask & ((1 << p) - 1))
  }

  /** The stored hash of a weight-2 position p in 1..15. */
  storedHash(p: number): Uint8Array {
    const o = this.storedHashOffset(p)
    return this.bytes.subarray(o, o + HASH_LENGTH)
  }

  /** The hash of heap position p (shared or view bytes: copy before handing out). */
  positionHash(p: number): Uint8Array {
    const w = this.weight(p)
    if (w === 0) return ZERO_HASH
    if (w === 1) {
      const m = this.leafMask & (POS_MASK[p] as number)
      return this.leafHash(31 - Math.clz32(m & -m))
    }
    return p >= 16 ? this.childHash(p - 16) : this.storedHash(p)
  }
}

const ARENA_FIRST_CHUNK = 4 * 1024
const ARENA_MAX_CHUNK = 1024 * 1024

/**
 * Hands out zeroed byte arrays carved from larger chunks: allocating a fresh ArrayBuffer per node
 * costs more than encoding it, and an update writes thousands of nodes. Chunks start at 4 KiB and
 * double up to 1 MiB, so a small update does not pin a large buffer.
 */
export class ByteArena {
  private chunk = new Uint8Array(0)
  private offset = 0
  private nextChunk = ARENA_FIRST_CHUNK

  alloc(length: number): Uint8Array {
    if (this.offset + length > this.chunk.length) {
      this.chunk = new Uint8Array(Math.max(this.nextChunk, length))
      this.offset = 0
      this.nextChunk = Math.min(2 * this.nextChunk, ARENA_MAX_CHUNK)
    }
    const out = this.chunk.subarray(this.offset, this.offset + length)
    this.offset += length
    return out
  }
}

/** A slot's new content: empty, a leaf (with its hash) or a child node written at `version`. */
export type SlotContent =
  { kind: 0 } | { kind: 1; key: Uint8Array; value: Uint8Array; hash: Uint8Array } | { kind: 2; version: number; hash: Uint8Array }

// Position hashes of the node being finished (finish never nests, so one buffer serves all).
const positionScratch: Array<Uint8Array | undefined> = new Array(32)
// Where the hashes finish computes go: one 32-byte view per heap position 1..15, so a node's inner
// hashes cost no allocation. Only the node's own hash (position 1) is handed out, as a copy.
const positionHashes: Uint8Array[] = (() => {
  const buffer = new ArrayBuffer(16 * HASH_LENGTH)
  return Array.from({ length: 16 }, (_, p) => new Uint8Array(buffer, p * HASH_LENGTH, HASH_LENGTH))
})()

/**
 * A node under construction: fresh, or a copy of a stored node (`base`) with some slots replaced.
 * Unchanged slots are never unpacked: their bytes, and the inner hashes above them, are copied from
 * `base` when the node is encoded.
 */
export class NodeDraft {
  leafMask = 0
  internalMask = 0
  /** Slots set since creation; only these are read from `slots`. */
  changedMask = 0
  private readonly slots: Array<SlotContent | undefined> = new Array(16)

  constructor(private readonly base?: NodeView) {
    if (base !== undefined) {
      this.leafMask = base.leafMask
      this.internalMask = base.internalMask
    }
  }

  set(s: number, content: SlotContent): void {
    const bit = 1 << s
    this.leafMask &= ~bit
    this.internalMask &= ~bit
    if (content.kind === 1) this.leafMask |= bit
    else if (content.kind === 2) this.internalMask |= bit
    this.changedMask |= bit
    this.slots[s] = content
  }

  /** The content of a non-empty leaf slot. */
  leaf(s: number): { key: Uint8Array; value: Uint8Array; hash: Uint8Array } {
    const own = this.slots[s]
    if (own?.kind === 1) return own
    const base = this.base!
    return { key: base.leafKey(s), value: base.leafValue(s), hash: base.leafHash(s) }
  }

  private leafHash(s: number): Uint8Array {
    const own = this.slots[s]
    return own?.kind === 1 ? own.hash : this.base!.leafHash(s)
  }

  private childHash(s: number): Uint8Array {
    const own = this.slots[s]
    return own?.kind === 2 ? own.hash : this.base!.childHash(s)
  }

  /** Number of non-empty slots. */
  get childCount(): number {
    return popcount16(this.leafMask | this.internalMask)
  }

  /** The single leaf slot when the node holds exactly one child and it is a leaf, else -1. */
  loneLeafSlot(): number {
    if (this.internalMask !== 0 || popcount16(this.leafMask) !== 1) return -1
    return 31 - Math.clz32(this.leafMask)
  }

  // Hash of heap position p; positions whose slots are all unchanged come from `base`.
  private resolve(p: number, reusable: number): Uint8Array {
    const cached = positionScratch[p]
    if (cached !== undefined) return cached
    const { leafMask, internalMask } = this
    const w = weightOf(leafMask, internalMask, p)
    const m = POS_MASK[p] as number
    let h: Uint8Array
    if (w === 0) h = ZERO_HASH
    else if (w === 1) {
      const leaves = leafMask & m
      h = this.leafHash(31 - Math.clz32(leaves & -leaves))
    } else if (p >= 16) h = this.childHash(p - 16)
    else if ((reusable & m) === m) h = this.base!.storedHash(p)
    else h = stateInternalHashInto(this.resolve(2 * p, reusable), this.resolve(2 * p + 1, reusable), positionHashes[p] as Uint8Array)
    positionScratch[p] = h
    return h
  }

  /**
   * Encodes the node into `arena` and computes its hash. Only positions above changed slots are
   * rehashed; the others are copied from `base`.
   */
  finish(arena: ByteArena): { bytes: Uint8Array; hash: Uint8Array; view: NodeView } {
    const { leafMask, internalMask, base, slots } = this
    const reusable = base === undefined ? 0 : ~this.changedMask & 0xffff
    positionScratch.fill(undefined)
    const resolved = this.resolve(1, reusable)
    // Computed into the scratch views, which the next finish overwrites: the caller keeps its own copy.
    const hash = resolved === positionHashes[1] ? resolved.slice() : resolved
    const storedMask = storedMaskOf(leafMask, internalMask)
    const bytes = arena.alloc(hashesOffsetOf(leafMask, internalMask) + HASH_LENGTH * popcount16(storedMask))
    const existence = leafMask | internalMask
    bytes[0] = NODE_TAG
    bytes[1] = existence >> 8
    bytes[2] = existence & 255
    bytes[3] = leafMask >> 8
    bytes[4] = leafMask & 255
    let off = HEADER_LENGTH
    // Runs of unchanged slots are contiguous in `base` and in the output: copy each run at once.
    let runFrom = 0
    let runTo = 0
    let runLength = 0
    let baseOff = HEADER_LENGTH
    for (let s = 0; s < 16; s++) {
      const bit = 1 << s
      const baseLength = base === undefined ? 0 : base.leafMask & bit ? LEAF_ENTRY_LENGTH : base.internalMask & bit ? CHILD_ENTRY_LENGTH : 0
      if (existence & bit) {
        const length = leafMask & bit ? LEAF_ENTRY_LENGTH : CHILD_ENTRY_LENGTH
        const own = slots[s]
        if (reusable & bit) {
          if (runLength > 0 && runFrom + runLength === baseOff && runTo + runLength === off) runLength += length
          else {
            if (runLength > 0) bytes.set(base!.bytes.subarray(runFrom, runFrom + runLength), runTo)
            runFrom = baseOff
            runTo = off
            runLength = length
          }
        } else if (own?.kind === 1) {
          bytes.set(own.key, off)
          bytes.set(own.value, off + HASH_LENGTH)
          bytes.set(own.hash, off + 2 * HASH_LENGTH)
        } else if (own?.kind === 2) {
          writeU64BE(bytes, off, own.version)
          bytes.set(own.hash, off + 8)
        }
        off += length
      }
      baseOff += baseLength
    }
    if (runLength > 0) bytes.set(base!.bytes.subarray(runFrom, runFrom + runLength), runTo)
    // Stored hashes: runs of positions above unchanged slots are copied from `base` at once too.
    runLength = 0
    for (let p = 1; p < 16; p++) {
      if ((storedMask & (1 << p)) === 0) continue
      const m = POS_MASK[p] as number
      if ((reusable & m) === m) {
        const from = base!.storedHashOffset(p)
        if (runLength > 0 && runFrom + runLength === from && runTo + runLength === off) runLength += HASH_LENGTH
        else {
          if (runLength > 0) bytes.set(base!.bytes.subarray(runFrom, runFrom + runLength), runTo)
          runFrom = from
          runTo = off
          runLength = HASH_LENGTH
        }
      } else bytes.set(this.resolve(p, reusable), off)
      off += HASH_LENGTH
    }
    if (runLength > 0) bytes.set(base!.bytes.subarray(runFrom, runFrom + runLength), runTo)
    positionScratch.fill(undefined)
    return { bytes, hash, view: NodeView.encoded(bytes, leafMask, internalMask, storedMask) }
  }
}

/** The encoding of a node with no children (the root of an empty tree). */
export const EMPTY_NODE: NodeView = NodeView.decode(Uint8Array.of(NODE_TAG, 0, 0, 0, 0))!
