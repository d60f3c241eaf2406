import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  certificateToPem,
  createCertificateAuthority,
  encryptPrivateKey,
  generateKeyPair,
  issueCertificate,
  type KeystoreOptions,
  type PublicKey,
  publicKeyFromString,
  publicKeyToString,
  SignatureAlgorithm,
} from '@trellis/crypto'
import { defaultChainParams, type Genesis, genesisToJSON, isValidChainId } from '@trellis/ledger'
import type { PeerAddress } from '@trellis/p2p'
import { TrellisError } from '@trellis/utils'
import { dataDirPaths, writeValidatorKey } from './dataDir.js'
import type { NodeErrorType } from './errors.js'
import type { NetworkOptions } from './options.js'

/** One node of a local network, as `network.json` lists it. */
export interface NetworkNode {
  /** Node name, also its data directory under the network directory. */
  readonly name: string
  /** The organisation that runs it. */
  readonly org: string
  readonly publicKey: string
  readonly host: string
  readonly apiPort: number
  readonly p2pPort: number
  /** Where the others dial this node, when not host:p2pPort (behind NAT, a load balancer or a proxy). */
  readonly p2pAddress?: string
}

export interface NetworkFile {
  readonly chainId: string
  readonly nodes: readonly NetworkNode[]
}

export const NETWORK_FILE = 'network.json'

function configError(reason: string): TrellisError<NodeErrorType> {
  return new TrellisError<NodeErrorType>({ code: 'CONFIG_INVALID', reason }, reason)
}

export interface InitNetworkOptions {
  readonly dir: string
  readonly chainId: string
  readonly validators: number
  /** Encrypts every node's validator key. */
  readonly password: string
  readonly host?: string
  /** API ports are apiPorts[i]; p2p ports p2pPorts[i]. */
  readonly apiPorts: readonly number[]
  readonly p2pPorts: readonly number[]
  readonly genesisTime?: number
  readonly keystore?: KeystoreOptions
}

/**
 * Creates a local multi-organisation network: one organisation per validator, each with its own
 * encrypted validator key in its own data directory, its own root CA and admin certificate under
 * `orgs/<org>/`, one genesis naming all of them (validators of equal power, organisations with their
 * CAs), and `network.json` with every node's key and ports.
 * @throws TrellisError CONFIG_INVALID
 */
export async function initNetworkDir(o: InitNetworkOptions): Promise<NetworkFile> {
  if (existsSync(join(o.dir, NETWORK_FILE))) throw configError(`${o.dir} already holds a network (${NETWORK_FILE} exists)`)
  if (!isValidChainId(o.chainId)) throw configError('chain id must be 1-64 characters of [a-zA-Z0-9._-]')
  if (!Number.isInteger(o.validators) || o.validators < 1 || o.validators > 64) throw configError('validators must be 1..64')
  if (o.password.length < 8) throw configError('the key password must have at least 8 characters')
  if (o.apiPorts.length < o.validators || o.p2pPorts.length < o.validators) throw configError('one API and one p2p port per validator')
  const host = o.host ?? '127.0.0.1'
  const keys = Array.from({ length: o.validators }, () => generateKeyPair(SignatureAlgorithm.P256))
  const nodes: NetworkNode[] = keys.map((kp, i) => ({
    name: `org${i + 1}-validator`,
    org: `org${i + 1}`,
    publicKey: publicKeyToString(kp.publicKey),
    host,
    apiPort: o.apiPorts[i] as number,
    p2pPort: o.p2pPorts[i] as number,
  }))
  const genesisTime = o.genesisTime ?? Date.now()
  const created = await Promise.all(
    nodes.map((n) => createOrgFiles(join(o.dir, ORGS_DIR, n.org), n.org, o.password, genesisTime, o.keystore)),
  )
  const orgs = created.map((c) => c.org)
  // Each validator's node certificate, from its organisation's CA (p2p trusts it while not revoked).
  const nodeCerts = await Promise.all(
    keys.map((kp, i) =>
      issueCertificate({
        issuer: (created[i] as (typeof created)[number]).ca,
        subjectPublicKey: kp.publicKey,
        commonName: (nodes[i] as NetworkNode).name,
        role: 'node',
        notBefore: genesisTime - 60_000,
        validityDays: 365,
      }),
    ),
  )
  const genesis: Genesis = {
    chainId: o.chainId,
    genesisTime,
    params: defaultChainParams,
    validators: {
      validators: keys.map((kp, i) => ({
        name: (nodes[i] as NetworkNode).name,
        publicKey: kp.publicKey,
        power: 1,
        certificate: (nodeCerts[i] as (typeof nodeCerts)[number]).der,
      })),
    },
    admins: keys.map((kp) => kp.publicKey),
    orgs,
  }
  const genesisText = `${JSON.stringify(genesisToJSON(genesis), null, 2)}\n`
  for (const [i, kp] of keys.entries()) {
    const dataDir = join(o.dir, (nodes[i] as NetworkNode).name)
    await writeValidatorKey(dataDir, kp.privateKey, o.password, o.keystore)
    await writeFile(dataDirPaths(dataDir).genesis, genesisText)
  }
  const file: NetworkFile = { chainId: o.chainId, nodes }
  await writeFile(join(o.dir, NETWORK_FILE), `${JSON.stringify(file, null, 2)}\n`)
  return file
}

/** Where a local network keeps each organisation's CA and admin identity: `orgs/<org>/`. */
export const ORGS_DIR = 'orgs'

/** The files of one organisation's identity material in a local network. */
export function orgFiles(dir: string) {
  return {
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key.json'),
    adminCert: join(dir, 'admin.pem'),
    adminKey: join(dir, 'admin.key.json'),
  }
}

async function writeSecret(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 })
  await chmod(path, 0o600)
}

/**
 * An organisation's root CA (10 years) and its first admin certificate (1 year), valid from the
 * genesis time; keys encrypted with `password`.
 */
async function createOrgFiles(dir: string, org: string, password: string, notBefore: number, keystore?: KeystoreOptions) {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const ca = await createCertificateAuthority({ org, commonName: `${org} root CA`, validityDays: 3650, notBefore: notBefore - 60_000 })
  const admin = generateKeyPair(SignatureAlgorithm.P256)
  const adminCert = await issueCertificate({
    issuer: ca,
    subjectPublicKey: admin.publicKey,
    commonName: 'admin',
    role: 'admin',
    notBefore: notBefore - 60_000,
    validityDays: 365,
  })
  const files = orgFiles(dir)
  await writeFile(files.caCert, certificateToPem(ca.cert.der))
  await writeSecret(files.caKey, `${JSON.stringify(encryptPrivateKey(ca.privateKey, password, keystore), null, 2)}\n`)
  await writeFile(files.adminCert, certificateToPem(adminCert.der))
  await writeSecret(files.adminKey, `${JSON.stringify(encryptPrivateKey(admin.privateKey, password, keystore), null, 2)}\n`)
  return { org: { id: org, name: org, caCerts: [ca.cert.der] }, ca }
}

export interface AddNetworkNodeOptions {
  readonly dir: string
  readonly org: string
  readonly password: string
  readonly apiPort: number
  readonly p2pPort: number
  readonly keystore?: KeystoreOptions
}

/**
 * Prepares a validator node for an organisation joining a local network, as it would on its own
 * machine: a data directory with the chain's genesis and a new key, listed in `network.json` so that
 * `network up` starts it. It follows the chain until governance adds it (`validator.add`).
 * @throws TrellisError CONFIG_INVALID
 */
export async function addNetworkNode(o: AddNetworkNodeOptions): Promise<NetworkNode> {
  const file = await loadNetworkFile(join(o.dir, NETWORK_FILE))
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(o.org)) throw configError('organisation id must be 1-64 characters of [A-Za-z0-9._-]')
  const name = `${o.org}-validator`
  if (file.nodes.some((n) => n.org === o.org || n.name === name)) throw configError(`the network already has organisation "${o.org}"`)
  const first = file.nodes[0]
  if (first === undefined) throw configError('the network lists no node')
  const genesisText = await readFile(dataDirPaths(join(o.dir, first.name)).genesis, 'utf8')
  const kp = generateKeyPair(SignatureAlgorithm.P256)
  const dataDir = join(o.dir, name)
  await writeValidatorKey(dataDir, kp.privateKey, o.password, o.keystore)
  await writeFile(dataDirPaths(dataDir).genesis, genesisText)
  const host = first.host
  const node: NetworkNode = { name, org: o.org, publicKey: publicKeyToString(kp.publicKey), host, apiPort: o.apiPort, p2pPort: o.p2pPort }
  const next: NetworkFile = { ...file, nodes: [...file.nodes, node] }
  await writeFile(join(o.dir, NETWORK_FILE), `${JSON.stringify(next, null, 2)}\n`)
  return node
}

/** Reads `network.json`. @throws TrellisError CONFIG_INVALID */
export async function loadNetworkFile(path: string): Promise<NetworkFile> {
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(path, 'utf8'))
  } catch (cause) {
    throw new TrellisError<NodeErrorType>({ code: 'CONFIG_INVALID', reason: 'cannot read network file' }, `cannot read ${path}`, { cause })
  }
  const f = raw as Partial<NetworkFile>
  const port = (p: unknown) => Number.isInteger(p) && (p as number) > 0 && (p as number) < 65536
  if (
    typeof f !== 'object' ||
    f === null ||
    typeof f.chainId !== 'string' ||
    !Array.isArray(f.nodes) ||
    !f.nodes.every(
      (n) =>
        typeof n?.name === 'string' &&
        /^[a-zA-Z0-9._-]+$/.test(n.name) &&
        typeof n.publicKey === 'string' &&
        typeof n.host === 'string' &&
        port(n.apiPort) &&
        port(n.p2pPort) &&
        (n.p2pAddress === undefined || (typeof n.p2pAddress === 'string' && /^[^\s:]+:\d+$/.test(n.p2pAddress))),
    )
  ) {
    throw configError(`${path} is not a valid network file`)
  }
  return f as NetworkFile
}

/** This node's p2p options in a network: its own listen port, every other node as a peer. */
export function networkOptionsFor(file: NetworkFile, self: PublicKey): NetworkOptions {
  const me = publicKeyToString(self)
  const mine = file.nodes.find((n) => n.publicKey === me)
  if (mine === undefined) throw configError('this node key is not in the network file')
  const peers: PeerAddress[] = file.nodes
    .filter((n) => n.publicKey !== me)
    .map((n) => ({ publicKey: publicKeyFromString(n.publicKey), address: n.p2pAddress ?? `${n.host}:${n.p2pPort}` }))
  return { host: mine.host, port: mine.p2pPort, peers }
}
