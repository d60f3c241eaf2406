#!/usr/bin/env node
// Load generator for a Trellis node, in the manner of Hyperledger Caliper: many signing clients submit
// notary `record` txs in an open loop (fixed send rate) or a closed loop (fixed number of outstanding
// txs); commits are observed on the node's SSE block stream. See bench/README.md.
import { writeFile } from 'node:fs/promises'
import { availableParallelism, cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import type { BlockMessage } from '@trellis/api'
import { createAgent, getJSON, type HttpOutcome, httpRequest } from './http.js'
import { histogramMeanMs, machineCoresBusy, type NodeSample, readMachineCpu, readProcessCpu, scrapeNode } from './metrics.js'
import { type SpawnedNode, spawnDevNode } from './nodeProcess.js'
import { BlockStream } from './sse.js'
import { type Distribution, distribution, median, NumberBuffer, round } from './stats.js'
import { type PreparedTx, Workload } from './workload.js'

const USAGE = `Usage: node bench/dist/load.js [options]

Load mode (one of):
  --rate <tx/s>           open loop: send at this fixed rate, in a batch every --tick ms
  --backlog <n>           closed loop: keep n txs outstanding (submitted, not yet committed)
                          (default: --backlog 4000)
Run:
  --duration <s>          measured window (default 60)
  --warmup <s>            load before the window, not counted (default 5)
  --batch <n>             most txs per HTTP request, 1..5000 (default 1000 open loop, 500 closed loop)
  --tick <ms>             open loop: send interval, 1..1000 (default 20)
  --signers <n>           distinct P-256 signing clients, txs spread round-robin (default 1000)
  --sign-live             sign during the run (in worker threads) instead of pre-signing the workload
  --sign-threads <n>      signing worker threads (default: number of cores)
  --txs <n>               pre-sign this many txs (default: sized from the rate / --expect-rate)
  --expect-rate <tx/s>    closed loop: throughput to size the pre-signed pool for (default 10000)
  --sockets <n>           keep-alive sockets for submissions, as many client connections (default 32)
  --tx-timeout <s>        a tx not committed after this long counts as lost (default 30)
  --drain <s>             after the window, wait this long at most for outstanding txs (default 20)
  --json <file>           write the full result as JSON
Node:
  --url <url>             target a running node (default: spawn a fresh \`trellis dev\` node)
  --block-interval <ms>   passed to the spawned node
  --node-arg <arg>        extra flag for the spawned node (repeatable, e.g. --node-arg=--no-sync)
  --keep-data             keep the spawned node's data directory and log
`

interface Config {
  readonly mode: 'open' | 'closed'
  readonly rate: number
  readonly backlog: number
  readonly durationS: number
  readonly warmupS: number
  readonly batch: number
  readonly tickMs: number
  readonly signers: number
  readonly signLive: boolean
  readonly signThreads: number
  readonly presignTxs: number
  readonly expectRate: number
  readonly sockets: number
  readonly txTimeoutS: number
  readonly drainS: number
  readonly json: string | undefined
  readonly url: string | undefined
  readonly blockInterval: string | undefined
  readonly nodeArgs: string[]
  readonly keepData: boolean
}

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n\n${USAGE}`)
  process.exit(2)
}

function num(v: string | undefined, name: string, def: number, min: number, max: number, integer = true): number {
  if (v === undefined) return def
  const n = Number(v)
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n)))
    fail(`--${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}`)
  return n
}

function parseConfig(argv: string[]): Config {
  let values: Record<string, string | boolean | string[] | undefined>
  try {
    values = parseArgs({
      args: argv,
      options: {
        rate: { type: 'string' },
        backlog: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        batch: { type: 'string' },
        tick: { type: 'string' },
        signers: { type: 'string' },
        'sign-live': { type: 'boolean' },
        'sign-threads': { type: 'string' },
        txs: { type: 'string' },
        'expect-rate': { type: 'string' },
        sockets: { type: 'string' },
        'tx-timeout': { type: 'string' },
        drain: { type: 'string' },
        json: { type: 'string' },
        url: { type: 'string' },
        'block-interval': { type: 'string' },
        'node-arg': { type: 'string', multiple: true },
        'keep-data': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (err) {
    fail((err as Error).message)
  }
  if (values.help === true) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const s = (k: string) => values[k] as string | undefined
  if (s('rate') !== undefined && s('backlog') !== undefined) fail('give either --rate (open loop) or --backlog (closed loop), not both')
  const mode = s('rate') !== undefined ? 'open' : 'closed'
  const rate = num(s('rate'), 'rate', 0, 1, 1_000_000, false)
  const backlog = num(s('backlog'), 'backlog', 4000, 1, 1_000_000)
  const durationS = num(s('duration'), 'duration', 60, 1, 3600, false)
  const warmupS = num(s('warmup'), 'warmup', 5, 0, 3600, false)
  const batch = num(s('batch'), 'batch', mode === 'open' ? 1000 : 500, 1, 5000)
  const expectRate = num(s('expect-rate'), 'expect-rate', 10_000, 1, 1_000_000)
  const window = warmupS + durationS
  const defaultTxs = mode === 'open' ? Math.ceil(rate * (window + 1)) + batch : backlog + Math.ceil(expectRate * window) + batch
  const url = s('url')
  if (url !== undefined && !/^https?:\/\/[^\s]+$/.test(url)) fail('--url must be an http(s) URL')
  if (url?.startsWith('https:')) fail('--url: https is not supported by the load generator (use the plain-HTTP address)')
  return {
    mode,
    rate,
    backlog,
    durationS,
    warmupS,
    batch,
    tickMs: num(s('tick'), 'tick', 20, 1, 1000),
    signers: num(s('signers'), 'signers', 1000, 1, 100_000),
    signLive: values['sign-live'] === true,
    signThreads: num(s('sign-threads'), 'sign-threads', availableParallelism(), 1, 64),
    presignTxs: num(s('txs'), 'txs', defaultTxs, 1, 20_000_000),
    expectRate,
    sockets: num(s('sockets'), 'sockets', 32, 1, 256),
    txTimeoutS: num(s('tx-timeout'), 'tx-timeout', 30, 1, 3600, false),
    drainS: num(s('drain'), 'drain', 20, 0, 600, false),
    json: s('json'),
    url: url?.replace(/\/$/, ''),
    blockInterval: s('block-interval'),
    nodeArgs: (values['node-arg'] as string[] | undefined) ?? [],
    keepData: values['keep-data'] === true,
  }
}

const log = (line: string) => process.stdout.write(`${line}\n`)

interface Pending {
  readonly sentAt: number
  readonly measured: boolean
}

interface Status {
  chainId: string
  height: number
}

/** What a run measured; the JSON file holds exactly this. */
export interface LoadResult {
  config: Omit<Config, 'json' | 'rate' | 'backlog'> & { rate: number | null; backlog: number | null }
  node: {
    url: string
    spawned: boolean
    command: string | null
    chainId: string
    startHeight: number
    endHeight: number
    exit: string | null
  }
  signing: {
    mode: 'presigned' | 'live'
    threads: number
    presignedTxs: number
    presignSeconds: number | null
    presignTxPerSec: number | null
    liveSignedTxs: number
    poolStarvedTicks: number
  }
  window: { warmupS: number; durationS: number; hardStopped: boolean; drainS: number; undrained: number }
  txs: {
    sent: number
    sentPerSec: number
    requests: number
    meanTxsPerRequest: number | null
    accepted: number
    rejected: Record<string, number>
    rejectedTotal: number
    committed: number
    notCommitted: number
    /** Sent in the window, with no response to their request by the end of the drain. */
    unanswered: number
    /** Accepted but not committed within --tx-timeout (part of notCommitted). */
    writtenOffAfterTimeout: number
    successRate: number | null
    /** Commits of txs sent during the warmup or before the window. */
    committedFromWarmup: number
    /** Commits of txs this run did not send or had already written off. */
    foreignCommits: number
    droppedByGenerator: number
  }
  throughput: {
    committedInWindow: number
    committedPerSec: number
    perSecond: number[]
    minPerSec: number | null
    medianPerSec: number | null
    maxPerSec: number | null
  }
  latencyMs: { commit: Distribution; submit: Distribution }
  blocks: { inWindow: number; meanTxs: number | null; maxTxs: number; meanIntervalMs: number | null }
  nodeResources: {
    cpuCores: number | null
    maxRssMB: number | null
    maxMempoolTxs: number | null
    /** Mean block execution and storage-commit time over the window (node metrics). */
    blockExecMeanMs: number | null
    blockCommitMeanMs: number | null
    maxEventLoopLagP99Ms: number | null
    samples: Array<{ t: number; cpuCores: number | null; rssMB: number | null; mempoolTxs: number | null }>
    /**
     * The node's CPU time over the window per tx committed in it, main thread and other threads
     * (signature workers, GC helpers, LevelDB): steadier than throughput on a noisy machine.
     */
    cpuPerTxUs: { mainThread: number; otherThreads: number } | null
  }
  generator: { cpuCores: number; mainThreadUtilization: number }
  /** The whole machine over the window (Linux): other processes competing with the node show here. */
  machine: { cores: number; busyCores: number | null; otherProcessesCores: number | null }
  sse: { reconnects: number; lastError: string | null }
}

async function main(): Promise<void> {
  const cfg = parseConfig(process.argv.slice(2))
  const windowMs = cfg.durationS * 1000
  const warmupMs = cfg.warmupS * 1000
  let node: SpawnedNode | undefined
  let stopping = false
  const cleanup = async () => {
    if (node !== undefined) await node.stop().catch(() => undefined)
  }
  process.on('SIGINT', () => {
    if (stopping) return
    stopping = true
    process.stderr.write('\ninterrupted: stopping the node\n')
    void cleanup().finally(() => process.exit(130))
  })
  // Start-up (node start, pre-signing) has its own bound; the run itself is bounded below.
  const presignBudgetMs = cfg.signLive ? 0 : (cfg.presignTxs * 0.4) / cfg.signThreads
  const watchdog = setTimeout(
    () => {
      process.stderr.write('error: hard stop: the benchmark overran its time bound\n')
      void cleanup().finally(() => process.exit(3))
    },
    120_000 + presignBudgetMs + warmupMs + windowMs + 30_000 + 15_000,
  )
  watchdog.unref()

  try {
    let baseUrl: string
    if (cfg.url !== undefined) {
      baseUrl = cfg.url
      log(`node: ${baseUrl} (running node)`)
    } else {
      log('node: starting a fresh `trellis dev` node…')
      node = await spawnDevNode({ blockInterval: cfg.blockInterval, extraArgs: cfg.nodeArgs, keepData: cfg.keepData })
      baseUrl = node.url
      log(`node: ${baseUrl} (pid ${node.pid}, data ${node.dataDir}${cfg.keepData ? ', kept' : ''})`)
    }
    const status = await getJSON<Status>(`${baseUrl}/v1/status`)
    log(`chain: ${status.chainId} at height ${status.height}`)
    const result = await run(cfg, baseUrl, status, node)
    printReport(result)
    if (cfg.json !== undefined) {
      await writeFile(cfg.json, `${JSON.stringify(result, null, 2)}\n`)
      log(`\nfull result: ${cfg.json}`)
    }
  } finally {
    clearTimeout(watchdog)
    await cleanup()
    if (node !== undefined && cfg.keepData) log(`node data and log kept in ${node.dataDir} (log ${node.logFile})`)
  }
}

async function run(cfg: Config, baseUrl: string, status: Status, node: SpawnedNode | undefined): Promise<LoadResult> {
  const warmupMs = cfg.warmupS * 1000
  const windowMs = cfg.durationS * 1000
  // Pre-signed txs must outlive the pre-signing, the run and the drain (the chain allows up to 1 h).
  const ttlMs = Math.min(55 * 60_000, Math.max(10 * 60_000, warmupMs + windowMs + cfg.drainS * 1000 + 5 * 60_000))
  const workload = Workload.create({ chainId: status.chainId, signers: cfg.signers, threads: cfg.signThreads, ttlMs })
  const lowWater = cfg.mode === 'open' ? Math.max(2 * cfg.batch, Math.ceil(cfg.rate)) : Math.max(cfg.backlog + cfg.batch, cfg.expectRate)
  let presignSeconds: number | null = null
  const t = performance.now()
  if (cfg.signLive) {
    log(`signing: live, in ${workload.threads} worker threads (${cfg.signers} signers); pre-filling ${lowWater} txs`)
    await workload.presign(lowWater)
  } else {
    log(`signing: pre-signing ${cfg.presignTxs} txs in ${workload.threads} worker threads (${cfg.signers} signers)…`)
    let lastPrint = performance.now()
    await workload.presign(cfg.presignTxs, (n) => {
      if (performance.now() - lastPrint > 2000) {
        lastPrint = performance.now()
        log(`  ${n} / ${cfg.presignTxs}`)
      }
    })
    presignSeconds = (performance.now() - t) / 1000
    log(`signing: ${cfg.presignTxs} txs in ${presignSeconds.toFixed(1)} s (${Math.round(cfg.presignTxs / presignSeconds)} tx/s)`)
  }
  // Live signing from the start (--sign-live), or as a fallback when the pre-signed pool runs dry.
  workload.setLive(lowWater)
  const presignedTxs = cfg.signLive ? 0 : cfg.presignTxs
  const liveBefore = workload.liveSigned

  const agent = createAgent(cfg.sockets)
  const submitUrl = `${baseUrl}/v1/txs`
  const pending = new Map<string, Pending>()
  let measuredOutstanding = 0
  const rejected: Record<string, number> = {}
  let sent = 0
  let sentMeasured = 0
  let requestsMeasured = 0
  let acceptedMeasured = 0
  let rejectedMeasured = 0
  let committedMeasured = 0
  let committedInWindow = 0
  let committedFromWarmup = 0
  let foreignCommits = 0
  let droppedByGenerator = 0
  let lostMeasured = 0
  let inFlightRequests = 0
  let unansweredMeasured = 0
  // Set when the drain ends: what happens after (requests cut by closing the sockets) is not counted.
  let finished = false
  let poolStarvedTicks = 0
  const perSecond = new Array<number>(Math.ceil(cfg.durationS)).fill(0)
  const commitLatency = new NumberBuffer()
  const submitLatency = new NumberBuffer()
  let blocksInWindow = 0
  let blockTxsInWindow = 0
  let maxBlockTxs = 0
  const blockArrivals: number[] = []

  let t0 = 0
  let ws = Number.POSITIVE_INFINITY
  let we = Number.POSITIVE_INFINITY
  let sending = false

  const forget = (idHex: string): Pending | undefined => {
    const p = pending.get(idHex)
    if (p === undefined) return undefined
    pending.delete(idHex)
    if (p.measured) measuredOutstanding--
    return p
  }

  const reject = (txs: readonly PreparedTx[], codes: (i: number) => string | undefined, measured: boolean) => {
    txs.forEach((tx, i) => {
      const code = codes(i)
      if (code === undefined) return
      forget(tx.idHex)
      if (measured) {
        rejected[code] = (rejected[code] ?? 0) + 1
        rejectedMeasured++
      }
    })
  }

  const onSubmitted = (txs: readonly PreparedTx[], sentAt: number, measured: boolean, r: HttpOutcome) => {
    if (finished) return
    inFlightRequests--
    if (measured) unansweredMeasured -= txs.length
    if (measured) submitLatency.push(performance.now() - sentAt)
    if ('error' in r) {
      reject(txs, () => `NET_${r.error}`, measured)
    } else if (r.status !== 200) {
      let code = `HTTP_${r.status}`
      try {
        const body = JSON.parse(r.body) as { code?: unknown }
        if (typeof body.code === 'string') code += `_${body.code}`
      } catch {
        // not JSON: the status alone
      }
      reject(txs, () => code, measured)
    } else {
      let results: Array<{ accepted?: boolean; error?: { code?: string } }> | undefined
      try {
        results = (JSON.parse(r.body) as { results?: typeof results }).results
      } catch {
        results = undefined
      }
      if (!Array.isArray(results) || results.length !== txs.length) {
        reject(txs, () => 'BAD_RESPONSE', measured)
      } else {
        reject(txs, (i) => (results?.[i]?.accepted === true ? undefined : (results?.[i]?.error?.code ?? 'REJECTED')), measured)
        if (measured) for (const x of results) if (x.accepted === true) acceptedMeasured++
      }
    }
    if (cfg.mode === 'closed') fill()
  }

  const submit = (txs: PreparedTx[]) => {
    const sentAt = performance.now()
    const measured = sentAt >= ws && sentAt < we
    for (const tx of txs) pending.set(tx.idHex, { sentAt, measured })
    sent += txs.length
    if (measured) {
      sentMeasured += txs.length
      measuredOutstanding += txs.length
      unansweredMeasured += txs.length
      requestsMeasured++
    }
    inFlightRequests++
    let body = '{"txs":["'
    for (let i = 0; i < txs.length; i++) body += (i === 0 ? '' : '","') + (txs[i] as PreparedTx).b64
    body += '"]}'
    void httpRequest(agent, submitUrl, { method: 'POST', body, timeoutMs: 30_000 }).then((r) => onSubmitted(txs, sentAt, measured, r))
  }

  // Closed loop: top the outstanding set up to the backlog.
  const fill = () => {
    if (!sending) return
    while (pending.size < cfg.backlog) {
      const txs = workload.take(Math.min(cfg.batch, cfg.backlog - pending.size))
      if (txs.length === 0) {
        poolStarvedTicks++
        return
      }
      submit(txs)
    }
  }

  // Open loop: send what the schedule says is due; a node that falls behind does not slow the sender.
  const MAX_IN_FLIGHT_REQUESTS = 5000
  const tick = () => {
    if (!sending) return
    const due = Math.floor((cfg.rate * (performance.now() - t0)) / 1000) - sent - droppedByGenerator
    let left = due
    while (left > 0) {
      const n = Math.min(cfg.batch, left)
      if (inFlightRequests >= MAX_IN_FLIGHT_REQUESTS) {
        // The node stopped answering: do not queue without bound in this process.
        droppedByGenerator += left
        break
      }
      const txs = workload.take(n)
      if (txs.length === 0) {
        poolStarvedTicks++
        break
      }
      submit(txs)
      left -= txs.length
    }
  }

  const onBlock = (b: BlockMessage, arrivedAt: number) => {
    if (finished) return
    const inWindow = arrivedAt >= ws && arrivedAt < we
    if (inWindow) {
      blocksInWindow++
      blockTxsInWindow += b.txIds.length
      maxBlockTxs = Math.max(maxBlockTxs, b.txIds.length)
      blockArrivals.push(arrivedAt)
    }
    for (const id of b.txIds) {
      const p = forget(id)
      if (p === undefined) {
        foreignCommits++
        continue
      }
      if (p.measured) {
        committedMeasured++
        commitLatency.push(arrivedAt - p.sentAt)
      } else if (inWindow) {
        committedFromWarmup++
      }
      if (inWindow) {
        committedInWindow++
        const sec = Math.floor((arrivedAt - ws) / 1000)
        if (sec < perSecond.length) perSecond[sec] = (perSecond[sec] ?? 0) + 1
      }
    }
    if (cfg.mode === 'closed') fill()
  }

  const stream = new BlockStream({ baseUrl, fromHeight: status.height + 1, onBlock })
  await Promise.race([
    stream.ready,
    new Promise((_, rej) =>
      setTimeout(() => rej(new Error(`no SSE connection to ${baseUrl}/v1/events: ${stream.lastError ?? 'timeout'}`)), 10_000).unref(),
    ),
  ])

  // Node resource samples: one per second, plus one at each edge of the window.
  const samples: NodeSample[] = []
  let sampling = false
  const sample = async () => {
    if (sampling) return
    sampling = true
    const s = await scrapeNode(baseUrl)
    sampling = false
    if (s !== undefined) samples.push(s)
  }
  await sample()
  const sampler = setInterval(() => void sample(), 1000)

  log(
    cfg.mode === 'open'
      ? `load: open loop at ${cfg.rate} tx/s, a batch every ${cfg.tickMs} ms (≤${cfg.batch} txs/request), warmup ${cfg.warmupS} s, window ${cfg.durationS} s`
      : `load: closed loop with ${cfg.backlog} outstanding txs, ≤${cfg.batch} txs/request, warmup ${cfg.warmupS} s, window ${cfg.durationS} s`,
  )
  t0 = performance.now()
  ws = t0 + warmupMs
  we = ws + windowMs
  const hardStop = t0 + warmupMs + windowMs + 30_000
  sending = true
  let ticker: NodeJS.Timeout | undefined
  if (cfg.mode === 'open') ticker = setInterval(tick, cfg.tickMs)
  else fill()
  // In the closed loop, txs written off by the sweep free their slots.
  const sweeper = setInterval(() => {
    const old = performance.now() - cfg.txTimeoutS * 1000
    for (const [id, p] of pending) {
      if (p.sentAt > old) break
      forget(id)
      if (p.measured) lostMeasured++
    }
    if (cfg.mode === 'closed') fill()
  }, 1000)
  const progress = setInterval(() => {
    const now = performance.now()
    const phase = now < ws ? 'warmup' : 'window'
    const secs = Math.floor((now - (now < ws ? t0 : ws)) / 1000)
    log(`  ${phase} ${secs}s: sent ${sent}, outstanding ${pending.size}, committed in window ${committedInWindow}, height ${stream.height}`)
  }, 5000)

  const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - performance.now())))
  await sleepUntil(ws)
  const cpuStart = process.cpuUsage()
  const machineStart = readMachineCpu()
  const nodeCpuStart = node === undefined ? undefined : readProcessCpu(node.pid)
  const eluStart = performance.eventLoopUtilization()
  const nodeStart = samples.length
  await sample()
  await sleepUntil(we)
  sending = false
  if (ticker !== undefined) clearInterval(ticker)
  const cpuEnd = process.cpuUsage(cpuStart)
  const machineBusy = machineCoresBusy(machineStart, readMachineCpu())
  const nodeCpuEnd = node === undefined ? undefined : readProcessCpu(node.pid)
  const elu = performance.eventLoopUtilization(eluStart)
  const wallEnd = performance.now()
  await sample()
  const nodeEnd = samples.length
  const generatorCpu = (cpuEnd.user + cpuEnd.system) / 1000 / (wallEnd - ws)

  // Drain: wait for the txs sent in the window to commit (their latency counts), within the bounds.
  const drainUntil = Math.min(we + cfg.drainS * 1000, hardStop)
  while (measuredOutstanding > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 50))
  const hardStopped = measuredOutstanding > 0 && performance.now() >= hardStop
  finished = true
  clearInterval(sampler)
  clearInterval(sweeper)
  clearInterval(progress)
  stream.close()
  agent.destroy()
  workload.discard()
  await workload.close()
  const endStatus = await getJSON<Status>(`${baseUrl}/v1/status`).catch(() => undefined)

  const windowSamples = samples.slice(Math.max(0, nodeStart), nodeEnd)
  const first = windowSamples[0]
  const last = windowSamples[windowSamples.length - 1]
  const cpuCores =
    first?.cpuSeconds !== undefined && last?.cpuSeconds !== undefined && last.at > first.at
      ? (last.cpuSeconds - first.cpuSeconds) / ((last.at - first.at) / 1000)
      : null
  const rss = windowSamples.flatMap((s) => (s.rssBytes === undefined ? [] : [s.rssBytes]))
  const mempool = windowSamples.flatMap((s) => (s.mempoolTxs === undefined ? [] : [s.mempoolTxs]))
  const lag = windowSamples.flatMap((s) => (s.eventLoopLagP99 === undefined ? [] : [s.eventLoopLagP99]))
  const series = samples.map((s, i) => {
    const prev = samples[i - 1]
    const cpu =
      prev?.cpuSeconds !== undefined && s.cpuSeconds !== undefined && s.at > prev.at
        ? round((s.cpuSeconds - prev.cpuSeconds) / ((s.at - prev.at) / 1000), 2)
        : null
    return {
      t: round((s.at - ws) / 1000, 2) as number,
      cpuCores: cpu,
      rssMB: s.rssBytes === undefined ? null : round(s.rssBytes / 2 ** 20, 1),
      mempoolTxs: s.mempoolTxs ?? null,
    }
  })
  const intervals = blockArrivals.slice(1).map((a, i) => a - (blockArrivals[i] as number))
  const fullSeconds = perSecond.slice(0, Math.floor(cfg.durationS))
  const undrained = measuredOutstanding
  const { json: _json, ...config } = cfg

  return {
    config: { ...config, rate: cfg.mode === 'open' ? cfg.rate : null, backlog: cfg.mode === 'closed' ? cfg.backlog : null },
    node: {
      url: baseUrl,
      spawned: node !== undefined,
      command: node?.command ?? null,
      chainId: status.chainId,
      startHeight: status.height,
      endHeight: endStatus?.height ?? stream.height,
      exit: node?.exitStatus() ?? null,
    },
    signing: {
      mode: cfg.signLive ? 'live' : 'presigned',
      threads: workload.threads,
      presignedTxs,
      presignSeconds: round(presignSeconds, 2),
      presignTxPerSec: presignSeconds === null ? null : Math.round(cfg.presignTxs / presignSeconds),
      liveSignedTxs: workload.liveSigned - liveBefore + (cfg.signLive ? lowWater : 0),
      poolStarvedTicks,
    },
    window: {
      warmupS: cfg.warmupS,
      durationS: cfg.durationS,
      hardStopped,
      drainS: round((performance.now() - we) / 1000, 1) as number,
      undrained,
    },
    txs: {
      sent: sentMeasured,
      sentPerSec: round(sentMeasured / cfg.durationS, 1) as number,
      requests: requestsMeasured,
      meanTxsPerRequest: requestsMeasured === 0 ? null : round(sentMeasured / requestsMeasured, 1),
      accepted: acceptedMeasured,
      rejected,
      rejectedTotal: rejectedMeasured,
      committed: committedMeasured,
      notCommitted: sentMeasured - committedMeasured,
      unanswered: unansweredMeasured,
      writtenOffAfterTimeout: lostMeasured,
      successRate: sentMeasured === 0 ? null : round(committedMeasured / sentMeasured, 4),
      committedFromWarmup,
      foreignCommits,
      droppedByGenerator,
    },
    throughput: {
      committedInWindow,
      committedPerSec: round(committedInWindow / cfg.durationS, 1) as number,
      perSecond,
      minPerSec: fullSeconds.length === 0 ? null : Math.min(...fullSeconds),
      medianPerSec: median(fullSeconds),
      maxPerSec: fullSeconds.length === 0 ? null : Math.max(...fullSeconds),
    },
    latencyMs: { commit: roundDist(distribution(commitLatency.values())), submit: roundDist(distribution(submitLatency.values())) },
    blocks: {
      inWindow: blocksInWindow,
      meanTxs: blocksInWindow === 0 ? null : round(blockTxsInWindow / blocksInWindow, 1),
      maxTxs: maxBlockTxs,
      meanIntervalMs: intervals.length === 0 ? null : round(intervals.reduce((a, b) => a + b, 0) / intervals.length, 1),
    },
    nodeResources: {
      cpuCores: round(cpuCores, 2),
      maxRssMB: rss.length === 0 ? null : round(Math.max(...rss) / 2 ** 20, 1),
      maxMempoolTxs: mempool.length === 0 ? null : Math.max(...mempool),
      blockExecMeanMs: round(histogramMeanMs(first, last, 'execSeconds', 'execCount')),
      blockCommitMeanMs: round(histogramMeanMs(first, last, 'commitSeconds', 'commitCount')),
      maxEventLoopLagP99Ms: lag.length === 0 ? null : round(Math.max(...lag) * 1000),
      samples: series,
      cpuPerTxUs:
        nodeCpuStart === undefined || nodeCpuEnd === undefined || committedInWindow === 0
          ? null
          : {
              mainThread: Math.round(((nodeCpuEnd.mainSeconds - nodeCpuStart.mainSeconds) * 1e6) / committedInWindow),
              otherThreads: Math.round(
                ((nodeCpuEnd.allSeconds - nodeCpuStart.allSeconds - (nodeCpuEnd.mainSeconds - nodeCpuStart.mainSeconds)) * 1e6) /
                  committedInWindow,
              ),
            },
    },
    generator: { cpuCores: round(generatorCpu, 2) as number, mainThreadUtilization: round(elu.utilization, 2) as number },
    machine: {
      cores: cpus().length,
      busyCores: round(machineBusy, 2),
      // Only meaningful when the node runs on this machine (a spawned node, or --url to localhost).
      otherProcessesCores: machineBusy === null || cpuCores === null ? null : round(Math.max(0, machineBusy - cpuCores - generatorCpu), 2),
    },
    sse: { reconnects: stream.reconnects, lastError: stream.lastError ?? null },
  }
}

function isLocal(url: string): boolean {
  return /^https?:\/\/(127\.|localhost|\[::1\])/.test(url)
}

function roundDist(d: Distribution): Distribution {
  return {
    count: d.count,
    mean: round(d.mean),
    p50: round(d.p50),
    p95: round(d.p95),
    p99: round(d.p99),
    max: round(d.max),
    min: round(d.min),
  }
}

function printReport(r: LoadResult): void {
  const c = r.config
  const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(2)} %`)
  const n = (v: number | null | undefined, unit = '') => (v === null || v === undefined ? 'n/a' : `${v.toLocaleString('en-US')}${unit}`)
  const rows: Array<[string, string]> = [
    ['mode', c.mode === 'open' ? `open loop, target ${n(c.rate)} tx/s` : `closed loop, backlog ${n(c.backlog)} txs`],
    ['window', `${c.durationS} s measured after ${c.warmupS} s warmup${r.window.hardStopped ? ' (HARD STOP hit during drain)' : ''}`],
    [
      'signing',
      r.signing.mode === 'presigned'
        ? `pre-signed ${n(r.signing.presignedTxs)} txs before the window in ${r.signing.threads} worker threads (${n(r.signing.presignSeconds)} s, ${n(r.signing.presignTxPerSec)} tx/s)` +
          (r.signing.liveSignedTxs > 0 ? `; pool ran dry, ${n(r.signing.liveSignedTxs)} signed live` : '; none signed during the run')
        : `live during the run, ${r.signing.threads} worker threads (${n(r.signing.liveSignedTxs)} signed)`,
    ],
    ['signers', `${n(c.signers)} P-256 keys, round-robin`],
    [
      'sent',
      `${n(r.txs.sent)} txs = ${n(r.txs.sentPerSec)} tx/s in ${n(r.txs.requests)} requests (mean ${n(r.txs.meanTxsPerRequest)} txs/request)`,
    ],
    ['accepted', `${n(r.txs.accepted)}${r.txs.unanswered > 0 ? ` (no response yet for ${n(r.txs.unanswered)})` : ''}`],
    [
      'rejected',
      r.txs.rejectedTotal === 0
        ? '0'
        : `${n(r.txs.rejectedTotal)}: ${Object.entries(r.txs.rejected)
            .map(([k, v]) => `${k} ${n(v)}`)
            .join(', ')}`,
    ],
    ['committed (sent in window)', `${n(r.txs.committed)}; not seen committed ${n(r.txs.notCommitted)}`],
    ['success rate', pct(r.txs.successRate)],
    ['committed tx/s (window)', `${n(r.throughput.committedPerSec)} (${n(r.throughput.committedInWindow)} commits seen)`],
    ['per-second tx/s', `min ${n(r.throughput.minPerSec)} / median ${n(r.throughput.medianPerSec)} / max ${n(r.throughput.maxPerSec)}`],
    [
      'commit latency ms',
      `p50 ${n(r.latencyMs.commit.p50)} / p95 ${n(r.latencyMs.commit.p95)} / p99 ${n(r.latencyMs.commit.p99)} / max ${n(r.latencyMs.commit.max)} (mean ${n(r.latencyMs.commit.mean)})`,
    ],
    ['submit round-trip ms', `p50 ${n(r.latencyMs.submit.p50)} / p99 ${n(r.latencyMs.submit.p99)} / max ${n(r.latencyMs.submit.max)}`],
    [
      'blocks (window)',
      `${n(r.blocks.inWindow)}, mean ${n(r.blocks.meanTxs)} txs (max ${n(r.blocks.maxTxs)}), one every ${n(r.blocks.meanIntervalMs)} ms`,
    ],
    [
      'node CPU',
      r.nodeResources.cpuCores === null
        ? 'n/a (no process_cpu_seconds_total)'
        : `${r.nodeResources.cpuCores} cores (${Math.round(r.nodeResources.cpuCores * 100)} % of one core)`,
    ],
    [
      'node CPU per tx',
      r.nodeResources.cpuPerTxUs === null
        ? 'n/a (a node this run did not spawn, or not Linux)'
        : `main thread ${r.nodeResources.cpuPerTxUs.mainThread} µs + other threads ${r.nodeResources.cpuPerTxUs.otherThreads} µs`,
    ],
    ['node max RSS', n(r.nodeResources.maxRssMB, ' MB')],
    ['node max mempool', n(r.nodeResources.maxMempoolTxs, ' txs')],
    [
      'node block time ms',
      `execute ${n(r.nodeResources.blockExecMeanMs)} + store ${n(r.nodeResources.blockCommitMeanMs)} (means); event-loop lag p99 up to ${n(r.nodeResources.maxEventLoopLagP99Ms)}`,
    ],
    ['generator CPU', `${r.generator.cpuCores} cores (main thread busy ${Math.round(r.generator.mainThreadUtilization * 100)} %)`],
    [
      'machine CPU',
      r.machine.busyCores === null
        ? 'n/a'
        : `${r.machine.busyCores} of ${r.machine.cores} cores busy` +
          (r.machine.otherProcessesCores === null || !isLocal(r.node.url)
            ? ''
            : `; other processes ${r.machine.otherProcessesCores} cores`),
    ],
  ]
  const warnings: string[] = []
  if (r.signing.poolStarvedTicks > 0)
    warnings.push(`the signer pool ran empty ${r.signing.poolStarvedTicks} times: the generator, not the node, limited the load`)
  if (r.txs.droppedByGenerator > 0)
    warnings.push(`${r.txs.droppedByGenerator} txs not sent: more than 5000 requests were waiting for the node`)
  if (r.window.undrained > 0) warnings.push(`${r.window.undrained} txs sent in the window were still outstanding when the drain ended`)
  if (r.sse.reconnects > 0)
    warnings.push(`the block stream reconnected ${r.sse.reconnects} times (last: ${r.sse.lastError}); replayed blocks inflate latency`)
  if (r.txs.foreignCommits > 0)
    warnings.push(`${r.txs.foreignCommits} committed txs were not this run's outstanding txs (other clients, or txs already written off)`)
  if (r.node.exit !== null) warnings.push(`the node exited during the run (${r.node.exit})`)
  if (r.generator.mainThreadUtilization > 0.8)
    warnings.push('the generator main thread was over 80 % busy: latency figures include client-side delay')
  if (isLocal(r.node.url) && (r.machine.otherProcessesCores ?? 0) > 0.25) {
    warnings.push(
      `other processes used ${r.machine.otherProcessesCores} cores during the window: the node had to share the CPU, figures are not representative`,
    )
  }
  const w = Math.max(...rows.map(([k]) => k.length))
  log('\nTrellis load benchmark')
  log('─'.repeat(w + 60))
  for (const [k, v] of rows) log(`${k.padEnd(w)}  ${v}`)
  log('─'.repeat(w + 60))
  log(`per-second committed: ${r.throughput.perSecond.join(' ')}`)
  for (const x of warnings) log(`warning: ${x}`)
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
