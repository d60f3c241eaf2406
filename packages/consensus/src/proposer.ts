import type { ConsensusValidator } from './types.js'

/**
 * proposer(h, r): weighted round-robin over the validator set. Position (h + r) mod totalPower falls
 * into one validator's share of the cumulative power, so each validator proposes in proportion to its
 * power, consecutive rounds of a height move to the next share, and every node computes the same
 * answer from (h, r) alone, with no state carried between heights.
 */
export function proposerIndex(validators: readonly ConsensusValidator[], height: number, round: number): number {
  const total = totalPower(validators)
  if (total <= 0) throw new RangeError('the validator set has no voting power')
  let slot = (height + round) % total
  for (let i = 0; i < validators.length; i++) {
    const p = (validators[i] as ConsensusValidator).power
    if (slot < p) return i
    slot -= p
  }
  /* c8 ignore next */
  throw new Error('unreachable: slot beyond the total power')
}

export function totalPower(validators: readonly ConsensusValidator[]): number {
  let t = 0
  for (const v of validators) t += v.power
  return t
}

/** More than two thirds of the total power (the paper's 2f + 1 when every validator has power 1). */
export function isQuorum(power: number, total: number): boolean {
  return 3 * power > 2 * total
}

/** More than one third of the total power (the paper's f + 1): at least one correct validator. */
export function isOneThird(power: number, total: number): boolean {
  return 3 * power > total
}
