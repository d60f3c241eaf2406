import { allocBytes, writeU32BE, writeU64BE } from '@trellis/utils'

// Key layout of the node's KV stores (docs/spec/storage-layout.md). One-byte prefixes keep each index
// in its own ordered range; heights are big-endian so ranges iterate in height order.
//
// The archive records (blocks, certificates, receipts, state-tree nodes) are written once and never
// change. Their keys start with the height, so each block's records sort after all earlier ones: in
// their own LevelDB, every flushed file covers a new key range and compaction only moves it down.
export const PREFIX = {
  archive: 0x41, // 'A' + u64 height + kind (+ rest) → see ARCHIVE
  meta: 0x4d, // 'M' + name                      → meta values (head height, genesis hash, format)
  blockHash: 0x48, // 'H' + hash                  → u64 height
  txIndex: 0x58, // 'X' + tx id                   → u64 height ‖ u32 index   (also the replay index)
  latest: 0x56, // 'V' + state key                → latest value bytes (absent when deleted)
  history: 0x59, // 'Y' + u16 len ‖ state key ‖ u64 height ‖ u32 txIndex → u8 deleted ‖ tx id ‖ value
  wal: 0x57, // 'W' + name                        → consensus write-ahead log (state, last signature)
  evidence: 0x45, // 'E' + u64 height ‖ u32 round ‖ u8 type ‖ u32 validator → duplicate-vote evidence
} as const

export const META = {
  head: Uint8Array.of(PREFIX.meta, 0x68), // 'Mh'
  genesis: Uint8Array.of(PREFIX.meta, 0x67), // 'Mg'
  format: Uint8Array.of(PREFIX.meta, 0x66), // 'Mf'
} as const

/** The storage format this code writes and reads (META.format holds it as a u32). */
export const STORE_FORMAT = 2

/** Kind byte after the height of an archive key. */
export const ARCHIVE = {
  block: 0x42, // 'A' + u64 height + 'B'          → block (header + txs)
  cert: 0x43, // 'A' + u64 height + 'C'           → commit certificate
  receipts: 0x52, // 'A' + u64 height + 'R'       → the block's receipts, length-prefixed, in tx order
  tree: 0x53, // 'A' + u64 version + 'S' + u8 nibble count + path → state-tree node
  genesis: 0x47, // 'A' + u64 0 + 'G'             → genesis hash (which chain the archive belongs to)
} as const

// Keys and values are built in pooled arrays (allocBytes) and filled byte by byte: LevelDB's binding
// would otherwise move each small on-heap array to a malloc'd buffer before reading it.

export function u64(n: number): Uint8Array {
  const b = allocBytes(8)
  writeU64BE(b, 0, n)
  return b
}

export function readU64(b: Uint8Array, offset = 0): number {
  return Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(offset))
}

/** The tx-index value: u64 height ‖ u32 index in the block. */
export function txPosition(height: number, index: number): Uint8Array {
  const b = allocBytes(12)
  writeU64BE(b, 0, height)
  writeU32BE(b, 8, index)
  return b
}

export function readU32(b: Uint8Array, offset = 0): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(offset)
}

function archiveKey(kind: number, h: number): Uint8Array {
  const k = allocBytes(10)
  k[0] = PREFIX.archive
  writeU64BE(k, 1, h)
  k[9] = kind
  return k
}

function prefixed(prefix: number, b: Uint8Array): Uint8Array {
  const k = allocBytes(1 + b.length)
  k[0] = prefix
  k.set(b, 1)
  return k
}

export const blockKey = (h: number) => archiveKey(ARCHIVE.block, h)
export const certKey = (h: number) => archiveKey(ARCHIVE.cert, h)
export const receiptsKey = (h: number) => archiveKey(ARCHIVE.receipts, h)
export const archiveGenesisKey = () => archiveKey(ARCHIVE.genesis, 0)
/** The first archive key of height `h` (every record of `h` and above sorts at or after it). */
export function archiveFrom(h: number): Uint8Array {
  const k = allocBytes(9)
  k[0] = PREFIX.archive
  writeU64BE(k, 1, h)
  return k
}
/** Upper bound (exclusive) of all archive keys. */
export const ARCHIVE_END = Uint8Array.of(PREFIX.archive + 1)
export const blockHashKey = (hash: Uint8Array) => prefixed(PREFIX.blockHash, hash)
export const txIndexKey = (id: Uint8Array) => prefixed(PREFIX.txIndex, id)

export const latestKey = (stateKey: Uint8Array) => prefixed(PREFIX.latest, stateKey)
/** Archive key of a state-tree node: its key (u64 version ‖ count ‖ path) with the kind after the version. */
export function treeKey(nodeKey: Uint8Array): Uint8Array {
  const k = allocBytes(2 + nodeKey.length)
  k[0] = PREFIX.archive
  k.set(nodeKey.subarray(0, 8), 1)
  k[9] = ARCHIVE.tree
  k.set(nodeKey.subarray(8), 10)
  return k
}

/** The longest state key the history's u16 length field holds. */
export const MAX_HISTORY_KEY_BYTES = 0xffff

/** Where the history entries of state keys `length` bytes long begin (entries sort by key length first). */
export function historyLengthStart(length: number): Uint8Array {
  return Uint8Array.of(PREFIX.history, length >>> 8, length & 255)
}

/** Just past every history entry. */
export const HISTORY_END = Uint8Array.of(PREFIX.history + 1)

/** The prefix under which all history entries of one state key sort by (height, txIndex). */
export function historyPrefix(stateKey: Uint8Array): Uint8Array {
  const p = allocBytes(3 + stateKey.length)
  p[0] = PREFIX.history
  p[1] = stateKey.length >>> 8
  p[2] = stateKey.length & 255
  p.set(stateKey, 3)
  return p
}

export function historyKey(stateKey: Uint8Array, height: number, txIndex: number): Uint8Array {
  const n = stateKey.length
  // Execution refuses longer keys (TX_LIMITS.maxKeyBytes); a longer one here would be filed under a wrong length.
  if (n > MAX_HISTORY_KEY_BYTES) throw new RangeError(`a state key of ${n} bytes does not fit the history's u16 length`)
  const k = allocBytes(3 + n + 12)
  k[0] = PREFIX.history
  k[1] = n >>> 8
  k[2] = n & 255
  k.set(stateKey, 3)
  writeU64BE(k, 3 + n, height)
  writeU32BE(k, 11 + n, txIndex)
  return k
}
