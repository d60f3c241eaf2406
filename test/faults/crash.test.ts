// Crash safety with real processes: a node under load is SIGKILLed at random moments and restarted.
// Every acknowledged commit must survive, and history must never change.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { initDataDir } from '@trellis/node'
import { bytesToBase64, bytesToHex } from '@trellis/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docHash, prng, recordTx, testKey } from '../support/fixtures.js'
import { http, PASSWORD } from '../support/http.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const RUNNER = join(ROOT, 'test/support/nodeRunner.mjs')
const KILLS = 6
const SEED = 0xc2a54
const WORKERS = 3
const BATCH = 8

interface Running {
  readonly child: ChildProcess
  readonly url: string
  readonly exited: Promise<number | null>
  stderr: string
}

async function spawnNode(dataDir: string): Promise<Running> {
  const child = spawn(process.execPath, [RUNNER, '--data', dataDir, '--port', '0', '--block-interval', '20'], {
    env: { ...process.env, TRELLIS_KEY_PASSWORD: PASSWORD },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let stderr = ''
  child.stderr?.on('data', (d) => {
    stderr += String(d)
  })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`node did not start within 20 s; stderr: ${stderr}`)), 20_000)
    child.stdout?.on('data', (d) => {
      out += String(d)
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (line !== undefined) {
        clearTimeout(timer)
        resolve(JSON.parse(line).url)
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`node exited with ${code} before starting; stderr: ${stderr}`))
    })
  })
  const r: Running = { child, url, exited, stderr }
  child.stderr?.on('data', (d) => {
    r.stderr += String(d)
  })
  return r
}

/** Runs `f` over `items` with bounded concurrency. */
async function pool<T>(items: readonly T[], concurrency: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await f(items[next++] as T)
    }),
  )
}

describe('crash safety', () => {
  let dataDir: string
  let chainId: string
  let current: Running | undefined

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'packages/node/dist/index.js'))) throw new Error('build the node first: npx tsc -b packages/node')
    dataDir = await mkdtemp(join(tmpdir(), 'trellis-crash-'))
    chainId = (await initDataDir({ dataDir, chainId: 'crash-chain', password: PASSWORD, keystore: { scryptN: 1024 } })).genesis.chainId
  })
  afterAll(async () => {
    if (current !== undefined && current.child.exitCode === null) {
      current.child.kill('SIGKILL')
      await current.exited
    }
    await rm(dataDir, { recursive: true, force: true })
  })

  it(`keeps every acknowledged commit and an unchanged history across ${KILLS} SIGKILLs`, async () => {
    const random = prng(SEED)
    const acked = new Map<string, number>() // tx id → height from the wait=true receipt
    const observed = new Map<number, { hash: string; stateRoot: string; prevHash: string }>()
    let nonce = 0
    const kps = [testKey(1), testKey(2), testKey(3)]
    let maxAckedHeight = 0
    let lastHead = 0
    const kills: Array<{ delay: number; ackedSoFar: number; head: number }> = []

    /** Reads blocks 1..head, checks links and that observed blocks are unchanged, records new ones. */
    async function checkChain(url: string, head: number): Promise<void> {
      const heights = Array.from({ length: head }, (_, i) => i + 1)
      const blocks = new Map<number, { hash: string; stateRoot: string; prevHash: string; txIds: string[] }>()
      await pool(heights, 16, async (h) => {
        const b = await http(url, 'GET', `/v1/blocks/${h}`)
        expect(b.status, `block ${h}`).toBe(200)
        blocks.set(h, { hash: b.body.hash, stateRoot: b.body.header.stateRoot, prevHash: b.body.header.prevHash, txIds: b.body.txIds })
      })
      const committed = new Map<string, number>()
      for (const h of heights) {
        const b = blocks.get(h)!
        if (h > 1) expect(b.prevHash, `link ${h}`).toBe(blocks.get(h - 1)?.hash)
        const seen = observed.get(h)
        if (seen !== undefined) expect({ h, ...b, txIds: undefined }).toEqual({ h, ...seen, txIds: undefined })
        else observed.set(h, { hash: b.hash, stateRoot: b.stateRoot, prevHash: b.prevHash })
        for (const id of b.txIds) {
          expect(committed.has(id), `tx ${id} included twice`).toBe(false)
          committed.set(id, h)
        }
      }
      for (const [id, h] of acked) expect(committed.get(id), `acknowledged tx ${id}`).toBe(h)
    }

    async function checkTxs(url: string, ids: readonly string[]): Promise<void> {
      await pool(ids, 16, async (id) => {
        const r = await http(url, 'GET', `/v1/txs/${id}`)
        expect(r.status, `GET /v1/txs/${id}`).toBe(200)
        expect(r.body.height).toBe(acked.get(id))
        expect(r.body.receipt.status).toBe('ok')
      })
    }

    for (let run = 0; run <= KILLS; run++) {
      const node = await spawnNode(dataDir)
      current = node
      const status = await http(node.url, 'GET', '/v1/status')
      expect(status.status).toBe(200)
      const head = status.body.height as number
      // The chain continues from its last committed block: nothing acknowledged or observed is lost.
      expect(head).toBeGreaterThanOrEqual(Math.max(maxAckedHeight, lastHead))
      await checkChain(node.url, head)
      const atRisk = [...acked.keys()].slice(-400)
      await checkTxs(node.url, atRisk)
      if (run === KILLS) break

      // Load: concurrent batches with wait=true, while an observer records each new block.
      let killed = false
      const worker = async (w: number) => {
        while (!killed) {
          const txs = Array.from({ length: BATCH }, () =>
            recordTx(kps[w % kps.length]!, docHash(`crash-${run}-${nonce}`), {
              chainId,
              expiresAt: Date.now() + 600_000,
              nonce: nonce++,
              meta: { run },
            }),
          )
          try {
            const res = await http(node.url, 'POST', '/v1/txs?wait=true&timeoutMs=10000', {
              json: { txs: txs.map((t) => bytesToBase64(t.bytes)) },
            })
            if (res.status !== 200) {
              if (!killed) throw new Error(`unexpected ${res.status}: ${res.text}`)
              continue
            }
            for (const r of res.body.results) {
              expect(r.accepted, JSON.stringify(r)).toBe(true)
              expect(r.receipt.status).toBe('ok')
              acked.set(r.id, r.height)
              maxAckedHeight = Math.max(maxAckedHeight, r.height)
            }
          } catch (err) {
            if (!killed) throw err
          }
        }
      }
      const observer = async () => {
        while (!killed) {
          try {
            const latest = await http(node.url, 'GET', '/v1/blocks/latest')
            if (latest.status === 200) {
              const h = latest.body.header.height as number
              if (!observed.has(h))
                observed.set(h, { hash: latest.body.hash, stateRoot: latest.body.header.stateRoot, prevHash: latest.body.header.prevHash })
              lastHead = Math.max(lastHead, h)
            }
          } catch {
            // killed mid-request
          }
          await new Promise((resolve) => setTimeout(resolve, 15))
        }
      }
      const load = Promise.all([...Array.from({ length: WORKERS }, (_, w) => worker(w)), observer()])
      const delay = 250 + Math.floor(random() * 900)
      await new Promise((resolve) => setTimeout(resolve, delay))
      killed = true // responses already on their way still count; failures from now on are expected
      node.child.kill('SIGKILL')
      const code = await node.exited
      await load
      kills.push({ delay, ackedSoFar: acked.size, head: lastHead })
      expect(code).toBeNull() // died by the signal, not by its own exit
      expect(node.stderr).not.toMatch(/"level":(50|60)/) // no error or fatal log before the kill
    }

    // After the last restart: every acknowledged tx is served with its proof, and the chain moves on.
    const final = current!
    await checkTxs(final.url, [...acked.keys()])
    // Each kill landed while the node was committing under load.
    for (let i = 1; i < kills.length; i++) expect(kills[i]!.ackedSoFar, `load before kill ${i}`).toBeGreaterThan(kills[i - 1]!.ackedSoFar)
    expect(kills[0]!.ackedSoFar).toBeGreaterThan(0)
    const headBefore = (await http(final.url, 'GET', '/v1/blocks/latest')).body
    const tx = recordTx(kps[0]!, docHash('after-crashes'), { chainId, expiresAt: Date.now() + 600_000, nonce: nonce++ })
    const res = await http(final.url, 'POST', '/v1/txs?wait=true', { json: { tx: bytesToBase64(tx.bytes) } })
    expect(res.status).toBe(200)
    const block = (await http(final.url, 'GET', `/v1/blocks/${res.body.results[0].height}`)).body
    expect(block.header.height).toBe(headBefore.header.height + 1)
    expect(block.header.prevHash).toBe(headBefore.hash)
    expect(block.txIds).toContain(bytesToHex(tx.id))
    console.info(`crash test: ${KILLS} kills, ${acked.size} acknowledged txs, ${block.header.height} blocks, all intact`)
    final.child.kill('SIGTERM')
    expect(await final.exited).toBe(0)
    current = undefined
  }, 90_000)
})
