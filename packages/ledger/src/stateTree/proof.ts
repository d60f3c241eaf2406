/**
 * State proofs: inclusion and non-inclusion proofs against a state root, their verifier and their
 * binary and JSON encodings. The formats are specified in `stateTree.ts`.
 */
import { bytesToHex, equalBytes, hexToBytes, isHex, TrellisError, toUint8Array } from '@trellis/utils'
import type { StateTreeErrorType } from './errors.js'
import { bitAt, HASH_LENGTH, isHash, isZeroHash, stateInternalHash, stateLeafHash, ZERO_HASH } from './hash.js'

/** Maximum number of siblings: a leaf can sit at most 256 bits deep. */
export const MAX_STATE_PROOF_DEPTH = 256

/**
 * A proof about one key hash against a state root.
 *
 * `siblings[i]` is the hash of the sibling of the node at depth i + 1 on the key's path, so the list
 * runs root → leaf and `siblings.length` is the depth of the position where the key's path ends; an
 * empty subtree is 32 zero bytes. The path ends either at `leaf` (the key's own leaf for an inclusion
 * proof, or a different leaf whose key shares those first bits for a non-inclusion proof) or, when
 * `leaf` is absent, at an empty subtree (non-inclusion).
 */
export type StateProof = {
  siblings: Uint8Array[]
  leaf?: { keyHash: Uint8Array; valueHash: Uint8Array }
}

/** JSON form of a {@link StateProof}: lower-case hex, an empty sibling written as `""`. */
export type StateProofJSON = {
  siblings: string[]
  leaf?: { keyHash: string; valueHash: string }
}

function malformed(reason: string): TrellisError<StateTreeErrorType> {
  return new TrellisError<StateTreeErrorType>({ code: 'PROOF_MALFORMED', reason }, `malformed state proof: ${reason}`)
}

function commonPrefixAtLeast(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const full = bits >> 3
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false
  const rest = bits & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return (((a[full] as number) ^ (b[full] as number)) & mask) === 0
}

/**
 * True when `proof` shows that, in the state tree with root `root`, `keyHash` maps to `valueHash`
 * (inclusion) or, with `valueHash` null, that `keyHash` is absent (non-inclusion).
 *
 * Strict: the number of siblings must be exactly the depth of the proven position, every sibling and
 * hash must be 32 bytes, and the deepest sibling may not be empty (a canonical tree never has one
 * there). Returns false, never throws, on garbage.
 */
export function verifyStateProof(root: Uint8Array, keyHash: Uint8Array, valueHash: Uint8Array | null, proof: StateProof): boolean {
  try {
    if (!isHash(root) || !isHash(keyHash) || (valueHash !== null && !isHash(valueHash))) return false
    if (typeof proof !== 'object' || proof === null) return false
    const { siblings, leaf } = proof
    if (!Array.isArray(siblings) || siblings.length > MAX_STATE_PROOF_DEPTH) return false
    for (const s of siblings) if (!isHash(s)) return false
    const depth = siblings.length
    if (depth > 0 && isZeroHash(siblings[depth - 1]!)) return false
    let h: Uint8Array
    if (leaf !== undefined) {
      if (typeof leaf !== 'object' || leaf === null || !isHash(leaf.keyHash) || !isHash(leaf.valueHash)) return false
      if (valueHash !== null) {
        if (!equalBytes(leaf.keyHash, keyHash) || !equalBytes(leaf.valueHash, valueHash)) return false
      } else if (equalBytes(leaf.keyHash, keyHash) || !commonPrefixAtLeast(leaf.keyHash, keyHash, depth)) {
        return false
      }
      h = stateLeafHash(leaf.keyHash, leaf.valueHash)
    } else {
      if (valueHash !== null) return false
      h = ZERO_HASH
    }
    for (let i = depth - 1; i >= 0; i--) {
      const s = siblings[i]!
      h = bitAt(keyHash, i) === 1 ? stateInternalHash(s, h) : stateInternalHash(h, s)
    }
    return equalBytes(h, root)
  } catch {
    return false
  }
}

function assertWellFormed(proof: StateProof): void {
  if (typeof proof !== 'object' || proof === null) throw malformed('not an object')
  const { siblings, leaf } = proof
  if (!Array.isArray(siblings)) throw malformed('siblings is not an array')
  if (siblings.length > MAX_STATE_PROOF_DEPTH) throw malformed('more than 256 siblings')
  for (const s of siblings) if (!isHash(s)) throw malformed('sibling is not 32 bytes')
  if (leaf !== undefined) {
    if (typeof leaf !== 'object' || leaf === null || !isHash(leaf.keyHash) || !isHash(leaf.valueHash)) {
      throw malformed('leaf hashes are not 32 bytes')
    }
  }
}

/**
 * Canonical binary encoding of a state proof:
 * `flags (u8: 0x00 no leaf, 0x01 leaf) ‖ [keyHash 32 ‖ valueHash 32] ‖ depth (u16 BE, ≤ 256) ‖
 * bitmap (⌈depth/8⌉ bytes, bit i = 0x80 >> (i mod 8) of byte ⌊i/8⌋ set iff siblings[i] is non-empty,
 * padding bits zero) ‖ the non-empty siblings, 32 bytes each, root → leaf`.
 * @throws TrellisError PROOF_MALFORMED when `proof` is not well-formed.
 */
export function encodeStateProof(proof: StateProof): Uint8Array {
  assertWellFormed(proof)
  const { siblings, leaf } = proof
  const depth = siblings.length
  const bitmapLength = (depth + 7) >> 3
  let nonEmpty = 0
  for (const s of siblings) if (!isZeroHash(s)) nonEmpty++
  const head = leaf === undefined ? 1 : 1 + 2 * HASH_LENGTH
  const out = new Uint8Array(head + 2 + bitmapLength + nonEmpty * HASH_LENGTH)
  if (leaf !== undefined) {
    out[0] = 1
    out.set(leaf.keyHash, 1)
    out.set(leaf.valueHash, 1 + HASH_LENGTH)
  }
  out[head] = depth >> 8
  out[head + 1] = depth & 255
  const bitmapOffset = head + 2
  let off = bitmapOffset + bitmapLength
  siblings.forEach((s, i) => {
    if (isZeroHash(s)) return
    out[bitmapOffset + (i >> 3)] = (out[bitmapOffset + (i >> 3)] as number) | (0x80 >> (i & 7))
    out.set(s, off)
    off += HASH_LENGTH
  })
  return out
}

/**
 * Decodes {@link encodeStateProof} output. Only the canonical encoding is accepted.
 * @throws TrellisError PROOF_MALFORMED on anything else (never another error).
 */
export function decodeStateProof(input: Uint8Array): StateProof {
  if (!(input instanceof Uint8Array)) throw malformed('not a byte array')
  // Buffer#slice does not copy: work on a plain Uint8Array view.
  const bytes = toUint8Array(input)
  if (bytes.length < 3) throw malformed('too short')
  const flags = bytes[0] as number
  if (flags > 1) throw malformed('unknown flags')
  const head = flags === 1 ? 1 + 2 * HASH_LENGTH : 1
  if (bytes.length < head + 2) throw malformed('too short')
  const depth = ((bytes[head] as number) << 8) | (bytes[head + 1] as number)
  if (depth > MAX_STATE_PROOF_DEPTH) throw malformed('more than 256 siblings')
  const bitmapOffset = head + 2
  const bitmapLength = (depth + 7) >> 3
  if (bytes.length < bitmapOffset + bitmapLength) throw malformed('truncated bitmap')
  let nonEmpty = 0
  for (let i = 0; i < bitmapLength; i++) {
    let b = bytes[bitmapOffset + i] as number
    while (b !== 0) {
      nonEmpty += b & 1
      b >>= 1
    }
  }
  const padBits = bitmapLength * 8 - depth
  if (padBits > 0 && ((bytes[bitmapOffset + bitmapLength - 1] as number) & ((1 << padBits) - 1)) !== 0) {
    throw malformed('non-zero bitmap padding')
  }
  let off = bitmapOffset + bitmapLength
  if (bytes.length !== off + nonEmpty * HASH_LENGTH) throw malformed('length does not match the bitmap')
  const siblings: Uint8Array[] = new Array(depth)
  for (let i = 0; i < depth; i++) {
    if (((bytes[bitmapOffset + (i >> 3)] as number) & (0x80 >> (i & 7))) === 0) {
      siblings[i] = new Uint8Array(HASH_LENGTH)
    } else {
      const s = bytes.slice(off, off + HASH_LENGTH)
      if (isZeroHash(s)) throw malformed('empty sibling marked non-empty')
      siblings[i] = s
      off += HASH_LENGTH
    }
  }
  if (flags === 1) {
    return { siblings, leaf: { keyHash: bytes.slice(1, 1 + HASH_LENGTH), valueHash: bytes.slice(1 + HASH_LENGTH, head) } }
  }
  return { siblings }
}

/**
 * The JSON form of a proof (hex strings; an empty sibling is `""`).
 * @throws TrellisError PROOF_MALFORMED when `proof` is not well-formed.
 */
export function stateProofToJSON(proof: StateProof): StateProofJSON {
  assertWellFormed(proof)
  const siblings = proof.siblings.map((s) => (isZeroHash(s) ? '' : bytesToHex(s)))
  const { leaf } = proof
  if (leaf === undefined) return { siblings }
  return { siblings, leaf: { keyHash: bytesToHex(leaf.keyHash), valueHash: bytesToHex(leaf.valueHash) } }
}

function hashFromJSON(x: unknown, what: string): Uint8Array {
  if (typeof x !== 'string' || !isHex(x, HASH_LENGTH)) throw malformed(`${what} is not 64 hex characters`)
  return hexToBytes(x)
}

/**
 * Parses the JSON form of a proof (an empty sibling may be `""` or 64 zeros).
 * @throws TrellisError PROOF_MALFORMED on anything else.
 */
export function stateProofFromJSON(json: unknown): StateProof {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw malformed('not an object')
  const { siblings, leaf } = json as { siblings?: unknown; leaf?: unknown }
  if (!Array.isArray(siblings)) throw malformed('siblings is not an array')
  if (siblings.length > MAX_STATE_PROOF_DEPTH) throw malformed('more than 256 siblings')
  const out: StateProof = { siblings: siblings.map((s) => (s === '' ? new Uint8Array(HASH_LENGTH) : hashFromJSON(s, 'sibling'))) }
  if (leaf !== undefined) {
    if (typeof leaf !== 'object' || leaf === null) throw malformed('leaf is not an object')
    const { keyHash, valueHash } = leaf as { keyHash?: unknown; valueHash?: unknown }
    out.leaf = { keyHash: hashFromJSON(keyHash, 'leaf.keyHash'), valueHash: hashFromJSON(valueHash, 'leaf.valueHash') }
  }
  return out
}
