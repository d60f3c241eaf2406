import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  decryptPrivateKey,
  encryptPrivateKey,
  generateKeyPair,
  type KeystoreOptions,
  type PrivateKey,
  publicKeyFromPrivate,
  SignatureAlgorithm,
} from '@trellis/crypto'
import { defaultChainParams, type Genesis, genesisFromJSON, genesisToJSON, isValidChainId } from '@trellis/ledger'
import { TrellisError } from '@trellis/utils'
import type { NodeErrorType } from './errors.js'

/** Files of a node's data directory. */
export function dataDirPaths(dataDir: string) {
  return {
    genesis: join(dataDir, 'genesis.json'),
    validatorKey: join(dataDir, 'keys', 'validator.json'),
    db: join(dataDir, 'db'),
    /** Blocks, certificates, receipts and state-tree nodes (docs/spec/storage-layout.md). */
    archive: join(dataDir, 'archive'),
    log: join(dataDir, 'node.log'),
  }
}

export interface InitDataDirOptions {
  readonly dataDir: string
  readonly chainId: string
  /** Password that encrypts the validator key. */
  readonly password: string
  readonly alg?: SignatureAlgorithm
  readonly genesisTime?: number
  readonly keystore?: KeystoreOptions
}

function configError(reason: string): TrellisError<NodeErrorType> {
  return new TrellisError<NodeErrorType>({ code: 'CONFIG_INVALID', reason }, reason)
}

/**
 * Creates a single-validator chain in `dataDir`: an encrypted validator key and a genesis naming it
 * as the only validator and admin.
 * @throws TrellisError CONFIG_INVALID when the directory already holds a chain or the chain id is bad
 */
export async function initDataDir(o: InitDataDirOptions): Promise<{ genesis: Genesis; publicKey: string }> {
  const paths = dataDirPaths(o.dataDir)
  if (existsSync(paths.genesis)) throw configError(`${o.dataDir} already holds a chain (genesis.json exists)`)
  if (!isValidChainId(o.chainId)) throw configError('chain id must be 1-64 characters of [a-zA-Z0-9._-]')
  if (o.password.length < 8) throw configError('the key password must have at least 8 characters')
  const kp = generateKeyPair(o.alg ?? SignatureAlgorithm.P256)
  const genesis: Genesis = {
    chainId: o.chainId,
    genesisTime: o.genesisTime ?? Date.now(),
    params: defaultChainParams,
    validators: { validators: [{ name: 'validator-0', publicKey: kp.publicKey, power: 1 }] },
    admins: [kp.publicKey],
  }
  await writeValidatorKey(o.dataDir, kp.privateKey, o.password, o.keystore)
  const json = genesisToJSON(genesis)
  await writeFile(paths.genesis, `${JSON.stringify(json, null, 2)}\n`)
  return { genesis, publicKey: json.validators[0]?.publicKey ?? '' }
}

/** Writes a data directory's encrypted validator key (owner-only permissions). */
export async function writeValidatorKey(dataDir: string, key: PrivateKey, password: string, keystore: KeystoreOptions = {}): Promise<void> {
  const path = dataDirPaths(dataDir).validatorKey
  await mkdir(join(dataDir, 'keys'), { recursive: true, mode: 0o700 })
  await writeFile(path, `${JSON.stringify(encryptPrivateKey(key, password, keystore), null, 2)}\n`, { mode: 0o600 })
  await chmod(path, 0o600)
}

async function readJSON(path: string, what: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new TrellisError<NodeErrorType>({ code: 'CONFIG_INVALID', reason: `cannot read ${what}` }, `cannot read ${what} at ${path}`, {
      cause,
    })
  }
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new TrellisError<NodeErrorType>(
      { code: 'CONFIG_INVALID', reason: `${what} is not JSON` },
      `${what} at ${path} is not valid JSON`,
      { cause },
    )
  }
}

/** Reads and validates a data directory's genesis. @throws TrellisError CONFIG_INVALID | GENESIS_INVALID */
export async function loadGenesis(dataDir: string): Promise<Genesis> {
  return genesisFromJSON(await readJSON(dataDirPaths(dataDir).genesis, 'genesis.json'))
}

/** Decrypts the validator key. @throws TrellisError CONFIG_INVALID | KEYSTORE_BAD_PASSWORD | KEYSTORE_INVALID_FILE */
export async function loadValidatorKey(dataDir: string, password: string): Promise<PrivateKey> {
  const key = decryptPrivateKey(await readJSON(dataDirPaths(dataDir).validatorKey, 'the validator key file'), password)
  publicKeyFromPrivate(key)
  return key
}
