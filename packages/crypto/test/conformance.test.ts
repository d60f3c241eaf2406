import * as nodeEntry from '@trellis/crypto'
import { nobleBackend, nodeBackend } from '@trellis/crypto'
import { describe, expect, it } from 'vitest'
import * as browserEntry from '../src/browser.js'
import { describeConformance, type NamedBackend } from './conformance.js'

const backends: NamedBackend[] = [
  { name: 'node', backend: nodeBackend },
  { name: 'noble', backend: nobleBackend },
]

describeConformance(backends[0] as NamedBackend, backends, { runs: 60 })
describeConformance(backends[1] as NamedBackend, backends, { runs: 25 })

describe('entry points', () => {
  it('the Node entry binds its top-level functions to nodeBackend', () => {
    const { sha256, sha256Into, generateKeyPair, publicKeyFromPrivate, sign, verify, verifyDer, randomBytes } = nodeEntry
    expect({ sha256, sha256Into, generateKeyPair, publicKeyFromPrivate, sign, verify, verifyDer, randomBytes }).toEqual({ ...nodeBackend })
    expect(verify).toBe(nodeBackend.verify)
    expect(sign).toBe(nodeBackend.sign)
  })

  it('the browser entry binds the same functions to nobleBackend and shares the rest of the surface', () => {
    const { sha256, sha256Into, generateKeyPair, publicKeyFromPrivate, sign, verify, verifyDer, randomBytes } = browserEntry
    expect({ sha256, sha256Into, generateKeyPair, publicKeyFromPrivate, sign, verify, verifyDer, randomBytes }).toEqual({ ...nobleBackend })
    expect(verify).toBe(nobleBackend.verify)
    expect(sign).toBe(nobleBackend.sign)
    expect(browserEntry.publicKeyToString).toBe(nodeEntry.publicKeyToString)
    expect(browserEntry.P256_N).toBe(nodeEntry.P256_N)
    expect(browserEntry.certificateFromPem).toBe(nodeEntry.certificateFromPem)
    expect(browserEntry.CERT_ROLES).toBe(nodeEntry.CERT_ROLES)
    expect('encryptPrivateKey' in browserEntry).toBe(false)
  })
})
