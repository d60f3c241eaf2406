import { type PrivateKey, sha256 } from '@trellis/crypto'
import type { SignedTx } from '@trellis/ledger'
import { bytesToHex, TrellisError, utf8ToBytes } from '@trellis/utils'
import type { TrellisClient } from './client.js'
import type { SdkErrorType, TxFailedType } from './errors.js'
import type { RequestOptions } from './options.js'
import { buildTx } from './txBuilder.js'
import type { ReceiptResponse, StateResponse } from './types.js'

/** The name of the built-in evidence-notarisation contract. */
export const NOTARY_CONTRACT = 'notary'

/** Metadata recorded with a document hash (at most 32 entries; strings up to 1024 characters). */
export type NotaryMeta = Readonly<Record<string, string | number | boolean>>

/** The record the notary contract keeps per document (its state value at `doc:<hash>`). */
export interface NotaryRecord {
  readonly hash: string
  /** The signer's public key string. */
  readonly owner: string
  readonly meta: Record<string, string | number | boolean>
  readonly txId: string
  readonly height: number
  readonly timestamp: number
}

/** Options of {@link notary}`.record`. */
export interface NotaryRecordOptions {
  /** SHA-256 of the document, 64 hex characters (see {@link sha256Hex}). */
  readonly hashHex: string
  readonly meta?: NotaryMeta
  readonly signer: PrivateKey
  /** Default: asked from the node (`GET /v1/status`). */
  readonly chainId?: string
  /** Wait for the commit; the result then has the receipt and the record, and a contract failure throws. */
  readonly wait?: boolean
  /** With `wait`: how long the node may hold the response. */
  readonly timeoutMs?: number
  readonly ttlMs?: number
  readonly nonce?: number
  readonly signal?: AbortSignal
}

/** What {@link notary}`.record` returns. */
export interface NotaryRecordResult {
  readonly txId: string
  readonly tx: SignedTx
  /** With `wait`: the commit height, the receipt and the stored record. */
  readonly height?: number
  readonly receipt?: ReceiptResponse
  readonly record?: NotaryRecord
}

/** What {@link notary}`.get` returns: the record with the proof `verifyState` checks offline. */
export interface NotaryGetResult {
  readonly exists: boolean
  readonly record: NotaryRecord | null
  readonly height: number
  /** The whole `getState` response (its `proof` is what third parties verify). */
  readonly state: StateResponse
  readonly proof: StateResponse['proof']
}

const HASH_RE = /^[0-9a-f]{64}$/

function documentHash(hashHex: string): string {
  const h = typeof hashHex === 'string' ? hashHex.toLowerCase() : ''
  if (!HASH_RE.test(h)) {
    throw new TrellisError<SdkErrorType>(
      { code: 'SDK_INVALID_ARGUMENT', argument: 'hashHex', reason: 'must be a SHA-256 digest: 64 hex characters' },
      'invalid hashHex: must be a SHA-256 digest (64 hex characters)',
    )
  }
  return h
}

/** SHA-256 of bytes (or of a string's UTF-8), as lower-case hex: the document hash the notary records. */
export function sha256Hex(data: Uint8Array | string): string {
  return bytesToHex(sha256(typeof data === 'string' ? utf8ToBytes(data) : data))
}

/** The notary contract's state key of a document: `doc:<hash>`. @throws TrellisError SDK_INVALID_ARGUMENT */
export function notaryKey(hashHex: string): string {
  return `doc:${documentHash(hashHex)}`
}

async function record(client: TrellisClient, options: NotaryRecordOptions): Promise<NotaryRecordResult> {
  const hash = documentHash(options.hashHex)
  const chainId = options.chainId ?? (await client.status(options.signal === undefined ? {} : { signal: options.signal })).chainId
  const tx = buildTx({
    chainId,
    contract: NOTARY_CONTRACT,
    method: 'record',
    args: { hash, meta: { ...options.meta } },
    signer: options.signer,
    ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
    ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
  })
  const result = await client.submit(tx, {
    ...(options.wait === undefined ? {} : { wait: options.wait }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  })
  const txId = bytesToHex(tx.id)
  if (result.receipt === undefined || result.height === undefined) return { txId, tx }
  const { receipt, height } = result
  if (receipt.status !== 'ok') {
    throw new TrellisError<TxFailedType>(
      { code: receipt.errorCode, txId, height },
      receipt.errorMessage === '' ? receipt.errorCode : receipt.errorMessage,
    )
  }
  return { txId, tx, height, receipt, record: receipt.returnValue as NotaryRecord }
}

async function get(
  client: TrellisClient,
  hashHex: string,
  options: RequestOptions & { readonly height?: number } = {},
): Promise<NotaryGetResult> {
  const state = await client.getState(NOTARY_CONTRACT, notaryKey(hashHex), options)
  return {
    exists: state.exists,
    record: state.exists ? (state.value as NotaryRecord) : null,
    height: state.height,
    state,
    proof: state.proof,
  }
}

/**
 * Helpers for the built-in notary (evidence notarisation) contract: record a document hash once, then
 * look it up with a proof anyone can verify offline (`verifyState`).
 * @example
 * const hashHex = sha256Hex(fileBytes)
 * await notary.record(client, { hashHex, meta: { title: 'contract.pdf' }, signer: privateKey, wait: true })
 * const { record, proof } = await notary.get(client, hashHex)
 */
export const notary = {
  /** Records a document hash. @throws TrellisError the refusal code, or with `wait` the contract's (e.g. NOTARY_ALREADY_RECORDED). */
  record,
  /** Looks a document up (value + proof); `exists: false` proves it was never recorded. */
  get,
} as const
