/**
 * @trellis/consensus — Tendermint BFT consensus ("The latest gossip on BFT consensus", Algorithm 1) as a
 * pure state machine: messages and timer events in; messages, timer requests and decisions out.
 */
export { isOneThird, isQuorum, proposerIndex, totalPower } from './proposer.js'
export { Tendermint } from './tendermint.js'
export type { ConsensusState, ConsensusValidator, Input, Output, Proposal, SignedVote, TimeoutConfig, TimeoutStep } from './types.js'
export { defaultTimeouts, Step, VoteKind } from './types.js'
export { VoteTally, valueKey } from './voteTally.js'
