import { utf8ToBytes } from '@trellis/utils'

/** Protocol constants: the same on every chain. Per-chain parameters live in the genesis (`ChainParams`). */
export const PROTOCOL = {
  txVersion: 1,
  /** A tx whose body carries the signer's X.509 certificate. */
  txCertVersion: 2,
  maxCertificateBytes: 4096,
  headerVersion: 1,
  receiptVersion: 1,
  certificateVersion: 1,
  /** Contract and method names: lower-case identifiers. */
  maxNameLength: 64,
  maxChainIdLength: 64,
  hashLength: 32,
} as const

/** Domain-separation prefixes for everything that is signed or hashed as a whole. */
export const DOMAIN = {
  tx: utf8ToBytes('trellis/tx/v1'),
  vote: utf8ToBytes('trellis/vote/v1'),
  proposal: utf8ToBytes('trellis/proposal/v1'),
  stateKey: utf8ToBytes('trellis/state-key/v1'),
} as const

export const NAME_RE = /^[a-z][a-z0-9_-]*$/
export const METHOD_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/
export const CHAIN_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]*$/

export const ZERO_HASH = new Uint8Array(32)
