#!/usr/bin/env node
// Contract execution cost, in process (no HTTP, no consensus): the sandbox's cost per call and per
// state access, and the executor's rate on asset-transfer blocks. See bench/README.md.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { buildContract } from '@trellis/cli'
import { generateKeyPair, type KeyPair, publicKeyToString } from '@trellis/crypto'
import { ReceiptStatus, type SignedTx, signTx, valueFromJSON } from '@trellis/ledger'
import { ContractExecutor, type StateReader } from '@trellis/node'
import { compareBytes } from '@trellis/utils'
import { Sandbox } from '@trellis/vm'
import { parseOptions } from './args.js'
import { repoRoot } from './nodeProcess.js'
import { round } from './stats.js'

const USAGE = `Usage: node bench/dist/contracts.js [options]

  --block <n>       txs per executed block (default 2000)
  --blocks <n>      measured blocks of asset-transfer transfers (default 5)
  --signers <n>     distinct signers (default 1000)
  --calls <n>       calls per sandbox micro-benchmark (default 20000; the fresh-runtime one makes at most 500)
  --json <file>     write the result as JSON
`

/** Committed state as a sorted in-memory map: enough for the executor's StateReader. */
class MemoryState implements StateReader {
  private readonly map = new Map<string, { key: Uint8Array; value: Uint8Array }>()
  getLatest(sk: Uint8Array): Uint8Array | undefined {
    return this.map.get(Buffer.from(sk).toString('latin1'))?.value
  }
  async scanLatest(lower: Uint8Array, upper: Uint8Array, reverse: boolean, limit: number): Promise<Array<[Uint8Array, Uint8Array]>> {
    const rows = [...this.map.values()]
      .filter((e) => compareBytes(e.key, lower) >= 0 && compareBytes(e.key, upper) < 0)
      .sort((a, b) => (reverse ? -1 : 1) * compareBytes(a.key, b.key))
    return rows.slice(0, limit).map((e) => [e.key, e.value])
  }
  apply(writes: ReadonlyArray<{ stateKey: Uint8Array; value: Uint8Array | null }>): void {
    for (const w of writes) {
      const id = Buffer.from(w.stateKey).toString('latin1')
      if (w.value === null) this.map.delete(id)
      else this.map.set(id, { key: w.stateKey, value: w.value })
    }
  }
}

/** A contract whose methods each do one library operation, with asset-transfer's `transfer` arguments. */
const OPS_CONTRACT = `import { call, defineContract, s } from '@trellis/contract'
const args = s.object({ id: s.string({ min: 1, max: 64, pattern: '^[A-Za-z0-9_.:-]+$' }), newOwner: s.string({ min: 1, max: 256 }) })
const asset = (a: { id: string; newOwner: string }) => ({ id: a.id, color: 'blue', size: 10, appraisedValue: 1000, owner: a.newOwner, createdAt: 1, updatedAt: 2 })
export default defineContract({
  version: '1.0.0',
  methods: {
    untyped: call({ args: s.any() }, () => null),
    nothing: call({ args }, () => null),
    get: call({ args }, (ctx, a) => ctx.state.get(ctx.state.key('asset', a.id)) ?? null),
    put: call({ args }, (ctx, a) => { ctx.state.put(ctx.state.key('asset', a.id), asset(a)); return null }),
    emit: call({ args }, (ctx, a) => { ctx.emit('AssetTransferred', { id: a.id, from: a.newOwner, to: a.newOwner }); return null }),
  },
})
`

function perCallMicros(n: number, f: () => void): number {
  // A quarter of the calls again first: V8 optimises the host-side glue only after a few thousand.
  for (let i = 0; i < Math.max(100, n >> 2); i++) f()
  const t = performance.now()
  for (let i = 0; i < n; i++) f()
  return ((performance.now() - t) * 1000) / n
}

async function main(): Promise<void> {
  const { values } = parseOptions(
    {
      options: {
        block: { type: 'string', default: '2000' },
        blocks: { type: 'string', default: '5' },
        signers: { type: 'string', default: '1000' },
        calls: { type: 'string', default: '20000' },
        json: { type: 'string' },
        help: { type: 'boolean' },
      },
    },
    USAGE,
  )

  if (values.help === true) {
    process.stdout.write(USAGE)
    return
  }
  const blockSize = Number(values.block)
  const blocks = Number(values.blocks)
  const signers = Number(values.signers)
  const calls = Number(values.calls)

  // 1. The sandbox alone: a call's fixed cost and the cost of a host (state) access.
  const sandbox = await Sandbox.create()
  const probe = `
    globalThis.noop = function () { return 1 };
    globalThis.reads = function (a) { let n = 0; for (let i = 0; i < a.n; i++) if (__host.get('"k' + i + '"') !== null) n++; return n };
    globalThis.writes = function (a) { for (let i = 0; i < a.n; i++) __host.put('"k' + i + '"', '{"v":1}'); return a.n };`
  const value = JSON.stringify({ owner: 'p256:0'.padEnd(72, '0'), color: 'red', size: 5, appraisedValue: 100 })
  const host = { get: () => value, put: () => null }
  const fresh = perCallMicros(Math.min(calls, 500), () => sandbox.runSync(probe, 'noop', '{}', host))
  const inst = sandbox.instantiate(probe)
  const reused = perCallMicros(calls, () => inst.call('noop', '{}', host, 1e9))
  const reads10 = perCallMicros(calls, () => inst.call('reads', '{"n":10}', host, 1e9))
  const writes10 = perCallMicros(calls, () => inst.call('writes', '{"n":10}', host, 1e9))
  inst.dispose()

  // 2. asset-transfer through the executor: creates, then blocks of transfers between signers.
  const artifact = await buildContract(join(repoRoot, 'contracts/asset-transfer/src/index.ts'))
  const admin = generateKeyPair()
  const keys: KeyPair[] = Array.from({ length: signers }, () => generateKeyPair())
  const ids = keys.map((k) => publicKeyToString(k.publicKey))
  const executor = await ContractExecutor.create({ admins: [admin.publicKey] })
  const state = new MemoryState()
  const chainId = 'bench'
  let height = 0
  let nonce = 0
  const tx = (kp: KeyPair, contract: string, method: string, args: unknown): SignedTx =>
    signTx(
      { chainId, contract, method, args: valueFromJSON(args), signer: kp.publicKey, nonce: nonce++, expiresAt: 2 ** 45 },
      kp.privateKey,
    )
  const run = async (txs: SignedTx[]) => {
    const t = performance.now()
    const exec = await executor.executeBlock({ chainId, height: ++height, timestamp: 1_700_000_000_000 + height * 1000, txs }, state)
    const ms = performance.now() - t
    state.apply(exec.writes)
    const failed = exec.receipts.filter((r) => r.status !== ReceiptStatus.Ok)
    if (failed.length > 0) throw new Error(`${failed.length} txs failed, e.g. ${failed[0]?.errorCode}: ${failed[0]?.errorMessage}`)
    return ms
  }
  await run([tx(admin, 'trellis', 'deploy', { name: 'asset-transfer', code: artifact.code })])
  const owner = new Array<number>(blockSize)
  const creates: SignedTx[] = []
  for (let i = 0; i < blockSize; i++) {
    owner[i] = i % signers
    creates.push(
      tx(keys[i % signers] as KeyPair, 'asset-transfer', 'create', { id: `asset-${i}`, color: 'blue', size: 10, appraisedValue: 1000 }),
    )
  }
  const createMs = await run(creates)
  // Sign every block first, so that signing's garbage is not collected inside a measured block.
  const transferBlocks: SignedTx[][] = []
  for (let b = 0; b < blocks; b++) {
    const txs: SignedTx[] = []
    for (let i = 0; i < blockSize; i++) {
      const from = owner[i] as number
      const to = (from + 1 + (b % (signers - 1))) % signers
      txs.push(tx(keys[from] as KeyPair, 'asset-transfer', 'transfer', { id: `asset-${i}`, newOwner: ids[to] }))
      owner[i] = to
    }
    transferBlocks.push(txs)
  }
  const transferMs: number[] = []
  for (const txs of transferBlocks) transferMs.push(await run(txs))
  const bestTransfer = Math.min(...transferMs)
  const medianTransfer = [...transferMs].sort((a, b) => a - b)[Math.floor(transferMs.length / 2)] as number

  // 3. What one operation of the authoring library costs through the whole executor path (schema
  // check, sandbox, host bridge, journal, receipt): blocks of calls that do nothing else, each
  // with the transfer's arguments. The methods take turns, `blocks` rounds (at least 3), and each
  // keeps its fastest block: on a noisy machine, noise only ever adds time.
  const dir = await mkdtemp(join(tmpdir(), 'trellis-bench-ops-'))
  let ops: Record<string, number | null>
  try {
    await writeFile(join(dir, 'ops.ts'), OPS_CONTRACT)
    const opsArtifact = await buildContract(join(dir, 'ops.ts'))
    await run([tx(admin, 'trellis', 'deploy', { name: 'ops', code: opsArtifact.code })])
    const perCall: Record<string, number> = {}
    for (let b = 0; b < Math.max(3, blocks); b++) {
      for (const method of ['untyped', 'nothing', 'get', 'put', 'emit']) {
        const txs = Array.from({ length: blockSize }, (_, i) =>
          tx(keys[i % signers] as KeyPair, 'ops', method, { id: `asset-${i}`, newOwner: ids[(i + 1) % signers] }),
        )
        const us = ((await run(txs)) * 1000) / blockSize
        perCall[method] = Math.min(perCall[method] ?? Infinity, us)
      }
    }
    const base = perCall.nothing as number
    ops = {
      callWithoutArgsSchemaUs: round(perCall.untyped as number, 1),
      callUs: round(base, 1),
      argsSchemaUs: round(base - (perCall.untyped as number), 1),
      getUs: round((perCall.get as number) - base, 1),
      putUs: round((perCall.put as number) - base, 1),
      emitUs: round((perCall.emit as number) - base, 1),
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  const result = {
    machine: `${process.platform} ${process.arch}, Node ${process.version}`,
    sandbox: {
      freshRuntimePerCallUs: round(fresh, 1),
      reusedInstancePerCallUs: round(reused, 1),
      perStateReadUs: round((reads10 - reused) / 10, 2),
      perStateWriteUs: round((writes10 - reused) / 10, 2),
    },
    assetTransfer: {
      codeBytes: artifact.code.length,
      blockSize,
      createBlockMs: round(createMs, 0),
      transferBlockMs: transferMs.map((m) => round(m, 0)),
      transferUsPerTxMedian: round((medianTransfer * 1000) / blockSize, 1),
      transferUsPerTxBest: round((bestTransfer * 1000) / blockSize, 1),
      executorTransfersPerSecondMedian: round((blockSize * 1000) / medianTransfer, 0),
    },
    libraryOperations: ops,
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exitCode = 1
})
