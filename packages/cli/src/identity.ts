import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { certificateFromPem, decryptPrivateKey, type PrivateKey } from '@trellis/crypto'
import { loadNetworkFile, loadValidatorKey, NETWORK_FILE, orgFiles, ORGS_DIR } from '@trellis/node'
import { createClient, type TrellisClient } from '@trellis/sdk'
import { cliError, readJSONFile, readPassword } from './io.js'

/** Who signs a tx: a key, and the certificate that vouches for it on chains with organisations. */
export interface SigningIdentity {
  readonly privateKey: PrivateKey
  readonly certificate?: Uint8Array
}

export interface IdentityFlags {
  /** Encrypted key file. */
  key?: string
  /** PEM certificate of that key. */
  cert?: string
  /** Local networks: act as this organisation's admin (orgs/<org>/admin.*). */
  as?: string
  /** Local networks: the genesis admin key of the first organisation's validator. */
  admin?: boolean
  /** The local network directory. */
  network: string
}

/** Reads a PEM certificate file. @throws FILE_INVALID */
export async function readCertificate(path: string): Promise<Uint8Array> {
  let pem: string
  try {
    pem = await readFile(path, 'utf8')
  } catch {
    throw cliError('FILE_NOT_FOUND', `cannot read the certificate ${path}`)
  }
  try {
    return certificateFromPem(pem)
  } catch (err) {
    throw cliError('FILE_INVALID', `${path} is not a PEM certificate: ${(err as Error).message}`)
  }
}

/** Decrypts a key file (password from TRELLIS_KEY_PASSWORD or a prompt). */
export async function readKeyFile(path: string, password?: string): Promise<PrivateKey> {
  const file = await readJSONFile(path, 'key file')
  return decryptPrivateKey(file, password ?? (await readPassword(`Password for ${path}: `)))
}

async function localNetwork(dir: string, flag: string): Promise<{ password: string; first: string }> {
  const passwordFile = join(dir, 'dev-password')
  if (!existsSync(join(dir, NETWORK_FILE)) || !existsSync(passwordFile)) {
    throw cliError('NO_LOCAL_NETWORK', `${flag} signs with a local network's keys, but ${dir} holds no network (start one with: npm start)`)
  }
  const file = await loadNetworkFile(join(dir, NETWORK_FILE))
  const first = file.nodes[0]
  if (first === undefined) throw cliError('NO_LOCAL_NETWORK', `${dir}/${NETWORK_FILE} lists no node`)
  return { password: (await readFile(passwordFile, 'utf8')).trim(), first: first.name }
}

/**
 * The signer a command's flags name: `--key <file> [--cert <pem>]`; on a local network `--as <org>`
 * (that organisation's admin certificate) or `--admin` (the genesis admin key of the first validator).
 * @throws FLAG_INVALID | NO_LOCAL_NETWORK | FILE_*
 */
export async function signingIdentity(flags: IdentityFlags): Promise<SigningIdentity> {
  const given = [flags.key !== undefined, flags.as !== undefined, flags.admin === true].filter(Boolean).length
  if (given > 1) throw cliError('FLAG_INVALID', 'give only one of --key, --as and --admin')
  if (flags.key !== undefined) {
    const privateKey = await readKeyFile(flags.key)
    return flags.cert === undefined ? { privateKey } : { privateKey, certificate: await readCertificate(flags.cert) }
  }
  if (flags.cert !== undefined) throw cliError('FLAG_INVALID', '--cert goes with --key (the certificate of that key)')
  if (flags.as !== undefined) {
    const { password } = await localNetwork(flags.network, '--as')
    const files = orgFiles(join(flags.network, ORGS_DIR, flags.as))
    if (!existsSync(files.adminKey))
      throw cliError('ORG_NOT_FOUND', `the local network has no organisation "${flags.as}" (no ${files.adminKey})`)
    return { privateKey: await readKeyFile(files.adminKey, password), certificate: await readCertificate(files.adminCert) }
  }
  if (flags.admin === true) {
    const { password, first } = await localNetwork(flags.network, '--admin')
    return { privateKey: await loadValidatorKey(join(flags.network, first), password) }
  }
  throw cliError('FLAG_INVALID', 'give --key <file> [--cert <pem>] (or, on a local network, --as <org> or --admin)')
}

/**
 * The API client of a command. On a chain readable by its members only, reads are signed with the
 * certificate and key named by TRELLIS_READ_CERT and TRELLIS_READ_KEY (password: TRELLIS_KEY_PASSWORD).
 * @throws FLAG_INVALID | FILE_* | PASSWORD_REQUIRED
 */
export function apiClient(url: string): TrellisClient {
  const keyFile = process.env.TRELLIS_READ_KEY
  const certFile = process.env.TRELLIS_READ_CERT
  if (keyFile === undefined && certFile === undefined) return createClient({ url })
  if (keyFile === undefined || certFile === undefined)
    throw cliError('FLAG_INVALID', 'set both TRELLIS_READ_KEY and TRELLIS_READ_CERT to sign reads (or neither)')
  const password = process.env.TRELLIS_KEY_PASSWORD
  if (password === undefined || password === '') throw cliError('PASSWORD_REQUIRED', 'TRELLIS_READ_KEY needs TRELLIS_KEY_PASSWORD')
  let keyJson: unknown
  let pem: string
  try {
    keyJson = JSON.parse(readFileSync(keyFile, 'utf8'))
    pem = readFileSync(certFile, 'utf8')
  } catch (err) {
    throw cliError('FILE_INVALID', `cannot read TRELLIS_READ_KEY / TRELLIS_READ_CERT: ${(err as Error).message}`)
  }
  let certificate: Uint8Array
  try {
    certificate = certificateFromPem(pem)
  } catch (err) {
    throw cliError('FILE_INVALID', `${certFile} is not a PEM certificate: ${(err as Error).message}`)
  }
  return createClient({ url, auth: { privateKey: decryptPrivateKey(keyJson, password), certificate } })
}
