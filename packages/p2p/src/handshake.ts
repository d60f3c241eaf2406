import { createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto'
import {
  type PrivateKey,
  type PublicKey,
  publicKeyFromBytes,
  publicKeyToBytes,
  publicKeyToString,
  sha256,
  sign,
  verify,
} from '@trellis/crypto'
import { Reader, Writer } from '@trellis/ledger'
import { concatBytes, equalBytes, TrellisError, utf8ToBytes } from '@trellis/utils'
import type { P2PErrorType } from './errors.js'

/**
 * The handshake: an authenticated key exchange in the SIGMA style (as in Noise XX, with the static
 * keys authenticated by signatures of the node's own signing key rather than by DH).
 *
 *   1. I → R  version, chainId, eI                 (eI, eR: fresh X25519 keys)
 *   2. R → I  eR, sR, sign_sR(H("R" ‖ th))          th = H(PROTOCOL ‖ chainId ‖ eI ‖ eR ‖ sR)
 *   3. I → R  sI, sign_sI(H("I" ‖ th ‖ sI))
 *   4. R → I  the first encrypted frame, "accepted" (R refused I: it closes instead)
 *
 * Each signature covers both ephemeral keys, so a recorded handshake cannot be replayed and a
 * man in the middle cannot splice two sessions. Session keys come from HKDF over the X25519 secret,
 * salted with the final transcript hash; each direction has its own AES-256-GCM key.
 */
export const PROTOCOL_NAME = 'trellis-p2p/1'
const VERSION = 1
const X25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])

export interface Identity {
  readonly privateKey: PrivateKey
  readonly publicKey: PublicKey
}

export interface SessionKeys {
  /** Key for frames this side sends. */
  readonly send: Uint8Array
  readonly receive: Uint8Array
  /** The authenticated remote identity. */
  readonly remote: PublicKey
}

function fail(type: P2PErrorType, message: string): never {
  throw new TrellisError<P2PErrorType>(type, message)
}

class Ephemeral {
  readonly privateKey: KeyObject
  readonly publicRaw: Uint8Array
  constructor() {
    const kp = generateKeyPairSync('x25519')
    this.privateKey = kp.privateKey
    const der = kp.publicKey.export({ format: 'der', type: 'spki' })
    this.publicRaw = new Uint8Array(der.subarray(der.length - 32))
  }
  agree(remoteRaw: Uint8Array): Uint8Array {
    let remote: KeyObject
    try {
      remote = createPublicKey({ key: Buffer.from(concatBytes(X25519_SPKI_PREFIX, remoteRaw)), format: 'der', type: 'spki' })
    } catch {
      return fail({ code: 'P2P_HANDSHAKE_FAILED', reason: 'bad ephemeral key' }, 'handshake failed: bad ephemeral key')
    }
    const shared = new Uint8Array(diffieHellman({ privateKey: this.privateKey, publicKey: remote }))
    // An all-zero secret means a small-order point: refuse it (RFC 7748 §6.1).
    if (shared.every((b) => b === 0))
      fail({ code: 'P2P_HANDSHAKE_FAILED', reason: 'degenerate key agreement' }, 'handshake failed: degenerate key agreement')
    return shared
  }
}

function transcript(chainId: string, eI: Uint8Array, eR: Uint8Array, sR: Uint8Array): Uint8Array {
  return sha256(new Writer(192).string(PROTOCOL_NAME).string(chainId).raw(eI).raw(eR).bytes(sR).finish())
}

function deriveKeys(shared: Uint8Array, th: Uint8Array, sI: Uint8Array): { i2r: Uint8Array; r2i: Uint8Array } {
  const salt = sha256(concatBytes(th, sI))
  const okm = new Uint8Array(hkdfSync('sha256', shared, salt, utf8ToBytes(`${PROTOCOL_NAME} session keys`), 64))
  return { i2r: okm.slice(0, 32), r2i: okm.slice(32, 64) }
}

function decodeOrFail<T>(bytes: Uint8Array, what: string, read: (r: Reader) => T): T {
  try {
    const r = new Reader(bytes)
    const v = read(r)
    r.end()
    return v
  } catch {
    return fail({ code: 'P2P_HANDSHAKE_FAILED', reason: `malformed ${what}` }, `handshake failed: malformed ${what}`)
  }
}

/** The initiator's side. `exchange` sends a handshake message and resolves with the reply. */
export class InitiatorHandshake {
  private readonly e = new Ephemeral()

  constructor(
    private readonly self: Identity,
    private readonly chainId: string,
    /** The identity expected at the dialled address. */
    private readonly expected: PublicKey,
  ) {}

  hello(): Uint8Array {
    return new Writer(96).u8(VERSION).string(this.chainId).raw(this.e.publicRaw).finish()
  }

  /** Checks the responder's reply; returns message 3 and the session keys. */
  finish(reply: Uint8Array): { message: Uint8Array; keys: SessionKeys } {
    const { eR, sR, sig } = decodeOrFail(reply, 'reply', (r) => ({ eR: r.raw(32), sR: r.bytes(64), sig: r.bytes(128) }))
    let remote: PublicKey
    try {
      remote = publicKeyFromBytes(sR)
    } catch {
      return fail({ code: 'P2P_HANDSHAKE_FAILED', reason: 'bad responder key' }, 'handshake failed: bad responder key')
    }
    if (!equalBytes(publicKeyToBytes(remote), publicKeyToBytes(this.expected))) {
      const expected = publicKeyToString(this.expected)
      const got = publicKeyToString(remote)
      fail({ code: 'P2P_UNEXPECTED_PEER', expected, got }, `the peer at this address is ${got}, not the configured ${expected}`)
    }
    const th = transcript(this.chainId, this.e.publicRaw, eR, sR)
    if (!verify(remote, sha256(concatBytes(utf8ToBytes('R'), th)), sig)) {
      fail({ code: 'P2P_HANDSHAKE_FAILED', reason: 'responder signature invalid' }, 'handshake failed: responder signature invalid')
    }
    const shared = this.e.agree(eR)
    const sI = publicKeyToBytes(this.self.publicKey)
    const mySig = sign(this.self.privateKey, sha256(concatBytes(utf8ToBytes('I'), th, sI)))
    const { i2r, r2i } = deriveKeys(shared, th, sI)
    return { message: new Writer(160).bytes(sI).bytes(mySig).finish(), keys: { send: i2r, receive: r2i, remote } }
  }
}

/** The responder's side. */
export class ResponderHandshake {
  private readonly e = new Ephemeral()
  private th: Uint8Array | undefined
  private shared: Uint8Array | undefined

  constructor(
    private readonly self: Identity,
    private readonly chainId: string,
    /** Whether an authenticated identity may connect (the validator set, or configured peers). */
    private readonly allowed: (key: PublicKey) => boolean,
  ) {}

  /** Checks message 1; returns message 2. */
  reply(hello: Uint8Array): Uint8Array {
    const { version, chainId, eI } = decodeOrFail(hello, 'hello', (r) => ({ version: r.u8(), chainId: r.string(64), eI: r.raw(32) }))
    if (version !== VERSION)
      fail({ code: 'P2P_HANDSHAKE_FAILED', reason: `version ${version}` }, `handshake failed: unsupported version ${version}`)
    if (chainId !== this.chainId) {
      fail({ code: 'P2P_WRONG_CHAIN', expected: this.chainId, got: chainId }, `the peer is on chain ${chainId}, not ${this.chainId}`)
    }
    const sR = publicKeyToBytes(this.self.publicKey)
    this.th = transcript(this.chainId, eI, this.e.publicRaw, sR)
    this.shared = this.e.agree(eI)
    const sig = sign(this.self.privateKey, sha256(concatBytes(utf8ToBytes('R'), this.th)))
    return new Writer(160).raw(this.e.publicRaw).bytes(sR).bytes(sig).finish()
  }

  /** Checks message 3; returns the session keys. */
  finish(message: Uint8Array): SessionKeys {
    const th = this.th
    const shared = this.shared
    if (th === undefined || shared === undefined)
      return fail({ code: 'P2P_HANDSHAKE_FAILED', reason: 'out of order' }, 'handshake failed: out of order')
    const { sI, sig } = decodeOrFail(message, 'finish', (r) => ({ sI: r.bytes(64), sig: r.bytes(128) }))
    let remote: PublicKey
    try {
      remote = publicKeyFromBytes(sI)
    } catch {
      return fail({ code: 'P2P_HANDSHAKE_FAILED', reason: 'bad initiator key' }, 'handshake failed: bad initiator key')
    }
    if (!verify(remote, sha256(concatBytes(utf8ToBytes('I'), th, sI)), sig)) {
      fail({ code: 'P2P_HANDSHAKE_FAILED', reason: 'initiator signature invalid' }, 'handshake failed: initiator signature invalid')
    }
    if (!this.allowed(remote)) {
      const peer = publicKeyToString(remote)
      fail({ code: 'P2P_UNKNOWN_PEER', peer }, `${peer} is not a known peer of this chain`)
    }
    const { i2r, r2i } = deriveKeys(shared, th, sI)
    return { send: r2i, receive: i2r, remote }
  }
}
