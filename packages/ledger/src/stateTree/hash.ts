import { sha256, sha256Into } from '@trellis/crypto'

/** Length of key hashes, value hashes and tree hashes. */
export const HASH_LENGTH = 32

/** Hash of an empty subtree (and root of the empty tree). Internal: never hand it out, copy it. */
export const ZERO_HASH: Uint8Array = new Uint8Array(HASH_LENGTH)

// sha256 copies its input, so one scratch buffer serves every hash (the code is synchronous).
const scratch = new Uint8Array(1 + 2 * HASH_LENGTH)

/** The state tree leaf hash SHA-256(0x00 ‖ keyHash ‖ valueHash). */
export function stateLeafHash(keyHash: Uint8Array, valueHash: Uint8Array): Uint8Array {
  scratch[0] = 0
  scratch.set(keyHash, 1)
  scratch.set(valueHash, 1 + HASH_LENGTH)
  return sha256(scratch)
}

/** The state tree internal hash SHA-256(0x01 ‖ left ‖ right). */
export function stateInternalHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return stateInternalHashInto(left, right, new Uint8Array(HASH_LENGTH))
}

/** {@link stateInternalHash} written into `out` (which may be `left` or `right`). */
export function stateInternalHashInto(left: Uint8Array, right: Uint8Array, out: Uint8Array): Uint8Array {
  scratch[0] = 1
  scratch.set(left, 1)
  scratch.set(right, 1 + HASH_LENGTH)
  sha256Into(scratch, out)
  return out
}

/** True for a Uint8Array of exactly 32 bytes. */
export function isHash(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array && x.length === HASH_LENGTH
}

/** True when all 32 bytes are zero (the empty-subtree hash). */
export function isZeroHash(h: Uint8Array): boolean {
  for (let i = 0; i < h.length; i++) if (h[i] !== 0) return false
  return true
}

/** Nibble `depth` (0 = high nibble of byte 0) of a 32-byte key. */
export function nibbleAt(key: Uint8Array, depth: number): number {
  const b = key[depth >> 1] as number
  return depth & 1 ? b & 15 : b >> 4
}

/** Bit `i` (0 = most significant bit of byte 0) of a 32-byte key. */
export function bitAt(key: Uint8Array, i: number): number {
  return ((key[i >> 3] as number) >> (7 - (i & 7))) & 1
}
