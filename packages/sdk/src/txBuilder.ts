import { type PrivateKey, publicKeyFromPrivate } from '@trellis/crypto'
import { isValidChainId, METHOD_RE, NAME_RE, PROTOCOL, type SignedTx, signTx, type Value } from '@trellis/ledger'
import { TrellisError } from '@trellis/utils'
import type { SdkErrorType } from './errors.js'

/** What {@link buildTx} needs. */
export interface BuildTxOptions {
  readonly chainId: string
  /** Contract name: `[a-z][a-z0-9_-]*`, at most 64 characters. */
  readonly contract: string
  /** Method name: an identifier, at most 64 characters. */
  readonly method: string
  /** The arguments, as a ledger value (byte strings allowed; no floats). */
  readonly args: Value
  /** The signing key; its public key becomes the tx's signer. */
  readonly signer: PrivateKey
  /**
   * The signer's X.509 certificate (DER; `certificateFromPem` converts PEM), issued by a member
   * organisation's CA for the signing key. Without it the tx is in public-key mode.
   */
  readonly certificate?: Uint8Array
  /** Makes otherwise identical txs distinct; default: a random 48-bit integer. */
  readonly nonce?: number
  /** How long the tx stays valid; default 5 minutes (the chain refuses more than its `maxTxTtlMs`). */
  readonly ttlMs?: number
  /** The current time in ms since the epoch; default `Date.now()`. */
  readonly now?: number
}

export const defaultBuildTxOptions = {
  ttlMs: 5 * 60_000,
} as const

function invalid(argument: string, reason: string): never {
  throw new TrellisError<SdkErrorType>({ code: 'SDK_INVALID_ARGUMENT', argument, reason }, `invalid ${argument}: ${reason}`)
}

/** A random nonce: a 48-bit integer from the platform's CSPRNG (`crypto.getRandomValues`). */
export function randomNonce(): number {
  const b = new Uint8Array(6)
  globalThis.crypto.getRandomValues(b)
  let n = 0
  for (const x of b) n = n * 256 + x
  return n
}

/**
 * Builds and signs a transaction. The result's `bytes` are what `client.submit` sends and its `id`
 * (SHA-256 of the body) is what `getTx`/`waitForCommit` look up.
 * @throws TrellisError SDK_INVALID_ARGUMENT for bad names, nonce or times; ENCODING_INVALID for args
 * that are not ledger values (floats, unsafe integers, functions…).
 * @example
 * const { privateKey } = generateKeyPair()
 * const tx = buildTx({ chainId: 'dev', contract: 'notary', method: 'record', args: { hash }, signer: privateKey })
 * await client.submit(tx, { wait: true })
 */
export function buildTx(options: BuildTxOptions): SignedTx {
  const { chainId, contract, method, args, signer } = options
  if (typeof chainId !== 'string' || !isValidChainId(chainId))
    invalid('chainId', 'must be 1-64 characters of [a-zA-Z0-9._-], starting with a letter or digit')
  if (typeof contract !== 'string' || !NAME_RE.test(contract) || contract.length > PROTOCOL.maxNameLength) {
    invalid('contract', 'must match [a-z][a-z0-9_-]* (at most 64 characters)')
  }
  if (typeof method !== 'string' || !METHOD_RE.test(method) || method.length > PROTOCOL.maxNameLength) {
    invalid('method', 'must be an identifier (at most 64 characters)')
  }
  const nonce = options.nonce ?? randomNonce()
  if (!Number.isSafeInteger(nonce) || nonce < 0) invalid('nonce', 'must be a non-negative safe integer')
  const ttlMs = options.ttlMs ?? defaultBuildTxOptions.ttlMs
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) invalid('ttlMs', 'must be a positive integer')
  const now = options.now ?? Date.now()
  if (!Number.isSafeInteger(now) || now < 0) invalid('now', 'must be a non-negative integer (ms since the epoch)')
  const expiresAt = now + ttlMs
  if (!Number.isSafeInteger(expiresAt)) invalid('ttlMs', 'now + ttlMs is not a safe integer')
  const certificate = options.certificate
  if (
    certificate !== undefined &&
    (!(certificate instanceof Uint8Array) || certificate.length === 0 || certificate.length > PROTOCOL.maxCertificateBytes)
  )
    invalid('certificate', `must be the DER bytes of a certificate (at most ${PROTOCOL.maxCertificateBytes} bytes)`)
  const body = { chainId, contract, method, args, signer: publicKeyFromPrivate(signer), nonce, expiresAt }
  return signTx(certificate === undefined ? body : { ...body, certificate }, signer)
}
