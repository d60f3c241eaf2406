import { sha256 } from '@trellis/crypto'
import { allocBytes, utf8ToBytes } from '@trellis/utils'

/**
 * The ledger-wide key of a contract's state entry: `contract ‖ 0x00 ‖ key`. Contract names cannot
 * contain 0x00, so contracts' key spaces never overlap.
 */
export function stateKey(contract: string, key: string): Uint8Array {
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
