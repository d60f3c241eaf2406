import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { nodeProcessEnv } from '@trellis/node'

/** The repository root, seen from bench/dist/. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

export interface SpawnNodeOptions {
  /** `--block-interval` in ms (the CLI's default when undefined). */
  readonly blockInterval?: string | undefined
  /** More CLI flags for `trellis dev` (e.g. `--no-sync`, `--workers 2`). */
  readonly extraArgs?: readonly string[]
  /** Flags for Node.js itself, before the script (e.g. `--cpu-prof`, `--cpu-prof-dir=/tmp/prof`). */
  readonly nodeFlags?: readonly string[]
  readonly startTimeoutMs?: number
  /** Keep the temporary data directory after stop() (its path is printed). */
  readonly keepData?: boolean
}

export interface SpawnedNode {
  readonly url: string
  readonly pid: number
  readonly dataDir: string
  readonly logFile: string
  readonly command: string
  /** The node's exit, if it exited on its own. */
  exitStatus(): string | undefined
  /** Last lines the node wrote to stdout/stderr (for error reports). */
  outputTail(): string
  /** SIGTERM, then SIGKILL after `graceMs`; removes the data directory unless `keepData`. */
  stop(graceMs?: number): Promise<void>
}

// ANSI colour codes (ESC [ … m), in case the CLI colours its output despite NO_COLOR.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g')

/**
 * Starts `trellis dev` on a fresh data directory and a free port, and resolves with its API URL
 * (parsed from the `API  http://…` line the CLI prints).
 */
export async function spawnDevNode(o: SpawnNodeOptions = {}): Promise<SpawnedNode> {
  const bin = join(repoRoot, 'packages/cli/dist/bin.js')
  if (!existsSync(bin)) throw new Error(`${bin} does not exist: build first (npx tsc -b)`)
  const tmp = await mkdtemp(join(tmpdir(), 'trellis-bench-'))
  const dataDir = join(tmp, 'data')
  const logFile = join(tmp, 'node.log')
  // The same V8 flag as `npm start` and the `trellis` bin (its shebang), so the node runs as users run it.
  // Flags given last win, so --node-flag can override these defaults.
  const args = [
    '--max-semi-space-size=64',
    '--stack-size=3900',
    ...(o.nodeFlags ?? []),
    bin,
    'dev',
    '--data',
    dataDir,
    '--port',
    '0',
    '--log-file',
    logFile,
  ]
  if (o.blockInterval !== undefined) args.push('--block-interval', o.blockInterval)
  args.push(...(o.extraArgs ?? []))
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...nodeProcessEnv(process.env), NO_COLOR: '1' },
  })
  let tail = ''
  let exit: string | undefined
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = signal === null ? `exit code ${code}` : `signal ${signal}`
      resolve()
    })
  })
  const keep = (s: string) => {
    tail = (tail + s.replace(ANSI, '')).slice(-4000)
  }
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', keep)
  child.stdout?.setEncoding('utf8')

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the node printed no API URL within ${o.startTimeoutMs ?? 60_000} ms:\n${tail}`)),
      o.startTimeoutMs ?? 60_000,
    )
    child.stdout?.on('data', (s: string) => {
      keep(s)
      const m = /API\s+(https?:\/\/[^\s]+)/.exec(tail)
      if (m?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(m[1].replace(/\/$/, ''))
      }
    })
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`the node exited (${exit}) before serving:\n${tail}`))
    })
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  }).catch(async (err: unknown) => {
    if (exit === undefined) child.kill('SIGKILL')
    if (!o.keepData) await rm(tmp, { recursive: true, force: true })
    throw err
  })

  let stopping: Promise<void> | undefined
  return {
    url,
    pid: child.pid ?? -1,
    dataDir,
    logFile,
    command: `node ${args.map((a) => a.replace(repoRoot, '')).join(' ')}`,
    exitStatus: () => exit,
    outputTail: () => tail,
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        if (exit === undefined) {
          child.kill('SIGTERM')
          const t = setTimeout(() => child.kill('SIGKILL'), graceMs)
          await exited
          clearTimeout(t)
        }
        if (!o.keepData) await rm(tmp, { recursive: true, force: true })
      })()
      return stopping
    },
  }
}
