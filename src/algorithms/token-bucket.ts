import { checkOptionsObject, positiveFinite, positiveInteger, waitUntil } from '../options.js';
import type { Algorithm, Decision } from '../types.js';

/** Options of {@link tokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens the bucket holds when full: the largest burst. A positive integer. */
  capacity: number;
  /** Tokens added per second, continuously (fractions kept). A finite positive number. */
  refillPerSecond: number;
}

/**
 * A key's bucket, as the instant it will be full again (the "theoretical arrival time" of GCRA).
 * One number carries the whole bucket: at time `now` it holds
 * `capacity - max(0, fullAt - now) / interval` tokens, where `interval = 1000 / refillPerSecond`.
 */
export type TokenBucketState = number;

const OWNER = 'tokenBucket';

/**
 * The token bucket: starts full at `capacity`, refills continuously at `refillPerSecond` up to
 * `capacity`, and allows a call of cost `c` iff it holds at least `c` tokens.
 *
 * Pick it to allow bursts up to `capacity` with a steady average rate; its state is one number
 * per key whatever the limit, so it is the cheapest choice for large limits and many keys.
 *
 * @example
 * ```ts
 * const limiter = createLimiter({ algorithm: tokenBucket({ capacity: 20, refillPerSecond: 5 }) });
 * ```
 */
export function tokenBucket(options: TokenBucketOptions): Algorithm<TokenBucketState> {
  const given = checkOptionsObject(OWNER, options, ['capacity', 'refillPerSecond']);
  const capacity = positiveInteger(OWNER, 'capacity', given.capacity);
  const refillPerSecond = positiveFinite(OWNER, 'refillPerSecond', given.refillPerSecond, ' of tokens per second');
  const interval = 1000 / refillPerSecond;
  const tolerance = capacity * interval;

  // Whether `k` tokens fit at `now` in a bucket full at `fullAt`. Written as `fullAt - slack <= now`
  // so that a fresh bucket (`fullAt === now`) compares `now - x <= now` with `x >= 0`, which no
  // float rounding can break, and a denied call's wait is computed from the very same number.
  function allowAt(fullAt: number, k: number): number {
    return fullAt - (tolerance - k * interval);
  }

  // Tokens available at `now`, by the same test that allows a call, so `remaining` never
  // promises a call that would be denied.
  function available(fullAt: number, now: number): number {
    let k = Math.floor((tolerance - (fullAt - now)) / interval);
    if (k > capacity) k = capacity;
    if (k < 0) k = 0;
    while (k < capacity && allowAt(fullAt, k + 1) <= now) k++;
    while (k > 0 && allowAt(fullAt, k) > now) k--;
    return k;
  }

  function evaluate(state: TokenBucketState | undefined, now: number, cost: number, charge: boolean): Decision {
    const base = state === undefined || state < now ? now : state;
    const at = allowAt(base, cost);
    const allowed = at <= now;
    if (allowed && charge && cost > 0) {
      const fullAt = base + cost * interval;
      return {
        allowed,
        limit: capacity,
        remaining: available(fullAt, now),
        resetMs: waitUntil(fullAt, now),
        retryAfterMs: 0,
      };
    }
    return {
      allowed,
      limit: capacity,
      remaining: available(base, now),
      resetMs: waitUntil(base, now),
      retryAfterMs: allowed ? 0 : waitUntil(at, now),
    };
  }

  function charge(state: TokenBucketState | undefined, now: number, cost: number): TokenBucketState {
    const base = state === undefined || state < now ? now : state;
    return base + cost * interval;
  }

  function expiresAt(state: TokenBucketState): number {
    return state;
  }

  const windowMs = Math.ceil(tolerance);
  return {
    kind: 'token-bucket',
    limit: capacity,
    windowMs,
    scriptArgs: [capacity, refillPerSecond],
    evaluate,
    charge,
    expiresAt,
  };
}
