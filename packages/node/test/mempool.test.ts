import { httpStatusOf } from '@trellis/api'
import { createSignedTx, type SignedTx } from '@trellis/ledger'
import { bytesToHex, TrellisError } from '@trellis/utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fakeTx, GENESIS_TIME } from '../../../test/support/fixtures.js'
import { defaultMempoolOptions, Mempool, type MempoolOptions } from '../src/index.js'

const FAR = Number.MAX_SAFE_INTEGER
const opts = (o: Partial<MempoolOptions>): MempoolOptions => ({ ...defaultMempoolOptions, ...o })

function errorOf(f: () => unknown): TrellisError {
  try {
    f()
  } catch (err) {
    if (err instanceof TrellisError) return err
    throw err
  }
  throw new Error('expected a TrellisError, nothing was thrown')
}

const ids = (txs: readonly SignedTx[]) => txs.map((t) => bytesToHex(t.id))
const senderOf = (t: SignedTx) => bytesToHex(t.body.signer.bytes)

describe('Mempool admission', () => {
  it('deduplicates by tx id (TX_DUPLICATE, 409)', () => {
    const m = new Mempool()
    const tx = fakeTx(1, 0)
    m.add(tx)
    expect(m.has(tx.id)).toBe(true)
    const err = errorOf(() => m.add(fakeTx(1, 0)))
    expect(err.code).toBe('TX_DUPLICATE')
    expect(err.details).toEqual({ id: bytesToHex(tx.id) })
    expect(httpStatusOf(err.code)).toBe(409)
    expect(m.size).toBe(1)
    expect(m.bytes).toBe(tx.bytes.length)
  })

  it('enforces the count limit (MEMPOOL_FULL, 503) and frees room when txs leave', () => {
    const m = new Mempool(opts({ maxTxs: 3 }))
    for (let i = 0; i < 3; i++) m.add(fakeTx(i, 0))
    const before = { size: m.size, bytes: m.bytes }
    const err = errorOf(() => m.add(fakeTx(9, 0)))
    expect(err.code).toBe('MEMPOOL_FULL')
    expect(err.details).toEqual({ txs: 3, bytes: before.bytes })
    expect(httpStatusOf(err.code)).toBe(503)
    expect({ size: m.size, bytes: m.bytes }).toEqual(before)
    expect(m.has(fakeTx(9, 0).id)).toBe(false)
    expect(m.reap(1, FAR, 0)).toHaveLength(1)
    m.add(fakeTx(9, 0))
    expect(m.size).toBe(3)
  })

  it('enforces the byte limit (MEMPOOL_FULL)', () => {
    const a = fakeTx(1, 0)
    const m = new Mempool(opts({ maxBytes: 2 * a.bytes.length + 1 }))
    m.add(a)
    m.add(fakeTx(2, 0))
    expect(errorOf(() => m.add(fakeTx(3, 0))).code).toBe('MEMPOOL_FULL')
    expect(m.bytes).toBe(2 * a.bytes.length)
    // A smaller tx that still fits is admitted: the limit is on bytes, not on count.
    const tiny = new Mempool(opts({ maxBytes: a.bytes.length }))
    tiny.add(a)
    expect(errorOf(() => tiny.add(fakeTx(2, 0))).code).toBe('MEMPOOL_FULL')
  })

  it('enforces the per-sender limit (MEMPOOL_SENDER_LIMIT, 429) without affecting other senders', () => {
    const m = new Mempool(opts({ maxPerSender: 2 }))
    m.add(fakeTx(1, 0))
    m.add(fakeTx(1, 1))
    const err = errorOf(() => m.add(fakeTx(1, 2)))
    expect(err.code).toBe('MEMPOOL_SENDER_LIMIT')
    expect(err.details).toEqual({ sender: senderOf(fakeTx(1, 2)), limit: 2 })
    expect(httpStatusOf(err.code)).toBe(429)
    m.add(fakeTx(2, 0))
    expect(m.size).toBe(3)
    // Once one of its txs is taken into a block the sender may add again.
    const taken = m.reap(1, FAR, 0)
    expect(senderOf(taken[0] as SignedTx)).toBe(senderOf(fakeTx(1, 0)))
    m.add(fakeTx(1, 2))
  })

  it('checks duplicates before limits, so a full pool still reports duplicates as such', () => {
    const m = new Mempool(opts({ maxTxs: 1 }))
    m.add(fakeTx(1, 0))
    expect(errorOf(() => m.add(fakeTx(1, 0))).code).toBe('TX_DUPLICATE')
  })
})

describe('Mempool reaping', () => {
  it('is fair: one sender with 1000 txs cannot starve 10 senders with one each', () => {
    const m = new Mempool()
    for (let n = 0; n < 1000; n++) m.add(fakeTx(0, n))
    for (let s = 1; s <= 10; s++) m.add(fakeTx(s, 0))
    const block = m.reap(11, FAR, 0)
    const senders = new Set(block.map(senderOf))
    expect(senders.size).toBe(11)
    for (let s = 1; s <= 10; s++) expect(senders.has(senderOf(fakeTx(s, 0)))).toBe(true)
    expect(m.size).toBe(999)
  })

  it('interleaves senders round-robin and keeps each sender in FIFO order', () => {
    const m = new Mempool()
    for (let n = 0; n < 5; n++) m.add(fakeTx(0, n))
    for (let n = 0; n < 2; n++) m.add(fakeTx(1, n))
    m.add(fakeTx(2, 0))
    const out = m.reap(100, FAR, 0)
    expect(out.map((t) => [t.body.signer.bytes[4], t.body.nonce])).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
      [0, 1],
      [1, 1],
      [0, 2],
      [0, 3],
      [0, 4],
    ])
  })

  it('rotates the starting sender between blocks', () => {
    const m = new Mempool()
    for (let s = 0; s < 3; s++) for (let n = 0; n < 3; n++) m.add(fakeTx(s, n))
    const first = m.reap(1, FAR, 0)
    const second = m.reap(1, FAR, 0)
    expect(senderOf(first[0] as SignedTx)).not.toBe(senderOf(second[0] as SignedTx))
  })

  it('respects maxTxs and maxBytes', () => {
    const m = new Mempool()
    for (let s = 0; s < 20; s++) m.add(fakeTx(s, 0))
    const size = fakeTx(0, 0).bytes.length
    expect(m.reap(5, FAR, 0)).toHaveLength(5)
    const byBytes = m.reap(100, 3 * size + 1, 0)
    expect(byBytes).toHaveLength(3)
    expect(m.reap(100, size - 1, 0)).toEqual([])
    expect(m.size).toBe(12)
    expect(m.bytes).toBe(12 * size)
  })

  it('sweeps expired txs and reap drops (never returns) txs expiring at or before the block time', () => {
    const m = new Mempool()
    const t0 = GENESIS_TIME
    const soon = [fakeTx(1, 0, { expiresAt: t0 + 10 }), fakeTx(2, 0, { expiresAt: t0 + 20 })]
    const later = [fakeTx(1, 1, { expiresAt: t0 + 1000 }), fakeTx(3, 0, { expiresAt: t0 + 1000 })]
    for (const t of [...soon, ...later]) m.add(t)
    expect(m.sweepExpired(t0 + 10)).toBe(1)
    expect(m.has((soon[0] as SignedTx).id)).toBe(false)
    expect(m.size).toBe(3)
    // fakeTx(2,0) expires at t0+20: a block at t0+20 must not include it.
    const block = m.reap(100, FAR, t0 + 20)
    expect(ids(block).sort()).toEqual(ids(later).sort())
    expect(m.size).toBe(0)
    expect(m.bytes).toBe(0)
    expect(m.has((soon[1] as SignedTx).id)).toBe(false)
    expect(m.sweepExpired(t0 + 5000)).toBe(0)
  })

  it('keeps reaped txs known as in flight until committed()', () => {
    const m = new Mempool()
    const tx = fakeTx(1, 0)
    m.add(tx)
    const [taken] = m.reap(10, FAR, 0)
    expect(taken).toBe(tx)
    expect(m.size).toBe(0)
    expect(m.has(tx.id)).toBe(true)
    expect(errorOf(() => m.add(tx)).code).toBe('TX_DUPLICATE')
    // Sweeps do not forget in-flight txs either.
    m.sweepExpired(FAR)
    expect(m.has(tx.id)).toBe(true)
    m.committed([tx])
    expect(m.has(tx.id)).toBe(false)
    // The mempool alone does not know the ledger; the node's replay check guards committed ids.
    m.add(tx)
    expect(m.size).toBe(1)
  })
})

type Cmd =
  | { op: 'add'; sender: number; nonce: number; ttl: number; pad: number }
  | { op: 'reap'; maxTxs: number; maxBytes: number; advance: number }
  | { op: 'sweep'; advance: number }
  | { op: 'commit' }

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('add' as const),
      sender: fc.nat(5),
      nonce: fc.nat(30),
      ttl: fc.integer({ min: 1, max: 200 }),
      pad: fc.nat(300),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('reap' as const),
      maxTxs: fc.nat(12),
      maxBytes: fc.integer({ min: 0, max: 4000 }),
      advance: fc.nat(40),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('sweep' as const), advance: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('commit' as const) }) },
)

describe('Mempool under consensus', () => {
  it('holdsExactly() is true only for the same bytes: a re-signed body is not a verified tx', () => {
    const m = new Mempool()
    const tx = fakeTx(1, 0)
    m.add(tx)
    expect(m.holdsExactly(tx)).toBe(true)
    const forged = createSignedTx(tx.body, new Uint8Array(64).fill(9))
    expect(bytesToHex(forged.id)).toBe(bytesToHex(tx.id))
    expect(m.holdsExactly(forged)).toBe(false)
  })

  it('release() puts the txs of a block that lost back into the pending queues', () => {
    const m = new Mempool()
    const txs = [fakeTx(1, 0), fakeTx(2, 0), fakeTx(1, 1)]
    for (const t of txs) m.add(t)
    const taken = m.reap(10, FAR, 0)
    expect(m.size).toBe(0)
    m.release(taken)
    expect(m.size).toBe(3)
    expect(ids(m.reap(10, FAR, 0)).sort()).toEqual(ids(txs).sort())
    // Releasing what is not in flight does nothing.
    m.release([fakeTx(9, 0)])
    expect(m.size).toBe(0)
  })

  it("removeIncluded() drops pending and in-flight txs that another validator's block committed", () => {
    const m = new Mempool()
    const a = [fakeTx(1, 0), fakeTx(1, 1), fakeTx(1, 2)]
    const b = fakeTx(2, 0)
    for (const t of [...a, b]) m.add(t)
    const [first] = m.reap(1, FAR, 0)
    m.removeIncluded([a[1]!, b, first!])
    expect(m.size).toBe(1)
    expect(m.has(first!.id)).toBe(false)
    expect(ids(m.reap(10, FAR, 0))).toEqual(ids([a[2]!]))
    expect(m.bytes).toBe(0)
  })
})

describe('Mempool properties', () => {
  it('reap never returns duplicates or more than its limits, and every added tx is eventually reaped or expired', () => {
    fc.assert(
      fc.property(
        fc.array(cmdArb, { maxLength: 120 }),
        fc.record({ maxTxs: fc.integer({ min: 1, max: 40 }), maxPerSender: fc.integer({ min: 1, max: 10 }) }),
        (cmds, limits) => {
          const m = new Mempool(opts({ ...limits, maxBytes: 20_000 }))
          let now = GENESIS_TIME
          const added = new Map<string, SignedTx>() // admitted and not yet reaped/expired
          const reaped = new Set<string>()
          const inFlight: SignedTx[] = []
          const done = new Map<string, 'reaped' | 'expired'>()
          const pendingBytes = () => [...added.values()].reduce((n, t) => n + t.bytes.length, 0)
          const checkBlock = (block: SignedTx[], maxTxs: number, maxBytes: number, at: number) => {
            const seen = new Set(ids(block))
            expect(seen.size).toBe(block.length)
            expect(block.length).toBeLessThanOrEqual(maxTxs)
            expect(block.reduce((n, t) => n + t.bytes.length, 0)).toBeLessThanOrEqual(maxBytes)
            for (const t of block) {
              const id = bytesToHex(t.id)
              expect(added.has(id)).toBe(true)
              expect(reaped.has(id)).toBe(false)
              expect(t.body.expiresAt).toBeGreaterThan(at)
              added.delete(id)
              reaped.add(id)
              done.set(id, 'reaped')
              inFlight.push(t)
            }
          }
          // Txs that left the pool without being reaped must have been expired at that time.
          const checkDropped = (at: number) => {
            for (const [id, t] of added) {
              if (m.has(t.id)) continue
              expect(t.body.expiresAt).toBeLessThanOrEqual(at)
              added.delete(id)
              done.set(id, 'expired')
            }
          }
          for (const c of cmds) {
            if (c.op === 'add') {
              const tx = fakeTx(c.sender, c.nonce, { expiresAt: now + c.ttl, pad: c.pad })
              const id = bytesToHex(tx.id)
              const perSender = [...added.values()].filter((t) => senderOf(t) === senderOf(tx)).length
              const known = added.has(id) || inFlight.some((t) => bytesToHex(t.id) === id)
              try {
                m.add(tx)
                expect(known).toBe(false)
                expect(added.size).toBeLessThan(limits.maxTxs)
                expect(perSender).toBeLessThan(limits.maxPerSender)
                added.set(id, tx)
                reaped.delete(id)
                done.delete(id)
              } catch (err) {
                if (!(err instanceof TrellisError)) throw err
                const expected = known
                  ? 'TX_DUPLICATE'
                  : added.size >= limits.maxTxs || pendingBytes() + tx.bytes.length > 20_000
                    ? 'MEMPOOL_FULL'
                    : 'MEMPOOL_SENDER_LIMIT'
                expect(err.code).toBe(expected)
              }
            } else if (c.op === 'reap') {
              now += c.advance
              checkBlock(m.reap(c.maxTxs, c.maxBytes, now), c.maxTxs, c.maxBytes, now)
              checkDropped(now)
            } else if (c.op === 'sweep') {
              now += c.advance
              const n = m.sweepExpired(now)
              const before = added.size
              checkDropped(now)
              expect(before - added.size).toBe(n)
            } else {
              m.committed(inFlight.splice(0))
            }
            expect(m.size).toBe(added.size)
            expect(m.bytes).toBe(pendingBytes())
          }
          // Drain: with room for everything, every pending tx is either reaped now or expired.
          checkBlock(m.reap(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, now), Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, now)
          checkDropped(now)
          expect(added.size).toBe(0)
          expect(m.size).toBe(0)
          expect(m.bytes).toBe(0)
          for (const id of reaped) expect(done.get(id)).toBe('reaped')
        },
      ),
      { numRuns: 300, seed: 0x7e11 },
    )
  })
})
