import { nobleBackend, nodeBackend, P256_N, sha256 } from '@trellis/crypto'
import { bytesToHex, hexToBytes, utf8ToBytes } from '@trellis/utils'
import { describe, expect, it } from 'vitest'
import { be, bigIntToBE32, expectRejected } from './conformance.js'

const backends = [
  ['node', nodeBackend],
  ['noble', nobleBackend],
] as const

// RFC 8032 §7.1, tests 1–3.
const RFC8032 = [
  {
    name: 'TEST 1 (empty message)',
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2 (1-byte message)',
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3 (2-byte message)',
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
]

describe.each(backends)('known answers, %s backend', (_name, backend) => {
  it.each(RFC8032)('Ed25519 RFC 8032 $name: public key, exact signature, verification', (v) => {
    const priv = { alg: 'ed25519' as const, bytes: hexToBytes(v.secret) }
    const pub = backend.publicKeyFromPrivate(priv)
    expect(bytesToHex(pub.bytes)).toBe(v.public)
    const message = hexToBytes(v.message)
    expect(bytesToHex(backend.sign(priv, message))).toBe(v.signature)
    expect(backend.verify(pub, message, hexToBytes(v.signature))).toBe(true)
    expectRejected(backend, pub, Uint8Array.of(1), hexToBytes(v.signature))
  })

  // RFC 6979 §A.2.5, P-256 with SHA-256, message "sample". Its s is high; this protocol accepts only
  // the low-S twin (r, n − s), which a deterministic low-S signer must produce.
  it('P-256 RFC 6979 A.2.5 "sample": public key, high-S rejected, low-S twin verifies', () => {
    const priv = { alg: 'p256' as const, bytes: hexToBytes('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721') }
    const pub = backend.publicKeyFromPrivate(priv)
    // Uy = …2299 is odd, hence the 03 prefix.
    expect(bytesToHex(pub.bytes)).toBe('0360fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6')
    const r = 'efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716'
    const s = 'f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8'
    const message = utf8ToBytes('sample')
    expectRejected(backend, pub, message, hexToBytes(r + s))
    const lowS = r + bytesToHex(bigIntToBE32(P256_N - be(hexToBytes(s))))
    expect(backend.verify(pub, message, hexToBytes(lowS))).toBe(true)
    expectRejected(backend, pub, utf8ToBytes('test'), hexToBytes(lowS))
    if (backend === nobleBackend) expect(bytesToHex(backend.sign(priv, message))).toBe(lowS)
  })

  it.each([
    ['"abc"', utf8ToBytes('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['empty', new Uint8Array(), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    [
      '448-bit message',
      utf8ToBytes('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'),
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    ],
    ['one million "a"', new Uint8Array(1_000_000).fill(0x61), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0'],
  ])('SHA-256 of %s', (_name, data, digest) => {
    expect(bytesToHex(backend.sha256(data))).toBe(digest)
  })
})

it('the top-level sha256 is the node backend one and passes the "abc" known answer', () => {
  expect(bytesToHex(sha256(utf8ToBytes('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
})
