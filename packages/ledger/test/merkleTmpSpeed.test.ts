import { it } from 'vitest'
import { merkleRoot, MerkleTree } from '../src/merkle/index.js'
it('speed', () => {
  const leaves = Array.from({ length: 100_001 }, (_, i) => Uint8Array.of(i & 255, (i >> 8) & 255, i >> 16))
  for (let r = 0; r < 3; r++) {
    let t = performance.now()
    merkleRoot(leaves)
    const a = performance.now() - t
    t = performance.now()
    new MerkleTree(leaves)
    console.log('root', a.toFixed(0), 'tree', (performance.now() - t).toFixed(0))
  }
})
