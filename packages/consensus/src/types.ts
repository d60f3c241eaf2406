/**
 * The vocabulary of the consensus state machine. The machine is pure: it never signs, verifies,
 * stores, sends or waits. Its driver verifies every message before it is an input, signs what the
 * machine asks to broadcast (after writing it to the write-ahead log), schedules the timeouts it
 * requests, checks proposed blocks by re-executing them, and commits what it decides.
 */

/** Vote types, numbered as in the ledger's vote encoding (Tendermint's prevote and precommit). */
export const VoteKind = { Prevote: 1, Precommit: 2 } as const
export type VoteKind = (typeof VoteKind)[keyof typeof VoteKind]

/** The step of the current round (`step_p` of the paper); `decided` waits for the next height. */
export const Step = { Propose: 'propose', Prevote: 'prevote', Precommit: 'precommit', Decided: 'decided' } as const
export type Step = (typeof Step)[keyof typeof Step]

export type TimeoutStep = 'propose' | 'prevote' | 'precommit'

/** One validator of the height, by position in the validator set. */
export interface ConsensusValidator {
  readonly power: number
}

/** ⟨PROPOSAL, h, r, v, vr⟩ as received: the value is identified by its block hash. */
export interface Proposal {
  readonly height: number
  readonly round: number
  /** The proposer's validRound (`vr`), −1 when none. */
  readonly polRound: number
  readonly blockHash: Uint8Array
  /** Validator index of the sender (the driver has authenticated it). */
  readonly proposer: number
  readonly signature: Uint8Array
}

/** ⟨PREVOTE/PRECOMMIT, h, r, id(v) or nil⟩ as received. */
export interface SignedVote {
  readonly type: VoteKind
  readonly height: number
  readonly round: number
  /** null is a vote for nil. */
  readonly blockHash: Uint8Array | null
  readonly validator: number
  readonly signature: Uint8Array
}

export type Input =
  /** A proposal, with the driver's verdict on valid(v) (the block re-executed to the same roots). */
  | { readonly kind: 'proposal'; readonly proposal: Proposal; readonly valid: boolean }
  | { readonly kind: 'vote'; readonly vote: SignedVote }
  /** A timeout the machine scheduled has fired. */
  | { readonly kind: 'timeout'; readonly step: TimeoutStep; readonly height: number; readonly round: number }
  /** getValue(): the block the driver built for this node's own proposal. */
  | { readonly kind: 'value'; readonly height: number; readonly round: number; readonly blockHash: Uint8Array }
  /**
   * A decision learned by block sync: precommits (already verified by the driver) of more than two
   * thirds of the power for one block at this height. Lets a node that missed the votes finish the height.
   */
  | {
      readonly kind: 'commit'
      readonly height: number
      readonly round: number
      readonly blockHash: Uint8Array
      readonly precommits: readonly SignedVote[]
    }

export type Output =
  /** getValue() (line 18): build a block for this height and round, then input `value`. */
  | { readonly kind: 'getValue'; readonly height: number; readonly round: number }
  /** Sign and broadcast ⟨PROPOSAL⟩ with the block, then input it back (valid). */
  | {
      readonly kind: 'propose'
      readonly height: number
      readonly round: number
      readonly polRound: number
      readonly blockHash: Uint8Array
    }
  /** Log to the WAL, sign and broadcast this vote, then input it back. */
  | {
      readonly kind: 'vote'
      readonly type: VoteKind
      readonly height: number
      readonly round: number
      readonly blockHash: Uint8Array | null
    }
  | {
      readonly kind: 'scheduleTimeout'
      readonly step: TimeoutStep
      readonly height: number
      readonly round: number
      readonly delayMs: number
    }
  /** decision_p[h] = v: commit the block with these precommits as its certificate, then start h + 1. */
  | {
      readonly kind: 'decide'
      readonly height: number
      readonly round: number
      readonly blockHash: Uint8Array
      /** Precommits for the block at that round, ascending by validator, > 2/3 of the power. */
      readonly precommits: readonly SignedVote[]
    }
  /** Two different votes by one validator for the same height, round and type: duplicate-vote evidence. */
  | { readonly kind: 'evidence'; readonly first: SignedVote; readonly second: SignedVote }
  /** A message that was not used, and why (for logs and metrics). */
  | { readonly kind: 'rejected'; readonly reason: string; readonly from: number | undefined }

/** Timeouts grow linearly with the round (the paper's timeoutX(r) = initial + r · delta). */
export interface TimeoutConfig {
  readonly proposeMs: number
  readonly proposeDeltaMs: number
  readonly prevoteMs: number
  readonly prevoteDeltaMs: number
  readonly precommitMs: number
  readonly precommitDeltaMs: number
}

export const defaultTimeouts: TimeoutConfig = {
  proposeMs: 1000,
  proposeDeltaMs: 500,
  prevoteMs: 500,
  prevoteDeltaMs: 250,
  precommitMs: 500,
  precommitDeltaMs: 250,
}

/**
 * What the write-ahead log must hold so that a restarted validator resumes without contradicting
 * itself: its position and its lock (the paper's per-height state, lines 2–9). Its own signed votes
 * are guarded separately by the driver's signer.
 */
export interface ConsensusState {
  readonly height: number
  readonly round: number
  readonly step: Step
  readonly lockedRound: number
  readonly lockedValue: Uint8Array | null
  readonly validRound: number
  readonly validValue: Uint8Array | null
}
