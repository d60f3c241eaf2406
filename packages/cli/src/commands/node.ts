import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { dataDirPaths, initDataDir, startNode, type TrellisNode } from '@trellis/node'
import { pino } from 'pino'
import { cliError, devPassword, intFlag, readPassword, step, style } from '../io.js'

export interface NodeFlags {
  data: string
  host: string
  port: string
  blockInterval: string
  blockTxs: string
  sync: boolean
  logFile?: string
  workers?: string
  backgroundNice: string
  network?: string
}

async function runNode(dataDir: string, password: string, flags: NodeFlags, dev: boolean): Promise<void> {
  const paths = dataDirPaths(dataDir)
  const logFile = flags.logFile ?? (dev ? paths.log : undefined)
  const logger = pino(
    { level: process.env.TRELLIS_LOG_LEVEL ?? 'info' },
    logFile === undefined ? pino.destination(1) : pino.destination({ dest: logFile, mkdir: true, sync: false }),
  )
  const options = {
    dataDir,
    password,
    logger,
    host: flags.host,
    blockIntervalMs: intFlag(flags.blockInterval, 'block-interval', 10, 60_000),
    targetBlockTxs: intFlag(flags.blockTxs, 'block-txs', 1, 1_000_000),
    syncWrites: flags.sync,
    ...(flags.workers === undefined ? {} : { verifyWorkers: intFlag(flags.workers, 'workers', 0, 64) }),
    backgroundNiceness: intFlag(flags.backgroundNice, 'background-nice', 0, 19),
    ...(flags.network === undefined ? {} : { networkFile: resolve(flags.network) }),
  }
  const port = intFlag(flags.port, 'port', 0, 65535)
  let started: { node: TrellisNode; url: string }
  try {
    started = await startNode({ ...options, port })
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE') throw err
    if (!dev) throw cliError('PORT_IN_USE', `port ${port} is in use; choose another with --port (0 picks a free one)`)
    process.stdout.write(style.dim(`port ${port} is in use; using a free port instead\n`))
    started = await startNode({ ...options, port: 0 })
  }
  const { node, url } = started
  const head = node.chain.head
  step(`node running: chain ${style.bold(node.genesis.chainId)}, height ${head.height}`)
  process.stdout.write(`\n  API       ${style.bold(url)}\n  API docs  ${url}/docs\n  status    ${url}/v1/status\n  data      ${dataDir}\n`)
  if (logFile !== undefined) process.stdout.write(`  log       ${logFile}\n`)
  process.stdout.write(`\n${style.dim('Press Ctrl+C to stop.')}\n`)
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    process.stdout.write(`\n${signal}: stopping after the block in progress…\n`)
    await node.close()
    step(`stopped at height ${node.chain.head.height}`)
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
  // A fatal error in block production must not leave a half-alive node serving stale data.
  node.producer.done.catch(async (err) => {
    process.stderr.write(`${style.err('fatal')}: block production failed: ${(err as Error).message}\n`)
    await node.close().catch(() => undefined)
    process.exit(2)
  })
}

/** `trellis dev`: create a local single-validator chain on first run, then start it. */
export async function devCommand(flags: NodeFlags & { chainId: string }): Promise<void> {
  const dataDir = resolve(flags.data)
  const password = await devPassword(join(dataDir, 'keys', 'dev-password'))
  if (!existsSync(dataDirPaths(dataDir).genesis)) {
    const { publicKey } = await initDataDir({ dataDir, chainId: flags.chainId, password })
    step(`created chain ${style.bold(flags.chainId)} in ${dataDir}`)
    step(`validator key ${publicKey.slice(0, 24)}… (encrypted; dev password in keys/dev-password)`)
  }
  await runNode(dataDir, password, flags, true)
}

/** `trellis init`: create a single-validator chain (genesis + encrypted validator key). */
export async function initCommand(flags: { data: string; chainId: string }): Promise<void> {
  const dataDir = resolve(flags.data)
  const password = await readPassword('Password for the validator key: ', { confirm: true })
  const { publicKey } = await initDataDir({ dataDir, chainId: flags.chainId, password })
  step(`created chain ${style.bold(flags.chainId)} in ${dataDir}`)
  step(`validator ${publicKey}`)
  process.stdout.write(`\nStart it with: trellis start --data ${flags.data}\n`)
}

/** `trellis start`: run a node from an existing data directory. */
export async function startCommand(flags: NodeFlags): Promise<void> {
  const dataDir = resolve(flags.data)
  if (!existsSync(dataDirPaths(dataDir).genesis)) throw cliError('NO_CHAIN', `${dataDir} holds no chain; create one with trellis init`)
  const password = await readPassword('Password for the validator key: ')
  await runNode(dataDir, password, flags, false)
}
