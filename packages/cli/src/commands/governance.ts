import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  CERT_ROLES,
  type CertRole,
  certificateToPem,
  createCertificateAuthority,
  encryptPrivateKey,
  generateKeyPair,
  issueCertificate,
  parseCertificate,
  publicKeyFromPrivate,
  publicKeyToString,
} from '@trellis/crypto'
import { type ContractCallResult, type GovernanceAction, governance, type ProposalView, type TrellisClient } from '@trellis/sdk'
import type { JsonValue } from '@trellis/ledger'
import { apiClient, type IdentityFlags, readCertificate, readKeyFile, signingIdentity } from '../identity.js'
import { cliError, intFlag, ledgerJSON, printJSON, readJSONFile, readPassword, step, style } from '../io.js'

interface ClientFlags {
  node: string
  chainId?: string
}

interface SignerFlags extends ClientFlags, IdentityFlags {
  wait: boolean
}

const client = (flags: ClientFlags): TrellisClient => apiClient(flags.node)

async function newKeyPassword(): Promise<string> {
  const password = await readPassword('Password for the new key: ', { confirm: true })
  if (password.length < 8) throw cliError('PASSWORD_TOO_SHORT', 'the password must have at least 8 characters')
  return password
}

function refuseOverwrite(...paths: string[]): void {
  for (const p of paths) if (existsSync(p)) throw cliError('FILE_EXISTS', `${p} exists: choose another --out`)
}

/** `trellis ca create`: an organisation's root CA, or an intermediate under `--parent`. */
export async function caCreateCommand(flags: { org: string; out: string; name?: string; days: string; parent?: string }): Promise<void> {
  const days = intFlag(flags.days, 'days', 1, 36_500)
  const certPath = join(flags.out, 'ca.pem')
  const keyPath = join(flags.out, 'ca.key.json')
  refuseOverwrite(certPath, keyPath)
  let parent
  if (flags.parent !== undefined) {
    const cert = parseCertificate(await readCertificate(join(flags.parent, 'ca.pem')))
    parent = { cert, privateKey: await readKeyFile(join(flags.parent, 'ca.key.json')) }
    if (cert.subject.org !== flags.org) throw cliError('FLAG_INVALID', `the parent CA is of "${cert.subject.org}", not "${flags.org}"`)
  }
  const password = await newKeyPassword()
  const ca = await createCertificateAuthority({
    org: flags.org,
    commonName: flags.name ?? `${flags.org} ${parent === undefined ? 'root' : 'intermediate'} CA`,
    validityDays: days,
    ...(parent === undefined ? {} : { parent }),
  })
  await mkdir(flags.out, { recursive: true, mode: 0o700 })
  await writeFile(certPath, certificateToPem(ca.cert.der))
  await writeFile(keyPath, `${JSON.stringify(encryptPrivateKey(ca.privateKey, password), null, 2)}\n`, { mode: 0o600 })
  step(`created ${ca.cert.subject.commonName} for ${style.bold(flags.org)}: ${certPath} (key ${keyPath})`)
  process.stdout.write(`valid until ${new Date(ca.cert.notAfter).toISOString()}, serial ${ca.cert.serial}\n`)
}

function parseAttributes(list: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const item of list) {
    const eq = item.indexOf('=')
    if (eq <= 0) throw cliError('FLAG_INVALID', `--attr must be key=value, got "${item}"`)
    out[item.slice(0, eq)] = item.slice(eq + 1)
  }
  return out
}

/** `trellis cert issue`: a certificate for a user, node, device… signed by an organisation's CA. */
export async function certIssueCommand(flags: {
  ca: string
  name: string
  role: string
  attr: string[]
  days: string
  key?: string
  out: string
}): Promise<void> {
  if (!(CERT_ROLES as readonly string[]).includes(flags.role))
    throw cliError('FLAG_INVALID', `--role must be one of ${CERT_ROLES.join(', ')}`)
  const days = intFlag(flags.days, 'days', 1, 3650)
  const certPath = `${flags.out}.pem`
  const keyPath = `${flags.out}.key.json`
  refuseOverwrite(certPath, ...(flags.key === undefined ? [keyPath] : []))
  const caCert = parseCertificate(await readCertificate(join(flags.ca, 'ca.pem')))
  const caKey = await readKeyFile(join(flags.ca, 'ca.key.json'))
  let subjectKey
  let newKey
  if (flags.key !== undefined) {
    subjectKey = publicKeyFromPrivate(await readKeyFile(flags.key))
  } else {
    newKey = generateKeyPair()
    subjectKey = newKey.publicKey
  }
  const cert = await issueCertificate({
    issuer: { cert: caCert, privateKey: caKey },
    subjectPublicKey: subjectKey,
    commonName: flags.name,
    role: flags.role as CertRole,
    attributes: parseAttributes(flags.attr),
    validityDays: days,
  })
  if (newKey !== undefined) {
    const password = await newKeyPassword()
    await writeFile(keyPath, `${JSON.stringify(encryptPrivateKey(newKey.privateKey, password), null, 2)}\n`, { mode: 0o600 })
  }
  await writeFile(certPath, certificateToPem(cert.der))
  step(
    `issued ${style.bold(`${cert.subject.org}/${cert.subject.commonName}`)} (${flags.role}): ${certPath}${newKey === undefined ? '' : ` (key ${keyPath})`}`,
  )
  process.stdout.write(`serial ${cert.serial}, valid until ${new Date(cert.notAfter).toISOString()}\n`)
}

/** `trellis cert show <pem>`: what a certificate says. */
export async function certShowCommand(path: string): Promise<void> {
  const c = parseCertificate(await readCertificate(path))
  printJSON({
    subject: c.subject,
    issuer: c.issuer,
    role: c.role,
    attributes: c.attributes,
    isCA: c.isCA,
    serial: c.serial,
    notBefore: new Date(c.notBefore).toISOString(),
    notAfter: new Date(c.notAfter).toISOString(),
    publicKey: publicKeyToString(c.publicKey),
    sha256: Buffer.from(c.hash).toString('hex'),
  })
}

function describeProposal(p: ProposalView): string {
  const yes = p.votes.filter((v) => v.approve).map((v) => v.org)
  const no = p.votes.filter((v) => !v.approve).map((v) => v.org)
  const status = p.status === 'executed' ? style.ok(p.status) : p.status === 'open' ? style.bold(p.status) : style.err(p.status)
  const policy = p.policy.rule === 'K_OF_N' ? `${p.policy.k} of ${p.policy.orgs.join(', ')}` : p.policy.rule
  return `#${p.id} ${p.action.type} ${status} — ${policy} (${p.policy.role ?? 'admin'}); yes: ${yes.join(', ') || '-'}; no: ${no.join(', ') || '-'}${p.error === null ? '' : ` — ${p.error.code}: ${p.error.message}`}`
}

function reportProposal(r: ContractCallResult<JsonValue>): void {
  if (r.height === undefined) {
    step(`accepted ${r.txId} (not waiting for the commit)`)
    return
  }
  const p = r.result as unknown as ProposalView
  step(`committed at height ${r.height}: ${describeProposal(p)}`)
  for (const e of r.events ?? []) process.stdout.write(`  event ${e.contract}.${e.name} ${JSON.stringify(e.data)}\n`)
}

async function propose(flags: SignerFlags & { description?: string }, action: GovernanceAction): Promise<void> {
  const id = await signingIdentity(flags)
  const r = await governance.propose(client(flags), action, {
    signer: id.privateKey,
    ...(id.certificate === undefined ? {} : { certificate: id.certificate }),
    wait: flags.wait,
    ...(flags.description === undefined ? {} : { description: flags.description }),
    ...(flags.chainId === undefined ? {} : { chainId: flags.chainId }),
  })
  reportProposal(r)
}

/** `trellis proposal create --action <json>`: any governance action. */
export async function proposalCreateCommand(flags: SignerFlags & { action: string; description?: string }): Promise<void> {
  let action: GovernanceAction
  try {
    action = JSON.parse(flags.action) as GovernanceAction
  } catch {
    throw cliError('FLAG_INVALID', '--action must be JSON, e.g. {"type":"org.remove","id":"org4"}')
  }
  await propose(flags, action)
}

/** `trellis proposal vote <id> --yes|--no`. */
export async function proposalVoteCommand(idText: string, flags: SignerFlags & { yes?: boolean; no?: boolean }): Promise<void> {
  if ((flags.yes === true) === (flags.no === true)) throw cliError('FLAG_INVALID', 'give exactly one of --yes and --no')
  const id = await signingIdentity(flags)
  const r = await governance.vote(client(flags), intFlag(idText, 'the proposal id', 1, Number.MAX_SAFE_INTEGER), flags.yes === true, {
    signer: id.privateKey,
    ...(id.certificate === undefined ? {} : { certificate: id.certificate }),
    wait: flags.wait,
  })
  reportProposal(r)
}

/** `trellis proposal cancel <id>`. */
export async function proposalCancelCommand(idText: string, flags: SignerFlags): Promise<void> {
  const id = await signingIdentity(flags)
  const r = await governance.cancel(client(flags), intFlag(idText, 'the proposal id', 1, Number.MAX_SAFE_INTEGER), {
    signer: id.privateKey,
    ...(id.certificate === undefined ? {} : { certificate: id.certificate }),
    wait: flags.wait,
  })
  reportProposal(r)
}

/** `trellis proposal list`. */
export async function proposalListCommand(flags: ClientFlags & { status?: string; json?: boolean }): Promise<void> {
  const items: ProposalView[] = []
  let after: number | undefined
  for (;;) {
    const page = await governance.proposals(client(flags), {
      limit: 100,
      ...(after === undefined ? {} : { after }),
      ...(flags.status === undefined ? {} : { status: flags.status as ProposalView['status'] }),
    })
    items.push(...page.items)
    if (page.next === null) break
    after = page.next
  }
  if (flags.json === true) return printJSON(items)
  if (items.length === 0) process.stdout.write('no proposals\n')
  for (const p of items) process.stdout.write(`${describeProposal(p)}\n`)
}

/** `trellis proposal show <id>`. */
export async function proposalShowCommand(idText: string, flags: ClientFlags): Promise<void> {
  printJSON(await governance.proposal(client(flags), intFlag(idText, 'the proposal id', 1, Number.MAX_SAFE_INTEGER)))
}

/** `trellis org list`. */
export async function orgListCommand(flags: ClientFlags & { json?: boolean }): Promise<void> {
  const orgs = (await governance.orgs(client(flags))) as Array<{
    id: string
    name: string
    status: string
    cas: Array<{ commonName: string; notAfter: number }>
  }>
  if (flags.json === true) return printJSON(orgs)
  if (orgs.length === 0) process.stdout.write('no organisations (a public-key dev chain)\n')
  for (const o of orgs) {
    const status = o.status === 'active' ? style.ok(o.status) : style.err(o.status)
    const cas = o.cas.map((c) => `${c.commonName} until ${new Date(c.notAfter).toISOString().slice(0, 10)}`).join('; ')
    process.stdout.write(`${style.bold(o.id)} ${status} ${o.name} — ${cas}\n`)
  }
}

/** `trellis org show <id>`. */
export async function orgShowCommand(id: string, flags: ClientFlags): Promise<void> {
  const org = await governance.org(client(flags), id)
  if (org === null) throw cliError('ORG_NOT_FOUND', `no organisation "${id}"`)
  printJSON(org)
}

async function pems(paths: string[]): Promise<string[]> {
  if (paths.length === 0) throw cliError('FLAG_INVALID', 'give the organisation CA certificate(s) with --ca <pem>')
  return Promise.all(paths.map(async (p) => certificateToPem(await readCertificate(p))))
}

/** `trellis org invite`: propose admitting an organisation with its CA certificates. */
export async function orgInviteCommand(
  flags: SignerFlags & { id: string; name?: string; ca: string[]; description?: string },
): Promise<void> {
  await propose(flags, { type: 'org.add', id: flags.id, name: flags.name ?? flags.id, caCerts: await pems(flags.ca) })
}

/** `trellis org update <id>`: propose new CA certificates (rotation, an intermediate) or a new name. */
export async function orgUpdateCommand(
  id: string,
  flags: SignerFlags & { name?: string; ca: string[]; description?: string },
): Promise<void> {
  await propose(flags, {
    type: 'org.update',
    id,
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(flags.ca.length === 0 ? {} : { caCerts: await pems(flags.ca) }),
  })
}

/** `trellis org remove <id>`: propose removing an organisation. */
export async function orgRemoveCommand(id: string, flags: SignerFlags & { description?: string }): Promise<void> {
  await propose(flags, { type: 'org.remove', id })
}

/** `trellis cert revoke`: propose revoking a certificate (given as a file, or by organisation and serial). */
export async function certRevokeCommand(
  flags: SignerFlags & { target?: string; org?: string; serial?: string; reason?: string; atHeight?: string; description?: string },
): Promise<void> {
  let org = flags.org
  let serial = flags.serial
  if (flags.target !== undefined) {
    const c = parseCertificate(await readCertificate(flags.target))
    org = c.subject.org
    serial = c.serial
  }
  if (org === undefined || serial === undefined) throw cliError('FLAG_INVALID', 'give --target <pem>, or --org <id> and --serial <hex>')
  await propose(flags, {
    type: 'cert.revoke',
    org,
    serial,
    ...(flags.reason === undefined ? {} : { reason: flags.reason }),
    ...(flags.atHeight === undefined ? {} : { effectiveHeight: intFlag(flags.atHeight, 'at-height', 1, Number.MAX_SAFE_INTEGER) }),
  })
}

/** `trellis contract approve <artifact|name>`: propose approving one lifecycle operation. */
export async function contractApproveCommand(
  target: string,
  flags: SignerFlags & { operation: string; name?: string; hookArgs?: string; description?: string },
): Promise<void> {
  const op = flags.operation
  if (!['deploy', 'upgrade', 'pause', 'resume', 'freeze'].includes(op))
    throw cliError('FLAG_INVALID', '--operation must be deploy, upgrade, pause, resume or freeze')
  let contract = target
  let codeHash: string | undefined
  if (op === 'deploy' || op === 'upgrade') {
    const a = (await readJSONFile(target, 'contract artifact')) as { format?: string; name?: string; codeHash?: string }
    if (a.format !== 'trellis-contract/1' || typeof a.codeHash !== 'string' || typeof a.name !== 'string')
      throw cliError('FILE_INVALID', `${target} is not a contract artifact (build one with: trellis contract build <source.ts>)`)
    contract = flags.name ?? a.name
    codeHash = a.codeHash
  }
  // The init or upgrade arguments the approval is for: the same values as a deploy's --init-args.
  const args = flags.hookArgs === undefined ? undefined : ledgerJSON(flags.hookArgs, '--hook-args').json
  await propose(flags, {
    type: 'contract.approve',
    contract,
    operation: op as 'deploy',
    ...(codeHash === undefined ? {} : { codeHash }),
    ...(args === undefined ? {} : { args }),
  })
}

/** `trellis permission set <contract>`: propose who may call a contract's methods. */
export async function permissionSetCommand(
  contract: string,
  flags: SignerFlags & { method?: string; orgs?: string; roles?: string; clear?: boolean; description?: string },
): Promise<void> {
  const list = (s: string | undefined) =>
    s === undefined
      ? undefined
      : s
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x.length > 0)
  const orgs = list(flags.orgs)
  const roles = list(flags.roles)
  if (flags.clear !== true && orgs === undefined && roles === undefined)
    throw cliError('FLAG_INVALID', 'give --orgs and/or --roles (or --clear to remove the rule)')
  await propose(flags, {
    type: 'acl.set',
    contract,
    method: flags.method ?? '*',
    rule: flags.clear === true ? null : { ...(orgs === undefined ? {} : { orgs }), ...(roles === undefined ? {} : { roles }) },
  })
}

/** `trellis cert expiring`: CA certificates of member organisations that expire soon. */
export async function certExpiringCommand(flags: ClientFlags & { days: string }): Promise<void> {
  const days = intFlag(flags.days, 'days', 0, 36_500)
  const list = await governance.expiring(client(flags), days * 86_400_000)
  if (list.length === 0) process.stdout.write(`no CA certificate of a member expires within ${days} days\n`)
  for (const c of list) {
    const when = new Date(c.notAfter).toISOString()
    process.stdout.write(
      `${c.expired ? style.err('EXPIRED') : style.bold('expires')} ${when}  ${c.org}  ${c.commonName}  serial ${c.serial}\n`,
    )
  }
}

/** `trellis permission show <contract>`. */
export async function permissionShowCommand(contract: string, flags: ClientFlags): Promise<void> {
  printJSON(await governance.permissions(client(flags), contract))
}
