import { publicKeyToString } from '@trellis/crypto'
import { decodeValue, encodeValue, ReceiptStatus, type SignedTx, stateKey, type Value } from '@trellis/ledger'
import { bytesToHex, TrellisError } from '@trellis/utils'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  callTx,
  docHash,
  executeAndCommit,
  GENESIS_TIME,
  kvContract,
  makeGenesis,
  openMemoryChain,
  recordTx,
  testKey,
} from '../../../test/support/fixtures.js'
import { chainQueryView, ContractExecutor, notaryContract, notaryKey } from '../src/index.js'

const validator = testKey(0)
const alice = testKey(1)
const bob = testKey(2)
const genesis = makeGenesis(validator)
const EXP = GENESIS_TIME + 3_600_000
/** Admission as for block 1, just after the genesis. */
const AT = { height: 1, now: GENESIS_TIME + 1000 }
const T1 = GENESIS_TIME + 1000

const newExecutor = () => ContractExecutor.create({ builtins: [notaryContract, kvContract], admins: [validator.publicKey] })

function codeOf(f: () => unknown): string {
  try {
    f()
  } catch (err) {
    if (err instanceof TrellisError) return err.code
    throw err
  }
  return 'NO_ERROR'
}

describe('notary contract', () => {
  it('records a document and returns it from the get query', async () => {
    const chain = await openMemoryChain(genesis)
    const ex = await newExecutor()
    const hash = docHash('contract.pdf')
    const tx = recordTx(alice, hash, { expiresAt: EXP, meta: { title: 'contract', pages: 3, signed: true } })
    ex.precheck(tx, chain, AT)
    const { exec, commit } = await executeAndCommit(chain, ex, validator, T1, [tx])
    const [r] = exec.receipts
    expect(r?.status).toBe(ReceiptStatus.Ok)
    const record = {
      hash,
      owner: publicKeyToString(alice.publicKey),
      meta: { title: 'contract', pages: 3, signed: true },
      txId: bytesToHex(tx.id),
      height: 1,
      timestamp: T1,
    }
    expect(r?.returnValue).toEqual(record)
    expect(r?.events).toEqual([{ contract: 'notary', name: 'DocumentRecorded', data: { hash, owner: record.owner } }])
    expect(exec.writes).toHaveLength(1)
    expect(exec.writes[0]?.stateKey).toEqual(stateKey('notary', notaryKey(hash)))
    expect(commit.block.header.height).toBe(1)
    expect((await ex.query('notary', 'get', { hash }, chainQueryView(chain))).result).toEqual(record)
    expect(decodeValue(chain.getLatest(stateKey('notary', notaryKey(hash))) as Uint8Array)).toEqual(record)
    expect((await ex.query('notary', 'get', { hash: docHash('never') }, chainQueryView(chain))).result).toBeNull()
  })

  it('returns a built-in result as its JSON form reads back (a `$bytes` map is bytes), like sandboxed contracts', async () => {
    const chain = await openMemoryChain(genesis)
    const ex = await newExecutor()
    const hash = docHash('bytes-meta')
    const tx = recordTx(alice, hash, { expiresAt: EXP, meta: { $bytes: 'AAAA' } })
    const { exec } = await executeAndCommit(chain, ex, validator, T1, [tx])
    const [r] = exec.receipts
    expect(r?.status).toBe(ReceiptStatus.Ok)
    // The stored record keeps the map (state is written as given); the receipt's return value is
    // the value read back from its JSON form, as it always was.
    expect((r?.returnValue as { meta: Value }).meta).toEqual(new Uint8Array([0, 0, 0]))
    expect((decodeValue(chain.getLatest(stateKey('notary', notaryKey(hash))) as Uint8Array) as { meta: Value }).meta).toEqual({
      $bytes: 'AAAA',
    })
  })

  it('fails NOTARY_ALREADY_RECORDED in a later block, keeping the first record', async () => {
    const chain = await openMemoryChain(genesis)
    const ex = await newExecutor()
    const hash = docHash('once')
    await executeAndCommit(chain, ex, validator, T1, [recordTx(alice, hash, { expiresAt: EXP })])
    const again = recordTx(bob, hash, { expiresAt: EXP, meta: { by: 'bob' } })
    ex.precheck(again, chain, AT) // admission cannot know: the duplicate is a business failure at execution
    const { exec } = await executeAndCommit(chain, ex, validator, T1 + 1, [again])
    expect(exec.receipts[0]).toMatchObject({
      status: ReceiptStatus.Failed,
      errorCode: 'NOTARY_ALREADY_RECORDED',
      returnValue: null,
      events: [],
    })
    expect(exec.receipts[0]?.errorMessage).toContain(publicKeyToString(alice.publicKey))
    expect(exec.writes).toEqual([])
    expect(((await ex.query('notary', 'get', { hash }, chainQueryView(chain))).result as { owner: string }).owner).toBe(
      publicKeyToString(alice.publicKey),
    )
  })

  it('fails NOTARY_ALREADY_RECORDED when the duplicate is in the same block', async () => {
    const chain = await openMemoryChain(genesis)
    const ex = await newExecutor()
    const hash = docHash('same-block')
    const first = recordTx(alice, hash, { expiresAt: EXP })
    const second = recordTx(bob, hash, { expiresAt: EXP })
    const other = recordTx(bob, docHash('other'), { expiresAt: EXP })
    const { exec } = await executeAndCommit(chain, ex, validator, T1, [first, second, other])
    expect(exec.receipts.map((r) => [r.status, r.errorCode])).toEqual([
      [ReceiptStatus.Ok, ''],
      [ReceiptStatus.Failed, 'NOTARY_ALREADY_RECORDED'],
      [ReceiptStatus.Ok, ''],
    ])
    expect(exec.writes.map((w) => [w.txIndex, bytesToHex(w.txId)])).toEqual([
      [0, bytesToHex(first.id)],
      [2, bytesToHex(other.id)],
    ])
    expect(((await ex.query('notary', 'get', { hash }, chainQueryView(chain))).result as { txId: string }).txId).toBe(bytesToHex(first.id))
  })

  const badArgs: Array<[string, Value]> = [
    ['not an object', 'hello'],
    ['null', null],
    ['an array', [docHash(1)]],
    ['bytes', new Uint8Array(32)],
    ['missing hash', { meta: {} }],
    ['hash not a string', { hash: 42 }],
    ['upper-case hash', { hash: docHash(1).toUpperCase() }],
    ['short hash', { hash: docHash(1).slice(1) }],
    ['long hash', { hash: `${docHash(1)}0` }],
    ['0x-prefixed hash', { hash: `0x${docHash(1).slice(2)}` }],
    ['unknown argument', { hash: docHash(1), owner: 'me' }],
    ['meta not an object', { hash: docHash(1), meta: 'x' }],
    ['meta an array', { hash: docHash(1), meta: ['x'] }],
    ['too many meta entries', { hash: docHash(1), meta: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])) }],
    ['empty meta key', { hash: docHash(1), meta: { '': 'x' } }],
    ['meta key too long', { hash: docHash(1), meta: { ['k'.repeat(65)]: 'x' } }],
    ['meta string too long', { hash: docHash(1), meta: { note: 'x'.repeat(1025) } }],
    ['nested meta', { hash: docHash(1), meta: { nested: { a: 1 } } }],
    ['null meta value', { hash: docHash(1), meta: { a: null } }],
    ['bytes meta value', { hash: docHash(1), meta: { a: new Uint8Array(1) } }],
  ]

  it.each(badArgs)('rejects %s with ARGS_INVALID at precheck and at execution', async (_what, args) => {
    const chain = await openMemoryChain(genesis)
    const ex = await newExecutor()
    const tx = callTx(alice, args, { expiresAt: EXP })
    let err: unknown
    try {
      ex.precheck(tx, chain, AT)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(TrellisError)
    expect((err as TrellisError).code).toBe('ARGS_INVALID')
    expect((err as TrellisError).details).toMatchObject({ contract: 'notary', method: 'record' })
    expect(typeof ((err as TrellisError).details as { reason: unknown }).reason).toBe('string')
    // Should such a tx reach a block anyway, it fails deterministically and writes nothing.
    const { exec } = await executeAndCommit(chain, ex, validator, T1, [tx])
    expect(exec.receipts[0]).toMatchObject({ status: ReceiptStatus.Failed, errorCode: 'ARGS_INVALID', events: [] })
    expect(exec.writes).toEqual([])
  })

  it('accepts the limits exactly (32 meta entries, 64-char keys, 1024-char strings)', async () => {
    const chain = await openMemoryChain(genesis)
    const ex = await newExecutor()
    const meta = Object.fromEntries(
      Array.from({ length: 32 }, (_, i) => [`${'k'.repeat(62)}${String(i).padStart(2, '0')}`, 'x'.repeat(1024)]),
    )
    expect(codeOf(() => ex.precheck(callTx(alice, { hash: docHash(1), meta }, { expiresAt: EXP }), chain, AT))).toBe('NO_ERROR')
    expect(codeOf(() => ex.precheck(callTx(alice, { hash: docHash(1) }, { expiresAt: EXP }), chain, AT))).toBe('NO_ERROR')
    expect(codeOf(() => ex.precheck(callTx(alice, { hash: docHash(1), meta: {} }, { expiresAt: EXP }), chain, AT))).toBe('NO_ERROR')
  })
})

describe('executor dispatch', () => {
  it('rejects an unknown contract (CONTRACT_NOT_FOUND) and unknown or non-callable methods (METHOD_NOT_FOUND) at precheck', async () => {
    const chain = await openMemoryChain(genesis)
    const ex = await newExecutor()
    const args = { hash: docHash(1) }
    expect(codeOf(() => ex.precheck(callTx(alice, args, { expiresAt: EXP, contract: 'nosuch' }), chain, AT))).toBe('CONTRACT_NOT_FOUND')
    for (const method of ['erase', 'get', 'toString', 'constructor', 'hasOwnProperty', '__proto__', 'valueOf']) {
      expect(
        codeOf(() => ex.precheck(callTx(alice, args, { expiresAt: EXP, method }), chain, AT)),
        method,
      ).toBe('METHOD_NOT_FOUND')
    }
    let err: TrellisError | undefined
    try {
      ex.precheck(callTx(alice, args, { expiresAt: EXP, method: 'erase' }), chain, AT)
    } catch (e) {
      err = e as TrellisError
    }
    expect(err?.details).toEqual({ contract: 'notary', method: 'erase' })
  })

  it('rejects calls through query and unknown queries', async () => {
    const chain = await openMemoryChain(genesis)
    const ex = await newExecutor()
    const codeOfQuery = async (contract: string, method: string, args: Value) => {
      try {
        await ex.query(contract, method, args, chainQueryView(chain))
      } catch (err) {
        if (err instanceof TrellisError) return err.code
        throw err
      }
      return 'NO_ERROR'
    }
    expect(await codeOfQuery('notary', 'record', { hash: docHash(1) })).toBe('METHOD_NOT_FOUND')
    expect(await codeOfQuery('nosuch', 'get', { hash: docHash(1) })).toBe('CONTRACT_NOT_FOUND')
    expect(await codeOfQuery('notary', 'get', { hash: 'x' })).toBe('ARGS_INVALID')
    expect(await codeOfQuery('notary', 'get', { hash: docHash(1), extra: 1 })).toBe('ARGS_INVALID')
  })

  it('gives unknown contracts and methods a failed receipt at execution, writing nothing', async () => {
    const chain = await openMemoryChain(genesis)
    const ex = await newExecutor()
    const txs = [
      callTx(alice, { hash: docHash(1) }, { expiresAt: EXP, contract: 'nosuch' }),
      callTx(alice, { hash: docHash(2) }, { expiresAt: EXP, method: 'erase' }),
      callTx(alice, { hash: docHash(3) }, { expiresAt: EXP, method: 'get' }),
    ]
    const { exec } = await executeAndCommit(chain, ex, validator, T1, txs)
    expect(exec.receipts.map((r) => [r.status, r.errorCode])).toEqual([
      [ReceiptStatus.Failed, 'CONTRACT_NOT_FOUND'],
      [ReceiptStatus.Failed, 'METHOD_NOT_FOUND'],
      [ReceiptStatus.Failed, 'METHOD_NOT_FOUND'],
    ])
    expect(exec.writes).toEqual([])
  })

  it('discards the writes and events of a failed tx; later txs in the block do not see them', async () => {
    const chain = await openMemoryChain(genesis)
    const ex = await newExecutor()
    const rootBefore = chain.head.stateRoot
    const txs = [
      callTx(alice, { key: 'a' }, { expiresAt: EXP, contract: 'kv', method: 'setThenFail' }),
      callTx(alice, { key: 'a', value: 'second' }, { expiresAt: EXP, contract: 'kv', method: 'set', nonce: 1 }),
    ]
    const { exec, commit } = await executeAndCommit(chain, ex, validator, T1, txs)
    expect(exec.receipts[0]).toMatchObject({ status: ReceiptStatus.Failed, errorCode: 'KV_REFUSED', events: [], returnValue: null })
    // The second tx read the key before writing: it saw no value (the failed write was discarded).
    expect(exec.receipts[1]).toMatchObject({ status: ReceiptStatus.Ok, returnValue: null })
    expect(exec.writes).toEqual([{ stateKey: stateKey('kv', 'a'), value: encodeValue('second'), txIndex: 1, txId: txs[1]?.id }])
    expect(commit.block.header.stateRoot).not.toEqual(rootBefore)

    // A block of only failing txs leaves the state root unchanged.
    const chain2 = await openMemoryChain(genesis)
    const { exec: e2, commit: c2 } = await executeAndCommit(chain2, ex, validator, T1, [txs[0] as SignedTx])
    expect(e2.writes).toEqual([])
    expect(c2.block.header.stateRoot).toEqual(rootBefore)
  })
})

type Call = {
  kind: 'record' | 'badHash' | 'unknownMethod' | 'unknownContract' | 'kvSet' | 'kvDel' | 'kvFail'
  signer: number
  doc: number
  meta: Record<string, string | number | boolean>
}

const callArb: fc.Arbitrary<Call> = fc.record({
  kind: fc.constantFrom('record', 'record', 'record', 'badHash', 'unknownMethod', 'unknownContract', 'kvSet', 'kvDel', 'kvFail'),
  signer: fc.nat(2),
  doc: fc.nat(6),
  meta: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(fc.string({ maxLength: 16 }), fc.integer(), fc.boolean()), {
    maxKeys: 4,
    noNullPrototype: true,
  }),
})

function txOf(c: Call, nonce: number): SignedTx {
  const kp = testKey(1 + c.signer)
  const o = { expiresAt: EXP, nonce }
  switch (c.kind) {
    case 'record':
      return recordTx(kp, docHash(c.doc), { ...o, meta: c.meta })
    case 'badHash':
      return callTx(kp, { hash: `bad${c.doc}` }, o)
    case 'unknownMethod':
      return callTx(kp, { hash: docHash(c.doc) }, { ...o, method: 'erase' })
    case 'unknownContract':
      return callTx(kp, { hash: docHash(c.doc) }, { ...o, contract: 'ghost' })
    case 'kvSet':
      return callTx(kp, { key: `k${c.doc}`, value: c.meta }, { ...o, contract: 'kv', method: 'set' })
    case 'kvDel':
      return callTx(kp, { key: `k${c.doc}` }, { ...o, contract: 'kv', method: 'del' })
    case 'kvFail':
      return callTx(kp, { key: `k${c.doc}` }, { ...o, contract: 'kv', method: 'setThenFail' })
  }
}

describe('determinism', () => {
  it('two fresh executors give byte-identical receipts, writes and roots for the same blocks', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(callArb, { maxLength: 12 }), { minLength: 1, maxLength: 5 }), async (blocks) => {
        const [chainA, chainB] = await Promise.all([openMemoryChain(genesis), openMemoryChain(genesis)])
        const exA = await newExecutor()
        const exB = await newExecutor()
        let nonce = 0
        for (const [i, calls] of blocks.entries()) {
          const txs = calls.map((c) => txOf(c, nonce++))
          const a = await executeAndCommit(chainA, exA, validator, T1 + i, txs)
          const b = await executeAndCommit(chainB, exB, validator, T1 + i, txs)
          expect(b.exec.receiptBytes).toEqual(a.exec.receiptBytes)
          expect(b.exec.writes).toEqual(a.exec.writes)
          expect(b.commit.hash).toEqual(a.commit.hash)
          // Failed txs never write; successful ones write only their own keys.
          for (const w of a.exec.writes) expect(a.exec.receipts[w.txIndex]?.status).toBe(ReceiptStatus.Ok)
        }
        expect(chainB.head.stateRoot).toEqual(chainA.head.stateRoot)
      }),
      { numRuns: 40, seed: 0xde7 },
    )
  })
})
