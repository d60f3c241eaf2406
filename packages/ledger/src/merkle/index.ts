// Public surface of the RFC 6962 Merkle tree (re-exported by the package index).
export type { MerkleErrorType } from './errors.js'
export type { MerkleProof } from './merkleTree.js'
export { MerkleTree, merkleLeafHash, merkleNodeHash, merkleProof, merkleProofsAll, merkleRoot, verifyMerkleProof } from './merkleTree.js'
