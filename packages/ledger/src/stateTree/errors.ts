/**
 * Errors thrown by the authenticated state tree and its proofs.
 *
 * - `STATE_VERSION_NOT_FOUND`: no root node was ever written for that version (or it was pruned).
 * - `STATE_NODE_MISSING`: a node referenced by a parent is absent or undecodable — storage corruption.
 * - `STATE_VERSION_INVALID`: `update` was called with a version that is not a safe integer above the base.
 * - `STATE_HASH_INVALID`: a key hash or value hash passed in is not 32 bytes.
 * - `PROOF_MALFORMED`: a proof (binary or JSON) could not be decoded or encoded.
 */
export type StateTreeErrorType =
  | { code: 'STATE_VERSION_NOT_FOUND'; version: number }
  | { code: 'STATE_NODE_MISSING'; nodeKey: string; reason: 'absent' | 'malformed' }
  | { code: 'STATE_VERSION_INVALID'; version: number; baseVersion: number | null }
  | { code: 'STATE_HASH_INVALID'; field: 'keyHash' | 'valueHash'; length: number | null }
  | { code: 'PROOF_MALFORMED'; reason: string }
