/** Errors of decoding and of stateless validation. Codes are part of the public API (docs/errors.md). */
export type LedgerErrorType =
  | { code: 'ENCODING_INVALID'; reason: string; offset: number }
  | { code: 'TX_MALFORMED'; reason: string }
  | { code: 'TX_TOO_LARGE'; size: number; max: number }
  | { code: 'TX_UNSUPPORTED_VERSION'; version: number }
  | { code: 'TX_WRONG_CHAIN'; expected: string; got: string }
  | { code: 'TX_BAD_SIGNATURE'; signer: string }
  | { code: 'TX_EXPIRED'; expiresAt: number; now: number }
  | { code: 'TX_EXPIRY_TOO_FAR'; expiresAt: number; maxExpiresAt: number }
  | { code: 'TX_INVALID_FIELD'; field: string; reason: string }
  | { code: 'CERT_INVALID'; reason: string }
  | { code: 'PROOF_INVALID'; reason: string }
  | { code: 'GENESIS_INVALID'; reason: string }
  | { code: 'ORG_INVALID'; reason: string }
