#!/usr/bin/env node
// The node's own cost per notary tx, without HTTP, JSON or a load generator competing for the CPU:
// a single-validator TrellisNode (LevelDB, fsync per block, two signature workers) in this process,
// fed pre-signed txs through `submit` in batches while a fixed number are outstanding. Reports the
// main thread's CPU per committed tx (admission, execution, state tree, roots, storage batch) and the
// other threads' (signature workers, GC helpers, LevelDB), read from /proc. CPU time per tx is far
// steadier than throughput on a shared machine, so this is the figure to compare changes by.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, type KeyPair } from '@trellis/crypto'
import { defaultChainParams, type Genesis, type SignedTx, signTx } from '@trellis/ledger'
import { defaultNodeOptions, TrellisNode } from '@trellis/node'
import { bytesToHex } from '@trellis/utils'
import { pino } from 'pino'
import { parseOptions } from './args.js'
import { readProcessCpu } from './metrics.js'

const USAGE = `Usage: node bench/dist/pipeline.js [options]

  --txs <n>              txs submitted, warm-up included (default 120000)
  --warmup <n>           txs before the measurement starts (default 20000)
  --signers <n>          distinct P-256 signers (default 1000)
  --backlog <n>          txs outstanding (default 4000)
  --batch <n>            txs per submit call (default 500)
  --workers <n>          signature workers (default 2)
  --background-nice <n>  nice value of the node's other threads, 0-19 (default 10; ADR 0016)
`

const { values } = parseOptions(
  {
    options: {
      txs: { type: 'string', default: '120000' },
      warmup: { type: 'string', default: '20000' },
      signers: { type: 'string', default: '1000' },
      backlog: { type: 'string', default: '4000' },
      batch: { type: 'string', default: '500' },
      workers: { type: 'string', default: '2' },
      // As `trellis` nodes run (ADR 0016); 0 to compare without.
      'background-nice': { type: 'string', default: '10' },
    },
  },
  USAGE,
)
const total = Number(values.txs)
const warmup = Number(values.warmup)
const backlog = Number(values.backlog)
const batchSize = Number(values.batch)
const nice = Number(values['background-nice'])
if (
  ![total, warmup, backlog, batchSize, Number(values.signers), Number(values.workers), nice].every((n) => Number.isInteger(n) && n >= 0) ||
  warmup >= total ||
  nice > 19
)
  throw new Error(
    'usage: node bench/dist/pipeline.js [--txs N] [--warmup N<txs] [--signers N] [--backlog N] [--batch N] [--workers N] [--background-nice 0..19]',
  )

const validator = generateKeyPair()
const now = Date.now()
const genesis: Genesis = {
  chainId: 'trellis-pipeline-bench',
  genesisTime: now - 1000,
  params: defaultChainParams,
  validators: { validators: [{ name: 'validator-0', publicKey: validator.publicKey, power: 1 }] },
  admins: [validator.publicKey],
}

process.stderr.write(`signing ${total} notary txs from ${values.signers} P-256 keys…\n`)
const signers: KeyPair[] = Array.from({ length: Number(values.signers) }, () => generateKeyPair())
const raw: Uint8Array[] = []
const runId = bytesToHex(validator.publicKey.bytes).slice(2, 10)
for (let i = 0; i < total; i++) {
  const kp = signers[i % signers.length] as KeyPair
  const tx: SignedTx = signTx(
    {
      chainId: genesis.chainId,
      contract: 'notary',
      method: 'record',
      args: { hash: bytesToHex(new Uint8Array(32).map((_, k) => (k < 8 ? (i / 256 ** k) & 255 : runId.charCodeAt(k % 8)))) },
      signer: kp.publicKey,
      nonce: Math.floor(i / signers.length),
      expiresAt: now + 3_600_000,
    },
    kp.privateKey,
  )
  raw.push(tx.bytes)
}

const dir = await mkdtemp(join(tmpdir(), 'trellis-pipeline-'))
const node = await TrellisNode.open(
  { ...defaultNodeOptions, dataDir: dir, verifyWorkers: Number(values.workers), backgroundNiceness: nice },
  {
    logger: pino({ level: 'silent' }),
    genesis,
    validatorKey: validator.privateKey,
    metrics: false,
  },
)
let committed = 0
node.bus.subscribe((b) => {
  committed += b.block.txs.length
})

let sent = 0
let start: { cpu: ReturnType<typeof readProcessCpu>; wall: number; committed: number } | undefined
while (committed < total) {
  if (start === undefined && committed >= warmup) start = { cpu: readProcessCpu(process.pid), wall: performance.now(), committed }
  if (sent < total && sent - committed < backlog) {
    const batch = raw.slice(sent, Math.min(total, sent + batchSize))
    sent += batch.length
    const results = await node.submit(batch)
    const bad = results.find((r) => !r.accepted)
    if (bad !== undefined && !bad.accepted) throw new Error(`a tx was refused: ${bad.error.code} ${bad.error.message}`)
  } else {
    await new Promise((r) => setTimeout(r, 2))
  }
}
const end = { cpu: readProcessCpu(process.pid), wall: performance.now(), committed }
await node.close()
await rm(dir, { recursive: true, force: true })

if (start === undefined) throw new Error('no measurement window')
const n = end.committed - start.committed
const line = (label: string, value: string) => process.stdout.write(`${label.padEnd(28)}${value}\n`)
line('txs measured', `${n} (after ${start.committed} warm-up)`)
line('committed tx/s', `${Math.round((n / (end.wall - start.wall)) * 1000)} (this process alone)`)
if (start.cpu !== undefined && end.cpu !== undefined) {
  const main = end.cpu.mainSeconds - start.cpu.mainSeconds
  const all = end.cpu.allSeconds - start.cpu.allSeconds
  line('CPU per tx, main thread', `${Math.round((main * 1e6) / n)} µs`)
  line('CPU per tx, other threads', `${Math.round(((all - main) * 1e6) / n)} µs`)
}
