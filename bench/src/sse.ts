import { type ClientRequest, request } from 'node:http'
import type { BlockMessage } from '@trellis/api'

/** One SSE message (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export interface SseMessage {
  readonly event: string
  readonly id: string | undefined
  readonly data: string
}

/**
 * Incremental SSE parser: feed it text chunks as they arrive, get whole messages back. Handles
 * CRLF/LF/CR line ends, comments, multi-line data and lines split across chunks.
 */
export class SseParser {
  private pieces: string[] = []
  private event = ''
  private id: string | undefined
  private data: string[] = []
  private lastWasCR = false

  constructor(private readonly onMessage: (m: SseMessage) => void) {}

  push(chunk: string): void {
    // A CR that ended the previous chunk already ended its line: drop the LF that completes a CRLF.
    const text = this.lastWasCR && chunk.startsWith('\n') ? chunk.slice(1) : chunk
    this.lastWasCR = chunk.endsWith('\r')
    // A long line (a block with thousands of tx ids) spans many chunks: keep its pieces and join them
    // once, rather than re-concatenating and rescanning the growing line on every chunk.
    const eol = /\r\n|\r|\n/g
    let start = 0
    for (let m = eol.exec(text); m !== null; m = eol.exec(text)) {
      const piece = text.slice(start, m.index)
      const line = this.pieces.length === 0 ? piece : this.pieces.join('') + piece
      this.pieces = []
      this.line(line)
      start = m.index + m[0].length
    }
    if (start < text.length) this.pieces.push(text.slice(start))
  }

  private line(line: string): void {
    if (line.length === 0) {
      if (this.data.length > 0) this.onMessage({ event: this.event || 'message', id: this.id, data: this.data.join('\n') })
      this.event = ''
      this.data = []
      return
    }
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.event = value
    else if (field === 'data') this.data.push(value)
    else if (field === 'id') this.id = value
  }
}

export interface BlockStreamOptions {
  readonly baseUrl: string
  /** First height to receive (inclusive). */
  readonly fromHeight: number
  /** Called with each block message and the time (performance.now()) its last byte was parsed. */
  readonly onBlock: (b: BlockMessage, arrivedAt: number) => void
}

/**
 * Follows `GET /v1/events?events=false` and reports every committed block. On a dropped connection
 * it reconnects from the next height it has not seen (blocks replayed then arrive late, which the
 * caller sees as higher latency rather than missing commits).
 */
export class BlockStream {
  private req: ClientRequest | undefined
  private closed = false
  private nextHeight: number
  reconnects = 0
  lastError: string | undefined
  /** Resolves when the first connection is established. */
  readonly ready: Promise<void>
  private resolveReady: () => void = () => undefined

  constructor(private readonly o: BlockStreamOptions) {
    this.nextHeight = o.fromHeight
    this.ready = new Promise((resolve) => {
      this.resolveReady = resolve
    })
    this.connect()
  }

  get height(): number {
    return this.nextHeight - 1
  }

  private connect(): void {
    if (this.closed) return
    const url = `${this.o.baseUrl}/v1/events?fromHeight=${this.nextHeight}&events=false`
    const parser = new SseParser((m) => {
      if (m.event !== 'block') return
      const arrivedAt = performance.now()
      let b: BlockMessage
      try {
        b = JSON.parse(m.data) as BlockMessage
      } catch {
        this.lastError = 'unparsable block message'
        return
      }
      if (b.height < this.nextHeight) return
      this.nextHeight = b.height + 1
      this.o.onBlock(b, arrivedAt)
    })
    let over = false
    const retry = (why: string) => {
      if (over || this.closed) return
      over = true
      this.lastError = why
      this.reconnects++
      setTimeout(() => this.connect(), 500).unref()
    }
    const req = request(url, { agent: false, headers: { accept: 'text/event-stream' } })
    this.req = req
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        retry(`HTTP ${res.statusCode}`)
        return
      }
      this.resolveReady()
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => parser.push(chunk))
      res.on('end', () => retry('stream ended'))
      res.on('error', (err) => retry((err as { code?: string }).code ?? err.message))
      res.on('close', () => retry('connection closed'))
    })
    req.on('error', (err) => retry((err as { code?: string }).code ?? err.message))
    req.end()
  }

  close(): void {
    this.closed = true
    this.req?.destroy()
  }
}
