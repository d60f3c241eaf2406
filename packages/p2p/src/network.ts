import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { type PublicKey, publicKeyToString } from '@trellis/crypto'
import { SecureConnection } from './connection.js'
import type { Identity } from './handshake.js'

export interface PeerAddress {
  readonly publicKey: PublicKey
  /** host:port of the peer's p2p listener. */
  readonly address: string
}

export interface P2POptions {
  readonly chainId: string
  readonly identity: Identity
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  /** Peers to keep connected to. */
  readonly peers: readonly PeerAddress[]
  /** Identities allowed to connect (default: the configured peers). */
  readonly allowed?: (key: PublicKey) => boolean
  /** Largest message; a larger frame closes the connection. */
  readonly maxMessageBytes: number
  readonly handshakeTimeoutMs: number
  /** Redial delay after a failure, doubling up to maxRedialMs. */
  readonly redialMs: number
  readonly maxRedialMs: number
  /** A peer whose unsent backlog exceeds this is disconnected (it cannot keep up). */
  readonly maxQueuedBytes: number
  readonly log: (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void
}

export const defaultP2POptions = {
  maxMessageBytes: 64 * 1024 * 1024,
  handshakeTimeoutMs: 5000,
  redialMs: 250,
  maxRedialMs: 5000,
  maxQueuedBytes: 256 * 1024 * 1024,
} as const

interface DialState {
  readonly peer: PeerAddress
  timer: NodeJS.Timeout | undefined
  delay: number
  dialling: boolean
}

/**
 * A full mesh of authenticated connections between known nodes (consortium networks are small).
 * Exactly one side dials each pair — the one whose key string sorts lower dials the higher — so two
 * nodes never race to connect to each other; when a peer restarts, the dialling side redials it with
 * backoff, and the other side simply accepts it again.
 */
export class P2PNetwork {
  private server: Server | undefined
  private readonly connections = new Map<string, SecureConnection>()
  private readonly dials = new Map<string, DialState>()
  private readonly sockets = new Set<Socket>()
  private closed = false
  private messageHandler: (peer: string, payload: Uint8Array) => void = () => undefined
  private peerHandler: (peer: string, up: boolean) => void = () => undefined
  readonly id: string
  private readonly known: Set<string>

  constructor(private readonly o: P2POptions) {
    this.id = publicKeyToString(o.identity.publicKey)
    this.known = new Set(o.peers.map((p) => publicKeyToString(p.publicKey)))
  }

  onMessage(handler: (peer: string, payload: Uint8Array) => void): void {
    this.messageHandler = handler
  }

  onPeer(handler: (peer: string, up: boolean) => void): void {
    this.peerHandler = handler
  }

  /** Listens and starts dialling; resolves with the bound port. */
  async start(): Promise<number> {
    const server = createServer((socket) => this.accept(socket))
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', (err) => this.o.log('warn', 'p2p listener error', { err: err.message }))
    for (const peer of this.o.peers) this.addPeer(peer)
    const address = server.address()
    return typeof address === 'object' && address !== null ? address.port : this.o.port
  }

  /**
   * Adds a peer to keep connected to (a validator that joined). Of each pair, the node with the
   * smaller id dials; the other accepts (if `allowed` admits the peer).
   */
  addPeer(peer: PeerAddress): void {
    const id = publicKeyToString(peer.publicKey)
    this.known.add(id)
    if (id === this.id || id > this.id || this.dials.has(id) || this.server === undefined) return
    const d: DialState = { peer, timer: undefined, delay: this.o.redialMs, dialling: false }
    this.dials.set(id, d)
    this.dial(id, d)
  }

  /** Ids of the peers connected now. */
  connected(): string[] {
    return [...this.connections.keys()]
  }

  send(peer: string, payload: Uint8Array): boolean {
    const c = this.connections.get(peer)
    if (c === undefined) return false
    if (c.queuedBytes > this.o.maxQueuedBytes) {
      this.o.log('warn', 'peer cannot keep up: disconnecting', { peer, queued: c.queuedBytes })
      c.close()
      return false
    }
    return c.send(payload)
  }

  broadcast(payload: Uint8Array): number {
    let n = 0
    for (const peer of this.connections.keys()) if (this.send(peer, payload)) n++
    return n
  }

  /** Drops the connection to a peer (it is redialled, or it redials). */
  disconnect(peer: string): void {
    this.connections.get(peer)?.close()
  }

  async close(): Promise<void> {
    this.closed = true
    for (const d of this.dials.values()) clearTimeout(d.timer)
    for (const c of this.connections.values()) c.close()
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())))
  }

  private allowed(key: PublicKey): boolean {
    const id = publicKeyToString(key)
    if (id === this.id) return false
    return this.o.allowed !== undefined ? this.o.allowed(key) : this.known.has(id)
  }

  private dial(id: string, d: DialState): void {
    if (this.closed || d.dialling || this.connections.has(id)) return
    d.dialling = true
    const [host, portText] = splitAddress(d.peer.address)
    const socket = createConnection({ host, port: Number(portText) })
    socket.setNoDelay(true)
    this.sockets.add(socket)
    const retry = (reason: string) => {
      d.dialling = false
      this.sockets.delete(socket)
      if (this.closed || this.connections.has(id)) return
      this.o.log('debug', 'p2p dial failed', { peer: id, address: d.peer.address, reason })
      clearTimeout(d.timer)
      d.timer = setTimeout(() => this.dial(id, d), d.delay)
      d.delay = Math.min(d.delay * 2, this.o.maxRedialMs)
    }
    socket.once('error', (err) => retry(err.message))
    socket.once('connect', () => {
      socket.removeAllListeners('error')
      SecureConnection.establish(socket, {
        role: 'initiator',
        self: this.o.identity,
        chainId: this.o.chainId,
        expected: d.peer.publicKey,
        maxFrameBytes: this.o.maxMessageBytes,
        timeoutMs: this.o.handshakeTimeoutMs,
        events: this.eventsFor(id, () => {
          d.dialling = false
          retry('connection closed')
        }),
      }).then(
        (conn) => {
          // A peer we dial must still be one we would accept (its node certificate may have lapsed).
          if (!this.allowed(d.peer.publicKey)) {
            this.o.log('warn', 'p2p peer no longer allowed: not connecting', { peer: id })
            conn.close()
            return
          }
          d.delay = this.o.redialMs
          this.register(id, conn)
        },
        (err: Error) => {
          this.o.log('warn', 'p2p handshake with peer failed', { peer: id, address: d.peer.address, reason: err.message })
          retry(err.message)
        },
      )
    })
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy()
      return
    }
    socket.setNoDelay(true)
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
    let id = ''
    SecureConnection.establish(socket, {
      role: 'responder',
      self: this.o.identity,
      chainId: this.o.chainId,
      allowed: (key) => this.allowed(key),
      maxFrameBytes: this.o.maxMessageBytes,
      timeoutMs: this.o.handshakeTimeoutMs,
      events: this.eventsFor(() => id, undefined),
    }).then(
      (conn) => {
        id = publicKeyToString(conn.remote)
        this.register(id, conn)
      },
      (err: Error) => {
        this.o.log('warn', 'p2p inbound handshake refused', {
          address: `${socket.remoteAddress}:${socket.remotePort}`,
          reason: err.message,
        })
      },
    )
  }

  private eventsFor(peerId: string | (() => string), onClosed: (() => void) | undefined) {
    const idOf = typeof peerId === 'string' ? () => peerId : peerId
    return {
      message: (payload: Uint8Array) => this.messageHandler(idOf(), payload),
      close: (error: Error | undefined) => {
        const id = idOf()
        // Only the registered connection counts: a replaced one closing changes nothing.
        const current = this.connections.get(id)
        if (current?.isClosed === true) {
          this.connections.delete(id)
          this.peerHandler(id, false)
        }
        if (error !== undefined) this.o.log('info', 'p2p connection closed', { peer: id, reason: error.message })
        onClosed?.()
      },
    }
  }

  private register(id: string, conn: SecureConnection): void {
    if (this.closed) {
      conn.close()
      return
    }
    const old = this.connections.get(id)
    this.connections.set(id, conn)
    // A new authenticated connection replaces an old one (the peer restarted, or redialled).
    if (old !== undefined) old.close()
    else this.peerHandler(id, true)
    conn.start()
    this.o.log('info', 'p2p peer connected', { peer: id, address: conn.remoteAddress })
  }
}

function splitAddress(address: string): [string, string] {
  const i = address.lastIndexOf(':')
  return [address.slice(0, i), address.slice(i + 1)]
}
