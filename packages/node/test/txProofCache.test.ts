import { merkleProof, verifyMerkleProof } from '@trellis/ledger'
import { describe, expect, it } from 'vitest'
import { docHash, executeAndCommit, GENESIS_TIME, makeGenesis, openMemoryChain, recordTx, testKey } from '../../../test/support/fixtures.js'
import { TxProofCache } from '../src/api/txProofCache.js'
import { ContractExecutor, notaryContract } from '../src/index.js'

const validator = testKey(0)
const alice = testKey(1)

/** A chain of `blocks` committed blocks of notary txs, with its block reads counted. */
async function chainWithBlocks(blocks: number, perBlock: number) {
  const chain = await openMemoryChain(makeGenesis(validator))
  const executor = await ContractExecutor.create({ builtins: [notaryContract], admins: [validator.publicKey] })
  let nonce = 0
  for (let b = 0; b < blocks; b++) {
    const txs = Array.from({ length: perBlock }, () =>
      recordTx(alice, docHash(nonce), { nonce: nonce++, expiresAt: GENESIS_TIME + 3_600_000 }),
    )
    await executeAndCommit(chain, executor, validator, GENESIS_TIME + 1000 * (b + 1), txs)
  }
  const reads: number[] = []
  const counted = {
    getBlock: (h: number) => {
      reads.push(h)
      return chain.getBlock(h)
    },
    getReceipts: (h: number) => chain.getReceipts(h),
    getCertificate: (h: number) => chain.getCertificate(h),
  }
  return { chain, counted, reads }
}

describe('TxProofCache', () => {
  it('serves the same proofs as building the trees per request, and they verify against the header', async () => {
    const { chain, counted } = await chainWithBlocks(3, 7)
    const cache = new TxProofCache(counted)
    for (let h = 1; h <= 3; h++) {
      const data = cache.get(h)
      const block = chain.getBlock(h)
      const receipts = chain.getReceipts(h)
      if (data === undefined || block === undefined || receipts === undefined) throw new Error(`block ${h} missing`)
      expect(data.block).toEqual(block)
      expect(data.certificate).toEqual(chain.getCertificate(h))
      for (let i = 0; i < block.txs.length; i++) {
        const tx = (block.txs[i] as { bytes: Uint8Array }).bytes
        expect(data.txTree.proof(i)).toEqual(
          merkleProof(
            block.txs.map((t) => t.bytes),
            i,
          ),
        )
        expect(data.receiptTree.proof(i)).toEqual(merkleProof(receipts.bytes, i))
        expect(verifyMerkleProof(block.header.txRoot, tx, data.txTree.proof(i))).toBe(true)
        expect(verifyMerkleProof(block.header.receiptRoot, receipts.bytes[i] as Uint8Array, data.receiptTree.proof(i))).toBe(true)
      }
    }
  })

  it('keeps the most recently used blocks, reads each block once while it stays, and caches no missing height', async () => {
    const { counted, reads } = await chainWithBlocks(4, 2)
    const cache = new TxProofCache(counted, 2)
    cache.get(1)
    cache.get(2)
    cache.get(1) // hit: 1 becomes the most recent
    cache.get(3) // evicts 2
    cache.get(1) // hit
    cache.get(2) // miss: read again, evicts 3
    expect(reads).toEqual([1, 2, 3, 2])
    expect(cache.get(99)).toBeUndefined()
    expect(cache.get(99)).toBeUndefined()
    expect(reads).toEqual([1, 2, 3, 2, 99, 99])
  })
})
