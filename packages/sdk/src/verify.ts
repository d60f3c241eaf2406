import {
  type GenesisJSON,
  genesisFromJSON,
  type HeaderJSON,
  headerToJSON,
  type JsonValue,
  type LedgerErrorType,
  type ReceiptJSON,
  receiptToJSON,
  type StateValueProofJSON,
  type TrustAnchor,
  type TxJSON,
  type TxProofJSON,
  txToJSON,
  valueToJSON,
  verifyStateValueProof,
  verifyTxProof,
} from '@trellis/ledger'
import { publicKeyFromString } from '@trellis/crypto'
import { bytesToHex, TrellisError } from '@trellis/utils'
import type { StateResponse, TxResponse } from './types.js'

/** What {@link verifyTx} proved. Everything here comes from the verified proof, not from the node's JSON. */
export interface VerifiedTxResult {
  readonly txId: string
  readonly height: number
  /** Position of the tx in its block. */
  readonly index: number
  readonly blockHash: string
  /** `failed` means committed, but the contract refused it (see `receipt.errorCode`). */
  readonly status: 'ok' | 'failed'
  readonly receipt: ReceiptJSON
  readonly tx: TxJSON
  readonly header: HeaderJSON
}

/** What {@link verifyState} proved, from the verified proof. */
export interface VerifiedStateResult {
  readonly contract: string
  readonly key: string
  /** False: the proof shows the key had no value at `height`. */
  readonly exists: boolean
  /** The value in JSON form (bytes as `{ $bytes }`), or null when absent. */
  readonly value: JsonValue | null
  readonly height: number
  readonly blockHash: string
  readonly header: HeaderJSON
}

function invalid(reason: string): never {
  throw new TrellisError<LedgerErrorType>({ code: 'PROOF_INVALID', reason }, `proof does not verify: ${reason}`)
}

// Deep equality of JSON data, ignoring key order (a proxy may re-serialise the node's JSON).
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]))
  }
  const ka = Object.keys(a)
  const rb = b as Record<string, unknown>
  if (ka.length !== Object.keys(rb).length) return false
  return ka.every((k) => Object.hasOwn(rb, k) && jsonEqual((a as Record<string, unknown>)[k], rb[k]))
}

/**
 * The trust anchor of a chain from its genesis document (object or JSON text): its chain id and its
 * validator set, whose >2/3 signatures make a header trusted.
 * @throws TrellisError GENESIS_INVALID
 */
export function trustFromGenesis(genesis: GenesisJSON | string | unknown): TrustAnchor {
  let json: unknown = genesis
  if (typeof genesis === 'string') {
    try {
      json = JSON.parse(genesis)
    } catch (cause) {
      throw new TrellisError<LedgerErrorType>({ code: 'GENESIS_INVALID', reason: 'not JSON' }, 'invalid genesis: not JSON', { cause })
    }
  }
  const g = genesisFromJSON(json)
  return { chainId: g.chainId, validators: g.validators }
}

function isTxResponse(x: TxResponse | TxProofJSON): x is TxResponse {
  return typeof x === 'object' && x !== null && 'proof' in x && typeof x.proof === 'object'
}

function isStateResponse(x: StateResponse | StateValueProofJSON): x is StateResponse {
  return typeof x === 'object' && x !== null && 'exists' in x && 'proof' in x && typeof x.proof === 'object'
}

/**
 * Verifies offline that a tx was committed with its receipt: give it a `getTx` response (or just its
 * `proof`) and a trust anchor. With a full response, its `tx`, `receipt`, `height` and `index` must
 * match what the proof proves. No network.
 * @throws TrellisError PROOF_INVALID | CERT_INVALID (also when `expected.txId` is another tx)
 * @example
 * const trust = trustFromGenesis(genesisJson)
 * const { status, receipt } = verifyTx(await client.getTx(id), trust, { txId: id })
 */
export function verifyTx(
  input: TxResponse | TxProofJSON,
  trust: TrustAnchor,
  expected: { readonly txId?: string | Uint8Array } = {},
): VerifiedTxResult {
  const proof = (isTxResponse(input) ? input.proof : input) as TxProofJSON
  const v = verifyTxProof(proof, trust)
  const txId = bytesToHex(v.tx.id)
  const receipt = receiptToJSON(v.receipt)
  const tx = txToJSON(v.tx)
  if (expected.txId !== undefined) {
    const want = typeof expected.txId === 'string' ? expected.txId.toLowerCase() : bytesToHex(expected.txId)
    if (want !== txId) invalid(`proof is for tx ${txId}, expected ${want}`)
  }
  if (isTxResponse(input)) {
    if (input.height !== v.header.height || input.index !== proof.index) invalid('the response height or index differs from the proof')
    if (!jsonEqual(input.tx, tx)) invalid('the response tx differs from the proven one')
    if (!jsonEqual(input.receipt, receipt)) invalid('the response receipt differs from the proven one')
  }
  return {
    txId,
    height: v.header.height,
    index: proof.index,
    blockHash: bytesToHex(v.blockHash),
    status: receipt.status,
    receipt,
    tx,
    header: headerToJSON(v.header),
  }
}

/**
 * Verifies offline a state value, or its absence, at a height: give it a `getState` response (or just
 * its `proof`) and a trust anchor. With a full response, its `exists`, `value`, `height`, `contract`
 * and `key` must match the proof. No network.
 * @throws TrellisError PROOF_INVALID | CERT_INVALID (also when `expected` names another contract or key)
 */
export function verifyState(
  input: StateResponse | StateValueProofJSON,
  trust: TrustAnchor,
  expected: { readonly contract?: string; readonly key?: string } = {},
): VerifiedStateResult {
  const proof = (isStateResponse(input) ? input.proof : input) as StateValueProofJSON
  const v = verifyStateValueProof(proof, trust)
  if (expected.contract !== undefined && expected.contract !== v.contract)
    invalid(`proof is for contract "${v.contract}", expected "${expected.contract}"`)
  if (expected.key !== undefined && expected.key !== v.key) invalid(`proof is for key "${v.key}", expected "${expected.key}"`)
  const exists = v.value !== undefined
  const value = v.value === undefined ? null : valueToJSON(v.value)
  if (isStateResponse(input)) {
    if (input.contract !== v.contract || input.key !== v.key || input.height !== v.header.height) {
      invalid('the response contract, key or height differs from the proof')
    }
    if (input.exists !== exists || !jsonEqual(input.value, value)) invalid('the response value differs from the proven one')
  }
  return {
    contract: v.contract,
    key: v.key,
    exists,
    value,
    height: v.header.height,
    blockHash: bytesToHex(v.blockHash),
    header: headerToJSON(v.header),
  }
}

/**
 * Advances a trust anchor across a validator-set change decided by governance: `valsetProof` is the
 * state proof of the governance record `valset:<height>` (e.g. `GET /v1/state/governance/valset:…`),
 * verified with the current `trust` — so the new set is vouched for by the old one. The result
 * trusts headers signed by the new set (from its first height on). Chain several for several changes.
 * @throws TrellisError PROOF_INVALID | CERT_INVALID
 */
export function trustAfterValidatorChange(trust: TrustAnchor, valsetProof: StateResponse | StateValueProofJSON): TrustAnchor {
  const v = verifyState(valsetProof, trust, { contract: 'governance' })
  if (!/^valset:[0-9]{15}$/.test(v.key)) invalid(`proof is for "${v.key}", not a validator-set record (valset:<height>)`)
  const rec = v.value as { height?: unknown; validators?: unknown } | null
  if (rec === null || !Array.isArray(rec.validators) || rec.height !== Number(v.key.slice(7)))
    invalid('the proven value is not a validator-set record')
  // Proven at the block just before it takes effect — the last one the old set certifies. A record
  // proven later could be an old, retired set (records are never deleted).
  if (v.height !== rec.height - 1)
    invalid(`a validator-set record for height ${rec.height} must be proven at height ${rec.height - 1}, not ${v.height}`)
  const validators = (rec.validators as Array<{ name?: unknown; publicKey?: unknown; power?: unknown }>).map((x) => {
    if (typeof x.name !== 'string' || typeof x.publicKey !== 'string' || typeof x.power !== 'number')
      invalid('the proven validator set is malformed')
    let publicKey
    try {
      publicKey = publicKeyFromString(x.publicKey as string)
    } catch {
      return invalid('the proven validator set has an invalid key')
    }
    return { name: x.name as string, publicKey, power: x.power as number }
  })
  return { chainId: trust.chainId, validators: { validators } }
}
