/** Errors the node raises while admitting transactions and serving reads. Codes are in @trellis/api's table. */
export type NodeErrorType =
  | { code: 'TX_DUPLICATE'; id: string }
  | { code: 'TX_ALREADY_COMMITTED'; id: string; height: number }
  | { code: 'MEMPOOL_FULL'; txs: number; bytes: number }
  | { code: 'MEMPOOL_SENDER_LIMIT'; sender: string; limit: number }
  | { code: 'CONTRACT_NOT_FOUND'; contract: string }
  | { code: 'METHOD_NOT_FOUND'; contract: string; method: string }
  | { code: 'ARGS_INVALID'; contract: string; method: string; reason: string }
  | { code: 'CONTRACT_PAUSED'; contract: string }
  | { code: 'LIFECYCLE_NOT_APPROVED'; signer: string }
  | { code: 'CONTRACT_FROZEN'; contract: string }
  | { code: 'QUERY_TOO_MANY_READS'; contract: string; method: string }
  | { code: 'QUERY_HISTORY_TOO_LONG'; records: number }
  | { code: 'QUERY_TIMEOUT'; contract: string; method: string; limitMs: number }
  | { code: 'NODE_STOPPING' }
  | { code: 'TX_NOT_FOUND'; id: string }
  | { code: 'BLOCK_NOT_FOUND'; ref: string }
  | { code: 'HEIGHT_NOT_AVAILABLE'; height: number; head: number }
  | { code: 'QUERY_FAILED'; contract: string; method: string; errorCode: string }
  | { code: 'CHAIN_CORRUPT'; reason: string }
  | { code: 'CONFIG_INVALID'; reason: string }
  | { code: 'READ_AUTH_REQUIRED' }
  | { code: 'READ_AUTH_INVALID'; reason: string }
  | { code: 'GENESIS_MISMATCH'; expected: string; got: string }
  | { code: 'STORE_FORMAT_UNSUPPORTED'; found: number | null; expected: number }
