import { type PrivateKey, type PublicKey, publicKeyFromBytes, publicKeyFromPrivate, publicKeyToBytes, sha256, sign } from '@trellis/crypto'
import { concatBytes, equalBytes, TrellisError } from '@trellis/utils'
import { Reader } from '../codec/reader.js'
import { readValueFrom, type Value, writeValueTo } from '../codec/value.js'
import { Writer } from '../codec/writer.js'
import { DOMAIN, PROTOCOL } from '../constants.js'
import type { LedgerErrorType } from '../errors.js'

/** What a client asks the chain to do. Its hash is the transaction id. */
export interface TxBody {
  readonly chainId: string
  readonly contract: string
  readonly method: string
  readonly args: Value
  /** The signer's public key. */
  readonly signer: PublicKey
  /**
   * The signer's X.509 certificate (DER), issued by a registered organisation's CA for `signer`.
   * Absent in public-key mode (dev networks). Present ⇒ the body is encoded as version 2.
   */
  readonly certificate?: Uint8Array
  /** Client-chosen number that makes otherwise identical requests distinct. */
  readonly nonce: number
  /** Milliseconds since the Unix epoch after which the tx may not be included. */
  readonly expiresAt: number
}

/** A decoded, signed transaction with its canonical bytes kept alongside (never re-encoded). */
export interface SignedTx {
  readonly body: TxBody
  readonly signature: Uint8Array
  /** SHA-256 of `bodyBytes`: the signature is not part of the id. */
  readonly id: Uint8Array
  readonly bodyBytes: Uint8Array
  /** The full wire form: `bodyBytes ‖ bytes(signature)`. */
  readonly bytes: Uint8Array
}

/** Canonical bytes of a transaction body. @throws TrellisError ENCODING_INVALID (args), TX_INVALID_FIELD (certificate size) */
export function encodeTxBody(body: TxBody): Uint8Array {
  const cert = body.certificate
  if (cert !== undefined && (cert.length === 0 || cert.length > PROTOCOL.maxCertificateBytes))
    throw new TrellisError<LedgerErrorType>(
      { code: 'TX_INVALID_FIELD', field: 'certificate', reason: `must be 1-${PROTOCOL.maxCertificateBytes} bytes` },
      `a transaction certificate must be 1-${PROTOCOL.maxCertificateBytes} bytes`,
    )
  const w = new Writer(128 + (cert?.length ?? 0))
  w.u8(cert === undefined ? PROTOCOL.txVersion : PROTOCOL.txCertVersion)
  w.string(body.chainId).string(body.contract).string(body.method)
  writeValueTo(w, body.args)
  w.bytes(publicKeyToBytes(body.signer))
  if (cert !== undefined) w.bytes(cert)
  w.varint(body.nonce).varint(body.expiresAt)
  return w.finish()
}

function readTxBody(r: Reader): TxBody {
  const version = r.u8()
  if (version !== PROTOCOL.txVersion && version !== PROTOCOL.txCertVersion) {
    throw new TrellisError<LedgerErrorType>({ code: 'TX_UNSUPPORTED_VERSION', version }, `unsupported transaction version ${version}`)
  }
  const chainId = r.string(PROTOCOL.maxChainIdLength)
  const contract = r.string(PROTOCOL.maxNameLength)
  const method = r.string(PROTOCOL.maxNameLength)
  const args = readValueFrom(r)
  // A view: publicKeyFromBytes copies the key into its own array.
  const signerBytes = r.bytesView(64)
  let signer: PublicKey
  try {
    signer = publicKeyFromBytes(signerBytes)
  } catch {
    return r.fail('invalid signer public key')
  }
  const certificate = version === PROTOCOL.txCertVersion ? r.bytesView(PROTOCOL.maxCertificateBytes) : undefined
  if (certificate?.length === 0) return r.fail('empty certificate')
  const nonce = r.varint()
  const expiresAt = r.varint()
  return certificate === undefined
    ? { chainId, contract, method, args, signer, nonce, expiresAt }
    : { chainId, contract, method, args, signer, certificate: certificate.slice(), nonce, expiresAt }
}

/** The bytes a signer signs: a domain tag, then the body. */
export function txSignBytes(bodyBytes: Uint8Array): Uint8Array {
  return concatBytes(DOMAIN.tx, bodyBytes)
}

/** The transaction id: SHA-256 of the canonical body. */
export function txId(bodyBytes: Uint8Array): Uint8Array {
  return sha256(bodyBytes)
}

/** Assembles a signed tx from a body and a signature. */
export function createSignedTx(body: TxBody, signature: Uint8Array): SignedTx {
  const bodyBytes = encodeTxBody(body)
  const bytes = new Writer(bodyBytes.length + 70).raw(bodyBytes).bytes(signature).finish()
  return { body, signature, id: txId(bodyBytes), bodyBytes, bytes }
}

/**
 * Signs a body with a private key (whose public key must be the body's signer).
 * @throws TrellisError TX_INVALID_FIELD when the key does not match the signer.
 */
export function signTx(body: TxBody, privateKey: PrivateKey): SignedTx {
  const pub = publicKeyFromPrivate(privateKey)
  if (!equalBytes(publicKeyToBytes(pub), publicKeyToBytes(body.signer))) {
    throw new TrellisError<LedgerErrorType>(
      { code: 'TX_INVALID_FIELD', field: 'signer', reason: 'not the public key of the signing key' },
      'signer does not match the signing key',
    )
  }
  const bodyBytes = encodeTxBody(body)
  return createSignedTx(body, sign(privateKey, txSignBytes(bodyBytes)))
}

/** Encodes a signed tx (its wire bytes). */
export function encodeSignedTx(tx: SignedTx): Uint8Array {
  return tx.bytes
}

/**
 * Decodes a signed tx from its wire bytes, strictly: any byte that is not canonical is rejected.
 * The signature is NOT verified here (see `verifyTxSignature`).
 * @throws TrellisError TX_MALFORMED | TX_UNSUPPORTED_VERSION
 */
export function decodeSignedTx(bytes: Uint8Array): SignedTx {
  // One private copy of the wire bytes; the body bytes and the signature are views into it (a tx
  // lives in the mempool for up to a block or two: fewer objects per tx is less work for the GC).
  // Its own buffer, not the byte pool: a pending tx would pin a shared slab, and the mempool's byte
  // limit would no longer bound its memory (ADR 0015).
  const own = new Uint8Array(bytes)
  const r = new Reader(own)
  try {
    const body = readTxBody(r)
    const bodyEnd = r.pos
    const signature = r.bytesView(64)
    r.end()
    const bodyBytes = own.subarray(0, bodyEnd)
    return { body, signature, id: txId(bodyBytes), bodyBytes, bytes: own }
  } catch (err) {
    if (err instanceof TrellisError && err.code === 'ENCODING_INVALID') {
      throw new TrellisError<LedgerErrorType>({ code: 'TX_MALFORMED', reason: err.message }, `malformed transaction: ${err.message}`, {
        cause: err,
      })
    }
    throw err
  }
}
