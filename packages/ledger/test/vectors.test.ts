// Pins the canonical encodings, hashes and roots (docs/spec/encoding.md). Any change here is a
// protocol change. Regenerate deliberately with: UPDATE_VECTORS=1 npx vitest run packages/ledger/test/vectors.test.ts
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import {
  type Certificate,
  type CertificateWithKey,
  createCertificateAuthority,
  issueCertificate,
  parseCertificate,
  type PrivateKey,
  publicKeyFromPrivate,
  publicKeyToBytes,
  publicKeyToString,
  sign,
  verify,
} from '@trellis/crypto'
import {
  type BlockHeader,
  checkOrgCAs,
  createSignedTx,
  decodeCertificate,
  decodeHeader,
  decodeReceipt,
  decodeSignedTx,
  decodeValue,
  encodeCertificate,
  encodeHeader,
  encodeReceipt,
  encodeTxBody,
  encodeValidatorSet,
  encodeValue,
  type Genesis,
  genesisFromJSON,
  genesisHash,
  genesisToJSON,
  headerHash,
  merkleRoot,
  type Receipt,
  ReceiptStatus,
  receiptHash,
  StateTree,
  stateKey,
  stateKeyHash,
  stateValueHash,
  type TxBody,
  txCertificate,
  txSignBytes,
  VoteType,
  validatorSetHash,
  valueFromJSON,
  valueToJSON,
  voteSignBytes,
} from '@trellis/ledger'
import { bytesToHex, hexToBytes, utf8ToBytes } from '@trellis/utils'
import { describe, expect, it } from 'vitest'

const FILE = new URL('./vectors/encoding.json', import.meta.url)
const p256Key: PrivateKey = { alg: 'p256', bytes: hexToBytes('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721') }
const edKey: PrivateKey = { alg: 'ed25519', bytes: hexToBytes('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60') }
// The organisation CA of the version-2 vectors. Its key is Ed25519 so that the leaf certificates it
// signs are deterministic (node:crypto's P-256 signatures are randomised); its own DER is pinned in
// the file because a CA certificate always gets a random serial number.
const caKey: PrivateKey = { alg: 'ed25519', bytes: hexToBytes('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb') }
const CERT_TIME = Date.UTC(2025, 0, 1)
const DAY = 86_400_000

const valueCases: unknown[] = [
  null,
  true,
  false,
  0,
  1,
  -1,
  127,
  128,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  '',
  'trellis',
  '存证',
  { $bytes: 'AAEC/w==' },
  [],
  [1, 'a', null],
  { b: 1, a: 2, aa: [true], '': 'empty key' },
  { nested: { deeper: { list: [{ x: -5 }] } } },
]

function body(signer: PrivateKey): TxBody {
  return {
    chainId: 'trellis-vectors',
    contract: 'notary',
    method: 'record',
    args: { hash: 'ab'.repeat(32), meta: { title: 'contract.pdf', pages: 12 } },
    signer: publicKeyFromPrivate(signer),
    nonce: 42,
    expiresAt: 1_800_000_000_000,
  }
}

async function orgCA(pinnedDer: string | undefined): Promise<CertificateWithKey> {
  if (pinnedDer !== undefined) return { cert: parseCertificate(hexToBytes(pinnedDer)), privateKey: caKey }
  return createCertificateAuthority({
    org: 'org1',
    commonName: 'org1 root CA',
    validityDays: 3650,
    notBefore: CERT_TIME,
    keyPair: { privateKey: caKey, publicKey: publicKeyFromPrivate(caKey) },
  })
}

/** A client certificate per signer key, with every otherwise random or clock-dependent field fixed. */
function signerCertificates(ca: CertificateWithKey): Promise<Certificate[]> {
  return Promise.all(
    [p256Key, edKey].map((k, i) =>
      issueCertificate({
        issuer: ca,
        subjectPublicKey: publicKeyFromPrivate(k),
        commonName: i === 0 ? 'alice' : 'bob',
        role: 'client',
        attributes: { dept: 'vectors' },
        notBefore: CERT_TIME,
        notAfter: CERT_TIME + 365 * DAY,
        serial: `100${i + 1}`,
      }),
    ),
  )
}

const validators = { validators: [{ name: 'validator-0', publicKey: publicKeyFromPrivate(p256Key), power: 1 }] }
const genesis: Genesis = {
  chainId: 'trellis-vectors',
  genesisTime: 1_700_000_000_000,
  params: { maxTxBytes: 65536, maxBlockTxs: 20000, maxBlockBytes: 16777216, maxTxTtlMs: 3600000 },
  validators,
  admins: [publicKeyFromPrivate(p256Key)],
}

function compute(existing: Record<string, unknown> | undefined, ca: CertificateWithKey, signerCerts: readonly Certificate[]) {
  const values = valueCases.map((json) => ({ json, hex: bytesToHex(encodeValue(valueFromJSON(json))) }))
  const txs = [p256Key, edKey].map((k, i) => {
    const b = body(k)
    const bodyBytes = encodeTxBody(b)
    const old = (existing?.txs as Array<{ signature: string }> | undefined)?.[i]
    // P-256 signatures are randomised; keep the pinned one (it must still verify). Ed25519 is deterministic.
    const signature = k.alg === 'p256' && old !== undefined ? hexToBytes(old.signature) : sign(k, txSignBytes(bodyBytes))
    const tx = createSignedTx(b, signature)
    return {
      signer: publicKeyToString(b.signer),
      body: bytesToHex(bodyBytes),
      id: bytesToHex(tx.id),
      signature: bytesToHex(signature),
      wire: bytesToHex(tx.bytes),
    }
  })
  const certTxs = [p256Key, edKey].map((k, i) => {
    const certificate = signerCerts[i]?.der ?? new Uint8Array()
    const b: TxBody = { ...body(k), certificate }
    const bodyBytes = encodeTxBody(b)
    const old = (existing?.certTxs as Array<{ signature: string }> | undefined)?.[i]
    const signature = k.alg === 'p256' && old !== undefined ? hexToBytes(old.signature) : sign(k, txSignBytes(bodyBytes))
    const tx = createSignedTx(b, signature)
    return {
      signer: publicKeyToString(b.signer),
      certificate: bytesToHex(certificate),
      body: bytesToHex(bodyBytes),
      id: bytesToHex(tx.id),
      signature: bytesToHex(signature),
      wire: bytesToHex(tx.bytes),
    }
  })
  const receipt: Receipt = {
    txId: hexToBytes(txs[0]?.id ?? ''),
    status: ReceiptStatus.Ok,
    errorCode: '',
    errorMessage: '',
    returnValue: { ok: true },
    events: [{ contract: 'notary', name: 'DocumentRecorded', data: { hash: 'ab'.repeat(32) } }],
    cost: 1812,
  }
  const failed: Receipt = {
    ...receipt,
    status: ReceiptStatus.Failed,
    errorCode: 'NOTARY_ALREADY_RECORDED',
    errorMessage: 'already recorded',
    returnValue: null,
    events: [],
  }
  const orgGenesis: Genesis = { ...genesis, orgs: [{ id: 'org1', name: 'Organisation One', caCerts: [ca.cert.der] }] }
  const leaves = (n: number) => Array.from({ length: n }, (_, i) => utf8ToBytes(`leaf-${i}`))
  const tree = new Map<string, Uint8Array>()
  const st = new StateTree({ getNode: (k) => tree.get(bytesToHex(k)) })
  const kv = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      keyHash: stateKeyHash(stateKey('notary', `doc:${i}`)),
      valueHash: stateValueHash(encodeValue({ i })),
    }))
  const roots: Record<string, string> = {}
  for (const n of [0, 1, 2, 3, 17, 100]) {
    const r = st.update(null, n + 1, kv(n))
    for (const [k, v] of r.writes) tree.set(bytesToHex(k), v)
    roots[String(n)] = bytesToHex(r.root)
  }
  const header: BlockHeader = {
    chainId: 'trellis-vectors',
    height: 1,
    prevHash: genesisHash(genesis),
    timestamp: 1_700_000_001_000,
    proposer: publicKeyFromPrivate(p256Key),
    txRoot: merkleRoot(txs.map((t) => hexToBytes(t.wire))),
    receiptRoot: merkleRoot([encodeReceipt(receipt), encodeReceipt(failed)]),
    stateRoot: hexToBytes(roots['3'] ?? ''),
    validatorSetHash: validatorSetHash(validators),
    txCount: 2,
  }
  const blockHash = headerHash(header)
  const vote = voteSignBytes({ type: VoteType.Precommit, chainId: header.chainId, height: 1, round: 0, blockHash })
  const oldCert = existing?.certificate as string | undefined
  const cert =
    oldCert !== undefined
      ? oldCert
      : bytesToHex(
          encodeCertificate({ height: 1, round: 0, blockHash, signatures: [{ validatorIndex: 0, signature: sign(p256Key, vote) }] }),
        )
  return {
    values,
    txs,
    orgCA: bytesToHex(ca.cert.der),
    certTxs,
    receipts: [receipt, failed].map((r) => ({ hex: bytesToHex(encodeReceipt(r)), hash: bytesToHex(receiptHash(r)) })),
    merkleRoots: Object.fromEntries([0, 1, 2, 3, 5, 8, 13].map((n) => [String(n), bytesToHex(merkleRoot(leaves(n)))])),
    stateRoots: roots,
    validatorSet: { hex: bytesToHex(encodeValidatorSet(validators)), hash: bytesToHex(validatorSetHash(validators)) },
    genesisHash: bytesToHex(genesisHash(genesis)),
    genesisWithOrgs: { orgs: genesisToJSON(orgGenesis).orgs, hash: bytesToHex(genesisHash(orgGenesis)) },
    header: { hex: bytesToHex(encodeHeader(header)), hash: bytesToHex(blockHash) },
    vote: bytesToHex(vote),
    certificate: cert,
  }
}

const existing = existsSync(FILE) ? (JSON.parse(readFileSync(FILE, 'utf8')) as Record<string, unknown>) : undefined
const ca = await orgCA(existing?.orgCA as string | undefined)
const signerCerts = await signerCertificates(ca)

describe('encoding test vectors', () => {
  const actual = compute(existing, ca, signerCerts)
  if (process.env.UPDATE_VECTORS === '1' || existing === undefined) {
    writeFileSync(FILE, `${JSON.stringify(actual, null, 2)}\n`)
  }
  const pinned = JSON.parse(readFileSync(FILE, 'utf8')) as ReturnType<typeof compute>

  it('encodes every pinned value to the pinned bytes and decodes them back', () => {
    expect(actual.values).toEqual(pinned.values)
    for (const v of pinned.values) expect(valueToJSON(decodeValue(hexToBytes(v.hex)))).toEqual(valueToJSON(valueFromJSON(v.json)))
  })

  it('reproduces tx bodies, ids and wire bytes; pinned signatures verify', () => {
    expect(actual.txs).toEqual(pinned.txs)
    for (const t of pinned.txs) {
      const tx = decodeSignedTx(hexToBytes(t.wire))
      expect(bytesToHex(tx.id)).toBe(t.id)
      expect(verify(tx.body.signer, txSignBytes(tx.bodyBytes), tx.signature)).toBe(true)
    }
  })

  it('pins a self-signed Ed25519 root CA of organisation org1', () => {
    const cert = parseCertificate(hexToBytes(pinned.orgCA))
    expect(cert.isCA).toBe(true)
    expect(cert.subject).toEqual({ org: 'org1', commonName: 'org1 root CA' })
    expect(cert.issuer).toEqual(cert.subject)
    expect(publicKeyToBytes(cert.publicKey)).toEqual(publicKeyToBytes(publicKeyFromPrivate(caKey)))
    expect(checkOrgCAs('org1', [cert.der])).toHaveLength(1)
  })

  it('reproduces version-2 tx certificates, bodies, ids and wire bytes; pinned signatures verify', () => {
    expect(actual.certTxs).toEqual(pinned.certTxs)
    for (const t of pinned.certTxs) {
      expect(t.body.slice(0, 2)).toBe('02')
      const tx = decodeSignedTx(hexToBytes(t.wire))
      expect(bytesToHex(tx.body.certificate ?? new Uint8Array())).toBe(t.certificate)
      expect(bytesToHex(tx.bodyBytes)).toBe(t.body)
      expect(bytesToHex(tx.id)).toBe(t.id)
      expect(verify(tx.body.signer, txSignBytes(tx.bodyBytes), tx.signature)).toBe(true)
      expect(publicKeyToString(txCertificate(tx)?.publicKey ?? tx.body.signer)).toBe(t.signer)
    }
  })

  it('reproduces receipts, Merkle roots, state roots, validator-set and genesis hashes', () => {
    expect(actual.receipts).toEqual(pinned.receipts)
    for (const r of pinned.receipts) expect(bytesToHex(encodeReceipt(decodeReceipt(hexToBytes(r.hex))))).toBe(r.hex)
    expect(actual.merkleRoots).toEqual(pinned.merkleRoots)
    expect(actual.stateRoots).toEqual(pinned.stateRoots)
    expect(actual.validatorSet).toEqual(pinned.validatorSet)
    expect(actual.genesisHash).toBe(pinned.genesisHash)
  })

  it('reproduces the hash of a genesis with one organisation, from its JSON too', () => {
    expect(actual.genesisWithOrgs).toEqual(pinned.genesisWithOrgs)
    const g = genesisFromJSON({ ...genesisToJSON(genesis), orgs: pinned.genesisWithOrgs.orgs })
    expect(bytesToHex(genesisHash(g))).toBe(pinned.genesisWithOrgs.hash)
    expect(pinned.genesisWithOrgs.hash).not.toBe(pinned.genesisHash)
  })

  it('reproduces the header, its hash, the vote bytes and a verifying certificate', () => {
    expect(actual.header).toEqual(pinned.header)
    expect(bytesToHex(encodeHeader(decodeHeader(hexToBytes(pinned.header.hex))))).toBe(pinned.header.hex)
    expect(actual.vote).toBe(pinned.vote)
    const cert = decodeCertificate(hexToBytes(pinned.certificate))
    expect(bytesToHex(cert.blockHash)).toBe(pinned.header.hash)
    expect(verify(publicKeyFromPrivate(p256Key), hexToBytes(pinned.vote), cert.signatures[0]?.signature ?? new Uint8Array())).toBe(true)
  })

  it('pins the empty Merkle root and the empty state root', () => {
    expect(pinned.merkleRoots['0']).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(pinned.stateRoots['0']).toBe('0'.repeat(64))
  })
})
