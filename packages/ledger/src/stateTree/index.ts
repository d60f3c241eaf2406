// Public surface of the Jellyfish Merkle state tree (re-exported by the package index).
export type { StateTreeErrorType } from './errors.js'
export { stateInternalHash, stateLeafHash } from './hash.js'
export { decodeStateNodeKey, encodeStateNodeKey } from './node.js'
export {
  MAX_STATE_PROOF_DEPTH,
  decodeStateProof,
  encodeStateProof,
  stateProofFromJSON,
  stateProofToJSON,
  verifyStateProof,
} from './proof.js'
export type { StateProof, StateProofJSON } from './proof.js'
export { StateTree, emptyStateRoot } from './stateTree.js'
export type { StateTreeUpdateResult, StateUpdate, TreeNodeReader } from './stateTree.js'
