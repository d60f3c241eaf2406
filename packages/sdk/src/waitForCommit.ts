import type { SignedTx } from '@trellis/ledger'
import { bytesToHex, isHex, TrellisError } from '@trellis/utils'
import type { TrellisClient } from './client.js'
import type { SdkErrorType, ServerErrorType } from './errors.js'
import { defaultClientOptions, defaultWaitForCommitOptions, type WaitForCommitOptions } from './options.js'
import { sleep } from './sleep.js'
import type { TxResponse } from './types.js'

/** The lower-case hex id of a tx given as a `SignedTx`, its id bytes or hex. @throws TrellisError SDK_INVALID_ARGUMENT */
export function txIdHex(tx: SignedTx | Uint8Array | string): string {
  const hex = typeof tx === 'string' ? tx.toLowerCase() : bytesToHex(tx instanceof Uint8Array ? tx : tx.id)
  if (!isHex(hex, 32)) {
    throw new TrellisError<SdkErrorType>(
      { code: 'SDK_INVALID_ARGUMENT', argument: 'txId', reason: 'must be 32 bytes (64 hex characters)' },
      'invalid txId: must be 32 bytes',
    )
  }
  return hex
}

// Errors worth another poll: the node or the network may recover before the deadline.
function isTransient(err: unknown): boolean {
  if (!(err instanceof TrellisError)) return false
  if (err.code === 'TX_NOT_FOUND' || err.code === 'SDK_NETWORK_ERROR' || err.code === 'SDK_TIMEOUT') return true
  const status = (err.type as Partial<ServerErrorType>).status
  return typeof status === 'number' && (status >= 500 || status === 429 || status === 408)
}

/**
 * Polls `GET /v1/txs/:id` until the tx is committed and returns that response (tx, receipt, proof).
 * Not-yet-committed (`TX_NOT_FOUND`), network errors and 5xx answers are polled through.
 * @throws TrellisError SDK_WAIT_TIMEOUT when it is not committed within `timeoutMs` (default 60 s);
 * SDK_ABORTED when `signal` fires; any other error of `getTx` at once.
 */
export async function waitForCommit(
  client: TrellisClient,
  tx: SignedTx | Uint8Array | string,
  options: WaitForCommitOptions = {},
): Promise<TxResponse> {
  const id = txIdHex(tx)
  const timeoutMs = options.timeoutMs ?? defaultWaitForCommitOptions.timeoutMs
  const pollMs = options.pollMs ?? defaultWaitForCommitOptions.pollMs
  const { signal } = options
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    if (signal?.aborted === true) {
      throw new TrellisError<SdkErrorType>(
        { code: 'SDK_ABORTED', method: 'GET', url: `${client.url}/v1/txs/${id}` },
        `waiting for tx ${id} aborted`,
      )
    }
    const remaining = deadline - Date.now()
    if (remaining <= 0) {
      throw new TrellisError<SdkErrorType>(
        { code: 'SDK_WAIT_TIMEOUT', txId: id, timeoutMs },
        `tx ${id} was not committed within ${timeoutMs} ms`,
        {
          cause: lastError,
        },
      )
    }
    try {
      const requestTimeoutMs = Math.min(remaining, defaultClientOptions.timeoutMs)
      return await client.getTx(id, signal === undefined ? { timeoutMs: requestTimeoutMs } : { timeoutMs: requestTimeoutMs, signal })
    } catch (err) {
      if (!isTransient(err)) throw err
      lastError = err
    }
    await sleep(Math.min(pollMs, deadline - Date.now()), signal)
  }
}
