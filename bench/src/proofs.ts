#!/usr/bin/env node
// SDK-side state-proof verification rate: how many `GET /v1/state/...` proofs a client can check per
// second against a trusted validator set (light-client rule), single-threaded. See bench/README.md.
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { generateKeyPair, type KeyPair, publicKeyFromString } from '@trellis/crypto'
import { genesisFromJSON, type StateValueProofJSON, signTx, type ValidatorSet, verifyStateValueProof } from '@trellis/ledger'
import { bytesToBase64 } from '@trellis/utils'
import { createAgent, getJSON, httpRequest, postJSON } from './http.js'
import { type SpawnedNode, spawnDevNode } from './nodeProcess.js'
import { round } from './stats.js'

const USAGE = `Usage: node bench/dist/proofs.js [options]

  --docs <n>              notary documents to record and prove (default 200)
  --seconds <s>           how long to time verification (default 5)
  --target <proofs/s>     pass mark (default 20000)
  --url <url>             target a running node (default: spawn a fresh \`trellis dev\` node)
  --genesis <file>        with --url: genesis.json holding the trusted validator set
                          (default: the validator set the node reports in /v1/status)
  --block-interval <ms>   passed to the spawned node
  --node-arg <arg>        extra flag for the spawned node (repeatable)
  --keep-data             keep the spawned node's data directory
  --json <file>           write the result as JSON
`

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n\n${USAGE}`)
  process.exit(2)
}

const log = (line: string) => process.stdout.write(`${line}\n`)

interface Status {
  chainId: string
  height: number
  validators: Array<{ name: string; publicKey: string; power: number }>
}

interface StateResponse {
  height: number
  exists: boolean
  value: unknown
  proof: StateValueProofJSON
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | string[] | undefined>
  try {
    values = parseArgs({
      args: process.argv.slice(2),
      options: {
        docs: { type: 'string' },
        seconds: { type: 'string' },
        target: { type: 'string' },
        url: { type: 'string' },
        genesis: { type: 'string' },
        'block-interval': { type: 'string' },
        'node-arg': { type: 'string', multiple: true },
        'keep-data': { type: 'boolean' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values
  } catch (err) {
    fail((err as Error).message)
  }
  if (values.help === true) {
    process.stdout.write(USAGE)
    return
  }
  const s = (k: string) => values[k] as string | undefined
  const docs = Number(s('docs') ?? 200)
  const seconds = Number(s('seconds') ?? 5)
  const target = Number(s('target') ?? 20_000)
  if (!Number.isInteger(docs) || docs < 1 || docs > 5000) fail('--docs must be an integer in 1..5000')
  if (!(seconds > 0 && seconds <= 600)) fail('--seconds must be in (0, 600]')
  if (!(target > 0)) fail('--target must be positive')

  let node: SpawnedNode | undefined
  const watchdog = setTimeout(
    () => {
      process.stderr.write('error: hard stop: the benchmark overran its time bound\n')
      void (node?.stop() ?? Promise.resolve()).finally(() => process.exit(3))
    },
    180_000 + seconds * 1000,
  )
  watchdog.unref()
  process.on('SIGINT', () => void (node?.stop() ?? Promise.resolve()).finally(() => process.exit(130)))
  try {
    let baseUrl = s('url')?.replace(/\/$/, '')
    if (baseUrl === undefined) {
      log('node: starting a fresh `trellis dev` node…')
      node = await spawnDevNode({
        blockInterval: s('block-interval'),
        extraArgs: (values['node-arg'] as string[] | undefined) ?? [],
        keepData: values['keep-data'] === true,
      })
      baseUrl = node.url
      log(`node: ${baseUrl} (pid ${node.pid})`)
    }
    const status = await getJSON<Status>(`${baseUrl}/v1/status`)
    let validators: ValidatorSet
    let trustSource: string
    if (node !== undefined || s('genesis') !== undefined) {
      const file = s('genesis') ?? join((node as SpawnedNode).dataDir, 'genesis.json')
      validators = genesisFromJSON(JSON.parse(await readFile(file, 'utf8'))).validators
      trustSource = file
    } else {
      validators = {
        validators: status.validators.map((v) => ({ name: v.name, publicKey: publicKeyFromString(v.publicKey), power: v.power })),
      }
      trustSource = 'the node (/v1/status), not independently trusted'
    }
    const trust = { chainId: status.chainId, validators }
    log(`chain: ${status.chainId}, ${validators.validators.length} validator(s), trusted from ${trustSource}`)

    // Record the documents, waiting for their commit.
    const signers: KeyPair[] = Array.from({ length: 10 }, () => generateKeyPair('p256'))
    const runId = randomBytes(16).toString('hex')
    const hashes: string[] = []
    const txs: string[] = []
    for (let i = 0; i < docs; i++) {
      const kp = signers[i % signers.length] as KeyPair
      const hash = runId + i.toString(16).padStart(32, '0')
      hashes.push(hash)
      const tx = signTx(
        {
          chainId: status.chainId,
          contract: 'notary',
          method: 'record',
          args: { hash, meta: { n: i } },
          signer: kp.publicKey,
          nonce: i,
          expiresAt: Date.now() + 10 * 60_000,
        },
        kp.privateKey,
      )
      txs.push(bytesToBase64(tx.bytes))
    }
    const submitted = await postJSON<{ results: Array<{ accepted: boolean; height?: number; error?: { code: string; message: string } }> }>(
      `${baseUrl}/v1/txs?wait=true&timeoutMs=60000`,
      { txs },
      90_000,
    )
    const refused = submitted.results.filter((r) => !r.accepted)
    if (refused.length > 0)
      throw new Error(`${refused.length} of ${docs} txs refused, first: ${refused[0]?.error?.code} ${refused[0]?.error?.message}`)
    log(
      `recorded ${docs} documents (heights ${Math.min(...submitted.results.map((r) => r.height ?? 0))}..${Math.max(...submitted.results.map((r) => r.height ?? 0))})`,
    )

    // Fetch their state proofs (8 at a time).
    const agent = createAgent(8)
    const proofs: StateValueProofJSON[] = new Array(docs)
    let next = 0
    const fetchOne = async (): Promise<void> => {
      while (next < docs) {
        const i = next++
        const r = await httpRequest(agent, `${baseUrl}/v1/state/notary/${encodeURIComponent(`doc:${hashes[i]}`)}`, { timeoutMs: 10_000 })
        if ('error' in r) throw new Error(`GET state ${i}: ${r.error}`)
        if (r.status !== 200) throw new Error(`GET state ${i}: HTTP ${r.status} ${r.body.slice(0, 200)}`)
        const body = JSON.parse(r.body) as StateResponse
        if (!body.exists) throw new Error(`document ${hashes[i]} is not in the state`)
        proofs[i] = body.proof
      }
    }
    await Promise.all(Array.from({ length: 8 }, fetchOne))
    agent.destroy()
    const proofBytes = proofs.reduce((n, p) => n + JSON.stringify(p).length, 0)
    const heights = new Set(proofs.map((p) => p.height))
    log(`fetched ${docs} state proofs (mean ${Math.round(proofBytes / docs)} bytes of JSON, at ${heights.size} distinct height(s))`)

    // Each proof must verify and carry the recorded document; a tampered one must not.
    proofs.forEach((p, i) => {
      const v = verifyStateValueProof(p, trust)
      const value = v.value as { hash?: unknown } | undefined
      if (value?.hash !== hashes[i]) throw new Error(`proof ${i} verified but holds ${JSON.stringify(value)}`)
    })
    const first = proofs[0] as StateValueProofJSON
    let tamperedRejected = false
    try {
      verifyStateValueProof({ ...first, key: `doc:${'0'.repeat(64)}` }, trust)
    } catch {
      tamperedRejected = true
    }
    if (!tamperedRejected) throw new Error('a proof for another key verified: the verifier is broken')
    log('all proofs verify; a tampered proof is rejected')

    // Time it: a short warm-up, then whole passes over the proofs until `seconds` have passed.
    const pass = () => {
      for (const p of proofs) verifyStateValueProof(p, trust)
    }
    const warmEnd = performance.now() + 500
    while (performance.now() < warmEnd) pass()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    let verified = 0
    const end = t0 + seconds * 1000
    while (performance.now() < end) {
      pass()
      verified += proofs.length
    }
    const elapsed = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const rate = verified / elapsed
    const result = {
      chainId: status.chainId,
      validators: validators.validators.length,
      docs,
      distinctHeights: heights.size,
      meanProofJSONBytes: Math.round(proofBytes / docs),
      verified,
      seconds: round(elapsed, 2),
      proofsPerSec: Math.round(rate),
      microsPerProof: round(1e6 / rate, 2),
      cpuCores: round((cpu.user + cpu.system) / 1e6 / elapsed, 2),
      target,
      pass: rate >= target,
      threads: 1,
    }
    log('\nTrellis state-proof verification (SDK side, one thread)')
    log('─'.repeat(60))
    log(`proofs verified   ${verified.toLocaleString('en-US')} in ${result.seconds} s`)
    log(`rate              ${result.proofsPerSec.toLocaleString('en-US')} proofs/s (${result.microsPerProof} µs each)`)
    log(`target            ${target.toLocaleString('en-US')} proofs/s: ${result.pass ? 'PASS' : 'FAIL'}`)
    log(
      `each proof        ${validators.validators.length} certificate signature(s), state path, header; ${result.meanProofJSONBytes} bytes JSON`,
    )
    log('─'.repeat(60))
    const json = s('json')
    if (json !== undefined) {
      await writeFile(json, `${JSON.stringify(result, null, 2)}\n`)
      log(`result: ${json}`)
    }
    if (!result.pass) process.exitCode = 1
  } finally {
    clearTimeout(watchdog)
    await node?.stop()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
