import { publicKeyToBytes, verify } from '@trellis/crypto'
import { equalBytes, TrellisError } from '@trellis/utils'
import { Reader } from '../codec/reader.js'
import { Writer } from '../codec/writer.js'
import { DOMAIN, PROTOCOL } from '../constants.js'
import type { LedgerErrorType } from '../errors.js'
import { totalPower, type ValidatorSet } from '../genesis/genesis.js'

/** Vote types, as in Tendermint. Only precommits form certificates. */
export const VoteType = { Prevote: 1, Precommit: 2 } as const
export type VoteType = (typeof VoteType)[keyof typeof VoteType]

/** What a validator signs when it votes. */
export interface Vote {
  readonly type: VoteType
  readonly chainId: string
  readonly height: number
  readonly round: number
  /** The voted block hash; all zeroes for a nil vote. */
  readonly blockHash: Uint8Array
}

/** Domain-separated bytes a validator signs for a vote. */
export function voteSignBytes(v: Vote): Uint8Array {
  const w = new Writer(96).raw(DOMAIN.vote).u8(v.type).string(v.chainId).varint(v.height).varint(v.round).raw(v.blockHash)
  return w.finish()
}

/** What a round's proposer signs: the block it proposes at (height, round), and its valid round. */
export interface ProposalSigned {
  readonly chainId: string
  readonly height: number
  readonly round: number
  /** −1 when the proposer has no valid round (a fresh block). */
  readonly polRound: number
  readonly blockHash: Uint8Array
}

/** Domain-separated bytes a proposer signs (polRound + 1 is encoded, so −1 is 0). */
export function proposalSignBytes(p: ProposalSigned): Uint8Array {
  return new Writer(96)
    .raw(DOMAIN.proposal)
    .string(p.chainId)
    .varint(p.height)
    .varint(p.round)
    .varint(p.polRound + 1)
    .raw(p.blockHash)
    .finish()
}

/** One validator's precommit signature inside a certificate. */
export interface CommitSignature {
  /** Index into the validator set that certified the block. */
  readonly validatorIndex: number
  readonly signature: Uint8Array
}

/**
 * The commit certificate: precommit signatures of more than two thirds of the voting power for one
 * block hash at one height and round. It is the trust root for every offline proof.
 */
export interface CommitCertificate {
  readonly height: number
  readonly round: number
  readonly blockHash: Uint8Array
  readonly signatures: readonly CommitSignature[]
}

export function encodeCertificate(c: CommitCertificate): Uint8Array {
  const w = new Writer(32 + 70 * c.signatures.length)
  w.u8(PROTOCOL.certificateVersion).varint(c.height).varint(c.round).raw(c.blockHash).varint(c.signatures.length)
  for (const s of c.signatures) w.varint(s.validatorIndex).bytes(s.signature)
  return w.finish()
}

/** @throws TrellisError ENCODING_INVALID */
export function decodeCertificate(bytes: Uint8Array): CommitCertificate {
  const r = new Reader(bytes)
  const version = r.u8()
  if (version !== PROTOCOL.certificateVersion) r.fail(`unsupported certificate version ${version}`)
  const height = r.varint()
  const round = r.varint()
  const blockHash = r.raw(32)
  const n = r.count(66)
  const signatures: CommitSignature[] = []
  for (let i = 0; i < n; i++) signatures.push({ validatorIndex: r.varint(), signature: r.bytes(64) })
  r.end()
  return { height, round, blockHash, signatures }
}

function bad(reason: string): never {
  throw new TrellisError<LedgerErrorType>({ code: 'CERT_INVALID', reason }, `invalid commit certificate: ${reason}`)
}

/**
 * Verifies that `cert` certifies `blockHash` at `height` under `validators`: signatures are by
 * distinct members (strictly ascending indices), each valid over the precommit vote, and together hold
 * more than two thirds of the voting power.
 * @throws TrellisError CERT_INVALID
 */
export function verifyCertificate(
  cert: CommitCertificate,
  chainId: string,
  height: number,
  blockHash: Uint8Array,
  validators: ValidatorSet,
): void {
  if (cert.height !== height) bad(`certificate is for height ${cert.height}, not ${height}`)
  if (!equalBytes(cert.blockHash, blockHash)) bad('certificate is for another block')
  const message = voteSignBytes({ type: VoteType.Precommit, chainId, height, round: cert.round, blockHash })
  let power = 0
  let prev = -1
  for (const s of cert.signatures) {
    if (!Number.isSafeInteger(s.validatorIndex) || s.validatorIndex <= prev) bad('validator indices must be strictly ascending')
    prev = s.validatorIndex
    const v = validators.validators[s.validatorIndex]
    if (v === undefined) bad(`validator index ${s.validatorIndex} is not in the validator set`)
    if (!verify(v.publicKey, message, s.signature)) bad(`signature of validator ${v.name} is invalid`)
    power += v.power
  }
  const total = totalPower(validators)
  if (power * 3 <= total * 2) bad(`signers hold ${power} of ${total} voting power; more than two thirds is required`)
}

/** Finds a validator's index by public key, or -1. */
export function validatorIndexOf(validators: ValidatorSet, publicKey: Uint8Array): number {
  return validators.validators.findIndex((v) => equalBytes(publicKeyToBytes(v.publicKey), publicKey))
}
