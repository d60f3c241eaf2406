import { fileURLToPath } from 'node:url'
import { buildContract, type ContractArtifact } from '@trellis/cli'
import {
  type Certificate,
  type CertRole,
  certificateToPem,
  createCertificateAuthority,
  generateKeyPair,
  issueCertificate,
  type KeyPair,
  parseCertificate,
  type PrivateKey,
  sign,
} from '@trellis/crypto'
import { concatBytes } from '@trellis/utils'
import { type Organisation, type Receipt, type SignedTx, valueFromJSON } from '@trellis/ledger'
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

/** A certificate holder: a key pair and its X.509 certificate. */
export interface Member extends KeyPair {
  readonly certificate: Uint8Array
  readonly cert: Certificate
}

/** An organisation with a root CA, able to issue member certificates. */
export class TestOrg {
  private constructor(
    readonly id: string,
    readonly ca: { cert: Certificate; privateKey: PrivateKey },
  ) {}

  static async create(id: string, o: { notBefore?: number; validityDays?: number } = {}): Promise<TestOrg> {
    const ca = await createCertificateAuthority({
      org: id,
      commonName: `${id} root CA`,
      validityDays: o.validityDays ?? 3650,
      notBefore: o.notBefore ?? GENESIS_TIME - 86_400_000,
    })
    return new TestOrg(id, ca)
  }

  /** The genesis (or `org.add`) form of this organisation. */
  get organisation(): Organisation {
    return { id: this.id, name: `${this.id} Ltd`, caCerts: [this.ca.cert.der] }
  }

  get caPem(): string {
    return certificateToPem(this.ca.cert.der)
  }

  /**
   * A member certificate for a fresh key. `subjectOrg` forges one naming another organisation as the
   * holder's (our issuer refuses to; a rogue CA's tooling would not).
   */
  async member(
    name: string,
    role: CertRole = 'client',
    o: { attributes?: Record<string, string>; notBefore?: number; notAfter?: number; keyPair?: KeyPair; subjectOrg?: string } = {},
  ): Promise<Member> {
    const kp = o.keyPair ?? generateKeyPair()
    const cert = await issueCertificate({
      issuer: this.ca,
      subjectPublicKey: kp.publicKey,
      commonName: name,
      role,
      attributes: o.attributes ?? {},
      notBefore: o.notBefore ?? GENESIS_TIME - 86_400_000,
      notAfter: o.notAfter ?? GENESIS_TIME + 365 * 86_400_000,
    })
    if (o.subjectOrg === undefined) return { ...kp, certificate: cert.der, cert }
    const forged = resign(cert, this.id, o.subjectOrg, this.ca.privateKey)
    return { ...kp, certificate: forged, cert: parseCertificate(forged) }
  }
}

function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n)
  const bytes: number[] = []
  for (let x = n; x > 0; x >>= 8) bytes.unshift(x & 0xff)
  return Uint8Array.of(0x80 | bytes.length, ...bytes)
}

const tlv = (tag: number, body: Uint8Array): Uint8Array => concatBytes(Uint8Array.of(tag), derLength(body.length), body)

function derInt(b: Uint8Array): Uint8Array {
  let i = 0
  while (i < b.length - 1 && b[i] === 0) i++
  const v = b.subarray(i)
  return tlv(0x02, (v[0] as number) >= 0x80 ? concatBytes(Uint8Array.of(0), v) : v)
}

/** `cert` with the (same-length) subject organisation replaced, signed again by `caKey`. */
function resign(cert: Certificate, from: string, to: string, caKey: PrivateKey): Uint8Array {
  if (from.length !== to.length) throw new Error('the forged organisation must have the same length')
  const tbs = cert.tbs.slice()
  const needle = Buffer.from(from)
  const at = Buffer.from(tbs).lastIndexOf(needle) // the subject comes after the issuer in the tbs
  tbs.set(Buffer.from(to), at)
  const afterTbs = cert.der.indexOf(cert.tbs[0] as number, 1) + cert.tbs.length // outer header, then the tbs
  const algId = cert.der.subarray(afterTbs, afterTbs + 2 + (cert.der[afterTbs + 1] as number))
  const raw = sign(caKey, tbs)
  const sig = tlv(0x30, concatBytes(derInt(raw.subarray(0, 32)), derInt(raw.subarray(32))))
  return tlv(0x30, concatBytes(tbs, algId, tlv(0x03, concatBytes(Uint8Array.of(0), sig))))
}

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

  static async create(
    o: { builtins?: readonly Contract[]; admin?: KeyPair; orgs?: readonly Organisation[] } = {},
  ): Promise<ContractHarness> {
    const admin = o.admin ?? testKey(9000)
    const chain = await openMemoryChain(makeGenesis(admin, o.orgs === undefined ? {} : { orgs: o.orgs }))
    const executor = await ContractExecutor.create({
      builtins: o.builtins ?? [notaryContract],
      admins: [admin.publicKey],
      orgs: o.orgs ?? [],
    })
    return new ContractHarness(chain, executor, admin)
  }

  /** A signed call; `kp` may carry the certificate to sign with (a {@link Member}). */
  tx(kp: KeyPair | Member, contract: string, method: string, args: unknown): SignedTx {
    const certificate = 'certificate' in kp ? kp.certificate : undefined
    return callTx(kp, valueFromJSON(args ?? null), {
      contract,
      method,
      nonce: this.nonce++,
      expiresAt: this.time + 3_600_000,
      ...(certificate === undefined ? {} : { certificate }),
    })
  }

  /** Runs admission checks as the node does for the next block at the harness's clock. */
  precheck(tx: SignedTx): void {
    this.executor.precheck(tx, this.chain, { height: this.chain.tip.height + 1, now: this.time + 1000 })
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

  async call(kp: KeyPair | Member, contract: string, method: string, args: unknown): Promise<Receipt> {
    return (await this.block([this.tx(kp, contract, method, args)]))[0] as Receipt
  }

  async deploy(name: string, artifact: ContractArtifact, initArgs?: unknown): Promise<Receipt> {
    return this.call(this.admin, 'trellis', 'deploy', { name, code: artifact.code, ...(initArgs === undefined ? {} : { initArgs }) })
  }

  query(contract: string, method: string, args: unknown = {}, height?: number): Promise<QueryOutcome> {
    return this.executor.query(contract, method, valueFromJSON(args), chainQueryView(this.chain, height))
  }
}
