import { createHash } from 'node:crypto'
import { bytesToHex, hexToBytes, isTrellisError } from '@trellis/utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type MerkleProof,
  MerkleTree,
  merkleLeafHash,
  merkleNodeHash,
  merkleProof,
  merkleProofsAll,
  merkleRoot,
  verifyMerkleProof,
} from '../src/merkle/index.js'

// Independent, literal RFC 6962 §2.1 / §2.1.1 reference (recursive, node:crypto directly).
const H = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}
const split = (n: number): number => {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}
function refMTH(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return H()
  if (d.length === 1) return H(Uint8Array.of(0), d[0]!)
  const k = split(d.length)
  return H(Uint8Array.of(1), refMTH(d.slice(0, k)), refMTH(d.slice(k)))
}
function refPath(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return []
  const k = split(d.length)
  return m < k ? [...refPath(m, d.slice(0, k)), refMTH(d.slice(k))] : [...refPath(m - k, d.slice(k)), refMTH(d.slice(0, k))]
}
/** Which side each path element is on ('L' = sibling is on the left), leaf level first. */
function refShape(m: number, n: number): string {
  if (n <= 1) return ''
  const k = split(n)
  return m < k ? `${refShape(m, k)}R` : `${refShape(m - k, n - k)}L`
}

const leavesOf = (n: number, salt = 0): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => Uint8Array.of(salt, i & 255, i >> 8, (i * 7) & 255))
const flip = (b: Uint8Array, i: number, mask = 1): Uint8Array => {
  const c = b.slice()
  c[i] = (c[i] as number) ^ mask
  return c
}

describe('RFC 6962 Merkle tree', () => {
  it('matches the known vectors (Certificate Transparency test data)', () => {
    expect(bytesToHex(merkleRoot([]))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    const inputs = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) =>
      hexToBytes(h),
    )
    const roots = [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
      'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    ]
    roots.forEach((root, i) => {
      expect(bytesToHex(merkleRoot(inputs.slice(0, i + 1)))).toBe(root)
      expect(bytesToHex(new MerkleTree(inputs.slice(0, i + 1)).root)).toBe(root)
    })
  })

  it('hashes leaves and nodes with the 0x00 / 0x01 domain prefixes', () => {
    const a = Uint8Array.of(1, 2, 3)
    expect(merkleLeafHash(a)).toEqual(H(Uint8Array.of(0), a))
    const l = H(Uint8Array.of(7))
    const r = H(Uint8Array.of(8))
    expect(merkleNodeHash(l, r)).toEqual(H(Uint8Array.of(1), l, r))
  })

  it('equals the recursive reference for sizes 0..140', () => {
    for (let n = 0; n <= 140; n++) expect(merkleRoot(leavesOf(n))).toEqual(refMTH(leavesOf(n)))
  })

  it('produces the RFC audit path and verifies every index for sizes 1..70', () => {
    for (let n = 1; n <= 70; n++) {
      const leaves = leavesOf(n)
      const root = refMTH(leaves)
      const tree = new MerkleTree(leaves)
      const all = merkleProofsAll(leaves)
      expect(tree.root).toEqual(root)
      expect(tree.size).toBe(n)
      expect(all).toHaveLength(n)
      for (let i = 0; i < n; i++) {
        const proof = tree.proof(i)
        expect(proof.index).toBe(i)
        expect(proof.size).toBe(n)
        expect(proof.path).toEqual(refPath(i, leaves))
        expect(all[i]).toEqual(proof)
        expect(verifyMerkleProof(root, leaves[i]!, proof)).toBe(true)
      }
      expect(merkleProof(leaves, n - 1)).toEqual(tree.proof(n - 1))
    }
  })

  it('rejects any mutated byte of the leaf, the path or the root', () => {
    for (let n = 1; n <= 70; n++) {
      const leaves = leavesOf(n)
      const tree = new MerkleTree(leaves)
      // Every byte for a few sizes, one pseudo-random byte and bit per hash for all others.
      const exhaustive = [1, 2, 3, 5, 8, 13, 33].includes(n)
      for (let i = 0; i < n; i++) {
        const proof = tree.proof(i)
        const leaf = leaves[i]!
        const bytesOf = (len: number, seed: number): number[] =>
          exhaustive ? Array.from({ length: len }, (_, b) => b) : [(seed * 31 + i) % len]
        for (const b of bytesOf(leaf.length, n)) expect(verifyMerkleProof(tree.root, flip(leaf, b), proof)).toBe(false)
        expect(verifyMerkleProof(tree.root, Uint8Array.of(...leaf, 0), proof)).toBe(false)
        for (const b of bytesOf(32, n + 1)) expect(verifyMerkleProof(flip(tree.root, b, 1 << (b % 8)), leaf, proof)).toBe(false)
        proof.path.forEach((p, j) => {
          for (const b of bytesOf(32, n + j)) {
            const path = proof.path.slice()
            path[j] = flip(p, b, 0x80 >> (b % 8))
            expect(verifyMerkleProof(tree.root, leaf, { ...proof, path })).toBe(false)
          }
        })
      }
    }
  })

  it('rejects a proof under another index, and under another size unless that size has the same path shape', () => {
    for (let n = 1; n <= 70; n++) {
      const leaves = leavesOf(n)
      const tree = new MerkleTree(leaves)
      for (let i = 0; i < n; i++) {
        const proof = tree.proof(i)
        // All other indices for small trees, a spread of them for larger ones (keeps the suite fast).
        const others = n <= 24 ? Array.from({ length: n }, (_, j) => j) : [0, 1, i - 1, i + 1, n >> 1, n - 2, n - 1]
        for (const j of others) {
          if (j !== i && j >= 0 && j < n) expect(verifyMerkleProof(tree.root, leaves[i]!, { ...proof, index: j })).toBe(false)
        }
        expect(verifyMerkleProof(tree.root, leaves[i]!, { ...proof, index: n })).toBe(false)
        expect(verifyMerkleProof(tree.root, leaves[i]!, { ...proof, index: -1 })).toBe(false)
        // RFC 6962 proofs do not commit to the size: the root (a header) must. A different size is
        // accepted exactly when it implies the same hashing steps, and so the same root.
        const sizes = n <= 24 ? Array.from({ length: n + 10 }, (_, m) => m + 1) : [n - 1, n + 1, n + 2, 2 * n, 2 ** Math.ceil(Math.log2(n))]
        for (const m of sizes) {
          if (m === n || m <= i) continue
          const same = refShape(i, m) === refShape(i, n)
          expect(verifyMerkleProof(tree.root, leaves[i]!, { ...proof, size: m })).toBe(same)
        }
      }
    }
  })

  it('rejects wrong path lengths and malformed proofs without throwing', () => {
    const leaves = leavesOf(13)
    const tree = new MerkleTree(leaves)
    const proof = tree.proof(5)
    const root = tree.root
    const leaf = leaves[5]!
    const bad: unknown[] = [
      { ...proof, path: proof.path.slice(1) },
      { ...proof, path: proof.path.slice(0, -1) },
      { ...proof, path: [...proof.path, proof.path[0]!] },
      { ...proof, path: [new Uint8Array(32), ...proof.path] },
      { ...proof, path: proof.path.map((p, j) => (j === 1 ? p.subarray(0, 31) : p)) },
      { ...proof, path: proof.path.map((p, j) => (j === 1 ? Uint8Array.of(...p, 0) : p)) },
      { ...proof, path: proof.path.map((p, j) => (j === 1 ? bytesToHex(p) : p)) },
      { ...proof, index: 5.5 },
      { ...proof, index: '5' },
      { ...proof, size: 0 },
      { ...proof, size: Number.MAX_SAFE_INTEGER + 2 },
      { ...proof, size: Number.POSITIVE_INFINITY },
      { ...proof, path: 'x' },
      { index: 5, size: 13 },
      {},
      null,
      undefined,
      42,
      'proof',
      [],
      { index: 0, size: 1, path: new Array(1000).fill(new Uint8Array(32)) },
    ]
    for (const p of bad) expect(verifyMerkleProof(root, leaf, p as MerkleProof)).toBe(false)
    expect(verifyMerkleProof(root.subarray(0, 31), leaf, proof)).toBe(false)
    expect(verifyMerkleProof(null as unknown as Uint8Array, leaf, proof)).toBe(false)
    expect(verifyMerkleProof(root, null as unknown as Uint8Array, proof)).toBe(false)
    expect(verifyMerkleProof(root, leaf, proof)).toBe(true)
  })

  it('single-leaf tree: empty path, the root is the leaf hash', () => {
    const leaf = Uint8Array.of(9)
    const proof = merkleProof([leaf], 0)
    expect(proof).toEqual({ index: 0, size: 1, path: [] })
    expect(verifyMerkleProof(merkleLeafHash(leaf), leaf, proof)).toBe(true)
    expect(verifyMerkleProof(merkleLeafHash(leaf), leaf, { ...proof, size: 2 })).toBe(false)
  })

  it('throws MERKLE_INDEX_OUT_OF_RANGE for a bad index', () => {
    for (const [n, i] of [
      [0, 0],
      [3, 3],
      [3, -1],
      [3, 1.5],
    ] as const) {
      let err: unknown
      try {
        merkleProof(leavesOf(n), i)
      } catch (e) {
        err = e
      }
      expect(isTrellisError(err, 'MERKLE_INDEX_OUT_OF_RANGE')).toBe(true)
    }
    expect(merkleProofsAll([])).toEqual([])
    expect(new MerkleTree([]).root).toEqual(merkleRoot([]))
  })

  it('handles 100k leaves iteratively with the same root as the tree object', () => {
    const leaves = Array.from({ length: 100_001 }, (_, i) => Uint8Array.of(i & 255, (i >> 8) & 255, i >> 16))
    const root = merkleRoot(leaves)
    const tree = new MerkleTree(leaves)
    expect(tree.root).toEqual(root)
    for (const i of [0, 1, 65_535, 65_536, 99_999, 100_000]) expect(verifyMerkleProof(root, leaves[i]!, tree.proof(i))).toBe(true)
  })

  it('property: random leaf lists match the reference and every proof verifies', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 200 }), fc.nat(), (leaves, seed) => {
        const root = merkleRoot(leaves)
        expect(root).toEqual(refMTH(leaves))
        if (leaves.length === 0) return
        const i = seed % leaves.length
        const proof = merkleProof(leaves, i)
        expect(proof.path).toEqual(refPath(i, leaves))
        expect(verifyMerkleProof(root, leaves[i]!, proof)).toBe(true)
      }),
      { numRuns: 300 },
    )
  })
})
