/**
 * Deterministic simulation of a network of Tendermint state machines: an injected clock, a seeded
 * network that drops, delays, duplicates, reorders and partitions messages until a global
 * stabilisation time (GST), and Byzantine validators. The same seed replays the same run exactly.
 *
 * Honest nodes run the real state machine with a minimal driver: they build a block when asked,
 * broadcast what the machine outputs, schedule its timeouts, re-gossip their current-height messages
 * periodically (as the p2p layer does), and answer a peer that is a height behind with the decided
 * block's precommits (block sync, as an input of kind `commit`).
 */
import { bytesToHex } from '@trellis/utils'
import { prng } from '../../../test/support/prng.js'
import {
  type Input,
  type Output,
  type Proposal,
  proposerIndex,
  type SignedVote,
  Tendermint,
  type TimeoutConfig,
  VoteKind,
} from '../src/index.js'

export type Behaviour =
  /** Never sends anything (crashed). */
  | 'silent'
  /** As proposer, sends a different valid block to each half of the network, and votes for both. */
  | 'equivocate'
  /** As proposer, proposes a block that correct validators find invalid; votes for garbage. */
  | 'invalid'
  /** Sends votes for far-future rounds and heights, at a high rate. */
  | 'flood'
  /** Twins: two correct instances run with the same validator identity (double-signing). */
  | 'twins'

export interface SimOptions {
  readonly seed: number
  readonly n: number
  /** Validator index → Byzantine behaviour (at most f of them for the guarantees to hold). */
  readonly byzantine?: ReadonlyMap<number, Behaviour>
  /** Heights every correct node must decide. */
  readonly heights: number
  /** Before GST: probability a message is dropped / duplicated, and partitions come and go. */
  readonly dropRate?: number
  readonly duplicateRate?: number
  readonly partitions?: boolean
  /** Virtual ms at which the network heals (no more drops or partitions; delays ≤ maxDelayAfterGst). */
  readonly gstMs?: number
  readonly maxDelayMs?: number
  readonly maxDelayAfterGstMs?: number
  /** Give up (liveness failure) at this virtual time. */
  readonly timeLimitMs?: number
}

export interface SimResult {
  readonly seed: number
  /** Per correct node: decided block hash (hex) per height. */
  readonly decisions: ReadonlyArray<ReadonlyMap<number, string>>
  /** Two correct nodes decided different blocks at one height. */
  readonly safetyViolation: string | undefined
  /** Every correct node decided every height. */
  readonly live: boolean
  /** Highest round at which a height was decided after GST (liveness bound). */
  readonly maxRoundAfterGst: number
  readonly endTimeMs: number
  readonly messages: number
  readonly evidence: number
  readonly rejected: number
  /** Each correct node's consensus state at the end (for diagnosing a stuck run). */
  readonly finalStates: ReadonlyArray<{
    readonly node: number
    readonly height: number
    readonly round: number
    readonly step: string
    readonly lockedRound: number
    readonly validRound: number
  }>
}

const TIMEOUTS: TimeoutConfig = {
  proposeMs: 120,
  proposeDeltaMs: 60,
  prevoteMs: 80,
  prevoteDeltaMs: 40,
  precommitMs: 80,
  precommitDeltaMs: 40,
}

type Msg =
  | { readonly kind: 'proposal'; readonly proposal: Proposal }
  | { readonly kind: 'vote'; readonly vote: SignedVote }
  | {
      readonly kind: 'commit'
      readonly height: number
      readonly round: number
      readonly blockHash: Uint8Array
      readonly precommits: readonly SignedVote[]
    }

interface Event {
  readonly at: number
  readonly seq: number
  readonly run: () => void
}

/** A binary min-heap of events by (time, sequence): equal times run in scheduling order. */
class Queue {
  private readonly heap: Event[] = []
  push(e: Event): void {
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(h[i] as Event, h[p] as Event)) break
      ;[h[i], h[p]] = [h[p] as Event, h[i] as Event]
      i = p
    }
  }
  pop(): Event | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && before(h[l] as Event, h[m] as Event)) m = l
        if (r < h.length && before(h[r] as Event, h[m] as Event)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m] as Event, h[i] as Event]
        i = m
      }
    }
    return top
  }
  get size(): number {
    return this.heap.length
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/** A 32-byte block id from a label (FNV-style mixing; collisions are irrelevant at these sizes). */
function blockId(label: string): Uint8Array {
  const out = new Uint8Array(32)
  let h = 0x811c9dc5
  for (let i = 0; i < 32; i++) {
    for (let k = 0; k < label.length; k++) h = Math.imul(h ^ label.charCodeAt(k), 16777619) >>> 0
    h = Math.imul(h ^ i, 16777619) >>> 0
    out[i] = h & 0xff
  }
  return out
}

const SIG = new Uint8Array(64)

interface SimNode {
  readonly id: number // network endpoint id (twins have two endpoints for one validator)
  readonly validator: number
  readonly correct: boolean
  readonly machine: Tendermint | undefined
  readonly decisions: Map<number, string>
  readonly decidedRound: Map<number, number>
  readonly decidedAt: Map<number, number>
  /** Precommits of decided heights, to answer peers that are behind. */
  readonly certificates: Map<number, { round: number; blockHash: Uint8Array; precommits: readonly SignedVote[] }>
  /** This node's own messages at its current height, re-gossiped periodically. */
  sentThisHeight: Msg[]
  height: number
}

export function simulate(o: SimOptions): SimResult {
  const rand = prng(o.seed)
  const n = o.n
  const byz = o.byzantine ?? new Map<number, Behaviour>()
  const gst = o.gstMs ?? 3000
  const maxDelay = o.maxDelayMs ?? 150
  const maxDelayAfter = o.maxDelayAfterGstMs ?? 40
  const dropRate = o.dropRate ?? 0.2
  const dupRate = o.duplicateRate ?? 0.1
  const timeLimit = o.timeLimitMs ?? 120_000
  const validators = Array.from({ length: n }, () => ({ power: 1 }))
  const queue = new Queue()
  let now = 0
  let seq = 0
  let messages = 0
  let evidence = 0
  let rejected = 0
  const at = (delay: number, run: () => void) => queue.push({ at: now + delay, seq: seq++, run })

  // Validity as every correct node's re-execution would judge it.
  const invalidBlocks = new Set<string>()

  const nodes: SimNode[] = []
  const addNode = (validator: number, correct: boolean, runsMachine: boolean) => {
    nodes.push({
      id: nodes.length,
      validator,
      correct,
      machine: runsMachine ? new Tendermint(validators, validator, TIMEOUTS) : undefined,
      decisions: new Map(),
      decidedRound: new Map(),
      decidedAt: new Map(),
      certificates: new Map(),
      sentThisHeight: [],
      height: 1,
    })
  }
  for (let v = 0; v < n; v++) {
    const b = byz.get(v)
    if (b === undefined) addNode(v, true, true)
    else if (b === 'twins') {
      addNode(v, false, true)
      addNode(v, false, true)
    } else addNode(v, false, b === 'equivocate' || b === 'invalid')
  }

  // Partitions before GST: each endpoint gets a side; messages cross only between equal sides.
  let side: number[] = nodes.map(() => 0)
  const repartition = () => {
    if (now >= gst) {
      side = nodes.map(() => 0)
      return
    }
    side = nodes.map(() => (o.partitions && rand() < 0.5 ? 1 : 0))
    at(200 + Math.floor(rand() * 600), repartition)
  }
  if (o.partitions) repartition()

  const send = (from: SimNode, to: SimNode, msg: Msg) => {
    const afterGst = now >= gst
    if (!afterGst) {
      if (side[from.id] !== side[to.id]) return
      if (rand() < dropRate) return
    }
    const copies = !afterGst && rand() < dupRate ? 2 : 1
    for (let c = 0; c < copies; c++) {
      const delay = 1 + Math.floor(rand() * (afterGst ? maxDelayAfter : maxDelay))
      messages++
      at(delay, () => receive(to, msg, from))
    }
  }
  const broadcast = (from: SimNode, msg: Msg, only?: (to: SimNode) => boolean) => {
    for (const to of nodes) if (to !== from && (only === undefined || only(to))) send(from, to, msg)
  }

  const feed = (node: SimNode, input: Input) => {
    const m = node.machine
    if (m === undefined) return
    act(node, m.handle(input))
  }

  const receive = (node: SimNode, msg: Msg, from: SimNode) => {
    if (node.machine === undefined) return
    // Block sync: a peer a height (or more) behind gets the decision it is missing.
    const h = msg.kind === 'proposal' ? msg.proposal.height : msg.kind === 'vote' ? msg.vote.height : msg.height
    if (h < node.height && msg.kind !== 'commit' && node.correct) {
      const cert = node.certificates.get(h)
      if (cert !== undefined) send(node, from, { kind: 'commit', height: h, ...cert })
      return
    }
    if (msg.kind === 'proposal') {
      feed(node, { kind: 'proposal', proposal: msg.proposal, valid: !invalidBlocks.has(bytesToHex(msg.proposal.blockHash)) })
    } else if (msg.kind === 'vote') {
      feed(node, { kind: 'vote', vote: msg.vote })
    } else if (msg.height === node.height) {
      feed(node, { kind: 'commit', height: msg.height, round: msg.round, blockHash: msg.blockHash, precommits: msg.precommits })
    }
  }

  const act = (node: SimNode, outputs: readonly Output[]) => {
    const m = node.machine as Tendermint
    const behaviour = byz.get(node.validator)
    for (const out of outputs) {
      switch (out.kind) {
        case 'getValue': {
          const label = `${o.seed}/${node.id}/${out.height}/${out.round}`
          const hash = blockId(label)
          if (behaviour === 'invalid') invalidBlocks.add(bytesToHex(hash))
          if (behaviour === 'equivocate') {
            // Two different valid blocks, one to each half of the network; the machine sees the first.
            const other = blockId(`${label}/twin`)
            const p1: Proposal = {
              height: out.height,
              round: out.round,
              polRound: -1,
              blockHash: hash,
              proposer: node.validator,
              signature: SIG,
            }
            const p2: Proposal = { ...p1, blockHash: other }
            broadcast(node, { kind: 'proposal', proposal: p1 }, (to) => to.id % 2 === 0)
            broadcast(node, { kind: 'proposal', proposal: p2 }, (to) => to.id % 2 === 1)
            for (const type of [VoteKind.Prevote, VoteKind.Precommit]) {
              for (const [p, half] of [
                [p1, 0],
                [p2, 1],
              ] as const) {
                const vote: SignedVote = {
                  type,
                  height: out.height,
                  round: out.round,
                  blockHash: p.blockHash,
                  validator: node.validator,
                  signature: SIG,
                }
                broadcast(node, { kind: 'vote', vote }, (to) => to.id % 2 === half)
              }
            }
            feed(node, { kind: 'proposal', proposal: p1, valid: true })
            break
          }
          at(1 + Math.floor(rand() * 5), () => feed(node, { kind: 'value', height: out.height, round: out.round, blockHash: hash }))
          break
        }
        case 'propose': {
          const proposal: Proposal = { ...out, proposer: node.validator, signature: SIG }
          // A re-proposed valid value travels with the polka that justifies it (see Tendermint.polka).
          for (const vote of out.polRound >= 0 ? m.polka(out.polRound, out.blockHash) : []) broadcast(node, { kind: 'vote', vote })
          const msg: Msg = { kind: 'proposal', proposal }
          node.sentThisHeight.push(msg)
          broadcast(node, msg)
          feed(node, { kind: 'proposal', proposal, valid: true })
          break
        }
        case 'vote': {
          let blockHash = out.blockHash
          if (behaviour === 'invalid' && rand() < 0.5) blockHash = blockId(`garbage/${rand()}`)
          const vote: SignedVote = {
            type: out.type,
            height: out.height,
            round: out.round,
            blockHash,
            validator: node.validator,
            signature: SIG,
          }
          const msg: Msg = { kind: 'vote', vote }
          node.sentThisHeight.push(msg)
          broadcast(node, msg)
          feed(node, { kind: 'vote', vote })
          break
        }
        case 'scheduleTimeout':
          at(out.delayMs, () => feed(node, { kind: 'timeout', step: out.step, height: out.height, round: out.round }))
          break
        case 'decide': {
          const key = bytesToHex(out.blockHash)
          node.decisions.set(out.height, key)
          node.decidedRound.set(out.height, out.round)
          node.decidedAt.set(out.height, now)
          node.certificates.set(out.height, { round: out.round, blockHash: out.blockHash, precommits: out.precommits })
          // Commit takes a moment, then the next height starts.
          at(2, () => {
            node.height = out.height + 1
            node.sentThisHeight = []
            act(node, m.startHeight(out.height + 1))
          })
          break
        }
        case 'evidence':
          evidence++
          break
        case 'rejected':
          rejected++
          break
      }
    }
  }

  // Gossip: every 100 ms each endpoint that runs a machine re-sends its messages of its current height.
  const gossip = (node: SimNode) => {
    for (const msg of node.sentThisHeight.slice(-8)) broadcast(node, msg)
    if (now < timeLimit) at(100, () => gossip(node))
  }

  // The flooder: votes for random far rounds and heights, 20 per 10 ms.
  const flood = (node: SimNode) => {
    for (let i = 0; i < 20; i++) {
      const vote: SignedVote = {
        type: rand() < 0.5 ? VoteKind.Prevote : VoteKind.Precommit,
        height: 1 + Math.floor(rand() * (o.heights + 3)),
        round: Math.floor(rand() * 1_000_000),
        blockHash: rand() < 0.3 ? null : blockId(`flood/${rand()}`),
        validator: node.validator,
        signature: SIG,
      }
      broadcast(node, { kind: 'vote', vote })
    }
    if (now < timeLimit) at(10, () => flood(node))
  }

  for (const node of nodes) {
    if (node.machine !== undefined) {
      const outs = node.machine.startHeight(1)
      at(0, () => act(node, outs))
      at(50 + Math.floor(rand() * 50), () => gossip(node))
    } else if (byz.get(node.validator) === 'flood') {
      at(0, () => flood(node))
    }
  }

  const correct = nodes.filter((x) => x.correct)
  const done = () => correct.every((x) => x.decisions.size >= o.heights)
  let safetyViolation: string | undefined
  while (queue.size > 0 && now <= timeLimit && !done()) {
    const e = queue.pop() as Event
    now = e.at
    e.run()
  }
  for (let h = 1; h <= o.heights && safetyViolation === undefined; h++) {
    const seen = new Map<string, number>()
    for (const x of correct) {
      const d = x.decisions.get(h)
      if (d !== undefined) seen.set(d, x.id)
    }
    if (seen.size > 1) safetyViolation = `height ${h}: correct nodes decided ${[...seen.keys()].map((k) => k.slice(0, 12)).join(' and ')}`
  }
  let maxRoundAfterGst = 0
  for (const x of correct) {
    for (const [h, t] of x.decidedAt) if (t > gst + 5000) maxRoundAfterGst = Math.max(maxRoundAfterGst, x.decidedRound.get(h) ?? 0)
  }
  return {
    seed: o.seed,
    decisions: correct.map((x) => x.decisions),
    safetyViolation,
    live: done(),
    maxRoundAfterGst,
    endTimeMs: now,
    messages,
    evidence,
    rejected,
    finalStates: correct.map((x) => {
      const st = (x.machine as Tendermint).state
      return { node: x.id, height: st.height, round: st.round, step: st.step, lockedRound: st.lockedRound, validRound: st.validRound }
    }),
  }
}

/** The validator that proposes (h, r) in a simulation of n equal-power validators. */
export function simProposer(n: number, height: number, round: number): number {
  return proposerIndex(
    Array.from({ length: n }, () => ({ power: 1 })),
    height,
    round,
  )
}
