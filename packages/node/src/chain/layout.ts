import { concatBytes } from '@trellis/utils'

// Key layout of the node's KV store (docs/spec/storage-layout.md). One-byte prefixes keep each index
// in its own ordered range; heights are big-endian so ranges iterate in height order.
export const PREFIX = {
  meta: 0x4d, // 'M' + name                      → meta values (head height, genesis hash)
  block: 0x42, // 'B' + u64 height                → block (header + txs)
  cert: 0x43, // 'C' + u64 height                 → commit certificate
  receipts: 0x52, // 'R' + u64 height             → the block's receipts, length-prefixed, in tx order
  blockHash: 0x48, // 'H' + hash                  → u64 height
  txIndex: 0x58, // 'X' + tx id                   → u64 height ‖ u32 index   (also the replay index)
  latest: 0x56, // 'V' + state key                → latest value bytes (absent when deleted)
  history: 0x59, // 'Y' + u16 len ‖ state key ‖ u64 height ‖ u32 txIndex → u8 deleted ‖ tx id ‖ value
  tree: 0x53, // 'S' + state-tree node key        → state-tree node
  wal: 0x57, // 'W' + name                        → consensus write-ahead log (state, last signature)
  evidence: 0x45, // 'E' + u64 height ‖ u32 round ‖ u8 type ‖ u32 validator → duplicate-vote evidence
} as const

export const META = {
  head: Uint8Array.of(PREFIX.meta, 0x68), // 'Mh'
  genesis: Uint8Array.of(PREFIX.meta, 0x67), // 'Mg'
} as const

export function u64(n: number): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n))
  return b
}

export function readU64(b: Uint8Array, offset = 0): number {
  return Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(offset))
}

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

export function readU32(b: Uint8Array, offset = 0): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(offset)
}

export const blockKey = (h: number) => concatBytes(Uint8Array.of(PREFIX.block), u64(h))
export const certKey = (h: number) => concatBytes(Uint8Array.of(PREFIX.cert), u64(h))
export const receiptsKey = (h: number) => concatBytes(Uint8Array.of(PREFIX.receipts), u64(h))
export const blockHashKey = (hash: Uint8Array) => concatBytes(Uint8Array.of(PREFIX.blockHash), hash)
export const txIndexKey = (id: Uint8Array) => {
  const k = new Uint8Array(33)
  k[0] = PREFIX.txIndex
  k.set(id, 1)
  return k
}
function prefixed(prefix: number, b: Uint8Array): Uint8Array {
  const k = new Uint8Array(1 + b.length)
  k[0] = prefix
  k.set(b, 1)
  return k
}

export const latestKey = (stateKey: Uint8Array) => prefixed(PREFIX.latest, stateKey)
export const treeKey = (nodeKey: Uint8Array) => prefixed(PREFIX.tree, nodeKey)

/** The prefix under which all history entries of one state key sort by (height, txIndex). */
export function historyPrefix(stateKey: Uint8Array): Uint8Array {
  const p = new Uint8Array(3 + stateKey.length)
  p[0] = PREFIX.history
  new DataView(p.buffer).setUint16(1, stateKey.length)
  p.set(stateKey, 3)
  return p
}

export function historyKey(stateKey: Uint8Array, height: number, txIndex: number): Uint8Array {
  const k = new Uint8Array(3 + stateKey.length + 12)
  const v = new DataView(k.buffer)
  k[0] = PREFIX.history
  v.setUint16(1, stateKey.length)
  k.set(stateKey, 3)
  v.setUint32(3 + stateKey.length, Math.floor(height / 2 ** 32))
  v.setUint32(7 + stateKey.length, height >>> 0)
  v.setUint32(11 + stateKey.length, txIndex)
  return k
}
