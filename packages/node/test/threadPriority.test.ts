import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// Run in a child process: the functions change the priority of the whole process's threads, which
// must not be the test runner's.
const dist = fileURLToPath(new URL('../dist/threadPriority.js', import.meta.url))
const script = `
import { readdirSync, readFileSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { lowerOtherThreadsPriority, lowerThreadPriority } from ${JSON.stringify(dist)}
const nice = (tid) => Number(readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ')[16])
const niceOfAll = () => Object.fromEntries(readdirSync('/proc/self/task').map((t) => [t, nice(t)]))
const w = new Worker(\`
  import { parentPort } from 'node:worker_threads'
  import { lowerOtherThreadsPriority, lowerThreadPriority } from \${JSON.stringify(${JSON.stringify(dist)})}
  parentPort.on('message', (m) => {
    if (m === 'others') parentPort.postMessage(lowerOtherThreadsPriority(15))
    if (m === 'self') parentPort.postMessage(lowerThreadPriority(12))
  })
  parentPort.postMessage('ready')\`, { eval: true, type: 'module' })
const ask = (m) => new Promise((r) => { w.once('message', r); if (m) w.postMessage(m) })
await ask()
const before = niceOfAll()
const changed = lowerOtherThreadsPriority(7)
const after = niceOfAll()
const again = lowerOtherThreadsPriority(7)
const fromWorker = await ask('others')
const afterWorker = niceOfAll()
const selfChanged = await ask('self')
const afterSelf = niceOfAll()
await w.terminate()
console.log(JSON.stringify({ pid: String(process.pid), before, changed, after, again, fromWorker, afterWorker, selfChanged, afterSelf, lower: lowerOtherThreadsPriority(3) }))
`

describe.runIf(process.platform === 'linux')('thread priority', () => {
  it("lowers every thread's priority but the main one's, never raises one back, and does nothing from a worker", () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    const r = JSON.parse(out) as Record<string, unknown> & {
      pid: string
      before: Record<string, number>
      after: Record<string, number>
      afterWorker: Record<string, number>
      afterSelf: Record<string, number>
    }
    const others = Object.keys(r.after).filter((t) => t !== r.pid)
    expect(Object.values(r.before).every((n) => n === 0)).toBe(true)
    expect(others.length).toBeGreaterThan(2)
    expect(r.changed).toBe(others.length)
    expect(r.after[r.pid]).toBe(0)
    for (const t of others) expect(r.after[t]).toBe(7)
    // Already lowered: nothing to do; from a worker: nothing at all.
    expect(r.again).toBe(0)
    expect(r.fromWorker).toBe(0)
    expect(r.afterWorker).toEqual(r.after)
    // A thread may lower its own priority further; exactly one thread changed.
    expect(r.selfChanged).toBe(true)
    const moved = Object.keys(r.afterSelf).filter((t) => r.afterSelf[t] !== r.after[t])
    expect(moved.length).toBe(1)
    expect(r.afterSelf[moved[0] as string]).toBe(12)
    // A lower nice value than the current one is never set (it would need privileges).
    expect(r.lower).toBe(0)
  })
})
