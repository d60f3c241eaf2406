import { generateKeyPairSync, getFips, sign } from 'node:crypto'
import { createRequire } from 'node:module'

/**
 * The native SHA-256 of `native/sha256.c` (ADR 0021): hashes `input[0..length)` into
 * `output[0..32)`. Both arrays should have their own (off-heap) buffers: V8 keeps a typed array of
 * at most 64 bytes made with `new Uint8Array(n)` inside its heap, and handing one to native code
 * moves it out first (~1 µs, most of a call's cost).
 */
export type Sha256Into = (input: Uint8Array, length: number, output: Uint8Array) => void

// SHA-256("abc"), FIPS 180-4's first example: a build that does not give it is not used.
const ABC_DIGEST = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'

/**
 * Function `name` of the addon target `target`, or undefined when TRELLIS_NATIVE=0, in FIPS mode
 * (the addons' low-level OpenSSL calls bypass the FIPS provider), or when the target was not built
 * or cannot load (a Node.js without OpenSSL symbols for addons: they are bound at load, so that is
 * an error here, not a crash at the first call).
 */
function addonFunction<F>(target: string, name: string): F | undefined {
  if (process.env.TRELLIS_NATIVE === '0' || getFips() === 1) return undefined
  let fn: unknown
  try {
    // From src/node (tests) and dist/node (built) alike: the package's build/ directory.
    fn = (createRequire(import.meta.url)(`../../build/Release/${target}.node`) as Record<string, unknown>)[name]
  } catch {
    return undefined
  }
  return typeof fn === 'function' ? (fn as F) : undefined
}

/**
 * The compiled SHA-256, or undefined when it was not built (the install step could not compile it),
 * cannot load (a Node.js without OpenSSL symbols for addons: the addon binds them at load, so that
 * is an error here, not a crash at the first call), fails its known answer, when Node runs in FIPS
 * mode (OpenSSL's low-level SHA256_* calls bypass the FIPS provider), or when TRELLIS_NATIVE=0
 * asks for JavaScript only.
 */
export function loadNativeSha256(): Sha256Into | undefined {
  const sha256Into = addonFunction<Sha256Into>('trellis_crypto', 'sha256Into')
  if (sha256Into === undefined) return undefined
  const out = new Uint8Array(32)
  try {
    sha256Into(new TextEncoder().encode('abc'), 3, out)
  } catch {
    return undefined
  }
  return Buffer.from(out).toString('hex') === ABC_DIGEST ? sha256Into : undefined
}

/**
 * The native ECDSA P-256 verification of `native/p256.c` (ADR 0023): whether `signature` (r ‖ s) is
 * valid for SHA-256(`message`) under the 33-byte compressed `key`. Any r, s in [1, n) is accepted;
 * the low-S rule is the caller's. Throws a TypeError on arguments of the wrong shape.
 */
export type P256Verify = (key: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean

/** Whether `p256Verify` accepts a signature made here with node:crypto, and refuses it with one bit changed. */
function agreesWithNodeCrypto(p256Verify: P256Verify): boolean {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = publicKey.export({ format: 'jwk' })
  const x = Buffer.from(jwk.x ?? '', 'base64url')
  const y = Buffer.from(jwk.y ?? '', 'base64url')
  if (x.length !== 32 || y.length !== 32) return false
  const key = new Uint8Array(33)
  key[0] = 2 + ((y[31] as number) & 1)
  key.set(x, 1)
  const message = new TextEncoder().encode('trellis p256 known answer')
  const signature = new Uint8Array(sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' }))
  if (p256Verify(key, message, signature) !== true) return false
  signature[40] = (signature[40] as number) ^ 1
  return p256Verify(key, message, signature) === false
}

/**
 * The compiled P-256 verification, or undefined under the same conditions as {@link loadNativeSha256}
 * (not built, not loadable, FIPS mode, TRELLIS_NATIVE=0), or when it disagrees with node:crypto on a
 * signature made here.
 */
export function loadNativeP256Verify(): P256Verify | undefined {
  const p256Verify = addonFunction<P256Verify>('trellis_p256', 'p256Verify')
  if (p256Verify === undefined) return undefined
  try {
    return agreesWithNodeCrypto(p256Verify) ? p256Verify : undefined
  } catch {
    return undefined
  }
}
