import { describe, expect, it } from 'vitest'
import { type Behaviour, type SimOptions, type SimResult, simulate } from './simulation.js'

// CI runs a bounded number of seeds per scenario; `SIM_SEEDS=5000 npm run sim` runs a long campaign.
const SEEDS = Number(process.env.SIM_SEEDS ?? 60)
const FIRST_SEED = Number(process.env.SIM_FIRST_SEED ?? 1)
/** Per-scenario time limit, scaled with the number of seeds (the flood scenarios are the slowest). */
const LIMIT_MS = Math.max(30_000, SEEDS * 150)

const BEHAVIOURS: readonly Behaviour[] = ['silent', 'equivocate', 'invalid', 'flood', 'twins']

function check(o: SimOptions, f: number): SimResult {
  const r = simulate(o)
  const replay = `seed ${o.seed} (replay: simulate(${JSON.stringify({ ...o, byzantine: [...(o.byzantine ?? new Map())] })}))`
  expect(r.safetyViolation, `safety: ${replay}`).toBeUndefined()
  expect(r.live, `liveness: not every correct node decided ${o.heights} heights by ${r.endTimeMs} ms, ${replay}`).toBe(true)
  // After the network heals, a height is decided within f + 2 rounds: at most f Byzantine proposers
  // in a row (round-robin), then a correct one whose proposal every correct validator accepts.
  expect(r.maxRoundAfterGst, `rounds after GST: ${replay}`).toBeLessThanOrEqual(f + 2)
  return r
}

function byzantineSet(seed: number, n: number, f: number): Map<number, Behaviour> {
  const m = new Map<number, Behaviour>()
  let s = seed
  while (m.size < f) {
    s = (s * 1103515245 + 12345) >>> 0
    const v = s % n
    if (!m.has(v)) m.set(v, BEHAVIOURS[(s >>> 8) % BEHAVIOURS.length] as Behaviour)
  }
  return m
}

describe('Tendermint simulation (seeded, deterministic)', () => {
  it('replays a seed exactly', () => {
    const o: SimOptions = { seed: 42, n: 4, heights: 5, partitions: true, byzantine: new Map([[2, 'twins']]) }
    const a = simulate(o)
    const b = simulate(o)
    expect(b).toEqual(a)
  })

  it(
    `4 validators, no fault, lossy reordering network: ${SEEDS} seeds`,
    () => {
      for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) check({ seed, n: 4, heights: 6, partitions: true }, 0)
    },
    LIMIT_MS,
  )

  for (const behaviour of BEHAVIOURS) {
    it(
      `4 validators, one ${behaviour}: ${SEEDS} seeds`,
      () => {
        let evidence = 0
        for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
          const byzantine = new Map([[seed % 4, behaviour]])
          evidence += check({ seed, n: 4, heights: 6, partitions: seed % 2 === 0, byzantine, gstMs: 2000 }, 1).evidence
        }
        // Double-signing is detected and reported as evidence.
        if (behaviour === 'equivocate' || behaviour === 'twins') expect(evidence).toBeGreaterThan(0)
      },
      LIMIT_MS,
    )
  }

  it(
    `7 validators, two Byzantine of mixed kinds: ${SEEDS} seeds`,
    () => {
      for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
        check({ seed, n: 7, heights: 5, partitions: true, byzantine: byzantineSet(seed, 7, 2), gstMs: 2500 }, 2)
      }
    },
    LIMIT_MS,
  )

  it('a single validator decides alone', () => {
    const r = check({ seed: 1, n: 1, heights: 20, dropRate: 0, partitions: false }, 0)
    expect(r.decisions[0]?.size).toBe(20)
  })

  it('the checker is not vacuous: with f + 1 double-signers a fork is found', () => {
    // Two Twins pairs among 4 validators exceed f = 1; some schedule must then fork.
    let found: SimResult | undefined
    for (let seed = 1; seed <= 300 && found === undefined; seed++) {
      const r = simulate({
        seed,
        n: 4,
        heights: 3,
        partitions: true,
        byzantine: new Map<number, Behaviour>([
          [0, 'twins'],
          [1, 'twins'],
        ]),
        gstMs: 4000,
        timeLimitMs: 20_000,
      })
      if (r.safetyViolation !== undefined) found = r
    }
    expect(found?.safetyViolation).toMatch(/^height \d+: correct nodes decided/)
  })
})
