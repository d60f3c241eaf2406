// A real 4-validator network of separate processes under steady load: validators are SIGKILLed and
// restarted, one is wiped and catches up by block sync, and the network is split 2|2 by cutting the
// TCP proxies every p2p connection goes through. Safety and liveness are checked from the outside,
// through each node's API: no fork, no lost acknowledged tx, identical blocks and state roots.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server, type Socket, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { initNetworkDir, type NetworkFile, type NetworkNode } from '@trellis/node'
import { trustFromGenesis, verifyTx } from '@trellis/sdk'
import { base64ToBytes, bytesToBase64 } from '@trellis/utils'
import { decodeCertificate, encodeCertificate } from '@trellis/ledger'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docHash, recordTx, testKey } from '../support/fixtures.js'
import { http, PASSWORD } from '../support/http.js'
import { processSuiteLock } from '../support/suiteLock.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const RUNNER = join(ROOT, 'test/support/nodeRunner.mjs')
const N = 4

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })
}

/** A TCP proxy that can be cut (existing connections dropped, new ones refused) and healed. */
class Link {
  private readonly server: Server
  private readonly sockets = new Set<Socket>()
  cut = false
  readonly port: Promise<number>
  constructor(target: number) {
    this.server = createServer((inbound) => {
      if (this.cut) return inbound.destroy()
      const outbound = connect({ host: '127.0.0.1', port: target })
      for (const s of [inbound, outbound]) {
        this.sockets.add(s)
        s.on('error', () => undefined)
        s.on('close', () => {
          this.sockets.delete(s)
          inbound.destroy()
          outbound.destroy()
        })
      }
      inbound.pipe(outbound)
      outbound.pipe(inbound)
    })
    this.port = new Promise((resolve) =>
      this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as { port: number }).port)),
    )
  }
  setCut(cut: boolean): void {
    this.cut = cut
    if (cut) for (const s of this.sockets) s.destroy()
  }
  close(): Promise<void> {
    this.setCut(true)
    return new Promise((r) => this.server.close(() => r()))
  }
}

interface Proc {
  child: ChildProcess
  exited: Promise<unknown>
}

describe('4-validator network of real processes', () => {
  let dir: string
  let file: NetworkFile
  /** links[i][j]: the proxy node i dials node j through. */
  const links: Link[][] = []
  const procs: Array<Proc | undefined> = []
  const urls: string[] = []

  const dataDir = (i: number) => join(dir, (file.nodes[i] as NetworkNode).name)

  async function start(i: number): Promise<void> {
    const node = file.nodes[i] as NetworkNode
    const child = spawn(
      process.execPath,
      [
        RUNNER,
        '--data',
        dataDir(i),
        '--network',
        join(dir, `network-${i}.json`),
        '--port',
        String(node.apiPort),
        '--fast-consensus',
        '1',
        '--block-interval',
        '100',
      ],
      { env: { ...process.env, TRELLIS_KEY_PASSWORD: PASSWORD }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stderr = ''
    child.stderr?.on('data', (d) => {
      stderr = (stderr + String(d)).slice(-2000)
    })
    const exited = new Promise((r) => child.once('exit', r))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${i} did not start`)), 30_000)
      child.stdout?.on('data', (d) => {
        if (String(d).includes('"url"')) {
          clearTimeout(timer)
          resolve()
        }
      })
      void exited.then(() => reject(new Error(`node ${i} exited while starting: ${stderr}`)))
    })
    procs[i] = { child, exited }
  }

  async function kill(i: number): Promise<void> {
    const p = procs[i]
    if (p === undefined) return
    p.child.kill('SIGKILL')
    await p.exited
    procs[i] = undefined
  }

  const height = async (i: number): Promise<number> => {
    const r = await http(urls[i] as string, 'GET', '/v1/status').catch(() => undefined)
    return r?.status === 200 ? (r.body.height as number) : -1
  }

  async function waitHeight(i: number, atLeast: number, ms: number, what: string): Promise<number> {
    const end = Date.now() + ms
    for (;;) {
      const h = await height(i)
      if (h >= atLeast) return Date.now() - (end - ms)
      if (Date.now() > end) throw new Error(`${what}: node ${i} at height ${h}, wanted ${atLeast} within ${ms} ms`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  function partition(a: readonly number[], b: readonly number[], cut: boolean): void {
    for (const i of a)
      for (const j of b)
        for (const [x, y] of [
          [i, j],
          [j, i],
        ] as const)
          links[x]?.[y]?.setCut(cut)
  }

  // Load: batches of notary txs with wait=true to live nodes, round robin; acknowledged ids are kept.
  const acked = new Map<string, number>()
  let loading = false
  let nonce = 0
  async function load(): Promise<void> {
    const kp = testKey(7)
    let k = 0
    while (loading) {
      const live = procs.flatMap((p, i) => (p === undefined ? [] : [i]))
      const target = live[k++ % Math.max(1, live.length)]
      if (target === undefined) {
        await new Promise((r) => setTimeout(r, 100))
        continue
      }
      const txs = Array.from({ length: 10 }, () =>
        recordTx(kp, docHash(`net-${nonce}`), { chainId: file.chainId, expiresAt: Date.now() + 600_000, nonce: nonce++ }),
      )
      const r = await http(urls[target] as string, 'POST', '/v1/txs?wait=true&timeoutMs=8000', {
        json: { txs: txs.map((t) => bytesToBase64(t.bytes)) },
      }).catch(() => undefined)
      if (r?.status === 200)
        for (const res of r.body.results ?? []) if (res.receipt !== undefined && res.height !== undefined) acked.set(res.id, res.height)
      await new Promise((r2) => setTimeout(r2, 50))
    }
  }

  let release: (() => Promise<void>) | undefined
  beforeAll(async () => {
    release = await processSuiteLock()
    dir = await mkdtemp(join(tmpdir(), 'trellis-net-'))
    const apiPorts = await Promise.all(Array.from({ length: N }, freePort))
    const p2pPorts = await Promise.all(Array.from({ length: N }, freePort))
    file = await initNetworkDir({
      dir,
      chainId: 'net-faults',
      validators: N,
      password: PASSWORD,
      apiPorts,
      p2pPorts,
      keystore: { scryptN: 1024 },
    })
    for (let i = 0; i < N; i++) {
      links[i] = []
      for (let j = 0; j < N; j++) if (i !== j) (links[i] as Link[])[j] = new Link((file.nodes[j] as NetworkNode).p2pPort)
    }
    // Node i's view of the network: every peer reached through the proxy i → j.
    for (let i = 0; i < N; i++) {
      const nodes = await Promise.all(
        file.nodes.map(async (n, j) => (j === i ? n : { ...n, p2pAddress: `127.0.0.1:${await (links[i]?.[j] as Link).port}` })),
      )
      await writeFile(join(dir, `network-${i}.json`), JSON.stringify({ ...file, nodes }))
    }
    for (let i = 0; i < N; i++) urls[i] = `http://127.0.0.1:${(file.nodes[i] as NetworkNode).apiPort}`
    await Promise.all(Array.from({ length: N }, (_, i) => start(i)))
  }, 120_000)

  afterAll(async () => {
    loading = false
    for (let i = 0; i < N; i++) await kill(i)
    for (const row of links) for (const l of row ?? []) await l?.close()
    await rm(dir, { recursive: true, force: true })
    await release?.()
  })

  it('survives crashes, two-node outages, a wiped node and a 2|2 partition without a fork or a lost tx', async () => {
    await waitHeight(0, 3, 30_000, 'first blocks')
    loading = true
    const loader = load()

    // Any one validator down: the other three keep committing; restarted, it catches up by block sync.
    let h = 0
    for (const down of [3, 0, 1, 2]) {
      await kill(down)
      const watch = (down + 1) % N
      h = await height(watch)
      await waitHeight(watch, h + 3, 20_000, `commits without node ${down}`)
      await start(down)
      h = await height(watch)
      await waitHeight(down, h, 30_000, `node ${down} catches up after restart`)
    }

    // Two down: no commits (at most the height already decided completes), no fork.
    await kill(2)
    await kill(3)
    await new Promise((r) => setTimeout(r, 2000))
    const halted = await height(0)
    await new Promise((r) => setTimeout(r, 4000))
    expect(await height(0)).toBeLessThanOrEqual(halted + 1)
    // One back: commits resume within 30 s.
    await start(2)
    const resumedAfter = await waitHeight(0, halted + 2, 30_000, 'resume after one returns')
    expect(resumedAfter).toBeLessThan(30_000)

    // A wiped node (empty database, same keys) catches up from scratch.
    await rm(join(dataDir(3), 'db'), { recursive: true, force: true })
    await rm(join(dataDir(3), 'archive'), { recursive: true, force: true })
    await start(3)
    h = await height(0)
    await waitHeight(3, h, 40_000, 'wiped node catches up')

    // 2|2 partition: nothing commits on either side; after healing, commits resume.
    partition([0, 1], [2, 3], true)
    await new Promise((r) => setTimeout(r, 2000))
    const split = await Promise.all([0, 1, 2, 3].map(height))
    await new Promise((r) => setTimeout(r, 4000))
    const later = await Promise.all([0, 1, 2, 3].map(height))
    for (let i = 0; i < N; i++) expect(later[i], `node ${i} during the partition`).toBeLessThanOrEqual((split[i] as number) + 1)
    partition([0, 1], [2, 3], false)
    const top = Math.max(...later)
    await waitHeight(0, top + 2, 30_000, 'resume after healing')

    loading = false
    await loader
    // Everyone converges; every acknowledged tx is on every node; blocks identical at every height.
    const final = Math.max(...(await Promise.all([0, 1, 2, 3].map(height))))
    for (let i = 0; i < N; i++) await waitHeight(i, final, 30_000, 'convergence')
    expect(acked.size).toBeGreaterThan(50)
    for (let i = 0; i < N; i++) {
      for (const [id, at] of acked) {
        const r = await http(urls[i] as string, 'GET', `/v1/txs/${id}`)
        expect(r.status, `tx ${id} on node ${i}`).toBe(200)
        expect(r.body.height).toBe(at)
      }
    }
    // A third party verifies records served by any node against the genesis validator set alone
    // (3-of-4 certificates), and a proof altered in one byte fails.
    const trust = trustFromGenesis(await readFile(join(dataDir(0), 'genesis.json'), 'utf8'))
    const sample = [...acked.keys()].slice(0, 5)
    for (const [k, id] of sample.entries()) {
      const r = await http(urls[k % N] as string, 'GET', `/v1/txs/${id}`)
      expect(verifyTx(r.body, trust, { txId: id }).height).toBe(acked.get(id))
      const cert = decodeCertificate(base64ToBytes(r.body.proof.certificate))
      expect(cert.signatures.length).toBeGreaterThanOrEqual(3)
      // Two of four signatures are not a certificate.
      const forged = structuredClone(r.body)
      forged.proof.certificate = bytesToBase64(encodeCertificate({ ...cert, signatures: cert.signatures.slice(0, 2) }))
      expect(() => verifyTx(forged, trust, { txId: id })).toThrow(/more than two thirds/)
    }
    for (let hh = 1; hh <= final; hh++) {
      const blocks = await Promise.all([0, 1, 2, 3].map((i) => http(urls[i] as string, 'GET', `/v1/blocks/${hh}`)))
      const ids = new Set(blocks.map((b) => `${b.body.hash}/${b.body.header.stateRoot}`))
      expect(ids.size, `height ${hh}`).toBe(1)
    }
  }, 300_000)
})
