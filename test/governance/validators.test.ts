import { certificateToPem, generateKeyPair, type KeyPair, publicKeyToString } from '@trellis/crypto'
import {
  defaultChainParams,
  encodeCertificate,
  encodeHeader,
  encodeValue,
  type Genesis,
  type SignedTx,
  type StateValueProofJSON,
  stateKey,
  stateKeyHash,
  stateProofToJSON,
  valueFromJSON,
  valueToJSON,
  verifyCertificate,
  verifyTrustedHeader,
} from '@trellis/ledger'
import { defaultNodeOptions, type NodeOptions, TrellisNode, valsetKeyPart } from '@trellis/node'
import { trustAfterValidatorChange } from '@trellis/sdk'
import { createMemoryStore } from '@trellis/storage'
import { bytesToBase64, bytesToHex } from '@trellis/utils'
import { afterEach, describe, expect, it } from 'vitest'
import { type Member, TestOrg } from '../support/contracts.js'
import { CHAIN_ID, callTx, docHash, recordTx, silentLogger } from '../support/fixtures.js'
import { freePorts, until } from '../support/ports.js'

// Validator-set changes decided by governance, on in-process validators with real p2p: a validator
// of a newly admitted organisation joins and votes, another is removed, the chain never halts and no
// acknowledged tx is lost. (The same on real processes: test/faults/membership.test.ts.)

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

describe('validator-set changes by governance (in-process, real p2p)', () => {
  it('a new organisation’s validator joins and votes, a validator is removed: no halt, no tx lost', async () => {
    const orgs = await Promise.all(
      ['org1', 'org2', 'org3', 'org4', 'org5'].map((id) => TestOrg.create(id, { notBefore: Date.now() - 86_400_000 })),
    )
    const admins: Member[] = await Promise.all(
      orgs.map((o) => o.member('admin', 'admin', { notBefore: Date.now() - 86_400_000, notAfter: Date.now() + 86_400_000 })),
    )
    // Five keys: four genesis validators, and org5's validator that governance will add.
    // Six keys: four genesis validators, org5's validator that governance will add, and v1's next key.
    const keys: KeyPair[] = Array.from({ length: 6 }, () => generateKeyPair())
    const ports = await freePorts(6)
    const genesis: Genesis = {
      chainId: CHAIN_ID,
      genesisTime: Date.now() - 1000,
      params: defaultChainParams,
      validators: { validators: keys.slice(0, 4).map((k, i) => ({ name: `v${i}`, publicKey: k.publicKey, power: 1 })) },
      admins: [],
      orgs: orgs.slice(0, 4).map((o) => o.organisation),
    }
    const nodes: TrellisNode[] = []
    const open = async (i: number): Promise<TrellisNode> => {
      const options: NodeOptions = {
        ...defaultNodeOptions,
        dataDir: '/nonexistent',
        blockIntervalMs: 50,
        syncWrites: false,
        verifyWorkers: 0,
        consensus: FAST,
        network: {
          host: '127.0.0.1',
          port: ports[i] as number,
          // The genesis validators know each other; the newcomer knows them all. They learn its
          // address from its governance record.
          peers: keys.flatMap((k, j) =>
            j === i || (i < 4 && j === 4) ? [] : [{ publicKey: k.publicKey, address: `127.0.0.1:${ports[j]}` }],
          ),
        },
      }
      const node = await TrellisNode.open(options, {
        logger: silentLogger,
        genesis,
        validatorKey: (keys[i] as KeyPair).privateKey,
        store: createMemoryStore(),
        metrics: i === 0,
      })
      nodes[i] = node
      running.push(node)
      return node
    }
    for (let i = 0; i < 4; i++) await open(i)
    const live = () => nodes.filter((n) => n !== undefined && running.includes(n))

    // Steady load: notary records from one client, each acknowledged once committed somewhere.
    const client = generateKeyPair()
    const acknowledged: SignedTx[] = []
    let n = 0
    let loading = true
    const load = (async () => {
      while (loading) {
        const tx = recordTx(client, docHash(`membership-${n}`), { expiresAt: Date.now() + 600_000, nonce: n })
        n++
        const target = live()[n % Math.max(1, live().length)]
        if (target === undefined) break
        const [r] = await target.submit([tx.bytes])
        if (r?.accepted === true) {
          const w = target.waitForCommit(bytesToHex(tx.id))
          void w.promise.then(() => acknowledged.push(tx)).catch(() => undefined)
        }
        await new Promise((res) => setTimeout(res, 25))
      }
    })()

    let nonce = 0
    const govern = async (by: Member, method: string, args: unknown, expectCode = '') => {
      const tx = callTx(by, valueFromJSON(args), {
        contract: 'governance',
        method,
        nonce: nonce++,
        expiresAt: Date.now() + 600_000,
        certificate: by.certificate,
      })
      const node = live()[0] as TrellisNode
      const w = node.waitForCommit(bytesToHex(tx.id))
      const [r] = await node.submit([tx.bytes])
      expect(r?.accepted === true ? 'accepted' : r?.error.message).toBe('accepted')
      const notice = await w.promise
      expect(notice.receipt.errorCode).toBe(expectCode)
      return { height: notice.height, result: valueToJSON(notice.receipt.returnValue) as Record<string, unknown> }
    }
    const decide = async (action: Record<string, unknown>) => {
      const p = await govern(admins[0] as Member, 'propose', { action })
      await govern(admins[1] as Member, 'vote', { id: p.result.id, approve: true })
      const done = await govern(admins[2] as Member, 'vote', { id: p.result.id, approve: true })
      expect(done.result.status).toBe('executed')
      return done.height
    }

    await until(() => acknowledged.length >= 5, 20_000, 'first commits')
    // Chain parameters change by governance too, two blocks after the decision, on every validator.
    const paramsFrom = (await decide({ type: 'params.set', maxBlockTxs: 1, maxTxBytes: 16_384, timeouts: { proposeMs: 700 } })) + 2
    await until(() => (nodes[1] as TrellisNode).chain.head.height >= paramsFrom + 4, 20_000, 'blocks under the new parameters')
    for (let h = paramsFrom; h <= (nodes[1] as TrellisNode).chain.head.height; h++)
      expect((nodes[1] as TrellisNode).chain.getBlock(h)!.txs.length).toBeLessThanOrEqual(1)
    // The round timeouts too: every validator's state machine runs with the chain's.
    for (const n of live()) {
      expect(n.schedule.timeoutsAt(paramsFrom)).toMatchObject({ proposeMs: 700, prevoteMs: 1000 })
      expect((n.consensus as unknown as { machine: { timeouts: { proposeMs: number } } }).machine.timeouts.proposeMs).toBe(700)
    }
    const big = recordTx(client, docHash('too-big'), {
      expiresAt: Date.now() + 600_000,
      nonce: 999_999,
      meta: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`note${i}`, 'x'.repeat(1000)])),
    })
    const [tooBig] = await (nodes[2] as TrellisNode).submit([big.bytes])
    expect(tooBig?.accepted === false && tooBig.error.code).toBe('TX_TOO_LARGE')
    await decide({ type: 'params.set', maxBlockTxs: 2000, maxTxBytes: 65_536 })
    // Certificate expiry is visible ahead of time: the members' CAs, then the signers seen.
    const expiry = async () =>
      await (nodes[0] as TrellisNode).metrics!.registry.getSingleMetricAsString('trellis_certificate_expiry_timestamp_seconds')
    expect(await expiry()).toContain(
      `kind="ca",org="org4",cn="org4 root CA",serial="${(orgs[3] as TestOrg).ca.cert.serial}"} ${Math.floor((orgs[3] as TestOrg).ca.cert.notAfter / 1000)}`,
    )
    // org5 joins the consortium, then its validator joins the set.
    await decide({ type: 'org.add', id: 'org5', name: 'Org Five', caCerts: [(orgs[4] as TestOrg).caPem] })
    let text = ''
    for (let i = 0; i < 100 && !(text.includes('kind="ca",org="org5"') && text.includes('kind="signer",org="org2"')); i++) {
      text = await expiry()
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(text).toContain('kind="ca",org="org5"')
    expect(text).toContain(`kind="signer",org="org2",cn="admin",serial="${(admins[1] as Member).cert.serial}"}`)
    // Its node certificate (role node, issued by org5's CA) is recorded with it: p2p trusts it while it holds.
    const nodeCert = await (orgs[4] as TestOrg).member('v4', 'node', {
      keyPair: keys[4] as KeyPair,
      notBefore: Date.now() - 86_400_000,
      notAfter: Date.now() + 86_400_000,
    })
    const added = await decide({
      type: 'validator.add',
      name: 'v4',
      publicKey: publicKeyToString((keys[4] as KeyPair).publicKey),
      org: 'org5',
      address: `127.0.0.1:${ports[4]}`,
      certificate: certificateToPem(nodeCert.certificate),
    })
    const from = added + 2
    const newcomer = await open(4)
    await until(() => newcomer.chain.head.height >= from + 4, 40_000, 'the new validator catches up and the chain goes on')
    await until(() => live().every((x) => x.p2p!.connected().length === 4), 20_000, 'a full mesh of five')
    // It votes: certificates after `from` are checked against the 5-validator set and carry its signature.
    const five = (nodes[0] as TrellisNode).schedule.at(from).set
    expect(five.validators.map((v) => v.name)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4'])
    await until(
      () => {
        for (let h = from; h <= (nodes[0] as TrellisNode).chain.head.height; h++) {
          if ((nodes[0] as TrellisNode).chain.getCertificate(h)?.signatures.some((s) => s.validatorIndex === 4) === true) return true
        }
        return false
      },
      30_000,
      'a certificate signed by the new validator',
    )
    for (let h = from; h <= (nodes[0] as TrellisNode).chain.head.height; h++) {
      const cert = (nodes[0] as TrellisNode).chain.getCertificate(h)
      expect(cert).toBeDefined()
      expect(() => verifyCertificate(cert!, CHAIN_ID, h, cert!.blockHash, five)).not.toThrow()
      expect(bytesToHex((nodes[0] as TrellisNode).chain.getBlock(h)!.header.validatorSetHash)).toBe(
        bytesToHex((nodes[0] as TrellisNode).schedule.at(h).hash),
      )
    }

    // Light clients follow the change: the genesis set no longer vouches for new headers, but the
    // valset record, proven under the old set, moves the trust to the new one.
    const n0 = nodes[0] as TrellisNode
    const genesisTrust = { chainId: CHAIN_ID, validators: genesis.validators }
    const late = n0.chain.getBlock(from + 1)!
    expect(() => verifyTrustedHeader(late.header, n0.chain.getCertificate(from + 1), genesisTrust)).toThrow(/different validator set/)
    const valsetKey = valsetKeyPart(from)
    const valsetProof = (key: string, height: number) => proofFrom(n0, key, height)
    const proofFrom = async (node: TrellisNode, key: string, height: number): Promise<StateValueProofJSON> => {
      const n0 = node
      const sk = stateKey('governance', key)
      const entry = await n0.chain.getValueAt(sk, height)
      return {
        kind: 'state',
        height,
        contract: 'governance',
        key,
        value: entry?.value == null ? null : bytesToBase64(entry.value),
        proof: stateProofToJSON(n0.chain.tree.prove(height, stateKeyHash(sk))),
        header: bytesToBase64(encodeHeader(n0.chain.getBlock(height)!.header)),
        certificate: bytesToBase64(encodeCertificate(n0.chain.getCertificate(height)!)),
      }
    }
    // Only at the height just before it takes effect (the decision block is certified by the same set).
    const early = await valsetProof(valsetKey, from - 2)
    expect(() => trustAfterValidatorChange(genesisTrust, early)).toThrow(/must be proven at height/)
    const next = trustAfterValidatorChange(genesisTrust, await valsetProof(valsetKey, from - 1))
    expect(() => verifyTrustedHeader(late.header, n0.chain.getCertificate(from + 1), next)).not.toThrow()
    const forged = { ...(await valsetProof(valsetKey, from - 1)) }
    forged.value = bytesToBase64(encodeValue(valueFromJSON({ height: from, validators: [], proposal: 1 })))
    expect(() => trustAfterValidatorChange(genesisTrust, forged)).toThrow()

    // v0 leaves: once the removal is in force its node is stopped; the other four go on.
    const removed = await decide({ type: 'validator.remove', name: 'v0' })
    await until(() => Math.min(...live().map((x) => x.chain.head.height)) >= removed + 2, 20_000, 'removal in force')
    // Out of the set, v0 is let go by the others' p2p ten heights later (it kept its node running).
    const v0 = nodes[0] as TrellisNode
    running.splice(running.indexOf(v0), 1)
    await until(() => (nodes[1] as TrellisNode).chain.head.height >= removed + 14, 30_000, 'ten heights after the removal')
    await until(() => v0.p2p!.connected().length === 0, 10_000, 'the removed validator let go')
    await v0.close()
    const after = (nodes[1] as TrellisNode).chain.head.height
    await until(() => (nodes[1] as TrellisNode).chain.head.height >= after + 4, 30_000, 'progress without the removed validator')
    const four = (nodes[1] as TrellisNode).schedule.at(after).set
    expect(four.validators.map((v) => v.name)).toEqual(['v1', 'v2', 'v3', 'v4'])
    // A light client that follows the removal cannot be led back to the retired five-validator set
    // by a proof of its old record taken at a recent height (which the current set certifies).
    const n1 = nodes[1] as TrellisNode
    const removedKey = valsetKeyPart(removed + 2)
    const current = trustAfterValidatorChange(next, await proofFrom(n1, removedKey, removed + 1))
    const retired = await proofFrom(n1, valsetKey, n1.chain.head.height)
    expect(() => trustAfterValidatorChange(current, retired)).toThrow(/must be proven at height/)

    // Key rotation without downtime: v1's operator starts a node with a new key (it follows), the
    // consortium replaces v1's key, the old node is stopped once the new key is in force.
    const successor = await open(5)
    const replaced = await decide({
      type: 'validator.replace',
      name: 'v1',
      publicKey: publicKeyToString((keys[5] as KeyPair).publicKey),
      address: `127.0.0.1:${ports[5]}`,
    })
    await until(() => Math.min(...live().map((x) => x.chain.head.height)) >= replaced + 2, 20_000, 'rotation in force')
    await (nodes[1] as TrellisNode).close()
    running.splice(running.indexOf(nodes[1] as TrellisNode), 1)
    const rotatedAt = successor.chain.head.height
    await until(() => successor.chain.head.height >= rotatedAt + 4, 30_000, 'progress with the rotated key')
    const rotated = successor.schedule.at(rotatedAt + 1)
    expect(rotated.set.validators.map((v) => v.name)).toEqual(['v1', 'v2', 'v3', 'v4'])
    expect(rotated.self).toBe(0)
    await until(
      () => {
        for (let h = rotatedAt + 1; h <= successor.chain.head.height; h++)
          if (successor.chain.getCertificate(h)?.signatures.some((s) => s.validatorIndex === 0) === true) return true
        return false
      },
      20_000,
      'a certificate signed with v1’s new key',
    )

    // A voting validator cannot be cut off while its votes still count: neither its node certificate
    // revoked nor its organisation removed (remove or replace the validator first).
    await govern(
      admins[0] as Member,
      'propose',
      { action: { type: 'cert.revoke', org: 'org5', serial: nodeCert.cert.serial } },
      'GOV_ACTION_INVALID',
    )
    await govern(admins[0] as Member, 'propose', { action: { type: 'org.remove', id: 'org5' } }, 'GOV_ACTION_INVALID')

    loading = false
    await load
    await until(
      () => acknowledged.length > 0 && acknowledged.every((t) => live().every((x) => x.chain.txLocation(t.id) !== undefined)),
      20_000,
      'every acknowledged tx on every node',
    )
    expect(acknowledged.length).toBeGreaterThan(20)
    const top = Math.min(...live().map((x) => x.chain.head.height))
    for (let h = 1; h <= top; h++) {
      expect(new Set(live().map((x) => bytesToHex(x.chain.getBlock(h)!.header.stateRoot))).size).toBe(1)
    }
  }, 180_000)
})
