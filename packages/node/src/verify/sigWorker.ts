// Worker thread: verifies transaction signatures so that signature checks use every core while the
// main thread executes blocks and serves the API.
import { parentPort } from 'node:worker_threads'
import { verifySigBatch } from './sigBatch.js'

interface Request {
  readonly id: number
  readonly count: number
  readonly batch: Uint8Array
}

parentPort?.on('message', (req: Request) => {
  const ok = verifySigBatch(req.batch, req.count)
  parentPort?.postMessage({ id: req.id, ok }, [ok.buffer])
})
