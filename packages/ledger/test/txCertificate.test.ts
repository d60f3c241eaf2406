// Transaction format version 2 (the signer's X.509 certificate in the body) and the genesis
// organisations: docs/spec/encoding.md, ADR 0012.
import { readFileSync } from 'node:fs'
import {
  type CertificateWithKey,
  certificateToPem,
  createCertificateAuthority,
  generateKeyPair,
  issueCertificate,
  type PublicKey,
  publicKeyToString,
  sha256,
} from '@trellis/crypto'
import {
  createSignedTx,
  decodeAndValidateTx,
  decodeSignedTx,
  defaultChainParams,
  encodeTxBody,
  genesisFromJSON,
  type GenesisJSON,
  genesisHash,
  genesisToJSON,
  isTxSignatureValid,
  MAX_ORG_CAS,
  PROTOCOL,
  type SignedTx,
  signTx,
  type TxBody,
  txCertificate,
  txSignBytes,
  validateTxStatic,
  validatorSetHash,
  Writer,
} from '@trellis/ledger'
import { bytesToHex, concatBytes, equalBytes, hexToBytes, TrellisError, utf8ToBytes } from '@trellis/utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const vectors = JSON.parse(readFileSync(new URL('./vectors/encoding.json', import.meta.url), 'utf8')) as {
  txs: Array<{ signer: string; body: string; wire: string }>
  genesisHash: string
}

const DAY = 86_400_000
const T0 = Date.UTC(2025, 0, 1)
const NOW = T0 + 10 * DAY
const CHAIN = 'trellis-test'
// Consensus rules (docs/spec/encoding.md), pinned rather than read from the code under test.
const MAX_CERTIFICATE_BYTES = 4096
const MAX_BUNDLE_CAS = 8

const rootCA = (org: string, commonName: string) => createCertificateAuthority({ org, commonName, validityDays: 3650, notBefore: T0 })
const root = await rootCA('org1', 'org1 root CA')
const intermediate = await createCertificateAuthority({
  org: 'org1',
  commonName: 'org1 CA',
  validityDays: 730,
  notBefore: T0,
  parent: root,
})
// An intermediate whose root is not in the bundles below.
const strayRoot = await rootCA('org1', 'org1 old root CA')
const strayIntermediate = await createCertificateAuthority({
  org: 'org1',
  commonName: 'org1 old CA',
  validityDays: 730,
  notBefore: T0,
  parent: strayRoot,
})
const org2Root = await rootCA('org2', 'org2 root CA')

const alice = generateKeyPair()
const bob = generateKeyPair('ed25519')
const issue = (issuer: CertificateWithKey, subjectPublicKey: PublicKey, commonName: string) =>
  issueCertificate({ issuer, subjectPublicKey, commonName, role: 'client', notBefore: T0 })
const aliceCert = await issue(intermediate, alice.publicKey, 'alice')
const aliceCert2 = await issue(intermediate, alice.publicKey, 'alice')
const bobCert = await issue(root, bob.publicKey, 'bob')

function body(signer: PublicKey, certificate?: Uint8Array): TxBody {
  const b: TxBody = {
    chainId: CHAIN,
    contract: 'notary',
    method: 'record',
    args: { hash: 'ab'.repeat(32), pages: 12 },
    signer,
    nonce: 7,
    expiresAt: NOW + 60_000,
  }
  return certificate === undefined ? b : { ...b, certificate }
}

const aliceTx = signTx(body(alice.publicKey, aliceCert.der), alice.privateKey)
const bobTx = signTx(body(bob.publicKey, bobCert.der), bob.privateKey)

/** A tx with any certificate bytes (encodeTxBody does not check them) and a dummy signature. */
function unsignedWithCertificate(certificate: Uint8Array): Uint8Array {
  return createSignedTx(body(alice.publicKey, certificate), new Uint8Array(64)).bytes
}

/** Where `count` bytes equal to `byte` start in `b`. */
function indexOfRun(b: Uint8Array, byte: number, count: number): number {
  let run = 0
  for (let i = 0; i < b.length; i++) {
    run = b[i] === byte ? run + 1 : 0
    if (run === count) return i - count + 1
  }
  return expect.unreachable('no such run')
}

function errorOf(f: () => unknown): TrellisError {
  try {
    f()
  } catch (e) {
    if (e instanceof TrellisError) return e
    throw e
  }
  return expect.unreachable('expected a TrellisError')
}

function expectError(f: () => unknown, type: { code: string } & Record<string, unknown>): TrellisError {
  const e = errorOf(f)
  expect(e.type).toMatchObject(type)
  return e
}

describe('tx format version 2', () => {
  it('is the version-1 body with version byte 2 and bytes(certificate) right after the signer', () => {
    const v1 = encodeTxBody(body(alice.publicKey))
    const v2 = encodeTxBody(body(alice.publicKey, aliceCert.der))
    const tail = new Writer()
      .varint(7)
      .varint(NOW + 60_000)
      .finish()
    const signerEnd = v1.length - tail.length
    expect(v1[0]).toBe(PROTOCOL.txVersion)
    expect(v2[0]).toBe(PROTOCOL.txCertVersion)
    expect(v2).toEqual(concatBytes(Uint8Array.of(2), v1.subarray(1, signerEnd), new Writer().bytes(aliceCert.der).finish(), tail))
  })

  it('round-trips through the wire form with the same body bytes, id and signature', () => {
    for (const tx of [aliceTx, bobTx]) {
      const back = decodeSignedTx(tx.bytes)
      expect(back.body.certificate).toEqual(tx.body.certificate)
      expect(back.body).toEqual(tx.body)
      expect(back.bodyBytes).toEqual(tx.bodyBytes)
      expect(back.id).toEqual(tx.id)
      expect(back.bytes).toEqual(tx.bytes)
      expect(encodeTxBody(back.body)).toEqual(tx.bodyBytes)
      expect(isTxSignatureValid(back)).toBe(true)
    }
  })

  it('decodes into a certificate that does not alias the input', () => {
    const bytes = aliceTx.bytes.slice()
    const tx = decodeSignedTx(bytes)
    bytes.fill(0)
    expect(tx.body.certificate).toEqual(aliceCert.der)
  })

  it('keeps the id and signature rules: the certificate is part of the id and of what is signed', () => {
    expect(aliceTx.id).toEqual(sha256(aliceTx.bodyBytes))
    const renewed = signTx(body(alice.publicKey, aliceCert2.der), alice.privateKey)
    expect(renewed.id).not.toEqual(aliceTx.id)
    // The old signature does not cover the body with the other certificate.
    const swapped = decodeSignedTx(createSignedTx(renewed.body, aliceTx.signature).bytes)
    expect(isTxSignatureValid(swapped)).toBe(false)
    expect(txSignBytes(renewed.bodyBytes).subarray(0, 13)).toEqual(utf8ToBytes('trellis/tx/v1'))
  })

  it('leaves version-1 encodings byte-identical and decodes them without a certificate field', () => {
    const [pinned] = vectors.txs
    if (pinned === undefined) return expect.unreachable('no pinned v1 tx')
    const tx = decodeSignedTx(hexToBytes(pinned.wire))
    expect(tx.bodyBytes[0]).toBe(1)
    expect('certificate' in tx.body).toBe(false)
    expect(bytesToHex(encodeTxBody(tx.body))).toBe(pinned.body)
    expect(txCertificate(tx)).toBeUndefined()
  })

  it('accepts a certificate of exactly 4096 bytes and rejects an empty or a longer one', () => {
    // The limit is part of the format: pinned here, not read from the code under test.
    expect(PROTOCOL.maxCertificateBytes).toBe(MAX_CERTIFICATE_BYTES)
    const max = new Uint8Array(MAX_CERTIFICATE_BYTES).fill(0x30)
    const maxWire = unsignedWithCertificate(max)
    expect(decodeSignedTx(maxWire).body.certificate).toEqual(max)
    // The encoder refuses to produce what the decoder would refuse.
    for (const bad of [new Uint8Array(0), new Uint8Array(MAX_CERTIFICATE_BYTES + 1)])
      expectError(() => unsignedWithCertificate(bad), { code: 'TX_INVALID_FIELD', field: 'certificate' })
    // Wire bytes patched by hand: the certificate's length prefix (varint) sits right before it.
    const at = indexOfRun(maxWire, 0x30, MAX_CERTIFICATE_BYTES)
    const prefix = maxWire.subarray(0, at - 2) // 4096 is the two-byte varint 80 20
    expect([...maxWire.subarray(at - 2, at)]).toEqual([0x80, 0x20])
    const rest = maxWire.subarray(at + MAX_CERTIFICATE_BYTES)
    expectError(() => decodeSignedTx(concatBytes(prefix, Uint8Array.of(0), rest)), {
      code: 'TX_MALFORMED',
      reason: expect.stringContaining('empty certificate'),
    })
    const over = new Uint8Array(MAX_CERTIFICATE_BYTES + 1).fill(0x30)
    expectError(() => decodeSignedTx(concatBytes(prefix, Uint8Array.of(0x81, 0x20), over, rest)), {
      code: 'TX_MALFORMED',
      reason: expect.stringContaining(`length ${MAX_CERTIFICATE_BYTES + 1} above limit ${MAX_CERTIFICATE_BYTES}`),
    })
  })

  it('rejects every truncation of a version-2 tx and trailing bytes as TX_MALFORMED', () => {
    for (let n = 0; n < aliceTx.bytes.length; n++) expectError(() => decodeSignedTx(aliceTx.bytes.subarray(0, n)), { code: 'TX_MALFORMED' })
    expectError(() => decodeSignedTx(concatBytes(aliceTx.bytes, Uint8Array.of(0))), { code: 'TX_MALFORMED' })
  })

  it('rejects versions other than 1 and 2', () => {
    for (const version of [0, 3, 255]) {
      const bytes = aliceTx.bytes.slice()
      bytes[0] = version
      expectError(() => decodeSignedTx(bytes), { code: 'TX_UNSUPPORTED_VERSION', version })
    }
  })
})

describe('txCertificate', () => {
  it('is undefined for a version-1 tx and the parsed certificate of the signer otherwise', () => {
    expect(txCertificate(signTx(body(alice.publicKey), alice.privateKey))).toBeUndefined()
    expect(txCertificate(aliceTx)?.hash).toEqual(aliceCert.hash)
    expect(txCertificate(bobTx)?.subject).toEqual({ org: 'org1', commonName: 'bob' })
  })

  it('rejects a certificate for another key with TX_INVALID_FIELD, also once it is cached', () => {
    expect(txCertificate(aliceTx)).toBeDefined()
    const stolen = signTx(body(bob.publicKey, aliceCert.der), bob.privateKey)
    const e = expectError(() => txCertificate(stolen), { code: 'TX_INVALID_FIELD', field: 'certificate', reason: 'certifies another key' })
    expect(e.message).toContain("not for its signer's key")
    const p256Other = generateKeyPair()
    expectError(() => txCertificate(signTx(body(p256Other.publicKey, aliceCert.der), p256Other.privateKey)), {
      code: 'TX_INVALID_FIELD',
      field: 'certificate',
    })
  })

  it('rejects bytes that are not a certificate with TX_INVALID_FIELD', () => {
    const garbage = [
      utf8ToBytes('not a certificate'),
      Uint8Array.of(0),
      aliceCert.der.subarray(0, aliceCert.der.length - 1),
      concatBytes(aliceCert.der, Uint8Array.of(0)),
      new Uint8Array(MAX_CERTIFICATE_BYTES).fill(0x30),
    ]
    for (const der of garbage) {
      const tx = signTx(body(alice.publicKey, der), alice.privateKey)
      expectError(() => txCertificate(tx), { code: 'TX_INVALID_FIELD', field: 'certificate' })
    }
  })
})

describe('validateTxStatic with a certificate', () => {
  const params = defaultChainParams

  it('accepts a tx carrying its signer certificate, from objects and from wire bytes', () => {
    validateTxStatic(aliceTx, CHAIN, params, NOW)
    expect(decodeAndValidateTx(bobTx.bytes, CHAIN, params, NOW).id).toEqual(bobTx.id)
  })

  it('rejects a certificate for another key and one that does not parse', () => {
    const stolen = signTx(body(bob.publicKey, aliceCert.der), bob.privateKey)
    const junk = signTx(body(alice.publicKey, utf8ToBytes('junk')), alice.privateKey)
    for (const tx of [stolen, junk]) {
      expectError(() => validateTxStatic(tx, CHAIN, params, NOW), { code: 'TX_INVALID_FIELD', field: 'certificate' })
      expectError(() => decodeAndValidateTx(tx.bytes, CHAIN, params, NOW), { code: 'TX_INVALID_FIELD', field: 'certificate' })
    }
  })
})

describe('genesis organisations', () => {
  // The genesis of the pinned vectors, as JSON.
  const signer = vectors.txs[0]?.signer ?? ''
  const base: GenesisJSON = {
    chainId: 'trellis-vectors',
    genesisTime: 1_700_000_000_000,
    params: { maxTxBytes: 65536, maxBlockTxs: 20000, maxBlockBytes: 16777216, maxTxTtlMs: 3600000 },
    validators: [{ name: 'validator-0', publicKey: signer, power: 1 }],
    admins: [signer],
  }
  const pem = (c: CertificateWithKey) => certificateToPem(c.cert.der)
  const withOrgs = (orgs: unknown): unknown => ({ ...base, orgs })
  const org1 = (caCerts: string[]) => [{ id: 'org1', name: 'Organisation One', caCerts }]

  it('keeps the genesis hash of chains without organisations: orgs absent or empty', () => {
    expect(bytesToHex(genesisHash(genesisFromJSON(base)))).toBe(vectors.genesisHash)
    expect(bytesToHex(genesisHash(genesisFromJSON(withOrgs([]))))).toBe(vectors.genesisHash)
    const g = genesisFromJSON(base)
    const { orgs: _orgs, ...noOrgs } = g
    expect(bytesToHex(genesisHash(noOrgs))).toBe(vectors.genesisHash)
    expect(bytesToHex(genesisHash({ ...g, orgs: [] }))).toBe(vectors.genesisHash)
    expect('orgs' in genesisToJSON({ ...g, orgs: [] })).toBe(false)
  })

  it('accepts a root with an intermediate, in either order, and commits to them in the hash', () => {
    const g = genesisFromJSON(withOrgs(org1([pem(root), pem(intermediate)])))
    expect(g.orgs).toEqual([{ id: 'org1', name: 'Organisation One', caCerts: [root.cert.der, intermediate.cert.der] }])
    const hash = bytesToHex(genesisHash(g))
    expect(hash).not.toBe(vectors.genesisHash)
    expect(bytesToHex(genesisHash(genesisFromJSON(genesisToJSON(g))))).toBe(hash)
    const reversed = genesisFromJSON(withOrgs(org1([pem(intermediate), pem(root)])))
    expect(bytesToHex(genesisHash(reversed))).not.toBe(hash)
    const two = genesisFromJSON(withOrgs([...org1([pem(root)]), { id: 'org2', name: 'Organisation Two', caCerts: [pem(org2Root)] }]))
    expect(two.orgs?.map((o) => o.id)).toEqual(['org1', 'org2'])
  })

  it('hashes the certificates, not the PEM text: line breaks and text around the block do not count', () => {
    const hash = (p: string) => bytesToHex(genesisHash(genesisFromJSON(withOrgs(org1([p])))))
    const reformatted = `issued by org1\r\n${pem(root).replace(/\n/g, '\r\n  ')}trailing text`
    expect(hash(reformatted)).toBe(hash(pem(root)))
    expect(genesisToJSON(genesisFromJSON(withOrgs(org1([reformatted])))).orgs?.[0]?.caCerts).toEqual([pem(root)])
  })

  it('accepts 8 CA certificates and rejects 9', async () => {
    expect(MAX_ORG_CAS).toBe(MAX_BUNDLE_CAS)
    const roots = await Promise.all(Array.from({ length: MAX_BUNDLE_CAS + 1 }, (_, i) => rootCA('org1', `org1 root CA ${i}`)))
    expect(genesisFromJSON(withOrgs(org1(roots.slice(0, MAX_BUNDLE_CAS).map(pem)))).orgs?.[0]?.caCerts).toHaveLength(MAX_BUNDLE_CAS)
    expectError(() => genesisFromJSON(withOrgs(org1(roots.map(pem)))), {
      code: 'GENESIS_INVALID',
      reason: expect.stringContaining(`1 to ${MAX_BUNDLE_CAS} CA certificates`),
    })
  })

  const rejected: Array<[string, () => unknown, string]> = [
    [
      'duplicate organisation ids',
      () => withOrgs([...org1([pem(root)]), { id: 'org1', name: 'Again', caCerts: [pem(root)] }]),
      'repeats the organisation id "org1"',
    ],
    ['a certificate that is not a CA', () => withOrgs(org1([pem(root), certificateToPem(aliceCert.der)])), 'is not a CA certificate'],
    ['a CA of another organisation', () => withOrgs(org1([pem(org2Root)])), 'is for organisation "org2", not "org1"'],
    [
      'an intermediate whose root is not in the bundle',
      () => withOrgs(org1([pem(root), pem(strayIntermediate)])),
      'does not chain to a root',
    ],
    ['an intermediate without any root', () => withOrgs(org1([pem(intermediate)])), 'does not chain to a root'],
    ['no CA certificate', () => withOrgs(org1([])), `1 to ${MAX_BUNDLE_CAS} CA certificates`],
    ['a CA listed twice', () => withOrgs(org1([pem(root), pem(root)])), 'listed twice'],
    ['text that is not PEM', () => withOrgs(org1(['not pem'])), 'orgs[0]'],
    ['an id that is not a name', () => withOrgs([{ id: 'org 1', name: 'x', caCerts: [pem(root)] }]), 'organisation id "org 1"'],
    ['orgs that is not an array', () => withOrgs({ org1: {} }), 'orgs must be an array'],
  ]
  for (const [what, json, reason] of rejected) {
    it(`rejects ${what} with GENESIS_INVALID`, () => {
      expectError(() => genesisFromJSON(json()), { code: 'GENESIS_INVALID', reason: expect.stringContaining(reason) })
    })
  }

  it('takes a validator node certificate of a genesis organisation, and refuses others', async () => {
    const node = generateKeyPair()
    const issueFor = (issuer: CertificateWithKey, role: 'node' | 'client', key = node.publicKey) =>
      issueCertificate({ issuer, subjectPublicKey: key, commonName: 'v0', role, notBefore: T0, validityDays: 30 })
    const withValidator = async (cert: Promise<{ der: Uint8Array }>, key = node.publicKey) => ({
      ...(withOrgs(org1([pem(root)])) as GenesisJSON),
      validators: [{ name: 'v0', publicKey: publicKeyToString(key), power: 1, certificate: certificateToPem((await cert).der) }],
    })
    const g = genesisFromJSON(await withValidator(issueFor(root, 'node')))
    expect(g.validators.validators[0]?.certificate).toBeDefined()
    // The certificate is in the genesis hash but not in the validator set's hash (headers do not change).
    const { certificate: _c, ...plain } = g.validators.validators[0] as NonNullable<(typeof g.validators.validators)[0]>
    expect(bytesToHex(validatorSetHash(g.validators))).toBe(bytesToHex(validatorSetHash({ validators: [plain] })))
    for (const [json, reason] of [
      [await withValidator(issueFor(root, 'client')), 'not node'],
      [await withValidator(issueFor(org2Root, 'node')), 'not issued by a CA of a genesis organisation'],
      [await withValidator(issueFor(root, 'node', alice.publicKey)), 'another key'],
    ] as const)
      expectError(() => genesisFromJSON(json), { code: 'GENESIS_INVALID', reason: expect.stringContaining(reason) })
  })
})

describe('property: a mutated version-2 tx', () => {
  it('fails to decode or carries no valid certificate (TrellisError), or has another id or an invalid signature', () => {
    const original: SignedTx = aliceTx
    fc.assert(
      fc.property(fc.nat({ max: original.bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const bytes = original.bytes.slice()
        bytes[i] = (bytes[i] as number) ^ x
        let tx: SignedTx
        try {
          tx = decodeSignedTx(bytes)
          txCertificate(tx)
        } catch (e) {
          expect(e, `byte ${i} ^ ${x}: ${String(e)}`).toBeInstanceOf(TrellisError)
          return
        }
        expect(!equalBytes(tx.id, original.id) || !isTxSignatureValid(tx), `byte ${i} ^ ${x} kept the id and a valid signature`).toBe(true)
      }),
      { numRuns: 3000 },
    )
  })
})
