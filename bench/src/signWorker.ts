import { parentPort } from 'node:worker_threads'
import { type PrivateKey, type PublicKey, sign } from '@trellis/crypto'
import { createSignedTx, encodeTxBody, type TxBody, txSignBytes } from '@trellis/ledger'
import type { SignerKey, SignJob, SignResult, WorkerInit } from './workload.js'

// Signs slices of the workload off the main thread. Results travel back as transferred buffers (no
// copy): the concatenated wire bytes, their offsets and the 32-byte ids.

let init: WorkerInit | undefined
let keys: Array<{ privateKey: PrivateKey; publicKey: PublicKey }> = []

function signOne(seq: number, expiresAt: number): { bytes: Uint8Array; id: Uint8Array } {
  const w = init as WorkerInit
  const key = keys[seq % keys.length] as { privateKey: PrivateKey; publicKey: PublicKey }
  const body: TxBody = {
    chainId: w.chainId,
    contract: 'notary',
    method: 'record',
    // runId (32 hex) + seq (32 hex): unique across runs against the same chain.
    args: { hash: w.runId + seq.toString(16).padStart(32, '0'), meta: { n: seq } },
    signer: key.publicKey,
    nonce: Math.floor(seq / keys.length),
    expiresAt,
  }
  // Exactly what signTx does, minus its check that the key matches the signer (it derives the public
  // key on every call, which doubles the signing cost and would only measure the generator).
  const tx = createSignedTx(body, sign(key.privateKey, txSignBytes(encodeTxBody(body))))
  return { bytes: tx.bytes, id: tx.id }
}

function runJob(job: SignJob): SignResult {
  const parts: Uint8Array[] = []
  const offsets = new Uint32Array(job.count + 1)
  const ids = new Uint8Array(32 * job.count)
  let total = 0
  for (let i = 0; i < job.count; i++) {
    const { bytes, id } = signOne(job.from + i, job.expiresAt)
    parts.push(bytes)
    ids.set(id, 32 * i)
    offsets[i] = total
    total += bytes.length
  }
  offsets[job.count] = total
  const bytes = new Uint8Array(total)
  parts.forEach((p, i) => {
    bytes.set(p, offsets[i] as number)
  })
  return { jobId: job.jobId, from: job.from, count: job.count, bytes, offsets, ids }
}

parentPort?.on('message', (msg: WorkerInit | SignJob) => {
  if (msg.type === 'init') {
    init = msg
    keys = msg.keys.map((k: SignerKey) => ({
      privateKey: { alg: 'p256', bytes: k.privateKey },
      publicKey: { alg: 'p256', bytes: k.publicKey },
    }))
    return
  }
  const result = runJob(msg)
  parentPort?.postMessage(result, [
    result.bytes.buffer as ArrayBuffer,
    result.offsets.buffer as ArrayBuffer,
    result.ids.buffer as ArrayBuffer,
  ])
})
