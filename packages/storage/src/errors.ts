import { TrellisError } from '@trellis/utils'

/** Error codes and metadata of `@trellis/storage`, thrown as `TrellisError<StorageErrorType>`. */
export type StorageErrorType =
  | { code: 'STORAGE_CLOSED'; resource: 'store' | 'snapshot' }
  | { code: 'STORAGE_OPEN_FAILED'; path: string; locked: boolean }
  | { code: 'STORAGE_READ_FAILED' }
  | { code: 'STORAGE_WRITE_FAILED' }
  | { code: 'STORAGE_CLOSE_FAILED' }
  | { code: 'STORAGE_INVALID_ARGUMENT'; argument: string }

/** A `TrellisError` raised by this package. */
export type StorageError = TrellisError<StorageErrorType>

export function storageError(type: StorageErrorType, message?: string, cause?: unknown): StorageError {
  return new TrellisError<StorageErrorType>(type, message, cause === undefined ? undefined : { cause })
}

export function closedError(resource: 'store' | 'snapshot'): StorageError {
  return storageError({ code: 'STORAGE_CLOSED', resource }, `the ${resource} is closed`)
}

export function invalidArgument(argument: string, message: string): StorageError {
  return storageError({ code: 'STORAGE_INVALID_ARGUMENT', argument }, message)
}
