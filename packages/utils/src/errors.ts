/**
 * The one base class of every error Trellis throws on purpose.
 *
 * `type` carries a machine-readable string `code` plus structured metadata; the API maps codes to
 * HTTP statuses and the CLI prints the message. Follows Lodestar's error pattern.
 *
 * @example
 * type MyErrorType = { code: 'TX_EXPIRED'; expiresAt: number; now: number }
 * throw new TrellisError<MyErrorType>({ code: 'TX_EXPIRED', expiresAt: 1, now: 2 }, 'tx expired')
 */
export class TrellisError<T extends { code: string } = { code: string }> extends Error {
  readonly type: T

  constructor(type: T, message?: string, options?: { cause?: unknown }) {
    super(message ?? type.code, options)
    this.type = type
    this.name = 'TrellisError'
  }

  /** The machine-readable error code. */
  get code(): T['code'] {
    return this.type.code
  }

  /** The structured metadata without the code, for API `details` and logs. */
  get details(): Omit<T, 'code'> {
    const { code: _code, ...rest } = this.type
    return rest
  }
}

/** True when `err` is a {@link TrellisError} (optionally with the given code). */
export function isTrellisError(err: unknown, code?: string): err is TrellisError {
  return err instanceof TrellisError && (code === undefined || err.code === code)
}
