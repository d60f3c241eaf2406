import { fileURLToPath } from 'node:url'
import { buildContract, type ContractArtifact } from '@trellis/cli'
import type { KeyPair } from '@trellis/crypto'
import { type Receipt, type SignedTx, valueFromJSON } from '@trellis/ledger'
import {
  buildBlock,
  type BuiltBlock,
  chainQueryView,
  type ChainStore,
  ContractExecutor,
  type Contract,
  notaryContract,
  type QueryOutcome,
} from '@trellis/node'
import { callTx, executeAndCommit, GENESIS_TIME, makeGenesis, openMemoryChain, testKey } from './fixtures.js'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const built = new Map<string, Promise<ContractArtifact>>()

/** Builds `contracts/<name>/src/index.ts` (once per process) or any other source file. */
export function contractArtifact(nameOrPath: string): Promise<ContractArtifact> {
  const path = nameOrPath.includes('/') ? nameOrPath : `${repo}contracts/${nameOrPath}/src/index.ts`
  let p = built.get(path)
  if (p === undefined) {
    p = buildContract(path)
    built.set(path, p)
  }
  return p
}

/**
 * A single-validator chain in memory with the real contract executor: txs are signed, executed in
 * blocks and committed; queries run as the API runs them.
 */
export class ContractHarness {
  readonly admin: KeyPair
  time = GENESIS_TIME
  private nonce = 0

  private constructor(
    readonly chain: ChainStore,
    readonly executor: ContractExecutor,
    admin: KeyPair,
  ) {
    this.admin = admin
  }

  static async create(o: { builtins?: readonly Contract[]; admin?: KeyPair } = {}): Promise<ContractHarness> {
    const admin = o.admin ?? testKey(9000)
    const chain = await openMemoryChain(makeGenesis(admin))
    const executor = await ContractExecutor.create({ builtins: o.builtins ?? [notaryContract], admins: [admin.publicKey] })
    return new ContractHarness(chain, executor, admin)
  }

  tx(kp: KeyPair, contract: string, method: string, args: unknown): SignedTx {
    return callTx(kp, valueFromJSON(args ?? null), { contract, method, nonce: this.nonce++, expiresAt: this.time + 3_600_000 })
  }

  /** Executes `txs` as one block (admission checks skipped) and returns their receipts. */
  async block(txs: readonly SignedTx[]): Promise<Receipt[]> {
    this.time += 1000
    const { exec } = await executeAndCommit(this.chain, this.executor, this.admin, this.time, txs)
    return [...exec.receipts]
  }

  /**
   * Builds (does not commit) the next block from `txs` the way a producer does: txs the block's gas
   * or time could not cover, and txs past `txTimeLimitMs`, are left out.
   */
  produce(
    txs: readonly SignedTx[],
    limits: { readonly txTimeLimitMs?: number; readonly blockTimeLimitMs?: number } = {},
  ): Promise<BuiltBlock> {
    return buildBlock({
      chain: this.chain,
      executor: this.executor,
      parent: this.chain.head,
      state: this.chain,
      txs,
      timestamp: this.time + 1000,
      proposer: this.admin.publicKey,
      validatorSetHash: new Uint8Array(32),
      trimToGas: true,
      ...limits,
    })
  }

  async call(kp: KeyPair, contract: string, method: string, args: unknown): Promise<Receipt> {
    return (await this.block([this.tx(kp, contract, method, args)]))[0] as Receipt
  }

  async deploy(name: string, artifact: ContractArtifact, initArgs?: unknown): Promise<Receipt> {
    return this.call(this.admin, 'trellis', 'deploy', { name, code: artifact.code, ...(initArgs === undefined ? {} : { initArgs }) })
  }

  query(contract: string, method: string, args: unknown = {}, height?: number): Promise<QueryOutcome> {
    return this.executor.query(contract, method, valueFromJSON(args), chainQueryView(this.chain, height))
  }
}
