import { createCipheriv, randomBytes, scryptSync } from 'node:crypto'
import {
  decryptPrivateKey,
  encryptPrivateKey,
  generateKeyPair,
  type KeyFile,
  P256_N,
  type PrivateKey,
  publicKeyFromPrivate,
  publicKeyToString,
  type SignatureAlgorithm,
  sign,
  verify,
} from '@trellis/crypto'
import { bytesToBase64, bytesToHex, hexToBytes, TrellisError, utf8ToBytes } from '@trellis/utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ALGORITHMS, bigIntToBE32, expectCode } from './conformance.js'

const FAST = { scryptN: 1024 } as const
const PASSWORD = 'correct horse battery staple'

type Json = Record<string, unknown>

function clone(f: KeyFile): Json {
  return JSON.parse(JSON.stringify(f)) as Json
}

/** Flips one bit of the byte at `index` of a hex string, keeping it lower-case hex of the same length. */
function flipHexByte(hex: string, index = 0, mask = 1): string {
  const b = hexToBytes(hex)
  b[index % b.length] = (b[index % b.length] as number) ^ mask
  return bytesToHex(b)
}

/** decrypt must either give back exactly `priv` or throw one of the two keystore codes: never anything else. */
function decryptOutcome(file: unknown, password: string, priv: PrivateKey): 'ok' | 'KEYSTORE_BAD_PASSWORD' | 'KEYSTORE_INVALID_FILE' {
  let out: PrivateKey
  try {
    out = decryptPrivateKey(file, password)
  } catch (e) {
    expect(e).toBeInstanceOf(TrellisError)
    const code = (e as TrellisError).code
    expect(['KEYSTORE_BAD_PASSWORD', 'KEYSTORE_INVALID_FILE']).toContain(code)
    return code as 'KEYSTORE_BAD_PASSWORD' | 'KEYSTORE_INVALID_FILE'
  }
  expect(out.alg).toBe(priv.alg)
  expect(bytesToHex(out.bytes)).toBe(bytesToHex(priv.bytes))
  return 'ok'
}

describe.each(ALGORITHMS)('keystore, %s', (alg: SignatureAlgorithm) => {
  const { privateKey, publicKey } = generateKeyPair(alg)
  const file = encryptPrivateKey(privateKey, PASSWORD, FAST)

  it('round trips, also through JSON text, and the key still signs', () => {
    for (const f of [file, JSON.parse(JSON.stringify(file)) as unknown]) {
      const back = decryptPrivateKey(f, PASSWORD)
      expect(back.alg).toBe(alg)
      expect(bytesToHex(back.bytes)).toBe(bytesToHex(privateKey.bytes))
      expect(verify(publicKey, utf8ToBytes('m'), sign(back, utf8ToBytes('m')))).toBe(true)
    }
  })

  it('writes a well-formed version 1 file that names the public key', () => {
    expect(file.version).toBe(1)
    expect(file.alg).toBe(alg)
    expect(file.publicKey).toBe(publicKeyToString(publicKey))
    expect(file.kdf).toMatchObject({ name: 'scrypt', N: 1024, r: 8, p: 1 })
    expect(file.kdf.salt).toMatch(/^[0-9a-f]{64}$/)
    expect(file.cipher.name).toBe('aes-256-gcm')
    expect(file.cipher.iv).toMatch(/^[0-9a-f]{24}$/)
    expect(file.cipher.tag).toMatch(/^[0-9a-f]{32}$/)
    expect(file.ciphertext).toMatch(/^[0-9a-f]{64}$/)
    expect(Object.keys(file).sort()).toEqual(['alg', 'cipher', 'ciphertext', 'kdf', 'publicKey', 'version'])
  })

  it('never contains the private key in clear (hex either case, base64)', () => {
    const text = JSON.stringify(file)
    const hex = bytesToHex(privateKey.bytes)
    expect(text).not.toContain(hex)
    expect(text.toLowerCase()).not.toContain(hex)
    expect(text).not.toContain(bytesToBase64(privateKey.bytes))
    expect(file.ciphertext).not.toBe(hex)
  })

  it('uses a fresh salt and IV each time, so two files of one key differ', () => {
    const again = encryptPrivateKey(privateKey, PASSWORD, FAST)
    expect(again.kdf.salt).not.toBe(file.kdf.salt)
    expect(again.cipher.iv).not.toBe(file.cipher.iv)
    expect(again.ciphertext).not.toBe(file.ciphertext)
    expect(bytesToHex(decryptPrivateKey(again, PASSWORD).bytes)).toBe(bytesToHex(privateKey.bytes))
  })

  it.each([
    ['a wrong password', 'wrong'],
    ['the empty password', ''],
    ['the password with a trailing space', `${PASSWORD} `],
    ['the password in upper case', PASSWORD.toUpperCase()],
  ])('rejects %s with KEYSTORE_BAD_PASSWORD', (_name, password) => {
    expectCode(() => decryptPrivateKey(file, password), 'KEYSTORE_BAD_PASSWORD')
  })

  describe('tampering', () => {
    const other = generateKeyPair(alg)
    const otherAlg = alg === 'p256' ? 'ed25519' : 'p256'
    const cases: [string, (f: Json & { kdf: Json; cipher: Json }) => void, 'KEYSTORE_BAD_PASSWORD' | 'KEYSTORE_INVALID_FILE'][] = [
      ['ciphertext: first byte flipped', (f) => (f.ciphertext = flipHexByte(f.ciphertext as string, 0)), 'KEYSTORE_BAD_PASSWORD'],
      ['ciphertext: last byte flipped', (f) => (f.ciphertext = flipHexByte(f.ciphertext as string, 31, 0x80)), 'KEYSTORE_BAD_PASSWORD'],
      ['ciphertext: replaced by the private key itself', (f) => (f.ciphertext = bytesToHex(privateKey.bytes)), 'KEYSTORE_BAD_PASSWORD'],
      [
        'ciphertext: from another key file',
        (f) => (f.ciphertext = encryptPrivateKey(other.privateKey, PASSWORD, FAST).ciphertext),
        'KEYSTORE_BAD_PASSWORD',
      ],
      ['ciphertext: truncated', (f) => (f.ciphertext = (f.ciphertext as string).slice(0, -2)), 'KEYSTORE_INVALID_FILE'],
      ['ciphertext: extended', (f) => (f.ciphertext = `${f.ciphertext as string}00`), 'KEYSTORE_INVALID_FILE'],
      ['ciphertext: not hex', (f) => (f.ciphertext = 'zz'.repeat(32)), 'KEYSTORE_INVALID_FILE'],
      ['ciphertext: missing', (f) => delete f.ciphertext, 'KEYSTORE_INVALID_FILE'],
      ['ciphertext: a number', (f) => (f.ciphertext = 42), 'KEYSTORE_INVALID_FILE'],
      ['tag: flipped', (f) => (f.cipher.tag = flipHexByte(f.cipher.tag as string, 5)), 'KEYSTORE_BAD_PASSWORD'],
      ['tag: all zero', (f) => (f.cipher.tag = '00'.repeat(16)), 'KEYSTORE_BAD_PASSWORD'],
      ['tag: truncated to 12 bytes', (f) => (f.cipher.tag = (f.cipher.tag as string).slice(0, 24)), 'KEYSTORE_INVALID_FILE'],
      ['tag: truncated to 4 bytes', (f) => (f.cipher.tag = (f.cipher.tag as string).slice(0, 8)), 'KEYSTORE_INVALID_FILE'],
      ['tag: empty', (f) => (f.cipher.tag = ''), 'KEYSTORE_INVALID_FILE'],
      ['iv: flipped', (f) => (f.cipher.iv = flipHexByte(f.cipher.iv as string, 11)), 'KEYSTORE_BAD_PASSWORD'],
      ['iv: 16 bytes', (f) => (f.cipher.iv = `${f.cipher.iv as string}00000000`), 'KEYSTORE_INVALID_FILE'],
      ['iv: missing', (f) => delete f.cipher.iv, 'KEYSTORE_INVALID_FILE'],
      ['cipher: another name', (f) => (f.cipher.name = 'aes-128-gcm'), 'KEYSTORE_INVALID_FILE'],
      ['cipher: missing', (f) => Reflect.deleteProperty(f, 'cipher'), 'KEYSTORE_INVALID_FILE'],
      ['cipher: null', (f) => (f.cipher = null as unknown as Json), 'KEYSTORE_INVALID_FILE'],
      ['publicKey: another key', (f) => (f.publicKey = publicKeyToString(other.publicKey)), 'KEYSTORE_BAD_PASSWORD'],
      [
        'publicKey: upper-cased hex',
        (f) => (f.publicKey = `${alg}:${(f.publicKey as string).split(':')[1]?.toUpperCase()}`),
        'KEYSTORE_BAD_PASSWORD',
      ],
      ['publicKey: garbage', (f) => (f.publicKey = 'hello'), 'KEYSTORE_BAD_PASSWORD'],
      ['publicKey: missing', (f) => delete f.publicKey, 'KEYSTORE_INVALID_FILE'],
      ['alg: the other algorithm', (f) => (f.alg = otherAlg), 'KEYSTORE_BAD_PASSWORD'],
      ['alg: unknown', (f) => (f.alg = 'rsa'), 'KEYSTORE_INVALID_FILE'],
      ['alg: missing', (f) => delete f.alg, 'KEYSTORE_INVALID_FILE'],
      ['kdf: salt flipped', (f) => (f.kdf.salt = flipHexByte(f.kdf.salt as string, 7)), 'KEYSTORE_BAD_PASSWORD'],
      ['kdf: salt 16 bytes', (f) => (f.kdf.salt = (f.kdf.salt as string).slice(0, 32)), 'KEYSTORE_INVALID_FILE'],
      ['kdf: salt not hex', (f) => (f.kdf.salt = 'g'.repeat(64)), 'KEYSTORE_INVALID_FILE'],
      ['kdf: N doubled', (f) => (f.kdf.N = 2048), 'KEYSTORE_BAD_PASSWORD'],
      ['kdf: N halved', (f) => (f.kdf.N = 512), 'KEYSTORE_BAD_PASSWORD'],
      ['kdf: N = 2 (the smallest allowed)', (f) => (f.kdf.N = 2), 'KEYSTORE_BAD_PASSWORD'],
      ['kdf: N = 1', (f) => (f.kdf.N = 1), 'KEYSTORE_INVALID_FILE'],
      ['kdf: N = 0', (f) => (f.kdf.N = 0), 'KEYSTORE_INVALID_FILE'],
      ['kdf: N negative', (f) => (f.kdf.N = -1024), 'KEYSTORE_INVALID_FILE'],
      ['kdf: N not a power of two', (f) => (f.kdf.N = 1000), 'KEYSTORE_INVALID_FILE'],
      ['kdf: N fractional', (f) => (f.kdf.N = 1024.5), 'KEYSTORE_INVALID_FILE'],
      ['kdf: N as a string', (f) => (f.kdf.N = '1024'), 'KEYSTORE_INVALID_FILE'],
      ['kdf: N = 2^23 (above the cap)', (f) => (f.kdf.N = 2 ** 23), 'KEYSTORE_INVALID_FILE'],
      ['kdf: N = 2^40', (f) => (f.kdf.N = 2 ** 40), 'KEYSTORE_INVALID_FILE'],
      ['kdf: r = 16', (f) => (f.kdf.r = 16), 'KEYSTORE_INVALID_FILE'],
      ['kdf: r = 1', (f) => (f.kdf.r = 1), 'KEYSTORE_INVALID_FILE'],
      ['kdf: p = 2', (f) => (f.kdf.p = 2), 'KEYSTORE_INVALID_FILE'],
      ['kdf: p missing', (f) => delete f.kdf.p, 'KEYSTORE_INVALID_FILE'],
      ['kdf: another name', (f) => (f.kdf.name = 'pbkdf2'), 'KEYSTORE_INVALID_FILE'],
      ['kdf: missing', (f) => Reflect.deleteProperty(f, 'kdf'), 'KEYSTORE_INVALID_FILE'],
      ['kdf: a string', (f) => (f.kdf = 'scrypt' as unknown as Json), 'KEYSTORE_INVALID_FILE'],
      ['version: 2', (f) => (f.version = 2), 'KEYSTORE_INVALID_FILE'],
      ['version: "1"', (f) => (f.version = '1'), 'KEYSTORE_INVALID_FILE'],
      ['version: 0', (f) => (f.version = 0), 'KEYSTORE_INVALID_FILE'],
      ['version: missing', (f) => delete f.version, 'KEYSTORE_INVALID_FILE'],
    ]

    it.each(cases)('%s → %s', (_name, mutate, code) => {
      const f = clone(file) as Json & { kdf: Json; cipher: Json }
      mutate(f)
      expect(decryptOutcome(f, PASSWORD, privateKey)).toBe(code)
      // The original is untouched and still decrypts.
      expect(decryptOutcome(file, PASSWORD, privateKey)).toBe('ok')
    })

    it('a one-bit change anywhere in ciphertext, tag, IV or salt is detected (property)', () => {
      fc.assert(
        fc.property(fc.constantFrom('ciphertext', 'tag', 'iv', 'salt'), fc.nat(), fc.integer({ min: 0, max: 7 }), (field, index, bit) => {
          const f = clone(file) as Json & { kdf: Json; cipher: Json }
          if (field === 'ciphertext') f.ciphertext = flipHexByte(f.ciphertext as string, index, 1 << bit)
          else if (field === 'salt') f.kdf.salt = flipHexByte(f.kdf.salt as string, index, 1 << bit)
          else f.cipher[field] = flipHexByte(f.cipher[field] as string, index, 1 << bit)
          expect(decryptOutcome(f, PASSWORD, privateKey)).toBe('KEYSTORE_BAD_PASSWORD')
        }),
        { numRuns: 40 },
      )
    })

    it('any value put anywhere in the file gives back the key or a keystore error, never a crash or a wrong key (property)', () => {
      const paths = [
        ['version'],
        ['alg'],
        ['publicKey'],
        ['ciphertext'],
        ['kdf'],
        ['kdf', 'name'],
        ['kdf', 'N'],
        ['kdf', 'r'],
        ['kdf', 'p'],
        ['kdf', 'salt'],
        ['cipher'],
        ['cipher', 'name'],
        ['cipher', 'iv'],
        ['cipher', 'tag'],
        ['extra'],
      ] as const
      // Values that scrypt can run quickly on (no memory-hungry N slips in by chance).
      const value = fc.oneof(
        fc.constantFrom<unknown>(
          null,
          undefined,
          true,
          0,
          1,
          2,
          -1,
          1.5,
          512,
          1024,
          2048,
          2 ** 23,
          Number.NaN,
          Number.POSITIVE_INFINITY,
          '',
          'p256',
          'ed25519',
          'scrypt',
          'aes-256-gcm',
          [],
          {},
        ),
        fc.string({ maxLength: 70 }),
        fc.uint8Array({ maxLength: 40 }).map(bytesToHex),
        fc.constantFrom(file.ciphertext, file.kdf.salt, file.cipher.iv, file.cipher.tag, file.publicKey),
      )
      const outcomes = new Set<string>()
      fc.assert(
        fc.property(fc.constantFrom(...paths), value, (path, v) => {
          const f = clone(file)
          let target: Json = f
          for (const p of path.slice(0, -1)) target = target[p] as Json
          target[path[path.length - 1] as string] = v
          outcomes.add(decryptOutcome(f, PASSWORD, privateKey))
        }),
        { numRuns: 300 },
      )
      expect(outcomes).toEqual(new Set(['ok', 'KEYSTORE_BAD_PASSWORD', 'KEYSTORE_INVALID_FILE']))
    })
  })
})

describe('keystore, other behaviour', () => {
  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a number', 1],
    ['a string', '{"version":1}'],
    ['a boolean', true],
    ['an array', []],
    ['an empty object', {}],
  ])('rejects %s with KEYSTORE_INVALID_FILE', (_name, file) => {
    const e = expectCode(() => decryptPrivateKey(file, PASSWORD), 'KEYSTORE_INVALID_FILE')
    expect(e.details).toEqual({ reason: 'unsupported version' })
  })

  it('normalises the password (NFKC), so composed and decomposed forms open the same file', () => {
    const { privateKey } = generateKeyPair('ed25519')
    const f = encryptPrivateKey(privateKey, 'pa\u00c5ss', FAST)
    expect(bytesToHex(decryptPrivateKey(f, 'paA\u030ass').bytes)).toBe(bytesToHex(privateKey.bytes))
    expect(bytesToHex(decryptPrivateKey(f, 'pa\u00c5ss').bytes)).toBe(bytesToHex(privateKey.bytes))
    expectCode(() => decryptPrivateKey(f, 'paAss'), 'KEYSTORE_BAD_PASSWORD')
  })

  it('handles long and non-ASCII passwords', () => {
    const { privateKey } = generateKeyPair('p256')
    for (const pw of ['x'.repeat(10_000), '密码🔑', '\u0000']) {
      const f = encryptPrivateKey(privateKey, pw, FAST)
      expect(bytesToHex(decryptPrivateKey(f, pw).bytes)).toBe(bytesToHex(privateKey.bytes))
    }
  })

  it('refuses to encrypt an invalid private key', () => {
    expectCode(() => encryptPrivateKey({ alg: 'p256', bytes: new Uint8Array(32) }, PASSWORD, FAST), 'CRYPTO_INVALID_PRIVATE_KEY')
    expectCode(() => encryptPrivateKey({ alg: 'ed25519', bytes: new Uint8Array(31) }, PASSWORD, FAST), 'CRYPTO_INVALID_PRIVATE_KEY')
    expectCode(
      () => encryptPrivateKey({ alg: 'rsa' as SignatureAlgorithm, bytes: new Uint8Array(32) }, PASSWORD, FAST),
      'CRYPTO_UNKNOWN_ALGORITHM',
    )
  })

  /** A correctly sealed file (right password, valid tag) around arbitrary key bytes, as an attacker who knows the password could write. */
  function sealed(alg: string, publicKey: string, keyBytes: Uint8Array): KeyFile {
    const salt = randomBytes(32)
    const iv = randomBytes(12)
    const key = scryptSync(PASSWORD.normalize('NFKC'), salt, 32, { N: 1024, r: 8, p: 1 })
    const c = createCipheriv('aes-256-gcm', key, iv)
    c.setAAD(utf8ToBytes(`trellis-keyfile/1/${alg}/${publicKey}`))
    const ct = Buffer.concat([c.update(keyBytes), c.final()])
    return {
      version: 1,
      alg,
      publicKey,
      kdf: { name: 'scrypt', N: 1024, r: 8, p: 1, salt: bytesToHex(salt) },
      cipher: { name: 'aes-256-gcm', iv: bytesToHex(iv), tag: bytesToHex(c.getAuthTag()) },
      ciphertext: bytesToHex(ct),
    }
  }

  it('the hand-sealed file format is the real one', () => {
    const { privateKey, publicKey } = generateKeyPair('p256')
    const f = sealed('p256', publicKeyToString(publicKey), privateKey.bytes)
    expect(bytesToHex(decryptPrivateKey(f, PASSWORD).bytes)).toBe(bytesToHex(privateKey.bytes))
  })

  it('reports a sealed key that is not the named public key as KEYSTORE_INVALID_FILE', () => {
    const a = generateKeyPair('ed25519')
    const b = generateKeyPair('ed25519')
    const e = expectCode(
      () => decryptPrivateKey(sealed('ed25519', publicKeyToString(a.publicKey), b.privateKey.bytes), PASSWORD),
      'KEYSTORE_INVALID_FILE',
    )
    expect(e.details).toEqual({ reason: 'public key does not match' })
  })

  it.each([
    ['the zero P-256 scalar', 'p256', new Uint8Array(32)],
    ['the P-256 scalar n', 'p256', bigIntToBE32(P256_N)],
  ])('reports a sealed key that is %s as KEYSTORE_INVALID_FILE', (_name, alg, bytes) => {
    const { publicKey } = generateKeyPair(alg as SignatureAlgorithm)
    const e = expectCode(() => decryptPrivateKey(sealed(alg, publicKeyToString(publicKey), bytes), PASSWORD), 'KEYSTORE_INVALID_FILE')
    expect(e.details).toEqual({ reason: 'not a valid private key' })
  })

  it('defaults to scrypt N = 2^17', () => {
    const priv: PrivateKey = { alg: 'p256', bytes: bigIntToBE32(12345n) }
    const f = encryptPrivateKey(priv, PASSWORD)
    expect(f.kdf.N).toBe(2 ** 17)
    expect(bytesToHex(decryptPrivateKey(f, PASSWORD).bytes)).toBe(bytesToHex(priv.bytes))
    expect(f.publicKey).toBe(publicKeyToString(publicKeyFromPrivate(priv)))
  })
})
