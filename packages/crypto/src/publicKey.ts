import { bytesToHex, concatBytes, hexToBytes, TrellisError } from '@trellis/utils'
import { assertPublicKeyShape } from './curve.js'
import type { CryptoErrorType } from './errors.js'
import type { PublicKey } from './types.js'
import { SignatureAlgorithm } from './types.js'

/** One-byte algorithm tags used in every encoding that carries a key. Never renumbered. */
export const ALGORITHM_TAG = { p256: 1, ed25519: 2 } as const satisfies Record<SignatureAlgorithm, number>
const TAG_TO_ALG: Record<number, SignatureAlgorithm> = { 1: SignatureAlgorithm.P256, 2: SignatureAlgorithm.Ed25519 }

/** Algorithm-tagged bytes of a public key: `tag ‖ key`. */
export function publicKeyToBytes(pub: PublicKey): Uint8Array {
  assertPublicKeyShape(pub)
  return concatBytes(Uint8Array.of(ALGORITHM_TAG[pub.alg]), pub.bytes)
}

/**
 * Parses algorithm-tagged public key bytes.
 * @throws TrellisError CRYPTO_UNKNOWN_ALGORITHM | CRYPTO_INVALID_PUBLIC_KEY
 */
export function publicKeyFromBytes(bytes: Uint8Array): PublicKey {
  const alg = TAG_TO_ALG[bytes[0] ?? -1]
  if (alg === undefined) {
    throw new TrellisError<CryptoErrorType>(
      { code: 'CRYPTO_UNKNOWN_ALGORITHM', alg: `tag ${bytes[0]}` },
      'unknown public key algorithm tag',
    )
  }
  // A copy into a plain Uint8Array: `Buffer#slice` (Node) returns a view, which would leave the key
  // aliasing the caller's (possibly reused) buffer.
  const pub: PublicKey = { alg, bytes: new Uint8Array(bytes.subarray(1)) }
  assertPublicKeyShape(pub)
  return pub
}

/** Text form of a public key, `p256:02ab…` / `ed25519:…`; used in JSON, configs and logs. */
export function publicKeyToString(pub: PublicKey): string {
  return `${pub.alg}:${bytesToHex(pub.bytes)}`
}

/**
 * Parses the text form produced by {@link publicKeyToString}.
 * @throws TrellisError CRYPTO_UNKNOWN_ALGORITHM | CRYPTO_INVALID_PUBLIC_KEY
 */
export function publicKeyFromString(s: string): PublicKey {
  const i = s.indexOf(':')
  const alg = s.slice(0, i)
  if (i < 0 || (alg !== SignatureAlgorithm.P256 && alg !== SignatureAlgorithm.Ed25519)) {
    throw new TrellisError<CryptoErrorType>(
      { code: 'CRYPTO_UNKNOWN_ALGORITHM', alg },
      `unknown public key algorithm in "${s.slice(0, 16)}"`,
    )
  }
  let bytes: Uint8Array
  try {
    bytes = hexToBytes(s.slice(i + 1))
  } catch (cause) {
    throw new TrellisError<CryptoErrorType>({ code: 'CRYPTO_INVALID_PUBLIC_KEY', alg, reason: 'not hex' }, 'public key is not hex', {
      cause,
    })
  }
  const pub: PublicKey = { alg, bytes }
  assertPublicKeyShape(pub)
  return pub
}
