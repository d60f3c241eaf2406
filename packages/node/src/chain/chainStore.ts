import {
  type Block,
  type BlockHeader,
  type CommitCertificate,
  decodeBlock,
  decodeCertificate,
  encodeBlock,
  encodeCertificate,
  type Genesis,
  genesisHash,
  headerHash,
  Reader,
  type Receipt,
  readReceipt,
  type SignedTx,
  StateTree,
  stateKeyHash,
  Writer,
} from '@trellis/ledger'
import type { BatchOp, KVStore } from '@trellis/storage'
import { bytesToHex, compareBytes, concatBytes, equalBytes, TrellisError } from '@trellis/utils'
import type { NodeErrorType } from '../errors.js'
import {
  ARCHIVE_END,
  archiveFrom,
  archiveGenesisKey,
  blockHashKey,
  blockKey,
  certKey,
  HISTORY_END,
  historyKey,
  historyLengthStart,
  MAX_HISTORY_KEY_BYTES,
  historyPrefix,
  latestKey,
  META,
  PREFIX,
  readU32,
  readU64,
  receiptsKey,
  STORE_FORMAT,
  treeKey,
  txIndexKey,
  txPosition,
  u64,
} from './layout.js'
import { LatestValueCache } from './latestCache.js'
import { RecentTxFilter } from './recentTxFilter.js'
import { StateKeyFilter } from './stateKeyFilter.js'
import { byteKey, byteKeyBytes } from '../byteKey.js'
import { ShardedMap } from '../shardedMap.js'

/** One state change made by a committed tx, in execution order. `value` null = deleted. */
export interface StateWrite {
  readonly stateKey: Uint8Array
  readonly value: Uint8Array | null
  readonly txIndex: number
  readonly txId: Uint8Array
}

/** Everything a block commits (see {@link ChainStore.commit} for how it is written). */
export interface BlockCommit {
  readonly block: Block
  readonly hash: Uint8Array
  readonly certificate: CommitCertificate
  /** Encoded receipts in tx order (exactly the receipt-root leaves). */
  readonly receiptBytes: readonly Uint8Array[]
  readonly writes: readonly StateWrite[]
  readonly treeWrites: ReadonlyArray<readonly [Uint8Array, Uint8Array]>
  /**
   * Nodes of the parent version this block's tree no longer references. They stay stored (past
   * versions remain readable and provable) but leave the node cache, which then holds the current
   * tree rather than superseded versions of it.
   */
  readonly treeStale?: readonly Uint8Array[]
  /**
   * The key hashes of the keys this block leaves holding a value (the block builder has them);
   * computed from `writes` when absent.
   */
  readonly setKeyHashes?: readonly Uint8Array[]
}

/** The chain head: the last committed block (height 0 is the genesis). */
export interface ChainHead {
  readonly height: number
  readonly hash: Uint8Array
  readonly header: BlockHeader | undefined
  readonly stateRoot: Uint8Array
  readonly timestamp: number
}

export interface HistoryEntry {
  readonly height: number
  readonly txIndex: number
  readonly txId: Uint8Array
  /** null when the tx deleted the key. */
  readonly value: Uint8Array | null
}

const REPLAY_MARGIN_MS = 10 * 60_000

/**
 * History records one query's range scans at past heights may read in all (~5 µs each; a key-length
 * probe, two iterators, counts as {@link SCAN_AT_PROBE} records): bounds the work a reader can ask
 * of the node, whatever the range's history holds (~0.1-0.2 s).
 */
export const SCAN_AT_RECORDS = 20_000
/** What one key length's probe counts against {@link SCAN_AT_RECORDS} (measured ~200 µs). */
export const SCAN_AT_PROBE = 40

/** What range scans at past heights may still read (see {@link ChainStore.scanAt}). */
export interface ScanBudget {
  readonly records: number
  left: number
}

export function scanBudget(records = SCAN_AT_RECORDS): ScanBudget {
  return { records, left: records }
}

function spend(budget: ScanBudget, records = 1): void {
  budget.left -= records
  if (budget.left < 0)
    throw new TrellisError<NodeErrorType>(
      { code: 'QUERY_HISTORY_TOO_LONG', records: budget.records },
      `range scans at a past height may read at most ${budget.records} history records per query; narrow the range or query the latest height`,
    )
}

function corrupt(reason: string): never {
  throw new TrellisError<NodeErrorType>({ code: 'CHAIN_CORRUPT', reason }, `chain store is corrupt: ${reason}`)
}

function encodeHistoryValue(w: StateWrite): Uint8Array {
  return concatBytes(Uint8Array.of(w.value === null ? 1 : 0), w.txId, w.value ?? new Uint8Array(0))
}

/** Deletes at most this many archive records per batch when removing those above the head. */
const CLEANUP_BATCH = 10_000
/**
 * Blocks a producer writes at once: after a crash, archive records at most this far above the head
 * are orphans of unfinished commits; records further up mean the main store is older than the archive.
 */
const MAX_BLOCKS_IN_FLIGHT = 2

/**
 * The node's persistent chain: blocks, certificates, receipts, indexes, latest state, per-key history
 * and state-tree nodes. The append-only records (blocks, certificates, receipts, tree nodes) go to
 * the `archive` store, the indexes, latest values, history and the head to the main `store`; both may
 * be the same store. A crash at any moment leaves the previous head intact (see {@link commit}).
 */
export class ChainStore {
  readonly tree: StateTree
  private _head: ChainHead
  private readonly recent: RecentTxFilter
  /** Every state key that held a value (see {@link getLatest}). */
  private readonly stateKeys = new StateKeyFilter()

  private constructor(
    /** Indexes, latest values, history, the head, and the consensus write-ahead log. */
    readonly store: KVStore,
    /** Blocks, certificates, receipts and state-tree nodes (may be `store` itself). */
    readonly archive: KVStore,
    readonly genesis: Genesis,
    readonly genesisHash: Uint8Array,
    now: number,
    head: ChainHead,
  ) {
    this._head = head
    // Ten minutes of margin for the admission clock running ahead of (or stepping back from) block time.
    this.recent = new RecentTxFilter(genesis.params.maxTxTtlMs + REPLAY_MARGIN_MS, now)
    this.tree = new StateTree({ getNode: (k: Uint8Array) => this.getTreeNode(k) })
  }

  // State-tree nodes of recent versions are read again by the next blocks (the upper levels by every
  // block): a write-through cache saves most LevelDB reads on the execution path.
  private static readonly NODE_CACHE_SIZE = 100_000
  private readonly nodeCache = new ShardedMap<Uint8Array>(ChainStore.NODE_CACHE_SIZE)
  /** Entries one shard of {@link nodeCache} holds at most. */
  private readonly nodeShardSize = ChainStore.NODE_CACHE_SIZE / this.nodeCache.shardCount
  /** Nodes the last blocks wrote, as cached (views into their arena chunks): oldest block first. */
  private readonly youngNodes: Array<Array<readonly [string, Uint8Array]>> = []
  private static readonly YOUNG_NODE_BLOCKS = 4
  /** Latest values at the head of recently read or written keys (see {@link getLatest}). */
  private readonly latestCache = new LatestValueCache(200_000, 64 * 1024 * 1024)

  /**
   * The blocks being written, oldest first: their latest values and state-tree nodes, so the producer
   * can execute the next block on top of them while their batches are written. Reads through the
   * chain's own methods never see them — everything they return is durable.
   */
  private pending: PendingBlock[] = []
  /** The last archive write issued, settled either way: archive writes are issued in height order. */
  private archiveQueue: Promise<unknown> = Promise.resolve()
  private _lastWriteFailure: unknown

  /** The error of the last commit that failed, if any: why blocks being written left the tip. */
  get lastWriteFailure(): unknown {
    return this._lastWriteFailure
  }

  private getTreeNode(k: Uint8Array): Uint8Array | undefined {
    const id = byteKey(k)
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const staged = (this.pending[i] as PendingBlock).nodes.get(id)
      if (staged !== undefined) return staged
    }
    const hit = this.nodeCache.get(id)
    if (hit !== undefined) return hit
    const v = this.archive.get(treeKey(k))
    if (v !== undefined) this.cacheNode(id, v)
    return v
  }

  private cacheNode(id: string, v: Uint8Array): void {
    const shard = this.nodeCache.shard(id)
    if (shard.size >= this.nodeShardSize) {
      // Drop the shard's oldest tenth (Map iteration is insertion order).
      let n = Math.ceil(this.nodeShardSize / 10)
      for (const k of shard.keys()) {
        shard.delete(k)
        if (--n === 0) break
      }
    }
    shard.set(id, v)
  }

  /**
   * Opens the chain in `store` (and `archive`, by default the same store), initialising it from
   * `genesis` when empty. Archive records above the head — a block whose archive write landed but whose
   * main write did not — are deleted.
   * @throws TrellisError GENESIS_MISMATCH when the store belongs to another chain | STORE_FORMAT_UNSUPPORTED
   * when it was written by an incompatible version | CHAIN_CORRUPT
   */
  static async open(store: KVStore, genesis: Genesis, now: number = Date.now(), archive: KVStore = store): Promise<ChainStore> {
    const gHash = genesisHash(genesis)
    const stored = store.get(META.genesis)
    if (stored === undefined) {
      if (archive !== store) await checkArchive(archive, gHash, true)
      // Version 0 of the state tree is the empty genesis state. The archive is written first, as by
      // every commit: the main store never names a record the archive lacks.
      const t = new StateTree({ getNode: (k: Uint8Array) => archive.get(treeKey(k)) })
      const { writes } = t.update(null, 0, [])
      const treeOps: BatchOp[] = writes.map(([k, v]) => ({ type: 'put', key: treeKey(k), value: v }))
      treeOps.push({ type: 'put', key: archiveGenesisKey(), value: gHash })
      const format = new Uint8Array(4)
      new DataView(format.buffer).setUint32(0, STORE_FORMAT)
      const ops: BatchOp[] = [
        { type: 'put', key: META.format, value: format },
        { type: 'put', key: META.genesis, value: gHash },
        { type: 'put', key: META.head, value: u64(0) },
      ]
      if (archive === store) await store.write([...treeOps, ...ops], { sync: true })
      else {
        await archive.write(treeOps, { sync: true })
        await store.write(ops, { sync: true })
      }
    } else if (!equalBytes(stored, gHash)) {
      throw new TrellisError<NodeErrorType>(
        { code: 'GENESIS_MISMATCH', expected: bytesToHex(stored), got: bytesToHex(gHash) },
        'the data directory holds a different chain than this genesis',
      )
    } else {
      const f = store.get(META.format)
      const found = f?.length === 4 ? readU32(f) : null
      if (found !== STORE_FORMAT) {
        throw new TrellisError<NodeErrorType>(
          { code: 'STORE_FORMAT_UNSUPPORTED', found, expected: STORE_FORMAT },
          `the data directory was written in storage format ${found ?? 1}; this version reads format ${STORE_FORMAT} only (start a new data directory)`,
        )
      }
      if (archive !== store) await checkArchive(archive, gHash, false)
    }
    const cs = new ChainStore(store, archive, genesis, gHash, now, {
      height: 0,
      hash: gHash,
      header: undefined,
      stateRoot: new Uint8Array(32),
      timestamp: genesis.genesisTime,
    })
    cs._head = cs.loadHead()
    if (archive !== store) await cs.deleteArchiveAbove(cs._head.height)
    cs.warmRecentTxs(now)
    await cs.loadStateKeys()
    return cs
  }

  /** Fills the filter of existing state keys from the latest-value index (once, at start-up). */
  private async loadStateKeys(): Promise<void> {
    const start = Uint8Array.of(PREFIX.latest)
    const end = Uint8Array.of(PREFIX.latest + 1)
    for await (const [k] of this.store.iterate({ gte: start, lt: end })) this.stateKeys.add(stateKeyHash(k.subarray(1)))
  }

  /**
   * Deletes every archive record above `height`, written by commits whose main write never landed.
   * Records further above than the blocks a producer writes at once are refused instead: then the main
   * store is older than the archive (restored from a backup, or another node's), and deleting would
   * destroy committed blocks.
   */
  private async deleteArchiveAbove(height: number): Promise<void> {
    for await (const [k] of this.archive.iterate({ gte: archiveFrom(height + 1), lt: ARCHIVE_END, reverse: true, limit: 1 })) {
      const top = readU64(k, 1)
      if (top > height + MAX_BLOCKS_IN_FLIGHT) {
        corrupt(`the archive holds records up to height ${top}, far above the head ${height}: the main store is older than the archive`)
      }
    }
    for (;;) {
      const ops: BatchOp[] = []
      for await (const [k] of this.archive.iterate({ gte: archiveFrom(height + 1), lt: ARCHIVE_END, limit: CLEANUP_BATCH }))
        ops.push({ type: 'del', key: k })
      if (ops.length === 0) return
      await this.archive.write(ops, { sync: true })
    }
  }

  private loadHead(): ChainHead {
    const h = this.store.get(META.head)
    if (h === undefined) corrupt('no head')
    const height = readU64(h)
    if (height === 0) {
      return { height: 0, hash: this.genesisHash, header: undefined, stateRoot: this.tree.root(0), timestamp: this.genesis.genesisTime }
    }
    const b = this.archive.get(blockKey(height))
    if (b === undefined) corrupt(`head block ${height} missing`)
    const block = decodeBlock(b)
    if (this.archive.get(certKey(height)) === undefined) corrupt(`certificate of head block ${height} missing`)
    const hash = headerHash(block.header)
    return { height, hash, header: block.header, stateRoot: block.header.stateRoot, timestamp: block.header.timestamp }
  }

  get head(): ChainHead {
    return this._head
  }

  /** Latest committed value of a state key (synchronous: the executor's read path). */
  getLatest(stateKey: Uint8Array): Uint8Array | undefined {
    return this.latestAtHead(stateKey, byteKey(stateKey))
  }

  /** {@link getLatest} of a key whose {@link byteKey} is `id`. */
  private latestAtHead(stateKey: Uint8Array, id: string): Uint8Array | undefined {
    const hit = this.latestCache.get(id)
    if (hit !== undefined) return hit ?? undefined
    // Reads of absent keys (every insert checks first) are answered by the filter of keys that ever
    // held a value, else by the state tree, whose upper nodes are cached, instead of a LevelDB miss
    // (~20 µs: classic-level has no bloom filters). What the filter answers is not cached: it is
    // cheap, and new keys (one per notarised document) would push the hot ones out.
    const keyHash = stateKeyHash(stateKey)
    if (!this.stateKeys.mightContain(keyHash)) return undefined
    const value = this.tree.get(this._head.height, keyHash) === undefined ? undefined : this.store.get(latestKey(stateKey))
    this.latestCache.set(id, value ?? null)
    return value
  }

  /**
   * The chain's tip for building the next block: the last block being written when there is one, else
   * the head. Only block production builds on it; everything else reads the durable {@link head}.
   */
  get tip(): ChainHead {
    return this.pending.at(-1)?.head ?? this._head
  }

  /** State as of {@link tip}: the latest values including those of the blocks being written. */
  readonly tipState: {
    getLatest(stateKey: Uint8Array): Uint8Array | undefined
    scanLatest(lower: Uint8Array, upper: Uint8Array, reverse: boolean, limit: number): Promise<Array<[Uint8Array, Uint8Array]>>
  } = {
    scanLatest: (lower, upper, reverse, limit) => this.scanLatest(lower, upper, reverse, limit, true),
    getLatest: (stateKey) => {
      const id = byteKey(stateKey)
      for (let i = this.pending.length - 1; i >= 0; i--) {
        const v = (this.pending[i] as PendingBlock).latest.get(id)
        if (v !== undefined) return v ?? undefined
      }
      return this.latestAtHead(stateKey, id)
    },
  }

  /**
   * Latest values of state keys in `[lower, upper)` (byte order), at most `limit`, as of the durable
   * head — or, with `tip`, including the blocks being written.
   */
  async scanLatest(
    lower: Uint8Array,
    upper: Uint8Array,
    reverse: boolean,
    limit: number,
    tip = false,
  ): Promise<Array<[Uint8Array, Uint8Array]>> {
    // The pending blocks are captured before the store is read: whether or not their batches have
    // landed by then, overlaying their writes (older first, so newer ones win) gives the tip's state.
    const overlay = new Map<string, [Uint8Array, Uint8Array | null]>()
    for (const p of tip ? this.pending : []) {
      for (const [id, v] of p.latest) {
        const k = byteKeyBytes(id)
        if (compareBytes(k, lower) >= 0 && compareBytes(k, upper) < 0) overlay.set(id, [k, v])
      }
    }
    const deleted = [...overlay.values()].filter(([, v]) => v === null).length
    const base: Array<[Uint8Array, Uint8Array]> = []
    for await (const [k, v] of this.store.iterate({ gte: latestKey(lower), lt: latestKey(upper), reverse, limit: limit + deleted })) {
      base.push([k.subarray(1), v])
    }
    return mergeOverlay(base, [...overlay.values()], reverse, limit)
  }

  /**
   * State keys in `[lower, upper)` (byte order) with their values after block `height`, at most
   * `limit`, from the per-key history. History entries sort by key length first, so the keys of each
   * length that the history holds are read on their own (lengths with no entry are skipped in one
   * read) and the lengths' answers merged.
   *
   * A past height's range scan reads every version of the keys it passes, deleted ones and later
   * ones too, and probes every key length the chain's history holds above the bounds' common part:
   * its work grows with that history, not with its answer. `budget` bounds what it reads (shared by
   * the scans of one query).
   * @throws TrellisError QUERY_HISTORY_TOO_LONG when the budget runs out
   */
  async scanAt(
    lower: Uint8Array,
    upper: Uint8Array,
    reverse: boolean,
    limit: number,
    height: number,
    budget: ScanBudget = scanBudget(),
  ): Promise<Array<[Uint8Array, Uint8Array]>> {
    if (limit <= 0 || compareBytes(lower, upper) >= 0) return []
    // Every key in the range starts with what the bounds have in common, so it is at least that long.
    let length = 0
    while (length < lower.length && length < upper.length && lower[length] === upper[length]) length++
    const found: Array<[Uint8Array, Uint8Array]> = []
    for (; length <= MAX_HISTORY_KEY_BYTES; length++) {
      let next: number | undefined
      spend(budget, SCAN_AT_PROBE)
      for await (const [k] of this.store.iterate({ gte: historyLengthStart(length), lt: HISTORY_END, limit: 1 })) {
        next = ((k[1] as number) << 8) | (k[2] as number)
      }
      if (next === undefined) break
      length = next
      found.push(...(await this.scanLengthAt(length, lower, upper, reverse, limit, height, budget)))
    }
    const sign = reverse ? -1 : 1
    return found.sort((a, b) => sign * compareBytes(a[0], b[0])).slice(0, limit)
  }

  /** {@link scanAt} for the keys `length` bytes long. */
  private async scanLengthAt(
    length: number,
    lower: Uint8Array,
    upper: Uint8Array,
    reverse: boolean,
    limit: number,
    height: number,
    budget: ScanBudget,
  ): Promise<Array<[Uint8Array, Uint8Array]>> {
    // A bound cut or zero-padded to `length` bytes; keys are compared to the real bounds below.
    const fit = (b: Uint8Array) => {
      const out = new Uint8Array(length)
      out.set(b.subarray(0, length))
      return out
    }
    // Keys of this length below `upper`: below `upper` padded when it is not longer, else up to and
    // including `upper` cut (a proper prefix of it), every version.
    const range =
      upper.length <= length
        ? { gte: historyPrefix(fit(lower)), lt: historyPrefix(fit(upper)) }
        : { gte: historyPrefix(fit(lower)), lte: concatBytes(historyPrefix(fit(upper)), new Uint8Array(12).fill(0xff)) }
    const out: Array<[Uint8Array, Uint8Array]> = []
    let key: Uint8Array | undefined
    // The key's value at `height`: undefined before its first version, null once deleted.
    let value: Uint8Array | null | undefined
    const settle = () => {
      if (key !== undefined && value != null && compareBytes(key, lower) >= 0 && compareBytes(key, upper) < 0) out.push([key, value])
    }
    for await (const [k, v] of this.store.iterate({ ...range, reverse })) {
      spend(budget)
      const sk = k.subarray(3, 3 + length)
      if (key === undefined || !equalBytes(sk, key)) {
        settle()
        if (out.length >= limit) return out
        key = sk.slice()
        value = undefined
      }
      if (readU64(k, 3 + length) > height) continue
      // Ascending, a later version at or below the height replaces the one before; descending, the
      // first one met is the latest.
      if (!reverse || value === undefined) value = v[0] === 1 ? null : v.slice(33)
    }
    settle()
    return out
  }

  /** Where a committed tx is, or undefined (also while its block's head move is pending). */
  txLocation(id: Uint8Array): { height: number; index: number } | undefined {
    const v = this.store.get(txIndexKey(id))
    if (v === undefined) return undefined
    // The main batch lands before the head moves (in its completion callback): a read in between sees
    // the index entry, but not yet the block.
    const height = readU64(v)
    return height > this._head.height ? undefined : { height, index: readU32(v, 8) }
  }

  /**
   * Batched committed-ness check for admission and block building. Only ids the recent-tx filter
   * cannot rule out are looked up in the ledger index. Ids outside the filter's window are reported
   * as not committed; callers reject those as expired first (see {@link RecentTxFilter}).
   */
  committedHeights(ids: readonly Uint8Array[]): (number | undefined)[] {
    const out: (number | undefined)[] = new Array(ids.length).fill(undefined)
    const maybe: number[] = []
    for (let i = 0; i < ids.length; i++) if (this.recent.mightContain(ids[i] as Uint8Array)) maybe.push(i)
    if (maybe.length === 0) return out
    const found = this.store.getMany(maybe.map((i) => txIndexKey(ids[i] as Uint8Array)))
    maybe.forEach((i, k) => {
      const v = found[k]
      if (v !== undefined) out[i] = readU64(v)
    })
    return out
  }

  /**
   * Loads the ids of txs committed within the replay window (blocks newer than 2 × maxTxTtlMs)
   * into the recent-tx filter. Called once at start-up.
   */
  private warmRecentTxs(now: number): void {
    const horizon = now - 2 * (this.genesis.params.maxTxTtlMs + REPLAY_MARGIN_MS)
    for (let h = this._head.height; h >= 1; h--) {
      const block = this.getBlock(h)
      if (block === undefined || block.header.timestamp < horizon) break
      for (const tx of block.txs) this.recent.add(tx.id, now)
    }
  }

  // The archive may hold the block being committed (and, after a crash, records of a block that was
  // never committed): reads above the head find nothing.

  getBlock(height: number): Block | undefined {
    if (height > this._head.height) return undefined
    const b = this.archive.get(blockKey(height))
    return b === undefined ? undefined : decodeBlock(b)
  }

  heightOfHash(hash: Uint8Array): number | undefined {
    const v = this.store.get(blockHashKey(hash))
    if (v === undefined) return undefined
    const height = readU64(v)
    return height > this._head.height ? undefined : height
  }

  getCertificate(height: number): CommitCertificate | undefined {
    if (height > this._head.height) return undefined
    const c = this.archive.get(certKey(height))
    return c === undefined ? undefined : decodeCertificate(c)
  }

  /** The encoded receipts of a block (the receipt-root leaves) and their decoded form. */
  getReceipts(height: number): { bytes: Uint8Array[]; receipts: Receipt[] } | undefined {
    if (height > this._head.height) return undefined
    const raw = this.archive.get(receiptsKey(height))
    if (raw === undefined) return undefined
    const r = new Reader(raw)
    const n = r.count()
    const bytes: Uint8Array[] = []
    const receipts: Receipt[] = []
    for (let i = 0; i < n; i++) {
      const b = r.bytes()
      bytes.push(b)
      const rr = new Reader(b)
      receipts.push(readReceipt(rr))
      rr.end()
    }
    r.end()
    return { bytes, receipts }
  }

  /** The value a state key had at `height` (after that block), or null when absent. */
  async getValueAt(stateKey: Uint8Array, height: number): Promise<HistoryEntry | undefined> {
    // Longer keys cannot be written (TX_LIMITS.maxKeyBytes), nor filed in the history.
    if (stateKey.length > MAX_HISTORY_KEY_BYTES) return undefined
    const prefix = historyPrefix(stateKey)
    for await (const [k, v] of this.store.iterate({
      gte: prefix,
      lte: historyKey(stateKey, height, 0xffffffff),
      reverse: true,
      limit: 1,
    })) {
      return decodeHistory(k, v, prefix.length)
    }
    return undefined
  }

  /** Newest-first page of a key's history, starting strictly before `(beforeHeight, beforeIndex)`. */
  async history(stateKey: Uint8Array, limit: number, before?: { height: number; txIndex: number }): Promise<HistoryEntry[]> {
    if (stateKey.length > MAX_HISTORY_KEY_BYTES) return []
    const prefix = historyPrefix(stateKey)
    const out: HistoryEntry[] = []
    const range =
      before === undefined
        ? { gte: prefix, lt: concatBytes(prefix, u64(Number.MAX_SAFE_INTEGER)) }
        : { gte: prefix, lt: historyKey(stateKey, before.height, before.txIndex) }
    for await (const [k, v] of this.store.iterate({ ...range, reverse: true, limit })) out.push(decodeHistory(k, v, prefix.length))
    return out
  }

  /** @internal Whether the key filter alone lets `stateKey` hold a value at the head (for tests). */
  keyFilterMightContain(stateKey: Uint8Array): boolean {
    return this.stateKeys.mightContain(stateKeyHash(stateKey))
  }

  /**
   * Writes a block and all it changes, then moves the head. The block becomes the {@link tip}
   * synchronously, before the write completes, so the next block can be executed — and committed — on
   * top of it meanwhile. Blocks become durable, and the head moves, in height order. When a block's
   * write fails, the blocks committed on top of it fail too and leave the tip.
   *
   * With one store, each block is one atomic batch. With a separate archive, a block's archive batch
   * (block, certificate, receipts, tree nodes) is written first — with `sync`, durably — and its main
   * batch (indexes, latest values, history, head) only once that and the block below are written; the
   * next block's archive batch may be written meanwhile. Each batch is atomic, so after a crash the
   * main store's head names a block whose archive records are all there; archive records above the
   * head are deleted on {@link open}.
   */
  async commit(c: BlockCommit, options: { sync: boolean }): Promise<void> {
    const { header } = c.block
    const tip = this.tip
    if (header.height !== tip.height + 1) corrupt(`commit of height ${header.height} on tip ${tip.height}`)
    const archiveOps: BatchOp[] = []
    archiveOps.push({ type: 'put', key: blockKey(header.height), value: encodeBlock(c.block) })
    archiveOps.push({ type: 'put', key: certKey(header.height), value: encodeCertificate(c.certificate) })
    const rw = new Writer(64 * c.receiptBytes.length + 8).varint(c.receiptBytes.length)
    for (const r of c.receiptBytes) rw.bytes(r)
    archiveOps.push({ type: 'put', key: receiptsKey(header.height), value: rw.finish() })
    const nodes = new ShardedMap<Uint8Array>(c.treeWrites.length)
    for (const [k, v] of c.treeWrites) {
      nodes.set(byteKey(k), v)
      archiveOps.push({ type: 'put', key: treeKey(k), value: v })
    }
    const shared = this.archive === this.store
    const ops: BatchOp[] = shared ? archiveOps : []
    const hb = u64(header.height)
    ops.push({ type: 'put', key: blockHashKey(c.hash), value: hb })
    const txs = c.block.txs
    for (let i = 0; i < txs.length; i++)
      ops.push({ type: 'put', key: txIndexKey((txs[i] as SignedTx).id), value: txPosition(header.height, i) })
    // Latest values: only the last write per key in the block matters.
    const last = new ShardedMap<StateWrite>(c.writes.length)
    for (const w of c.writes) {
      last.set(byteKey(w.stateKey), w)
      ops.push({ type: 'put', key: historyKey(w.stateKey, header.height, w.txIndex), value: encodeHistoryValue(w) })
    }
    const latest = new ShardedMap<Uint8Array | null>(c.writes.length)
    last.forEach((w, k) => {
      latest.set(k, w.value)
      ops.push(w.value === null ? { type: 'del', key: latestKey(w.stateKey) } : { type: 'put', key: latestKey(w.stateKey), value: w.value })
    })
    ops.push({ type: 'put', key: META.head, value: hb })
    const head: ChainHead = { height: header.height, hash: c.hash, header, stateRoot: header.stateRoot, timestamp: header.timestamp }
    const below = this.pending.at(-1)
    const archived = shared ? undefined : this.archiveQueue.then(() => this.archive.write(archiveOps, { sync: options.sync }))
    if (archived !== undefined) this.archiveQueue = archived.catch(() => undefined)
    const written = (async () => {
      await archived
      // A block is only committed on top of its parent: when that write failed, this one fails too.
      await below?.written
      await this.store.write(ops, { sync: options.sync })
    })()
    const entry: PendingBlock = { head, latest, nodes, written }
    this.pending.push(entry)
    try {
      await written
    } catch (err) {
      // This block and those built on it (unless a failure below removed them already) leave the tip.
      const i = this.pending.indexOf(entry)
      if (i >= 0) {
        this.pending.length = i
        this._lastWriteFailure = err
      }
      throw err
    }
    // Main writes complete in height order, so this block is the oldest pending one.
    if (this.pending[0] !== entry) corrupt(`block ${header.height} written before the blocks below it`)
    this.pending.shift()
    this._lastWriteFailure = undefined
    for (const k of c.treeStale ?? []) this.nodeCache.delete(byteKey(k))
    this.cacheWrittenNodes(nodes)
    for (const tx of c.block.txs) this.recent.add(tx.id, header.timestamp)
    // Before the head moves (synchronously with it): a read at the new head must find these keys.
    if (c.setKeyHashes !== undefined) for (const h of c.setKeyHashes) this.stateKeys.add(h)
    else last.forEach((w) => w.value !== null && this.stateKeys.add(stateKeyHash(w.stateKey)))
    this.cacheLatest(latest)
    this._head = head
  }

  /**
   * Caches the nodes a block wrote. A written node is a view into its block's arena chunk (1 MiB),
   * and the cache keeps nodes of many blocks, which would keep all those chunks alive: the nodes
   * still cached {@link YOUNG_NODE_BLOCKS} blocks later are copied out, into one array per block (a
   * copy each cost a malloc'd backing store, 1.6 per tx), which lives while any of them is cached.
   * By then most were superseded and left the cache; copying every node at once cost a fresh array
   * per block whose first writes fault its pages in (~17 ms for a 6 MB block on this machine kind).
   */
  private cacheWrittenNodes(nodes: ShardedMap<Uint8Array>): void {
    const young: Array<readonly [string, Uint8Array]> = []
    nodes.forEach((v, id) => {
      this.cacheNode(id, v)
      young.push([id, v])
    })
    this.youngNodes.push(young)
    if (this.youngNodes.length <= ChainStore.YOUNG_NODE_BLOCKS) return
    const kept = (this.youngNodes.shift() ?? []).filter(([id, v]) => this.nodeCache.get(id) === v)
    const copies = packedCopies(
      kept.map(([, v]) => v),
      Infinity,
    )
    // Set in place: the entries keep their age in the cache.
    kept.forEach(([id], i) => this.nodeCache.set(id, copies[i] as Uint8Array))
  }

  /**
   * Puts a block's latest values in the cache as the head moves to it. Copied, like tree nodes (a
   * written value may be a view into a pooled slab), into arrays of at most 64 KiB: the cache counts
   * what each array keeps alive.
   */
  private cacheLatest(latest: ShardedMap<Uint8Array | null>): void {
    const present: Array<[string, Uint8Array]> = []
    latest.forEach((v, id) => {
      if (v === null) this.latestCache.set(id, null)
      else present.push([id, v])
    })
    const copies = packedCopies(
      present.map(([, v]) => v),
      64 * 1024,
    )
    present.forEach(([id], i) => this.latestCache.set(id, copies[i] as Uint8Array))
  }
}

/**
 * Copies of `values`, in order, as views into arrays of at most `chunkBytes` (a larger value gets
 * its own): one allocation per chunk instead of one backing store per value.
 */
function packedCopies(values: readonly Uint8Array[], chunkBytes: number): Uint8Array[] {
  const out: Uint8Array[] = []
  let chunk = new Uint8Array(0)
  let at = 0
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as Uint8Array
    if (at + v.length > chunk.length) {
      // This value and the next ones, up to a chunk.
      let size = 0
      for (let j = i; j < values.length; j++) {
        const n = (values[j] as Uint8Array).length
        if (size > 0 && size + n > chunkBytes) break
        size += n
      }
      chunk = new Uint8Array(size)
      at = 0
    }
    chunk.set(v, at)
    out.push(chunk.subarray(at, at + v.length))
    at += v.length
  }
  return out
}

interface PendingBlock {
  readonly head: ChainHead
  /** Settles when the block's main batch is written (or its write, or a lower block's, failed). */
  readonly written: Promise<void>
  /** Last value per state key (by {@link byteKey}); null = deleted. */
  readonly latest: ShardedMap<Uint8Array | null>
  readonly nodes: ShardedMap<Uint8Array>
}

/**
 * Merges a sorted base range with overlay writes (null = deleted) that take precedence, keeping the
 * order (`reverse`: descending) and at most `limit` entries.
 */
export function mergeOverlay(
  base: ReadonlyArray<readonly [Uint8Array, Uint8Array]>,
  overlay: ReadonlyArray<readonly [Uint8Array, Uint8Array | null]>,
  reverse: boolean,
  limit: number,
): Array<[Uint8Array, Uint8Array]> {
  if (overlay.length === 0) return base.slice(0, limit) as Array<[Uint8Array, Uint8Array]>
  const merged = new Map<string, [Uint8Array, Uint8Array | null]>()
  for (const [k, v] of base) merged.set(byteKey(k), [k, v])
  for (const [k, v] of overlay) merged.set(byteKey(k), [k, v])
  const sign = reverse ? -1 : 1
  return [...merged.values()]
    .filter((e): e is [Uint8Array, Uint8Array] => e[1] !== null)
    .sort((a, b) => sign * compareBytes(a[0], b[0]))
    .slice(0, limit)
}

/**
 * Refuses an archive that belongs to another chain, or one that holds blocks while the main store is
 * empty (a wiped or missing main store: starting over would delete those blocks).
 */
async function checkArchive(archive: KVStore, gHash: Uint8Array, mainEmpty: boolean): Promise<void> {
  const marker = archive.get(archiveGenesisKey())
  if (marker !== undefined && !equalBytes(marker, gHash)) {
    throw new TrellisError<NodeErrorType>(
      { code: 'GENESIS_MISMATCH', expected: bytesToHex(marker), got: bytesToHex(gHash) },
      'the archive holds a different chain than this genesis',
    )
  }
  if (!mainEmpty) {
    if (marker === undefined) corrupt('the archive has no genesis record: it is not this chain archive')
    return
  }
  for await (const [k] of archive.iterate({ gte: archiveFrom(1), lt: ARCHIVE_END, limit: 1 })) {
    corrupt(`the main store is empty but the archive holds blocks (from height ${readU64(k, 1)}): remove both to start over`)
  }
}

function decodeHistory(k: Uint8Array, v: Uint8Array, prefixLength: number): HistoryEntry {
  return {
    height: readU64(k, prefixLength),
    txIndex: readU32(k, prefixLength + 8),
    txId: v.slice(1, 33),
    value: v[0] === 1 ? null : v.slice(33),
  }
}
