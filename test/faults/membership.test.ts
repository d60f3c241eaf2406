// Issue #5's acceptance test on a real 4-validator network of separate processes under steady load:
// a fifth organisation is admitted by a majority vote, its validator is added and starts voting, one
// of the original validators is removed and stopped, and a user's certificate is revoked — all
// decided on the ledger by governance, with no halt and no acknowledged tx lost. Everything is
// checked from the outside, through each node's API. (The same in-process: test/governance/validators.test.ts.)
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type Certificate,
  certificateFromPem,
  certificateToPem,
  createCertificateAuthority,
  decryptPrivateKey,
  generateKeyPair,
  issueCertificate,
  type KeyPair,
  parseCertificate,
  type PrivateKey,
  publicKeyFromPrivate,
  publicKeyToString,
} from '@trellis/crypto'
import { type SignedTx, valueFromJSON } from '@trellis/ledger'
import { addNetworkNode, initNetworkDir, type NetworkNode, orgFiles } from '@trellis/node'
import { bytesToBase64 } from '@trellis/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callTx, docHash, recordTx, testKey } from '../support/fixtures.js'
import { http, type HttpResult, PASSWORD } from '../support/http.js'
import { freePorts } from '../support/ports.js'
import { processSuiteLock } from '../support/suiteLock.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const RUNNER = join(ROOT, 'test/support/nodeRunner.mjs')
const CHAIN_ID = 'membership'
/** Longest time the chain may go without a commit, anywhere in the scenario. */
const MAX_GAP_MS = 10_000
/** Validator-set changes take effect this many blocks after the deciding vote. */
const DELAY = 2

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A certificate holder: a key pair and its X.509 certificate. */
interface Holder {
  readonly kp: KeyPair
  readonly der: Uint8Array
  readonly cert: Certificate
}

function holder(privateKey: PrivateKey, der: Uint8Array): Holder {
  return { kp: { privateKey, publicKey: publicKeyFromPrivate(privateKey) }, der, cert: parseCertificate(der) }
}

interface Proc {
  child: ChildProcess
  exited: Promise<number | null>
  log: WriteStream
}

describe('membership changes by governance on a network of real processes', () => {
  let dir: string
  const nodes: NetworkNode[] = []
  const procs: Array<Proc | undefined> = []
  const urls: string[] = []
  /** Nodes the load, the checks and the monitor talk to (started, caught up, not being removed). */
  const inService = new Set<number>()

  async function start(i: number): Promise<void> {
    const node = nodes[i] as NetworkNode
    const child = spawn(
      process.execPath,
      [
        RUNNER,
        '--data',
        join(dir, node.name),
        '--network',
        join(dir, 'network.json'),
        '--port',
        String(node.apiPort),
        '--fast-consensus',
        '1',
        '--block-interval',
        '100',
      ],
      { env: { ...process.env, TRELLIS_KEY_PASSWORD: PASSWORD }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    // Each node's log, kept with the network directory when TRELLIS_KEEP_TEST_NETWORK is set.
    const log = createWriteStream(join(dir, `${node.name}.log`))
    child.stderr?.pipe(log)
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${i} did not start`)), 30_000)
      child.stdout?.on('data', (d) => {
        if (String(d).includes('"url"')) {
          clearTimeout(timer)
          resolve()
        }
      })
      void exited.then(() => reject(new Error(`node ${i} exited while starting`)))
    })
    procs[i] = { child, exited, log }
  }

  async function stop(i: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<number | null> {
    const p = procs[i]
    if (p === undefined) return null
    inService.delete(i)
    p.child.kill(signal)
    const code = await p.exited
    p.log.end()
    procs[i] = undefined
    return code
  }

  const status = async (i: number): Promise<HttpResult | undefined> => {
    const r = await http(urls[i] as string, 'GET', '/v1/status').catch(() => undefined)
    return r?.status === 200 ? r : undefined
  }
  const height = async (i: number): Promise<number> => ((await status(i))?.body.height as number | undefined) ?? -1
  const live = () => [...inService].sort()

  async function waitHeight(i: number, atLeast: number, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms
    for (;;) {
      const h = await height(i)
      if (h >= atLeast) return
      if (Date.now() > end) throw new Error(`${what}: node ${i} at height ${h}, wanted ${atLeast} within ${ms} ms`)
      await sleep(100)
    }
  }

  const waitAll = (atLeast: number, ms: number, what: string) => Promise.all(live().map((i) => waitHeight(i, atLeast, ms, what)))

  async function until(f: () => Promise<boolean>, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms
    while (!(await f())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
      await sleep(200)
    }
  }

  const submit = (i: number, tx: SignedTx) =>
    http(urls[i] as string, 'POST', '/v1/txs?wait=true&timeoutMs=20000', { json: { tx: bytesToBase64(tx.bytes) } })

  // Load: batches of notary txs with wait=true to the nodes in service, round robin; every tx
  // acknowledged as committed is kept with its height.
  const acked = new Map<string, number>()
  const failedLoad: string[] = []
  let loading = false
  async function load(): Promise<void> {
    const kp = testKey(7)
    let nonce = 0
    let k = 0
    while (loading) {
      const targets = live()
      const target = targets[k++ % Math.max(1, targets.length)]
      if (target === undefined) {
        await sleep(100)
        continue
      }
      const txs = Array.from({ length: 10 }, () =>
        recordTx(kp, docHash(`membership-${nonce}`), { chainId: CHAIN_ID, expiresAt: Date.now() + 600_000, nonce: nonce++ }),
      )
      const r = await http(urls[target] as string, 'POST', '/v1/txs?wait=true&timeoutMs=8000', {
        json: { txs: txs.map((t) => bytesToBase64(t.bytes)) },
      }).catch(() => undefined)
      if (r?.status === 200)
        for (const res of r.body.results ?? [])
          if (res.receipt !== undefined && res.height !== undefined) {
            acked.set(res.id, res.height)
            if (res.receipt.status !== 'ok') failedLoad.push(`${res.id}: ${res.receipt.errorCode}`)
          }
      await sleep(50)
    }
  }

  // No halt: the highest height among the nodes in service, sampled every 100 ms; the longest time
  // it stood still is the longest gap between commits seen from outside.
  let monitoring = false
  let longestGap = 0
  async function monitor(): Promise<void> {
    let top = -1
    let since = Date.now()
    while (monitoring) {
      const hs = await Promise.all(live().map(height))
      const now = Date.now()
      const h = Math.max(-1, ...hs)
      if (h > top) {
        top = h
        since = now
      }
      longestGap = Math.max(longestGap, now - since)
      await sleep(100)
    }
  }

  let release: (() => Promise<void>) | undefined
  beforeAll(async () => {
    release = await processSuiteLock()
    dir = await mkdtemp(join(tmpdir(), 'trellis-membership-'))
    const [api, p2p] = [await freePorts(5), await freePorts(5)] as [number[], number[]]
    const file = await initNetworkDir({
      dir,
      chainId: CHAIN_ID,
      validators: 4,
      password: PASSWORD,
      apiPorts: api.slice(0, 4),
      p2pPorts: p2p.slice(0, 4),
      keystore: { scryptN: 1024 },
    })
    nodes.push(...file.nodes)
    // org5's node, prepared as it would be on its own machine; it is started once governance added it.
    nodes.push(
      await addNetworkNode({
        dir,
        org: 'org5',
        password: PASSWORD,
        apiPort: api[4] as number,
        p2pPort: p2p[4] as number,
        keystore: { scryptN: 1024 },
      }),
    )
    for (const [i, n] of nodes.entries()) urls[i] = `http://127.0.0.1:${n.apiPort}`
    await Promise.all([0, 1, 2, 3].map((i) => start(i)))
    for (const i of [0, 1, 2, 3]) inService.add(i)
  }, 120_000)

  afterAll(async () => {
    loading = false
    monitoring = false
    for (let i = 0; i < nodes.length; i++) await stop(i, 'SIGKILL')
    if (process.env.TRELLIS_KEEP_TEST_NETWORK === undefined) await rm(dir, { recursive: true, force: true })
    await release?.()
  })

  it('admits org5 and its validator, removes a validator and revokes a certificate under load: no halt, no tx lost', async () => {
    // Identities: each genesis organisation's admin (files written by initNetworkDir), org5's own CA
    // and admin, a client of org2 who will be revoked and a client of org5.
    const admins: Holder[] = []
    const orgCA = async (org: string) => {
      const f = orgFiles(join(dir, 'orgs', org))
      return {
        cert: parseCertificate(certificateFromPem(await readFile(f.caCert, 'utf8'))),
        privateKey: decryptPrivateKey(JSON.parse(await readFile(f.caKey, 'utf8')), PASSWORD),
      }
    }
    for (const org of ['org1', 'org2', 'org3', 'org4']) {
      const f = orgFiles(join(dir, 'orgs', org))
      const key = decryptPrivateKey(JSON.parse(await readFile(f.adminKey, 'utf8')), PASSWORD)
      admins.push(holder(key, certificateFromPem(await readFile(f.adminCert, 'utf8'))))
    }
    const notBefore = Date.now() - 60_000
    const issue = async (issuer: { cert: Certificate; privateKey: PrivateKey }, commonName: string, role: 'admin' | 'client') => {
      const kp = generateKeyPair()
      const cert = await issueCertificate({ issuer, subjectPublicKey: kp.publicKey, commonName, role, notBefore, validityDays: 30 })
      return holder(kp.privateKey, cert.der)
    }
    const org5CA = await createCertificateAuthority({ org: 'org5', commonName: 'org5 root CA', validityDays: 3650, notBefore })
    admins.push(await issue(org5CA, 'admin', 'admin'))
    const erin = await issue(await orgCA('org2'), 'erin', 'client')
    const frank = await issue(org5CA, 'frank', 'client')
    const [admin1, admin2, admin3, , admin5] = admins as [Holder, Holder, Holder, Holder, Holder]

    // Governance txs go to org1's node, one at a time, each waited for.
    let govNonce = 0
    const govern = async (by: Holder, method: 'propose' | 'vote', args: unknown) => {
      const tx = callTx(by.kp, valueFromJSON(args), {
        chainId: CHAIN_ID,
        contract: 'governance',
        method,
        nonce: govNonce++,
        expiresAt: Date.now() + 600_000,
        certificate: by.der,
      })
      const r = await submit(0, tx)
      expect(r.status, `governance.${method}: ${r.text}`).toBe(200)
      const res = r.body.results[0]
      expect(res.receipt.status === 'ok' ? 'ok' : `${res.receipt.errorCode}: ${res.receipt.errorMessage}`, `governance.${method}`).toBe(
        'ok',
      )
      return {
        height: res.height as number,
        result: res.receipt.returnValue,
        events: res.receipt.events as Array<{ name: string; data: Record<string, unknown> }>,
      }
    }
    // A majority (3 organisations) decides: the proposer's org votes yes by proposing, two more vote.
    const decide = async (action: Record<string, unknown>, [by, ...voters]: readonly Holder[]) => {
      const p = await govern(by as Holder, 'propose', { action, description: `test: ${String(action.type)}` })
      expect(p.result.status).toBe('open')
      let last = p
      for (const v of voters) last = await govern(v, 'vote', { id: p.result.id, approve: true })
      expect(last.result.status).toBe('executed')
      expect(last.result.decidedHeight).toBe(last.height)
      return last
    }

    await waitAll(3, 30_000, 'first blocks')
    loading = true
    monitoring = true
    const loader = load()
    const watcher = monitor()
    await until(async () => acked.size >= 30, 30_000, 'first acknowledged txs')

    // 1. org5 joins the consortium (3 of 4 organisations).
    const joined = await decide({ type: 'org.add', id: 'org5', name: 'Org Five', caCerts: [certificateToPem(org5CA.cert.der)] }, [
      admin1,
      admin2,
      admin3,
    ])
    // Its members can transact from the next block on — at a node that has committed the decision
    // (node 1 may still be a moment behind node 0, which answered the vote).
    await waitHeight(1, joined.height, 20_000, 'node 1 commits the decision')
    const f1 = await submit(
      1,
      callTx(frank.kp, { hash: docHash('frank-1') }, { chainId: CHAIN_ID, expiresAt: Date.now() + 600_000, certificate: frank.der }),
    )
    expect(f1.status, f1.text).toBe(200)
    expect(f1.body.results[0].receipt.status).toBe('ok')

    // 2. org5's validator joins the set, in force two blocks after the decision; then its process starts.
    const org5Node = nodes[4] as NetworkNode
    const added = await decide(
      { type: 'validator.add', name: org5Node.name, publicKey: org5Node.publicKey, org: 'org5', address: `127.0.0.1:${org5Node.p2pPort}` },
      [admin1, admin2, admin3],
    )
    const from = added.height + DELAY
    expect(added.events.find((e) => e.name === 'ValidatorSetChanged')?.data).toMatchObject({ height: from, validators: 5 })
    await start(4)
    await waitHeight(4, Math.max(from, await height(0)), 40_000, 'org5’s node catches up')
    inService.add(4)
    await waitAll(from + 2, 30_000, 'five validators in force')
    for (const i of live()) {
      const s = await status(i)
      expect(
        s?.body.validators.map((v: { name: string }) => v.name),
        `validators on node ${i}`,
      ).toEqual(['org1-validator', 'org2-validator', 'org3-validator', 'org4-validator', 'org5-validator'])
    }
    // The genesis validators dialled the newcomer at the address in its record: a full mesh of five.
    await until(
      async () => (await Promise.all(live().map(status))).every((s) => s?.body.consensus.peers.length === 4),
      30_000,
      'a full mesh of five',
    )
    // It votes: a certificate after `from` carries validator 4's precommit.
    let signedBy4 = -1
    await until(
      async () => {
        const top = await height(0)
        for (let hh = from; hh <= top && signedBy4 < 0; hh++) {
          const b = await http(urls[0] as string, 'GET', `/v1/blocks/${hh}`)
          if (b.body.certificate.signatures.some((s: { validatorIndex: number }) => s.validatorIndex === 4)) signedBy4 = hh
        }
        return signedBy4 >= 0
      },
      30_000,
      'a commit certificate signed by org5’s validator',
    )

    // 3. org4's validator leaves the set (org4 stays a member); once that is in force, it is stopped.
    const removed = await decide({ type: 'validator.remove', name: 'org4-validator' }, [admin1, admin2, admin5])
    const removeFrom = removed.height + DELAY
    await waitAll(removeFrom, 30_000, 'removal in force')
    inService.delete(3)
    // Up to where it stopped, the removed validator's chain is everyone else's.
    const lastOf3 = await height(3)
    for (let hh = 1; hh <= lastOf3; hh++) {
      const [a, b] = await Promise.all([0, 3].map((i) => http(urls[i] as string, 'GET', `/v1/blocks/${hh}`)))
      expect(a?.body.hash, `height ${hh} on org4’s node`).toBe(b?.body.hash)
    }
    expect(await stop(3, 'SIGTERM'), 'org4’s node exits cleanly').toBe(0)
    const afterStop = Math.max(...(await Promise.all(live().map(height))))
    await waitAll(afterStop + 5, 30_000, 'commits without the removed validator')
    for (const i of live()) {
      const s = await status(i)
      expect(
        s?.body.validators.map((v: { name: string }) => v.name),
        `validators on node ${i}`,
      ).toEqual(['org1-validator', 'org2-validator', 'org3-validator', 'org5-validator'])
    }

    // 4. erin (org2) transacts, then her certificate is revoked while she keeps trying.
    let erinNonce = 0
    const erinTx = () =>
      callTx(
        erin.kp,
        { hash: docHash(`erin-${erinNonce}`) },
        { chainId: CHAIN_ID, nonce: erinNonce++, expiresAt: Date.now() + 600_000, certificate: erin.der },
      )
    const first = await submit(2, erinTx())
    expect(first.status, first.text).toBe(200)
    expect(first.body.results[0].receipt.status).toBe('ok')
    const tries: Array<{ status: number; code?: string; height?: number; receipt?: { status: string; errorCode: string } }> = []
    let erinLoading = true
    const erinLoad = (async () => {
      let k = 0
      while (erinLoading) {
        const targets = live()
        const r = await submit(targets[k++ % targets.length] as number, erinTx()).catch(() => undefined)
        if (r !== undefined)
          tries.push(
            r.status === 200
              ? { status: 200, height: r.body.results[0].height, receipt: r.body.results[0].receipt }
              : { status: r.status, code: r.body?.code },
          )
        await sleep(100)
      }
    })()
    await sleep(1000)
    const revoked = await decide({ type: 'cert.revoke', org: 'org2', serial: erin.cert.serial, reason: 'laptop lost' }, [
      admin1,
      admin5,
      admin3,
    ])
    const h = revoked.height
    expect(revoked.events.find((e) => e.name === 'CertificateRevoked')?.data).toMatchObject({ org: 'org2', effectiveHeight: h + 1 })
    expect(first.body.results[0].height).toBeLessThan(h)
    // Admission checks against the next block: refused at once by the node that committed h.
    const refused = await submit(0, erinTx())
    expect(refused.status, refused.text).toBe(403)
    expect(refused.body.code).toBe('CERT_REVOKED')
    await waitAll(h + 2, 20_000, 'blocks after the revocation')
    erinLoading = false
    await erinLoad
    for (const i of live()) {
      const r = await submit(i, erinTx())
      expect(r.status, `erin on node ${i}: ${r.text}`).toBe(403)
      expect(r.body.code).toBe('CERT_REVOKED')
    }
    // While the decision was under way: committed until h, then refused (or, if admitted just before
    // h and committed after, failed with CERT_REVOKED).
    expect(tries.filter((t) => t.status === 200 && t.receipt?.status === 'ok').length).toBeGreaterThan(0)
    expect(tries.filter((t) => t.status === 403).length).toBeGreaterThan(0)
    for (const t of tries) {
      if (t.status === 200) {
        expect(t.receipt?.status === 'ok', `erin's tx at height ${t.height}`).toBe((t.height as number) <= h)
        if (t.receipt?.status !== 'ok') expect(t.receipt?.errorCode).toBe('CERT_REVOKED')
      } else {
        expect(t.status).toBe(403)
        expect(t.code).toBe('CERT_REVOKED')
      }
    }
    // Some more commits under load, then stop and check everything.
    await waitAll(h + 6, 20_000, 'commits after the revocation')
    loading = false
    await loader
    monitoring = false
    await watcher
    expect(longestGap, 'longest time without a commit (ms)').toBeLessThan(MAX_GAP_MS)

    const final = Math.max(...(await Promise.all(live().map(height))))
    await waitAll(final, 30_000, 'convergence')
    expect(acked.size).toBeGreaterThan(100)
    expect(failedLoad, 'notary txs that failed').toEqual([])
    // Every acknowledged tx is on every live node at its acknowledged height.
    const ids = [...acked]
    for (const i of live()) {
      for (let k = 0; k < ids.length; k += 50) {
        const rs = await Promise.all(ids.slice(k, k + 50).map(([id]) => http(urls[i] as string, 'GET', `/v1/txs/${id}`)))
        rs.forEach((r, j) => {
          const [id, at] = ids[k + j] as [string, number]
          expect(r.status, `tx ${id} on node ${i}`).toBe(200)
          expect(r.body.height, `tx ${id} on node ${i}`).toBe(at)
        })
      }
    }
    // Blocks and state roots identical on every live node at every height; the validator set hash
    // changes exactly where the decisions put it; certificates carry a quorum of the set in force.
    const setHashes: string[] = []
    const erinSigner = publicKeyToString(erin.kp.publicKey)
    let erinOk = 0
    for (let hh = 1; hh <= final; hh++) {
      const blocks = await Promise.all(live().map((i) => http(urls[i] as string, 'GET', `/v1/blocks/${hh}${i === 0 ? '?txs=full' : ''}`)))
      expect(new Set(blocks.map((b) => `${b.body.hash}/${b.body.header.stateRoot}`)).size, `height ${hh}`).toBe(1)
      const b = (blocks[0] as HttpResult).body
      const size = hh < from ? 4 : hh < removeFrom ? 5 : 4
      const sigs = b.certificate.signatures as Array<{ validatorIndex: number }>
      expect(sigs.length, `signatures at ${hh}`).toBeGreaterThanOrEqual(Math.floor((2 * size) / 3) + 1)
      expect(
        sigs.every((s) => s.validatorIndex < size),
        `validator indexes at ${hh}`,
      ).toBe(true)
      setHashes[hh] = b.header.validatorSetHash
      // erin's txs on the ledger: ok up to h, and never ok after it.
      for (const tx of b.txs as Array<{ id: string; signer: string }>) {
        if (tx.signer !== erinSigner) continue
        const r = await http(urls[0] as string, 'GET', `/v1/txs/${tx.id}`)
        expect(r.body.receipt.status === 'ok', `erin's tx ${tx.id} at ${hh}`).toBe(hh <= h)
        if (hh > h) expect(r.body.receipt.errorCode).toBe('CERT_REVOKED')
        else erinOk++
      }
    }
    expect(erinOk).toBeGreaterThan(0)
    expect(signedBy4).toBeGreaterThanOrEqual(from)
    expect(signedBy4).toBeLessThan(removeFrom)
    const segments = [setHashes[from - 1], setHashes[from], setHashes[removeFrom]]
    expect(new Set(segments).size).toBe(3)
    for (let hh = 1; hh <= final; hh++)
      expect(setHashes[hh], `validator set hash at ${hh}`).toBe(segments[hh < from ? 0 : hh < removeFrom ? 1 : 2])
  }, 300_000)
})
