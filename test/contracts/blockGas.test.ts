import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ReceiptStatus } from '@trellis/ledger'
import { BLOCK_GAS, TX_GAS } from '@trellis/node'
import { describe, expect, it } from 'vitest'
import { ContractHarness, contractArtifact } from '../support/contracts.js'
import { testKey } from '../support/fixtures.js'

// A block's gas bounds its execution time whatever its txs do: txs past the block's gas are not run
// (BLOCK_GAS_EXHAUSTED), and a producer leaves them for the next block.

const SOURCE = `import { call, defineContract, query, s } from '@trellis/contract'
export default defineContract({
  version: '1.0.0',
  methods: {
    spin: call({ args: s.object({}) }, () => { for (;;) {} }),
    // String comparison is syntax, not a built-in: one step compares megabytes, unmetered.
    compare: query({ args: s.object({}) }, () => { const a = 'ab'.repeat(1 << 20); const b = a.slice(0, -1) + 'x'; let n = 0; for (;;) if (a === b) n++ }),
    ping: call({ args: s.object({}) }, (ctx) => { ctx.state.put('ping', ctx.block.height) }),
  },
})
`

describe('block gas', () => {
  it('stops running txs once the block gas is spent; a producer leaves them out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-gas-'))
    await writeFile(join(dir, 'spinner.ts'), SOURCE)
    const h = await ContractHarness.create()
    expect((await h.deploy('spinner', await contractArtifact(join(dir, 'spinner.ts')))).status).toBe(ReceiptStatus.Ok)
    const user = testKey(1)
    const spins = BLOCK_GAS / TX_GAS
    const txs = [...Array.from({ length: spins }, () => h.tx(user, 'spinner', 'spin', {})), h.tx(user, 'spinner', 'ping', {})]
    const started = performance.now()
    const exec = await h.executor.executeBlock(
      { chainId: h.chain.genesis.chainId, height: h.chain.head.height + 1, timestamp: h.time + 1000, txs },
      h.chain,
    )
    const seconds = (performance.now() - started) / 1000
    expect(exec.receipts.slice(0, spins).map((r) => r.errorCode)).toEqual(Array.from({ length: spins }, () => 'VM_OUT_OF_GAS'))
    expect(exec.receipts[spins]).toMatchObject({ status: ReceiptStatus.Failed, errorCode: 'BLOCK_GAS_EXHAUSTED', cost: 0 })
    expect(exec.gasExhaustedAt).toBe(spins)
    expect(exec.writes).toHaveLength(0)
    expect(seconds).toBeLessThan(60) // bounded: ~0.3 s per spent budget on this machine

    // Producing a block from the same txs leaves the unrun tx out.
    const built = await h.produce(txs)
    expect(built.block.txs).toHaveLength(spins)
    expect(built.exec.gasExhaustedAt).toBeUndefined()
  }, 120_000)

  it('a query doing unmetered work ends with QUERY_TIMEOUT after its wall-clock limit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-gas-'))
    await writeFile(join(dir, 'spinner.ts'), SOURCE)
    const h = await ContractHarness.create()
    expect((await h.deploy('spinner', await contractArtifact(join(dir, 'spinner.ts')))).status).toBe(ReceiptStatus.Ok)
    const started = performance.now()
    const err = await h.query('spinner', 'compare', {}).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'QUERY_TIMEOUT' })
    expect(performance.now() - started).toBeLessThan(60_000)
    // The node keeps answering.
    expect(await h.query('trellis', 'get', { name: 'spinner' })).toMatchObject({ result: { name: 'spinner', status: 'active' } })
  }, 120_000)

  it('review findings: fetch retries start from fresh module state, a failed nested call is charged, VM_* codes are reserved', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-review-'))
    await writeFile(
      join(dir, 'drift.ts'),
      `import { call, ContractError, defineContract, s } from '@trellis/contract'
let n = 0
export default defineContract({
  version: '1.0.0',
  methods: {
    // Asks for a different range on every attempt if module state survived an aborted attempt.
    drift: call({ args: s.object({}) }, (ctx) => { n++; return ctx.state.range({ prefix: 'k' + n }).entries.length }),
    burn: call({ args: s.object({}) }, (ctx) => { try { ctx.call('spinner', 'spin', {}) } catch (e) { } return 'survived' }),
    fake: call({ args: s.object({}) }, () => { throw new ContractError('VM_TIMEOUT', 'not really') }),
  },
})
`,
    )
    await writeFile(join(dir, 'spinner.ts'), SOURCE)
    const h = await ContractHarness.create()
    expect((await h.deploy('spinner', await contractArtifact(join(dir, 'spinner.ts')))).status).toBe(ReceiptStatus.Ok)
    expect((await h.deploy('drift', await contractArtifact(join(dir, 'drift.ts')))).status).toBe(ReceiptStatus.Ok)
    const user = testKey(2)
    const [drift, burn, fake] = await h.block([
      h.tx(user, 'drift', 'drift', {}),
      h.tx(user, 'drift', 'burn', {}),
      h.tx(user, 'drift', 'fake', {}),
    ])
    expect(drift).toMatchObject({ status: ReceiptStatus.Ok, returnValue: 0 })
    // The callee's spent budget is the caller's: the tx fails and is charged (about) the whole budget.
    expect(burn?.status).toBe(ReceiptStatus.Failed)
    expect(burn?.cost).toBeGreaterThan(TX_GAS * 0.9)
    // A contract cannot claim a sandbox code.
    expect(fake).toMatchObject({ status: ReceiptStatus.Failed, errorCode: 'VM_CONTRACT_ERROR' })
  }, 60_000)

  it('a producer starts no further tx once the block has executed for its time budget; the rest waits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-gas-'))
    await writeFile(join(dir, 'spinner.ts'), SOURCE)
    const h = await ContractHarness.create()
    expect((await h.deploy('spinner', await contractArtifact(join(dir, 'spinner.ts')))).status).toBe(ReceiptStatus.Ok)
    const user = testKey(3)
    const txs = Array.from({ length: 6 }, () => h.tx(user, 'spinner', 'spin', {}))
    const built = await h.produce(txs, { blockTimeLimitMs: 1 })
    // The first tx always runs; the budget (1 ms) is spent after it.
    expect(built.block.txs).toEqual([txs[0]])
    expect(built.exec.receipts).toHaveLength(1)
    expect(built.exec.receipts[0]?.errorCode).toBe('VM_OUT_OF_GAS')
    expect(built.block.header.txCount).toBe(1)
  }, 60_000)
})
