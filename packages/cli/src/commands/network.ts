import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, openSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  addNetworkNode,
  initNetworkDir,
  loadNetworkFile,
  NETWORK_FILE,
  type NetworkFile,
  type NetworkNode,
  nodeProcessEnv,
} from '@trellis/node'
import { cliError, devPassword, intFlag, step, style } from '../io.js'

export const DEFAULT_NETWORK_DIR = '.trellis/network'

export interface NetworkFlags {
  dir: string
  validators: string
  chainId: string
  apiPort: string
  p2pPort: string
  foreground?: boolean
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const s = createServer()
    s.once('error', () => resolvePort(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolvePort(true)))
  })
}

/** `count` free ports, from `base` upwards when free, else any free port. */
async function ports(base: number, count: number, taken: Set<number>): Promise<number[]> {
  const out: number[] = []
  for (let p = base; out.length < count && p < base + 200; p++) if (!taken.has(p) && (await isFree(p))) out.push(p)
  if (out.length < count) throw cliError('PORT_IN_USE', `no ${count} free ports from ${base}`)
  for (const p of out) taken.add(p)
  return out
}

const pidFile = (dir: string, n: NetworkNode) => join(dir, n.name, 'node.pid')

async function runningPid(dir: string, n: NetworkNode): Promise<number | undefined> {
  const f = pidFile(dir, n)
  if (!existsSync(f)) return undefined
  const pid = Number((await readFile(f, 'utf8')).trim())
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  try {
    process.kill(pid, 0)
    return pid
  } catch {
    return undefined
  }
}

async function waitForApi(url: string, child: ChildProcess | undefined, logFile: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    try {
      const r = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(1000) })
      if (r.ok) return
    } catch {
      // not up yet
    }
    if (child?.exitCode !== null && child?.exitCode !== undefined) {
      throw cliError('NODE_FAILED', `the node exited with code ${child.exitCode} before serving its API; see ${logFile}`)
    }
    if (Date.now() > end)
      throw cliError('NODE_FAILED', `the node did not serve its API at ${url} within ${timeoutMs / 1000} s; see ${logFile}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

function binPath(): string {
  return fileURLToPath(new URL('../bin.js', import.meta.url))
}

/**
 * `trellis network up`: on first run creates a local network of N organisations (one validator
 * each: keys, one genesis, network.json), then starts every node as its own process on embedded
 * storage and prints their API URLs. Data persists in the directory between runs.
 */
export async function networkUpCommand(flags: NetworkFlags): Promise<void> {
  const dir = resolve(flags.dir)
  const password = await devPassword(join(dir, 'dev-password'))
  let file: NetworkFile
  if (!existsSync(join(dir, NETWORK_FILE))) {
    const n = intFlag(flags.validators, 'validators', 1, 32)
    const taken = new Set<number>()
    const apiPorts = await ports(intFlag(flags.apiPort, 'api-port', 1024, 65000), n, taken)
    const p2pPorts = await ports(intFlag(flags.p2pPort, 'p2p-port', 1024, 65000), n, taken)
    file = await initNetworkDir({ dir, chainId: flags.chainId, validators: n, password, apiPorts, p2pPorts })
    step(`created network ${style.bold(flags.chainId)}: ${n} organisations, one validator each, in ${dir}`)
  } else {
    file = await loadNetworkFile(join(dir, NETWORK_FILE))
  }
  const children: ChildProcess[] = []
  const started: Array<{ node: NetworkNode; pid: number; url: string }> = []
  for (const node of file.nodes) {
    const url = `http://${node.host}:${node.apiPort}`
    const existing = await runningPid(dir, node)
    if (existing !== undefined) {
      started.push({ node, pid: existing, url })
      continue
    }
    const dataDir = join(dir, node.name)
    const logFile = join(dataDir, 'node.log')
    const out = openSync(join(dataDir, 'node.out'), 'a')
    const child = spawn(
      process.execPath,
      [
        '--max-semi-space-size=64',
        '--stack-size=3900',
        binPath(),
        'start',
        '--data',
        dataDir,
        '--network',
        join(dir, NETWORK_FILE),
        '--host',
        node.host,
        '--port',
        String(node.apiPort),
        '--workers',
        '1',
        '--log-file',
        logFile,
      ],
      {
        detached: flags.foreground !== true,
        stdio: ['ignore', out, out],
        env: { ...nodeProcessEnv(process.env), TRELLIS_KEY_PASSWORD: password, NO_COLOR: '1' },
      },
    )
    if (child.pid === undefined) throw cliError('NODE_FAILED', `could not start ${node.name}`)
    await writeFile(pidFile(dir, node), `${child.pid}\n`)
    children.push(child)
    started.push({ node, pid: child.pid, url })
  }
  try {
    await Promise.all(
      started.map((s, i) =>
        waitForApi(s.url, children[i - (started.length - children.length)], join(dir, s.node.name, 'node.log'), 60_000),
      ),
    )
  } catch (err) {
    for (const c of children) c.kill('SIGTERM')
    throw err
  }
  process.stdout.write(`\n  ${style.bold('node'.padEnd(18))} ${'org'.padEnd(6)} ${'API'.padEnd(24)} p2p    pid\n`)
  for (const s of started) {
    process.stdout.write(
      `  ${s.node.name.padEnd(18)} ${s.node.org.padEnd(6)} ${s.url.padEnd(24)} ${String(s.node.p2pPort).padEnd(6)} ${s.pid}\n`,
    )
  }
  process.stdout.write(`\n  API       ${style.bold(started[0]?.url ?? '')}\n  network   ${join(dir, NETWORK_FILE)}\n`)
  if (flags.foreground !== true || children.length === 0) {
    for (const c of children) c.unref()
    if (children.length === 0) process.stdout.write(`\n${style.dim('The network was already running.')}\n`)
    process.stdout.write(`\n${style.dim('Stop it with: trellis network down')}\n`)
    return
  }
  process.stdout.write(`\n${style.dim('Press Ctrl+C to stop the network.')}\n`)
  let stopping = false
  const stopAll = async (signal: string) => {
    if (stopping) return
    stopping = true
    process.stdout.write(`\n${signal}: stopping ${children.length} nodes…\n`)
    await stopNodes(dir, file)
    process.exit(0)
  }
  process.on('SIGINT', () => void stopAll('SIGINT'))
  process.on('SIGTERM', () => void stopAll('SIGTERM'))
  await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))))
  if (!stopping) {
    process.stderr.write(`${style.err('error')}: the nodes exited; see the node.log files in ${dir}\n`)
    process.exit(1)
  }
}

/** `trellis network add-node --org <org>`: a validator node for an organisation joining the local network. */
export async function networkAddNodeCommand(flags: { org: string; dir: string; apiPort?: string; p2pPort?: string }): Promise<void> {
  const dir = resolve(flags.dir)
  if (!existsSync(join(dir, NETWORK_FILE))) throw cliError('NO_LOCAL_NETWORK', `${dir} holds no network (start one with: npm start)`)
  const file = await loadNetworkFile(join(dir, NETWORK_FILE))
  const taken = new Set(file.nodes.flatMap((n) => [n.apiPort, n.p2pPort]))
  const next = (pick: (n: NetworkNode) => number) => Math.max(...file.nodes.map(pick)) + 1
  const [apiPort] = await ports(
    flags.apiPort === undefined ? next((n) => n.apiPort) : intFlag(flags.apiPort, 'api-port', 1024, 65000),
    1,
    taken,
  )
  const [p2pPort] = await ports(
    flags.p2pPort === undefined ? next((n) => n.p2pPort) : intFlag(flags.p2pPort, 'p2p-port', 1024, 65000),
    1,
    taken,
  )
  const password = await devPassword(join(dir, 'dev-password'))
  const node = await addNetworkNode({ dir, org: flags.org, password, apiPort: apiPort as number, p2pPort: p2pPort as number })
  step(`prepared ${style.bold(node.name)} for ${flags.org} (API ${node.apiPort}, p2p ${node.p2pPort}); key ${node.publicKey}`)
  const action = JSON.stringify({
    type: 'validator.add',
    name: node.name,
    publicKey: node.publicKey,
    org: flags.org,
    address: `${node.host}:${node.p2pPort}`,
  })
  process.stdout.write(
    [
      '',
      'It follows the chain once started (`trellis network up`); it votes once governance adds it:',
      `  trellis proposal create --action '${action}' --as org1`,
      '  trellis proposal vote <id> --yes --as org2   (and more, up to the policy: a majority by default)',
      '',
    ].join('\n'),
  )
}

async function stopNodes(dir: string, file: NetworkFile): Promise<number> {
  let stopped = 0
  await Promise.all(
    file.nodes.map(async (node) => {
      const pid = await runningPid(dir, node)
      if (pid === undefined) return
      process.kill(pid, 'SIGTERM')
      const end = Date.now() + 15_000
      while (Date.now() < end) {
        try {
          process.kill(pid, 0)
        } catch {
          break
        }
        await new Promise((r) => setTimeout(r, 100))
      }
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
      await rm(pidFile(dir, node), { force: true })
      stopped++
    }),
  )
  return stopped
}

/** `trellis network down`: stops every node of the local network (their data stays). */
export async function networkDownCommand(flags: { dir: string }): Promise<void> {
  const dir = resolve(flags.dir)
  if (!existsSync(join(dir, NETWORK_FILE))) throw cliError('NO_NETWORK', `${dir} holds no network; create one with trellis network up`)
  const n = await stopNodes(dir, await loadNetworkFile(join(dir, NETWORK_FILE)))
  step(n === 0 ? 'no node was running' : `stopped ${n} node${n === 1 ? '' : 's'}`)
}

/** `trellis network status`: each node's height, consensus position and peers. */
export async function networkStatusCommand(flags: { dir: string }): Promise<void> {
  const dir = resolve(flags.dir)
  if (!existsSync(join(dir, NETWORK_FILE))) throw cliError('NO_NETWORK', `${dir} holds no network; create one with trellis network up`)
  const file = await loadNetworkFile(join(dir, NETWORK_FILE))
  for (const node of file.nodes) {
    const url = `http://${node.host}:${node.apiPort}`
    try {
      const r = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(2000) })
      const s = (await r.json()) as { height: number; consensus?: { round: number; step: string; peers: string[] } }
      process.stdout.write(
        `  ${node.name.padEnd(18)} ${url.padEnd(24)} height ${String(s.height).padEnd(8)} round ${s.consensus?.round ?? 0} ${s.consensus?.step ?? ''}, ${s.consensus?.peers.length ?? 0} peers\n`,
      )
    } catch {
      process.stdout.write(`  ${node.name.padEnd(18)} ${url.padEnd(24)} ${style.err('down')}\n`)
    }
  }
}
