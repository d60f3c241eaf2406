import { type Certificate, parseCertificate, publicKeyToBytes, sha256 } from '@trellis/crypto'
import { bytesToHex, equalBytes, TrellisError } from '@trellis/utils'
import type { LedgerErrorType } from '../errors.js'
import type { SignedTx } from './tx.js'

// Parsing a certificate costs far more than hashing it, and a consortium has few distinct signers:
// parsed certificates are kept by hash (a pure function of the bytes, so the cache cannot change a
// result).
const MAX_CACHED = 10_000
const parsed = new Map<string, Certificate>()

/**
 * The parsed certificate a tx carries, checked to be for the tx's signer key; undefined in
 * public-key mode.
 * @throws TrellisError TX_INVALID_FIELD (field `certificate`) when it does not parse or is for another key
 */
export function txCertificate(tx: SignedTx): Certificate | undefined {
  const der = tx.body.certificate
  if (der === undefined) return undefined
  const id = bytesToHex(sha256(der))
  let cert = parsed.get(id)
  if (cert === undefined) {
    try {
      cert = parseCertificate(der)
    } catch (err) {
      const reason = err instanceof TrellisError ? err.message : 'unparseable'
      throw new TrellisError<LedgerErrorType>(
        { code: 'TX_INVALID_FIELD', field: 'certificate', reason },
        `the transaction's certificate is not a valid X.509 certificate: ${reason}`,
      )
    }
    if (parsed.size >= MAX_CACHED) parsed.clear()
    parsed.set(id, cert)
  }
  if (cert.publicKey.alg !== tx.body.signer.alg || !equalBytes(publicKeyToBytes(cert.publicKey), publicKeyToBytes(tx.body.signer))) {
    throw new TrellisError<LedgerErrorType>(
      { code: 'TX_INVALID_FIELD', field: 'certificate', reason: 'certifies another key' },
      "the transaction's certificate is not for its signer's key",
    )
  }
  return cert
}
