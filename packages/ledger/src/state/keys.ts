import { sha256 } from '@trellis/crypto'
import { allocBytes, utf8ToBytes } from '@trellis/utils'

/**
 * The ledger-wide key of a contract's state entry: `contract ‖ 0x00 ‖ key`. Contract names cannot
 * contain 0x00, so contracts' key spaces never overlap.
 */
export function stateKey(contract: string, key: string): Uint8Array {
  // ASCII names and keys (the usual case) are written straight into one pooled array: encoding each
  // string first cost two more arrays per state access, and above 64 bytes each had a malloc'd
  // backing store (ADR 0015).
  const cn = contract.length
  const kn = key.length
  const ascii = allocBytes(cn + 1 + kn)
  for (let i = 0; i < cn; i++) {
    const ch = contract.charCodeAt(i)
    if (ch > 0x7f) return utf8StateKey(contract, key)
    ascii[i] = ch
  }
  for (let i = 0, o = cn + 1; i < kn; i++) {
    const ch = key.charCodeAt(i)
    if (ch > 0x7f) return utf8StateKey(contract, key)
    ascii[o + i] = ch
  }
  return ascii
}

function utf8StateKey(contract: string, key: string): Uint8Array {
  const c = utf8ToBytes(contract)
  const k = utf8ToBytes(key)
  const out = allocBytes(c.length + 1 + k.length)
  out.set(c, 0)
  out.set(k, c.length + 1)
  return out
}

/** The position of a state key in the state tree. */
export function stateKeyHash(stateKeyBytes: Uint8Array): Uint8Array {
  return sha256(stateKeyBytes)
}

/** The hash a state-tree leaf commits to for a stored value (its canonical encoding). */
export function stateValueHash(encodedValue: Uint8Array): Uint8Array {
  return sha256(encodedValue)
}
