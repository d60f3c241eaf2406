// Worker thread: verifies transaction signatures so that signature checks use every core while the
// main thread executes blocks and serves the API.
import { parentPort, workerData } from 'node:worker_threads'
import { lowerThreadPriority } from '../threadPriority.js'
import { verifySigBatch } from './sigBatch.js'

interface Request {
  readonly id: number
  readonly count: number
  readonly batch: Uint8Array
}

const niceness = (workerData as { niceness?: unknown } | undefined)?.niceness
if (typeof niceness === 'number' && niceness > 0) lowerThreadPriority(niceness)

parentPort?.on('message', (req: Request) => {
  const ok = verifySigBatch(req.batch, req.count)
  parentPort?.postMessage({ id: req.id, ok }, [ok.buffer])
})
