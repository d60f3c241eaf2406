import { publicKeyToString } from '@trellis/crypto'
import { bytesToHex } from '@trellis/utils'
import type { CommitCertificate } from './block/certificate.js'
import type { BlockHeader } from './block/header.js'
import { type JsonValue, valueToJSON } from './codec/value.js'
import { type Receipt, ReceiptStatus } from './receipt/receipt.js'
import type { SignedTx } from './tx/tx.js'

// Readable JSON views of ledger values, for the API and the CLI. They are views only: hashing,
// signing and proofs always use the canonical binary encoding.

export interface TxJSON {
  id: string
  chainId: string
  contract: string
  method: string
  args: JsonValue
  signer: string
  /** The signer's X.509 certificate (DER, hex), when the tx carries one. */
  certificate?: string
  nonce: number
  expiresAt: number
  signature: string
}

export function txToJSON(tx: SignedTx): TxJSON {
  const b = tx.body
  return {
    id: bytesToHex(tx.id),
    chainId: b.chainId,
    contract: b.contract,
    method: b.method,
    args: valueToJSON(b.args),
    signer: publicKeyToString(b.signer),
    ...(b.certificate === undefined ? {} : { certificate: bytesToHex(b.certificate) }),
    nonce: b.nonce,
    expiresAt: b.expiresAt,
    signature: bytesToHex(tx.signature),
  }
}

export interface ReceiptJSON {
  txId: string
  status: 'ok' | 'failed'
  errorCode: string
  errorMessage: string
  returnValue: JsonValue
  events: Array<{ contract: string; name: string; data: JsonValue }>
  cost: number
}

export function receiptToJSON(r: Receipt): ReceiptJSON {
  return {
    txId: bytesToHex(r.txId),
    status: r.status === ReceiptStatus.Ok ? 'ok' : 'failed',
    errorCode: r.errorCode,
    errorMessage: r.errorMessage,
    returnValue: valueToJSON(r.returnValue),
    events: r.events.map((e) => ({ contract: e.contract, name: e.name, data: valueToJSON(e.data) })),
    cost: r.cost,
  }
}

export interface HeaderJSON {
  chainId: string
  height: number
  prevHash: string
  timestamp: number
  proposer: string
  txRoot: string
  receiptRoot: string
  stateRoot: string
  validatorSetHash: string
  txCount: number
}

export function headerToJSON(h: BlockHeader): HeaderJSON {
  return {
    chainId: h.chainId,
    height: h.height,
    prevHash: bytesToHex(h.prevHash),
    timestamp: h.timestamp,
    proposer: publicKeyToString(h.proposer),
    txRoot: bytesToHex(h.txRoot),
    receiptRoot: bytesToHex(h.receiptRoot),
    stateRoot: bytesToHex(h.stateRoot),
    validatorSetHash: bytesToHex(h.validatorSetHash),
    txCount: h.txCount,
  }
}

export interface CertificateJSON {
  height: number
  round: number
  blockHash: string
  signatures: Array<{ validatorIndex: number; signature: string }>
}

export function certificateToJSON(c: CommitCertificate): CertificateJSON {
  return {
    height: c.height,
    round: c.round,
    blockHash: bytesToHex(c.blockHash),
    signatures: c.signatures.map((s) => ({ validatorIndex: s.validatorIndex, signature: bytesToHex(s.signature) })),
  }
}
