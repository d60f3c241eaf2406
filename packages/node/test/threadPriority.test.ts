import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initDataDir } from '../src/index.js'

// Child processes: the functions change the priority of a whole process's threads, which must not
// be the test runner's. They run the built code (npm test builds first).
const dist = fileURLToPath(new URL('../dist/threadPriority.js', import.meta.url))
const RUNNER = fileURLToPath(new URL('../../../test/support/nodeRunner.mjs', import.meta.url))
const PASSWORD = 'thread-priority-test'

function niceOf(pid: number, tid: string): number {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]?.split(' ')[16])
}
function niceOfAll(pid: number): Record<string, number> {
  return Object.fromEntries(readdirSync(`/proc/${pid}/task`).map((t) => [t, niceOf(pid, t)]))
}

// What this process runs at: the children inherit it (CI may run under `nice`).
const base = process.platform === 'linux' ? niceOf(process.pid, String(process.pid)) : 0

const script = (lowTo: number, workerTo: number, selfTo: number, raiseTo: number) => `
import { readdirSync, readFileSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { lowerOtherThreadsPriority } from ${JSON.stringify(dist)}
const nice = (tid) => Number(readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ')[16])
const niceOfAll = () => Object.fromEntries(readdirSync('/proc/self/task').map((t) => [t, nice(t)]))
const w = new Worker(\`
  import { parentPort } from 'node:worker_threads'
  import { lowerOtherThreadsPriority, lowerThreadPriority } from \${JSON.stringify(${JSON.stringify(dist)})}
  parentPort.on('message', (m) => {
    if (m === 'others') parentPort.postMessage(lowerOtherThreadsPriority(${workerTo}))
    if (m === 'self') parentPort.postMessage(lowerThreadPriority(${selfTo}))
  })
  parentPort.postMessage('ready')\`, { eval: true, type: 'module' })
const ask = (m) => new Promise((r) => { w.once('message', r); if (m) w.postMessage(m) })
await ask()
const before = niceOfAll()
const changed = lowerOtherThreadsPriority(${lowTo})
const after = niceOfAll()
const again = lowerOtherThreadsPriority(${lowTo})
const fromWorker = await ask('others')
const afterWorker = niceOfAll()
const selfChanged = await ask('self')
const afterSelf = niceOfAll()
await w.terminate()
console.log(JSON.stringify({ pid: String(process.pid), before, changed, after, again, fromWorker, afterWorker, selfChanged, afterSelf, raise: lowerOtherThreadsPriority(${raiseTo}) }))
`

describe.runIf(process.platform === 'linux' && base <= 12)('thread priority', () => {
  it("lowers every thread's priority but the main one's, never raises one back, and does nothing from a worker", () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script(base + 3, base + 6, base + 5, base + 1)], {
      encoding: 'utf8',
    })
    const r = JSON.parse(out) as Record<string, unknown> & {
      pid: string
      before: Record<string, number>
      after: Record<string, number>
      afterWorker: Record<string, number>
      afterSelf: Record<string, number>
    }
    const others = Object.keys(r.after).filter((t) => t !== r.pid)
    expect(Object.values(r.before).every((n) => n === base)).toBe(true)
    expect(others.length).toBeGreaterThan(2)
    expect(r.changed).toBe(others.length)
    expect(r.after[r.pid]).toBe(base)
    for (const t of others) expect(r.after[t]).toBe(base + 3)
    // Already lowered: nothing to do; from a worker: nothing at all.
    expect(r.again).toBe(0)
    expect(r.fromWorker).toBe(0)
    expect(r.afterWorker).toEqual(r.after)
    // A thread may lower its own priority further; exactly that thread changed.
    expect(r.selfChanged).toBe(true)
    const moved = Object.keys(r.afterSelf).filter((t) => r.afterSelf[t] !== r.after[t])
    expect(moved.length).toBe(1)
    expect(r.afterSelf[moved[0] as string]).toBe(base + 5)
    // A nice value below the current one is never asked for.
    expect(r.raise).toBe(0)
  })

  describe('a node process', () => {
    let dir: string
    const children: ChildProcess[] = []
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'trellis-nice-'))
      await initDataDir({ dataDir: join(dir, 'data'), chainId: 'nice-chain', password: PASSWORD, keystore: { scryptN: 1024 } })
    })
    afterAll(async () => {
      for (const c of children) c.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    })

    async function start(nice: number): Promise<{ pid: number; child: ChildProcess }> {
      const child = spawn(process.execPath, [RUNNER, '--data', join(dir, 'data'), '--port', '0', '--background-nice', String(nice)], {
        env: { ...process.env, TRELLIS_KEY_PASSWORD: PASSWORD },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      children.push(child)
      const pid = await new Promise<number>((resolve, reject) => {
        let out = ''
        const timer = setTimeout(() => reject(new Error('node did not start within 20 s')), 20_000)
        child.stdout?.on('data', (d) => {
          out += String(d)
          const line = out.split('\n').find((l) => l.startsWith('{'))
          if (line !== undefined) {
            clearTimeout(timer)
            resolve(JSON.parse(line).pid as number)
          }
        })
        child.once('exit', (code) => reject(new Error(`node exited with ${code}`)))
      })
      return { pid, child }
    }

    async function stop(child: ChildProcess): Promise<void> {
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
    }

    it('runs its other threads (signature workers, GC helpers, libuv, LevelDB) at --background-nice, also those started later', async () => {
      const { pid, child } = await start(base + 4)
      try {
        const first = niceOfAll(pid)
        expect(first[String(pid)]).toBe(base)
        const others = Object.keys(first).filter((t) => t !== String(pid))
        expect(others.length).toBeGreaterThan(4)
        for (const t of others) expect(first[t]).toBe(base + 4)
        // The one-second sweep and inheritance cover threads started since.
        await new Promise((r) => setTimeout(r, 1500))
        const later = niceOfAll(pid)
        for (const [t, n] of Object.entries(later)) expect(n).toBe(t === String(pid) ? base : base + 4)
      } finally {
        await stop(child)
      }
    })

    it('leaves every thread alone with --background-nice 0 (the library default)', async () => {
      const { pid, child } = await start(0)
      try {
        await new Promise((r) => setTimeout(r, 1200))
        expect(Object.values(niceOfAll(pid)).every((n) => n === base)).toBe(true)
      } finally {
        await stop(child)
      }
    })
  })
})
