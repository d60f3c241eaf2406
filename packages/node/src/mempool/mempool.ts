import type { SignedTx } from '@trellis/ledger'
import { bytesToHex, equalBytes, TrellisError } from '@trellis/utils'
import type { NodeErrorType } from '../errors.js'
import { byteKey } from '../byteKey.js'

export interface MempoolOptions {
  readonly maxTxs: number
  readonly maxBytes: number
  /** Pending txs one signer may have; keeps one busy client from crowding out the rest. */
  readonly maxPerSender: number
}

export const defaultMempoolOptions: MempoolOptions = { maxTxs: 200_000, maxBytes: 256 * 1024 * 1024, maxPerSender: 10_000 }

interface Entry {
  readonly tx: SignedTx
  readonly key: string
  readonly sender: string
}

/**
 * Pending transactions: deduplicated by id, bounded by count, bytes and per-sender count, reaped
 * round-robin across senders (fair), with expired txs swept out. Txs taken into a block stay known
 * ("in flight") until the block commits, so a resubmission in between is still a duplicate.
 */
export class Mempool {
  private readonly entries = new Map<string, Entry>()
  private readonly bySender = new Map<string, Entry[]>()
  private readonly inFlight = new Set<string>()
  private _bytes = 0

  constructor(private readonly options: MempoolOptions = defaultMempoolOptions) {}

  get size(): number {
    return this.entries.size
  }

  get bytes(): number {
    return this._bytes
  }

  /** True when the tx is pending or in a block being committed. */
  has(id: Uint8Array): boolean {
    const k = byteKey(id)
    return this.entries.has(k) || this.inFlight.has(k)
  }

  /**
   * True when this exact tx — same bytes, so the same signature — is pending (and so was verified at
   * admission). A tx id covers the body only: another signature on the same body is another tx here.
   */
  holdsExactly(tx: SignedTx): boolean {
    const e = this.entries.get(byteKey(tx.id))
    return e !== undefined && equalBytes(e.tx.bytes, tx.bytes)
  }

  /** @throws TrellisError TX_DUPLICATE | MEMPOOL_FULL | MEMPOOL_SENDER_LIMIT */
  add(tx: SignedTx): void {
    const key = byteKey(tx.id)
    if (this.entries.has(key) || this.inFlight.has(key)) {
      const id = bytesToHex(tx.id)
      throw new TrellisError<NodeErrorType>({ code: 'TX_DUPLICATE', id }, `transaction ${id} is already pending`)
    }
    if (this.entries.size >= this.options.maxTxs || this._bytes + tx.bytes.length > this.options.maxBytes) {
      throw new TrellisError<NodeErrorType>(
        { code: 'MEMPOOL_FULL', txs: this.entries.size, bytes: this._bytes },
        'the mempool is full; retry later',
      )
    }
    const sender = byteKey(tx.body.signer.bytes)
    let q = this.bySender.get(sender)
    if (q === undefined) {
      q = []
      this.bySender.set(sender, q)
    }
    if (q.length >= this.options.maxPerSender) {
      throw new TrellisError<NodeErrorType>(
        { code: 'MEMPOOL_SENDER_LIMIT', sender: bytesToHex(tx.body.signer.bytes), limit: this.options.maxPerSender },
        `this signer already has ${this.options.maxPerSender} pending transactions`,
      )
    }
    const e: Entry = { tx, key, sender }
    q.push(e)
    this.entries.set(key, e)
    this._bytes += tx.bytes.length
  }

  /**
   * Takes up to `maxTxs` / `maxBytes` of txs for a block, one per sender per round. Txs that expire
   * at or before `timestamp` are dropped instead.
   */
  reap(maxTxs: number, maxBytes: number, timestamp: number): SignedTx[] {
    const out: SignedTx[] = []
    let bytes = 0
    let full = false
    while (!full && out.length < maxTxs && this.bySender.size > 0) {
      for (const sender of [...this.bySender.keys()]) {
        const q = this.bySender.get(sender) as Entry[]
        const e = q.shift() as Entry
        this.bySender.delete(sender)
        if (e.tx.body.expiresAt <= timestamp) {
          this.forget(e)
        } else if (bytes + e.tx.bytes.length > maxBytes) {
          q.unshift(e)
          full = true
        } else {
          this.forget(e)
          this.inFlight.add(e.key)
          out.push(e.tx)
          bytes += e.tx.bytes.length
        }
        // Re-inserting moves the sender to the back: the next block starts with someone else.
        if (q.length > 0) this.bySender.set(sender, q)
        if (full || out.length >= maxTxs) break
      }
    }
    return out
  }

  private forget(e: Entry): void {
    this.entries.delete(e.key)
    this._bytes -= e.tx.bytes.length
  }

  /** Called once a block is durable: its txs stop being "in flight" (the chain index knows them now). */
  committed(txs: readonly SignedTx[]): void {
    for (const tx of txs) this.inFlight.delete(byteKey(tx.id))
  }

  /** Txs reaped for a block that was not committed (another proposal won): pending again. */
  release(txs: readonly SignedTx[]): void {
    for (const tx of txs) {
      if (!this.inFlight.delete(byteKey(tx.id))) continue
      try {
        this.add(tx)
      } catch {
        // Full now: the tx is dropped; its sender will see it expire uncommitted and resubmit.
      }
    }
  }

  /**
   * A block committed with txs this node may hold too (another validator proposed it): they leave
   * the pending queues and the in-flight set.
   */
  removeIncluded(txs: readonly SignedTx[]): void {
    const bySender = new Map<string, Set<string>>()
    for (const tx of txs) {
      const key = byteKey(tx.id)
      this.inFlight.delete(key)
      const e = this.entries.get(key)
      if (e === undefined) continue
      this.forget(e)
      let set = bySender.get(e.sender)
      if (set === undefined) {
        set = new Set()
        bySender.set(e.sender, set)
      }
      set.add(key)
    }
    for (const [sender, keys] of bySender) {
      const q = (this.bySender.get(sender) ?? []).filter((e) => !keys.has(e.key))
      if (q.length === 0) this.bySender.delete(sender)
      else this.bySender.set(sender, q)
    }
  }

  /** Drops every pending tx that expires at or before `now`; returns how many. */
  sweepExpired(now: number): number {
    let n = 0
    for (const [sender, q] of this.bySender) {
      const keep = q.filter((e) => {
        if (e.tx.body.expiresAt > now) return true
        this.forget(e)
        n++
        return false
      })
      if (keep.length === 0) this.bySender.delete(sender)
      else if (keep.length !== q.length) this.bySender.set(sender, keep)
    }
    return n
  }
}
