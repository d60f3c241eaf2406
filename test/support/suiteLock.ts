import { mkdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const STALE_MS = 10 * 60_000

/**
 * Runs the multi-process suites one at a time (vitest runs test files in parallel): on a 2-core
 * machine, two 4–5 process networks at once starve each other and race for free ports. Resolves with
 * the release function once this suite holds the lock (a lock left by a killed run expires).
 */
export async function processSuiteLock(): Promise<() => Promise<void>> {
  const dir = join(tmpdir(), 'trellis-process-suites.lock')
  for (;;) {
    try {
      await mkdir(dir)
      return () => rm(dir, { recursive: true, force: true })
    } catch {
      const age = await stat(dir).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      )
      if (age > STALE_MS) await rm(dir, { recursive: true, force: true })
      else await new Promise((r) => setTimeout(r, 250))
    }
  }
}
