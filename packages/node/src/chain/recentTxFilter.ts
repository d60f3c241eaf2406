import { bloomAdd, bloomHas } from './bloom.js'

/**
 * Remembers the ids of recently committed txs in two rotating Bloom filters, so that the replay
 * check (a tx id is accepted once, ever) can skip the ledger index for the ids it has certainly not
 * seen. A tx can only be admitted before it expires, and its expiry is at most `windowMs` after the
 * block that committed it, so ids older than two windows never need to be answered here: their
 * replays fail the expiry check. A "maybe" is always confirmed against the ledger index.
 *
 * Tx ids are SHA-256 outputs: the probes come from their bytes (./bloom.ts).
 */
export class RecentTxFilter {
  private current: Uint32Array
  private previous: Uint32Array
  private rotatedAt: number
  private readonly mask: number

  constructor(
    private readonly windowMs: number,
    now: number,
    /** log2 of the bits per filter (2^26 bits = 8 MiB, ~1% false positives at 7M ids). */
    bitsLog2 = 26,
  ) {
    this.current = new Uint32Array(2 ** (bitsLog2 - 5))
    this.previous = new Uint32Array(2 ** (bitsLog2 - 5))
    this.mask = 2 ** bitsLog2 - 1
    this.rotatedAt = now
  }

  private rotate(now: number): void {
    if (now - this.rotatedAt < this.windowMs) return
    this.previous = this.current
    this.current = new Uint32Array(this.current.length)
    this.rotatedAt = now
  }

  add(id: Uint8Array, now: number): void {
    this.rotate(now)
    bloomAdd(this.current, this.mask, id)
  }

  /** False only when the id was certainly not added within the last window (and up to two). */
  mightContain(id: Uint8Array): boolean {
    return bloomHas(this.current, this.mask, id) || bloomHas(this.previous, this.mask, id)
  }
}
