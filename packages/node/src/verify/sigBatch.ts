import { SignatureAlgorithm, verify } from '@trellis/crypto'
import { DOMAIN, type SignedTx } from '@trellis/ledger'

// The batch a signature worker receives: the already-decoded txs' signed bytes, keys and signatures
// packed into one transferable buffer, so the worker neither decodes nor hashes txs again and the
// main thread pays one transfer instead of cloning every tx.
//   per tx: u8 alg (0 = p256, 1 = ed25519) | u8 key length | key | u8 signature length | signature
//           | u32 message length | message (= DOMAIN.tx ‖ body bytes, what the signer signed)

const ALGS = [SignatureAlgorithm.P256, SignatureAlgorithm.Ed25519] as const

export function packSigBatch(txs: readonly SignedTx[]): Uint8Array<ArrayBuffer> {
  let size = 0
  for (const t of txs) size += 7 + t.body.signer.bytes.length + t.signature.length + DOMAIN.tx.length + t.bodyBytes.length
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  let o = 0
  for (const t of txs) {
    const key = t.body.signer.bytes
    out[o++] = t.body.signer.alg === SignatureAlgorithm.P256 ? 0 : 1
    out[o++] = key.length
    out.set(key, o)
    o += key.length
    out[o++] = t.signature.length
    out.set(t.signature, o)
    o += t.signature.length
    view.setUint32(o, DOMAIN.tx.length + t.bodyBytes.length)
    o += 4
    out.set(DOMAIN.tx, o)
    o += DOMAIN.tx.length
    out.set(t.bodyBytes, o)
    o += t.bodyBytes.length
  }
  return out
}

/** Verifies every entry of a packed batch; result[i] = 1 when entry i is a valid canonical signature. */
export function verifySigBatch(batch: Uint8Array, count: number): Uint8Array<ArrayBuffer> {
  const ok = new Uint8Array(count)
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength)
  let o = 0
  for (let i = 0; i < count; i++) {
    const alg = ALGS[batch[o++] as number]
    const keyLength = batch[o++] as number
    const key = batch.subarray(o, (o += keyLength))
    const sigLength = batch[o++] as number
    const sig = batch.subarray(o, (o += sigLength))
    const msgLength = view.getUint32(o)
    o += 4
    const msg = batch.subarray(o, (o += msgLength))
    if (alg === undefined) continue
    try {
      ok[i] = verify({ alg, bytes: key }, msg, sig) ? 1 : 0
    } catch {
      ok[i] = 0
    }
  }
  return ok
}
