/** One dispatched Server-Sent Events message. */
export interface SSEMessage {
  /** The `event:` field; `message` when the message had none. */
  readonly event: string
  /** The `data:` lines, joined with `\n`. */
  readonly data: string
  /** The last `id:` seen in the stream so far (ids persist across messages, as in `EventSource`). */
  readonly id: string
}

const LINE_END = /[\r\n]/g

/**
 * An incremental `text/event-stream` parser following the WHATWG HTML "event stream interpretation":
 * LF, CR and CRLF line ends (also split across chunks), `:` comments, multi-line `data`, `id`
 * persistence, `retry`, a leading BOM. Feed it chunks in arrival order; chunk boundaries may fall
 * anywhere, including inside a multi-byte UTF-8 character.
 * @example
 * const parser = new SSEParser()
 * for (const msg of parser.push(chunk)) console.log(msg.event, msg.data)
 */
export class SSEParser {
  #decoder = new TextDecoder('utf-8', { ignoreBOM: true })
  #pending = ''
  #started = false
  #afterCR = false
  #data = ''
  #eventType = ''
  #lastEventId = ''
  #retryMs: number | undefined

  /** The reconnection delay the server last asked for with `retry:`, if any. */
  get retryMs(): number | undefined {
    return this.#retryMs
  }

  /** The last event id seen in the stream (`''` before any). */
  get lastEventId(): string {
    return this.#lastEventId
  }

  /** Feeds the next chunk (bytes or already-decoded text) and returns the messages it completed. */
  push(chunk: Uint8Array | string): SSEMessage[] {
    let text = typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true })
    if (text.length === 0) return []
    if (!this.#started) {
      this.#started = true
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    // A CR that ended the previous chunk already ended its line; an LF right after it is part of that CRLF.
    if (this.#afterCR) {
      this.#afterCR = false
      if (text.startsWith('\n')) text = text.slice(1)
    }
    const buf = this.#pending + text
    const out: SSEMessage[] = []
    let start = 0
    // `#pending` holds no line end, so only the new text needs scanning.
    LINE_END.lastIndex = this.#pending.length
    for (let m = LINE_END.exec(buf); m !== null; m = LINE_END.exec(buf)) {
      const end = m.index
      this.#line(buf.slice(start, end), out)
      let next = end + 1
      if (buf.charCodeAt(end) === 13) {
        if (next < buf.length) {
          if (buf.charCodeAt(next) === 10) next++
        } else {
          this.#afterCR = true
        }
      }
      start = next
      LINE_END.lastIndex = next
    }
    this.#pending = buf.slice(start)
    return out
  }

  /**
   * Ends the stream: as the spec says, an event not terminated by a blank line is discarded. The
   * parser is then ready for a new stream (the last event id is kept, as a reconnecting client would).
   */
  end(): void {
    this.#decoder.decode()
    this.#pending = ''
    this.#started = false
    this.#afterCR = false
    this.#data = ''
    this.#eventType = ''
  }

  #line(line: string, out: SSEMessage[]): void {
    if (line.length === 0) {
      this.#dispatch(out)
      return
    }
    if (line.charCodeAt(0) === 58) return // ':' starts a comment (keep-alives)
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.charCodeAt(0) === 32) value = value.slice(1)
    switch (field) {
      case 'event':
        this.#eventType = value
        break
      case 'data':
        this.#data += `${value}\n`
        break
      case 'id':
        if (!value.includes('\0')) this.#lastEventId = value
        break
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.#retryMs = Number(value)
        break
      default:
      // Unknown fields are ignored.
    }
  }

  #dispatch(out: SSEMessage[]): void {
    if (this.#data.length === 0) {
      this.#eventType = ''
      return
    }
    const data = this.#data.endsWith('\n') ? this.#data.slice(0, -1) : this.#data
    out.push({ event: this.#eventType === '' ? 'message' : this.#eventType, data, id: this.#lastEventId })
    this.#data = ''
    this.#eventType = ''
  }
}
