export type { GovernanceEnv, GovernanceErrorType, GovernanceStore } from './contract.js'
export { ACTION_TYPES, Governance, parsePolicy, tally, threshold } from './contract.js'
export type { Identity, IdentityErrorType, Read } from './identity.js'
export { admits, describeRule, Identities } from './identity.js'
export type {
  AccessList,
  AccessRule,
  Approval,
  GovernanceConfig,
  OrgRecord,
  Policy,
  Proposal,
  ProposalStatus,
  ParamsRecord,
  Revocation,
  ValidatorEntry,
  ValidatorSetRecord,
  Vote,
} from './records.js'
export {
  decodeRecord,
  defaultConfig,
  encodeRecord,
  GOVERNANCE_CONTRACT,
  hookArgsHash,
  KEYS as GOVERNANCE_KEYS,
  normalSerial,
  paramsKeyPart,
  RESERVED_CONTRACT_NAMES,
  VALIDATOR_CHANGE_DELAY,
  valsetKeyPart,
} from './records.js'
