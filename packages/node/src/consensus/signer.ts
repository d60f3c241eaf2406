import { type ConsensusState, Step } from '@trellis/consensus'
import { type PrivateKey, sign } from '@trellis/crypto'
import { Reader, Writer } from '@trellis/ledger'
import type { KVStore } from '@trellis/storage'
import { bytesToHex } from '@trellis/utils'
import { PREFIX } from '../chain/layout.js'

const STATE_KEY = Uint8Array.of(PREFIX.wal, 0x73) // 'Ws'
const LAST_KEY = Uint8Array.of(PREFIX.wal, 0x6c) // 'Wl'
const ZERO32 = new Uint8Array(32)

/** Order of what a validator signs within a round. */
export const SignStep = { Proposal: 0, Prevote: 1, Precommit: 2 } as const
export type SignStep = (typeof SignStep)[keyof typeof SignStep]

interface LastSigned {
  readonly height: number
  readonly round: number
  readonly step: SignStep
  /** Hex of the block hash, or 'nil'. */
  readonly value: string
  readonly valueBytes: Uint8Array | null
}

const STEPS: readonly Step[] = [Step.Propose, Step.Prevote, Step.Precommit, Step.Decided]

function encodeState(s: ConsensusState): Uint8Array {
  return new Writer(128)
    .varint(s.height)
    .varint(s.round)
    .u8(STEPS.indexOf(s.step))
    .varint(s.lockedRound + 1)
    .raw(s.lockedValue ?? ZERO32)
    .varint(s.validRound + 1)
    .raw(s.validValue ?? ZERO32)
    .finish()
}

function decodeState(b: Uint8Array): ConsensusState {
  const r = new Reader(b)
  const height = r.varint()
  const round = r.varint()
  const step = STEPS[r.u8()] ?? r.fail('bad step')
  const lockedRound = r.varint() - 1
  const locked = r.raw(32)
  const validRound = r.varint() - 1
  const valid = r.raw(32)
  r.end()
  return {
    height,
    round,
    step,
    lockedRound,
    lockedValue: lockedRound < 0 ? null : locked,
    validRound,
    validValue: validRound < 0 ? null : valid,
  }
}

/**
 * The validator's signing key behind a write-ahead log. Before any proposal or vote signature leaves
 * this object, the consensus state and a record of what is being signed are written to disk with
 * fsync, and nothing is signed that would contradict an earlier signature: a second, different
 * message for the same height, round and step, or anything for an earlier one. A validator that
 * crashes and restarts — at any moment — therefore never equivocates.
 */
export class GuardedSigner {
  private constructor(
    private readonly store: KVStore,
    private readonly key: PrivateKey,
    private last: LastSigned | undefined,
    /** The consensus state logged last, for resuming a height after a restart. */
    readonly restored: ConsensusState | undefined,
  ) {}

  /** What this validator signed last (after a restart: before it). */
  get lastSigned():
    { readonly height: number; readonly round: number; readonly step: SignStep; readonly value: Uint8Array | null } | undefined {
    const l = this.last
    return l === undefined ? undefined : { height: l.height, round: l.round, step: l.step, value: l.valueBytes }
  }

  static open(store: KVStore, key: PrivateKey): GuardedSigner {
    const raw = store.get(LAST_KEY)
    let last: LastSigned | undefined
    if (raw !== undefined) {
      const r = new Reader(raw)
      const height = r.varint()
      const round = r.varint()
      const step = r.u8() as SignStep
      const hash = r.raw(32)
      const isNil = r.u8() === 1
      r.end()
      last = { height, round, step, value: isNil ? 'nil' : bytesToHex(hash), valueBytes: isNil ? null : hash }
    }
    const state = store.get(STATE_KEY)
    return new GuardedSigner(store, key, last, state === undefined ? undefined : decodeState(state))
  }

  /**
   * Logs `state` and signs `message` for (height, round, step, value), or returns undefined when that
   * would contradict what this validator signed before.
   */
  async sign(
    at: { readonly height: number; readonly round: number; readonly step: SignStep; readonly value: Uint8Array | null },
    message: Uint8Array,
    state: ConsensusState,
  ): Promise<Uint8Array | undefined> {
    const value = at.value === null ? 'nil' : bytesToHex(at.value)
    const l = this.last
    if (l !== undefined) {
      const order = compare([at.height, at.round, at.step], [l.height, l.round, l.step])
      if (order < 0 || (order === 0 && l.value !== value)) return undefined
    }
    const record = new Writer(64)
      .varint(at.height)
      .varint(at.round)
      .u8(at.step)
      .raw(at.value ?? ZERO32)
      .u8(at.value === null ? 1 : 0)
      .finish()
    await this.store.write(
      [
        { type: 'put', key: STATE_KEY, value: encodeState(state) },
        { type: 'put', key: LAST_KEY, value: record },
      ],
      { sync: true },
    )
    this.last = { height: at.height, round: at.round, step: at.step, value, valueBytes: at.value }
    return sign(this.key, message)
  }
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if ((a[i] as number) !== (b[i] as number)) return (a[i] as number) - (b[i] as number)
  return 0
}
