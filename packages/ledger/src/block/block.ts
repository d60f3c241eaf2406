import { Reader } from '../codec/reader.js'
import { Writer } from '../codec/writer.js'
import { decodeSignedTx, type SignedTx } from '../tx/tx.js'
import { type BlockHeader, readHeader, writeHeader } from './header.js'

/** A block: its header and its ordered, signed transactions. */
export interface Block {
  readonly header: BlockHeader
  readonly txs: readonly SignedTx[]
}

export function encodeBlock(b: Block): Uint8Array {
  let size = 300
  for (const tx of b.txs) size += tx.bytes.length + 4
  const w = new Writer(size)
  writeHeader(w, b.header).varint(b.txs.length)
  for (const tx of b.txs) w.bytes(tx.bytes)
  return w.finish()
}

/** @throws TrellisError ENCODING_INVALID | TX_MALFORMED */
export function decodeBlock(bytes: Uint8Array): Block {
  const r = new Reader(bytes)
  const header = readHeader(r)
  const n = r.count(2)
  const txs: SignedTx[] = []
  for (let i = 0; i < n; i++) txs.push(decodeSignedTx(r.bytes()))
  r.end()
  if (txs.length !== header.txCount) r.fail(`header says ${header.txCount} txs, block has ${txs.length}`)
  return { header, txs }
}
