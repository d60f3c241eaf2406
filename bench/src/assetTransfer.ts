#!/usr/bin/env node
// End-to-end asset-transfer throughput (issue #3): a single-validator node, the asset-transfer
// contract deployed through the lifecycle, N assets created by --signers distinct P-256 signers,
// then every asset transferred once to another signer, submitted over HTTP in a closed loop
// (--backlog txs outstanding). Commits are observed on the node's SSE block stream. See bench/README.md.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { buildContract } from '@trellis/cli'
import { generateKeyPair, type KeyPair, type PrivateKey, publicKeyFromPrivate, publicKeyToString } from '@trellis/crypto'
import { signTx, valueFromJSON } from '@trellis/ledger'
import { loadValidatorKey } from '@trellis/node'
import { bytesToBase64, bytesToHex } from '@trellis/utils'
import { parseOptions } from './args.js'
import { createAgent, getJSON, httpRequest } from './http.js'
import { readProcessCpu } from './metrics.js'
import { repoRoot, type SpawnedNode, spawnDevNode } from './nodeProcess.js'
import { BlockStream } from './sse.js'
import { round } from './stats.js'

const USAGE = `Usage: node bench/dist/assetTransfer.js [options]

  --assets <n>       assets created, then each transferred --rounds times (default 60000)
  --rounds <n>       transfers of each asset, one round after another (default 1)
  --signers <n>      distinct P-256 signers (default 1000)
  --backlog <n>      txs outstanding (submitted, not committed) (default 4000)
  --batch <n>        txs per HTTP request (default 500)
  --sockets <n>      keep-alive sockets (default 16)
  --json <file>      write the result as JSON
  --node-flag <flag> a Node.js flag for the spawned node (repeatable), e.g.
                     --node-flag=--cpu-prof --node-flag=--cpu-prof-dir=/tmp/prof
  --node-arg <arg>   an argument for the spawned \`trellis dev\` (repeatable), e.g.
                     --node-arg=--block-txs --node-arg=4000
`

/**
 * The rate between the blocks that took the phase past 10 % and past 90 % of its commits: the
 * closed loop's ramp-up (the first block waits for the first submissions' signature checks) and
 * its drain (the last blocks, with nothing left to submit) left out. Null for too short a phase.
 */
function steadyRate(progress: ReadonlyArray<readonly [number, number]>, total: number): number | null {
  const from = progress.find(([, n]) => n >= 0.1 * total)
  const to = progress.find(([, n]) => n >= 0.9 * total)
  if (from === undefined || to === undefined || to[0] <= from[0]) return null
  return round(((to[1] - from[1]) * 1000) / (to[0] - from[0]), 0)
}

interface Signed {
  readonly id: string
  readonly wire: string
}

async function main(): Promise<void> {
  const { values } = parseOptions(
    {
      options: {
        assets: { type: 'string', default: '60000' },
        rounds: { type: 'string', default: '1' },
        signers: { type: 'string', default: '1000' },
        backlog: { type: 'string', default: '4000' },
        batch: { type: 'string', default: '500' },
        sockets: { type: 'string', default: '16' },
        json: { type: 'string' },
        'node-flag': { type: 'string', multiple: true },
        'node-arg': { type: 'string', multiple: true },
        help: { type: 'boolean' },
      },
    },
    USAGE,
  )

  if (values.help === true) {
    process.stdout.write(USAGE)
    return
  }
  const assets = Number(values.assets)
  const rounds = Number(values.rounds)
  const signers = Number(values.signers)
  const backlog = Number(values.backlog)
  const batch = Number(values.batch)
  const sockets = Number(values.sockets)
  if (![assets, rounds, signers, backlog, batch, sockets].every((n) => Number.isSafeInteger(n) && n >= 1)) {
    process.stderr.write(`--assets, --rounds, --signers, --backlog, --batch and --sockets take positive integers\n\n${USAGE}`)
    process.exitCode = 1
    return
  }
  // An asset's transfer of round r + 1 is sent only once its round r transfer has committed, which the
  // closed loop guarantees when a round is longer than what it keeps outstanding.
  if (rounds > 1 && assets < backlog + batch) {
    process.stderr.write(`--rounds above 1 needs --assets of at least --backlog + --batch (${backlog + batch})\n`)
    process.exitCode = 1
    return
  }
  const agent = createAgent(sockets)
  const node: SpawnedNode = await spawnDevNode({ nodeFlags: values['node-flag'] ?? [], extraArgs: values['node-arg'] ?? [] })
  try {
    const url = node.url
    const status = await getJSON<{ chainId: string; height: number }>(`${url}/v1/status`)
    const chainId = status.chainId
    const password = (await readFile(join(node.dataDir, 'keys', 'dev-password'), 'utf8')).trim()
    const admin = await loadValidatorKey(node.dataDir, password)
    let nonce = 1
    const sign = (key: PrivateKey, signer: KeyPair['publicKey'], contract: string, method: string, args: unknown): Signed => {
      const tx = signTx(
        { chainId, contract, method, args: valueFromJSON(args), signer, nonce: nonce++, expiresAt: Date.now() + 3_600_000 },
        key,
      )
      return { id: bytesToHex(tx.id), wire: bytesToBase64(tx.bytes) }
    }

    // Deploy through the lifecycle, signed by the dev chain's admin (its validator key).
    const artifact = await buildContract(join(repoRoot, 'contracts/asset-transfer/src/index.ts'))
    const adminKp = { privateKey: admin, publicKey: publicKeyFromPrivate(admin) }
    const deploy = sign(adminKp.privateKey, adminKp.publicKey, 'trellis', 'deploy', { name: 'asset-transfer', code: artifact.code })
    const res = await httpRequest(agent, `${url}/v1/txs?wait=true`, { method: 'POST', body: JSON.stringify({ tx: deploy.wire }) })
    if (!('status' in res) || res.status !== 200 || !res.body.includes('"ok"')) throw new Error(`deploy failed: ${JSON.stringify(res)}`)

    const keys: KeyPair[] = Array.from({ length: signers }, () => generateKeyPair())
    const ids = keys.map((k) => publicKeyToString(k.publicKey))
    process.stdout.write(`signing ${assets} creates and ${assets * rounds} transfers by ${signers} signers…\n`)
    const creates: Signed[] = []
    const transfers: Signed[] = []
    for (let i = 0; i < assets; i++) {
      const s = i % signers
      const k = keys[s] as KeyPair
      creates.push(
        sign(k.privateKey, k.publicKey, 'asset-transfer', 'create', { id: `a${i}`, color: 'blue', size: 10, appraisedValue: 1000 }),
      )
    }
    // Round r moves asset i from signer s + r to signer s + r + 1 (s = i mod signers): every round
    // is signed by the owner the round before left.
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < assets; i++) {
        const s = (i + r) % signers
        const k = keys[s] as KeyPair
        transfers.push(sign(k.privateKey, k.publicKey, 'asset-transfer', 'transfer', { id: `a${i}`, newOwner: ids[(s + 1) % signers] }))
      }
    }

    // Request bodies are built before the clock starts: the generator shares the node's two cores,
    // and what it spends per tx is taken from the node (its CPU is reported as `generator`).
    const chunked = (txs: Signed[]) => {
      const chunks: Array<{ txs: Signed[]; body: string }> = []
      for (let i = 0; i < txs.length; i += batch) {
        const part = txs.slice(i, i + batch)
        chunks.push({ txs: part, body: JSON.stringify({ txs: part.map((t) => t.wire) }) })
      }
      return chunks
    }

    // Closed loop: keep `backlog` txs outstanding; a tx counts when its block is committed.
    const run = async (label: string, all: Signed[]) => {
      const txs = chunked(all)
      const pending = new Set<string>()
      let committed = 0
      let lastCommitAt = 0
      // (time, committed so far) at each block that committed some of this phase's txs.
      const progress: Array<readonly [number, number]> = []
      let wake: (() => void) | undefined
      const head = (await getJSON<{ height: number }>(`${url}/v1/status`)).height
      const stream = new BlockStream({
        baseUrl: url,
        fromHeight: head + 1,
        onBlock: (b, at) => {
          for (const id of b.txIds) {
            if (pending.delete(id)) {
              committed++
              lastCommitAt = at
            }
          }
          if (progress.length === 0 || (progress.at(-1) as readonly [number, number])[1] !== committed) progress.push([at, committed])
          wake?.()
        },
      })
      await stream.ready
      const nodeCpuStart = readProcessCpu(node.pid)
      const ownCpuStart = process.cpuUsage()
      const started = performance.now()
      let next = 0
      let rejected = 0
      const inflight = new Set<Promise<void>>()
      while (committed + rejected < all.length) {
        while (next < txs.length && pending.size < backlog) {
          const { txs: chunk, body: requestBody } = txs[next++] as { txs: Signed[]; body: string }
          for (const t of chunk) pending.add(t.id)
          const p = httpRequest(agent, `${url}/v1/txs`, { method: 'POST', body: requestBody }).then((r) => {
            if (!('status' in r) || r.status !== 200) {
              for (const t of chunk) if (pending.delete(t.id)) rejected++
              return
            }
            // Every tx accepted is the rule: only a response reporting a refusal is parsed.
            if (!r.body.includes('"accepted":false')) return
            const body = JSON.parse(r.body) as { results: Array<{ accepted: boolean; id: string }> }
            for (const x of body.results) if (!x.accepted && pending.delete(x.id)) rejected++
          })
          inflight.add(p)
          void p.finally(() => inflight.delete(p))
        }
        await new Promise<void>((resolve) => {
          wake = resolve
          setTimeout(resolve, 200)
        })
        if (performance.now() - started > 600_000) throw new Error(`${label}: not done after 10 min (${committed} committed)`)
      }
      const nodeCpuEnd = readProcessCpu(node.pid)
      const ownCpu = process.cpuUsage(ownCpuStart)
      stream.close()
      const seconds = (lastCommitAt - started) / 1000
      // CPU time (Linux /proc; time a busy VM's host took away is not in it), per committed tx.
      const perTx = (s: number) => Math.round((s * 1e6) / Math.max(1, committed))
      const cpuPerTxUs =
        nodeCpuStart === undefined || nodeCpuEnd === undefined
          ? null
          : {
              mainThread: perTx(nodeCpuEnd.mainSeconds - nodeCpuStart.mainSeconds),
              otherThreads: perTx(nodeCpuEnd.allSeconds - nodeCpuStart.allSeconds - (nodeCpuEnd.mainSeconds - nodeCpuStart.mainSeconds)),
              generator: perTx((ownCpu.user + ownCpu.system) / 1e6),
            }
      return {
        label,
        txs: all.length,
        committed,
        rejected,
        seconds: round(seconds, 1),
        committedPerSecond: round(committed / seconds, 0),
        steadyPerSecond: steadyRate(progress, committed),
        cpuPerTxUs,
      }
    }
    const createRun = await run('create', creates)
    process.stdout.write(`${JSON.stringify(createRun)}\n`)
    const transferRun = await run('transfer', transfers)
    process.stdout.write(`${JSON.stringify(transferRun)}\n`)

    // Every transfer must have succeeded: check the receipts of a sample.
    let failed = 0
    for (let i = 0; i < transfers.length; i += Math.max(1, Math.floor(transfers.length / 200))) {
      const r = await getJSON<{ receipt: { status: string; errorCode: string } }>(`${url}/v1/txs/${(transfers[i] as Signed).id}`)
      if (r.receipt.status !== 'ok') failed++
    }
    if (failed > 0) process.exitCode = 1
    const result = {
      machine: `${process.platform} ${process.arch}, Node ${process.version}`,
      assets,
      rounds,
      signers,
      backlog,
      create: createRun,
      transfer: transferRun,
      sampledTransferReceiptsFailed: failed,
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
    if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`)
  } finally {
    await node.stop()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exitCode = 1
})
