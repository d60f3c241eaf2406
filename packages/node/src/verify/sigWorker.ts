// Worker thread: verifies transaction signatures so that signature checks use every core while the
// main thread executes blocks and serves the API.
import { parentPort } from 'node:worker_threads'
import { decodeSignedTx, isTxSignatureValid } from '@trellis/ledger'

interface Request {
  readonly id: number
  readonly txs: readonly Uint8Array[]
}

parentPort?.on('message', (req: Request) => {
  const ok = new Uint8Array(req.txs.length)
  for (let i = 0; i < req.txs.length; i++) {
    try {
      ok[i] = isTxSignatureValid(decodeSignedTx(req.txs[i] as Uint8Array)) ? 1 : 0
    } catch {
      ok[i] = 0
    }
  }
  parentPort?.postMessage({ id: req.id, ok }, [ok.buffer])
})
