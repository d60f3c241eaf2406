/**
 * RFC 6962 (Certificate Transparency) Merkle tree, used for the transaction and receipt roots.
 *
 * - leaf hash  = SHA-256(0x00 ‖ leafData)
 * - node hash  = SHA-256(0x01 ‖ left ‖ right)
 * - MTH(D[n]) for n > 1 splits at k, the largest power of two smaller than n (RFC 6962 §2.1);
 *   MTH of the empty list is SHA-256 of the empty string.
 * - An audit path (RFC 6962 §2.1.1) lists sibling hashes from the leaf's level up to the root.
 *
 * The tree is built level by level: adjacent nodes are paired and an unpaired last node is promoted
 * unchanged to the next level. That yields exactly the RFC 6962 split tree with n leaf hashes plus
 * n − 1 node hashes and no recursion.
 */
import { sha256 } from '@trellis/crypto'
import { equalBytes, TrellisError } from '@trellis/utils'
import type { MerkleErrorType } from './errors.js'

/** An RFC 6962 audit path for the leaf at `index` in a tree of `size` leaves; `path` runs leaf level → root. */
export type MerkleProof = { index: number; size: number; path: Uint8Array[] }

const HASH_LENGTH = 32
// sha256 copies its input, so one scratch buffer serves every node hash (the code is synchronous).
const nodeScratch = new Uint8Array(1 + 2 * HASH_LENGTH)

// Leaves (txs, receipts) are mostly small: they are prefixed in one reused buffer.
const leafScratch = new Uint8Array(4096)

/** The RFC 6962 leaf hash SHA-256(0x00 ‖ leafData). */
export function merkleLeafHash(leafData: Uint8Array): Uint8Array {
  const buf = leafData.length < leafScratch.length ? leafScratch.subarray(0, 1 + leafData.length) : new Uint8Array(1 + leafData.length)
  buf[0] = 0
  buf.set(leafData, 1)
  return sha256(buf)
}

/** The RFC 6962 interior node hash SHA-256(0x01 ‖ left ‖ right). */
export function merkleNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  nodeScratch[0] = 1
  nodeScratch.set(left, 1)
  nodeScratch.set(right, 1 + HASH_LENGTH)
  return sha256(nodeScratch)
}

/**
 * A fully built RFC 6962 tree over a list of leaves: the root plus every level, so the audit path of
 * any leaf is read off without hashing. Build one per block to serve a proof per transaction.
 *
 * The hashes inside returned proofs are shared with the tree; treat them as read-only.
 *
 * @example
 * const tree = new MerkleTree(txBytes)
 * const root = tree.root
 * const proof = tree.proof(3)
 */
export class MerkleTree {
  /** Number of leaves. */
  readonly size: number
  /** The Merkle tree hash (MTH) of the leaves. */
  readonly root: Uint8Array
  // levels[0] are the leaf hashes; the last level holds the root alone.
  private readonly levels: Uint8Array[][]

  constructor(leaves: readonly Uint8Array[]) {
    this.size = leaves.length
    if (leaves.length === 0) {
      this.levels = []
      this.root = sha256(new Uint8Array(0))
      return
    }
    let level = leaves.map(merkleLeafHash)
    const levels = [level]
    while (level.length > 1) {
      const next: Uint8Array[] = new Array(Math.ceil(level.length / 2))
      for (let i = 0; i + 1 < level.length; i += 2) next[i >> 1] = merkleNodeHash(level[i]!, level[i + 1]!)
      if (level.length % 2 === 1) next[next.length - 1] = level[level.length - 1]!
      levels.push(next)
      level = next
    }
    this.levels = levels
    this.root = level[0]!
  }

  /**
   * The audit path of the leaf at `index`.
   * @throws TrellisError MERKLE_INDEX_OUT_OF_RANGE when `index` is not an integer in [0, size).
   */
  proof(index: number): MerkleProof {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new TrellisError<MerkleErrorType>(
        { code: 'MERKLE_INDEX_OUT_OF_RANGE', index, size: this.size },
        `leaf index ${index} out of range for ${this.size} leaves`,
      )
    }
    const path: Uint8Array[] = []
    let i = index
    for (let l = 0; l < this.levels.length - 1; l++) {
      const level = this.levels[l]!
      const sibling = i ^ 1
      // A promoted last node has no sibling at this level.
      if (sibling < level.length) path.push(level[sibling]!)
      i >>= 1
    }
    return { index, size: this.size, path }
  }

  /** The audit paths of all leaves, in leaf order. */
  proofs(): MerkleProof[] {
    const out: MerkleProof[] = new Array(this.size)
    for (let i = 0; i < this.size; i++) out[i] = this.proof(i)
    return out
  }
}

/** The RFC 6962 Merkle tree hash of `leaves` (SHA-256 of the empty string for no leaves). */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array(0))
  let level = leaves.map(merkleLeafHash)
  while (level.length > 1) {
    const next: Uint8Array[] = new Array(Math.ceil(level.length / 2))
    for (let i = 0; i + 1 < level.length; i += 2) next[i >> 1] = merkleNodeHash(level[i]!, level[i + 1]!)
    if (level.length % 2 === 1) next[next.length - 1] = level[level.length - 1]!
    level = next
  }
  return level[0]!
}

/**
 * The RFC 6962 audit path of `leaves[index]`. To prove many leaves of one list, build a
 * {@link MerkleTree} once (or call {@link merkleProofsAll}).
 * @throws TrellisError MERKLE_INDEX_OUT_OF_RANGE
 */
export function merkleProof(leaves: readonly Uint8Array[], index: number): MerkleProof {
  return new MerkleTree(leaves).proof(index)
}

/** The audit paths of every leaf of `leaves`, from one tree build (about 2n hashes in total). */
export function merkleProofsAll(leaves: readonly Uint8Array[]): MerkleProof[] {
  return new MerkleTree(leaves).proofs()
}

/**
 * True when `proof` shows that `leafData` is the leaf at `proof.index` of the tree of `proof.size`
 * leaves with root `root` (RFC 9162 §2.1.3.2 verification of an RFC 6962 audit path).
 * Returns false, never throws, on any malformed input (index ≥ size, wrong path length, non-32-byte
 * hashes, wrong types).
 */
export function verifyMerkleProof(root: Uint8Array, leafData: Uint8Array, proof: MerkleProof): boolean {
  try {
    if (!(root instanceof Uint8Array) || root.length !== HASH_LENGTH || !(leafData instanceof Uint8Array)) return false
    if (typeof proof !== 'object' || proof === null) return false
    const { index, size, path } = proof
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false
    if (!Array.isArray(path) || path.length > 64) return false
    // Arithmetic instead of bitwise shifts so sizes above 2^31 work too.
    let fn = index
    let sn = size - 1
    let r = merkleLeafHash(leafData)
    for (const p of path) {
      if (!(p instanceof Uint8Array) || p.length !== HASH_LENGTH) return false
      if (sn === 0) return false
      if (fn % 2 === 1 || fn === sn) {
        r = merkleNodeHash(p, r)
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      } else {
        r = merkleNodeHash(r, p)
      }
      fn = Math.floor(fn / 2)
      sn = Math.floor(sn / 2)
    }
    return sn === 0 && equalBytes(r, root)
  } catch {
    return false
  }
}
