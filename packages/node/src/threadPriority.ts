import { readdirSync, readlinkSync } from 'node:fs'
import { getPriority, setPriority } from 'node:os'
import { isMainThread } from 'node:worker_threads'

// The node's main thread is its serial path: admission, execution, the state tree, roots and
// building the storage batch all run there, while the other threads (signature workers, V8's GC helpers, libuv's
// pool, LevelDB's compaction) have slack. On a machine with few cores they all compete for the CPU,
// and under load the main thread spent ~30 % of its time waiting in the run queue (docs/adr/0016).
// Lowering the others' priority lets the main thread run whenever it can. Linux only: there
// setpriority(PRIO_PROCESS, tid) applies to a single thread, and a process may always raise its own
// threads' nice values (never lower them again without privileges).

const TASK_DIR = '/proc/self/task'

/** The calling thread's kernel id, or undefined off Linux. */
function ownThreadId(): number | undefined {
  // /proc/thread-self → "<pid>/task/<tid>".
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop())
  return Number.isSafeInteger(tid) && tid > 0 ? tid : undefined
}

function renice(tid: number, niceness: number): boolean {
  try {
    if (getPriority(tid) >= niceness) return false
    setPriority(tid, niceness)
    return true
  } catch {
    // The thread ended meanwhile, or the system refused: its priority stays as it was.
    return false
  }
}

/**
 * Raises the calling thread's nice value to `niceness` (lowers its priority). Used by worker threads
 * on themselves. Does nothing off Linux or when refused.
 * @returns whether the priority was changed
 */
export function lowerThreadPriority(niceness: number): boolean {
  if (process.platform !== 'linux' || !(niceness > 0)) return false
  try {
    const tid = ownThreadId()
    return tid !== undefined && renice(tid, niceness)
  } catch {
    return false
  }
}

/**
 * Raises the nice value of every thread of this process except the main one (the caller) to
 * `niceness`. Threads started later by those threads inherit it; call again to catch threads the
 * main thread starts itself. Does nothing off Linux or when called from a worker thread.
 * @returns how many threads were changed
 */
export function lowerOtherThreadsPriority(niceness: number): number {
  if (process.platform !== 'linux' || !isMainThread || !(niceness > 0)) return 0
  let changed = 0
  try {
    // On Linux the main thread's id is the process id.
    const self = process.pid
    for (const name of readdirSync(TASK_DIR)) {
      const tid = Number(name)
      if (tid !== self && Number.isSafeInteger(tid) && tid > 0 && renice(tid, niceness)) changed++
    }
  } catch {
    // No /proc: nothing to do.
  }
  return changed
}
