import { bytesToHex } from '@trellis/utils'
import { isOneThird, isQuorum, proposerIndex, totalPower } from './proposer.js'
import {
  type ConsensusState,
  type ConsensusValidator,
  defaultTimeouts,
  type Input,
  type Output,
  type Proposal,
  type SignedVote,
  Step,
  type TimeoutConfig,
  type TimeoutStep,
  VoteKind,
} from './types.js'
import { VoteTally, valueKey } from './voteTally.js'

/** Validator indexes beyond this are refused outright (sets are far smaller; it bounds per-sender state). */
const MAX_VALIDATOR_INDEX = 1024
/**
 * Tendermint's consensus algorithm — Algorithm 1 of Buchman, Kwon and Milosevic, "The latest gossip on
 * BFT consensus" (arXiv:1807.04938, v3) — as a pure state machine for one validator. Comments name the
 * paper's line numbers; docs/adr/0008-tendermint-consensus.md maps them.
 *
 * Inputs are authenticated messages, the driver's verdict on each proposal's validity, fired timeouts
 * and the driver's own block for getValue(). Outputs are what the paper's process does: broadcast a
 * proposal or vote, schedule a timeout, decide. Each `handle` call applies one input and then every
 * upon-rule that has become enabled, to a fixpoint.
 *
 * Memory stays bounded under a flood: per height, at most one vote per validator, type and round for
 * rounds up to round_p + 1, one future round per validator beyond that, a few proposals per round,
 * and a bounded buffer for the next height.
 */
export class Tendermint {
  private validators: readonly ConsensusValidator[]
  private powers: number[]
  private total: number
  private timeouts: TimeoutConfig

  // The paper's process state (lines 2–9).
  private height = 0
  private round = 0
  private step: Step = Step.Propose
  private lockedRound = -1
  private lockedValue: Uint8Array | null = null
  private validRound = -1
  private validValue: Uint8Array | null = null

  // The message log of the current height.
  private readonly proposals = new Map<number, Map<string, { proposal: Proposal; valid: boolean }>>()
  private readonly prevotes = new Map<number, VoteTally>()
  private readonly precommits = new Map<number, VoteTally>()
  /** Rounds > round_p + 1 hold at most one round per validator: its highest. */
  private readonly futureRound = new Map<number, number>()
  // "for the first time" guards, per round of the current height.
  private readonly prevoteTimeoutScheduled = new Set<number>()
  private readonly precommitTimeoutScheduled = new Set<number>()
  private readonly lockedOrValidUpdated = new Set<number>()
  private readonly evidenceSeen = new Set<string>()
  /** Messages for height h_p + 1, replayed when it starts. */
  private nextHeight: Input[] = []
  private readonly nextHeightKeys = new Set<string>()
  private readonly nextHeightPerSender = new Map<number, number>()

  private out: Output[] = []

  /** Proposals kept per round: a correct proposer sends one; the cap bounds an equivocating one. */
  static readonly MAX_PROPOSALS_PER_ROUND = 4

  constructor(
    validators: readonly ConsensusValidator[],
    /** This validator's index, or undefined for a node that follows without voting. */
    private self: number | undefined,
    timeouts: TimeoutConfig = defaultTimeouts,
  ) {
    this.validators = validators
    this.powers = validators.map((v) => v.power)
    this.total = totalPower(validators)
    this.timeouts = timeouts
    if (this.total <= 0) throw new RangeError('the validator set has no voting power')
  }

  /** The state the write-ahead log keeps; persist it before acting on the outputs of a `handle`. */
  get state(): ConsensusState {
    return {
      height: this.height,
      round: this.round,
      step: this.step,
      lockedRound: this.lockedRound,
      lockedValue: this.lockedValue,
      validRound: this.validRound,
      validValue: this.validValue,
    }
  }

  /**
   * The prevotes this node holds for `blockHash` at `round` of the current height. A proposer that
   * re-proposes its validValue (polRound ≥ 0) sends these with the proposal, so every correct validator
   * can apply line 28 even if it missed that round's votes: gossip must deliver the polka, and this is
   * how the driver makes sure it does.
   */
  polka(round: number, blockHash: Uint8Array): SignedVote[] {
    return this.prevotes.get(round)?.votesFor(valueKey(blockHash)) ?? []
  }

  /**
   * Starts a height (line 10 for the first, lines 52–54 after each decision) with its validator set.
   * `restore` resumes a height this validator was in before a restart, from its write-ahead log: the
   * lock and valid value are kept, and a step already taken in that round is not taken again.
   * `member` changes this node's place when the set changes (`index` undefined: it follows without
   * voting) and, with `timeouts`, the round timeouts the chain's governance set for the height.
   */
  startHeight(
    height: number,
    validators?: readonly ConsensusValidator[],
    restore?: ConsensusState,
    member?: { readonly index: number | undefined; readonly timeouts?: TimeoutConfig },
  ): Output[] {
    if (member !== undefined) this.self = member.index
    if (member?.timeouts !== undefined) this.timeouts = member.timeouts
    if (validators !== undefined) {
      const total = totalPower(validators)
      if (total <= 0) throw new RangeError('the validator set has no voting power')
      this.validators = validators
      this.powers = validators.map((v) => v.power)
      this.total = total
    }
    const buffered = this.nextHeight.filter((i) => inputHeight(i) === height)
    this.height = height
    this.resetHeight()
    this.out = []
    if (restore !== undefined && restore.height === height && restore.step !== Step.Decided) {
      this.lockedRound = restore.lockedRound
      this.lockedValue = restore.lockedValue
      this.validRound = restore.validRound
      this.validValue = restore.validValue
      this.round = restore.round
      this.step = restore.step
      if (restore.step === Step.Propose) this.startRound(restore.round)
      // The vote of this step was already sent: wait for its timeout rather than vote again.
      else this.scheduleTimeout(restore.step === Step.Prevote ? 'prevote' : 'precommit', restore.round)
    } else {
      this.startRound(0)
    }
    for (const i of buffered) this.apply(i)
    this.evaluate()
    return this.flush()
  }

  /** Applies one input and every rule it enables. */
  handle(input: Input): Output[] {
    this.out = []
    this.apply(input)
    this.evaluate()
    return this.flush()
  }

  private flush(): Output[] {
    const o = this.out
    this.out = []
    return o
  }

  private resetHeight(): void {
    this.round = 0
    this.step = Step.Propose
    this.lockedRound = -1
    this.lockedValue = null
    this.validRound = -1
    this.validValue = null
    this.proposals.clear()
    this.prevotes.clear()
    this.precommits.clear()
    this.futureRound.clear()
    this.prevoteTimeoutScheduled.clear()
    this.precommitTimeoutScheduled.clear()
    this.lockedOrValidUpdated.clear()
    this.evidenceSeen.clear()
    this.nextHeight = []
    this.nextHeightKeys.clear()
    this.nextHeightPerSender.clear()
  }

  private reject(reason: string, from: number | undefined): void {
    this.out.push({ kind: 'rejected', reason, from })
  }

  // --- inputs -------------------------------------------------------------------------------------

  private apply(input: Input): void {
    switch (input.kind) {
      case 'proposal':
        return this.onProposal(input.proposal, input.valid, input)
      case 'vote':
        return this.onVote(input.vote, input)
      case 'timeout':
        return this.onTimeout(input.step, input.height, input.round)
      case 'value':
        return this.onValue(input.height, input.round, input.blockHash)
      case 'commit':
        return this.onCommit(input.height, input.round, input.blockHash, input.precommits)
    }
  }

  /** Buffers an input for the next height; anything further ahead is block sync's business. */
  private deferOrReject(height: number, input: Input, from: number | undefined): void {
    if (height === this.height + 1) {
      // Deduplicated (re-gossip repeats messages), at most 6 per sender, and bounded overall.
      const key =
        input.kind === 'vote'
          ? `v/${input.vote.type}/${input.vote.round}/${input.vote.validator}/${valueKey(input.vote.blockHash)}`
          : input.kind === 'proposal'
            ? `p/${input.proposal.round}/${valueKey(input.proposal.blockHash)}`
            : `o/${input.kind}`
      if (this.nextHeightKeys.has(key)) return
      const sender = from ?? -1
      const count = this.nextHeightPerSender.get(sender) ?? 0
      if (count >= 6) return this.reject('next-height messages from this validator exceed the buffer', from)
      if (this.nextHeight.length >= 4 * Math.max(this.validators.length, 16) + 8) return this.reject('next-height buffer full', from)
      this.nextHeightKeys.add(key)
      this.nextHeightPerSender.set(sender, count + 1)
      this.nextHeight.push(input)
      return
    }
    this.reject(height < this.height ? `old height ${height}` : `height ${height} is ahead of ${this.height}`, from)
  }

  private onProposal(p: Proposal, valid: boolean, input: Input): void {
    if (!Number.isSafeInteger(p.round) || p.round < 0) return this.reject('bad round', p.proposer)
    if (p.height !== this.height) return this.deferOrReject(p.height, input, p.proposer)
    if (p.proposer !== proposerIndex(this.validators, p.height, p.round)) {
      return this.reject(`validator ${p.proposer} is not the proposer of round ${p.round}`, p.proposer)
    }
    if (!Number.isSafeInteger(p.polRound) || p.polRound < -1 || p.polRound >= p.round) return this.reject('bad polRound', p.proposer)
    if (p.round > this.round + 1) return this.reject(`proposal for round ${p.round} is too far ahead`, p.proposer)
    let byValue = this.proposals.get(p.round)
    if (byValue === undefined) {
      byValue = new Map()
      this.proposals.set(p.round, byValue)
    }
    const k = valueKey(p.blockHash)
    if (byValue.has(k)) return
    if (byValue.size >= Tendermint.MAX_PROPOSALS_PER_ROUND) return this.reject('too many proposals for one round', p.proposer)
    if (byValue.size > 0) this.reject(`proposer ${p.proposer} sent conflicting proposals for round ${p.round}`, p.proposer)
    byValue.set(k, { proposal: p, valid })
  }

  private onVote(v: SignedVote, input: Input): void {
    if (!Number.isSafeInteger(v.validator) || v.validator < 0 || v.validator >= MAX_VALIDATOR_INDEX) {
      return this.reject('unknown validator', undefined)
    }
    if (v.type !== VoteKind.Prevote && v.type !== VoteKind.Precommit) return this.reject('bad vote type', v.validator)
    if (!Number.isSafeInteger(v.round) || v.round < 0) return this.reject('bad round', v.validator)
    // A next height's set may be larger (governance added validators): its votes are checked against
    // that set once it starts.
    if (v.height !== this.height) return this.deferOrReject(v.height, input, v.validator)
    if (v.validator >= this.validators.length) return this.reject('unknown validator', undefined)
    if (v.round > this.round + 1) {
      // One future round per validator: a newer one replaces it, an older one is dropped.
      const held = this.futureRound.get(v.validator)
      if (held !== undefined && v.round < held) return this.reject('older future round', v.validator)
      if (held !== undefined && v.round > held && held > this.round + 1) {
        for (const tallies of [this.prevotes, this.precommits]) {
          const t = tallies.get(held)
          t?.remove(v.validator)
          if (t?.voters === 0) tallies.delete(held)
        }
      }
      this.futureRound.set(v.validator, v.round)
    }
    const tallies = v.type === VoteKind.Prevote ? this.prevotes : this.precommits
    let tally = tallies.get(v.round)
    if (tally === undefined) {
      tally = new VoteTally(this.powers)
      tallies.set(v.round, tally)
    }
    const r = tally.add(v)
    if (r.kind === 'equivocation') {
      const id = `${v.type}/${v.round}/${v.validator}`
      if (!this.evidenceSeen.has(id)) {
        this.evidenceSeen.add(id)
        this.out.push({ kind: 'evidence', first: r.first, second: v })
      }
    }
  }

  private onValue(height: number, round: number, blockHash: Uint8Array): void {
    // Line 19: the proposer broadcasts its new value with validRound_p (−1 here: validValue was nil).
    if (height !== this.height || round !== this.round || this.step !== Step.Propose) return
    if (this.self !== proposerIndex(this.validators, height, round)) return
    this.out.push({ kind: 'propose', height, round, polRound: this.validRound, blockHash })
  }

  private onCommit(height: number, round: number, blockHash: Uint8Array, precommits: readonly SignedVote[]): void {
    if (height !== this.height || this.step === Step.Decided) return this.reject(`commit for height ${height} not needed`, undefined)
    const tally = new VoteTally(this.powers)
    for (const v of precommits) {
      if (v.type !== VoteKind.Precommit || v.height !== height || v.round !== round) continue
      if (v.blockHash === null || valueKey(v.blockHash) !== valueKey(blockHash)) continue
      if (v.validator < 0 || v.validator >= this.validators.length) continue
      tally.add(v)
    }
    if (!isQuorum(tally.power, this.total)) return this.reject('commit without a quorum of precommits', undefined)
    this.decide(round, blockHash, tally.votesFor(valueKey(blockHash)))
  }

  private onTimeout(step: TimeoutStep, height: number, round: number): void {
    if (height !== this.height || round !== this.round) return
    if (step === 'propose' && this.step === Step.Propose) {
      // Lines 57–60.
      this.vote(VoteKind.Prevote, null)
      this.step = Step.Prevote
    } else if (step === 'prevote' && this.step === Step.Prevote) {
      // Lines 61–64.
      this.vote(VoteKind.Precommit, null)
      this.step = Step.Precommit
    } else if (step === 'precommit' && this.step !== Step.Decided) {
      // Lines 65–67.
      this.startRound(this.round + 1)
    }
  }

  // --- the algorithm ------------------------------------------------------------------------------

  /** Lines 11–21. */
  private startRound(round: number): void {
    this.round = round
    this.step = Step.Propose
    // Votes of rounds now within reach no longer occupy a validator's single future slot.
    for (const [validator, r] of this.futureRound) if (r <= round + 1) this.futureRound.delete(validator)
    if (this.self !== undefined && proposerIndex(this.validators, this.height, round) === this.self) {
      if (this.validValue !== null) {
        this.out.push({ kind: 'propose', height: this.height, round, polRound: this.validRound, blockHash: this.validValue })
      } else {
        this.out.push({ kind: 'getValue', height: this.height, round })
      }
    } else {
      this.scheduleTimeout('propose', round)
    }
  }

  private scheduleTimeout(step: TimeoutStep, round: number): void {
    const t = this.timeouts
    const delayMs =
      step === 'propose'
        ? t.proposeMs + round * t.proposeDeltaMs
        : step === 'prevote'
          ? t.prevoteMs + round * t.prevoteDeltaMs
          : t.precommitMs + round * t.precommitDeltaMs
    this.out.push({ kind: 'scheduleTimeout', step, height: this.height, round, delayMs })
  }

  private vote(type: VoteKind, blockHash: Uint8Array | null): void {
    if (this.self === undefined) return
    this.out.push({ kind: 'vote', type, height: this.height, round: this.round, blockHash })
  }

  private proposalFor(round: number, key: string): { proposal: Proposal; valid: boolean } | undefined {
    return this.proposals.get(round)?.get(key)
  }

  private same(a: Uint8Array | null, b: Uint8Array): boolean {
    return a !== null && bytesToHex(a) === bytesToHex(b)
  }

  /** Applies every enabled upon-rule until none is. */
  private evaluate(): void {
    for (let guard = 0; guard < 64; guard++) {
      if (!this.evaluateOnce()) return
    }
  }

  private evaluateOnce(): boolean {
    if (this.step === Step.Decided) return false
    if (this.ruleDecide()) return true
    if (this.ruleRoundSkip()) return true
    const r = this.round
    const prevotes = this.prevotes.get(r)
    if (this.step === Step.Propose) {
      const mine = this.proposals.get(r)
      if (mine !== undefined) {
        for (const { proposal: p, valid } of mine.values()) {
          if (p.polRound === -1) {
            // Lines 22–27.
            const ok = valid && (this.lockedRound === -1 || this.same(this.lockedValue, p.blockHash))
            this.vote(VoteKind.Prevote, ok ? p.blockHash : null)
            this.step = Step.Prevote
            return true
          }
          const polka = this.prevotes.get(p.polRound)
          if (p.polRound < r && polka !== undefined && isQuorum(polka.powerFor(valueKey(p.blockHash)), this.total)) {
            // Lines 28–33.
            const ok = valid && (this.lockedRound <= p.polRound || this.same(this.lockedValue, p.blockHash))
            this.vote(VoteKind.Prevote, ok ? p.blockHash : null)
            this.step = Step.Prevote
            return true
          }
        }
      }
    }
    if (this.step === Step.Prevote && prevotes !== undefined) {
      // Lines 34–35.
      if (!this.prevoteTimeoutScheduled.has(r) && isQuorum(prevotes.power, this.total)) {
        this.prevoteTimeoutScheduled.add(r)
        this.scheduleTimeout('prevote', r)
      }
      // Lines 44–46.
      if (isQuorum(prevotes.powerFor('nil'), this.total)) {
        this.vote(VoteKind.Precommit, null)
        this.step = Step.Precommit
        return true
      }
    }
    // Lines 36–43 (step ≥ prevote, for the first time in this round).
    if ((this.step === Step.Prevote || this.step === Step.Precommit) && prevotes !== undefined && !this.lockedOrValidUpdated.has(r)) {
      for (const [key, power] of prevotes.values()) {
        if (key === 'nil' || !isQuorum(power, this.total)) continue
        const p = this.proposalFor(r, key)
        if (p === undefined || !p.valid) continue
        this.lockedOrValidUpdated.add(r)
        if (this.step === Step.Prevote) {
          this.lockedValue = p.proposal.blockHash
          this.lockedRound = r
          this.vote(VoteKind.Precommit, p.proposal.blockHash)
          this.step = Step.Precommit
        }
        this.validValue = p.proposal.blockHash
        this.validRound = r
        return true
      }
    }
    // Lines 47–48.
    const precommits = this.precommits.get(r)
    if (precommits !== undefined && !this.precommitTimeoutScheduled.has(r) && isQuorum(precommits.power, this.total)) {
      this.precommitTimeoutScheduled.add(r)
      this.scheduleTimeout('precommit', r)
      return true
    }
    return false
  }

  /** Lines 49–54, for any round of the height. */
  private ruleDecide(): boolean {
    for (const [round, tally] of this.precommits) {
      for (const [key, power] of tally.values()) {
        if (key === 'nil' || !isQuorum(power, this.total)) continue
        const p = this.proposalFor(round, key)
        if (p === undefined || !p.valid) continue
        this.decide(round, p.proposal.blockHash, tally.votesFor(key))
        return true
      }
    }
    return false
  }

  private decide(round: number, blockHash: Uint8Array, precommits: SignedVote[]): void {
    this.step = Step.Decided
    this.out.push({ kind: 'decide', height: this.height, round, blockHash, precommits })
  }

  /** Lines 55–56: f + 1 validators are in a higher round; join the highest such round. */
  private ruleRoundSkip(): boolean {
    const senders = new Map<number, Set<number>>()
    const note = (round: number, validator: number) => {
      if (round <= this.round) return
      let s = senders.get(round)
      if (s === undefined) {
        s = new Set()
        senders.set(round, s)
      }
      s.add(validator)
    }
    for (const tallies of [this.prevotes, this.precommits]) {
      for (const [round] of tallies) {
        if (round <= this.round) continue
        for (let i = 0; i < this.validators.length; i++) if (tallies.get(round)?.has(i)) note(round, i)
      }
    }
    for (const [round, byValue] of this.proposals) for (const { proposal } of byValue.values()) note(round, proposal.proposer)
    let best = -1
    for (const [round, s] of senders) {
      let power = 0
      for (const i of s) power += this.powers[i] ?? 0
      if (isOneThird(power, this.total) && round > best) best = round
    }
    if (best < 0) return false
    this.startRound(best)
    return true
  }
}

function inputHeight(i: Input): number {
  switch (i.kind) {
    case 'proposal':
      return i.proposal.height
    case 'vote':
      return i.vote.height
    default:
      return i.height
  }
}
