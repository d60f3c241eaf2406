import type { StateValueProofJSON, TxProofJSON } from '@trellis/ledger'
import { generateKeyPair, publicKeyToString, TrellisError, trustFromGenesis, verifyState, verifyTx } from '@trellis/sdk'
import { describe, expect, it } from 'vitest'

function genesis() {
  return {
    chainId: 'trellis-dev',
    genesisTime: 1_700_000_000_000,
    params: {},
    validators: [
      { name: 'org1', publicKey: publicKeyToString(generateKeyPair().publicKey), power: 1 },
      { name: 'org2', publicKey: publicKeyToString(generateKeyPair().publicKey), power: 2 },
    ],
    admins: [publicKeyToString(generateKeyPair().publicKey)],
  }
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f()
  } catch (err) {
    return err instanceof TrellisError ? err.code : 'not a TrellisError'
  }
  return undefined
}

describe('trustFromGenesis', () => {
  it('takes the chain id and the validator set from a genesis object or its JSON text', () => {
    const g = genesis()
    for (const input of [g, JSON.stringify(g)]) {
      const trust = trustFromGenesis(input)
      expect(trust.chainId).toBe('trellis-dev')
      if (!('validators' in trust)) throw new Error('expected a validator-set anchor')
      expect(trust.validators.validators.map((v) => [v.name, publicKeyToString(v.publicKey), v.power])).toEqual(
        g.validators.map((v) => [v.name, v.publicKey, v.power]),
      )
    }
  })

  it('rejects a bad genesis with GENESIS_INVALID', () => {
    const g = genesis()
    const bad: unknown[] = [
      null,
      42,
      '{not json',
      { ...g, chainId: '' },
      { ...g, chainId: 'bad chain id' },
      { ...g, validators: [] },
      { ...g, validators: 'org1' },
      { ...g, validators: [{ name: 'org1', publicKey: 'not-a-key', power: 1 }] },
      { ...g, validators: [g.validators[0], g.validators[0]] },
      { ...g, validators: [{ ...g.validators[0], power: 0 }] },
      { ...g, genesisTime: -1 },
      { ...g, admins: undefined },
    ]
    for (const b of bad) expect(codeOf(() => trustFromGenesis(b))).toBe('GENESIS_INVALID')
  })
})

describe('verifyTx / verifyState (malformed input; end-to-end proofs are tested against a real node)', () => {
  const trust = trustFromGenesis(genesis())

  it('rejects what is not a tx proof', () => {
    expect(codeOf(() => verifyTx({ kind: 'state' } as unknown as TxProofJSON, trust))).toBe('PROOF_INVALID')
    const garbage = {
      kind: 'tx',
      height: 1,
      index: 0,
      tx: 'AAAA',
      receipt: 'AAAA',
      txProof: { index: 0, size: 1, path: [] },
      receiptProof: { index: 0, size: 1, path: [] },
      header: 'AAAA',
      certificate: 'AAAA',
    } as TxProofJSON
    expect(codeOf(() => verifyTx(garbage, trust))).toBe('PROOF_INVALID')
    expect(codeOf(() => verifyTx({ tx: {}, height: 1, index: 0, receipt: {}, proof: garbage } as never, trust))).toBe('PROOF_INVALID')
  })

  it('rejects what is not a state proof', () => {
    expect(codeOf(() => verifyState({ kind: 'tx' } as unknown as StateValueProofJSON, trust))).toBe('PROOF_INVALID')
    const garbage = {
      kind: 'state',
      height: 1,
      contract: 'notary',
      key: 'k',
      value: null,
      proof: {},
      header: 'AAAA',
      certificate: 'AAAA',
    } as never
    expect(codeOf(() => verifyState(garbage, trust))).toBe('PROOF_INVALID')
  })
})
