// Shared fixtures for the node, e2e and fault suites: keys, genesis, txs, a test contract, and an
// independent block builder used to re-execute blocks on a fresh store. Real components only.
import { createHash } from 'node:crypto'
import { generateKeyPair, type KeyPair, type PublicKey, SignatureAlgorithm, sign } from '@trellis/crypto'
import {
  type BlockHeader,
  type ChainParams,
  type CommitCertificate,
  createSignedTx,
  defaultChainParams,
  type Genesis,
  headerHash,
  type Organisation,
  isValueMap,
  merkleRoot,
  type SignedTx,
  type StateUpdate,
  signTx,
  stateKeyHash,
  stateValueHash,
  type Value,
  VoteType,
  validatorSetHash,
  voteSignBytes,
} from '@trellis/ledger'
import { type BlockCommit, type BlockExecution, ChainStore, type Contract, ContractError, type Executor } from '@trellis/node'
import { createMemoryStore } from '@trellis/storage'
import { bytesToHex, equalBytes } from '@trellis/utils'
import { pino } from 'pino'

export const CHAIN_ID = 'test-chain'
/** Fixed genesis time of in-memory test chains; block timestamps are later. */
export const GENESIS_TIME = 1_700_000_000_000
export const silentLogger = pino({ level: 'silent' })

/** A 64-char lower-case hex SHA-256 of a label: a notary document hash. */
export function docHash(label: string | number): string {
  return createHash('sha256').update(String(label)).digest('hex')
}

/** A syntactically valid P-256 public key that nobody holds (mempool tests need no real signatures). */
export function fakeSigner(i: number): PublicKey {
  const b = new Uint8Array(33)
  b[0] = 2
  new DataView(b.buffer).setUint32(1, i)
  return { alg: SignatureAlgorithm.P256, bytes: b }
}

/** An unsigned (zero-signature) tx from a fake signer; `pad` grows its size. */
export function fakeTx(sender: number, nonce: number, o: { expiresAt?: number; pad?: number } = {}): SignedTx {
  const args: Value =
    o.pad === undefined
      ? { hash: docHash(`${sender}/${nonce}`) }
      : { hash: docHash(`${sender}/${nonce}`), meta: { pad: 'x'.repeat(o.pad) } }
  return createSignedTx(
    {
      chainId: CHAIN_ID,
      contract: 'notary',
      method: 'record',
      args,
      signer: fakeSigner(sender),
      nonce,
      expiresAt: o.expiresAt ?? GENESIS_TIME + 3_600_000,
    },
    new Uint8Array(64),
  )
}

export function makeGenesis(
  validator: KeyPair,
  o: { chainId?: string; genesisTime?: number; params?: Partial<ChainParams>; orgs?: readonly Organisation[] } = {},
): Genesis {
  return {
    chainId: o.chainId ?? CHAIN_ID,
    genesisTime: o.genesisTime ?? GENESIS_TIME,
    params: { ...defaultChainParams, ...o.params },
    validators: { validators: [{ name: 'validator-0', publicKey: validator.publicKey, power: 1 }] },
    admins: [validator.publicKey],
    ...(o.orgs === undefined ? {} : { orgs: o.orgs }),
  }
}

export interface TxOptions {
  /** The signer's X.509 certificate (DER). */
  readonly certificate?: Uint8Array
  readonly chainId?: string
  readonly contract?: string
  readonly method?: string
  readonly nonce?: number
  readonly expiresAt: number
}

/** A signed call. */
export function callTx(kp: KeyPair, args: Value, o: TxOptions): SignedTx {
  return signTx(
    {
      chainId: o.chainId ?? CHAIN_ID,
      contract: o.contract ?? 'notary',
      method: o.method ?? 'record',
      args,
      signer: kp.publicKey,
      ...(o.certificate === undefined ? {} : { certificate: o.certificate }),
      nonce: o.nonce ?? 0,
      expiresAt: o.expiresAt,
    },
    kp.privateKey,
  )
}

/** A signed notary.record of `hash`. */
export function recordTx(kp: KeyPair, hash: string, o: TxOptions & { meta?: Value }): SignedTx {
  return callTx(kp, o.meta === undefined ? { hash } : { hash, meta: o.meta }, o)
}

function argString(args: Value, name: string): string {
  if (!isValueMap(args) || typeof args[name] !== 'string' || (args[name] as string).length === 0)
    throw new ContractError('KV_BAD_ARGS', `${name} required`)
  return args[name] as string
}

/**
 * A small key-value contract for tests that need keys written many times and deleted (the notary
 * writes each key once). `setThenFail` writes and then fails, to prove failed txs write nothing.
 */
export const kvContract: Contract = {
  name: 'kv',
  version: '0.0.1',
  methods: {
    set: {
      kind: 'call',
      description: 'Set key to value',
      validate: (a) =>
        isValueMap(a) && typeof a.key === 'string' && a.key.length > 0 && a.value !== undefined ? undefined : 'key and value required',
      run(ctx, a) {
        const key = argString(a, 'key')
        const prev = ctx.get(key) ?? null
        ctx.put(key, (a as { value: Value }).value)
        ctx.emit('Set', { key })
        return prev
      },
    },
    del: {
      kind: 'call',
      description: 'Delete key',
      validate: (a) => (isValueMap(a) && typeof a.key === 'string' && a.key.length > 0 ? undefined : 'key required'),
      run(ctx, a) {
        ctx.delete(argString(a, 'key'))
        return null
      },
    },
    setThenFail: {
      kind: 'call',
      description: 'Write, emit, then fail',
      validate: (a) => (isValueMap(a) && typeof a.key === 'string' && a.key.length > 0 ? undefined : 'key required'),
      run(ctx, a) {
        const key = argString(a, 'key')
        ctx.put(key, 'should-not-persist')
        ctx.emit('Set', { key })
        throw new ContractError('KV_REFUSED', 'refused after writing')
      },
    },
    get: {
      kind: 'query',
      description: 'Read key',
      validate: (a) => (isValueMap(a) && typeof a.key === 'string' && a.key.length > 0 ? undefined : 'key required'),
      run: (ctx, a) => ctx.get(argString(a, 'key')) ?? null,
    },
  },
}

export async function openMemoryChain(genesis: Genesis): Promise<ChainStore> {
  return ChainStore.open(createMemoryStore(), genesis)
}

/**
 * Builds the commit of an executed block on top of `chain`'s tip (its head, unless blocks are being
 * written) the way the protocol defines it (docs/spec): roots over txs, receipts and the state tree,
 * certified by the single validator.
 */
export function buildCommit(
  chain: ChainStore,
  validator: KeyPair,
  timestamp: number,
  txs: readonly SignedTx[],
  exec: BlockExecution,
): BlockCommit {
  const head = chain.tip
  const height = head.height + 1
  const { chainId } = chain.genesis
  const last = new Map<string, StateUpdate>()
  for (const w of exec.writes) {
    const keyHash = stateKeyHash(w.stateKey)
    last.set(bytesToHex(keyHash), { keyHash, valueHash: w.value === null ? null : stateValueHash(w.value) })
  }
  const tree = chain.tree.update(head.height, height, [...last.values()])
  const header: BlockHeader = {
    chainId,
    height,
    prevHash: head.hash,
    timestamp,
    proposer: validator.publicKey,
    txRoot: merkleRoot(txs.map((t) => t.bytes)),
    receiptRoot: merkleRoot([...exec.receiptBytes]),
    stateRoot: tree.root,
    validatorSetHash: validatorSetHash(chain.genesis.validators),
    txCount: txs.length,
  }
  const hash = headerHash(header)
  const certificate: CommitCertificate = {
    height,
    round: 0,
    blockHash: hash,
    signatures: [
      {
        validatorIndex: 0,
        signature: sign(validator.privateKey, voteSignBytes({ type: VoteType.Precommit, chainId, height, round: 0, blockHash: hash })),
      },
    ],
  }
  return { block: { header, txs }, hash, certificate, receiptBytes: exec.receiptBytes, writes: exec.writes, treeWrites: tree.writes }
}

/** Executes `txs` as the next block of `chain` and commits it. */
export async function executeAndCommit(
  chain: ChainStore,
  executor: Executor,
  validator: KeyPair,
  timestamp: number,
  txs: readonly SignedTx[],
): Promise<{ commit: BlockCommit; exec: BlockExecution }> {
  const exec = await executor.executeBlock({ chainId: chain.genesis.chainId, height: chain.head.height + 1, timestamp, txs }, chain)
  const commit = buildCommit(chain, validator, timestamp, txs, exec)
  await chain.commit(commit, { sync: false })
  return { commit, exec }
}

/**
 * Re-executes a block produced elsewhere on `chain` (which must be at the block's parent) and commits
 * it with its original certificate. Returns the recomputed header so callers can compare roots.
 */
export async function replayBlock(
  chain: ChainStore,
  executor: Executor,
  proposer: KeyPair,
  block: { header: BlockHeader; txs: readonly SignedTx[] },
  certificate: CommitCertificate,
): Promise<{ header: BlockHeader; receiptBytes: readonly Uint8Array[] }> {
  const exec = await executor.executeBlock(
    { chainId: chain.genesis.chainId, height: block.header.height, timestamp: block.header.timestamp, txs: block.txs },
    chain,
  )
  const commit = buildCommit(chain, proposer, block.header.timestamp, block.txs, exec)
  // The recomputed header must equal the original byte for byte; then the original certificate applies.
  if (!equalBytes(commit.hash, certificate.blockHash)) return { header: commit.block.header, receiptBytes: exec.receiptBytes }
  await chain.commit({ ...commit, certificate }, { sync: false })
  return { header: commit.block.header, receiptBytes: exec.receiptBytes }
}

/** A key pair per index, generated once per process. */
const keyCache = new Map<number, KeyPair>()
export function testKey(i: number): KeyPair {
  let kp = keyCache.get(i)
  if (kp === undefined) {
    kp = generateKeyPair()
    keyCache.set(i, kp)
  }
  return kp
}

export { prng } from './prng.js'
