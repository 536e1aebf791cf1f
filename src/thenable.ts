/**
 * Whether `value` is a promise or any other thenable: what a user's function or a client hands
 * back when it answers asynchronously, whatever its declared type says.
 */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

/** Does nothing: a settled promise's outcome, or a slot's answer, that no one waits for. */
export function ignore(): void {}
