import { createECDH, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { generateKeyPair, nativeP256Verification, nodeBackend, sign as trellisSign } from '@trellis/crypto'
import { loadNativeP256Verify, type P256Verify } from '../src/node/native.js'

// As for the native SHA-256: the suite insists on the addon unless TRELLIS_NATIVE=0.
const expectNative = process.env.TRELLIS_NATIVE !== '0'

const SPKI_PREFIX = Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex')
const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')
const P = BigInt('0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff')

/** node:crypto's answer, the reference: a key it cannot import verifies nothing. */
function reference(key: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  let k: KeyObject
  try {
    k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, key]), format: 'der', type: 'spki' })
  } catch {
    return false
  }
  return verify('sha256', message, { key: k, dsaEncoding: 'ieee-p1363' }, signature)
}

interface Signer {
  readonly key: Uint8Array
  readonly sign: (message: Uint8Array) => Uint8Array
}

function signerFrom(priv: KeyObject, pub: KeyObject): Signer {
  const jwk = pub.export({ format: 'jwk' })
  const x = Buffer.from(jwk.x as string, 'base64url')
  const y = Buffer.from(jwk.y as string, 'base64url')
  const key = new Uint8Array(33)
  key[0] = 2 + ((y[31] as number) & 1)
  key.set(x, 1)
  return { key, sign: (m) => new Uint8Array(sign('sha256', m, { key: priv, dsaEncoding: 'ieee-p1363' })) }
}

function newSigner(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return signerFrom(privateKey, publicKey)
}

const be32 = (v: bigint) => Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'))

describe('native P-256 verification (ADR 0023)', () => {
  const native = loadNativeP256Verify() as P256Verify
  const signers = Array.from({ length: 12 }, newSigner)

  it('is built, loaded and used by the node backend', () => {
    expect(native !== undefined).toBe(expectNative)
    expect(nativeP256Verification()).toBe(expectNative)
  })

  it.runIf(expectNative)('agrees with node:crypto on valid, altered and foreign signatures', () => {
    fc.assert(
      fc.property(
        fc.nat(signers.length - 1),
        fc.nat(signers.length - 1),
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(64 * 8 - 1),
        fc.nat(),
        (i, j, message, bit, at) => {
          const s = signers[i] as Signer
          const sig = s.sign(message)
          expect(native(s.key, message, sig)).toBe(true)
          // Another key, one bit of the signature, one byte of the message.
          const other = (signers[j] as Signer).key
          expect(native(other, message, sig)).toBe(reference(other, message, sig))
          const flipped = sig.slice()
          flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7))
          expect(native(s.key, message, flipped)).toBe(reference(s.key, message, flipped))
          expect(native(s.key, message, flipped)).toBe(false)
          const changed = Uint8Array.from([...message, 0])
          if (message.length > 0) changed[at % message.length] = ((changed[at % message.length] as number) + 1) & 255
          expect(native(s.key, changed, sig)).toBe(false)
        },
      ),
      { numRuns: 300 },
    )
  })

  it.runIf(expectNative)('decodes keys exactly as node:crypto imports them', () => {
    const keyValid = (createRequire(import.meta.url)('../build/Release/trellis_p256.node') as { p256KeyValid: (k: Uint8Array) => boolean })
      .p256KeyValid
    const imports = (key: Uint8Array) => {
      try {
        createPublicKey({ key: Buffer.concat([SPKI_PREFIX, key]), format: 'der', type: 'spki' })
        return true
      } catch {
        return false
      }
    }
    fc.assert(
      fc.property(fc.constantFrom(2, 3), fc.uint8Array({ minLength: 32, maxLength: 32 }), (prefix, x) => {
        const key = Uint8Array.from([prefix, ...x])
        expect(keyValid(key)).toBe(imports(key))
      }),
      { numRuns: 500 },
    )
    // Small x (x = 0 is a point of P-256), and the same x plus p, which is not a field element.
    let valid = 0
    for (let x = 0n; x < 12n; x++) {
      for (const prefix of [2, 3]) {
        const key = Uint8Array.from([prefix, ...be32(x)])
        expect(keyValid(key), `x = ${x}`).toBe(imports(key))
        if (keyValid(key)) valid++
        const wrapped = Uint8Array.from([prefix, ...be32(x + P)])
        expect(keyValid(wrapped), `x = ${x} + p`).toBe(false)
        expect(imports(wrapped), `x = ${x} + p`).toBe(false)
      }
    }
    expect(valid).toBeGreaterThan(0)
    // A real key with its parity flipped is the other point of the same x: valid, and not the signer.
    const s = signers[0] as Signer
    const flipped = Uint8Array.from([s.key[0] === 2 ? 3 : 2, ...s.key.subarray(1)])
    const m = Uint8Array.of(7)
    expect(keyValid(flipped)).toBe(true)
    expect(native(flipped, m, s.sign(m))).toBe(false)
    expect(native(s.key, m, s.sign(m))).toBe(true)
  })

  it.runIf(expectNative)('loads and verifies in worker threads, which come and go', async () => {
    const path = fileURLToPath(new URL('../build/Release/trellis_p256.node', import.meta.url))
    const s = signers[4] as Signer
    const m = Uint8Array.of(1, 2, 3, 4)
    const sig = s.sign(m)
    const code = `
      const { parentPort, workerData } = require('node:worker_threads')
      const { p256Verify } = require(workerData.path)
      const { key, m, sig } = workerData
      const bad = Uint8Array.from(sig); bad[0] ^= 1
      parentPort.postMessage([p256Verify(key, m, sig), p256Verify(key, m, bad), p256Verify(key, m, sig)])
    `
    for (let round = 0; round < 4; round++) {
      const worker = new Worker(code, { eval: true, workerData: { path, key: s.key, m, sig } })
      const answer = await new Promise((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      })
      expect(answer).toEqual([true, false, true])
      await worker.terminate()
    }
  })

  it.runIf(expectNative)('accepts high S as node:crypto does, while the backend keeps the low-S rule', () => {
    const s = signers[1] as Signer
    const m = new TextEncoder().encode('high s')
    const sig = s.sign(m)
    const high = sig.slice()
    const sv = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'))
    high.set(be32(N - sv), 32)
    expect(native(s.key, m, high)).toBe(true)
    expect(reference(s.key, m, high)).toBe(true)
    const pub = { alg: 'p256' as const, bytes: s.key }
    const low = sv * 2n <= N ? sig : high
    expect(nodeBackend.verify(pub, m, low)).toBe(true)
    expect(nodeBackend.verify(pub, m, low === sig ? high : sig)).toBe(false)
    // X.509 signatures (DER) are not bound by the low-S rule: both forms verify.
    const der = (rs: Uint8Array) => {
      const int = (b: Uint8Array) => {
        let v = Buffer.from(b)
        while (v.length > 1 && v[0] === 0 && (v[1] as number) < 0x80) v = v.subarray(1)
        if ((v[0] as number) >= 0x80) v = Buffer.concat([Buffer.of(0), v])
        return Buffer.concat([Buffer.of(2, v.length), v])
      }
      const body = Buffer.concat([int(rs.subarray(0, 32)), int(rs.subarray(32))])
      return new Uint8Array(Buffer.concat([Buffer.of(0x30, body.length), body]))
    }
    expect(nodeBackend.verifyDer(pub, m, der(sig))).toBe(true)
    expect(nodeBackend.verifyDer(pub, m, der(high))).toBe(true)
    expect(nodeBackend.verifyDer(pub, Uint8Array.of(...m, 0), der(high))).toBe(false)
  })

  it.runIf(expectNative)('refuses r or s of 0 or at least n', () => {
    const s = signers[2] as Signer
    const m = Uint8Array.of(9)
    const sig = s.sign(m)
    const r = sig.subarray(0, 32)
    const sv = sig.subarray(32)
    for (const bad of [0n, N, N + 1n, (1n << 256n) - 1n]) {
      expect(native(s.key, m, Uint8Array.from([...be32(bad), ...sv]))).toBe(false)
      expect(native(s.key, m, Uint8Array.from([...r, ...be32(bad)]))).toBe(false)
    }
  })

  it.runIf(expectNative)('gives the same answers when more keys share a cache set than it holds', () => {
    // The addon keeps 2,048 sets of 8 keys, chosen by FNV-1a of the key: find 12 keys of one set,
    // so that taking turns among them decodes each again and again.
    const setOf = (key: Uint8Array) => {
      let h = 2166136261
      for (const b of key) h = Math.imul(h ^ b, 16777619) >>> 0
      return h & 2047
    }
    const bySet = new Map<number, ReturnType<typeof createECDH>[]>()
    let group: ReturnType<typeof createECDH>[] = []
    while (group.length < 12) {
      const ecdh = createECDH('prime256v1')
      ecdh.generateKeys()
      const set = setOf(ecdh.getPublicKey(null, 'compressed'))
      const members = [...(bySet.get(set) ?? []), ecdh]
      bySet.set(set, members)
      if (members.length > group.length) group = members
    }
    const crowd = group.map((ecdh) => {
      const pub = ecdh.getPublicKey(null, 'uncompressed')
      const jwk = {
        kty: 'EC',
        crv: 'P-256',
        d: ecdh.getPrivateKey().toString('base64url'),
        x: pub.subarray(1, 33).toString('base64url'),
        y: pub.subarray(33).toString('base64url'),
      }
      return signerFrom(createPrivateKey({ key: jwk, format: 'jwk' }), createPublicKey({ key: jwk, format: 'jwk' }))
    })
    const m = new TextEncoder().encode('crowded set')
    const sigs = crowd.map((c) => c.sign(m))
    for (let round = 0; round < 4; round++) {
      crowd.forEach((c, i) => {
        expect(native(c.key, m, sigs[i] as Uint8Array)).toBe(true)
        expect(native(c.key, m, sigs[(i + 1) % sigs.length] as Uint8Array)).toBe(false)
      })
    }
  })

  it.runIf(expectNative)('refuses bad arguments with a TypeError', () => {
    const call = native as unknown as (...args: unknown[]) => boolean
    const s = signers[3] as Signer
    const m = Uint8Array.of(1)
    const sig = s.sign(m)
    const bad: unknown[][] = [
      [],
      [s.key, m],
      [s.key.subarray(1), m, sig],
      [s.key, m, sig.subarray(1)],
      [Array.from(s.key), m, sig],
      [s.key, 'message', sig],
      [s.key, new Uint16Array(4), sig],
      [s.key, m, sig.buffer],
      [s.key, m, sig, 'extra'],
    ]
    for (const args of bad) expect(() => call(...args), String(args.length)).toThrow(TypeError)
    // Views into larger buffers and Buffers are read where they point.
    const big = new Uint8Array(200)
    big.set(s.key, 7)
    big.set(sig, 100)
    expect(native(big.subarray(7, 40), Buffer.from(m), big.subarray(100, 164))).toBe(true)
  })

  it('verifies through the backend the signatures the backend makes', () => {
    const kp = generateKeyPair('p256')
    const m = new TextEncoder().encode('backend round trip')
    const sig = trellisSign(kp.privateKey, m)
    expect(nodeBackend.verify(kp.publicKey, m, sig)).toBe(true)
    expect(nodeBackend.verify(kp.publicKey, Uint8Array.of(...m, 1), sig)).toBe(false)
    // A message in another kind of view goes to node:crypto, with the same answer.
    expect(nodeBackend.verify(kp.publicKey, new DataView(m.buffer, m.byteOffset, m.byteLength) as unknown as Uint8Array, sig)).toBe(true)
    // A key of the wrong shape verifies nothing rather than throwing, as before.
    expect(nodeBackend.verify({ alg: 'p256', bytes: kp.publicKey.bytes.subarray(1) }, m, sig)).toBe(false)
  })

  describe('TRELLIS_NATIVE=0', () => {
    const saved = process.env.TRELLIS_NATIVE
    afterEach(() => {
      if (saved === undefined) delete process.env.TRELLIS_NATIVE
      else process.env.TRELLIS_NATIVE = saved
      vi.resetModules()
    })

    it('leaves verification to node:crypto, with the same answers', async () => {
      process.env.TRELLIS_NATIVE = '0'
      expect(loadNativeP256Verify()).toBeUndefined()
      vi.resetModules()
      const js = await import('../src/node/backend.js')
      expect(js.nativeP256Verification()).toBe(false)
      const kp = generateKeyPair('p256')
      const m = Uint8Array.of(5, 6)
      const sig = trellisSign(kp.privateKey, m)
      expect(js.nodeBackend.verify(kp.publicKey, m, sig)).toBe(true)
      expect(js.nodeBackend.verify(kp.publicKey, Uint8Array.of(5), sig)).toBe(false)
    })
  })
})
