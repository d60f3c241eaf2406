import * as nodeEntry from '@trellis/crypto'
import { type CryptoBackend, nobleBackend, nodeBackend, type PublicKey, type SignatureAlgorithm } from '@trellis/crypto'
import { bench, describe } from 'vitest'
import * as browserEntry from '../src/browser.js'

const data64 = new Uint8Array(64).fill(0x5a)
// A typical signed message: about the size of a small transaction body.
const message = new Uint8Array(200).fill(0x42)

function fixture(backend: CryptoBackend, alg: SignatureAlgorithm): { sign: () => Uint8Array; verify: () => boolean; pub: PublicKey } {
  const { privateKey, publicKey } = nodeBackend.generateKeyPair(alg)
  const sig = nodeBackend.sign(privateKey, message)
  if (!backend.verify(publicKey, message, sig)) throw new Error('bench fixture does not verify')
  return { sign: () => backend.sign(privateKey, message), verify: () => backend.verify(publicKey, message, sig), pub: publicKey }
}

const nodeP256 = fixture(nodeBackend, 'p256')
const nodeEd25519 = fixture(nodeBackend, 'ed25519')
const nobleP256 = fixture(nobleBackend, 'p256')
const nobleEd25519 = fixture(nobleBackend, 'ed25519')

describe('sha256', () => {
  bench('node sha256 (64 B)', () => {
    nodeBackend.sha256(data64)
  })
})

describe('node backend signatures (200 B message)', () => {
  bench('node P-256 sign', () => {
    nodeP256.sign()
  })
  bench('node P-256 verify', () => {
    if (!nodeP256.verify()) throw new Error('verify failed')
  })
  bench('node Ed25519 sign', () => {
    nodeEd25519.sign()
  })
  bench('node Ed25519 verify', () => {
    if (!nodeEd25519.verify()) throw new Error('verify failed')
  })
})

describe('noble backend', () => {
  bench('noble P-256 verify', () => {
    if (!nobleP256.verify()) throw new Error('verify failed')
  })
  bench('noble Ed25519 verify', () => {
    if (!nobleEd25519.verify()) throw new Error('verify failed')
  })
})

const ca = await nodeEntry.createCertificateAuthority({ org: 'org1', commonName: 'org1 CA', validityDays: 365 })
const leaf = await nodeEntry.issueCertificate({
  issuer: ca,
  subjectPublicKey: nodeEntry.generateKeyPair().publicKey,
  commonName: 'alice',
  role: 'client',
  attributes: { dept: 'claims', level: '3' },
})

describe('X.509 (P-256 leaf with attributes, ~500 B)', () => {
  bench('node parseCertificate', () => {
    nodeEntry.parseCertificate(leaf.der)
  })
  bench('noble parseCertificate', () => {
    browserEntry.parseCertificate(leaf.der)
  })
  bench('node verifyCertificateSignature', () => {
    if (!nodeEntry.verifyCertificateSignature(leaf, ca.cert)) throw new Error('verify failed')
  })
  bench('noble verifyCertificateSignature', () => {
    if (!browserEntry.verifyCertificateSignature(leaf, ca.cert)) throw new Error('verify failed')
  })
})
