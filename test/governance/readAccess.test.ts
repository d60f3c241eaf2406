import { READ_AUTH_SCHEME, readRequestMessage } from '@trellis/api'
import { sign } from '@trellis/crypto'
import { ContractExecutor, notaryContract } from '@trellis/node'
import { createClient, governance, type TrellisClient } from '@trellis/sdk'
import { bytesToBase64, TrellisError } from '@trellis/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Member, TestOrg } from '../support/contracts.js'
import { http, startTestNode, type TestNode } from '../support/http.js'

// A consortium's ledger is not public: once governance sets `readAccess: members`, every API read
// is signed with a member's certificate (the SDK's `auth`), checked like a tx signer's.

const DAY = 86_400_000
let t: TestNode
let org1: TestOrg
let org2: TestOrg
let admin1: Member
let admin2: Member
let reader: Member
let sensor: Member

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'OK'
  } catch (err) {
    return err instanceof TrellisError ? err.code : String(err)
  }
}

function signed(who: Member, path: string, ts = Date.now(), tamper = false, method = 'GET', body?: unknown, chainId = t.genesis.chainId) {
  const sig = sign(who.privateKey, readRequestMessage(chainId, method, path, ts, body))
  if (tamper) sig[5] = (sig[5] as number) ^ 1
  return { authorization: `${READ_AUTH_SCHEME} cert=${bytesToBase64(who.certificate)}, ts=${ts}, sig=${bytesToBase64(sig)}` }
}

beforeAll(async () => {
  const now = Date.now()
  ;[org1, org2] = await Promise.all([TestOrg.create('org1', { notBefore: now - DAY }), TestOrg.create('org2', { notBefore: now - DAY })])
  const o = { notBefore: now - DAY, notAfter: now + 30 * DAY }
  ;[admin1, admin2, reader, sensor] = await Promise.all([
    org1.member('alice', 'admin', o),
    org2.member('bob', 'admin', o),
    org2.member('audit', 'auditor', o),
    org1.member('sensor-7', 'device', o),
  ])
  const executor = await ContractExecutor.create({ builtins: [notaryContract], orgs: [org1.organisation, org2.organisation] })
  t = await startTestNode({ executor })
}, 60_000)

afterAll(() => t?.close())

async function decide(client: TrellisClient, action: Parameters<typeof governance.propose>[1]): Promise<void> {
  const p = await governance.propose(client, action, { signer: admin1.privateKey, certificate: admin1.certificate })
  const id = (p.result as { id: number }).id
  const v = await governance.vote(client, id, true, { signer: admin2.privateKey, certificate: admin2.certificate })
  expect((v.result as { status: string }).status).toBe('executed')
}

describe('authenticated reads', () => {
  it('are public by default, members-only once governance decides, signed by the SDK', async () => {
    const anonymous = createClient({ url: t.url })
    expect((await anonymous.status()).height).toBeGreaterThanOrEqual(0)
    // While reads are public, the votes can be sent by an unsigned client.
    // Members-only reads need members-only txs too (receipts show results).
    const refused = await code(
      governance.propose(
        anonymous,
        { type: 'config.set', readAccess: 'members' },
        { signer: admin1.privateKey, certificate: admin1.certificate },
      ),
    )
    expect(refused).toBe('GOV_ACTION_INVALID')
    await decide(anonymous, { type: 'config.set', readAccess: 'members', certificatesRequired: true })

    expect(await code(anonymous.status())).toBe('READ_AUTH_REQUIRED')
    expect(await code(anonymous.getBlock('latest'))).toBe('READ_AUTH_REQUIRED')
    expect(await code(governance.orgs(anonymous))).toBe('READ_AUTH_REQUIRED')
    expect((await t.get('/healthz')).status).toBe(200)

    const auditor = createClient({ url: t.url, auth: { privateKey: reader.privateKey, certificate: reader.certificate } })
    expect((await auditor.status()).chainId).toBe(t.genesis.chainId)
    const orgs = (await governance.orgs(auditor)) as Array<{ id: string }>
    expect(orgs.map((x) => x.id)).toEqual(['org1', 'org2'])
    // Submitting stays open (txs are signed); reading the result needs a signature.
    const member = createClient({ url: t.url, auth: { privateKey: admin1.privateKey, certificate: admin1.certificate } })
    await decide(member, { type: 'config.set', readRoles: ['admin', 'auditor'] })
    const device = createClient({ url: t.url, auth: { privateKey: sensor.privateKey, certificate: sensor.certificate } })
    expect(await code(device.status())).toBe('READ_NOT_PERMITTED')
    expect(await code(auditor.status())).toBe('OK')
  })

  it('refuses a bad signature, a stale time, a certificate of an unknown CA', async () => {
    expect((await http(t.url, 'GET', '/v1/status', { headers: signed(reader, '/v1/status') })).status).toBe(200)
    const tampered = await http(t.url, 'GET', '/v1/status', { headers: signed(reader, '/v1/status', Date.now(), true) })
    expect([tampered.status, (tampered.body as { code: string }).code]).toEqual([401, 'READ_AUTH_INVALID'])
    // Signed for another path: not valid for this one.
    const otherPath = await http(t.url, 'GET', '/v1/status', { headers: signed(reader, '/v1/contracts') })
    expect((otherPath.body as { code: string }).code).toBe('READ_AUTH_INVALID')
    const stale = await http(t.url, 'GET', '/v1/status', { headers: signed(reader, '/v1/status', Date.now() - 10 * 60_000) })
    expect((stale.body as { code: string }).code).toBe('READ_AUTH_INVALID')
    // For another chain, or another query body: not valid for this request.
    const otherChain = await http(t.url, 'GET', '/v1/status', {
      headers: signed(reader, '/v1/status', Date.now(), false, 'GET', undefined, 'other-chain'),
    })
    expect((otherChain.body as { code: string }).code).toBe('READ_AUTH_INVALID')
    const path = '/v1/contracts/governance/query'
    const asked = { method: 'config', args: {} }
    const goodHeaders = signed(reader, path, Date.now(), false, 'POST', asked)
    const good = await http(t.url, 'POST', path, { json: asked, headers: goodHeaders })
    expect(good.status).toBe(200)
    // A captured header is good once.
    const replayed = await http(t.url, 'POST', path, { json: asked, headers: goodHeaders })
    expect([replayed.status, (replayed.body as { code: string }).code]).toEqual([401, 'READ_AUTH_INVALID'])
    const swapped = await http(t.url, 'POST', path, {
      json: { method: 'orgs', args: {} },
      headers: signed(reader, path, Date.now(), false, 'POST', asked),
    })
    expect([swapped.status, (swapped.body as { code: string }).code]).toEqual([401, 'READ_AUTH_INVALID'])
    const garbage = await http(t.url, 'GET', '/v1/status', { headers: { authorization: 'Bearer abc' } })
    expect([garbage.status, (garbage.body as { code: string }).code]).toEqual([401, 'READ_AUTH_INVALID'])
    const outsider = await (
      await TestOrg.create('org9', { notBefore: Date.now() - DAY })
    ).member('eve', 'auditor', { notBefore: Date.now() - DAY, notAfter: Date.now() + DAY })
    const unknown = await http(t.url, 'GET', '/v1/status', { headers: signed(outsider, '/v1/status') })
    expect([unknown.status, (unknown.body as { code: string }).code]).toEqual([403, 'CERT_UNKNOWN_CA'])
  })
})
