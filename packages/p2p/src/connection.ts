import { createCipheriv, createDecipheriv } from 'node:crypto'
import type { Socket } from 'node:net'
import { equalBytes, TrellisError } from '@trellis/utils'
import type { P2PErrorType } from './errors.js'
import { type Identity, InitiatorHandshake, ResponderHandshake, type SessionKeys } from './handshake.js'
import type { PublicKey } from '@trellis/crypto'

const TAG_LENGTH = 16
/** Handshake messages are small; anything larger before authentication is an attack or a mistake. */
const MAX_HANDSHAKE_FRAME = 1024

/**
 * Length-prefixed frames over a byte stream: u32 big-endian length, then the payload. Enforces the
 * maximum before buffering a frame, so a peer cannot make us allocate more than `max` bytes.
 */
export class FrameReader {
  private chunks: Buffer[] = []
  private buffered = 0

  constructor(private max: number) {}

  setMax(max: number): void {
    this.max = max
  }

  /** Adds bytes from the stream. */
  push(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  /**
   * The next complete frame, or undefined until more bytes arrive. Frames are split one at a time, so
   * the limit can change between them (a handshake frame is small; session frames may be large).
   * @throws TrellisError P2P_FRAME_TOO_LARGE
   */
  next(): Buffer | undefined {
    if (this.buffered < 4) return undefined
    const size = this.peek(4).readUInt32BE(0)
    if (size > this.max) {
      throw new TrellisError<P2PErrorType>(
        { code: 'P2P_FRAME_TOO_LARGE', size, max: this.max },
        `frame of ${size} bytes exceeds the ${this.max}-byte limit`,
      )
    }
    if (this.buffered < 4 + size) return undefined
    return this.take(4 + size).subarray(4)
  }

  /** Every complete frame buffered now. @throws TrellisError P2P_FRAME_TOO_LARGE */
  drain(): Buffer[] {
    const out: Buffer[] = []
    for (let f = this.next(); f !== undefined; f = this.next()) out.push(f)
    return out
  }

  private peek(n: number): Buffer {
    if ((this.chunks[0] as Buffer).length >= n) return this.chunks[0] as Buffer
    const joined = Buffer.concat(this.chunks)
    this.chunks = [joined]
    return joined
  }

  private take(n: number): Buffer {
    const joined = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks)
    const frame = joined.subarray(0, n)
    const rest = joined.subarray(n)
    this.chunks = rest.length > 0 ? [rest] : []
    this.buffered = rest.length
    return frame
  }
}

function frame(payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(4 + payload.length)
  b.writeUInt32BE(payload.length, 0)
  b.set(payload, 4)
  return b
}

/** The responder's first encrypted frame: it accepted the initiator. */
const ACCEPTED = new TextEncoder().encode('trellis-p2p/1 accepted')

function seal(key: Uint8Array, counter: number, payload: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce(counter))
  return Buffer.concat([cipher.update(payload), cipher.final(), cipher.getAuthTag()])
}

/** Decrypts and authenticates a frame; undefined when it fails. */
function open(key: Uint8Array, counter: number, f: Uint8Array): Uint8Array | undefined {
  if (f.length < TAG_LENGTH) return undefined
  try {
    const d = createDecipheriv('aes-256-gcm', key, nonce(counter))
    d.setAuthTag(f.subarray(f.length - TAG_LENGTH))
    const plain = Buffer.concat([d.update(f.subarray(0, f.length - TAG_LENGTH)), d.final()])
    return new Uint8Array(plain.buffer, plain.byteOffset, plain.length)
  } catch {
    return undefined
  }
}

function nonce(counter: number): Buffer {
  const n = Buffer.alloc(12)
  n.writeUInt32BE(Math.floor(counter / 2 ** 32), 4)
  n.writeUInt32BE(counter >>> 0, 8)
  return n
}

export interface ConnectionEvents {
  message(payload: Uint8Array): void
  close(error: TrellisError<P2PErrorType> | Error | undefined): void
}

/**
 * An authenticated, encrypted connection: frames are AES-256-GCM with a per-direction key and a
 * counter nonce, so a reordered, replayed, dropped or altered frame fails authentication and closes
 * the connection.
 */
export class SecureConnection {
  private sendCounter = 0
  private receiveCounter = 0
  private closed = false
  private readonly reader: FrameReader

  private constructor(
    private readonly socket: Socket,
    private readonly keys: SessionKeys,
    reader: FrameReader,
    maxFrameBytes: number,
    private readonly events: ConnectionEvents,
    counters: { send: number; receive: number },
  ) {
    this.sendCounter = counters.send
    this.receiveCounter = counters.receive
    this.reader = reader
    this.reader.setMax(maxFrameBytes + TAG_LENGTH)
  }

  /** Starts delivering messages (call once the connection is registered; the socket is paused until then). */
  start(): void {
    const socket = this.socket
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('close', () => this.end(undefined))
    socket.on('error', (err) => this.end(err))
    if (socket.destroyed) return this.end(undefined)
    // Bytes that arrived with the last handshake message belong to the session.
    this.onData(Buffer.alloc(0))
    socket.resume()
  }

  get isClosed(): boolean {
    return this.closed
  }

  get remote(): PublicKey {
    return this.keys.remote
  }

  get remoteAddress(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`
  }

  /** Bytes queued in the socket but not yet sent (backpressure signal). */
  get queuedBytes(): number {
    return this.socket.writableLength
  }

  send(payload: Uint8Array): boolean {
    if (this.closed) return false
    return this.socket.write(frame(seal(this.keys.send, this.sendCounter++, payload)))
  }

  close(error?: Error): void {
    this.end(error)
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return
    this.reader.push(chunk)
    for (;;) {
      let f: Buffer | undefined
      try {
        f = this.reader.next()
      } catch (err) {
        return this.end(err as Error)
      }
      if (f === undefined || this.closed) return
      this.onFrame(f)
    }
  }

  private onFrame(f: Buffer): void {
    const plain = open(this.keys.receive, this.receiveCounter++, f)
    if (plain === undefined) return this.end(invalid('frame failed authentication'))
    this.events.message(plain)
  }

  private end(error: Error | undefined): void {
    if (this.closed) return
    this.closed = true
    this.socket.destroy()
    this.events.close(error)
  }

  /**
   * Runs the handshake on a fresh socket and resolves with the secure connection, paused until
   * {@link SecureConnection.start}.
   * @throws TrellisError P2P_* when the peer fails to authenticate, is not allowed, or times out
   */
  static async establish(
    socket: Socket,
    o: {
      readonly role: 'initiator' | 'responder'
      readonly self: Identity
      readonly chainId: string
      /** Initiator: the identity expected at the address. */
      readonly expected?: PublicKey
      /** Responder: whether an identity may connect. */
      readonly allowed?: (key: PublicKey) => boolean
      readonly maxFrameBytes: number
      readonly timeoutMs: number
      readonly events: ConnectionEvents
    },
  ): Promise<SecureConnection> {
    const reader = new FrameReader(MAX_HANDSHAKE_FRAME)
    let waiter: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined
    let failure: Error | undefined
    const onData = (chunk: Buffer) => {
      reader.push(chunk)
      flush()
    }
    const onEnd = (err?: Error) => {
      failure ??=
        err ??
        new TrellisError<P2PErrorType>({ code: 'P2P_HANDSHAKE_FAILED', reason: 'connection closed' }, 'handshake failed: connection closed')
      flush()
    }
    const flush = () => {
      if (waiter === undefined) return
      const w = waiter
      let f: Buffer | undefined
      try {
        f = reader.next()
      } catch (err) {
        failure ??= err as Error
      }
      if (f !== undefined) {
        waiter = undefined
        w.resolve(f)
      } else if (failure !== undefined) {
        waiter = undefined
        w.reject(failure)
      }
    }
    const next = () =>
      new Promise<Buffer>((resolve, reject) => {
        waiter = { resolve, reject }
        flush()
      })
    socket.on('data', onData)
    socket.on('error', onEnd)
    socket.on('close', () => onEnd())
    const timer = setTimeout(() => {
      onEnd(new TrellisError<P2PErrorType>({ code: 'P2P_TIMEOUT', phase: 'handshake' }, 'handshake timed out'))
    }, o.timeoutMs)
    try {
      let keys: SessionKeys
      if (o.role === 'initiator') {
        const hs = new InitiatorHandshake(o.self, o.chainId, o.expected as PublicKey)
        socket.write(frame(hs.hello()))
        const done = hs.finish(await next())
        socket.write(frame(done.message))
        keys = done.keys
        // The responder's first encrypted frame says it accepted us (a refused peer sees the close).
        if (!equalBytes(open(keys.receive, 0, await next()) ?? new Uint8Array(0), ACCEPTED)) {
          throw new TrellisError<P2PErrorType>(
            { code: 'P2P_HANDSHAKE_FAILED', reason: 'no acceptance' },
            'handshake failed: the peer did not accept',
          )
        }
      } else {
        const hs = new ResponderHandshake(o.self, o.chainId, o.allowed ?? (() => false))
        socket.write(frame(hs.reply(await next())))
        keys = hs.finish(await next())
        socket.write(frame(seal(keys.send, 0, ACCEPTED)))
      }
      socket.pause()
      socket.off('data', onData)
      socket.removeAllListeners('error')
      socket.removeAllListeners('close')
      // Until start(): an error must not go unhandled; start() notices a socket that died meanwhile.
      socket.on('error', () => undefined)
      return new SecureConnection(socket, keys, reader, o.maxFrameBytes, o.events, { send: 1, receive: 1 })
    } catch (err) {
      socket.destroy()
      throw err
    } finally {
      clearTimeout(timer)
    }
  }
}

function invalid(reason: string): TrellisError<P2PErrorType> {
  return new TrellisError<P2PErrorType>({ code: 'P2P_FRAME_INVALID', reason }, `invalid frame: ${reason}`)
}
