import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { PrivateKey } from '@trellis/crypto'
import type { JsonValue } from '@trellis/ledger'
import { type ContractCallResult, lifecycle, sendCall, subscribe, type TrellisClient } from '@trellis/sdk'
import { buildContract, type ContractArtifact } from '../contractBuild.js'
import { apiClient, type IdentityFlags, signingIdentity } from '../identity.js'
import { cliError, intFlag, ledgerJSON, printJSON, readJSONFile, step, style } from '../io.js'

interface ClientFlags {
  node: string
  chainId?: string
}

interface SignerFlags extends ClientFlags, IdentityFlags {
  wait: boolean
}

/** The signer and certificate options of a call, from the identity flags. */
async function signerOf(flags: SignerFlags): Promise<{ signer: PrivateKey; certificate?: Uint8Array }> {
  const id = await signingIdentity(flags)
  return id.certificate === undefined ? { signer: id.privateKey } : { signer: id.privateKey, certificate: id.certificate }
}

const client = (flags: ClientFlags): TrellisClient => apiClient(flags.node)

function parseJSONFlag(text: string | undefined, flag: string): JsonValue | undefined {
  return text === undefined ? undefined : ledgerJSON(text, flag).json
}

async function readArtifact(path: string): Promise<ContractArtifact> {
  const a = (await readJSONFile(path, 'contract artifact')) as Partial<ContractArtifact>
  if (a.format !== 'trellis-contract/1' || typeof a.code !== 'string' || typeof a.name !== 'string') {
    throw cliError('FILE_INVALID', `${path} is not a contract artifact (build one with: trellis contract build <source.ts>)`)
  }
  return a as ContractArtifact
}

function report(what: string, r: ContractCallResult<JsonValue>): void {
  if (r.height === undefined) {
    step(`${what}: accepted ${style.bold(r.txId)} (not waiting for the commit)`)
    return
  }
  step(`${what}: committed at height ${r.height} (tx ${r.txId.slice(0, 16)}…)`)
  for (const e of r.events ?? []) process.stdout.write(`  event ${e.contract}.${e.name} ${JSON.stringify(e.data)}\n`)
}

/** `trellis contract build <source>`: bundle a TypeScript contract into a deterministic artifact. */
export async function contractBuildCommand(source: string, flags: { out?: string; name?: string }): Promise<void> {
  const artifact = await buildContract(source, flags.name)
  const out = flags.out ?? join('build', `${artifact.name}.contract.json`)
  await mkdir(dirname(out), { recursive: true })
  await writeFile(out, `${JSON.stringify(artifact, null, 2)}\n`)
  step(`built ${style.bold(artifact.name)} ${artifact.version}: ${artifact.code.length} bytes, code hash ${artifact.codeHash}`)
  for (const m of artifact.manifest.methods)
    process.stdout.write(`  ${m.kind === 'call' ? 'call ' : 'query'} ${m.name}  ${style.dim(m.description)}\n`)
  step(`wrote ${out}`)
}

/** `trellis contract deploy <artifact>`. */
export async function contractDeployCommand(path: string, flags: SignerFlags & { name?: string; initArgs?: string }): Promise<void> {
  const artifact = await readArtifact(path)
  const name = flags.name ?? artifact.name
  const initArgs = parseJSONFlag(flags.initArgs, '--init-args')
  const r = await lifecycle.deploy(client(flags), name, artifact, {
    ...(await signerOf(flags)),
    wait: flags.wait,
    ...(initArgs === undefined ? {} : { initArgs }),
    ...(flags.chainId === undefined ? {} : { chainId: flags.chainId }),
  })
  report(`deployed ${name} ${artifact.version}`, r)
}

/** `trellis contract upgrade <artifact>`. */
export async function contractUpgradeCommand(path: string, flags: SignerFlags & { name?: string; upgradeArgs?: string }): Promise<void> {
  const artifact = await readArtifact(path)
  const name = flags.name ?? artifact.name
  const upgradeArgs = parseJSONFlag(flags.upgradeArgs, '--upgrade-args')
  const r = await lifecycle.upgrade(client(flags), name, artifact, {
    ...(await signerOf(flags)),
    wait: flags.wait,
    ...(upgradeArgs === undefined ? {} : { upgradeArgs }),
  })
  report(`upgraded ${name} to ${artifact.version}`, r)
}

/** `trellis contract pause|resume|freeze <name>`. */
export function contractStatusCommand(action: 'pause' | 'resume' | 'freeze') {
  return async (name: string, flags: SignerFlags & { reason?: string }): Promise<void> => {
    const signer = await signerOf(flags)
    const c = client(flags)
    const r =
      action === 'resume'
        ? await lifecycle.resume(c, name, { ...signer, wait: flags.wait })
        : await lifecycle[action](c, name, { ...signer, wait: flags.wait, ...(flags.reason === undefined ? {} : { reason: flags.reason }) })
    report(`${action} ${name}`, r)
  }
}

/** `trellis contract list`. */
export async function contractListCommand(flags: ClientFlags): Promise<void> {
  const { contracts } = await client(flags).listContracts()
  for (const c of contracts) {
    const status = c.status === 'active' ? style.ok(c.status) : style.err(c.status)
    process.stdout.write(
      `${style.bold(c.name)} ${c.version} ${c.kind} ${status}${c.codeHash === null ? '' : style.dim(` ${c.codeHash.slice(0, 16)}…`)}\n`,
    )
  }
}

/** `trellis contract info <name>`. */
export async function contractInfoCommand(name: string, flags: ClientFlags): Promise<void> {
  printJSON(await client(flags).getContract(name))
}

/** `trellis call <contract> <method> [args]`: one signed call, waiting for its receipt. */
export async function callCommand(contract: string, method: string, args: string | undefined, flags: SignerFlags): Promise<void> {
  const r = await sendCall(client(flags), contract, method, parseJSONFlag(args ?? '{}', 'the arguments') ?? {}, {
    ...(await signerOf(flags)),
    wait: flags.wait,
    ...(flags.chainId === undefined ? {} : { chainId: flags.chainId }),
  })
  report(`${contract}.${method}`, r)
  if (r.result !== undefined && r.result !== null) printJSON(r.result)
}

/** `trellis events`: follow contract events (and optionally blocks) as JSON lines. */
export async function eventsCommand(
  flags: ClientFlags & { contract?: string; name?: string; fromHeight?: string; count?: string },
): Promise<void> {
  const limit = flags.count === undefined ? Infinity : intFlag(flags.count, 'count', 1, Number.MAX_SAFE_INTEGER)
  const fromHeight = flags.fromHeight === undefined ? undefined : intFlag(flags.fromHeight, 'from-height', 0, Number.MAX_SAFE_INTEGER)
  const api = client(flags)
  // A stream that can only wait says so, instead of waiting in silence.
  if (fromHeight !== undefined) {
    const { height } = await api.status()
    if (fromHeight > height + 1) process.stderr.write(`${style.dim(`waiting for height ${fromHeight}: the chain is at ${height}`)}\n`)
  }
  if (flags.contract !== undefined && !(await api.listContracts()).contracts.some((c) => c.name === flags.contract))
    process.stderr.write(`${style.dim(`no contract named "${flags.contract}" yet: waiting for its events`)}\n`)
  let seen = 0
  const sub = subscribe(api, {
    ...(fromHeight === undefined ? {} : { fromHeight }),
    ...(flags.contract === undefined ? {} : { contract: flags.contract }),
    ...(flags.name === undefined ? {} : { name: flags.name }),
    blocks: false,
    onEvent: (e) => {
      process.stdout.write(`${JSON.stringify(e)}\n`)
      if (++seen >= limit) sub.close()
    },
    onError: (err, info) => {
      if (info.willRetry) process.stderr.write(`${style.dim(`connection lost (${err.message}); retrying in ${info.delayMs} ms`)}\n`)
    },
  })
  process.once('SIGINT', () => sub.close())
  await sub.done
}
