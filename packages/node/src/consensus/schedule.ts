import { certificateFromPem, type PublicKey, publicKeyFromString, publicKeyToString } from '@trellis/crypto'
import { type ChainParams, defaultChainParams, stateKey, type ValidatorSet, validatorSetHash } from '@trellis/ledger'
import type { ConsensusValidator, TimeoutConfig } from '@trellis/consensus'
import { compareBytes } from '@trellis/utils'
import { decodeRecord, GOVERNANCE_CONTRACT, type ParamsRecord, type ValidatorSetRecord } from '../governance/index.js'
import type { StateReader } from '../executor/types.js'

/** The state-key ranges of the governance records the schedule follows (`valset:*`, `params:*`). */
const VALSET = { lower: stateKey(GOVERNANCE_CONTRACT, 'valset:'), upper: stateKey(GOVERNANCE_CONTRACT, 'valset;') }
const PARAMS = { lower: stateKey(GOVERNANCE_CONTRACT, 'params:'), upper: stateKey(GOVERNANCE_CONTRACT, 'params;') }

const within = (k: Uint8Array, r: { lower: Uint8Array; upper: Uint8Array }): boolean =>
  compareBytes(k, r.lower) >= 0 && compareBytes(k, r.upper) < 0

/** True when a state write changes what a schedule holds (a validator-set or parameters record). */
export function changesSchedule(stateKey: Uint8Array): boolean {
  return within(stateKey, VALSET) || within(stateKey, PARAMS)
}

/** Heights a removed validator may still connect for (to finish the heights it was part of). */
const RECENT_HEIGHTS = 10

/** The validator set of one height, in the forms consensus uses. */
export interface HeightValidators {
  readonly set: ValidatorSet
  readonly hash: Uint8Array
  readonly keys: readonly PublicKey[]
  readonly powers: readonly ConsensusValidator[]
  /** This node's index in the set, or undefined when it does not validate at that height. */
  readonly self: number | undefined
}

/**
 * Which validators decide which height: the genesis set, then each set governance decided (state
 * records `valset:<height>` of the governance contract, written at least two blocks before they take
 * effect). Refreshed from committed state after every commit.
 */
export class ValidatorSchedule {
  private entries: Array<{ readonly from: number; readonly at: HeightValidators }>
  /** Chain parameters by first height (governance `params.set`), after the genesis ones. */
  private paramEntries: Array<{ readonly from: number; readonly params: ChainParams; readonly timeouts: TimeoutConfig | undefined }> = []
  private knownKeys = new Set<string>()
  /** p2p addresses of validators governance added, by public key. */
  private readonly addressBook = new Map<string, string>()
  /** Node certificates (DER) of validators governance added with one, by public key. */
  private readonly certificates = new Map<string, Uint8Array>()
  private readonly listeners: Array<() => void> = []

  constructor(
    private readonly genesis: ValidatorSet,
    private readonly selfKey: PublicKey | undefined,
    private readonly genesisParams: ChainParams = defaultChainParams,
  ) {
    this.entries = [{ from: 1, at: this.describe(genesis) }]
    this.remember(genesis)
    for (const v of genesis.validators)
      if (v.certificate !== undefined) this.certificates.set(publicKeyToString(v.publicKey), v.certificate)
  }

  /** The set that decides `height`. */
  at(height: number): HeightValidators {
    let found = (this.entries[0] as { at: HeightValidators }).at
    for (const e of this.entries) {
      if (e.from > height) break
      found = e.at
    }
    return found
  }

  /** The chain parameters in force at `height`. */
  paramsAt(height: number): ChainParams {
    let found = this.genesisParams
    for (const e of this.paramEntries) {
      if (e.from > height) break
      found = e.params
    }
    return found
  }

  /** The consensus timeouts governance set for `height`, or undefined (the node's own). */
  timeoutsAt(height: number): TimeoutConfig | undefined {
    let found: TimeoutConfig | undefined
    for (const e of this.paramEntries) {
      if (e.from > height) break
      found = e.timeouts
    }
    return found
  }

  /**
   * True for a key that validates at `height` or later (decided changes included), or did within
   * the last {@link RECENT_HEIGHTS} heights (it may still be finishing them): it may connect.
   * A removed validator is let go after that.
   */
  knows(key: PublicKey, height: number): boolean {
    const id = publicKeyToString(key)
    if (!this.knownKeys.has(id)) return false
    const from = Math.max(1, height - RECENT_HEIGHTS)
    return this.entries.some(
      (e, i) =>
        (this.entries[i + 1]?.from ?? Number.POSITIVE_INFINITY) > from &&
        e.at.set.validators.some((v) => publicKeyToString(v.publicKey) === id),
    )
  }

  /** Every set from the genesis on, with the height it starts at. */
  get history(): ReadonlyArray<{ readonly from: number; readonly set: ValidatorSet }> {
    return this.entries.map((e) => ({ from: e.from, set: e.at.set }))
  }

  /** Validators added by governance with their p2p address (to dial them). */
  get addresses(): ReadonlyArray<{ readonly publicKey: PublicKey; readonly address: string }> {
    return [...this.addressBook].map(([k, address]) => ({ publicKey: publicKeyFromString(k), address }))
  }

  /** The node certificate governance recorded for a validator key, if any. */
  certificateOf(key: PublicKey): Uint8Array | undefined {
    return this.certificates.get(publicKeyToString(key))
  }

  /** Called after a refresh that found a new set. */
  onChange(listener: () => void): void {
    this.listeners.push(listener)
  }

  /** Reloads the decided changes from committed state. */
  async refresh(state: Pick<StateReader, 'scanLatest'>): Promise<void> {
    const rows = await state.scanLatest(VALSET.lower, VALSET.upper, false, 100_000)
    const entries = [{ from: 1, at: this.describe(this.genesis) }]
    for (const [, raw] of rows) {
      const rec = decodeRecord<ValidatorSetRecord>(raw)
      const set: ValidatorSet = {
        validators: rec.validators.map((v) => ({ name: v.name, publicKey: publicKeyFromString(v.publicKey), power: v.power })),
      }
      const last = entries.at(-1) as { from: number; at: HeightValidators }
      if (rec.height <= last.from) continue
      entries.push({ from: rec.height, at: this.describe(set) })
      this.remember(set)
      for (const v of rec.validators) {
        if (v.address !== undefined) this.addressBook.set(v.publicKey, v.address)
        if (v.certificate !== undefined) this.certificates.set(v.publicKey, certificateFromPem(v.certificate))
      }
    }
    const paramRows = await state.scanLatest(PARAMS.lower, PARAMS.upper, false, 100_000)
    this.paramEntries = paramRows.map(([, raw]) => {
      const rec = decodeRecord<ParamsRecord>(raw)
      return { from: rec.height, params: { ...rec.params }, timeouts: rec.timeouts == null ? undefined : { ...rec.timeouts } }
    })
    const changed = entries.length !== this.entries.length
    this.entries = entries
    if (changed) for (const l of this.listeners) l()
  }

  private remember(set: ValidatorSet): void {
    for (const v of set.validators) this.knownKeys.add(publicKeyToString(v.publicKey))
  }

  private describe(set: ValidatorSet): HeightValidators {
    const me = this.selfKey === undefined ? undefined : publicKeyToString(this.selfKey)
    const keys = set.validators.map((v) => v.publicKey)
    const self = keys.findIndex((k) => publicKeyToString(k) === me)
    return {
      set,
      hash: validatorSetHash(set),
      keys,
      powers: set.validators.map((v) => ({ power: v.power })),
      self: self < 0 ? undefined : self,
    }
  }
}
