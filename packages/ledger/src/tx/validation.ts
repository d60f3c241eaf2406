import { publicKeyToString, verify } from '@trellis/crypto'
import { TrellisError } from '@trellis/utils'
import { CHAIN_ID_RE, METHOD_RE, NAME_RE, PROTOCOL } from '../constants.js'
import type { LedgerErrorType } from '../errors.js'
import type { ChainParams } from '../genesis/genesis.js'
import { txCertificate } from './certificate.js'
import { decodeSignedTx, type SignedTx, txSignBytes } from './tx.js'

function fail(type: LedgerErrorType, message: string): never {
  throw new TrellisError<LedgerErrorType>(type, message)
}

/**
 * Checks everything about a tx that needs neither state nor its signature: size, version, names,
 * chain id and expiry window. `now` is the caller's clock (mempool) or the block timestamp (execution).
 * A certificate must parse and certify the signer's key (whether its issuer is trusted needs state).
 * @throws TrellisError TX_TOO_LARGE | TX_WRONG_CHAIN | TX_EXPIRED | TX_EXPIRY_TOO_FAR | TX_INVALID_FIELD
 */
export function validateTxStatic(tx: SignedTx, chainId: string, params: ChainParams, now: number): void {
  if (tx.bytes.length > params.maxTxBytes) {
    fail(
      { code: 'TX_TOO_LARGE', size: tx.bytes.length, max: params.maxTxBytes },
      `transaction is ${tx.bytes.length} bytes, above the ${params.maxTxBytes}-byte limit`,
    )
  }
  const { body } = tx
  if (body.chainId !== chainId)
    fail(
      { code: 'TX_WRONG_CHAIN', expected: chainId, got: body.chainId },
      `transaction is for chain "${body.chainId}", this is "${chainId}"`,
    )
  if (!NAME_RE.test(body.contract) || body.contract.length > PROTOCOL.maxNameLength) {
    fail({ code: 'TX_INVALID_FIELD', field: 'contract', reason: 'must match [a-z][a-z0-9_-]*' }, `invalid contract name "${body.contract}"`)
  }
  if (!METHOD_RE.test(body.method) || body.method.length > PROTOCOL.maxNameLength) {
    fail({ code: 'TX_INVALID_FIELD', field: 'method', reason: 'must be an identifier' }, `invalid method name "${body.method}"`)
  }
  if (body.expiresAt <= now)
    fail({ code: 'TX_EXPIRED', expiresAt: body.expiresAt, now }, `transaction expired at ${body.expiresAt} (now ${now})`)
  const maxExpiresAt = now + params.maxTxTtlMs
  if (body.expiresAt > maxExpiresAt) {
    fail(
      { code: 'TX_EXPIRY_TOO_FAR', expiresAt: body.expiresAt, maxExpiresAt },
      `transaction expiry is more than ${params.maxTxTtlMs} ms ahead; replay protection only covers that window`,
    )
  }
  txCertificate(tx)
}

/** True when the tx carries a valid canonical signature by its signer. */
export function isTxSignatureValid(tx: SignedTx): boolean {
  return verify(tx.body.signer, txSignBytes(tx.bodyBytes), tx.signature)
}

/** @throws TrellisError TX_BAD_SIGNATURE */
export function verifyTxSignature(tx: SignedTx): void {
  if (!isTxSignatureValid(tx)) {
    const signer = publicKeyToString(tx.body.signer)
    fail({ code: 'TX_BAD_SIGNATURE', signer }, `signature is not a valid canonical signature by ${signer}`)
  }
}

/**
 * Decodes and fully validates a tx from wire bytes (size first, so oversized input is not parsed).
 * @throws TrellisError any tx error code
 */
export function decodeAndValidateTx(bytes: Uint8Array, chainId: string, params: ChainParams, now: number): SignedTx {
  if (bytes.length > params.maxTxBytes) {
    fail(
      { code: 'TX_TOO_LARGE', size: bytes.length, max: params.maxTxBytes },
      `transaction is ${bytes.length} bytes, above the ${params.maxTxBytes}-byte limit`,
    )
  }
  const tx = decodeSignedTx(bytes)
  validateTxStatic(tx, chainId, params, now)
  verifyTxSignature(tx)
  return tx
}

export function isValidChainId(s: string): boolean {
  return CHAIN_ID_RE.test(s) && s.length <= PROTOCOL.maxChainIdLength
}
