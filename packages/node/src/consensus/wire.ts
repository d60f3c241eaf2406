import { type Proposal, type SignedVote, VoteKind } from '@trellis/consensus'
import { type Block, type CommitCertificate, decodeBlock, decodeCertificate, encodeCertificate, Reader, Writer } from '@trellis/ledger'

/**
 * Node-to-node messages, in the ledger's canonical encoding behind a one-byte tag. Everything a peer
 * sends is decoded with limits and then authenticated (signatures checked against the validator set)
 * before consensus sees it.
 */
export const MsgTag = { Proposal: 1, Vote: 2, Txs: 3, Status: 4, SyncRequest: 5, SyncBlocks: 6 } as const

export type WireMessage =
  /** The block stays encoded until the proposal passed the cheap checks (decoding hashes every tx). */
  | {
      readonly tag: 1
      readonly proposal: Proposal
      readonly blockBytes: Uint8Array
      readonly polka: readonly SignedVote[]
    }
  | { readonly tag: 2; readonly vote: SignedVote }
  | { readonly tag: 3; readonly txs: readonly Uint8Array[] }
  /** The sender's committed height. */
  | { readonly tag: 4; readonly height: number }
  | { readonly tag: 5; readonly from: number; readonly count: number }
  | { readonly tag: 6; readonly blocks: ReadonlyArray<{ readonly block: Block; readonly certificate: CommitCertificate }> }

export const MAX_SYNC_BATCH = 50
const ZERO32 = new Uint8Array(32)

function writeVote(w: Writer, v: SignedVote): Writer {
  return w
    .u8(v.type)
    .varint(v.height)
    .varint(v.round)
    .raw(v.blockHash ?? ZERO32)
    .varint(v.validator)
    .bytes(v.signature)
}

function readVote(r: Reader): SignedVote {
  const type = r.u8()
  if (type !== VoteKind.Prevote && type !== VoteKind.Precommit) r.fail(`vote type ${type}`)
  const height = r.varint()
  const round = r.varint()
  const hash = r.raw(32)
  const validator = r.varint()
  const signature = r.bytes(64)
  return { type, height, round, blockHash: hash.every((b) => b === 0) ? null : hash, validator, signature }
}

export function encodeVoteMsg(vote: SignedVote): Uint8Array {
  return writeVote(new Writer(128).u8(MsgTag.Vote), vote).finish()
}

export function encodeProposalMsg(p: Proposal, blockBytes: Uint8Array, polka: readonly SignedVote[]): Uint8Array {
  const w = new Writer(blockBytes.length + 200 + polka.length * 120)
    .u8(MsgTag.Proposal)
    .varint(p.height)
    .varint(p.round)
    .varint(p.polRound + 1)
    .raw(p.blockHash)
    .varint(p.proposer)
    .bytes(p.signature)
    .bytes(blockBytes)
    .varint(polka.length)
  for (const v of polka) writeVote(w, v)
  return w.finish()
}

export function encodeTxsMsg(txs: readonly Uint8Array[]): Uint8Array {
  let size = 16
  for (const t of txs) size += t.length + 5
  const w = new Writer(size).u8(MsgTag.Txs).varint(txs.length)
  for (const t of txs) w.bytes(t)
  return w.finish()
}

export function encodeStatusMsg(height: number): Uint8Array {
  return new Writer(16).u8(MsgTag.Status).varint(height).finish()
}

export function encodeSyncRequest(from: number, count: number): Uint8Array {
  return new Writer(24).u8(MsgTag.SyncRequest).varint(from).varint(count).finish()
}

export function encodeSyncBlocks(
  blocks: ReadonlyArray<{ readonly blockBytes: Uint8Array; readonly certificate: CommitCertificate }>,
): Uint8Array {
  let size = 16
  for (const b of blocks) size += b.blockBytes.length + 64 + 70 * b.certificate.signatures.length
  const w = new Writer(size).u8(MsgTag.SyncBlocks).varint(blocks.length)
  for (const b of blocks) w.bytes(b.blockBytes).bytes(encodeCertificate(b.certificate))
  return w.finish()
}

/** @throws TrellisError ENCODING_INVALID on anything malformed (the caller logs and drops it). */
export function decodeWire(bytes: Uint8Array, maxBlockBytes: number): WireMessage {
  const r = new Reader(bytes)
  const tag = r.u8()
  let m: WireMessage
  switch (tag) {
    case MsgTag.Proposal: {
      const height = r.varint()
      const round = r.varint()
      const polRound = r.varint() - 1
      const blockHash = r.raw(32)
      const proposer = r.varint()
      const signature = r.bytes(64)
      const blockBytes = r.bytes(maxBlockBytes)
      const n = r.count(40)
      if (n > 1000) r.fail('polka too large')
      const polka: SignedVote[] = []
      for (let i = 0; i < n; i++) polka.push(readVote(r))
      m = { tag, proposal: { height, round, polRound, blockHash, proposer, signature }, blockBytes, polka }
      break
    }
    case MsgTag.Vote:
      m = { tag, vote: readVote(r) }
      break
    case MsgTag.Txs: {
      const n = r.count(10)
      const txs: Uint8Array[] = []
      for (let i = 0; i < n; i++) txs.push(r.bytes())
      m = { tag, txs }
      break
    }
    case MsgTag.Status:
      m = { tag, height: r.varint() }
      break
    case MsgTag.SyncRequest:
      m = { tag, from: r.varint(), count: Math.min(r.varint(), MAX_SYNC_BATCH) }
      break
    case MsgTag.SyncBlocks: {
      const n = r.count(40)
      if (n > MAX_SYNC_BATCH) r.fail('too many blocks')
      const blocks: Array<{ block: Block; certificate: CommitCertificate }> = []
      for (let i = 0; i < n; i++)
        blocks.push({ block: decodeBlock(r.bytes(maxBlockBytes)), certificate: decodeCertificate(r.bytes(100_000)) })
      m = { tag, blocks }
      break
    }
    default:
      return r.fail(`unknown message tag ${tag}`)
  }
  r.end()
  return m
}
