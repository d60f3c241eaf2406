import type { CommittedBlock } from '../producer/blockProducer.js'

export type CommitListener = (b: CommittedBlock) => void

/** Fan-out of committed blocks to in-process subscribers (SSE streams, waiters). */
export class CommitBus {
  private readonly listeners = new Set<CommitListener>()

  subscribe(l: CommitListener): () => void {
    this.listeners.add(l)
    return () => this.listeners.delete(l)
  }

  publish(b: CommittedBlock): void {
    for (const l of this.listeners) l(b)
  }

  get size(): number {
    return this.listeners.size
  }
}
