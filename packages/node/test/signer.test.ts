import { Step } from '@trellis/consensus'
import { generateKeyPair, verify } from '@trellis/crypto'
import { type BatchOp, createMemoryStore, type KVStore } from '@trellis/storage'
import { TrellisError } from '@trellis/utils'
import { describe, expect, it } from 'vitest'
import { GuardedSigner, SignStep } from '../src/index.js'

const X = new Uint8Array(32).fill(1)
const Y = new Uint8Array(32).fill(2)
const state = (height: number, round: number) => ({
  height,
  round,
  step: Step.Prevote,
  lockedRound: 0,
  lockedValue: X,
  validRound: 0,
  validValue: X,
})
const msg = (s: string) => new TextEncoder().encode(s)

describe('GuardedSigner (write-ahead log of what a validator signs)', () => {
  it('after a restart, refuses a conflicting vote for the same height, round and step, and anything older', async () => {
    const kp = generateKeyPair()
    const store = createMemoryStore()
    const s1 = GuardedSigner.open(store, kp.privateKey)
    const sig = await s1.sign({ height: 5, round: 1, step: SignStep.Prevote, value: X }, msg('a'), state(5, 1))
    expect(sig !== undefined && verify(kp.publicKey, msg('a'), sig)).toBe(true)
    // "Restart": a new signer over the same storage.
    const s2 = GuardedSigner.open(store, kp.privateKey)
    expect(s2.restored).toEqual(state(5, 1))
    expect(await s2.sign({ height: 5, round: 1, step: SignStep.Prevote, value: Y }, msg('b'), state(5, 1))).toBeUndefined()
    expect(await s2.sign({ height: 5, round: 1, step: SignStep.Prevote, value: null }, msg('nil'), state(5, 1))).toBeUndefined()
    expect(await s2.sign({ height: 5, round: 0, step: SignStep.Precommit, value: X }, msg('c'), state(5, 0))).toBeUndefined()
    expect(await s2.sign({ height: 4, round: 9, step: SignStep.Precommit, value: X }, msg('d'), state(4, 9))).toBeUndefined()
    // The same vote again is fine (re-broadcast after a restart), and so is the next step.
    expect(await s2.sign({ height: 5, round: 1, step: SignStep.Prevote, value: X }, msg('a'), state(5, 1))).toBeDefined()
    expect(await s2.sign({ height: 5, round: 1, step: SignStep.Precommit, value: null }, msg('e'), state(5, 1))).toBeDefined()
    expect(await s2.sign({ height: 6, round: 0, step: SignStep.Proposal, value: Y }, msg('f'), state(6, 0))).toBeDefined()
  })

  it('writes the log before it signs: if the write fails, there is no signature', async () => {
    const kp = generateKeyPair()
    const inner = createMemoryStore()
    let fail = true
    const store = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'write') {
          return async (ops: readonly BatchOp[], o?: { sync?: boolean }) => {
            expect(o?.sync).toBe(true)
            if (fail) throw new TrellisError({ code: 'STORAGE_WRITE_FAILED' }, 'disk full')
            return target.write(ops, o)
          }
        }
        const v = Reflect.get(target, prop, target)
        return typeof v === 'function' ? v.bind(target) : v
      },
    }) as KVStore
    const s = GuardedSigner.open(store, kp.privateKey)
    await expect(s.sign({ height: 1, round: 0, step: SignStep.Prevote, value: X }, msg('a'), state(1, 0))).rejects.toThrow('disk full')
    fail = false
    // Nothing was recorded, so a different vote is still allowed — and none was ever sent.
    expect(await s.sign({ height: 1, round: 0, step: SignStep.Prevote, value: Y }, msg('b'), state(1, 0))).toBeDefined()
    expect(GuardedSigner.open(store, kp.privateKey).restored?.height).toBe(1)
  })
})
