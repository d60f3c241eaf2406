/**
 * @trellis/ledger — canonical encoding, transactions, blocks, commit certificates, receipts and events,
 * Merkle trees and the authenticated state tree, stateless validation and light-client verification.
 * Pure: no I/O, no clock (callers pass `now`), browser-safe.
 */

export type { Block } from './block/block.js'
export { decodeBlock, encodeBlock } from './block/block.js'
export type { CommitCertificate, CommitSignature, ProposalSigned, Vote } from './block/certificate.js'
export {
  decodeCertificate,
  encodeCertificate,
  proposalSignBytes,
  VoteType,
  validatorIndexOf,
  verifyCertificate,
  voteSignBytes,
} from './block/certificate.js'
export type { BlockHeader } from './block/header.js'
export { decodeHeader, encodeHeader, headerHash, readHeader, writeHeader } from './block/header.js'
export { Reader } from './codec/reader.js'
export type { JsonValue, Value } from './codec/value.js'
export {
  decodeValue,
  decodeValueJSON,
  encodedValueFits,
  encodedValueLength,
  encodeValue,
  isValueMap,
  MAX_VALUE_DEPTH,
  readValueFrom,
  valueFromJSON,
  valueFromParsedJSON,
  valueToJSON,
  writeValueTo,
} from './codec/value.js'
export { Writer } from './codec/writer.js'
export { CHAIN_ID_RE, DOMAIN, METHOD_RE, NAME_RE, PROTOCOL } from './constants.js'
export type { LedgerErrorType } from './errors.js'
export type { ChainParams, Genesis, GenesisJSON, Validator, ValidatorSet } from './genesis/genesis.js'
export {
  defaultChainParams,
  encodeValidatorSet,
  genesisFromJSON,
  genesisHash,
  genesisToJSON,
  totalPower,
  validatorSetHash,
} from './genesis/genesis.js'
export type { CertificateJSON, HeaderJSON, ReceiptJSON, TxJSON } from './json.js'
export { certificateToJSON, headerToJSON, receiptToJSON, txToJSON } from './json.js'
export * from './merkle/index.js'
export type { MerkleProofJSON, StateValueProofJSON, TrustAnchor, TxProofJSON, VerifiedStateValue, VerifiedTx } from './proof/lightClient.js'
export { merkleProofFromJSON, merkleProofToJSON, verifyStateValueProof, verifyTrustedHeader, verifyTxProof } from './proof/lightClient.js'
export type { ContractEvent, Receipt } from './receipt/receipt.js'
export { decodeReceipt, encodeReceipt, ReceiptStatus, readReceipt, receiptHash, writeReceipt } from './receipt/receipt.js'
export { stateKey, stateKeyHash, stateValueHash } from './state/keys.js'
export * from './stateTree/index.js'
export type { Organisation } from './identity/orgs.js'
export { chainsIn, checkOrgCAs, isSelfSigned, MAX_CHAIN_CAS, MAX_ORG_CAS, ORG_ID_RE } from './identity/orgs.js'
export { txCertificate } from './tx/certificate.js'
export type { SignedTx, TxBody } from './tx/tx.js'
export { createSignedTx, decodeSignedTx, encodeSignedTx, encodeTxBody, signTx, txId, txSignBytes } from './tx/tx.js'
export { decodeAndValidateTx, isTxSignatureValid, isValidChainId, validateTxStatic, verifyTxSignature } from './tx/validation.js'
