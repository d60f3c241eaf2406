import { base64ToBytes, bytesToBase64 } from '@trellis/utils'
import { malformed } from './der.js'

const BEGIN = '-----BEGIN CERTIFICATE-----'
const END = '-----END CERTIFICATE-----'
const BLOCK_RE = /-----BEGIN CERTIFICATE-----([^-]*)-----END CERTIFICATE-----/g

/**
 * The DER bytes of the one CERTIFICATE block of a PEM text (RFC 7468; text around the block is
 * ignored). The bytes are not parsed: see `parseCertificate`.
 * @throws TrellisError CERT_MALFORMED when there is not exactly one block or it is not base64
 */
export function certificateFromPem(pem: string): Uint8Array {
  if (typeof pem !== 'string') malformed('PEM must be a string')
  const blocks = [...pem.matchAll(BLOCK_RE)]
  if (blocks.length !== 1) malformed(`expected one CERTIFICATE PEM block, found ${blocks.length}`)
  const body = (blocks[0]?.[1] ?? '').replace(/[ \t\r\n]/g, '')
  let der: Uint8Array
  try {
    // Its own buffer (not the shared byte pool): certificates are kept for long by callers.
    der = base64ToBytes(body).slice()
  } catch (cause) {
    return malformed('the CERTIFICATE PEM block is not base64', cause)
  }
  if (der.length === 0) malformed('empty CERTIFICATE PEM block')
  return der
}

/** PEM text of a certificate: a CERTIFICATE block, base64 in 64-character lines, ending in a newline. */
export function certificateToPem(der: Uint8Array): string {
  const lines = bytesToBase64(der).match(/.{1,64}/g) ?? []
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`
}
