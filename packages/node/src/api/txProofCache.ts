import { type Block, type CommitCertificate, MerkleTree, type Receipt } from '@trellis/ledger'
import type { ChainStore } from '../chain/chainStore.js'

/** What a tx's proof needs from its block: the decoded block, its receipts and both Merkle trees. */
export interface BlockProofData {
  readonly block: Block
  readonly receipts: { readonly bytes: readonly Uint8Array[]; readonly receipts: readonly Receipt[] }
  readonly certificate: CommitCertificate
  readonly txTree: MerkleTree
  readonly receiptTree: MerkleTree
}

/**
 * The last few blocks whose txs were asked for, with their trees built. A tx's proof needs the whole
 * block (decoding 2,000 txs and hashing ~8,000 nodes took ~30 ms a request), and clients ask for the
 * txs of the same recent blocks together (a batch they submitted, an explorer's page). Committed
 * blocks never change at a height at or below the head, so entries stay valid.
 */
export class TxProofCache {
  private readonly entries = new Map<number, BlockProofData>()

  constructor(
    private readonly chain: Pick<ChainStore, 'getBlock' | 'getReceipts' | 'getCertificate'>,
    private readonly maxBlocks = 4,
  ) {}

  /** The block at `height` with its trees, or undefined when it is not stored. */
  get(height: number): BlockProofData | undefined {
    const hit = this.entries.get(height)
    if (hit !== undefined) {
      // Most recently used last.
      this.entries.delete(height)
      this.entries.set(height, hit)
      return hit
    }
    const block = this.chain.getBlock(height)
    const receipts = this.chain.getReceipts(height)
    const certificate = this.chain.getCertificate(height)
    if (block === undefined || receipts === undefined || certificate === undefined) return undefined
    const data: BlockProofData = {
      block,
      receipts,
      certificate,
      txTree: new MerkleTree(block.txs.map((t) => t.bytes)),
      receiptTree: new MerkleTree(receipts.bytes),
    }
    this.entries.set(height, data)
    if (this.entries.size > this.maxBlocks) this.entries.delete(this.entries.keys().next().value as number)
    return data
  }
}
