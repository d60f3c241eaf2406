import { txToJSON } from '@trellis/ledger'
import {
  buildTx,
  decodeSignedTx,
  generateKeyPair,
  isTxSignatureValid,
  publicKeyToString,
  randomNonce,
  SignatureAlgorithm,
  TrellisError,
} from '@trellis/sdk'
import { bytesToHex } from '@trellis/utils'
import { describe, expect, it } from 'vitest'

function codeOf(f: () => unknown): string | undefined {
  try {
    f()
  } catch (err) {
    return err instanceof TrellisError ? err.code : 'not a TrellisError'
  }
  return undefined
}

describe('buildTx', () => {
  for (const alg of [SignatureAlgorithm.P256, SignatureAlgorithm.Ed25519]) {
    it(`signs a tx whose signature verifies and whose id is stable (${alg})`, () => {
      const { privateKey, publicKey } = generateKeyPair(alg)
      const opts = {
        chainId: 'trellis-dev',
        contract: 'notary',
        method: 'record',
        args: { hash: 'ab'.repeat(32), meta: { title: 'contract.pdf', pages: 3, signed: true }, raw: Uint8Array.of(1, 2) },
        signer: privateKey,
        nonce: 42,
        now: 1_700_000_000_000,
      }
      const tx = buildTx(opts)
      expect(isTxSignatureValid(tx)).toBe(true)
      expect(tx.body.expiresAt).toBe(opts.now + 5 * 60_000)
      expect(tx.body.nonce).toBe(42)
      expect(publicKeyToString(tx.body.signer)).toBe(publicKeyToString(publicKey))
      // The id hashes the body only, so it does not change with the (possibly randomised) signature.
      const again = buildTx(opts)
      expect(bytesToHex(again.id)).toBe(bytesToHex(tx.id))
      // The wire bytes decode back to the same tx.
      const decoded = decodeSignedTx(tx.bytes)
      expect(bytesToHex(decoded.id)).toBe(bytesToHex(tx.id))
      expect(txToJSON(decoded)).toEqual(txToJSON(tx))
      expect(isTxSignatureValid(decoded)).toBe(true)
      // Changing any field changes the id.
      expect(bytesToHex(buildTx({ ...opts, nonce: 43 }).id)).not.toBe(bytesToHex(tx.id))
      expect(bytesToHex(buildTx({ ...opts, ttlMs: 1000 }).id)).not.toBe(bytesToHex(tx.id))
    })
  }

  it('picks a random 48-bit nonce by default and honours ttlMs', () => {
    const { privateKey } = generateKeyPair()
    const a = buildTx({ chainId: 'c', contract: 'notary', method: 'record', args: null, signer: privateKey, ttlMs: 1000, now: 5000 })
    const b = buildTx({ chainId: 'c', contract: 'notary', method: 'record', args: null, signer: privateKey, ttlMs: 1000, now: 5000 })
    expect(a.body.expiresAt).toBe(6000)
    expect(a.body.nonce).not.toBe(b.body.nonce)
    expect(bytesToHex(a.id)).not.toBe(bytesToHex(b.id))
    for (let i = 0; i < 200; i++) {
      const n = randomNonce()
      expect(Number.isSafeInteger(n) && n >= 0 && n < 2 ** 48).toBe(true)
    }
  })

  it('defaults now to the clock', () => {
    const { privateKey } = generateKeyPair()
    const before = Date.now()
    const tx = buildTx({ chainId: 'c', contract: 'notary', method: 'record', args: {}, signer: privateKey })
    expect(tx.body.expiresAt).toBeGreaterThanOrEqual(before + 5 * 60_000)
    expect(tx.body.expiresAt).toBeLessThanOrEqual(Date.now() + 5 * 60_000)
  })

  it('rejects bad fields before signing', () => {
    const { privateKey } = generateKeyPair()
    const base = { chainId: 'c', contract: 'notary', method: 'record', args: {}, signer: privateKey, now: 1 }
    expect(codeOf(() => buildTx({ ...base, chainId: '' }))).toBe('SDK_INVALID_ARGUMENT')
    expect(codeOf(() => buildTx({ ...base, contract: 'Notary' }))).toBe('SDK_INVALID_ARGUMENT')
    expect(codeOf(() => buildTx({ ...base, method: 'do-it' }))).toBe('SDK_INVALID_ARGUMENT')
    expect(codeOf(() => buildTx({ ...base, nonce: -1 }))).toBe('SDK_INVALID_ARGUMENT')
    expect(codeOf(() => buildTx({ ...base, nonce: 1.5 }))).toBe('SDK_INVALID_ARGUMENT')
    expect(codeOf(() => buildTx({ ...base, ttlMs: 0 }))).toBe('SDK_INVALID_ARGUMENT')
    expect(codeOf(() => buildTx({ ...base, now: Number.NaN }))).toBe('SDK_INVALID_ARGUMENT')
    expect(codeOf(() => buildTx({ ...base, args: { x: 1.5 } }))).toBe('ENCODING_INVALID')
  })
})
