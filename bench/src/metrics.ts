import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { httpRequest } from './http.js'

/** One scrape of the node's `/metrics`: the process figures the report needs. */
export interface NodeSample {
  /** performance.now() when the response arrived. */
  readonly at: number
  readonly cpuSeconds: number | undefined
  readonly rssBytes: number | undefined
  readonly mempoolTxs: number | undefined
  /** Block execution and storage-commit histograms (sum of seconds, count). */
  readonly execSeconds: number | undefined
  readonly execCount: number | undefined
  readonly commitSeconds: number | undefined
  readonly commitCount: number | undefined
  readonly eventLoopLagP99: number | undefined
}

/** The value of an unlabelled sample in Prometheus text format. */
export function promValue(text: string, name: string): number | undefined {
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([^\\s]+)`, 'm')
  const m = re.exec(text)
  if (m?.[1] === undefined) return undefined
  const v = Number(m[1])
  return Number.isFinite(v) ? v : undefined
}

export async function scrapeNode(baseUrl: string): Promise<NodeSample | undefined> {
  const r = await httpRequest(false, `${baseUrl}/metrics`, { timeoutMs: 5_000 })
  if ('error' in r || r.status !== 200) return undefined
  return {
    at: performance.now(),
    cpuSeconds: promValue(r.body, 'process_cpu_seconds_total'),
    rssBytes: promValue(r.body, 'process_resident_memory_bytes'),
    mempoolTxs: promValue(r.body, 'trellis_mempool_txs'),
    execSeconds: promValue(r.body, 'trellis_chain_block_execution_duration_seconds_sum'),
    execCount: promValue(r.body, 'trellis_chain_block_execution_duration_seconds_count'),
    commitSeconds: promValue(r.body, 'trellis_chain_block_commit_duration_seconds_sum'),
    commitCount: promValue(r.body, 'trellis_chain_block_commit_duration_seconds_count'),
    eventLoopLagP99: promValue(r.body, 'nodejs_eventloop_lag_p99_seconds'),
  }
}

/** Mean of a Prometheus histogram between two samples, in ms. */
export function histogramMeanMs(
  a: NodeSample | undefined,
  b: NodeSample | undefined,
  sum: 'execSeconds' | 'commitSeconds',
  count: 'execCount' | 'commitCount',
): number | null {
  const s0 = a?.[sum]
  const s1 = b?.[sum]
  const c0 = a?.[count]
  const c1 = b?.[count]
  if (s0 === undefined || s1 === undefined || c0 === undefined || c1 === undefined || c1 <= c0) return null
  return ((s1 - s0) / (c1 - c0)) * 1000
}

/** Cumulative CPU time of the whole machine (Linux /proc/stat, in clock ticks); undefined elsewhere. */
export interface MachineCpu {
  readonly busy: number
  readonly total: number
}

export function readMachineCpu(): MachineCpu | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    if (f.length < 4 || f.some((v) => !Number.isFinite(v))) return undefined
    // user nice system idle iowait irq softirq steal (guest time is already inside user/nice).
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0)
    const idle = (f[3] ?? 0) + (f[4] ?? 0)
    return { busy: total - idle, total }
  } catch {
    return undefined
  }
}

/** CPU seconds of a local process: its main thread and all its threads (Linux /proc); undefined elsewhere. */
export interface ProcessCpu {
  readonly mainSeconds: number
  readonly allSeconds: number
}

// Clock ticks per second of /proc's utime/stime (USER_HZ, 100 on Linux).
const USER_HZ = 100

function statTicks(path: string): number | undefined {
  const text = readFileSync(path, 'utf8')
  // Fields after the command name, which is in parentheses and may contain spaces.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const utime = Number(f[11])
  const stime = Number(f[12])
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : undefined
}

export function readProcessCpu(pid: number): ProcessCpu | undefined {
  try {
    const main = statTicks(`/proc/${pid}/task/${pid}/stat`)
    const all = statTicks(`/proc/${pid}/stat`)
    return main === undefined || all === undefined ? undefined : { mainSeconds: main / USER_HZ, allSeconds: all / USER_HZ }
  } catch {
    return undefined
  }
}

/** Cores the whole machine kept busy between two readings. */
export function machineCoresBusy(a: MachineCpu | undefined, b: MachineCpu | undefined): number | null {
  if (a === undefined || b === undefined || b.total <= a.total) return null
  return ((b.busy - a.busy) / (b.total - a.total)) * cpus().length
}
