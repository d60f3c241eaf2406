import { bytesToHex } from '@trellis/utils'
import type { SignedVote } from './types.js'

/** Key of a voted value: the block hash in hex, or `nil`. */
export function valueKey(blockHash: Uint8Array | null): string {
  return blockHash === null ? 'nil' : bytesToHex(blockHash)
}

export type AddResult =
  | { readonly kind: 'added' }
  | { readonly kind: 'duplicate' }
  /** Dropped: the validator already has this many different votes here. */
  | { readonly kind: 'ignored' }
  /** Added, and it conflicts with an earlier vote of the same validator: duplicate-vote evidence. */
  | { readonly kind: 'equivocation'; readonly first: SignedVote }

/**
 * The votes of one type at one height and round, tallied by power.
 *
 * A validator that signs two different values (only a faulty one does) is counted for each value it
 * signed, as the paper counts messages: correct nodes may each have seen only one of the two, and a
 * quorum that includes the faulty vote is still a quorum, since any two quorums share a correct
 * validator, who never signs twice. For "any value" (the paper's ∗) it counts once. At most
 * {@link VoteTally.MAX_VALUES_PER_VALIDATOR} values are kept per validator, bounding memory.
 */
export class VoteTally {
  static readonly MAX_VALUES_PER_VALIDATOR = 3
  private readonly byValidator = new Map<number, SignedVote[]>()
  private readonly powerByValue = new Map<string, number>()
  private _power = 0

  constructor(private readonly powers: readonly number[]) {}

  add(vote: SignedVote): AddResult {
    const key = valueKey(vote.blockHash)
    const power = this.powers[vote.validator] ?? 0
    const prior = this.byValidator.get(vote.validator)
    if (prior === undefined) {
      this.byValidator.set(vote.validator, [vote])
      this._power += power
    } else {
      if (prior.some((p) => valueKey(p.blockHash) === key)) return { kind: 'duplicate' }
      if (prior.length >= VoteTally.MAX_VALUES_PER_VALIDATOR) return { kind: 'ignored' }
      prior.push(vote)
    }
    this.powerByValue.set(key, (this.powerByValue.get(key) ?? 0) + power)
    return prior === undefined ? { kind: 'added' } : { kind: 'equivocation', first: prior[0] as SignedVote }
  }

  /** Removes a validator's votes (used when a validator's single future-round slot moves on). */
  remove(validator: number): void {
    const votes = this.byValidator.get(validator)
    if (votes === undefined) return
    this.byValidator.delete(validator)
    const power = this.powers[validator] ?? 0
    for (const v of votes) {
      const k = valueKey(v.blockHash)
      this.powerByValue.set(k, (this.powerByValue.get(k) ?? 0) - power)
    }
    this._power -= power
  }

  /** Power of the validators that voted, whatever the value (the paper's "2f + 1 ⟨…, ∗⟩"). */
  get power(): number {
    return this._power
  }

  powerFor(key: string): number {
    return this.powerByValue.get(key) ?? 0
  }

  /** Value keys with their power, largest first. */
  values(): Array<[string, number]> {
    return [...this.powerByValue.entries()].filter(([, p]) => p > 0).sort((a, b) => b[1] - a[1])
  }

  /** Number of validators with a vote here. */
  get voters(): number {
    return this.byValidator.size
  }

  has(validator: number): boolean {
    return this.byValidator.has(validator)
  }

  /** The votes for one value, ascending by validator index. */
  votesFor(key: string): SignedVote[] {
    const out: SignedVote[] = []
    for (const votes of this.byValidator.values()) for (const v of votes) if (valueKey(v.blockHash) === key) out.push(v)
    return out.sort((a, b) => a.validator - b.validator)
  }
}
