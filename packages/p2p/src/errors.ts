/** Why a peer connection was refused or closed. Logged with the peer's address; never crashes the node. */
export type P2PErrorType =
  | { code: 'P2P_HANDSHAKE_FAILED'; reason: string }
  | { code: 'P2P_UNKNOWN_PEER'; peer: string }
  | { code: 'P2P_UNEXPECTED_PEER'; expected: string; got: string }
  | { code: 'P2P_WRONG_CHAIN'; expected: string; got: string }
  | { code: 'P2P_FRAME_TOO_LARGE'; size: number; max: number }
  | { code: 'P2P_FRAME_INVALID'; reason: string }
  | { code: 'P2P_TIMEOUT'; phase: string }
