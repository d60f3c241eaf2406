/**
 * @trellis/sdk — the client library of a Trellis chain: build and sign transactions, submit them and
 * wait for their commit, query state, follow blocks and events, and verify proofs offline.
 * Browser-safe: only `fetch`, `TextEncoder`/`TextDecoder`, `AbortController` and `ReadableStream`.
 */

/** Event stream payloads and the API's error body and codes (from `@trellis/api`). */
export type { BlockMessage, ErrorBody, ErrorCode, EventMessage } from '@trellis/api'
/** The API's error-code table: code → HTTP status and meaning (from `@trellis/api`). */
export { ERROR_CODES } from '@trellis/api'
/** Key types (from `@trellis/crypto`). */
export type { KeyPair, PrivateKey, PublicKey } from '@trellis/crypto'
/** Key generation and public-key conversions; P-256 by default, Ed25519 on request (from `@trellis/crypto`). */
export { generateKeyPair, publicKeyFromPrivate, publicKeyFromString, publicKeyToString, SignatureAlgorithm } from '@trellis/crypto'
/** Ledger values, transactions, genesis and proof types (from `@trellis/ledger`). */
export type { GenesisJSON, JsonValue, SignedTx, StateValueProofJSON, TrustAnchor, TxBody, TxProofJSON, Value } from '@trellis/ledger'
/** Value ⇄ JSON conversion (bytes as `{ $bytes }`), tx decoding and signature checking (from `@trellis/ledger`). */
export { decodeSignedTx, isTxSignatureValid, valueFromJSON, valueToJSON } from '@trellis/ledger'
/** The error class every Trellis error is, and hex helpers for ids and hashes (from `@trellis/utils`). */
export { bytesToHex, hexToBytes, isTrellisError, TrellisError } from '@trellis/utils'
/** The HTTP client's interface and the options of its methods. */
export type { GetBlockOptions, GetStateHistoryOptions, GetStateOptions, QueryOptions, RouteInput, TrellisClient } from './client.js'
/** Creates the HTTP client: one typed method per route of `@trellis/api`. */
export { createClient } from './client.js'
/** Error types: the SDK's own codes, the node's error responses, failed transactions. */
export type { SdkErrorType, ServerErrorType, TxFailedType } from './errors.js'
/** A running subscription: `close()`, `done`, `lastDeliveredHeight`. */
export type { Subscription } from './events.js'
/** Subscribes to blocks and contract events, resuming after disconnects. */
export { subscribe } from './events.js'
/** The notary contract's record, options and results. */
export type { NotaryGetResult, NotaryMeta, NotaryRecord, NotaryRecordOptions, NotaryRecordResult } from './notary.js'
/** The built-in notary (evidence notarisation) contract: record and look up document hashes. */
export { NOTARY_CONTRACT, notary, notaryKey, sha256Hex } from './notary.js'
/** Typed contract clients and the lifecycle (deploy, upgrade, pause, resume, freeze). */
export type {
  CallMethods,
  ContractArtifactLike,
  ContractCallOptions,
  ContractCallResult,
  ContractClient,
  ContractClientOptions,
  QueryMethods,
} from './contract.js'
export { contractClient, LIFECYCLE_CONTRACT, lifecycle, sendCall } from './contract.js'
/** Governance: proposals, votes, organisations, revocations, permissions and policies. */
export type { GovernanceAction, GovernancePolicy, ProposalView } from './governance.js'
export { GOVERNANCE_CONTRACT, governance } from './governance.js'
/** Options of the client, `submit`, `waitForCommit` and `subscribe`. */
export type {
  ClientOptions,
  FetchFn,
  RequestOptions,
  SubmitOptions,
  SubscribeOptions,
  SubscriptionErrorInfo,
  WaitForCommitOptions,
} from './options.js'
/** Default option values. */
export { defaultClientOptions, defaultSubscribeOptions, defaultWaitForCommitOptions } from './options.js'
/** A parsed Server-Sent Events message. */
export type { SSEMessage } from './sse.js'
/** The incremental `text/event-stream` parser `subscribe` uses. */
export { SSEParser } from './sse.js'
/** Options of `buildTx`. */
export type { BuildTxOptions } from './txBuilder.js'
/** Builds and signs transactions. */
export { buildTx, defaultBuildTxOptions, randomNonce } from './txBuilder.js'
/** Response types of the API routes. */
export type {
  BlockResponse,
  ContractResponse,
  ContractsResponse,
  HealthResponse,
  JsonRouteName,
  QueryResponse,
  ReceiptResponse,
  StateHistoryResponse,
  StateResponse,
  StatusResponse,
  SubmitResponse,
  SubmitResult,
  TxResponse,
} from './types.js'
/** What offline verification proved. */
export type { VerifiedStateResult, VerifiedTxResult } from './verify.js'
/** Offline proof verification against a trust anchor taken from the genesis. */
export { trustAfterValidatorChange, trustFromGenesis, verifyState, verifyTx } from './verify.js'
/** Waits for a transaction to commit by polling; normalises tx ids to hex. */
export { txIdHex, waitForCommit } from './waitForCommit.js'
