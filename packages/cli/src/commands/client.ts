import { createHash } from 'node:crypto'
import { createReadStream, existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import {
  decryptPrivateKey,
  encryptPrivateKey,
  generateKeyPair,
  type PrivateKey,
  publicKeyToString,
  SignatureAlgorithm,
} from '@trellis/crypto'
import type { Value } from '@trellis/ledger'
import { buildTx, type TrellisClient } from '@trellis/sdk'
import { isHex } from '@trellis/utils'
import { apiClient, readCertificate } from '../identity.js'
import { cliError, intFlag, ledgerJSON, printJSON, readJSONFile, readPassword, step, style } from '../io.js'

export interface ClientFlags {
  node: string
  chainId?: string
}

function client(flags: ClientFlags): TrellisClient {
  return apiClient(flags.node)
}

async function loadKey(path: string): Promise<PrivateKey> {
  const file = await readJSONFile(path, 'key file')
  return decryptPrivateKey(file, await readPassword(`Password for ${path}: `))
}

/** `trellis keygen`: a new key pair, written as an encrypted key file. */
export async function keygenCommand(flags: { out: string; alg: string; force?: boolean }): Promise<void> {
  if (flags.alg !== SignatureAlgorithm.P256 && flags.alg !== SignatureAlgorithm.Ed25519)
    throw cliError('FLAG_INVALID', '--alg must be p256 or ed25519')
  if (existsSync(flags.out) && flags.force !== true) throw cliError('FILE_EXISTS', `${flags.out} exists; pass --force to overwrite it`)
  const password = await readPassword('Password for the new key: ', { confirm: true })
  if (password.length < 8) throw cliError('PASSWORD_TOO_SHORT', 'the password must have at least 8 characters')
  const kp = generateKeyPair(flags.alg)
  await writeFile(flags.out, `${JSON.stringify(encryptPrivateKey(kp.privateKey, password), null, 2)}\n`, { mode: 0o600 })
  step(`wrote ${flags.out}`)
  process.stdout.write(`public key: ${publicKeyToString(kp.publicKey)}\n`)
}

async function chainIdOf(flags: ClientFlags, c: TrellisClient): Promise<string> {
  return flags.chainId ?? (await c.status()).chainId
}

async function sendTx(
  flags: ClientFlags & { key: string; cert?: string; wait: boolean; proofOut?: string },
  contract: string,
  method: string,
  args: Value,
): Promise<void> {
  const c = client(flags)
  const signer = await loadKey(flags.key)
  const certificate = flags.cert === undefined ? undefined : await readCertificate(flags.cert)
  const tx = buildTx({
    chainId: await chainIdOf(flags, c),
    contract,
    method,
    args,
    signer,
    ...(certificate === undefined ? {} : { certificate }),
  })
  const res = await c.submit(tx, { wait: flags.wait })
  step(`accepted ${style.bold(res.id)}`)
  if (!flags.wait) return
  if (res.receipt === undefined) return
  const r = res.receipt
  if (r.status === 'ok') step(`committed at height ${res.height}`)
  else process.stdout.write(`${style.err('✘')} committed at height ${res.height} but FAILED: ${r.errorCode}: ${r.errorMessage}\n`)
  printJSON(r.returnValue)
  if (flags.proofOut !== undefined) {
    const full = await c.getTx(res.id)
    await writeFile(flags.proofOut, `${JSON.stringify(full.proof, null, 2)}\n`)
    step(`proof written to ${flags.proofOut} (check it offline: trellis verify ${flags.proofOut} --genesis <genesis.json>)`)
  }
  if (r.status !== 'ok') process.exitCode = 1
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(path)
      .on('error', () => reject(cliError('FILE_NOT_FOUND', `cannot read ${path}`)))
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
  })
}

function parseMeta(pairs: string[]): Record<string, string> {
  const meta: Record<string, string> = {}
  for (const p of pairs) {
    const i = p.indexOf('=')
    if (i <= 0) throw cliError('FLAG_INVALID', `--meta expects key=value, got "${p}"`)
    meta[p.slice(0, i)] = p.slice(i + 1)
  }
  return meta
}

/** `trellis notarise`: record a document's SHA-256 with the notary contract. */
export async function notariseCommand(
  file: string | undefined,
  flags: ClientFlags & { key: string; cert?: string; hash?: string; meta: string[]; wait: boolean; proofOut?: string },
): Promise<void> {
  let hash = flags.hash?.toLowerCase()
  if (hash === undefined) {
    if (file === undefined) throw cliError('FLAG_INVALID', 'give a file to notarise or --hash <sha256 hex>')
    hash = await sha256File(file)
    step(`sha256(${file}) = ${hash}`)
  } else if (!isHex(hash, 32)) throw cliError('FLAG_INVALID', '--hash must be 64 hex characters (a SHA-256 digest)')
  await sendTx({ ...flags, wait: flags.wait || flags.proofOut !== undefined }, 'notary', 'record', { hash, meta: parseMeta(flags.meta) })
}

function parseArgs(json: string): Value {
  return ledgerJSON(json, 'the arguments').value
}

/** `trellis send`: call any contract method. */
export async function sendCommand(
  flags: ClientFlags & { key: string; contract: string; method: string; args: string; wait: boolean; proofOut?: string },
): Promise<void> {
  await sendTx(flags, flags.contract, flags.method, parseArgs(flags.args))
}

/** `trellis query`: run a read-only contract method. */
export async function queryCommand(
  contractArg: string | undefined,
  methodArg: string | undefined,
  argsArg: string | undefined,
  flags: ClientFlags & { contract?: string; method?: string; args?: string; height?: string },
): Promise<void> {
  const contract = flags.contract ?? contractArg
  const method = flags.method ?? methodArg
  if (contract === undefined || method === undefined) throw cliError('FLAG_INVALID', 'usage: trellis query <contract> <method> [args-json]')
  const height = flags.height === undefined ? undefined : intFlag(flags.height, 'height', 1, Number.MAX_SAFE_INTEGER)
  const res = await client(flags).query(contract, method, parseArgs(flags.args ?? argsArg ?? '{}'), height === undefined ? {} : { height })
  printJSON(res)
}

export async function txCommand(id: string, flags: ClientFlags & { proofOut?: string }): Promise<void> {
  if (!isHex(id, 32)) throw cliError('FLAG_INVALID', 'a tx id is 64 hex characters')
  const res = await client(flags).getTx(id.toLowerCase())
  printJSON({ tx: res.tx, height: res.height, index: res.index, receipt: res.receipt })
  if (flags.proofOut !== undefined) {
    await writeFile(flags.proofOut, `${JSON.stringify(res.proof, null, 2)}\n`)
    step(`proof written to ${flags.proofOut}`)
  }
}

export async function blockCommand(ref: string, flags: ClientFlags & { full?: boolean }): Promise<void> {
  printJSON(await client(flags).getBlock(ref, flags.full === true ? { txs: 'full' } : {}))
}

export async function stateCommand(
  contract: string,
  key: string,
  flags: ClientFlags & { height?: string; proofOut?: string },
): Promise<void> {
  const height = flags.height === undefined ? undefined : Number(flags.height)
  if (height !== undefined && (!Number.isSafeInteger(height) || height < 1))
    throw cliError('FLAG_INVALID', '--height must be a positive integer')
  const res = await client(flags).getState(contract, key, height === undefined ? {} : { height })
  printJSON({ contract: res.contract, key: res.key, height: res.height, exists: res.exists, value: res.value })
  if (flags.proofOut !== undefined) {
    await writeFile(flags.proofOut, `${JSON.stringify(res.proof, null, 2)}\n`)
    step(`proof written to ${flags.proofOut}`)
  }
}

export async function historyCommand(
  contract: string,
  key: string,
  flags: ClientFlags & { limit: string; cursor?: string },
): Promise<void> {
  const limit = Number(flags.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw cliError('FLAG_INVALID', '--limit must be in 1..1000')
  printJSON(await client(flags).getStateHistory(contract, key, { limit, ...(flags.cursor === undefined ? {} : { cursor: flags.cursor }) }))
}

export async function statusCommand(flags: ClientFlags): Promise<void> {
  printJSON(await client(flags).status())
}
