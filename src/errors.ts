/**
 * Stable codes carried by every {@link FloodgateError}. Match on `code`, never on the message.
 *
 * - `ERR_INVALID_OPTION`: an option given to a factory or constructor is wrong (thrown at construction), or a call's options are (rejected by the call).
 * - `ERR_INVALID_KEY`: a key is not a non-empty string.
 * - `ERR_INVALID_COST`: a cost is not a non-negative integer.
 * - `ERR_COST_EXCEEDS_LIMIT`: a cost is larger than a policy's limit, so it could never be allowed.
 * - `ERR_STORE`: the store failed (the original error is the `cause`).
 * - `ERR_STORE_TIMEOUT`: the store did not answer within its `timeoutMs`.
 * - `ERR_STORE_UNAVAILABLE`: the store is not connected, so the call was not attempted.
 * - `ERR_STORE_FULL`: a store could not make room for a new key (the memory store: every state it weighed was the new key's own).
 * - `ERR_WAIT_EXCEEDED`: `acquire` could not get a slot within `maxWaitMs`.
 * - `ERR_ABORTED`: `acquire` was aborted through its `signal`.
 * - `ERR_NO_CLIENT_IP`: an adapter could not find the client IP to build a key from.
 */
export type FloodgateErrorCode =
  | 'ERR_INVALID_OPTION'
  | 'ERR_INVALID_KEY'
  | 'ERR_INVALID_COST'
  | 'ERR_COST_EXCEEDS_LIMIT'
  | 'ERR_STORE'
  | 'ERR_STORE_TIMEOUT'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_STORE_FULL'
  | 'ERR_WAIT_EXCEEDED'
  | 'ERR_ABORTED'
  | 'ERR_NO_CLIENT_IP';

/** The one error class floodgate throws or rejects with. */
export class FloodgateError extends Error {
  /** A stable, documented code; see {@link FloodgateErrorCode}. */
  readonly code: FloodgateErrorCode;

  constructor(code: FloodgateErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FloodgateError';
    this.code = code;
  }
}

/** True for a {@link FloodgateError}, including one from another copy of the package. */
export function isFloodgateError(value: unknown): value is FloodgateError {
  return (
    value instanceof FloodgateError || (value instanceof Error && value.name === 'FloodgateError' && 'code' in value)
  );
}

/** Whether a code belongs to a store failure, which the limiter's `onStoreError` policy handles. */
export function isStoreFailure(error: unknown): error is FloodgateError {
  if (!isFloodgateError(error)) return false;
  const code = error.code;
  return (
    code === 'ERR_STORE' ||
    code === 'ERR_STORE_TIMEOUT' ||
    code === 'ERR_STORE_UNAVAILABLE' ||
    code === 'ERR_STORE_FULL'
  );
}
