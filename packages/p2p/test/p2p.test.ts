import { createConnection, createServer, type Socket } from 'node:net'
import { generateKeyPair, type KeyPair, publicKeyToString } from '@trellis/crypto'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { defaultP2POptions, FrameReader, type P2POptions, P2PNetwork, type PeerAddress, SecureConnection } from '../src/index.js'

const CHAIN = 'p2p-test'
const logs: string[] = []
const log: P2POptions['log'] = (level, msg, fields) => {
  logs.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`)
}
const open: P2PNetwork[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()))
  logs.length = 0
})

async function node(kp: KeyPair, peers: PeerAddress[], o: Partial<P2POptions> = {}): Promise<{ net: P2PNetwork; port: number }> {
  const net = new P2PNetwork({
    ...defaultP2POptions,
    redialMs: 20,
    maxRedialMs: 100,
    handshakeTimeoutMs: 1000,
    chainId: CHAIN,
    identity: { privateKey: kp.privateKey, publicKey: kp.publicKey },
    host: '127.0.0.1',
    port: 0,
    peers,
    log,
    ...o,
  })
  open.push(net)
  const port = await net.start()
  return { net, port }
}

async function until(f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error('condition not reached')
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Two nodes that know each other; `port` of each is fixed first so the configs can name them. */
async function pair(): Promise<{ a: P2PNetwork; b: P2PNetwork; ka: KeyPair; kb: KeyPair; portB: number }> {
  const ka = generateKeyPair()
  const kb = generateKeyPair()
  const b0 = await node(kb, [])
  const portB = (b0.net as unknown as { server: { address(): { port: number } } }).server.address().port
  await b0.net.close()
  open.splice(open.indexOf(b0.net), 1)
  const { net: b } = await node(kb, [{ publicKey: ka.publicKey, address: 'unused:1' }], { port: portB })
  // Give `a` B's address; exactly one side dials (lower key string), so also give B a's address.
  const { net: a, port: portA } = await node(ka, [{ publicKey: kb.publicKey, address: `127.0.0.1:${portB}` }])
  await b.close()
  open.splice(open.indexOf(b), 1)
  const { net: b2 } = await node(kb, [{ publicKey: ka.publicKey, address: `127.0.0.1:${portA}` }], { port: portB })
  return { a, b: b2, ka, kb, portB }
}

describe('p2p network', () => {
  it('connects known peers and carries messages both ways, in order, up to the size limit', async () => {
    const { a, b, ka, kb } = await pair()
    await until(() => a.connected().length === 1 && b.connected().length === 1)
    expect(a.connected()).toEqual([publicKeyToString(kb.publicKey)])
    expect(b.connected()).toEqual([publicKeyToString(ka.publicKey)])
    const gotB: string[] = []
    const gotA: number[] = []
    b.onMessage((peer, m) => gotB.push(`${peer === a.id}:${Buffer.from(m).toString()}`))
    a.onMessage((_peer, m) => gotA.push(m.length))
    for (let i = 0; i < 50; i++) a.send(b.id, Buffer.from(`m${i}`))
    const big = new Uint8Array(5 * 1024 * 1024).fill(7)
    b.send(a.id, big)
    await until(() => gotB.length === 50 && gotA.length === 1)
    expect(gotB).toEqual(Array.from({ length: 50 }, (_, i) => `true:m${i}`))
    expect(gotA).toEqual([big.length])
  })

  /** Dials `port` directly as `kp`, outside any network's dial rule; resolves with the error code. */
  async function rawDial(kp: KeyPair, expected: KeyPair, port: number, chainId = CHAIN): Promise<string> {
    const socket = createConnection({ host: '127.0.0.1', port })
    await new Promise<void>((r) => socket.once('connect', () => r()))
    const events = { message: () => undefined, close: () => undefined }
    return SecureConnection.establish(socket, {
      role: 'initiator',
      self: kp,
      chainId,
      expected: expected.publicKey,
      maxFrameBytes: 1024,
      timeoutMs: 1000,
      events,
    }).then(
      (c) => {
        c.close()
        return 'connected'
      },
      (e: { code?: string }) => e.code ?? 'error',
    )
  }

  it('refuses an identity that is not a known peer', async () => {
    const ka = generateKeyPair()
    const stranger = generateKeyPair()
    const { net: a, port } = await node(ka, [])
    const ups: string[] = []
    a.onPeer((p, up) => ups.push(`${p}:${up}`))
    expect(await rawDial(stranger, ka, port)).toBe('P2P_HANDSHAKE_FAILED')
    await until(() => logs.some((l) => l.includes('inbound handshake refused') && l.includes('is not a known peer')))
    expect(a.connected()).toEqual([])
    expect(ups).toEqual([])
  })

  it('refuses a peer that answers with another key than the configured one (impersonation)', async () => {
    const ka = generateKeyPair()
    const kb = generateKeyPair()
    const impostor = generateKeyPair()
    // The impostor listens where B should be, and accepts anyone.
    const { port } = await node(impostor, [], { allowed: () => true })
    expect(await rawDial(ka, kb, port)).toBe('P2P_UNEXPECTED_PEER')
  })

  it('refuses a peer of another chain', async () => {
    const ka = generateKeyPair()
    const kb = generateKeyPair()
    const { net: b, port } = await node(kb, [{ publicKey: ka.publicKey, address: 'unused:1' }])
    expect(await rawDial(ka, kb, port, 'other-chain')).toBe('P2P_HANDSHAKE_FAILED')
    await until(() => logs.some((l) => l.includes('inbound handshake refused') && l.includes('other-chain')))
    expect(b.connected()).toEqual([])
    // The same identity on the right chain is accepted.
    expect(await rawDial(ka, kb, port)).toBe('connected')
  })

  it('drops a handshake that never completes, after the timeout', async () => {
    const { port } = await node(generateKeyPair(), [], { handshakeTimeoutMs: 100 })
    const s = createConnection({ host: '127.0.0.1', port })
    const closed = new Promise<void>((r) => s.once('close', () => r()))
    s.on('error', () => undefined)
    await closed
    expect(logs.some((l) => l.includes('handshake timed out'))).toBe(true)
  })

  it('reconnects when a peer restarts', async () => {
    const { a, b, kb, portB } = await pair()
    await until(() => a.connected().length === 1)
    const bPeers = (b as unknown as { o: P2POptions }).o.peers
    await b.close()
    open.splice(open.indexOf(b), 1)
    await until(() => a.connected().length === 0)
    const { net: b2 } = await node(kb, [...bPeers], { port: portB })
    await until(() => a.connected().length === 1 && b2.connected().length === 1)
    const got: string[] = []
    b2.onMessage((_p, m) => got.push(Buffer.from(m).toString()))
    a.send(b2.id, Buffer.from('after restart'))
    await until(() => got.length === 1)
    expect(got).toEqual(['after restart'])
  })
})

describe('secure connection', () => {
  async function socketPair(): Promise<[Socket, Socket]> {
    const server = createServer()
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const port = (server.address() as { port: number }).port
    const accepted = new Promise<Socket>((r) => server.once('connection', r))
    const client = createConnection({ host: '127.0.0.1', port })
    const s = await accepted
    server.close()
    return [client, s]
  }

  async function secured(maxFrameBytes = 1024) {
    const [c, s] = await socketPair()
    const ki = generateKeyPair()
    const kr = generateKeyPair()
    const got: Uint8Array[] = []
    const closes: Array<Error | undefined> = []
    const events = { message: (m: Uint8Array) => got.push(m), close: (e: Error | undefined) => closes.push(e) }
    const [ci, cr] = await Promise.all([
      SecureConnection.establish(c, {
        role: 'initiator',
        self: ki,
        chainId: CHAIN,
        expected: kr.publicKey,
        maxFrameBytes,
        timeoutMs: 1000,
        events,
      }),
      SecureConnection.establish(s, {
        role: 'responder',
        self: kr,
        chainId: CHAIN,
        allowed: () => true,
        maxFrameBytes,
        timeoutMs: 1000,
        events,
      }),
    ])
    ci.start()
    cr.start()
    return { ci, cr, c, got, closes }
  }

  it('closes the connection on a frame altered in transit', async () => {
    const { cr, c, closes } = await secured()
    // Write a frame with a valid length but garbage ciphertext directly on the initiator's socket.
    const bogus = Buffer.alloc(4 + 40)
    bogus.writeUInt32BE(40, 0)
    c.write(bogus)
    await until(() => closes.length > 0)
    expect(cr.isClosed).toBe(true)
    expect(String(closes[0]?.message)).toMatch(/failed authentication/)
  })

  it('closes the connection on a frame above the size limit without buffering it', async () => {
    const { cr, c, closes } = await secured(64)
    const head = Buffer.alloc(4)
    head.writeUInt32BE(10_000_000, 0)
    c.write(head)
    await until(() => closes.length > 0)
    expect(cr.isClosed).toBe(true)
    expect(String(closes[0]?.message)).toMatch(/exceeds the/)
  })
})

describe('FrameReader', () => {
  it('splits one frame at a time, so the limit can rise between a handshake frame and session frames', () => {
    const frame = (n: number) => {
      const b = Buffer.alloc(4 + n)
      b.writeUInt32BE(n, 0)
      return b
    }
    const r = new FrameReader(16)
    r.push(Buffer.concat([frame(10), frame(5000)]))
    expect(r.next()?.length).toBe(10)
    expect(() => r.next()).toThrow(/exceeds/)
    r.setMax(10_000)
    expect(r.next()?.length).toBe(5000)
    expect(r.next()).toBeUndefined()
  })

  it('yields the same frames however the stream is chunked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1 }),
        (frames, cuts) => {
          const stream = Buffer.concat(
            frames.map((f) => {
              const b = Buffer.alloc(4 + f.length)
              b.writeUInt32BE(f.length, 0)
              b.set(f, 4)
              return b
            }),
          )
          const r = new FrameReader(100)
          const out: Buffer[] = []
          let pos = 0
          let k = 0
          while (pos < stream.length) {
            const n = cuts[k++ % cuts.length] as number
            r.push(stream.subarray(pos, pos + n))
            out.push(...r.drain())
            pos += n
          }
          expect(out.map((b) => Buffer.from(b).toString('hex'))).toEqual(frames.map((f) => Buffer.from(f).toString('hex')))
        },
      ),
    )
  })
})
