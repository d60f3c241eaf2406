import { generateKeyPair, type KeyPair } from '@trellis/crypto'
import { defaultChainParams, type Genesis, VoteType, verifyCertificate, voteSignBytes } from '@trellis/ledger'
import { createMemoryStore } from '@trellis/storage'
import { bytesToHex } from '@trellis/utils'
import { afterEach, describe, expect, it } from 'vitest'
import { CHAIN_ID, docHash, recordTx, silentLogger } from '../../../test/support/fixtures.js'
import { type SignedVote, VoteKind } from '@trellis/consensus'
import { publicKeyToString, sign } from '@trellis/crypto'
import { defaultP2POptions, P2PNetwork } from '@trellis/p2p'
import { encodeVoteMsg } from '../src/consensus/wire.js'
import { defaultNodeOptions, type NodeOptions, TrellisNode } from '../src/index.js'
import { freePorts } from '../../../test/support/ports.js'

interface Net {
  readonly nodes: TrellisNode[]
  readonly keys: KeyPair[]
  readonly genesis: Genesis
  readonly ports: number[]
  open(i: number): Promise<TrellisNode>
}

const running: TrellisNode[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.close().catch(() => undefined)))
})

const FAST = {
  timeouts: { proposeMs: 600, proposeDeltaMs: 200, prevoteMs: 300, prevoteDeltaMs: 100, precommitMs: 300, precommitDeltaMs: 100 },
  emptyBlockIntervalMs: 300,
  gossipIntervalMs: 200,
  maxClockDriftMs: 10_000,
}

async function network(n: number, o: { start?: number; metrics?: boolean } = {}): Promise<Net> {
  const keys = Array.from({ length: n }, () => generateKeyPair())
  const ports = await freePorts(n)
  const genesis: Genesis = {
    chainId: CHAIN_ID,
    genesisTime: Date.now() - 1000,
    params: defaultChainParams,
    validators: { validators: keys.map((k, i) => ({ name: `v${i}`, publicKey: k.publicKey, power: 1 })) },
    admins: [keys[0]!.publicKey],
  }
  // Closing a node keeps its store's data, as a process restart keeps its disk.
  const stores = keys.map(() => {
    const inner = createMemoryStore()
    return new Proxy(inner, {
      get(target, prop) {
        if (prop === 'close') return async () => undefined
        const v = Reflect.get(target, prop, target)
        return typeof v === 'function' ? v.bind(target) : v
      },
    })
  })
  const nodes: TrellisNode[] = []
  const open = async (i: number) => {
    const options: NodeOptions = {
      ...defaultNodeOptions,
      dataDir: '/nonexistent',
      blockIntervalMs: 50,
      syncWrites: false,
      verifyWorkers: 0,
      consensus: FAST,
      network: {
        host: '127.0.0.1',
        port: ports[i]!,
        peers: keys.flatMap((k, j) => (j === i ? [] : [{ publicKey: k.publicKey, address: `127.0.0.1:${ports[j]}` }])),
      },
    }
    const node = await TrellisNode.open(options, {
      logger: silentLogger,
      genesis,
      validatorKey: keys[i]!.privateKey,
      store: stores[i]!,
      metrics: o.metrics ?? false,
    })
    nodes[i] = node
    running.push(node)
    return node
  }
  for (let i = 0; i < (o.start ?? n); i++) await open(i)
  return { nodes, keys, genesis, ports, open }
}

async function until(f: () => boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('BFT network (in-process, real p2p)', () => {
  it('rejects invalid consensus messages with a reason, keeps memory bounded and keeps committing', async () => {
    // Three honest validators; the fourth key is used by a raw peer that sends garbage.
    const net = await network(4, { start: 3, metrics: true })
    const evil = new P2PNetwork({
      ...defaultP2POptions,
      chainId: net.genesis.chainId,
      identity: { privateKey: net.keys[3]!.privateKey, publicKey: net.keys[3]!.publicKey },
      host: '127.0.0.1',
      port: net.ports[3]!,
      peers: net.keys.slice(0, 3).map((k, j) => ({ publicKey: k.publicKey, address: `127.0.0.1:${net.ports[j]}` })),
      log: () => undefined,
    })
    await evil.start()
    try {
      const target = net.nodes[0]!
      await until(() => evil.connected().includes(publicKeyToString(net.keys[0]!.publicKey)), 10_000, 'raw peer connected')
      const peer = publicKeyToString(net.keys[0]!.publicKey)
      const h = target.chain.head.height + 1
      const vote = (o: Partial<SignedVote>): SignedVote => ({
        type: VoteKind.Prevote,
        height: h,
        round: 0,
        blockHash: new Uint8Array(32).fill(1),
        validator: 3,
        signature: new Uint8Array(64).fill(7),
        ...o,
      })
      // Bad signature, unknown validator, malformed bytes, and a flood of far-future rounds (bad sigs too).
      evil.send(peer, encodeVoteMsg(vote({})))
      evil.send(peer, encodeVoteMsg(vote({ validator: 9 })))
      evil.send(peer, Uint8Array.of(99, 1, 2, 3))
      for (let r = 0; r < 2000; r++) evil.send(peer, encodeVoteMsg(vote({ round: 1000 + r })))
      // Validly signed (the peer holds validator 3's key) but for heights and rounds far away.
      const signed = (o: Partial<SignedVote>): SignedVote => {
        const v = vote(o)
        const message = voteSignBytes({
          type: VoteType.Prevote,
          chainId: net.genesis.chainId,
          height: v.height,
          round: v.round,
          blockHash: v.blockHash ?? new Uint8Array(32),
        })
        return { ...v, signature: sign(net.keys[3]!.privateKey, message) }
      }
      for (let k = 0; k < 300; k++) {
        evil.send(peer, encodeVoteMsg(signed({ height: h + 5 + k })))
        evil.send(peer, encodeVoteMsg(signed({ round: 50 + k })))
      }
      const rejected = async () => {
        const text = await target.metrics!.registry.getSingleMetricAsString('trellis_consensus_messages_rejected_total')
        return text
      }
      let text = ''
      for (let i = 0; i < 200 && !(text.includes('reason="unknown validator"') && text.includes('reason="malformed"')); i++) {
        text = await rejected()
        await new Promise((r) => setTimeout(r, 20))
      }
      expect(text).toMatch(/reason="bad signature"} \d+/)
      expect(text).toMatch(/reason="unknown validator"} 1/)
      expect(text).toMatch(/reason="malformed"} 1/)
      for (let i = 0; i < 200 && !text.includes('too far ahead'); i++) {
        text = await rejected()
        await new Promise((r) => setTimeout(r, 20))
      }
      // Future heights are refused by the machine; far rounds occupy one slot per validator.
      expect(text).toMatch(/reason="height too far ahead"} \d+/)
      const machine = (target.consensus as unknown as { machine: { prevotes: Map<number, unknown>; precommits: Map<number, unknown> } })
        .machine
      expect(machine.prevotes.size + machine.precommits.size).toBeLessThanOrEqual(2 * (target.consensus!.status.round + 2) + 2)
      // Two different, validly signed prevotes of validator 3 for one height and round: evidence.
      const now = target.consensus!.status
      evil.send(peer, encodeVoteMsg(signed({ height: now.height, round: now.round, blockHash: new Uint8Array(32).fill(0xa1) })))
      evil.send(peer, encodeVoteMsg(signed({ height: now.height, round: now.round, blockHash: new Uint8Array(32).fill(0xb2) })))
      let evidence: Awaited<ReturnType<NonNullable<typeof target.consensus>['listEvidence']>> = []
      for (let i = 0; i < 200 && evidence.length === 0; i++) {
        evidence = await target.consensus!.listEvidence(10)
        await new Promise((r) => setTimeout(r, 20))
      }
      expect(evidence).toHaveLength(1)
      expect(evidence[0]?.first.validator).toBe(3)
      expect(new Set(evidence.map((e) => [e.first.blockHash, e.second.blockHash].map((b) => b?.[0]).join()))).toEqual(new Set(['161,178']))
      // An oversized frame closes the connection (the p2p layer's limit), and the node goes on.
      evil.send(peer, new Uint8Array(target.genesis.params.maxBlockBytes * 2 + 128 * 1024))
      const at = target.chain.head.height
      await until(() => target.chain.head.height >= at + 3, 20_000, 'progress after the garbage')
      const internals = target.consensus as unknown as { later: unknown[]; blocks: Map<string, unknown> }
      expect(internals.later.length).toBeLessThanOrEqual(16)
      expect(internals.blocks.size).toBeLessThanOrEqual(32)
    } finally {
      await evil.close()
    }
  })

  it('4 validators agree on every block; a tx sent to one node is committed on all with a 3-of-4 certificate', async () => {
    const net = await network(4)
    const client = generateKeyPair()
    const txs = Array.from({ length: 20 }, (_, i) => recordTx(client, docHash(`bft-${i}`), { expiresAt: Date.now() + 600_000, nonce: i }))
    const results = await net.nodes[1]!.submit(txs.map((t) => t.bytes))
    expect(results.filter((r) => !r.accepted).map((r) => !r.accepted && r.error.message)).toEqual([])
    await until(() => net.nodes.every((node) => txs.every((t) => node.chain.txLocation(t.id) !== undefined)), 20_000, 'txs on every node')
    const height = Math.min(...net.nodes.map((x) => x.chain.head.height))
    for (let h = 1; h <= height; h++) {
      const hashes = new Set(net.nodes.map((x) => bytesToHex(x.chain.getBlock(h)!.header.stateRoot)))
      expect(hashes.size).toBe(1)
      const cert = net.nodes[0]!.chain.getCertificate(h)!
      expect(() => verifyCertificate(cert, net.genesis.chainId, h, cert.blockHash, net.genesis.validators)).not.toThrow()
      expect(cert.signatures.length).toBeGreaterThanOrEqual(3)
    }
  })

  it('keeps committing with one validator down, and the restarted one catches up by block sync', async () => {
    const net = await network(4)
    await until(() => net.nodes.every((x) => x.chain.head.height >= 2), 20_000, 'first blocks')
    await net.nodes[3]!.close()
    const at = net.nodes[0]!.chain.head.height
    await until(() => net.nodes[0]!.chain.head.height >= at + 3, 30_000, 'progress with 3 of 4')
    const reopened = await net.open(3)
    const target = net.nodes[0]!.chain.head.height
    await until(() => reopened.chain.head.height >= target, 30_000, 'catch-up')
    for (let h = 1; h <= target; h++) {
      expect(bytesToHex(reopened.chain.getBlock(h)!.header.stateRoot)).toBe(bytesToHex(net.nodes[0]!.chain.getBlock(h)!.header.stateRoot))
    }
  })

  it('halts without two validators and resumes without a fork when one returns', async () => {
    const net = await network(4)
    await until(() => net.nodes.every((x) => x.chain.head.height >= 2), 20_000, 'first blocks')
    await net.nodes[2]!.close()
    await net.nodes[3]!.close()
    await new Promise((r) => setTimeout(r, 1500))
    const halted = net.nodes[0]!.chain.head.height
    await new Promise((r) => setTimeout(r, 2000))
    expect(net.nodes[0]!.chain.head.height).toBeLessThanOrEqual(halted + 1)
    const back = await net.open(2)
    await until(() => net.nodes[0]!.chain.head.height >= halted + 3, 30_000, 'resume')
    const h = Math.min(net.nodes[0]!.chain.head.height, net.nodes[1]!.chain.head.height, back.chain.head.height)
    for (let k = 1; k <= h; k++) {
      const roots = new Set([0, 1].map((i) => bytesToHex(net.nodes[i]!.chain.getBlock(k)!.header.stateRoot)))
      roots.add(bytesToHex(back.chain.getBlock(k)!.header.stateRoot))
      expect(roots.size).toBe(1)
    }
  })
})
