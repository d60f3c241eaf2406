import { generateKeyPair, P256_N } from '@trellis/crypto'
import { createSignedTx, type SignedTx } from '@trellis/ledger'
import { afterAll, describe, expect, it } from 'vitest'
import { docHash, recordTx, testKey } from '../../../test/support/fixtures.js'
import { SigVerifier } from '../src/verify/sigVerifier.js'
import { packSigBatch, verifySigBatch } from '../src/verify/sigBatch.js'

const expiresAt = Date.now() + 60_000

function withSignature(tx: SignedTx, signature: Uint8Array): SignedTx {
  return createSignedTx(tx.body, signature)
}

/** (r, n − s): the same signature made high-S, valid for OpenSSL but not canonical. */
function malleate(sig: Uint8Array): Uint8Array {
  const s = BigInt(`0x${Buffer.from(sig.subarray(32)).toString('hex')}`)
  const out = Uint8Array.from(sig)
  out.set(Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex'), 32)
  return out
}

function mixedBatch(): { txs: SignedTx[]; expected: boolean[] } {
  const p256 = testKey(1)
  const ed = generateKeyPair('ed25519')
  const good = recordTx(p256, docHash('a'), { expiresAt })
  const goodEd = recordTx(ed, docHash('b'), { expiresAt })
  const flipped = Uint8Array.from(good.signature)
  flipped[10] = (flipped[10] as number) ^ 1
  const otherKey = recordTx(testKey(2), docHash('a'), { expiresAt })
  const txs = [
    good,
    goodEd,
    withSignature(good, flipped),
    withSignature(good, malleate(good.signature)),
    withSignature(good, otherKey.signature),
    withSignature(goodEd, new Uint8Array(64)),
  ]
  return { txs, expected: [true, true, false, false, false, false] }
}

describe('signature batches', () => {
  it('verifies packed batches entry by entry, rejecting altered, malleated and foreign signatures', () => {
    const { txs, expected } = mixedBatch()
    expect([...verifySigBatch(packSigBatch(txs), txs.length)].map((b) => b === 1)).toEqual(expected)
  })

  describe('worker pool', () => {
    const pool = new SigVerifier({ workers: 2, chunkSize: 2 })
    afterAll(() => pool.close())

    it('gives the same verdicts as verifying on the calling thread, in order across chunks', async () => {
      const { txs, expected } = mixedBatch()
      const many = [...txs, ...txs, ...txs]
      expect(await pool.verify(many)).toEqual([...expected, ...expected, ...expected])
    })
  })
})
