/** Errors thrown by the RFC 6962 Merkle tree helpers. */
export type MerkleErrorType = { code: 'MERKLE_INDEX_OUT_OF_RANGE'; index: number; size: number }
