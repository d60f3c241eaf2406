import {
  nativeHashing,
  nativeP256Verification,
  parseCertificate,
  type PrivateKey,
  type PublicKey,
  publicKeyFromPrivate,
  publicKeyFromString,
  publicKeyToBytes,
  publicKeyToString,
} from '@trellis/crypto'
import {
  decodeSignedTx,
  type Genesis,
  type Receipt,
  type SignedTx,
  txCertificate,
  validateTxStatic,
  validatorIndexOf,
  valueToJSON,
} from '@trellis/ledger'
import { createLevelStore, type KVStore } from '@trellis/storage'
import { bytesToHex, TrellisError } from '@trellis/utils'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { ChainStore } from './chain/chainStore.js'
import { dataDirPaths } from './dataDir.js'
import type { NodeErrorType } from './errors.js'
import { CommitBus } from './events/commitBus.js'
import { ContractExecutor } from './executor/contractExecutor.js'
import { notaryContract } from './executor/notary.js'
import { chainQueryView } from './executor/queryView.js'
import { GOVERNANCE_CONTRACT } from './governance/index.js'
import type { Executor } from './executor/types.js'
import { Mempool } from './mempool/mempool.js'
import { NodeMetrics } from './metrics.js'
import type { NodeOptions } from './options.js'
import { BlockProducer, type CommittedBlock } from './producer/blockProducer.js'
import { ValidatorSchedule } from './consensus/schedule.js'
import { ConsensusDriver } from './consensus/driver.js'
import { defaultP2POptions, P2PNetwork } from '@trellis/p2p'
import { SigVerifier } from './verify/sigVerifier.js'
import { isMainThread } from 'node:worker_threads'
import { lowerOtherThreadsPriority } from './threadPriority.js'

/** Outcome of submitting one tx. */
export type SubmitResult =
  | { readonly accepted: true; readonly id: string; readonly tx: SignedTx }
  | { readonly accepted: false; readonly id: string; readonly error: TrellisError }

/** Where a tx committed, handed to `wait=true` submitters. */
export interface CommitNotice {
  readonly height: number
  readonly index: number
  readonly receipt: Receipt
}

export interface NodeModules {
  readonly logger: Logger
  readonly genesis: Genesis
  readonly validatorKey: PrivateKey
  /** Defaults to LevelDB in `<dataDir>/db`. The node closes it when it stops. */
  readonly store?: KVStore
  /**
   * Blocks, certificates, receipts and state-tree nodes (see {@link ChainStore}). Defaults to `store`
   * when that is given, else to LevelDB in `<dataDir>/archive`. The node closes it when it stops.
   */
  readonly archive?: KVStore
  readonly executor?: Executor
  readonly clock?: () => number
  readonly metrics?: boolean
}

/** Closes the main store and, when it is another one, the archive (both, even if one fails). */
async function closeStores(store: KVStore, archive: KVStore | undefined): Promise<void> {
  try {
    await store.close()
  } finally {
    if (archive !== undefined && archive !== store) await archive.close()
  }
}

function nodeError(type: NodeErrorType, message: string): TrellisError<NodeErrorType> {
  return new TrellisError<NodeErrorType>(type, message)
}

/**
 * A running Trellis node: chain store, mempool, executor, block production and (via `createApiServer`)
 * the HTTP API. Built from options and modules; `open` wires everything, `close` shuts down gracefully.
 */
export class TrellisNode {
  readonly bus = new CommitBus()
  readonly mempool: Mempool
  readonly metrics: NodeMetrics | null
  /** Single-validator block production (no `network` option). */
  readonly producer: BlockProducer
  /** BFT consensus with the other validators (with a `network` option). */
  readonly consensus: ConsensusDriver | undefined
  readonly p2p: P2PNetwork | undefined
  readonly clock: () => number
  private readonly waiters = new Map<string, Array<(n: CommitNotice) => void>>()
  private stopping = false
  /** Dials validators governance added (their address is in their record). */
  private dialNew: (() => void) | undefined
  private sweepTimer: NodeJS.Timeout | undefined
  server: FastifyInstance | undefined

  private constructor(
    readonly options: NodeOptions,
    readonly logger: Logger,
    readonly chain: ChainStore,
    readonly executor: Executor,
    private readonly verifier: SigVerifier,
    validatorKey: PrivateKey,
    metrics: boolean,
    clock: () => number,
    /** Which validators decide which height (loaded from state by `open`). */
    readonly schedule: ValidatorSchedule,
  ) {
    this.clock = clock
    this.mempool = new Mempool(options.mempool)
    this.metrics = metrics ? new NodeMetrics(() => ({ txs: this.mempool.size, bytes: this.mempool.bytes })) : null
    const genesis = chain.genesis
    const validatorPublicKey = publicKeyFromPrivate(validatorKey)
    const validatorIndex = validatorIndexOf(genesis.validators, publicKeyToBytes(validatorPublicKey))
    const net = options.network
    // On a network, a node whose key governance has not (yet) made a validator follows the chain.
    if (validatorIndex < 0 && net === undefined)
      throw nodeError({ code: 'CONFIG_INVALID', reason: 'not a validator' }, 'this node key is not a validator of the genesis')
    if (net === undefined && genesis.validators.validators.length > 1) {
      throw nodeError(
        { code: 'CONFIG_INVALID', reason: 'no network' },
        `the genesis has ${genesis.validators.validators.length} validators: give the node its p2p address and peers`,
      )
    }
    if (net !== undefined) {
      this.p2p = new P2PNetwork({
        ...defaultP2POptions,
        chainId: genesis.chainId,
        identity: { privateKey: validatorKey, publicKey: validatorPublicKey },
        host: net.host,
        port: net.port,
        peers: net.peers,
        // Only the chain's validators may connect — past, present and decided future ones — with a
        // valid node certificate when governance recorded one.
        allowed: (key) => this.mayConnect(key),
        maxMessageBytes: Math.max(genesis.params.maxBlockBytes * 2, 1024 * 1024) + 64 * 1024,
        log: (level, msg, fields) => logger.child({ module: 'p2p' })[level](fields ?? {}, msg),
      })
      // Validators governance adds are dialled at the address their record gives.
      const p2p = this.p2p
      const dialNew = () => {
        for (const peer of schedule.addresses)
          if (publicKeyToString(peer.publicKey) !== publicKeyToString(validatorPublicKey)) p2p.addPeer(peer)
      }
      schedule.onChange(dialNew)
      this.dialNew = dialNew
      this.consensus = new ConsensusDriver(
        {
          ...options.consensus,
          blockIntervalMs: options.blockIntervalMs,
          targetBlockTxs: options.targetBlockTxs,
          syncWrites: options.syncWrites,
        },
        {
          chain,
          mempool: this.mempool,
          executor,
          verifier,
          p2p: this.p2p,
          params: genesis.params,
          schedule,
          validatorKey,
          clock,
          logger: logger.child({ module: 'consensus' }),
          metrics: this.metrics,
          onCommit: (b) => this.onCommit(b),
          admit: async (raw) => {
            await this.submit(raw, { gossip: false })
          },
        },
      )
    }
    this.producer = new BlockProducer(
      {
        blockIntervalMs: options.blockIntervalMs,
        targetBlockTxs: options.targetBlockTxs,
        createEmptyBlocks: options.createEmptyBlocks,
        syncWrites: options.syncWrites,
      },
      {
        chain,
        mempool: this.mempool,
        executor,
        params: genesis.params,
        paramsAt: (height) => schedule.paramsAt(height),
        validators: genesis.validators,
        validatorKey,
        validatorPublicKey,
        validatorIndex,
        clock,
        logger: logger.child({ module: 'producer' }),
        metrics: this.metrics,
        onCommit: (b) => this.onCommit(b),
      },
    )
    this.metrics?.setHeight(chain.head.height)
  }

  /** Opens the chain (creating it from the genesis on first start) and starts producing blocks. */
  static async open(options: NodeOptions, modules: NodeModules): Promise<TrellisNode> {
    const paths = dataDirPaths(options.dataDir)
    const store = modules.store ?? (await createLevelStore({ path: paths.db }))
    let chain: ChainStore
    let archive: KVStore | undefined
    try {
      archive = modules.archive ?? modules.store ?? (await createLevelStore({ path: paths.archive }))
      chain = await ChainStore.open(store, modules.genesis, (modules.clock ?? Date.now)(), archive)
    } catch (err) {
      await closeStores(store, archive)
      throw err
    }
    let executor: Executor
    try {
      executor =
        modules.executor ??
        (await ContractExecutor.create({
          builtins: [notaryContract],
          admins: modules.genesis.admins,
          orgs: modules.genesis.orgs ?? [],
          validators: modules.genesis.validators,
          params: modules.genesis.params,
        }))
    } catch (err) {
      await closeStores(store, archive)
      throw err
    }
    const schedule = new ValidatorSchedule(modules.genesis.validators, publicKeyFromPrivate(modules.validatorKey), modules.genesis.params)
    try {
      await schedule.refresh(chain)
    } catch (err) {
      await closeStores(store, archive)
      throw err
    }
    const verifier = new SigVerifier({
      workers: options.verifyWorkers,
      chunkSize: 512,
      niceness: isMainThread ? options.backgroundNiceness : 0,
    })
    let node: TrellisNode
    try {
      node = new TrellisNode(
        options,
        modules.logger,
        chain,
        executor,
        verifier,
        modules.validatorKey,
        modules.metrics ?? true,
        modules.clock ?? Date.now,
        schedule,
      )
    } catch (err) {
      await verifier.close()
      await closeStores(store, archive)
      throw err
    }
    if (node.consensus !== undefined && node.p2p !== undefined) {
      try {
        const port = await node.p2p.start()
        modules.logger.info({ port }, 'p2p listening')
        node.dialNew?.()
      } catch (err) {
        await verifier.close()
        await closeStores(store, archive)
        throw err
      }
      node.consensus.start()
    } else {
      node.producer.start()
    }
    const reniced = lowerOtherThreadsPriority(options.backgroundNiceness)
    if (options.backgroundNiceness > 0)
      modules.logger.info(
        { niceness: options.backgroundNiceness, threads: reniced },
        reniced > 0 ? 'background threads run at a lower priority than the main thread' : 'background thread priority unchanged',
      )
    node.sweepTimer = setInterval(() => {
      node.mempool.sweepExpired(node.clock())
      // Threads started since (libuv's pool grows on demand) get the background priority too.
      lowerOtherThreadsPriority(options.backgroundNiceness)
    }, 1000)
    node.sweepTimer.unref()
    if (node.metrics !== null) await node.refreshCaCerts()
    modules.logger.info(
      // Whether the compiled SHA-256 and P-256 verification are in use (ADRs 0021, 0023): without them
      // the node is slower, not different.
      {
        chainId: modules.genesis.chainId,
        height: chain.head.height,
        hashing: nativeHashing ? 'native' : 'javascript',
        p256Verification: nativeP256Verification() ? 'native' : 'node:crypto',
      },
      'node started',
    )
    return node
  }

  get genesis(): Genesis {
    return this.chain.genesis
  }

  private onCommit(b: CommittedBlock): void {
    this.metrics?.setHeight(b.block.header.height)
    // Validators leave (removal, revocation, organisation removed) at a height: recheck the peers.
    this.recheckPeers()
    // The consensus driver reloads the schedule itself before its next height; the single-validator
    // producer learns parameter changes here (they take effect two blocks after the decision).
    if (
      this.consensus === undefined &&
      b.receipts.some((r) => r.events.some((e) => e.contract === GOVERNANCE_CONTRACT && e.name === 'ParamsChanged'))
    )
      void this.schedule.refresh(this.chain).catch((err: unknown) => this.logger.error({ err }, 'could not reload the chain parameters'))
    if (this.metrics !== null) this.trackCertificates(b)
    if (this.waiters.size > 0) {
      b.block.txs.forEach((tx, index) => {
        const id = bytesToHex(tx.id)
        const ws = this.waiters.get(id)
        if (ws === undefined) return
        this.waiters.delete(id)
        const notice = { height: b.block.header.height, index, receipt: b.receipts[index] as Receipt }
        for (const w of ws) w(notice)
      })
    }
    this.bus.publish(b)
  }

  /** A validator key may connect when the schedule knows it and its node certificate (if any) holds now. */
  private mayConnect(key: PublicKey): boolean {
    if (!this.schedule.knows(key, this.chain.head.height + 1)) return false
    const der = this.schedule.certificateOf(key)
    if (der === undefined || this.executor.checkCertificate === undefined) return true
    try {
      // Revocation and membership count; expiry does not: a node certificate running out must not
      // take a voting validator off the network (the expiry metric warns ahead; replace it in time).
      this.executor.checkCertificate(der, this.chain, { height: this.chain.head.height + 1, now: this.clock() }, { ignoreExpiry: true })
      return true
    } catch {
      return false
    }
  }

  /** Drops peers whose node certificate no longer holds (revoked, expired, organisation removed). */
  private recheckPeers(): void {
    const p2p = this.p2p
    if (p2p === undefined) return
    for (const peer of p2p.connected()) {
      if (!this.mayConnect(publicKeyFromString(peer))) {
        this.logger.warn({ peer }, 'disconnecting a validator whose node certificate no longer holds')
        p2p.disconnect(peer)
      }
    }
  }

  /** Signers' certificates seen in committed blocks (most recent last, bounded), for the expiry metric. */
  private readonly signerCerts = new Map<string, { kind: string; org: string; commonName: string; serial: string; notAfter: number }>()
  private caCerts: Array<{ kind: string; org: string; commonName: string; serial: string; notAfter: number }> = []

  private trackCertificates(b: CommittedBlock): void {
    for (const tx of b.block.txs) {
      if (tx.body.certificate === undefined) continue
      let cert
      try {
        cert = txCertificate(tx)
      } catch {
        continue
      }
      if (cert === undefined) continue
      const id = `${cert.subject.org}/${cert.serial}`
      this.signerCerts.delete(id)
      this.signerCerts.set(id, {
        kind: 'signer',
        org: cert.subject.org,
        commonName: cert.subject.commonName,
        serial: cert.serial,
        notAfter: cert.notAfter,
      })
      if (this.signerCerts.size > 1000) this.signerCerts.delete(this.signerCerts.keys().next().value as string)
    }
    if (b.receipts.some((r) => r.events.some((e) => e.contract === GOVERNANCE_CONTRACT && /^(Org|ValidatorSetChanged)/.test(e.name))))
      void this.refreshCaCerts()
    this.metrics?.setCertificates(this.exportedCertificates())
  }

  /** What the expiry metric shows: CAs and node certificates; signers only while reads are public (/metrics is open). */
  private exportedCertificates() {
    const publicReads = this.executor.readAccess?.(this.chain) !== 'members'
    return [...this.caCerts, ...(publicReads ? this.signerCerts.values() : [])]
  }

  /** Reloads the member organisations' CA certificates (at start and when governance changes them). */
  async refreshCaCerts(): Promise<void> {
    try {
      const out = await this.executor.query(
        GOVERNANCE_CONTRACT,
        'expiring',
        { withinMs: Number.MAX_SAFE_INTEGER - Date.now() },
        chainQueryView(this.chain),
      )
      const list = valueToJSON(out.result) as Array<{ org: string; commonName: string; serial: string; notAfter: number }>
      this.caCerts = list.map((c) => ({ kind: 'ca', org: c.org, commonName: c.commonName, serial: c.serial, notAfter: c.notAfter }))
      for (const { set } of this.schedule.history)
        for (const v of set.validators) {
          const der = this.schedule.certificateOf(v.publicKey)
          if (der === undefined) continue
          const c = parseCertificate(der)
          this.caCerts.push({ kind: 'node', org: c.subject.org, commonName: c.subject.commonName, serial: c.serial, notAfter: c.notAfter })
        }
      this.metrics?.setCertificates(this.exportedCertificates())
    } catch (err) {
      this.logger.warn({ err }, 'could not read the organisations’ CA certificates for the expiry metric')
    }
  }

  /**
   * Admits a batch of wire-encoded txs: decode, stateless checks, executor precheck, replay check
   * against the ledger, signature verification on the worker pool, then the mempool. Each tx gets its
   * own result; a bad tx never affects the others.
   */
  async submit(raw: readonly Uint8Array[], options: { readonly gossip?: boolean } = {}): Promise<SubmitResult[]> {
    const results: SubmitResult[] = new Array(raw.length)
    if (this.stopping) {
      const error = nodeError({ code: 'NODE_STOPPING' }, 'the node is shutting down')
      return raw.map(() => ({ accepted: false, id: '', error }))
    }
    const { chainId } = this.chain.genesis
    const params = this.schedule.paramsAt(this.chain.tip.height + 1)
    const now = this.clock()
    const candidates: Array<{ i: number; tx: SignedTx }> = []
    const inBatch = new Set<string>()
    raw.forEach((bytes, i) => {
      let tx: SignedTx | undefined
      try {
        if (bytes.length > params.maxTxBytes) {
          throw new TrellisError(
            { code: 'TX_TOO_LARGE', size: bytes.length, max: params.maxTxBytes },
            `transaction is ${bytes.length} bytes, above the ${params.maxTxBytes}-byte limit`,
          )
        }
        tx = decodeSignedTx(bytes)
        validateTxStatic(tx, chainId, params, now)
        // Against the state the next block executes on: the tip's, blocks still being written
        // included. Read at the durable head, a revocation in the block being written was missed,
        // and the executor remembers admission reads for the whole next height.
        this.executor.precheck(tx, this.chain.tipState, { height: this.chain.tip.height + 1, now })
        const id = bytesToHex(tx.id)
        if (this.mempool.has(tx.id) || inBatch.has(id))
          throw nodeError({ code: 'TX_DUPLICATE', id }, `transaction ${id} is already pending`)
        inBatch.add(id)
        candidates.push({ i, tx })
      } catch (err) {
        results[i] = { accepted: false, id: tx === undefined ? '' : bytesToHex(tx.id), error: asTrellisError(err) }
      }
    })
    const heights = this.chain.committedHeights(candidates.map((c) => c.tx.id))
    const unseen = candidates.filter((c, k) => {
      const h = heights[k]
      if (h === undefined) return true
      const id = bytesToHex(c.tx.id)
      results[c.i] = {
        accepted: false,
        id,
        error: nodeError({ code: 'TX_ALREADY_COMMITTED', id, height: h }, `transaction ${id} was committed at height ${h}`),
      }
      return false
    })
    const sigOk = await this.verifier.verify(unseen.map((c) => c.tx))
    // A block may have committed (and left the mempool's in-flight set) during the await: check the
    // ledger again so a tx id is still accepted once, ever.
    const heightsNow = this.chain.committedHeights(unseen.map((c) => c.tx.id))
    let accepted = 0
    unseen.forEach((c, k) => {
      const id = bytesToHex(c.tx.id)
      const h = heightsNow[k]
      if (h !== undefined) {
        results[c.i] = {
          accepted: false,
          id,
          error: nodeError({ code: 'TX_ALREADY_COMMITTED', id, height: h }, `transaction ${id} was committed at height ${h}`),
        }
        return
      }
      if (!sigOk[k]) {
        const signer = bytesToHex(c.tx.body.signer.bytes)
        results[c.i] = {
          accepted: false,
          id,
          error: new TrellisError({ code: 'TX_BAD_SIGNATURE', signer }, 'signature is not a valid canonical signature by the signer'),
        }
        return
      }
      try {
        this.mempool.add(c.tx)
        results[c.i] = { accepted: true, id, tx: c.tx }
        accepted++
      } catch (err) {
        results[c.i] = { accepted: false, id, error: asTrellisError(err) }
      }
    })
    if (this.metrics !== null) {
      if (accepted > 0) this.metrics.txAccepted(accepted)
      for (const r of results) if (!r.accepted) this.metrics.txRejected(r.error.code)
    }
    if (accepted > 0) {
      this.producer.notify()
      this.consensus?.notify()
      if (options.gossip !== false && this.consensus !== undefined) {
        this.consensus.gossipTxs(results.flatMap((r, i) => (r.accepted ? [raw[i] as Uint8Array] : [])))
      }
    }
    return results
  }

  /** Resolves when the tx commits; the caller bounds the wait. */
  waitForCommit(idHex: string): { promise: Promise<CommitNotice>; cancel: () => void } {
    let resolveFn: (n: CommitNotice) => void = () => undefined
    const promise = new Promise<CommitNotice>((resolve) => {
      resolveFn = resolve
    })
    const list = this.waiters.get(idHex) ?? []
    list.push(resolveFn)
    this.waiters.set(idHex, list)
    const cancel = () => {
      const l = this.waiters.get(idHex)
      if (l === undefined) return
      const rest = l.filter((f) => f !== resolveFn)
      if (rest.length === 0) this.waiters.delete(idHex)
      else this.waiters.set(idHex, rest)
    }
    return { promise, cancel }
  }

  /** Stops accepting txs, finishes the block in progress, closes the API, workers and storage. */
  async close(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    clearInterval(this.sweepTimer)
    // Each step runs even if an earlier one fails, so storage is always closed last.
    try {
      await this.server?.close()
    } finally {
      try {
        await this.producer.stop()
        await this.consensus?.stop()
        await this.p2p?.close()
        await this.verifier.close()
      } finally {
        await closeStores(this.chain.store, this.chain.archive)
      }
    }
    this.logger.info({ height: this.chain.head.height }, 'node stopped')
  }

  get isStopping(): boolean {
    return this.stopping
  }
}

/** Normalises anything thrown during admission into a TrellisError with a documented code. */
export function asTrellisError(err: unknown): TrellisError {
  if (err instanceof TrellisError) return err
  return new TrellisError({ code: 'INTERNAL' }, 'internal error', { cause: err })
}
