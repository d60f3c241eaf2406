import { base64ToBytes, bytesToHex, equalBytes, hexToBytes, TrellisError } from '@trellis/utils'
import { type CommitCertificate, decodeCertificate, encodeCertificate, verifyCertificate } from '../block/certificate.js'
import { type BlockHeader, decodeHeader, headerHash } from '../block/header.js'
import { decodeValue, type Value } from '../codec/value.js'
import type { LedgerErrorType } from '../errors.js'
import { type ValidatorSet, validatorSetHash } from '../genesis/genesis.js'
import { type MerkleProof, verifyMerkleProof } from '../merkle/index.js'
import { decodeReceipt, type Receipt } from '../receipt/receipt.js'
import { stateKey, stateKeyHash, stateValueHash } from '../state/keys.js'
import { type StateProofJSON, stateProofFromJSON, verifyStateProof } from '../stateTree/index.js'
import { decodeSignedTx, type SignedTx } from '../tx/tx.js'

/** How a verifier knows which headers to believe. */
export type TrustAnchor =
  /** A header is trusted when more than 2/3 of this validator set signed it (the light-client rule). */
  | { readonly chainId: string; readonly validators: ValidatorSet }
  /** A header is trusted when its hash equals one the verifier already trusts. */
  | { readonly chainId: string; readonly headerHash: Uint8Array }

export interface MerkleProofJSON {
  index: number
  size: number
  path: string[]
}

/** Self-contained evidence that a tx was committed with a given receipt (JSON; what the API serves). */
export interface TxProofJSON {
  kind: 'tx'
  height: number
  index: number
  /** Wire bytes (base64) of the signed tx, the receipt, the header and the certificate. */
  tx: string
  receipt: string
  txProof: MerkleProofJSON
  receiptProof: MerkleProofJSON
  header: string
  certificate: string
}

/** Self-contained evidence of a state value (or of its absence) at a height. */
export interface StateValueProofJSON {
  kind: 'state'
  height: number
  contract: string
  key: string
  /** Canonical encoding (base64) of the value, or null to prove the key is absent. */
  value: string | null
  proof: StateProofJSON
  header: string
  certificate: string
}

const MAX_VERIFIED_HEADERS = 4096
// Headers a verifier has already checked, keyed by CONTENT (anchor kind, chain id, validator-set hash
// or trusted header hash, and the exact header and certificate bytes), so a mutated validator set, a
// different anchor or any altered byte is checked afresh. Bounded; cleared when full.
const verifiedHeaders = new Map<string, { header: BlockHeader; blockHash: Uint8Array }>()

function remember(key: string, value: { header: BlockHeader; blockHash: Uint8Array }): void {
  if (verifiedHeaders.size >= MAX_VERIFIED_HEADERS) verifiedHeaders.clear()
  verifiedHeaders.set(key, value)
}

function anchorKey(trust: TrustAnchor): string {
  if ('validators' in trust && 'headerHash' in trust) invalid('a trust anchor names either a validator set or a header hash, not both')
  return 'headerHash' in trust
    ? `hash|${trust.chainId}|${bytesToHex(trust.headerHash)}`
    : `set|${trust.chainId}|${bytesToHex(validatorSetHash(trust.validators))}`
}

function trustedHeaderFromText(
  headerText: string,
  certificateText: string,
  height: number,
  trust: TrustAnchor,
): { header: BlockHeader; blockHash: Uint8Array } {
  const key = `${anchorKey(trust)}|${headerText}|${certificateText}`
  const cached = verifiedHeaders.get(key)
  if (cached !== undefined && cached.header.height === height) return cached
  const header = field('header', () => decodeHeader(base64ToBytes(headerText)))
  const certificate = field('certificate', () => decodeCertificate(base64ToBytes(certificateText)))
  if (header.height !== height) invalid('height does not match the header')
  const out = { header, blockHash: verifyTrustedHeader(header, certificate, trust) }
  remember(key, out)
  return out
}

function invalid(reason: string): never {
  throw new TrellisError<LedgerErrorType>({ code: 'PROOF_INVALID', reason }, `proof does not verify: ${reason}`)
}

function field<T>(what: string, f: () => T): T {
  try {
    return f()
  } catch (cause) {
    if (cause instanceof TrellisError && (cause.code === 'PROOF_INVALID' || cause.code === 'CERT_INVALID')) throw cause
    throw new TrellisError<LedgerErrorType>(
      { code: 'PROOF_INVALID', reason: `malformed ${what}` },
      `proof does not verify: malformed ${what}`,
      { cause },
    )
  }
}

export function merkleProofToJSON(p: MerkleProof): MerkleProofJSON {
  return { index: p.index, size: p.size, path: p.path.map(bytesToHex) }
}

export function merkleProofFromJSON(j: MerkleProofJSON): MerkleProof {
  if (typeof j !== 'object' || j === null || !Array.isArray(j.path) || !Number.isSafeInteger(j.index) || !Number.isSafeInteger(j.size)) {
    throw new TrellisError<LedgerErrorType>({ code: 'PROOF_INVALID', reason: 'malformed merkle proof' }, 'malformed merkle proof')
  }
  return { index: j.index, size: j.size, path: j.path.map((h) => hexToBytes(String(h))) }
}

/**
 * Checks a header against the trust anchor: chain id, and either a >2/3 certificate by the trusted
 * validator set (whose hash the header must carry) or a known header hash.
 * @throws TrellisError PROOF_INVALID | CERT_INVALID
 */
export function verifyTrustedHeader(header: BlockHeader, certificate: CommitCertificate | undefined, trust: TrustAnchor): Uint8Array {
  const anchor = anchorKey(trust)
  if (header.chainId !== trust.chainId) invalid(`header is for chain "${header.chainId}", expected "${trust.chainId}"`)
  const hash = headerHash(header)
  if ('headerHash' in trust) {
    if (!equalBytes(hash, trust.headerHash)) invalid('header hash is not the trusted one')
    return hash
  }
  if (!equalBytes(header.validatorSetHash, validatorSetHash(trust.validators))) invalid('header names a different validator set')
  if (certificate === undefined) invalid('no commit certificate')
  const key = `${anchor}|cert|${bytesToHex(hash)}|${bytesToHex(encodeCertificate(certificate))}`
  if (verifiedHeaders.has(key)) return hash
  verifyCertificate(certificate, trust.chainId, header.height, hash, trust.validators)
  remember(key, { header, blockHash: hash })
  return hash
}

/** A verified tx proof's content. */
export interface VerifiedTx {
  readonly tx: SignedTx
  readonly receipt: Receipt
  readonly header: BlockHeader
  readonly blockHash: Uint8Array
}

/**
 * Verifies a tx proof offline: the header is trusted (see {@link verifyTrustedHeader}), the tx and
 * its receipt are the `index`-th leaves under the header's tx and receipt roots, and the receipt is
 * for that tx.
 * @throws TrellisError PROOF_INVALID | CERT_INVALID
 */
export function verifyTxProof(p: TxProofJSON, trust: TrustAnchor): VerifiedTx {
  if (typeof p !== 'object' || p === null || p.kind !== 'tx') invalid('not a tx proof')
  if (typeof p.header !== 'string' || typeof p.certificate !== 'string') invalid('header and certificate must be base64 strings')
  const txBytes = field('tx', () => base64ToBytes(p.tx))
  const receiptBytes = field('receipt', () => base64ToBytes(p.receipt))
  const tx = field('tx', () => decodeSignedTx(txBytes))
  const receipt = field('receipt', () => decodeReceipt(receiptBytes))
  const txProof = field('txProof', () => merkleProofFromJSON(p.txProof))
  const receiptProof = field('receiptProof', () => merkleProofFromJSON(p.receiptProof))
  const { header, blockHash } = trustedHeaderFromText(p.header, p.certificate, p.height, trust)
  if (txProof.index !== p.index || receiptProof.index !== p.index) invalid('proof indices do not match')
  if (txProof.size !== header.txCount || receiptProof.size !== header.txCount) invalid('proof size does not match the header tx count')
  if (!verifyMerkleProof(header.txRoot, txBytes, txProof)) invalid('tx is not under the header tx root')
  if (!verifyMerkleProof(header.receiptRoot, receiptBytes, receiptProof)) invalid('receipt is not under the header receipt root')
  if (!equalBytes(receipt.txId, tx.id)) invalid('receipt is for another tx')
  return { tx, receipt, header, blockHash }
}

/** A verified state proof's content: `value` is undefined when the proof shows the key is absent. */
export interface VerifiedStateValue {
  readonly contract: string
  readonly key: string
  readonly value: Value | undefined
  readonly header: BlockHeader
  readonly blockHash: Uint8Array
}

/**
 * Verifies a state value (or absence) proof offline against the trusted header's state root.
 * @throws TrellisError PROOF_INVALID | CERT_INVALID
 */
export function verifyStateValueProof(p: StateValueProofJSON, trust: TrustAnchor): VerifiedStateValue {
  if (typeof p !== 'object' || p === null || p.kind !== 'state') invalid('not a state proof')
  if (typeof p.contract !== 'string' || typeof p.key !== 'string') invalid('contract and key must be strings')
  if (typeof p.header !== 'string' || typeof p.certificate !== 'string') invalid('header and certificate must be base64 strings')
  const valueBytes = p.value === null ? null : field('value', () => base64ToBytes(String(p.value)))
  const value = valueBytes === null ? undefined : field('value', () => decodeValue(valueBytes))
  const proof = field('state proof', () => stateProofFromJSON(p.proof))
  const { header, blockHash } = trustedHeaderFromText(p.header, p.certificate, p.height, trust)
  const keyHash = stateKeyHash(stateKey(p.contract, p.key))
  const valueHash = valueBytes === null ? null : stateValueHash(valueBytes)
  if (!verifyStateProof(header.stateRoot, keyHash, valueHash, proof)) {
    invalid(valueHash === null ? 'absence of the key is not proven by the state root' : 'value is not under the header state root')
  }
  return { contract: p.contract, key: p.key, value, header, blockHash }
}
