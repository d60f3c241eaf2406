import type { ServerResponse } from 'node:http'
import type { BlockMessage, EventMessage } from '@trellis/api'
import { valueToJSON } from '@trellis/ledger'
import { bytesToHex } from '@trellis/utils'
import type { ChainStore } from '../chain/chainStore.js'
import type { CommitBus } from '../events/commitBus.js'
import type { CommittedBlock } from '../producer/blockProducer.js'

export interface StreamFilter {
  readonly fromHeight: number | undefined
  /** Resume point from Last-Event-ID: messages at or before it are not sent again. */
  readonly after: { readonly height: number; readonly txIndex: number; readonly eventIndex: number } | undefined
  readonly contract: string | undefined
  readonly name: string | undefined
  readonly blocks: boolean
  readonly events: boolean
}

// A slow consumer is cut off rather than buffered without bound; it resumes with fromHeight.
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024
const HEARTBEAT_MS = 15_000
const MAX_BUFFERED_BLOCKS = 1_000
const DRAIN_TIMEOUT_MS = 30_000

function formatBlock(b: CommittedBlock, f: StreamFilter): string {
  let out = ''
  const height = b.block.header.height
  const a = f.after
  const seen = (txIndex: number, eventIndex: number) =>
    a !== undefined && height === a.height && (txIndex < a.txIndex || (txIndex === a.txIndex && eventIndex <= a.eventIndex))
  // The block message precedes its events, so any resume point inside block h has already seen it.
  if (f.blocks && !(a !== undefined && height <= a.height)) {
    const msg: BlockMessage = {
      height,
      hash: bytesToHex(b.hash),
      timestamp: b.block.header.timestamp,
      txIds: b.block.txs.map((t) => bytesToHex(t.id)),
    }
    out += `event: block\nid: ${height}\ndata: ${JSON.stringify(msg)}\n\n`
  }
  if (f.events) {
    b.receipts.forEach((r, txIndex) => {
      r.events.forEach((e, eventIndex) => {
        if (f.contract !== undefined && e.contract !== f.contract) return
        if (f.name !== undefined && e.name !== f.name) return
        if (seen(txIndex, eventIndex) || (a !== undefined && height < a.height)) return
        const msg: EventMessage = {
          height,
          txIndex,
          eventIndex,
          txId: bytesToHex(r.txId),
          contract: e.contract,
          name: e.name,
          data: valueToJSON(e.data),
        }
        out += `event: event\nid: ${height}-${txIndex}-${eventIndex}\ndata: ${JSON.stringify(msg)}\n\n`
      })
    })
  }
  return out
}

function committedFromStore(chain: ChainStore, height: number): CommittedBlock | undefined {
  const block = chain.getBlock(height)
  const certificate = chain.getCertificate(height)
  const receipts = chain.getReceipts(height)
  if (block === undefined || certificate === undefined || receipts === undefined) return undefined
  return { block, hash: certificate.blockHash, certificate, receipts: receipts.receipts }
}

/**
 * Serves one SSE connection: replays committed blocks from `fromHeight`, then streams new ones with
 * no gap and no duplicate (live blocks are buffered while the replay runs).
 */
export async function serveEventStream(
  res: ServerResponse,
  chain: ChainStore,
  bus: CommitBus,
  f: StreamFilter,
  streams: Set<ServerResponse>,
): Promise<void> {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  })
  res.write('retry: 1000\n\n')
  streams.add(res)
  let closed = false
  let replaying = true
  const buffered: CommittedBlock[] = []
  // Errors on a dying connection (e.g. a write racing shutdown) end this stream, never the node.
  res.on('error', () => res.destroy())
  const send = (text: string): void => {
    if (closed || res.writableEnded || res.destroyed || text.length === 0) return
    res.write(text)
    if (res.writableLength > MAX_BUFFERED_BYTES) res.destroy()
  }
  const unsubscribe = bus.subscribe((b) => {
    if (replaying) {
      // A client that does not read while its replay runs must not make the node buffer the chain.
      if (buffered.length >= MAX_BUFFERED_BLOCKS) res.destroy()
      else buffered.push(b)
    }
    // fromHeight may lie above the head: blocks below it are not wanted, live or replayed.
    else if (f.fromHeight === undefined || b.block.header.height >= f.fromHeight) send(formatBlock(b, f))
  })
  const heartbeat = setInterval(() => send(': keep-alive\n\n'), HEARTBEAT_MS)
  res.once('close', () => {
    closed = true
    unsubscribe()
    clearInterval(heartbeat)
    streams.delete(res)
  })
  const replayTo = chain.head.height
  if (f.fromHeight !== undefined) {
    for (let h = Math.max(1, f.fromHeight); h <= replayTo && !closed; h++) {
      const b = committedFromStore(chain, h)
      if (b !== undefined) send(formatBlock(b, f))
      if (res.writableLength > 1024 * 1024) {
        const drained = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(false), DRAIN_TIMEOUT_MS)
          res.once('drain', () => resolve(true)).once('close', () => resolve(false))
          t.unref()
        })
        if (!drained) {
          res.destroy()
          return
        }
      }
    }
  }
  for (const b of buffered)
    if (b.block.header.height > replayTo && (f.fromHeight === undefined || b.block.header.height >= f.fromHeight)) send(formatBlock(b, f))
  replaying = false
}
