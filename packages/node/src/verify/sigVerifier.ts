import { Worker } from 'node:worker_threads'
import { isTxSignatureValid, type SignedTx } from '@trellis/ledger'
import { packSigBatch } from './sigBatch.js'

export interface SigVerifierOptions {
  /** Worker threads; 0 verifies on the calling thread. */
  readonly workers: number
  /** Largest batch one worker gets at a time. */
  readonly chunkSize: number
  /** Nice value of the worker threads (Linux; 0 leaves them at the main thread's priority). */
  readonly niceness?: number
}

interface WorkerSlot {
  readonly worker: Worker
  pending: number
}

interface Waiting {
  readonly resolve: (ok: Uint8Array) => void
  readonly reject: (err: unknown) => void
  readonly slot: WorkerSlot
  readonly size: number
}

function workerUrl(): URL {
  const here = new URL('./sigWorker.js', import.meta.url)
  // Under the test runner the sources are .ts; the worker always runs the built JavaScript.
  if (import.meta.url.endsWith('.ts')) return new URL(here.href.replace('/src/', '/dist/'))
  return here
}

/** A pool of worker threads that verify transaction signatures in batches. */
export class SigVerifier {
  private readonly slots: WorkerSlot[] = []
  private readonly waiting = new Map<number, Waiting>()
  private nextId = 1
  private closed = false

  constructor(private readonly options: SigVerifierOptions) {
    for (let i = 0; i < options.workers; i++) {
      const worker = new Worker(workerUrl(), { workerData: { niceness: options.niceness ?? 0 } })
      const slot: WorkerSlot = { worker, pending: 0 }
      worker.on('message', (m: { id: number; ok: Uint8Array }) => {
        const w = this.waiting.get(m.id)
        if (w === undefined) return
        this.waiting.delete(m.id)
        w.slot.pending -= w.size
        w.resolve(m.ok)
      })
      worker.on('error', (err) => this.failSlot(slot, err))
      worker.on('exit', () => this.failSlot(slot, new Error('signature worker exited')))
      worker.unref()
      this.slots.push(slot)
    }
  }

  // A dead worker leaves the pool; its pending batches fail (and are retried by the caller's
  // fallback). With no workers left, verification runs on the calling thread.
  private failSlot(slot: WorkerSlot, err: unknown): void {
    const i = this.slots.indexOf(slot)
    if (i >= 0) this.slots.splice(i, 1)
    for (const [id, w] of this.waiting) {
      if (w.slot === slot) {
        this.waiting.delete(id)
        w.reject(err)
      }
    }
  }

  /** Verifies every tx's signature; result[i] is true when txs[i] is validly signed. */
  async verify(txs: readonly SignedTx[]): Promise<boolean[]> {
    if (this.slots.length === 0 || this.closed) return txs.map(isTxSignatureValid)
    const chunks: Promise<Uint8Array>[] = []
    const size = Math.max(1, Math.min(this.options.chunkSize, Math.ceil(txs.length / this.slots.length)))
    for (let i = 0; i < txs.length; i += size) chunks.push(this.dispatch(txs.slice(i, i + size)))
    let results: Uint8Array[]
    try {
      results = await Promise.all(chunks)
    } catch {
      if (this.closed) throw new Error('signature verifier closed')
      return txs.map(isTxSignatureValid)
    }
    const out: boolean[] = []
    for (const r of results) for (const b of r) out.push(b === 1)
    return out
  }

  private dispatch(txs: readonly SignedTx[]): Promise<Uint8Array> {
    let slot = this.slots[0] as WorkerSlot
    for (const s of this.slots) if (s.pending < slot.pending) slot = s
    const id = this.nextId++
    slot.pending += txs.length
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, slot, size: txs.length })
      const batch = packSigBatch(txs)
      slot.worker.postMessage({ id, count: txs.length, batch }, [batch.buffer])
    })
  }

  async close(): Promise<void> {
    this.closed = true
    const slots = this.slots.splice(0)
    await Promise.all(slots.map((s) => s.worker.terminate()))
  }
}
