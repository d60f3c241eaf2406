import type { ContractArtifact } from '@trellis/cli'
import { publicKeyToString } from '@trellis/crypto'
import { type Receipt, ReceiptStatus, type SignedTx, valueToJSON } from '@trellis/ledger'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { contractArtifact, ContractHarness } from '../support/contracts.js'
import { testKey } from '../support/fixtures.js'

// Deterministic execution of deployed contracts: random blocks of asset-transfer calls (successful
// and failing, from a small pool of signers, so that ownership conflicts are common) run on two
// independent chains must give byte-identical receipts and the same state root after every block,
// and agree with a model of the contract's rules.

const ADMIN = testKey(9000)
const POOL = [testKey(401), testKey(402), testKey(403), testKey(404)]
const IDS = POOL.map((k) => publicKeyToString(k.publicKey))
const ASSETS = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5']

type Op =
  | { kind: 'create'; signer: number; asset: number; size: number }
  | { kind: 'update'; signer: number; asset: number; color: string }
  | { kind: 'transfer'; signer: number; asset: number; to: number }
  | { kind: 'remove'; signer: number; asset: number }
  | { kind: 'bad'; signer: number; asset: number }

const signer = fc.integer({ min: 0, max: POOL.length - 1 })
const asset = fc.integer({ min: 0, max: ASSETS.length - 1 })
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('create' as const), signer, asset, size: fc.integer({ min: 0, max: 1_000_000 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('update' as const), signer, asset, color: fc.constantFrom('red', 'green', 'blue') }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('transfer' as const), signer, asset, to: signer }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), signer, asset }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bad' as const), signer, asset }) },
)
const blocks = fc.array(fc.array(op, { minLength: 0, maxLength: 30 }), { minLength: 1, maxLength: 4 })

function txOf(h: ContractHarness, o: Op): SignedTx {
  const kp = POOL[o.signer] as (typeof POOL)[number]
  const id = ASSETS[o.asset] as string
  switch (o.kind) {
    case 'create':
      return h.tx(kp, 'assets', 'create', { id, color: 'white', size: o.size, appraisedValue: o.size * 2 })
    case 'update':
      return h.tx(kp, 'assets', 'update', { id, color: o.color })
    case 'transfer':
      return h.tx(kp, 'assets', 'transfer', { id, newOwner: IDS[o.to] })
    case 'remove':
      return h.tx(kp, 'assets', 'remove', { id })
    case 'bad':
      return h.tx(kp, 'assets', 'create', { id, color: '', size: -1, appraisedValue: 0 })
  }
}

/** The contract's rules: the error code each op must get, applied to the model's owners. */
function expectedCode(owners: Map<string, string>, o: Op): string {
  const id = ASSETS[o.asset] as string
  const me = IDS[o.signer] as string
  const owner = owners.get(id)
  switch (o.kind) {
    case 'bad':
      return 'ARGS_INVALID'
    case 'create':
      if (owner !== undefined) return 'ASSET_EXISTS'
      owners.set(id, me)
      return ''
    case 'update':
      return owner === undefined ? 'ASSET_NOT_FOUND' : owner !== me ? 'NOT_OWNER' : ''
    case 'transfer':
      if (owner === undefined) return 'ASSET_NOT_FOUND'
      if (owner !== me) return 'NOT_OWNER'
      if (IDS[o.to] === owner) return 'SAME_OWNER'
      owners.set(id, IDS[o.to] as string)
      return ''
    case 'remove':
      if (owner === undefined) return 'ASSET_NOT_FOUND'
      if (owner !== me) return 'NOT_OWNER'
      owners.delete(id)
      return ''
  }
}

let artifact: ContractArtifact
beforeAll(async () => {
  artifact = await contractArtifact('asset-transfer')
})

async function twoChains(): Promise<[ContractHarness, ContractHarness]> {
  const a = await ContractHarness.create({ admin: ADMIN })
  const b = await ContractHarness.create({ admin: ADMIN })
  const deploy = a.tx(ADMIN, 'trellis', 'deploy', { name: 'assets', code: artifact.code })
  for (const h of [a, b]) expect((await h.block([deploy]))[0]?.errorCode).toBe('')
  return [a, b]
}

const summary = (r: Receipt) => ({ status: r.status, errorCode: r.errorCode, cost: r.cost, returnValue: r.returnValue })

describe('deployed contracts execute deterministically', () => {
  it('random blocks of asset-transfer calls give identical receipts and state roots on two chains (property)', async () => {
    await fc.assert(
      fc.asyncProperty(blocks, async (plan) => {
        const [a, b] = await twoChains()
        const owners = new Map<string, string>()
        for (const ops of plan) {
          const txs = ops.map((o) => txOf(a, o))
          const ra = await a.block(txs)
          const rb = await b.block(txs)
          expect(rb.map(summary)).toEqual(ra.map(summary))
          expect(rb).toEqual(ra) // every field, events and messages included
          expect(b.chain.head.stateRoot).toEqual(a.chain.head.stateRoot)
          expect(b.chain.head.hash).toEqual(a.chain.head.hash)
          // And both follow the contract's rules.
          expect(ra.map((r) => r.errorCode)).toEqual(ops.map((o) => expectedCode(owners, o)))
          for (const r of ra) {
            expect(r.status).toBe(r.errorCode === '' ? ReceiptStatus.Ok : ReceiptStatus.Failed)
            expect(r.cost).toBeGreaterThan(0)
          }
        }
        // The committed state: every asset with its owner, in id order, the same on both chains.
        const all = valueToJSON((await a.query('assets', 'all', { limit: 100 })).result) as { assets: Array<{ id: string; owner: string }> }
        expect(valueToJSON((await b.query('assets', 'all', { limit: 100 })).result)).toEqual(all)
        expect(all.assets.map((x) => [x.id, x.owner])).toEqual([...owners.entries()].sort(([x], [y]) => (x < y ? -1 : 1)))
      }),
      { numRuns: 15 },
    )
  }, 60_000)

  it('the same call costs the same on every chain, and the first call of a contract in a block pays for loading it', async () => {
    const [a, b] = await twoChains()
    const txs = [0, 1, 2].map((i) =>
      a.tx(POOL[0] as (typeof POOL)[number], 'assets', 'create', { id: `c${i}`, color: 'red', size: 1, appraisedValue: 1 }),
    )
    const ra = await a.block(txs)
    const rb = await b.block(txs)
    expect(rb.map((r) => r.cost)).toEqual(ra.map((r) => r.cost))
    const [first, second, third] = ra.map((r) => r.cost) as [number, number, number]
    expect(first).toBeGreaterThan(second)
    expect(first).toBeGreaterThan(third)
  })
})
