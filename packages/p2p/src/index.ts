/** @trellis/p2p — authenticated, encrypted node-to-node transport. */
export { FrameReader, SecureConnection } from './connection.js'
export type { P2PErrorType } from './errors.js'
export { type Identity, InitiatorHandshake, PROTOCOL_NAME, ResponderHandshake, type SessionKeys } from './handshake.js'
export { defaultP2POptions, type P2POptions, P2PNetwork, type PeerAddress } from './network.js'
