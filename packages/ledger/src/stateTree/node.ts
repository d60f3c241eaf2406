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
import { HASH_LENGTH, ZERO_HASH, stateInternalHash } from './hash.js'

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
  return c > 2 ? 2 : c
}

/** Bit p set for every position p in 1..15 whose weight is 2: the hashes a node stores. */
function storedMaskOf(leafMask: number, internalMask: number): number {
  let mask = 0
  for (let p = 1; p < 16; p++) if (weightOf(leafMask, internalMask, p) === 2) mask |= 1 << p
  return mask
}

function writeU64(b: Uint8Array, off: number, v: number): void {
  const hi = Math.floor(v / 0x1_0000_0000)
  const lo = v >>> 0
  b[off] = hi >>> 24
  b[off + 1] = (hi >>> 16) & 255
  b[off + 2] = (hi >>> 8) & 255
  b[off + 3] = hi & 255
  b[off + 4] = lo >>> 24
  b[off + 5] = (lo >>> 16) & 255
  b[off + 6] = (lo >>> 8) & 255
  b[off + 7] = lo & 255
}

/** The u64 big-endian at `off`, or -1 when it exceeds Number.MAX_SAFE_INTEGER. */
function readU64(b: Uint8Array, off: number): number {
  const hi = (((b[off] as number) << 24) | ((b[off + 1] as number) << 16) | ((b[off + 2] as number) << 8) | (b[off + 3] as number)) >>> 0
  const lo = (((b[off + 4] as number) << 24) | ((b[off + 5] as number) << 16) | ((b[off + 6] as number) << 8) | (b[off + 7] as number)) >>> 0
  return hi > MAX_SAFE_HIGH_WORD ? -1 : hi * 0x1_0000_0000 + lo
}

/**
 * Storage key of the node at `nibbleCount` nibbles deep on the path of `key` (any key below that
 * node), written at `version`: u64 BE version ‖ u8 nibble count ‖ the first ⌈count/2⌉ key bytes with
 * an unused low half of the last byte zeroed.
 */
export function nodeKeyOf(version: number, key: Uint8Array, nibbleCount: number): Uint8Array {
  const n = (nibbleCount + 1) >> 1
  const out = new Uint8Array(9 + n)
  writeU64(out, 0, version)
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
    private readonly slotOffsets: Uint16Array,
    private readonly hashesOffset: number,
  ) {}

  /** Parses `bytes`, or returns undefined when they are not a well-formed node. */
  static decode(bytes: Uint8Array): NodeView | undefined {
    if (!(bytes instanceof Uint8Array) || bytes.length < HEADER_LENGTH || bytes[0] !== NODE_TAG) return undefined
    const existence = ((bytes[1] as number) << 8) | (bytes[2] as number)
    const leafMask = ((bytes[3] as number) << 8) | (bytes[4] as number)
    if ((leafMask & ~existence) !== 0) return undefined
    const internalMask = existence & ~leafMask
    const offsets = new Uint16Array(16)
    let off = HEADER_LENGTH
    for (let s = 0; s < 16; s++) {
      offsets[s] = off
      const bit = 1 << s
      if (leafMask & bit) off += LEAF_ENTRY_LENGTH
      else if (internalMask & bit) {
        if (off + CHILD_ENTRY_LENGTH > bytes.length || readU64(bytes, off) < 0) return undefined
        off += CHILD_ENTRY_LENGTH
      }
    }
    const storedMask = storedMaskOf(leafMask, internalMask)
    if (bytes.length !== off + HASH_LENGTH * popcount16(storedMask)) return undefined
    return new NodeView(bytes, leafMask, internalMask, storedMask, offsets, off)
  }

  /** 0 = empty, 1 = leaf, 2 = child node. */
  kind(slot: number): number {
    const bit = 1 << slot
    return this.leafMask & bit ? 1 : this.internalMask & bit ? 2 : 0
  }

  leafKey(slot: number): Uint8Array {
    const o = this.slotOffsets[slot] as number
    return this.bytes.subarray(o, o + HASH_LENGTH)
  }

  leafValue(slot: number): Uint8Array {
    const o = (this.slotOffsets[slot] as number) + HASH_LENGTH
    return this.bytes.subarray(o, o + HASH_LENGTH)
  }

  /** The stored leaf hash SHA-256(0x00 ‖ keyHash ‖ valueHash) of a leaf slot. */
  leafHash(slot: number): Uint8Array {
    const o = (this.slotOffsets[slot] as number) + 2 * HASH_LENGTH
    return this.bytes.subarray(o, o + HASH_LENGTH)
  }

  childVersion(slot: number): number {
    return readU64(this.bytes, this.slotOffsets[slot] as number)
  }

  childHash(slot: number): Uint8Array {
    const o = (this.slotOffsets[slot] as number) + 8
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

  /** The stored hash of a weight-2 position p in 1..15. */
  storedHash(p: number): Uint8Array {
    const o = this.hashesOffset + HASH_LENGTH * popcount16(this.storedMask & ((1 << p) - 1))
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

const ARENA_CHUNK = 64 * 1024

/**
 * Hands out zeroed byte arrays carved from 64 KiB chunks: allocating a fresh ArrayBuffer per node
 * costs more than encoding it, and an update writes thousands of nodes.
 */
export class ByteArena {
  private chunk = new Uint8Array(0)
  private offset = 0

  alloc(length: number): Uint8Array {
    if (this.offset + length > this.chunk.length) {
      this.chunk = new Uint8Array(Math.max(ARENA_CHUNK, length))
      this.offset = 0
    }
    const out = this.chunk.subarray(this.offset, this.offset + length)
    this.offset += length
    return out
  }
}

/** A node under construction: its 16 slots, built fresh or copied from a {@link NodeView}. */
export class NodeDraft {
  leafMask = 0
  internalMask = 0
  readonly keys: Array<Uint8Array | undefined> = new Array(16)
  readonly values: Array<Uint8Array | undefined> = new Array(16)
  readonly leafHashes: Array<Uint8Array | undefined> = new Array(16)
  readonly versions: number[] = new Array(16).fill(0)
  readonly hashes: Array<Uint8Array | undefined> = new Array(16)

  static fromView(view: NodeView): NodeDraft {
    const d = new NodeDraft()
    d.leafMask = view.leafMask
    d.internalMask = view.internalMask
    for (let s = 0; s < 16; s++) {
      const bit = 1 << s
      if (view.leafMask & bit) {
        d.keys[s] = view.leafKey(s)
        d.values[s] = view.leafValue(s)
        d.leafHashes[s] = view.leafHash(s)
      } else if (view.internalMask & bit) {
        d.versions[s] = view.childVersion(s)
        d.hashes[s] = view.childHash(s)
      }
    }
    return d
  }

  setEmpty(s: number): void {
    const bit = 1 << s
    this.leafMask &= ~bit
    this.internalMask &= ~bit
  }

  setLeaf(s: number, key: Uint8Array, value: Uint8Array, leafHash: Uint8Array): void {
    const bit = 1 << s
    this.leafMask |= bit
    this.internalMask &= ~bit
    this.keys[s] = key
    this.values[s] = value
    this.leafHashes[s] = leafHash
  }

  setChild(s: number, version: number, hash: Uint8Array): void {
    const bit = 1 << s
    this.leafMask &= ~bit
    this.internalMask |= bit
    this.versions[s] = version
    this.hashes[s] = hash
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

  /**
   * Encodes the node and computes its hash. Hashes of positions whose slots are all outside
   * `changedMask` are taken from `old` (the node this draft was copied from), so an update costs
   * only the hashes on the changed paths.
   */
  finish(old: NodeView | undefined, changedMask: number, arena: ByteArena): { bytes: Uint8Array; hash: Uint8Array } {
    const { leafMask, internalMask, keys, values, leafHashes, hashes } = this
    const pos: Array<Uint8Array | undefined> = new Array(32)
    const resolve = (p: number): Uint8Array => {
      const cached = pos[p]
      if (cached !== undefined) return cached
      const w = weightOf(leafMask, internalMask, p)
      let h: Uint8Array
      if (w === 0) h = ZERO_HASH
      else if (w === 1) {
        const m = leafMask & (POS_MASK[p] as number)
        h = leafHashes[31 - Math.clz32(m & -m)]!
      } else if (p >= 16) h = hashes[p - 16]!
      else if (old !== undefined && (changedMask & (POS_MASK[p] as number)) === 0) h = old.storedHash(p)
      else h = stateInternalHash(resolve(2 * p), resolve(2 * p + 1))
      pos[p] = h
      return h
    }
    const hash = resolve(1)
    const storedMask = storedMaskOf(leafMask, internalMask)
    const bytes = arena.alloc(
      HEADER_LENGTH +
        LEAF_ENTRY_LENGTH * popcount16(leafMask) +
        CHILD_ENTRY_LENGTH * popcount16(internalMask) +
        HASH_LENGTH * popcount16(storedMask),
    )
    const existence = leafMask | internalMask
    bytes[0] = NODE_TAG
    bytes[1] = existence >> 8
    bytes[2] = existence & 255
    bytes[3] = leafMask >> 8
    bytes[4] = leafMask & 255
    let off = HEADER_LENGTH
    for (let s = 0; s < 16; s++) {
      const bit = 1 << s
      if (leafMask & bit) {
        bytes.set(keys[s]!, off)
        bytes.set(values[s]!, off + HASH_LENGTH)
        bytes.set(leafHashes[s]!, off + 2 * HASH_LENGTH)
        off += LEAF_ENTRY_LENGTH
      } else if (internalMask & bit) {
        writeU64(bytes, off, this.versions[s]!)
        bytes.set(hashes[s]!, off + 8)
        off += CHILD_ENTRY_LENGTH
      }
    }
    for (let p = 1; p < 16; p++) {
      if (storedMask & (1 << p)) {
        bytes.set(resolve(p), off)
        off += HASH_LENGTH
      }
    }
    return { bytes, hash }
  }
}

/** The encoding of a node with no children (the root of an empty tree). */
export const EMPTY_NODE: NodeView = NodeView.decode(Uint8Array.of(NODE_TAG, 0, 0, 0, 0))!
