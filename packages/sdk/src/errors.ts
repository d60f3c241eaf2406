import type { ErrorCode } from '@trellis/api'

/**
 * Errors the SDK raises itself. Server errors keep the server's code (see {@link ServerErrorType}).
 * Codes are part of the public API.
 */
export type SdkErrorType =
  /** The request never got an HTTP response (DNS, refused connection, reset, CORS…). */
  | { code: 'SDK_NETWORK_ERROR'; method: string; url: string }
  /** No complete response within the request timeout. */
  | { code: 'SDK_TIMEOUT'; method: string; url: string; timeoutMs: number }
  /** The caller's `AbortSignal` fired. */
  | { code: 'SDK_ABORTED'; method: string; url: string }
  /** A non-2xx response whose body is not a Trellis error (a proxy's HTML page, an empty 502…). */
  | { code: 'SDK_HTTP_ERROR'; status: number; body: string }
  /** A 2xx response that is not what the route promises (not JSON, wrong content type). */
  | { code: 'SDK_BAD_RESPONSE'; status: number; reason: string }
  /** An argument was rejected before anything was sent. */
  | { code: 'SDK_INVALID_ARGUMENT'; argument: string; reason: string }
  /** `waitForCommit` gave up: the tx was not found committed in time. */
  | { code: 'SDK_WAIT_TIMEOUT'; txId: string; timeoutMs: number }
  /** A subscription callback threw something that is not an `Error`. */
  | { code: 'SDK_CALLBACK_FAILED'; value: string }

/** An error response of the node (`{ code, message, details? }` with a 4xx/5xx status). */
export interface ServerErrorType {
  /** The node's error code (docs/errors.md); contract-level codes may appear too. */
  code: ErrorCode | (string & {})
  /** The HTTP status of the response (for a tx refused inside a 200 batch response: the code's usual status). */
  status: number
  details?: Record<string, unknown>
}

/** A committed transaction whose receipt reports a contract failure (raised by the convenience helpers). */
export interface TxFailedType {
  /** The contract's error code from the receipt (e.g. `NOTARY_ALREADY_RECORDED`). */
  code: string
  txId: string
  height: number
}
