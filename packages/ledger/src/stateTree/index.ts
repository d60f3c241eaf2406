// Public surface of the Jellyfish Merkle state tree (re-exported by the package index).
export type { StateTreeErrorType } from './errors.js'
export { stateInternalHash, stateLeafHash } from './hash.js'
export { decodeStateNodeKey, encodeStateNodeKey } from './node.js'
export type { StateProof, StateProofJSON } from './proof.js'
export {
  decodeStateProof,
  encodeStateProof,
  MAX_STATE_PROOF_DEPTH,
  stateProofFromJSON,
  stateProofToJSON,
  verifyStateProof,
} from './proof.js'
export type { StateTreeUpdateResult, StateUpdate, TreeNodeReader } from './stateTree.js'
export { emptyStateRoot, StateTree } from './stateTree.js'
