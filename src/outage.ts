import { performance } from 'node:perf_hooks';
import { FloodgateError, isStoreFailure } from './errors.js';
import type { StoreErrorPolicy } from './limiter-options.js';
import { show } from './options.js';
import { ignore, isThenable } from './thenable.js';
import type { Decision, StoreBinding } from './types.js';

/** Outage reports are at least this far apart, whatever the success/failure interleaving. */
const REPORT_INTERVAL_MS = 10_000;
/** The wait a degraded denial asks for: the store's state is unknown, so any figure is a guess. */
const DEGRADED_WAIT_MS = 1000;

/** A store's error as a store failure: as it is when coded, else wrapped with it as `cause`. */
export function storeFailure(error: unknown, what: string): FloodgateError {
  if (isStoreFailure(error)) return error;
  return new FloodgateError('ERR_STORE', `store ${what}: ${error instanceof Error ? error.message : show(error)}`, {
    cause: error,
  });
}

/** What the limiter needs to answer while its store fails. */
export interface OutagePolicy {
  /** A successful answer: ends a running outage and combines the policies' Decisions. */
  succeeded(decisions: readonly Decision[]): Decision;
  /** A successful answer of a single-policy limiter, whose Decision is the policy's: ends a running outage. */
  answered(decision: Decision): Decision;
  /**
   * A failed call: reports the outage (once), then answers under `onStoreError`. With a fallback
   * store, `retry` asks it; when the fallback fails too, the call is denied (`degraded`, its
   * `cause` an `ERR_STORE` whose own `cause` is the fallback's failure): the limit holds rather
   * than open for everyone, and no error reaches the framework. Throws only with `'throw'`.
   */
  failed(
    error: unknown,
    retry: (fallback: StoreBinding) => readonly Decision[] | Promise<readonly Decision[]>,
  ): Decision | Promise<Decision>;
}

/**
 * The limiter's failure policy, stated once: outage reports (at most one per outage and per 10 s)
 * and the `onStoreError` answer.
 */
export function outagePolicy(
  onStoreError: StoreErrorPolicy,
  onOutage: (error: FloodgateError) => void,
  fallback: StoreBinding | undefined,
  combine: (decisions: readonly Decision[]) => Decision,
  limit: number,
): OutagePolicy {
  return new Outage(onStoreError, onOutage, fallback, combine, limit);
}

/**
 * A class, not closures made per limiter, so that every limiter's `answered` is one function that
 * V8 inlines into the hot path (see `Calls` in `store-calls.ts`).
 */
class Outage implements OutagePolicy {
  #outage = false;
  #reportedAt = Number.NEGATIVE_INFINITY;
  readonly #onStoreError: StoreErrorPolicy;
  readonly #onOutage: (error: FloodgateError) => void;
  readonly #fallback: StoreBinding | undefined;
  readonly #combine: (decisions: readonly Decision[]) => Decision;
  readonly #limit: number;

  constructor(
    onStoreError: StoreErrorPolicy,
    onOutage: (error: FloodgateError) => void,
    fallback: StoreBinding | undefined,
    combine: (decisions: readonly Decision[]) => Decision,
    limit: number,
  ) {
    this.#onStoreError = onStoreError;
    this.#onOutage = onOutage;
    this.#fallback = fallback;
    this.#combine = combine;
    this.#limit = limit;
  }

  succeeded(decisions: readonly Decision[]): Decision {
    this.#outage = false;
    return this.#combine(decisions);
  }

  answered(decision: Decision): Decision {
    this.#outage = false;
    return decision;
  }

  failed(
    error: unknown,
    retry: (fallback: StoreBinding) => readonly Decision[] | Promise<readonly Decision[]>,
  ): Decision | Promise<Decision> {
    const storeError = storeFailure(error, 'failed');
    // An outage counts as reported only once it is: one that begins within the quiet interval
    // after an earlier report is reported when the interval ends, not never.
    if (!this.#outage && this.#report(storeError)) this.#outage = true;
    if (this.#onStoreError === 'throw') throw storeError;
    const fallback = this.#fallback;
    if (fallback === undefined) return this.#degraded(storeError, this.#onStoreError === 'allow');
    const mark = (decisions: readonly Decision[]): Decision => ({
      ...this.#combine(decisions),
      degraded: true,
      cause: storeError,
    });
    const bothFailed = (fallbackError: unknown): Decision =>
      this.#degraded(
        new FloodgateError('ERR_STORE', 'store and fallback store both failed', {
          cause: storeFailure(fallbackError, 'failed'),
        }),
        false,
      );
    try {
      const result = retry(fallback);
      return Array.isArray(result) ? mark(result) : Promise.resolve(result).then(mark, bothFailed);
    } catch (fallbackError) {
      return bothFailed(fallbackError);
    }
  }

  #degraded(cause: FloodgateError, allowed: boolean): Decision {
    const limit = this.#limit;
    return allowed
      ? { allowed, limit, remaining: limit, resetMs: 0, retryAfterMs: 0, degraded: true, cause }
      : {
          allowed,
          limit,
          remaining: 0,
          resetMs: DEGRADED_WAIT_MS,
          retryAfterMs: DEGRADED_WAIT_MS,
          degraded: true,
          cause,
        };
  }

  /** Reports the start of an outage unless one was reported too recently; tells whether it did. */
  #report(error: FloodgateError): boolean {
    const at = performance.now();
    if (at - this.#reportedAt < REPORT_INTERVAL_MS) return false;
    this.#reportedAt = at;
    const onOutage = this.#onOutage;
    try {
      // Called as a plain function, as the user's own code would. An async reporter hands back a
      // promise, though typed to return nothing.
      const result: unknown = onOutage(error);
      // Its rejection is as harmless as a throw; left unhandled, it would end the process.
      if (isThenable(result)) result.then(undefined, ignore);
    } catch {
      // A throwing reporter must not turn a handled outage into a crash.
    }
    return true;
  }
}
