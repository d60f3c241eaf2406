import { randomBytes } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { generateKeyPair } from '@trellis/crypto'

/** One signing client: raw P-256 key bytes (plain data, so it can cross to a worker). */
export interface SignerKey {
  readonly privateKey: Uint8Array
  readonly publicKey: Uint8Array
}

export interface WorkerInit {
  readonly type: 'init'
  readonly chainId: string
  readonly runId: string
  readonly keys: readonly SignerKey[]
}

export interface SignJob {
  readonly type: 'sign'
  readonly jobId: number
  readonly from: number
  readonly count: number
  readonly expiresAt: number
}

export interface SignResult {
  readonly jobId: number
  readonly from: number
  readonly count: number
  /** Wire bytes of `count` txs, back to back. */
  readonly bytes: Uint8Array
  /** `count + 1` offsets into `bytes`. */
  readonly offsets: Uint32Array
  /** `count` 32-byte tx ids, back to back. */
  readonly ids: Uint8Array
}

/** A signed tx ready to submit. */
export interface PreparedTx {
  readonly seq: number
  readonly b64: string
  readonly idHex: string
}

export interface WorkloadOptions {
  readonly chainId: string
  readonly signers: number
  readonly threads: number
  /** Txs per signing job. */
  readonly chunk?: number
  /** Validity of each tx from the moment it is signed. */
  readonly ttlMs: number
}

/**
 * The stream of notary `record` txs a run submits: seq i is signed by signer i mod N with nonce
 * floor(i / N). Signing happens in worker threads, either all up front (`presign`) or on demand
 * (`setLive`), and the two combine: a pre-signed pool that runs dry tops itself up live.
 */
export class Workload {
  readonly runId = randomBytes(16).toString('hex')
  readonly threads: number
  private readonly chunk: number
  private readonly workers: Worker[] = []
  private readonly done = new Map<number, SignResult>()
  private readonly waiters = new Map<number, (r: SignResult) => void>()
  private ready: SignResult[] = []
  private cur: SignResult | undefined
  private curIndex = 0
  private nextReadyFrom = 0
  private nextSeq = 0
  private nextJobId = 0
  private inFlightTxs = 0
  private inFlightJobs = 0
  private readyTxs = 0
  private live = false
  private lowWater = 0
  private rr = 0
  private failure: Error | undefined
  /** Txs signed by jobs dispatched while the run was live (not pre-signed). */
  liveSigned = 0

  private constructor(
    private readonly o: WorkloadOptions,
    keys: SignerKey[],
  ) {
    this.threads = Math.max(1, o.threads)
    this.chunk = o.chunk ?? 1000
    const init: WorkerInit = { type: 'init', chainId: o.chainId, runId: this.runId, keys }
    for (let i = 0; i < this.threads; i++) {
      const w = new Worker(new URL('./signWorker.js', import.meta.url))
      w.on('message', (r: SignResult) => this.onResult(r))
      w.on('error', (err) => {
        this.failure = err
      })
      w.postMessage(init)
      this.workers.push(w)
    }
  }

  /** Generates `signers` fresh P-256 keys and starts the signing threads. */
  static create(o: WorkloadOptions): Workload {
    const keys: SignerKey[] = []
    for (let i = 0; i < o.signers; i++) {
      const kp = generateKeyPair('p256')
      keys.push({ privateKey: kp.privateKey.bytes, publicKey: kp.publicKey.bytes })
    }
    return new Workload(o, keys)
  }

  get error(): Error | undefined {
    return this.failure
  }

  /** Txs signed and not yet taken. */
  available(): number {
    return this.readyTxs
  }

  private dispatch(count: number): number {
    const jobId = this.nextJobId++
    const job: SignJob = { type: 'sign', jobId, from: this.nextSeq, count, expiresAt: Date.now() + this.o.ttlMs }
    this.nextSeq += count
    this.inFlightTxs += count
    this.inFlightJobs++
    if (this.live) this.liveSigned += count
    const w = this.workers[this.rr++ % this.workers.length] as Worker
    w.postMessage(job)
    return jobId
  }

  private onResult(r: SignResult): void {
    this.inFlightTxs -= r.count
    this.inFlightJobs--
    this.done.set(r.from, r)
    // Chunks finish out of order across threads; hand them out in seq order.
    for (let next = this.done.get(this.nextReadyFrom); next !== undefined; next = this.done.get(this.nextReadyFrom)) {
      this.done.delete(next.from)
      this.ready.push(next)
      this.readyTxs += next.count
      this.nextReadyFrom += next.count
    }
    const waiter = this.waiters.get(r.jobId)
    if (waiter !== undefined) {
      this.waiters.delete(r.jobId)
      waiter(r)
    }
    this.refill()
  }

  /** Signs `total` txs now and resolves when all are ready. */
  async presign(total: number, onProgress?: (signed: number) => void): Promise<void> {
    const jobs: Promise<SignResult>[] = []
    let signed = 0
    for (let left = total; left > 0;) {
      const n = Math.min(this.chunk * 5, left)
      left -= n
      const jobId = this.dispatch(n)
      jobs.push(
        new Promise<SignResult>((resolve) => {
          this.waiters.set(jobId, (r) => {
            signed += r.count
            onProgress?.(signed)
            resolve(r)
          })
        }),
      )
    }
    const failed = new Promise<never>((_, reject) => {
      const t = setInterval(() => {
        if (this.failure !== undefined) {
          clearInterval(t)
          reject(this.failure)
        }
      }, 100)
      void Promise.all(jobs).finally(() => clearInterval(t))
    })
    await Promise.race([Promise.all(jobs), failed])
  }

  /**
   * From now on, keep at least `lowWater` txs signed ahead of what has been taken (signing in the
   * worker threads while the run goes on).
   */
  setLive(lowWater: number): void {
    this.live = true
    this.lowWater = lowWater
    this.refill()
  }

  private refill(): void {
    if (!this.live || this.failure !== undefined) return
    while (this.readyTxs + this.inFlightTxs < this.lowWater && this.inFlightJobs < this.threads * 2) this.dispatch(this.chunk)
  }

  /** Up to `n` txs, in seq order. */
  take(n: number): PreparedTx[] {
    const out: PreparedTx[] = []
    while (out.length < n) {
      if (this.cur === undefined || this.curIndex >= this.cur.count) {
        const next = this.ready.shift()
        if (next === undefined) break
        this.cur = next
        this.curIndex = 0
      }
      const c = this.cur
      const i = this.curIndex++
      const start = c.offsets[i] as number
      const end = c.offsets[i + 1] as number
      out.push({
        seq: c.from + i,
        b64: Buffer.from(c.bytes.buffer, c.bytes.byteOffset + start, end - start).toString('base64'),
        idHex: Buffer.from(c.ids.buffer, c.ids.byteOffset + 32 * i, 32).toString('hex'),
      })
    }
    this.readyTxs -= out.length
    if (this.cur !== undefined && this.curIndex >= this.cur.count) this.cur = undefined
    this.refill()
    return out
  }

  /** Drops the signed txs still held (frees memory once the run is over). */
  discard(): void {
    this.ready = []
    this.cur = undefined
    this.readyTxs = 0
  }

  async close(): Promise<void> {
    this.live = false
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}
