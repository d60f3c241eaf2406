import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type ConsensusValidator,
  type Output,
  type Proposal,
  proposerIndex,
  type SignedVote,
  Step,
  Tendermint,
  VoteKind,
  VoteTally,
} from '../src/index.js'

const FOUR: ConsensusValidator[] = [{ power: 1 }, { power: 1 }, { power: 1 }, { power: 1 }]
const SIG = new Uint8Array(64)
const X = new Uint8Array(32).fill(0xaa)
const Y = new Uint8Array(32).fill(0xbb)

const prevote = (validator: number, round: number, blockHash: Uint8Array | null, height = 1): SignedVote => ({
  type: VoteKind.Prevote,
  height,
  round,
  blockHash,
  validator,
  signature: SIG,
})
const precommit = (validator: number, round: number, blockHash: Uint8Array | null, height = 1): SignedVote => ({
  ...prevote(validator, round, blockHash, height),
  type: VoteKind.Precommit,
})
const proposal = (round: number, blockHash: Uint8Array, polRound = -1, height = 1): Proposal => ({
  height,
  round,
  polRound,
  blockHash,
  proposer: proposerIndex(FOUR, height, round),
  signature: SIG,
})

const votesOut = (o: readonly Output[]) => o.filter((x) => x.kind === 'vote')
const kinds = (o: readonly Output[]) => o.map((x) => x.kind)

describe('proposer rotation', () => {
  it('is weighted round-robin: each validator proposes in proportion to its power', () => {
    const set = [{ power: 1 }, { power: 3 }, { power: 2 }]
    const counts = [0, 0, 0]
    for (let r = 0; r < 600; r++) counts[proposerIndex(set, 7, r)]! += 1
    expect(counts).toEqual([100, 300, 200])
    // Equal powers: consecutive rounds move to the next validator.
    expect([0, 1, 2, 3].map((r) => proposerIndex(FOUR, 1, r))).toEqual([1, 2, 3, 0])
  })
})

describe('Tendermint state machine (Algorithm 1)', () => {
  it('StartRound: the proposer asks for a value and proposes it; others schedule timeoutPropose', () => {
    const proposerOf0 = proposerIndex(FOUR, 1, 0)
    const p = new Tendermint(FOUR, proposerOf0)
    expect(p.startHeight(1)).toEqual([{ kind: 'getValue', height: 1, round: 0 }])
    expect(p.handle({ kind: 'value', height: 1, round: 0, blockHash: X })).toEqual([
      { kind: 'propose', height: 1, round: 0, polRound: -1, blockHash: X },
    ])
    const other = new Tendermint(FOUR, (proposerOf0 + 1) % 4)
    expect(other.startHeight(1)).toEqual([{ kind: 'scheduleTimeout', step: 'propose', height: 1, round: 0, delayMs: 1000 }])
  })

  it('the happy path: prevote the proposal, lock and precommit on a polka, decide on 2f+1 precommits', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    expect(votesOut(m.handle({ kind: 'proposal', proposal: proposal(0, X), valid: true }))).toEqual([
      { kind: 'vote', type: VoteKind.Prevote, height: 1, round: 0, blockHash: X },
    ])
    m.handle({ kind: 'vote', vote: prevote(0, 0, X) })
    m.handle({ kind: 'vote', vote: prevote(1, 0, X) })
    const onPolka = m.handle({ kind: 'vote', vote: prevote(2, 0, X) })
    expect(votesOut(onPolka)).toEqual([{ kind: 'vote', type: VoteKind.Precommit, height: 1, round: 0, blockHash: X }])
    expect(m.state).toMatchObject({ step: Step.Precommit, lockedRound: 0, lockedValue: X, validRound: 0, validValue: X })
    m.handle({ kind: 'vote', vote: precommit(0, 0, X) })
    m.handle({ kind: 'vote', vote: precommit(3, 0, X) })
    const decided = m.handle({ kind: 'vote', vote: precommit(1, 0, X) })
    const d = decided.find((o) => o.kind === 'decide')
    expect(d).toMatchObject({ kind: 'decide', height: 1, round: 0, blockHash: X })
    expect(d?.kind === 'decide' && d.precommits.map((v) => v.validator)).toEqual([0, 1, 3])
    expect(m.state.step).toBe(Step.Decided)
  })

  it('an invalid proposal gets a nil prevote (line 26), and so does one conflicting with the lock', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    expect(votesOut(m.handle({ kind: 'proposal', proposal: proposal(0, X), valid: false }))[0]).toMatchObject({ blockHash: null })
  })

  it('stays locked: in a later round it prevotes nil for another value without a newer polka (line 23)', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    m.handle({ kind: 'proposal', proposal: proposal(0, X), valid: true })
    for (const v of [0, 1, 2]) m.handle({ kind: 'vote', vote: prevote(v, 0, X) })
    expect(m.state.lockedRound).toBe(0)
    // Round 0 fails to decide; the precommit timeout moves on to round 1.
    for (const v of [1, 2, 3]) m.handle({ kind: 'vote', vote: precommit(v, 0, null) })
    m.handle({ kind: 'timeout', step: 'precommit', height: 1, round: 0 })
    expect(m.state.round).toBe(1)
    const out = m.handle({ kind: 'proposal', proposal: proposal(1, Y), valid: true })
    expect(votesOut(out)).toEqual([{ kind: 'vote', type: VoteKind.Prevote, height: 1, round: 1, blockHash: null }])
  })

  it('unlocks on a proposal whose polRound carries a polka newer than the lock (lines 28–30)', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    m.handle({ kind: 'proposal', proposal: proposal(0, X), valid: true })
    for (const v of [0, 1, 2]) m.handle({ kind: 'vote', vote: prevote(v, 0, X) })
    for (const v of [1, 2, 3]) m.handle({ kind: 'vote', vote: precommit(v, 0, null) })
    m.handle({ kind: 'timeout', step: 'precommit', height: 1, round: 0 })
    // Round 1: a polka for Y that this node only learns about afterwards.
    m.handle({ kind: 'timeout', step: 'propose', height: 1, round: 1 })
    for (const v of [1, 2, 3]) m.handle({ kind: 'vote', vote: prevote(v, 1, Y) })
    for (const v of [1, 2, 3]) m.handle({ kind: 'vote', vote: precommit(v, 1, null) })
    m.handle({ kind: 'timeout', step: 'precommit', height: 1, round: 1 })
    expect(m.state).toMatchObject({ round: 2, lockedRound: 0 })
    const out = m.handle({ kind: 'proposal', proposal: proposal(2, Y, 1), valid: true })
    expect(votesOut(out)).toEqual([{ kind: 'vote', type: VoteKind.Prevote, height: 1, round: 2, blockHash: Y }])
  })

  it('precommits nil on a nil polka (line 44) and on timeoutPrevote (line 61)', () => {
    const a = new Tendermint(FOUR, 0)
    a.startHeight(1)
    a.handle({ kind: 'timeout', step: 'propose', height: 1, round: 0 })
    for (const v of [1, 2]) a.handle({ kind: 'vote', vote: prevote(v, 0, null) })
    expect(votesOut(a.handle({ kind: 'vote', vote: prevote(3, 0, null) }))[0]).toMatchObject({ type: VoteKind.Precommit, blockHash: null })

    const b = new Tendermint(FOUR, 0)
    b.startHeight(1)
    b.handle({ kind: 'timeout', step: 'propose', height: 1, round: 0 })
    b.handle({ kind: 'vote', vote: prevote(0, 0, null) }) // its own nil prevote, fed back by the driver
    b.handle({ kind: 'vote', vote: prevote(1, 0, X) })
    const split = b.handle({ kind: 'vote', vote: prevote(2, 0, null) })
    // 2f+1 prevotes for anything (line 34) schedule timeoutPrevote once…
    expect(kinds(split)).toEqual(['scheduleTimeout'])
    expect(kinds(b.handle({ kind: 'vote', vote: prevote(3, 0, Y) }))).toEqual([])
    // …and when it fires the node precommits nil.
    expect(votesOut(b.handle({ kind: 'timeout', step: 'prevote', height: 1, round: 0 }))[0]).toMatchObject({ blockHash: null })
  })

  it('ignores stale timeouts (other height, round or step)', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    expect(m.handle({ kind: 'timeout', step: 'prevote', height: 1, round: 0 })).toEqual([])
    expect(m.handle({ kind: 'timeout', step: 'propose', height: 1, round: 3 })).toEqual([])
    expect(m.handle({ kind: 'timeout', step: 'propose', height: 2, round: 0 })).toEqual([])
    expect(m.state).toMatchObject({ round: 0, step: Step.Propose })
  })

  it('decides a value committed in an earlier round (line 49 holds for any round)', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    m.handle({ kind: 'timeout', step: 'propose', height: 1, round: 0 })
    m.handle({ kind: 'proposal', proposal: proposal(0, X), valid: true })
    m.handle({ kind: 'timeout', step: 'precommit', height: 1, round: 0 })
    expect(m.state.round).toBe(1)
    for (const v of [1, 2]) m.handle({ kind: 'vote', vote: precommit(v, 0, X) })
    const out = m.handle({ kind: 'vote', vote: precommit(3, 0, X) })
    expect(out.find((o) => o.kind === 'decide')).toMatchObject({ round: 0, blockHash: X })
  })

  it('skips to a higher round when f+1 validators are there (line 55)', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    m.handle({ kind: 'vote', vote: prevote(1, 5, null) })
    expect(m.state.round).toBe(0)
    m.handle({ kind: 'vote', vote: precommit(2, 5, X) })
    expect(m.state.round).toBe(5)
  })

  it('reports duplicate votes as evidence once, and counts an equivocator for each value it signed', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    m.handle({ kind: 'vote', vote: prevote(3, 0, X) })
    const out = m.handle({ kind: 'vote', vote: prevote(3, 0, Y) })
    expect(out).toEqual([{ kind: 'evidence', first: prevote(3, 0, X), second: prevote(3, 0, Y) }])
    expect(m.handle({ kind: 'vote', vote: prevote(3, 0, Y) })).toEqual([])
    const t = new VoteTally([1, 1, 1, 1])
    t.add(prevote(3, 0, X))
    t.add(prevote(3, 0, Y))
    expect([t.power, t.powerFor('aa'.repeat(32)), t.powerFor('bb'.repeat(32))]).toEqual([1, 1, 1])
  })

  it('rejects a proposal from a validator that is not the round proposer, and malformed rounds', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    const wrong = { ...proposal(0, X), proposer: (proposerIndex(FOUR, 1, 0) + 1) % 4 }
    expect(m.handle({ kind: 'proposal', proposal: wrong, valid: true })[0]).toMatchObject({ kind: 'rejected' })
    expect(m.handle({ kind: 'proposal', proposal: proposal(0, X, 0), valid: true })[0]).toMatchObject({
      kind: 'rejected',
      reason: 'bad polRound',
    })
    expect(m.handle({ kind: 'vote', vote: { ...prevote(1, 0, X), validator: 9 } })[0]).toMatchObject({
      kind: 'rejected',
      reason: 'unknown validator',
    })
    expect(m.handle({ kind: 'vote', vote: prevote(1, -1, X) })[0]).toMatchObject({ kind: 'rejected', reason: 'bad round' })
    expect(m.state).toMatchObject({ round: 0, step: Step.Propose })
  })

  it('keeps memory bounded under a flood of votes for future rounds and heights', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 1e9 }), fc.integer({ min: 0, max: 5 }), fc.boolean(), (round, height, pre) => {
        const v = pre ? prevote(3, round, X, height) : precommit(3, round, Y, height)
        m.handle({ kind: 'vote', vote: v })
      }),
      { numRuns: 5000 },
    )
    // One faulty validator cannot move the round (f+1 needs two) and holds one future round only.
    expect(m.state.round).toBe(0)
    const internals = m as unknown as { prevotes: Map<number, unknown>; precommits: Map<number, unknown>; nextHeight: unknown[] }
    expect(internals.prevotes.size + internals.precommits.size).toBeLessThanOrEqual(2)
    expect(internals.nextHeight.length).toBeLessThanOrEqual(4 * 16 + 8)
  })

  it('keeps next-height votes of validators the next height adds, and counts them there', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    // Governance added validators 4 and 5 from height 2: their early prevotes are not "unknown".
    for (const v of [4, 5, 1, 2]) expect(m.handle({ kind: 'vote', vote: prevote(v, 0, X, 2) })).toEqual([])
    expect(m.handle({ kind: 'vote', vote: prevote(9, 0, X, 3) })).toMatchObject([{ kind: 'rejected' }]) // two heights ahead
    const SIX: ConsensusValidator[] = [...FOUR, { power: 1 }, { power: 1 }]
    const proposer = proposerIndex(SIX, 2, 0)
    expect(proposer).not.toBe(0)
    m.startHeight(2, SIX)
    const out = m.handle({ kind: 'proposal', proposal: { ...proposal(0, X, -1, 2), proposer }, valid: true })
    expect(votesOut(out)).toEqual([{ kind: 'vote', type: VoteKind.Prevote, height: 2, round: 0, blockHash: X }])
    // Its own prevote (fed back, as the driver does) and the 4 buffered ones: 5 of 6 (> 2/3) → precommit X.
    const polka = m.handle({ kind: 'vote', vote: prevote(0, 0, X, 2) })
    expect(votesOut(polka)).toEqual([{ kind: 'vote', type: VoteKind.Precommit, height: 2, round: 0, blockHash: X }])
  })

  it('buffers the next height and replays it when that height starts', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    m.handle({ kind: 'proposal', proposal: proposal(0, X, -1, 2), valid: true })
    const out = m.startHeight(2)
    // Validator 0 is not proposer(2, 0); it prevotes the buffered proposal at once.
    expect(votesOut(out)).toEqual([{ kind: 'vote', type: VoteKind.Prevote, height: 2, round: 0, blockHash: X }])
  })

  it('deduplicates the next-height buffer and caps it per validator', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    for (let k = 0; k < 50; k++) m.handle({ kind: 'vote', vote: prevote(2, 0, X, 2) })
    const internals = m as unknown as { nextHeight: unknown[] }
    expect(internals.nextHeight).toHaveLength(1)
    const out = [] as Output[]
    for (let r = 0; r < 20; r++) out.push(...m.handle({ kind: 'vote', vote: prevote(3, r, X, 2) }))
    expect(internals.nextHeight).toHaveLength(7)
    expect(out.filter((o) => o.kind === 'rejected')).toHaveLength(14)
  })

  it('finishes a height from a synced commit: a quorum of precommits, no proposal needed', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    const few = m.handle({ kind: 'commit', height: 1, round: 2, blockHash: X, precommits: [precommit(1, 2, X), precommit(2, 2, X)] })
    expect(few[0]).toMatchObject({ kind: 'rejected' })
    const out = m.handle({ kind: 'commit', height: 1, round: 2, blockHash: X, precommits: [1, 2, 3].map((v) => precommit(v, 2, X)) })
    expect(out).toEqual([{ kind: 'decide', height: 1, round: 2, blockHash: X, precommits: [1, 2, 3].map((v) => precommit(v, 2, X)) }])
  })

  it('after a restart from its WAL state, does not vote again in a step it already voted in', () => {
    const m = new Tendermint(FOUR, 0)
    m.startHeight(1)
    m.handle({ kind: 'proposal', proposal: proposal(0, X), valid: true })
    const saved = m.state
    expect(saved.step).toBe(Step.Prevote)
    const restarted = new Tendermint(FOUR, 0)
    const out = restarted.startHeight(1, undefined, saved)
    expect(votesOut(out)).toEqual([])
    expect(out).toEqual([{ kind: 'scheduleTimeout', step: 'prevote', height: 1, round: 0, delayMs: 500 }])
    // The same proposal arriving again does not produce a second prevote.
    expect(votesOut(restarted.handle({ kind: 'proposal', proposal: proposal(0, Y), valid: true }))).toEqual([])
    // A restored lock is honoured: in a later round a different value gets a nil prevote.
    const locked = new Tendermint(FOUR, 0)
    locked.startHeight(1, undefined, {
      ...saved,
      round: 1,
      step: Step.Propose,
      lockedRound: 0,
      lockedValue: X,
      validRound: 0,
      validValue: X,
    })
    expect(votesOut(locked.handle({ kind: 'proposal', proposal: proposal(1, Y), valid: true }))[0]).toMatchObject({ blockHash: null })
  })

  it('n = 1: a single validator proposes and decides alone', () => {
    const m = new Tendermint([{ power: 1 }], 0)
    expect(kinds(m.startHeight(1))).toEqual(['getValue'])
    const p = m.handle({ kind: 'value', height: 1, round: 0, blockHash: X })
    expect(kinds(p)).toEqual(['propose'])
    m.handle({ kind: 'proposal', proposal: { height: 1, round: 0, polRound: -1, blockHash: X, proposer: 0, signature: SIG }, valid: true })
    m.handle({ kind: 'vote', vote: prevote(0, 0, X) })
    const out = m.handle({ kind: 'vote', vote: precommit(0, 0, X) })
    expect(out.find((o) => o.kind === 'decide')).toMatchObject({ height: 1, blockHash: X })
  })
})
