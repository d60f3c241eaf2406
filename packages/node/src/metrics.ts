import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/** The node's Prometheus metrics (`trellis_<subsystem>_<name>_<unit>`), served at /metrics. */
export class NodeMetrics {
  readonly registry = new Registry()
  private readonly height: Gauge
  private readonly txsCommitted: Counter
  private readonly blocks: Counter
  private readonly blockTxs: Histogram
  private readonly execSeconds: Histogram
  private readonly commitSeconds: Histogram
  private readonly txsRejected: Counter<'code'>
  private readonly txsAccepted: Counter
  private readonly consensusMessagesRejected: Counter<'reason'>
  private readonly consensusEvidenceTotal: Counter

  /** Certificates whose expiry is exported, refreshed by the node (a CA of a member, a recent signer). */
  private certificates: ReadonlyArray<{ kind: string; org: string; commonName: string; serial: string; notAfter: number }> = []

  constructor(mempool: () => { txs: number; bytes: number }) {
    collectDefaultMetrics({ register: this.registry })
    const registers = [this.registry]
    const certs = () => this.certificates
    new Gauge({
      name: 'trellis_certificate_expiry_timestamp_seconds',
      help: 'When a certificate expires (Unix seconds): CA certificates of member organisations and certificates of recent signers',
      labelNames: ['kind', 'org', 'cn', 'serial'],
      registers,
      collect() {
        this.reset()
        for (const c of certs()) this.set({ kind: c.kind, org: c.org, cn: c.commonName, serial: c.serial }, Math.floor(c.notAfter / 1000))
      },
    })
    this.height = new Gauge({ name: 'trellis_chain_height', help: 'Height of the last committed block', registers })
    this.blocks = new Counter({ name: 'trellis_chain_blocks_total', help: 'Blocks committed since start', registers })
    this.txsCommitted = new Counter({ name: 'trellis_chain_txs_committed_total', help: 'Transactions committed since start', registers })
    this.blockTxs = new Histogram({
      name: 'trellis_chain_block_txs',
      help: 'Transactions per committed block',
      buckets: [0, 1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000],
      registers,
    })
    this.execSeconds = new Histogram({
      name: 'trellis_chain_block_execution_duration_seconds',
      help: 'Time to build and execute a block (roots included)',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    })
    this.commitSeconds = new Histogram({
      name: 'trellis_chain_block_commit_duration_seconds',
      help: 'Time to write a block atomically to storage',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    })
    this.txsAccepted = new Counter({ name: 'trellis_api_txs_accepted_total', help: 'Transactions admitted to the mempool', registers })
    this.consensusMessagesRejected = new Counter({
      name: 'trellis_consensus_messages_rejected_total',
      help: 'Consensus messages not used (bad signature, unknown validator, wrong height or round, malformed…), by reason',
      labelNames: ['reason'],
      registers,
    })
    this.consensusEvidenceTotal = new Counter({
      name: 'trellis_consensus_evidence_total',
      help: 'Duplicate votes detected (two different signed votes for one height, round and type)',
      registers,
    })
    this.txsRejected = new Counter({
      name: 'trellis_api_txs_rejected_total',
      help: 'Transactions rejected at admission, by code',
      labelNames: ['code'],
      registers,
    })
    new Gauge({
      name: 'trellis_mempool_txs',
      help: 'Pending transactions',
      registers,
      collect() {
        this.set(mempool().txs)
      },
    })
    new Gauge({
      name: 'trellis_mempool_bytes',
      help: 'Bytes of pending transactions',
      registers,
      collect() {
        this.set(mempool().bytes)
      },
    })
  }

  setCertificates(list: ReadonlyArray<{ kind: string; org: string; commonName: string; serial: string; notAfter: number }>): void {
    this.certificates = list
  }

  setHeight(h: number): void {
    this.height.set(h)
  }

  blockCommitted(txs: number, execSeconds: number, commitSeconds: number): void {
    this.blocks.inc()
    this.txsCommitted.inc(txs)
    this.blockTxs.observe(txs)
    this.execSeconds.observe(execSeconds)
    this.commitSeconds.observe(commitSeconds)
  }

  txAccepted(n = 1): void {
    this.txsAccepted.inc(n)
  }

  txRejected(code: string): void {
    this.txsRejected.inc({ code })
  }

  /** Reasons are a small fixed vocabulary; free-form details (heights, rounds) go to the log only. */
  consensusRejected(reason: string): void {
    this.consensusMessagesRejected.inc({ reason: reason.replace(/\d+/g, 'N').slice(0, 60) })
  }

  consensusEvidence(): void {
    this.consensusEvidenceTotal.inc()
  }
}
