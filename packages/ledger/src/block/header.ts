import { type PublicKey, publicKeyFromBytes, publicKeyToBytes, sha256 } from '@trellis/crypto'
import { Reader } from '../codec/reader.js'
import { Writer } from '../codec/writer.js'
import { PROTOCOL } from '../constants.js'

/** A block header. Its hash is the block hash; the commit certificate signs it. */
export interface BlockHeader {
  readonly chainId: string
  readonly height: number
  /** Hash of the previous header (block 1: the genesis hash). */
  readonly prevHash: Uint8Array
  /** Milliseconds since the Unix epoch: the consensus time, the only clock contracts see. */
  readonly timestamp: number
  readonly proposer: PublicKey
  /** RFC 6962 root over the block's signed txs, in order. */
  readonly txRoot: Uint8Array
  /** RFC 6962 root over the receipts, in tx order. */
  readonly receiptRoot: Uint8Array
  /** State-tree root AFTER executing this block. */
  readonly stateRoot: Uint8Array
  /** Hash of the validator set that must certify this block. */
  readonly validatorSetHash: Uint8Array
  readonly txCount: number
}

export function writeHeader(w: Writer, h: BlockHeader): Writer {
  return w
    .u8(PROTOCOL.headerVersion)
    .string(h.chainId)
    .varint(h.height)
    .raw(h.prevHash)
    .varint(h.timestamp)
    .bytes(publicKeyToBytes(h.proposer))
    .raw(h.txRoot)
    .raw(h.receiptRoot)
    .raw(h.stateRoot)
    .raw(h.validatorSetHash)
    .varint(h.txCount)
}

export function readHeader(r: Reader): BlockHeader {
  const version = r.u8()
  if (version !== PROTOCOL.headerVersion) r.fail(`unsupported header version ${version}`)
  const chainId = r.string(PROTOCOL.maxChainIdLength)
  const height = r.varint()
  const prevHash = r.raw(32)
  const timestamp = r.varint()
  let proposer: PublicKey
  try {
    proposer = publicKeyFromBytes(r.bytes(64))
  } catch {
    return r.fail('invalid proposer public key')
  }
  return {
    chainId,
    height,
    prevHash,
    timestamp,
    proposer,
    txRoot: r.raw(32),
    receiptRoot: r.raw(32),
    stateRoot: r.raw(32),
    validatorSetHash: r.raw(32),
    txCount: r.varint(),
  }
}

/** Canonical bytes of a header. */
export function encodeHeader(h: BlockHeader): Uint8Array {
  return writeHeader(new Writer(256), h).finish()
}

/** @throws TrellisError ENCODING_INVALID */
export function decodeHeader(bytes: Uint8Array): BlockHeader {
  const r = new Reader(bytes)
  const h = readHeader(r)
  r.end()
  return h
}

/** The block hash: SHA-256 of the canonical header. */
export function headerHash(h: BlockHeader): Uint8Array {
  return sha256(encodeHeader(h))
}
