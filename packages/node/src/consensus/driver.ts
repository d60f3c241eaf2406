import {
  type Input,
  proposerIndex,
  type Output,
  type Proposal,
  type SignedVote,
  type Step,
  Tendermint,
  type TimeoutConfig,
  VoteKind,
} from '@trellis/consensus'
import { type PrivateKey, type PublicKey, verify } from '@trellis/crypto'
import {
  type Block,
  type ChainParams,
  type CommitCertificate,
  decodeBlock,
  encodeBlock,
  headerHash,
  proposalSignBytes,
  Reader,
  type SignedTx,
  validateTxStatic,
  verifyCertificate,
  VoteType,
  voteSignBytes,
  Writer,
} from '@trellis/ledger'
import type { P2PNetwork } from '@trellis/p2p'
import { bytesToHex } from '@trellis/utils'
import type { Logger } from 'pino'
import { type BuiltBlock, buildBlock, dropCommitted, rebuildBlock, TX_TIME_LIMIT_MS, BLOCK_TIME_LIMIT_MS } from '../chain/blockBuilder.js'
import type { ChainStore } from '../chain/chainStore.js'
import { PREFIX } from '../chain/layout.js'
import type { Executor } from '../executor/types.js'
import type { Mempool } from '../mempool/mempool.js'
import type { NodeMetrics } from '../metrics.js'
import type { CommittedBlock } from '../producer/blockProducer.js'
import type { SigVerifier } from '../verify/sigVerifier.js'
import { changesSchedule, type ValidatorSchedule } from './schedule.js'
import { GuardedSigner, SignStep } from './signer.js'
import {
  decodeWire,
  encodeProposalMsg,
  encodeStatusMsg,
  encodeSyncBlocks,
  encodeSyncRequest,
  encodeTxsMsg,
  encodeVoteMsg,
  MAX_SYNC_BATCH,
  MsgTag,
  type WireMessage,
} from './wire.js'

export interface ConsensusDriverOptions {
  readonly timeouts: TimeoutConfig
  /** Shortest wait from the start of a height before proposing, unless a full block is waiting. */
  readonly blockIntervalMs: number
  /** Longest wait for txs before proposing an empty block (an idle chain makes one block per this). */
  readonly emptyBlockIntervalMs: number
  readonly targetBlockTxs: number
  /** Re-gossip of this node's messages of the current height, and of its head height. */
  readonly gossipIntervalMs: number
  /** A proposal may carry a timestamp at most this far ahead of this node's clock. */
  readonly maxClockDriftMs: number
  readonly syncWrites: boolean
}

export const defaultConsensusDriverOptions: ConsensusDriverOptions = {
  timeouts: { proposeMs: 3000, proposeDeltaMs: 500, prevoteMs: 1000, prevoteDeltaMs: 500, precommitMs: 1000, precommitDeltaMs: 500 },
  blockIntervalMs: 200,
  emptyBlockIntervalMs: 1000,
  targetBlockTxs: 2000,
  gossipIntervalMs: 500,
  maxClockDriftMs: 10_000,
  syncWrites: true,
}

export interface ConsensusDriverModules {
  readonly chain: ChainStore
  readonly mempool: Mempool
  readonly executor: Executor
  readonly verifier: SigVerifier
  readonly p2p: P2PNetwork
  readonly params: ChainParams
  /** Which validators decide which height (governance changes it). */
  readonly schedule: ValidatorSchedule
  /** This node's validator key (it validates at the heights whose set includes it). */
  readonly validatorKey: PrivateKey | undefined
  readonly clock: () => number
  readonly logger: Logger
  readonly metrics: NodeMetrics | null
  readonly onCommit: (b: CommittedBlock) => void
  /** Admits txs gossiped by a peer (the node's normal admission path). */
  readonly admit: (raw: Uint8Array[]) => Promise<void>
}

/**
 * Runs Tendermint for this node: feeds the pure state machine with authenticated peer messages and
 * timeouts, carries out its outputs (build and re-execute blocks, log and sign votes through the
 * write-ahead log, broadcast, commit decisions with their certificates), gossips, and syncs blocks
 * from peers when behind. See docs/adr/0008 for the machine and 0009 for this driver.
 */
export class ConsensusDriver {
  private machine: Tendermint
  private readonly signer: GuardedSigner | undefined
  private running = false
  private readonly timers = new Set<NodeJS.Timeout>()
  private gossipTimer: NodeJS.Timeout | undefined
  /** Blocks of the current height this node built or re-executed, by hash hex. */
  private blocks = new Map<string, { built: BuiltBlock; bytes: Uint8Array; reaped: SignedTx[] }>()
  private validating = new Set<string>()
  /** Blocks of this height found invalid (by hash), so a re-sent one is not re-executed. */
  private invalid = new Set<string>()
  /** Distinct blocks seen per round of this height (bounded). */
  private roundBlocks = new Map<number, Set<string>>()
  /** Votes already verified at this height (skips re-verifying re-gossip), bounded. */
  private seenVotes = new Set<string>()
  /** Proposals being re-executed, by "height/round": their round's propose timeout waits for them. */
  private readonly checkingRound = new Map<string, Promise<void>>()
  /** Proposals for a later height than the one being decided, validated once it starts. */
  private later: Array<{ peer: string; msg: Extract<WireMessage, { tag: 1 }> }> = []
  /** This node's own signed messages of the current height, re-gossiped until the height ends. */
  private own: Uint8Array[] = []
  private lastProposalMsg: Uint8Array | undefined
  private readonly peerHeights = new Map<string, number>()
  private syncing: { peer: string; until: number } | undefined
  /** Peers that did not answer a sync request, until when they are not asked again. */
  private readonly demoted = new Map<string, number>()
  /** Serialises commits (decisions and synced blocks). */
  private commitChain: Promise<void> = Promise.resolve()
  private txOutbox: Uint8Array[] = []
  private txTimer: NodeJS.Timeout | undefined
  private heightStartedAt = 0
  /** A proposal waiting for txs: the round it is for. */
  private proposeWait: { readonly timer: NodeJS.Timeout; readonly height: number; readonly round: number } | undefined

  constructor(
    private readonly o: ConsensusDriverOptions,
    private readonly m: ConsensusDriverModules,
  ) {
    const first = m.schedule.at(m.chain.head.height + 1)
    this.machine = new Tendermint(first.powers, first.self, o.timeouts)
    this.signer = m.validatorKey === undefined ? undefined : GuardedSigner.open(m.chain.store, m.validatorKey)
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.m.p2p.onMessage((peer, payload) => this.onPeerMessage(peer, payload))
    this.m.p2p.onPeer((peer, up) => {
      if (up) this.m.p2p.send(peer, encodeStatusMsg(this.m.chain.head.height))
      else this.peerHeights.delete(peer)
    })
    const height = this.m.chain.head.height + 1
    const restored = this.signer?.restored
    this.beginHeight(height, restored !== undefined && restored.height === height ? restored : undefined)
    // The last vote logged before a restart may never have left the process: sign it again (the same
    // vote, which the signer allows) and send it, so a network at exactly 2f+1 is not left one short.
    const last = this.signer?.lastSigned
    if (last !== undefined && last.height === height && last.step !== SignStep.Proposal) {
      void this.castVote(last.step === SignStep.Prevote ? VoteKind.Prevote : VoteKind.Precommit, last.height, last.round, last.value)
    }
    this.gossipTimer = setInterval(() => this.gossip(), this.o.gossipIntervalMs)
    this.gossipTimer.unref()
  }

  async stop(): Promise<void> {
    this.running = false
    clearInterval(this.gossipTimer)
    clearTimeout(this.txTimer)
    this.cancelProposeWait()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    await this.commitChain.catch(() => undefined)
  }

  /** Wakes a proposer waiting for txs. */
  notify(): void {
    if (this.proposeWait !== undefined && this.m.mempool.size >= this.o.targetBlockTxs) this.proposeNow()
  }

  /** Queues txs admitted through this node's API for gossip to the other nodes (batched). */
  gossipTxs(raw: readonly Uint8Array[]): void {
    if (!this.running || raw.length === 0) return
    this.txOutbox.push(...raw)
    this.txTimer ??= setTimeout(() => {
      this.txTimer = undefined
      const batch = this.txOutbox
      this.txOutbox = []
      for (let i = 0; i < batch.length; i += 2000) this.m.p2p.broadcast(encodeTxsMsg(batch.slice(i, i + 2000)))
    }, 20)
  }

  /** The consensus position, for status and metrics. */
  get status(): { height: number; round: number; step: Step } {
    const s = this.machine.state
    return { height: s.height, round: s.round, step: s.step }
  }

  // --- heights and machine I/O --------------------------------------------------------------------

  private beginHeight(height: number, restore?: Parameters<Tendermint['startHeight']>[2]): void {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.cancelProposeWait()
    // Txs of our own blocks that lost go back to the mempool.
    for (const b of this.blocks.values()) if (b.reaped.length > 0) this.m.mempool.release(b.reaped)
    this.blocks = new Map()
    this.validating = new Set()
    this.invalid = new Set()
    this.roundBlocks = new Map()
    this.seenVotes = new Set()
    this.own = []
    this.lastProposalMsg = undefined
    this.heightStartedAt = this.m.clock()
    const vs = this.m.schedule.at(height)
    this.act(this.machine.startHeight(height, vs.powers, restore, { index: vs.self, timeouts: this.timeoutsAt(height) }))
    const waiting = this.later.filter((l) => l.msg.proposal.height >= height)
    this.later = []
    for (const l of waiting) this.onProposalMsg(l.peer, l.msg)
  }

  private feed(input: Input): void {
    if (!this.running) return
    this.act(this.machine.handle(input))
  }

  private act(outputs: readonly Output[]): void {
    for (const out of outputs) {
      switch (out.kind) {
        case 'getValue':
          this.scheduleProposal(out.height, out.round)
          break
        case 'propose':
          void this.propose(out.height, out.round, out.polRound, out.blockHash)
          break
        case 'vote':
          void this.castVote(out.type, out.height, out.round, out.blockHash)
          break
        case 'scheduleTimeout': {
          const t = setTimeout(() => {
            this.timers.delete(t)
            const fire = () => this.feed({ kind: 'timeout', step: out.step, height: out.height, round: out.round })
            // timeoutPropose is for a proposal that did not arrive. One that arrived and is being
            // re-executed is not late: fire only once its check is done (it is then fed first), so a
            // busy validator does not prevote nil for a good block it simply has not finished checking.
            const checking = out.step === 'propose' ? this.checkingRound.get(`${out.height}/${out.round}`) : undefined
            if (checking === undefined) fire()
            else void checking.finally(fire)
          }, out.delayMs)
          this.timers.add(t)
          break
        }
        case 'decide':
          this.commitDecision(out.height, out.round, out.blockHash, out.precommits)
          break
        case 'evidence':
          void this.recordEvidence(out.first, out.second)
          break
        case 'rejected':
          this.m.logger.debug({ reason: out.reason, from: out.from }, 'consensus message not used')
          this.m.metrics?.consensusRejected(out.reason)
          break
      }
    }
  }

  /** getValue(): waits for a block's worth of txs (bounded), then builds and proposes. */
  private scheduleProposal(height: number, round: number): void {
    const since = this.m.clock() - this.heightStartedAt
    const enough = this.m.mempool.size >= this.o.targetBlockTxs
    const wait = enough ? 0 : this.m.mempool.size > 0 ? this.o.blockIntervalMs - since : this.o.emptyBlockIntervalMs - since
    this.cancelProposeWait()
    if (wait <= 0 || round > 0) void this.buildValue(height, round)
    else this.proposeWait = { timer: setTimeout(() => this.proposeNow(), wait), height, round }
  }

  /** Builds the awaited proposal now (its wait ended, or a full block is waiting). */
  private proposeNow(): void {
    const w = this.proposeWait
    this.cancelProposeWait()
    if (w !== undefined) void this.buildValue(w.height, w.round)
  }

  private cancelProposeWait(): void {
    clearTimeout(this.proposeWait?.timer)
    this.proposeWait = undefined
  }

  private async buildValue(height: number, round: number): Promise<void> {
    const { chain, mempool } = this.m
    const head = chain.head
    const params = this.m.schedule.paramsAt(height)
    if (!this.running || head.height + 1 !== height) return
    const timestamp = Math.max(this.m.clock(), head.timestamp + 1)
    const reaped = mempool.reap(Math.min(this.o.targetBlockTxs, params.maxBlockTxs), params.maxBlockBytes, timestamp)
    const txs = dropCommitted(chain, reaped)
    const vs = this.m.schedule.at(height)
    if (vs.self === undefined) {
      mempool.release(reaped)
      return
    }
    const built = await buildBlock({
      chain,
      executor: this.m.executor,
      parent: head,
      state: chain,
      txs,
      timestamp,
      proposer: vs.keys[vs.self] as PublicKey,
      validatorSetHash: vs.hash,
      trimToGas: true,
      txTimeLimitMs: TX_TIME_LIMIT_MS.produce,
      blockTimeLimitMs: BLOCK_TIME_LIMIT_MS,
    })
    this.dropExcluded(built.excluded)
    // Txs the block's gas could not cover wait for the next block.
    const included = new Set(built.block.txs.map((t) => bytesToHex(t.id)))
    const waiting = txs.filter((t) => !included.has(bytesToHex(t.id)) && !built.excluded.includes(t))
    if (waiting.length > 0) mempool.release(waiting)
    // The block settles what it reaped but the released txs (they may be reaped again meanwhile).
    const settled = waiting.length === 0 ? reaped : reaped.filter((t) => !waiting.includes(t) && !built.excluded.includes(t))
    if (chain.head.height + 1 !== height) {
      mempool.release(settled)
      return
    }
    this.blocks.set(bytesToHex(built.hash), { built, bytes: encodeBlock(built.block), reaped: settled })
    this.feed({ kind: 'value', height, round, blockHash: built.hash })
  }

  private async propose(height: number, round: number, polRound: number, blockHash: Uint8Array): Promise<void> {
    const entry = this.blocks.get(bytesToHex(blockHash))
    const signer = this.signer
    if (entry === undefined || signer === undefined) {
      this.m.logger.warn({ height, round }, 'cannot propose: the block body is not held (restarted mid-height); the round will time out')
      return this.cannotPropose(height, round)
    }
    const chainId = this.m.chain.genesis.chainId
    const signature = await signer.sign(
      { height, round, step: SignStep.Proposal, value: blockHash },
      proposalSignBytes({ chainId, height, round, polRound, blockHash }),
      this.machine.state,
    )
    if (signature === undefined) {
      this.m.logger.warn({ height, round }, 'refused to sign a second proposal for this round (restart); the round will time out')
      return this.cannotPropose(height, round)
    }
    const proposal: Proposal = { height, round, polRound, blockHash, proposer: this.m.schedule.at(height).self as number, signature }
    const polka = polRound >= 0 ? this.machine.polka(polRound, blockHash) : []
    const msg = encodeProposalMsg(proposal, entry.bytes, polka)
    this.lastProposalMsg = msg
    this.m.p2p.broadcast(msg)
    this.feed({ kind: 'proposal', proposal, valid: true })
  }

  /**
   * The paper's proposer never waits for timeoutPropose because it always proposes; when this node
   * cannot (after a restart it no longer holds the block it signed), it lets the round time out like
   * the others, so that its nil prevote completes the quorum that moves everyone on.
   */
  private cannotPropose(height: number, round: number): void {
    const t = setTimeout(
      () => {
        this.timers.delete(t)
        this.feed({ kind: 'timeout', step: 'propose', height, round })
      },
      this.timeoutsAt(height).proposeMs + round * this.timeoutsAt(height).proposeDeltaMs,
    )
    this.timers.add(t)
  }

  /** The round timeouts of a height: governance's, else this node's configuration. */
  private timeoutsAt(height: number): TimeoutConfig {
    return this.m.schedule.timeoutsAt(height) ?? this.o.timeouts
  }

  private async castVote(type: VoteKind, height: number, round: number, blockHash: Uint8Array | null): Promise<void> {
    const signer = this.signer
    if (signer === undefined) return
    const chainId = this.m.chain.genesis.chainId
    const signature = await signer.sign(
      { height, round, step: type === VoteKind.Prevote ? SignStep.Prevote : SignStep.Precommit, value: blockHash },
      voteMessage(chainId, type, height, round, blockHash),
      this.machine.state,
    )
    if (signature === undefined) {
      this.m.logger.warn({ height, round, type }, 'refused to sign a vote contradicting an earlier one (restart)')
      return
    }
    const vote: SignedVote = { type, height, round, blockHash, validator: this.m.schedule.at(height).self as number, signature }
    const msg = encodeVoteMsg(vote)
    this.own.push(msg)
    this.m.p2p.broadcast(msg)
    this.feed({ kind: 'vote', vote })
  }

  // --- commits ------------------------------------------------------------------------------------

  private commitDecision(height: number, round: number, blockHash: Uint8Array, precommits: readonly SignedVote[]): void {
    const certificate: CommitCertificate = {
      height,
      round,
      blockHash,
      signatures: precommits.map((v) => ({ validatorIndex: v.validator, signature: v.signature })),
    }
    const entry = this.blocks.get(bytesToHex(blockHash))
    this.commitChain = this.commitChain.then(async () => {
      if (this.m.chain.head.height + 1 !== height) return
      if (entry === undefined) {
        // Decided by a synced certificate for a block this node has not re-executed: sync fetches it.
        this.requestSync()
        return
      }
      await this.commitBuilt(entry.built, certificate, entry.reaped)
      this.beginHeight(height + 1)
    })
    this.commitChain.catch((err) => this.fatal(err))
  }

  private async commitBuilt(built: BuiltBlock, certificate: CommitCertificate, reaped: readonly SignedTx[]): Promise<void> {
    const { chain, mempool } = this.m
    const started = performance.now()
    await chain.commit(
      {
        block: built.block,
        hash: built.hash,
        certificate,
        receiptBytes: built.exec.receiptBytes,
        writes: built.exec.writes,
        treeWrites: built.treeWrites,
        treeStale: built.treeStale,
        setKeyHashes: built.setKeyHashes,
      },
      { sync: this.o.syncWrites },
    )
    mempool.committed(reaped)
    mempool.removeIncluded(built.block.txs)
    // A validator or parameter change decided in this block takes effect two heights later: learn it now.
    if (built.exec.writes.some((w) => changesSchedule(w.stateKey))) await this.m.schedule.refresh(chain)
    this.m.metrics?.blockCommitted(built.block.txs.length, 0, (performance.now() - started) / 1000)
    this.m.onCommit({ block: built.block, hash: built.hash, certificate, receipts: built.exec.receipts })
    // The others learn our new height at once (a lagging peer starts syncing).
    this.m.p2p.broadcast(encodeStatusMsg(chain.head.height))
  }

  private fatal(err: unknown): void {
    this.m.logger.fatal({ err }, 'consensus stopped: a block could not be committed')
    this.running = false
  }

  // --- peers --------------------------------------------------------------------------------------

  private onPeerMessage(peer: string, payload: Uint8Array): void {
    if (!this.running) return
    // Blocks are only taken from the peer they were asked of (before decoding them: that is costly).
    if (payload[0] === MsgTag.SyncBlocks && this.syncing?.peer !== peer) return
    let msg: WireMessage
    try {
      msg = decodeWire(payload, this.m.params.maxBlockBytes)
    } catch (err) {
      this.rejected('malformed', { peer, detail: (err as Error).message }, 'malformed message from peer dropped')
      return
    }
    switch (msg.tag) {
      case MsgTag.Proposal:
        return this.onProposalMsg(peer, msg)
      case MsgTag.Vote:
        return this.onVoteMsg(peer, msg.vote)
      case MsgTag.Txs:
        void this.m.admit([...msg.txs]).catch(() => undefined)
        return
      case MsgTag.Status:
        this.peerHeights.set(peer, msg.height)
        if (msg.height > this.m.chain.head.height) this.requestSync()
        return
      case MsgTag.SyncRequest:
        return this.serveSync(peer, msg.from, msg.count)
      case MsgTag.SyncBlocks:
        this.syncing = undefined
        this.commitChain = this.commitChain.then(() => this.applySynced(peer, msg.blocks))
        this.commitChain.catch((err) => this.fatal(err))
        return
    }
  }

  private readonly rejectLog = new Map<string, { windowStart: number; count: number }>()

  /** Logs a rejected peer message — at most 10 lines per reason per second; the metric counts all. */
  private rejected(reason: string, fields: Record<string, unknown>, msg: string): void {
    this.m.metrics?.consensusRejected(reason)
    const now = Date.now()
    const e = this.rejectLog.get(reason) ?? { windowStart: now, count: 0 }
    if (now - e.windowStart > 1000) {
      if (e.count > 10) this.m.logger.warn({ reason, suppressed: e.count - 10 }, 'more peer messages rejected for this reason')
      e.windowStart = now
      e.count = 0
    }
    if (++e.count <= 10) this.m.logger.warn({ ...fields, reason }, msg)
    this.rejectLog.set(reason, e)
  }

  private verifyVote(v: SignedVote): string | undefined {
    const key = this.m.schedule.at(v.height).keys[v.validator]
    if (key === undefined) return 'unknown validator'
    const message = voteMessage(this.m.chain.genesis.chainId, v.type, v.height, v.round, v.blockHash)
    return verify(key, message, v.signature) ? undefined : 'bad signature'
  }

  private onVoteMsg(peer: string, vote: SignedVote): void {
    const head = this.m.chain.head.height
    // Old or far-ahead heights and re-gossiped duplicates are dropped before any signature check.
    if (vote.height <= head) return
    if (vote.height > head + 2)
      return this.rejected('height too far ahead', { peer, height: vote.height, validator: vote.validator }, 'consensus vote rejected')
    const id = `${vote.type}/${vote.height}/${vote.round}/${vote.validator}/${vote.blockHash === null ? 'nil' : bytesToHex(vote.blockHash)}`
    if (this.seenVotes.has(id)) return
    const reason = this.verifyVote(vote)
    if (reason !== undefined) {
      this.rejected(reason, { peer, height: vote.height, round: vote.round, validator: vote.validator }, 'consensus vote rejected')
      return
    }
    if (this.seenVotes.size >= 20_000) this.seenVotes.clear()
    this.seenVotes.add(id)
    this.feed({ kind: 'vote', vote })
  }

  private onProposalMsg(peer: string, msg: Extract<WireMessage, { tag: 1 }>): void {
    const p = msg.proposal
    const vs = this.m.schedule.at(p.height)
    const key = vs.keys[p.proposer]
    const chainId = this.m.chain.genesis.chainId
    const reject = (reason: string) => this.rejected(reason, { peer, height: p.height, round: p.round }, 'proposal rejected')
    const head = this.m.chain.head.height
    if (p.height <= head) return
    if (key === undefined) return reject('unknown proposer')
    // Cheap checks first — the signature next, and re-execution only for a new block of a round the
    // machine will use, from that round's proposer, at most two blocks per round (a correct proposer
    // sends one; a second is equivocation and still bounded).
    if (p.proposer !== proposerIndex(vs.powers, p.height, p.round)) return reject('not the proposer of this round')
    if (p.height === head + 1 && p.round > this.machine.state.round + 1) return reject('round too far ahead')
    if (p.height > head + 2) return
    const hex = bytesToHex(p.blockHash)
    if (this.validating.has(hex)) return
    if (!verify(key, proposalSignBytes({ chainId, ...p }), p.signature)) return reject('bad signature')
    if (p.height === head + 1 && (this.blocks.has(hex) || this.invalid.has(hex))) {
      for (const v of msg.polka) this.onVoteMsg(peer, v)
      return this.feed({ kind: 'proposal', proposal: p, valid: this.blocks.has(hex) })
    }
    if (p.height === head + 2) {
      // Kept until the next height starts; one per (round, block), at most 16.
      if (
        this.later.length < 16 &&
        !this.later.some((l) => l.msg.proposal.round === p.round && bytesToHex(l.msg.proposal.blockHash) === hex)
      ) {
        this.later.push({ peer, msg })
      }
      return
    }
    const perRound = this.roundBlocks.get(p.round) ?? new Set<string>()
    if (perRound.size >= 2) return reject('too many blocks proposed for one round')
    perRound.add(hex)
    this.roundBlocks.set(p.round, perRound)
    let block: Block
    try {
      block = decodeBlock(msg.blockBytes)
    } catch (err) {
      this.invalid.add(hex)
      reject(`malformed block: ${(err as Error).message}`)
      return this.feed({ kind: 'proposal', proposal: p, valid: false })
    }
    // The polka that justifies a re-proposal comes first, so line 28 can apply.
    for (const v of msg.polka) this.onVoteMsg(peer, v)
    this.validating.add(hex)
    const roundKey = `${p.height}/${p.round}`
    const checking = this.validate(block, p.blockHash)
    const settled = checking.then(
      () => undefined,
      () => undefined,
    )
    this.checkingRound.set(roundKey, settled)
    void settled.then(() => {
      if (this.checkingRound.get(roundKey) === settled) this.checkingRound.delete(roundKey)
    })
    void checking.then(
      (result) => {
        this.validating.delete(hex)
        if (this.m.chain.head.height + 1 !== p.height) return
        if ('invalid' in result) {
          this.invalid.add(hex)
          this.m.logger.warn({ peer, height: p.height, round: p.round, reason: result.invalid }, 'proposed block is invalid')
          this.feed({ kind: 'proposal', proposal: p, valid: false })
          return
        }
        this.blocks.set(hex, { built: result, bytes: msg.blockBytes, reaped: [] })
        this.feed({ kind: 'proposal', proposal: p, valid: true })
      },
      (err) => {
        this.validating.delete(hex)
        this.m.logger.error({ err, height: p.height }, 'validating a proposal failed')
      },
    )
  }

  /**
   * valid(v): the block extends our head, its txs are each well-formed, unexpired at the block's
   * time, not already committed, validly signed, and re-executing it yields exactly its header.
   */
  private async validate(block: Block, claimed: Uint8Array): Promise<BuiltBlock | { invalid: string }> {
    const { chain, mempool } = this.m
    const h = block.header
    const params = this.m.schedule.paramsAt(h.height)
    if (h.timestamp > this.m.clock() + this.o.maxClockDriftMs) return { invalid: 'timestamp is too far in the future' }
    if (block.txs.length > params.maxBlockTxs) return { invalid: 'too many txs' }
    const seen = new Set<string>()
    const unverified: SignedTx[] = []
    for (const tx of block.txs) {
      const id = bytesToHex(tx.id)
      if (seen.has(id)) return { invalid: `tx ${id} appears twice` }
      seen.add(id)
      try {
        validateTxStatic(tx, chain.genesis.chainId, params, h.timestamp)
      } catch (err) {
        return { invalid: `tx ${id}: ${(err as Error).message}` }
      }
      // Txs this node admitted itself were verified then — the same bytes, not only the same id.
      if (!mempool.holdsExactly(tx)) unverified.push(tx)
    }
    const committed = chain.committedHeights(block.txs.map((t) => t.id))
    const again = committed.findIndex((x) => x !== undefined)
    if (again >= 0) return { invalid: `tx ${bytesToHex((block.txs[again] as SignedTx).id)} is already committed` }
    const ok = await this.m.verifier.verify(unverified)
    const bad = ok.indexOf(false)
    if (bad >= 0) return { invalid: `tx ${bytesToHex((unverified[bad] as SignedTx).id)} has a bad signature` }
    const built = await this.reexecute(block, TX_TIME_LIMIT_MS.check)
    if ('invalid' in built) return built
    if (bytesToHex(built.hash) !== bytesToHex(claimed)) return { invalid: 'block hash differs from the proposal' }
    return built
  }

  /**
   * Re-executes a block on top of the committed head: a proposal's check (with a time limit per tx)
   * or a synced, certified block's (without).
   */
  private reexecute(block: Block, txTimeLimitMs?: number): Promise<BuiltBlock | { readonly invalid: string }> {
    const { chain } = this.m
    return rebuildBlock({
      chain,
      executor: this.m.executor,
      parent: chain.head,
      state: chain,
      block,
      validatorSetHash: this.m.schedule.at(block.header.height).hash,
      ...(txTimeLimitMs === undefined ? {} : { txTimeLimitMs }),
    })
  }

  /** Txs that ran past the time limit while this node built a proposal: dropped, with a warning. */
  private dropExcluded(excluded: readonly SignedTx[]): void {
    if (excluded.length === 0) return
    this.m.mempool.committed(excluded)
    for (const tx of excluded)
      this.m.logger.warn({ tx: bytesToHex(tx.id), limitMs: TX_TIME_LIMIT_MS.produce }, 'tx dropped: its execution ran past the time limit')
  }

  // --- block sync ---------------------------------------------------------------------------------

  private requestSync(): void {
    const head = this.m.chain.head.height
    const now = this.m.clock()
    if (this.syncing !== undefined && this.syncing.until > now) return
    // A random peer among those ahead, not one that recently failed to answer: a peer claiming a
    // height it cannot serve cannot capture the sync.
    const connected = new Set(this.m.p2p.connected())
    const ahead = [...this.peerHeights].filter(([peer, h]) => h > head && connected.has(peer) && (this.demoted.get(peer) ?? 0) <= now)
    if (ahead.length === 0) return
    const [peer] = ahead[Math.floor(Math.random() * ahead.length)] as [string, number]
    this.syncing = { peer, until: now + 5000 }
    this.m.p2p.send(peer, encodeSyncRequest(head + 1, MAX_SYNC_BATCH))
  }

  private serveSync(peer: string, from: number, count: number): void {
    const { chain } = this.m
    const blocks: Array<{ blockBytes: Uint8Array; certificate: CommitCertificate }> = []
    let bytes = 0
    for (let h = from; h < from + count && h <= chain.head.height; h++) {
      const block = chain.getBlock(h)
      const certificate = chain.getCertificate(h)
      if (block === undefined || certificate === undefined) break
      const blockBytes = encodeBlock(block)
      bytes += blockBytes.length
      blocks.push({ blockBytes, certificate })
      if (bytes > this.m.schedule.paramsAt(h).maxBlockBytes) break
    }
    if (blocks.length > 0) this.m.p2p.send(peer, encodeSyncBlocks(blocks))
  }

  /** Verifies each synced block's certificate against the validator set, re-executes it and commits it. */
  private async applySynced(peer: string, blocks: Extract<WireMessage, { tag: 6 }>['blocks']): Promise<void> {
    const { chain } = this.m
    let applied = 0
    for (const { block, certificate } of blocks) {
      const height = block.header.height
      if (height <= chain.head.height) continue
      if (height !== chain.head.height + 1) break
      // The certificate first (a few signatures); re-execution only for a certified block.
      try {
        verifyCertificate(certificate, chain.genesis.chainId, height, headerHash(block.header), this.m.schedule.at(height).set)
      } catch (err) {
        this.m.logger.warn({ peer, height, reason: (err as Error).message }, 'synced block certificate rejected')
        break
      }
      const result = await this.reexecute(block)
      if ('invalid' in result) {
        this.m.logger.warn(
          { peer, height, reason: result.invalid },
          'synced block rejected: re-execution differs from its certified header',
        )
        break
      }
      await this.commitBuilt(result, certificate, [])
      applied++
    }
    if (applied > 0) {
      this.m.logger.info({ peer, applied, height: chain.head.height }, 'caught up by block sync')
      this.beginHeight(chain.head.height + 1)
      if ((this.peerHeights.get(peer) ?? 0) > chain.head.height) this.requestSync()
    }
  }

  /** Recorded duplicate-vote evidence, oldest height first. */
  async listEvidence(limit: number): Promise<Array<{ first: SignedVote; second: SignedVote }>> {
    const out: Array<{ first: SignedVote; second: SignedVote }> = []
    for await (const [, v] of this.m.chain.store.iterate({
      gte: Uint8Array.of(PREFIX.evidence),
      lt: Uint8Array.of(PREFIX.evidence + 1),
      limit,
    })) {
      // Two vote messages back to back (see recordEvidence).
      const r = new Reader(v)
      const a = r.bytes()
      const b = r.bytes()
      const first = decodeWire(a, 0)
      const second = decodeWire(b, 0)
      if (first.tag === MsgTag.Vote && second.tag === MsgTag.Vote) out.push({ first: first.vote, second: second.vote })
    }
    return out
  }

  private async recordEvidence(first: SignedVote, second: SignedVote): Promise<void> {
    this.m.logger.warn(
      { validator: first.validator, height: first.height, round: first.round, type: first.type },
      'duplicate vote: evidence recorded',
    )
    this.m.metrics?.consensusEvidence()
    const key = new Uint8Array(18)
    const view = new DataView(key.buffer)
    key[0] = PREFIX.evidence
    view.setUint32(1, Math.floor(first.height / 2 ** 32))
    view.setUint32(5, first.height >>> 0)
    view.setUint32(9, first.round)
    key[13] = first.type
    view.setUint32(14, first.validator)
    await this.m.chain.store
      .write([{ type: 'put', key, value: new Writer(300).bytes(encodeVoteMsg(first)).bytes(encodeVoteMsg(second)).finish() }])
      .catch((err) => this.m.logger.error({ err }, 'could not store evidence'))
  }

  private gossip(): void {
    if (!this.running) return
    const { p2p, chain } = this.m
    p2p.broadcast(encodeStatusMsg(chain.head.height))
    if (this.lastProposalMsg !== undefined) p2p.broadcast(this.lastProposalMsg)
    for (const msg of this.own.slice(-6)) p2p.broadcast(msg)
    if (this.syncing !== undefined && this.syncing.until <= this.m.clock()) {
      this.demoted.set(this.syncing.peer, this.m.clock() + 30_000)
      this.syncing = undefined
      this.requestSync()
    }
  }
}

const ZERO32 = new Uint8Array(32)

/** The bytes a validator signs for a vote (the ledger's encoding; nil is 32 zero bytes). */
function voteMessage(chainId: string, type: VoteKind, height: number, round: number, blockHash: Uint8Array | null): Uint8Array {
  const t = type === VoteKind.Prevote ? VoteType.Prevote : VoteType.Precommit
  return voteSignBytes({ type: t, chainId, height, round, blockHash: blockHash ?? ZERO32 })
}
