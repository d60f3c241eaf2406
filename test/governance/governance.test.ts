import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { certificateToPem, createCertificateAuthority, issueCertificate, publicKeyToString } from '@trellis/crypto'
import { type Receipt, ReceiptStatus, type SignedTx, valueToJSON } from '@trellis/ledger'
import { TrellisError } from '@trellis/utils'
import { chainQueryView } from '@trellis/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { contractArtifact, ContractHarness, type Member, TestOrg } from '../support/contracts.js'
import { GENESIS_TIME, testKey } from '../support/fixtures.js'

// Organisations, certificates, permissions and governance on a real in-memory chain: every
// rejection the issue lists, with its specific code, at admission (precheck) and in receipts.

const DAY = 86_400_000

function ok(r: Receipt): Receipt {
  expect(r.errorCode === '' ? 'ok' : `${r.errorCode}: ${r.errorMessage}`).toBe('ok')
  return r
}

function failed(r: Receipt, code: string): Receipt {
  expect(r.status).toBe(ReceiptStatus.Failed)
  expect(r.errorCode).toBe(code)
  return r
}

function rejects(h: ContractHarness, tx: SignedTx, code: string): void {
  let caught: unknown
  try {
    h.precheck(tx)
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(TrellisError)
  expect((caught as TrellisError).code).toBe(code)
}

const result = (r: Receipt) => valueToJSON(r.returnValue) as Record<string, unknown>

const WHOAMI = `import { call, defineContract, query, s } from '@trellis/contract'
export default defineContract({
  version: '1.0.0',
  methods: {
    whoami: call({ args: s.object({}) }, (ctx) => ({ ...ctx.caller })),
    admin: call({ args: s.object({}) }, (ctx) => ctx.caller.role),
    seen: query({ args: s.object({}) }, (ctx) => ({ ...ctx.caller })),
  },
})
`

let dir: string
let org1: TestOrg
let org2: TestOrg
let org3: TestOrg
let admin1: Member
let admin2: Member
let admin3: Member
let clerk1: Member
let whoami: Awaited<ReturnType<typeof contractArtifact>>

beforeAll(async () => {
  ;[org1, org2, org3] = await Promise.all([TestOrg.create('org1'), TestOrg.create('org2'), TestOrg.create('org3')])
  ;[admin1, admin2, admin3, clerk1] = await Promise.all([
    org1.member('alice', 'admin'),
    org2.member('bob', 'admin'),
    org3.member('carol', 'admin'),
    org1.member('dave', 'client', { attributes: { department: 'finance', licence: 'L-42' } }),
  ])
  dir = mkdtempSync(join(tmpdir(), 'trellis-governance-'))
  const path = join(dir, 'whoami.ts')
  writeFileSync(path, WHOAMI)
  whoami = await contractArtifact(path)
}, 60_000)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function consortium(): Promise<ContractHarness> {
  const h = await ContractHarness.create({ orgs: [org1.organisation, org2.organisation, org3.organisation] })
  ok(await h.deploy('whoami', whoami))
  return h
}

async function decide(
  h: ContractHarness,
  action: Record<string, unknown>,
  voters: readonly Member[] = [admin2],
): Promise<Record<string, unknown>> {
  const proposed = result(ok(await h.call(admin1, 'governance', 'propose', { action })))
  let last = proposed
  for (const v of voters) last = result(ok(await h.call(v, 'governance', 'vote', { id: proposed.id, approve: true })))
  return last
}

describe('certificate identities', () => {
  it('gives contracts the organisation, role and attributes of the signer', async () => {
    const h = await consortium()
    const r = result(ok(await h.call(clerk1, 'whoami', 'whoami', {})))
    expect(r).toEqual({
      kind: 'user',
      id: 'org1/dave',
      org: 'org1',
      role: 'client',
      attributes: { department: 'finance', licence: 'L-42' },
    })
    // Public-key mode keeps working on a chain with organisations (unless governance requires certificates).
    const anon = result(ok(await h.call(testKey(77), 'whoami', 'whoami', {})))
    expect(anon).toMatchObject({ id: publicKeyToString(testKey(77).publicKey), org: null, role: null })
    // A query runs for its authenticated reader (signed API reads), anonymously otherwise.
    const reader = h.executor.authenticateReader(clerk1.certificate, h.chain, { height: h.chain.head.height + 1, now: h.time })
    const seen = await h.executor.query('whoami', 'seen', {}, chainQueryView(h.chain), reader)
    expect(valueToJSON(seen.result)).toMatchObject({ id: 'org1/dave', org: 'org1', role: 'client' })
    expect(valueToJSON((await h.query('whoami', 'seen')).result)).toMatchObject({ id: '', org: null })
  })

  it('rejects a certificate from an unknown CA (an unregistered organisation, or an impostor CA of a member)', async () => {
    const h = await consortium()
    const rogue = await (await TestOrg.create('rogue')).member('eve', 'admin')
    const impostor = await (await TestOrg.create('org1')).member('eve', 'admin') // same names as org1's CA, other key
    for (const m of [rogue, impostor]) {
      const tx = h.tx(m, 'whoami', 'whoami', {})
      rejects(h, tx, 'CERT_UNKNOWN_CA')
      failed((await h.block([tx]))[0] as Receipt, 'CERT_UNKNOWN_CA')
    }
  })

  it('rejects expired and not-yet-valid certificates, judged by the block time', async () => {
    const h = await consortium()
    const expired = await org1.member('old', 'client', { notBefore: GENESIS_TIME - 10 * DAY, notAfter: GENESIS_TIME - DAY })
    const future = await org1.member('early', 'client', { notBefore: GENESIS_TIME + 30 * DAY, notAfter: GENESIS_TIME + 60 * DAY })
    rejects(h, h.tx(expired, 'whoami', 'whoami', {}), 'CERT_EXPIRED')
    failed(await h.call(expired, 'whoami', 'whoami', {}), 'CERT_EXPIRED')
    rejects(h, h.tx(future, 'whoami', 'whoami', {}), 'CERT_NOT_YET_VALID')
    failed(await h.call(future, 'whoami', 'whoami', {}), 'CERT_NOT_YET_VALID')
    h.time = GENESIS_TIME + 31 * DAY
    ok(await h.call(future, 'whoami', 'whoami', {}))
  })

  it("rejects org A's certificate signing for org B", async () => {
    const h = await consortium()
    // org1's CA issues a certificate that names org2 as the holder's organisation.
    const forged = await org1.member('mallory', 'admin', { subjectOrg: 'org2' })
    expect(forged.cert.subject.org).toBe('org2')
    const tx = h.tx(forged, 'governance', 'propose', { action: { type: 'org.remove', id: 'org3' } })
    rejects(h, tx, 'CERT_ORG_MISMATCH')
    failed((await h.block([tx]))[0] as Receipt, 'CERT_ORG_MISMATCH')
  })

  it('refuses a CA certificate as a signer, and a certificate for another key', async () => {
    const h = await consortium()
    // The CA's own key and certificate: a valid signature, but a CA does not transact.
    const ca = { publicKey: org1.ca.cert.publicKey, privateKey: org1.ca.privateKey, certificate: org1.ca.cert.der, cert: org1.ca.cert }
    const tx = h.tx(ca, 'whoami', 'whoami', {})
    rejects(h, tx, 'CERT_NOT_END_ENTITY')
    failed((await h.block([tx]))[0] as Receipt, 'CERT_NOT_END_ENTITY')
    const other = await org1.member('x', 'client')
    const wrongKey = { ...testKey(5), certificate: other.certificate, cert: other.cert }
    rejects(h, h.tx(wrongKey, 'whoami', 'whoami', {}), 'TX_INVALID_FIELD')
  })
})

describe('governance', () => {
  it('adds an organisation only with a majority, then its certificates work', async () => {
    const h = await consortium()
    const org4 = await TestOrg.create('org4')
    const frank = await org4.member('frank', 'client')
    const p = result(
      ok(
        await h.call(admin1, 'governance', 'propose', { action: { type: 'org.add', id: 'org4', name: 'Org Four', caCerts: [org4.caPem] } }),
      ),
    )
    expect(p).toMatchObject({ id: 1, status: 'open', votes: [{ org: 'org1', approve: true }] })
    // One of three organisations is not enough: the membership change has not happened.
    rejects(h, h.tx(frank, 'whoami', 'whoami', {}), 'CERT_UNKNOWN_CA')
    failed(await h.call(frank, 'whoami', 'whoami', {}), 'CERT_UNKNOWN_CA')
    failed(await h.call(admin1, 'governance', 'vote', { id: 1, approve: true }), 'VOTE_DUPLICATE')
    const decided = result(ok(await h.call(admin2, 'governance', 'vote', { id: 1, approve: true })))
    expect(decided.status).toBe('executed')
    ok(await h.call(frank, 'whoami', 'whoami', {}))
    const orgs = (await h.query('governance', 'orgs')).result as unknown as Array<{ id: string; status: string }>
    expect(orgs.map((o) => `${o.id}:${o.status}`)).toEqual(['org1:active', 'org2:active', 'org3:active', 'org4:active'])
    failed(await h.call(admin3, 'governance', 'vote', { id: 1, approve: true }), 'PROPOSAL_CLOSED')
  })

  it('rejects a proposal once it can no longer pass, and refuses votes after expiry', async () => {
    const h = await consortium()
    const action = { type: 'org.remove', id: 'org3' }
    ok(await h.call(admin1, 'governance', 'propose', { action }))
    ok(await h.call(admin2, 'governance', 'vote', { id: 1, approve: false }))
    const r = result(ok(await h.call(admin3, 'governance', 'vote', { id: 1, approve: false })))
    expect(r.status).toBe('rejected')
    ok(await h.call(admin3, 'whoami', 'whoami', {}))
    ok(await h.call(admin1, 'governance', 'propose', { action }))
    h.time += 8 * DAY
    failed(await h.call(admin2, 'governance', 'vote', { id: 2, approve: true }), 'PROPOSAL_EXPIRED')
    expect(((await h.query('governance', 'proposal', { id: 2 })).result as Record<string, unknown>).status).toBe('expired')
  })

  it('removes an organisation: its certificates stop working and it no longer votes', async () => {
    const h = await consortium()
    await decide(h, { type: 'org.remove', id: 'org3' })
    failed(await h.call(admin3, 'whoami', 'whoami', {}), 'CERT_UNKNOWN_CA')
    failed(await h.call(admin3, 'governance', 'propose', { action: { type: 'org.remove', id: 'org2' } }), 'CERT_UNKNOWN_CA')
  })

  it('needs admins to propose and vote, and the named organisations for k-of-n', async () => {
    const h = await consortium()
    failed(await h.call(clerk1, 'governance', 'propose', { action: { type: 'org.remove', id: 'org3' } }), 'GOV_ROLE_REQUIRED')
    failed(await h.call(testKey(3), 'governance', 'propose', { action: { type: 'org.remove', id: 'org3' } }), 'GOV_NOT_MEMBER')
    failed(await h.call(admin1, 'governance', 'propose', { action: { type: 'org.remove', id: 'nobody' } }), 'GOV_ACTION_INVALID')
    // From now on, org removals need org1 AND org2 (2 of those two).
    await decide(h, { type: 'config.set', policies: { 'org.remove': { rule: 'K_OF_N', k: 2, orgs: ['org1', 'org2'] } } })
    const p = result(ok(await h.call(admin1, 'governance', 'propose', { action: { type: 'org.remove', id: 'org3' } })))
    failed(await h.call(admin3, 'governance', 'vote', { id: p.id, approve: true }), 'GOV_NOT_ELIGIBLE')
    expect(result(ok(await h.call(admin2, 'governance', 'vote', { id: p.id, approve: true }))).status).toBe('executed')
  })

  it('revokes a certificate from a known height on', async () => {
    const h = await consortium()
    ok(await h.call(clerk1, 'whoami', 'whoami', {}))
    const decided = await decide(h, { type: 'cert.revoke', org: 'org1', serial: clerk1.cert.serial, reason: 'laptop stolen' })
    expect(decided.status).toBe('executed')
    const height = h.chain.head.height
    const revocations = (await h.query('governance', 'revocations')).result as unknown as Array<{ effectiveHeight: number }>
    expect(revocations).toEqual([expect.objectContaining({ org: 'org1', serial: clerk1.cert.serial, effectiveHeight: height + 1 })])
    rejects(h, h.tx(clerk1, 'whoami', 'whoami', {}), 'CERT_REVOKED')
    failed(await h.call(clerk1, 'whoami', 'whoami', {}), 'CERT_REVOKED')
    // A serial written with a leading zero is the same certificate (and cannot be revoked twice).
    failed(
      await h.call(admin1, 'governance', 'propose', { action: { type: 'cert.revoke', org: 'org1', serial: `0${clerk1.cert.serial}` } }),
      'GOV_ACTION_INVALID',
    )
    // A new certificate for the same person (a renewal with a new key) keeps the identity.
    const renewed = await org1.member('dave', 'client')
    expect(result(ok(await h.call(renewed, 'whoami', 'whoami', {}))).id).toBe('org1/dave')
  })

  it('revokes at a chosen future height, and through an intermediate CA', async () => {
    const h = await consortium()
    const at = h.chain.head.height + 6
    await decide(h, { type: 'cert.revoke', org: 'org1', serial: clerk1.cert.serial, effectiveHeight: at })
    while (h.chain.head.height + 1 < at) ok(await h.call(clerk1, 'whoami', 'whoami', {}))
    failed(await h.call(clerk1, 'whoami', 'whoami', {}), 'CERT_REVOKED')
    // org2 gets an intermediate; revoking the intermediate revokes what it issued.
    const mid = await createCertificateAuthority({
      org: 'org2',
      commonName: 'org2 issuing CA',
      validityDays: 365,
      notBefore: GENESIS_TIME - DAY,
      parent: org2.ca,
    })
    await decide(h, { type: 'org.update', id: 'org2', caCerts: [org2.caPem, certificateToPem(mid.cert.der)] })
    const kp = testKey(44)
    const leaf = await issueCertificate({
      issuer: mid,
      subjectPublicKey: kp.publicKey,
      commonName: 'erin',
      role: 'client',
      notBefore: GENESIS_TIME - DAY,
      validityDays: 30,
    })
    const erin = { ...kp, certificate: leaf.der, cert: leaf }
    expect(result(ok(await h.call(erin, 'whoami', 'whoami', {}))).id).toBe('org2/erin')
    await decide(h, { type: 'cert.revoke', org: 'org2', serial: mid.cert.serial })
    failed(await h.call(erin, 'whoami', 'whoami', {}), 'CERT_REVOKED')
  })

  it('bounds chain parameter changes by the genesis values', async () => {
    const h = await consortium()
    for (const action of [
      { type: 'params.set', maxBlockBytes: 64 * 1024 * 1024 },
      { type: 'params.set', maxTxTtlMs: 10 * 60 * 60 * 1000 },
      { type: 'params.set', maxTxBytes: 0 },
      { type: 'params.set', blockTime: 5 },
      { type: 'params.set', timeouts: { proposeMs: 5 } },
      { type: 'params.set', timeouts: { commitMs: 500 } },
      { type: 'params.set', maxTxBytes: 100 },
      { type: 'params.set', maxTxTtlMs: 1000 },
      { type: 'params.set', maxBlockTxs: 50_000 },
    ])
      failed(await h.call(admin1, 'governance', 'propose', { action }), 'GOV_ACTION_INVALID')
    const p = result(ok(await h.call(admin1, 'governance', 'propose', { action: { type: 'params.set', maxBlockTxs: 500 } })))
    expect(p.action).toMatchObject({ maxBlockTxs: 500, maxTxBytes: 64 * 1024 })
    await h.call(admin2, 'governance', 'vote', { id: p.id, approve: true })
    const params = (await h.query('governance', 'params')).result as { changes: Array<{ height: number; params: { maxBlockTxs: number } }> }
    expect(params.changes).toEqual([
      expect.objectContaining({ height: h.chain.head.height + 2, params: expect.objectContaining({ maxBlockTxs: 500 }) }),
    ])
  })

  it('keeps a k-of-n policy satisfiable', async () => {
    const h = await consortium()
    const bad = { type: 'config.set', policies: { default: { rule: 'K_OF_N', k: 1, orgs: ['org9'] } } }
    failed(await h.call(admin1, 'governance', 'propose', { action: bad }), 'GOV_ACTION_INVALID')
    await decide(h, { type: 'config.set', policies: { 'config.set': { rule: 'K_OF_N', k: 2, orgs: ['org1', 'org2'] } } })
    failed(await h.call(admin1, 'governance', 'propose', { action: { type: 'org.remove', id: 'org2' } }), 'GOV_ACTION_INVALID')
  })

  it('enforces access rules: a client certificate cannot call an admin-only method', async () => {
    const h = await consortium()
    await decide(h, { type: 'acl.set', contract: 'whoami', method: 'admin', rule: { roles: ['admin'] } })
    const tx = h.tx(clerk1, 'whoami', 'admin', {})
    rejects(h, tx, 'PERMISSION_DENIED')
    failed((await h.block([tx]))[0] as Receipt, 'PERMISSION_DENIED')
    failed(await h.call(testKey(8), 'whoami', 'admin', {}), 'PERMISSION_DENIED')
    expect(valueToJSON(ok(await h.call(admin2, 'whoami', 'admin', {})).returnValue)).toBe('admin')
    ok(await h.call(clerk1, 'whoami', 'whoami', {})) // other methods stay open
    await decide(h, { type: 'acl.set', contract: 'whoami', method: '*', rule: { orgs: ['org2'] } })
    failed(await h.call(clerk1, 'whoami', 'whoami', {}), 'PERMISSION_DENIED')
    ok(await h.call(admin2, 'whoami', 'whoami', {}))
    // Method names that are Object.prototype properties get no special treatment.
    failed(await h.call(clerk1, 'whoami', 'toString', {}), 'PERMISSION_DENIED')
    for (const method of ['__proto__', 'constructor', 'hasOwnProperty'])
      failed(
        await h.call(admin1, 'governance', 'propose', {
          action: { type: 'acl.set', contract: 'whoami', method, rule: { orgs: ['org1'] } },
        }),
        'GOV_ACTION_INVALID',
      )
    // System contracts are not governed by access lists, and no contract may be deployed as one.
    failed(
      await h.call(admin1, 'governance', 'propose', { action: { type: 'acl.set', contract: 'governance', rule: null } }),
      'GOV_ACTION_INVALID',
    )
    failed(await h.deploy('governance', whoami), 'CONTRACT_EXISTS')
  })

  it('approves contract upgrades: without an approval an upgrade is refused, with one it is used once', async () => {
    const h = await consortium()
    const v2src = WHOAMI.replace("version: '1.0.0'", "version: '2.0.0'")
    const path = join(dir, 'whoami2.ts')
    writeFileSync(path, v2src)
    const v2 = await contractArtifact(path)
    const upgrade = { name: 'whoami', code: v2.code }
    rejects(h, h.tx(admin1, 'trellis', 'upgrade', upgrade), 'LIFECYCLE_NOT_APPROVED')
    failed(await h.call(admin1, 'trellis', 'upgrade', upgrade), 'LIFECYCLE_NOT_APPROVED')
    // One approval is not enough to decide it.
    const p = result(
      ok(
        await h.call(admin1, 'governance', 'propose', {
          action: { type: 'contract.approve', contract: 'whoami', operation: 'upgrade', codeHash: v2.codeHash },
        }),
      ),
    )
    failed(await h.call(admin1, 'trellis', 'upgrade', upgrade), 'LIFECYCLE_NOT_APPROVED')
    ok(await h.call(admin2, 'governance', 'vote', { id: p.id, approve: true }))
    failed(await h.call(clerk1, 'trellis', 'upgrade', upgrade), 'LIFECYCLE_NOT_APPROVED') // a client, not an admin
    failed(await h.call(admin3, 'trellis', 'upgrade', upgrade), 'LIFECYCLE_NOT_APPROVED') // org1 proposed: org1 carries it out
    failed(await h.call(admin1, 'trellis', 'upgrade', { ...upgrade, upgradeArgs: { owner: 'me' } }), 'LIFECYCLE_NOT_APPROVED') // other hook args
    const v3 = { name: 'whoami', code: v2.code.replace('2.0.0', '3.0.0') }
    failed(await h.call(admin1, 'trellis', 'upgrade', v3), 'LIFECYCLE_NOT_APPROVED') // another code hash, with an approval pending
    ok(await h.call(admin1, 'trellis', 'upgrade', upgrade))
    expect(((await h.query('trellis', 'get', { name: 'whoami' })).result as Record<string, unknown>).version).toBe('2.0.0')
    // Used once: the same approval cannot upgrade again (here: back to a pause, which needs its own).
    failed(await h.call(admin1, 'trellis', 'pause', { name: 'whoami' }), 'LIFECYCLE_NOT_APPROVED')
    // An approval left unused expires with the proposal lifetime.
    await decide(h, { type: 'contract.approve', contract: 'whoami', operation: 'pause' })
    h.time += 8 * DAY
    failed(await h.call(admin1, 'trellis', 'pause', { name: 'whoami' }), 'LIFECYCLE_NOT_APPROVED')
    // Retiring the genesis admin keys leaves governance as the only way.
    await decide(h, { type: 'config.set', adminKeysRetired: true })
    failed(await h.call(h.admin, 'trellis', 'pause', { name: 'whoami' }), 'LIFECYCLE_NOT_APPROVED')
  })

  it('can require certificates for every transaction', async () => {
    const h = await consortium()
    await decide(h, { type: 'config.set', certificatesRequired: true })
    rejects(h, h.tx(testKey(12), 'whoami', 'whoami', {}), 'CERT_REQUIRED')
    failed(await h.call(testKey(12), 'whoami', 'whoami', {}), 'CERT_REQUIRED')
    ok(await h.call(clerk1, 'whoami', 'whoami', {}))
  })

  it('shows CA certificates that expire soon, judged by the block time', async () => {
    const h = await consortium()
    const shortLived = await TestOrg.create('org4', { validityDays: 20 })
    await decide(h, { type: 'org.add', id: 'org4', name: 'Org Four', caCerts: [shortLived.caPem] })
    const soon = (await h.query('governance', 'expiring', { withinMs: 30 * DAY })).result as unknown as Array<Record<string, unknown>>
    expect(soon).toEqual([
      { org: 'org4', commonName: 'org4 root CA', serial: shortLived.ca.cert.serial, notAfter: shortLived.ca.cert.notAfter, expired: false },
    ])
    expect((await h.query('governance', 'expiring', { withinMs: DAY })).result).toEqual([])
  })

  it('keeps the whole decision history auditable', async () => {
    const h = await consortium()
    const r = await h.call(admin1, 'governance', 'propose', {
      action: { type: 'org.remove', id: 'org3' },
      description: 'left the consortium',
    })
    const vote = await h.call(admin2, 'governance', 'vote', { id: 1, approve: true })
    expect(r.events.map((e) => e.name)).toEqual(['ProposalCreated', 'VoteCast'])
    expect(vote.events.map((e) => e.name)).toEqual(['VoteCast', 'OrgRemoved', 'ProposalExecuted'])
    const p = (await h.query('governance', 'proposal', { id: 1 })).result as Record<string, unknown>
    expect(p).toMatchObject({
      description: 'left the consortium',
      proposer: { id: 'org1/alice', org: 'org1' },
      policy: { rule: 'MAJORITY', role: 'admin' },
      status: 'executed',
      votes: [
        { org: 'org1', voter: 'org1/alice', approve: true },
        { org: 'org2', voter: 'org2/bob', approve: true },
      ],
    })
  })
})
