import { checkOptionsObject, numberInRange, positiveInteger } from '../../options.js';
import type { Algorithm, Decision } from '../../types.js';
import { EXPIRY_MARGIN, GRID, HUGE_MS } from './constants.js';
import { TOKEN_BUCKET_LUA } from './lua.js';

/**
 * `1 / GRID`, exactly (GRID is a power of two): multiplying by it gives the very double dividing
 * by GRID does, and a multiplication is several times cheaper than a division on the hot path.
 */
const PER_GRID = 1 / GRID;

/** Options of {@link tokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens the bucket holds when full: the largest burst. A positive integer. */
  capacity: number;
  /** Tokens added per second, continuously (fractions kept). A finite positive number. */
  refillPerSecond: number;
}

/**
 * A key's bucket, as the instant it will be full again (the "theoretical arrival time" of GCRA),
 * counted in tokens refilled since clock 0 rather than in milliseconds: at a clock reading `now`
 * the bucket holds `capacity - max(0, fullAt - tokensAt(now))` tokens, where
 * `tokensAt(now) = floor(now * refillPerSecond / 1000 * 2^20) / 2^20`.
 *
 * A key charged once keeps `fullAt` as a number. From its second charge on it keeps it in a
 * holder, `{ at: fullAt }`, which each later charge updates in place: a busy key then allocates
 * nothing per call, while a key seen once costs no more than its number (a holder takes 32 bytes
 * more).
 */
export type TokenBucketState = number | { at: number };

/** `fullAt` of a state, whichever form it is kept in. */
function fullAtOf(state: TokenBucketState): number {
  return typeof state === 'number' ? state : state.at;
}

const OWNER = 'tokenBucket';
/**
 * Refill rates outside these bounds would break the arithmetic rather than limit anything. The
 * state counts tokens since clock 0, and on Redis's clock (milliseconds since 1970) a rate of
 * 1,000,000 a second reaches 2^53 tokens, where whole tokens stop being exact, only in the year
 * 2255; far larger rates overflow to Infinity. Far smaller ones make the refill interval infinite.
 */
const MIN_REFILL = 1e-9;
const MAX_REFILL = 1_000_000;

/**
 * The token bucket: starts full at `capacity`, refills continuously at `refillPerSecond` up to
 * `capacity`, and allows a call of cost `c` iff it holds at least `c` tokens.
 *
 * Pick it to allow bursts up to `capacity` with a steady average rate; its state is one number
 * per key whatever the limit (kept in a small holder once the key is charged again), so it is the
 * cheapest choice for large limits and many keys.
 *
 * @example
 * ```ts
 * const limiter = createLimiter({ algorithm: tokenBucket({ capacity: 20, refillPerSecond: 5 }) });
 * ```
 */
export function tokenBucket(options: TokenBucketOptions): Algorithm<TokenBucketState> {
  const given = checkOptionsObject(OWNER, options, ['capacity', 'refillPerSecond']);
  const capacity = positiveInteger(OWNER, 'capacity', given.capacity);
  const refillPerSecond = numberInRange(
    OWNER,
    'refillPerSecond',
    given.refillPerSecond,
    MIN_REFILL,
    MAX_REFILL,
    'a number of tokens per second from 1e-9 (one token in 31 years) to 1,000,000 (count in larger units above that)',
  );
  const interval = 1000 / refillPerSecond;
  const tolerance = capacity * interval;

  // Tokens refilled since clock 0, unrounded; `tokensAt` floors it onto the grid. Counting time in
  // tokens (not milliseconds) is what keeps charges exact: in milliseconds each charge added a
  // rounded `cost * interval`, and a capacity-3, 6/s bucket admitted only 2 calls in a burst.
  function refilled(now: number): number {
    return (now * refillPerSecond) / 1000;
  }

  // The last clock reading `evaluate` floored, and what it got: a store charges right after it
  // evaluates, at the same instant, so `charge` need not floor it again. In a typed array, as a
  // number written to a variable would be a new heap number on every call.
  const last = new Float64Array([Number.NaN, 0]);

  function tokensAt(now: number): number {
    if (now === last[0]) return last[1] as number;
    return Math.floor(refilled(now) * GRID) * PER_GRID;
  }

  // The smallest whole number of milliseconds r with tokensAt(now + r) >= at, for `at` on the
  // grid (where that is refilled(now + r) >= at): the very test that decides the retry, so waiting
  // exactly r and retrying succeeds. The estimate is off by float rounding only; the loops fix it.
  // `y` is `refilled(now)`, which the caller has already computed for `tokensAt`.
  function msUntil(at: number, now: number, y: number): number {
    if (y >= at) return 0;
    let r = Math.ceil(((at - y) * 1000) / refillPerSecond);
    if (!(r < HUGE_MS)) return r;
    if (r < 1) r = 1;
    while (refilled(now + r) < at) r++;
    while (r > 1 && refilled(now + r - 1) >= at) r--;
    return r;
  }

  function evaluate(state: TokenBucketState | undefined, now: number, cost: number, charge: boolean): Decision {
    const y = refilled(now);
    const n = Math.floor(y * GRID) * PER_GRID;
    last[0] = now;
    last[1] = n;
    const at = state === undefined ? undefined : fullAtOf(state);
    const base = at === undefined || at < n ? n : at;
    // Tokens missing from a full bucket; exact, as both numbers lie on the grid.
    const debt = base - n;
    const allowed = debt <= capacity - cost;
    if (allowed && charge && cost > 0) {
      const fullAt = base + cost;
      return {
        allowed,
        limit: capacity,
        remaining: Math.floor(capacity - (fullAt - n)),
        resetMs: msUntil(fullAt, now, y),
        retryAfterMs: 0,
      };
    }
    return {
      allowed,
      limit: capacity,
      // A clock that stepped back (on Redis, a failover to a replica whose clock is behind) can
      // find the bucket owing more than its capacity: it holds no token, not fewer than none.
      remaining: debt < capacity ? Math.floor(capacity - debt) : 0,
      resetMs: msUntil(base, now, y),
      retryAfterMs: allowed ? 0 : msUntil(base - (capacity - cost), now, y),
    };
  }

  function charge(state: TokenBucketState | undefined, now: number, cost: number): TokenBucketState {
    const n = tokensAt(now);
    const at = state === undefined ? undefined : fullAtOf(state);
    const next = (at === undefined || at < n ? n : at) + cost;
    if (state === undefined) return next;
    // The second charge moves the state into a holder; later ones update it in place.
    if (typeof state === 'number') return { at: next };
    state.at = next;
    return state;
  }

  // Tokens back, up to a full bucket, which is no state at all, as in the twin: kept as `fullAt`
  // = `n`, it would read as a debt to a clock that stepped back. Exact, as both numbers lie on
  // the grid.
  function refund(state: TokenBucketState | undefined, now: number, cost: number): TokenBucketState | undefined {
    if (state === undefined) return undefined;
    const n = tokensAt(now);
    const after = fullAtOf(state) - cost;
    if (!(after > n)) return undefined;
    if (typeof state === 'number') return after;
    state.at = after;
    return state;
  }

  // A clock reading from which tokensAt(now) >= state, so the bucket reads as full: the exact
  // instant plus a margin far larger than the rounding of the two conversions.
  function expiresAt(state: TokenBucketState): number {
    const at = (fullAtOf(state) * 1000) / refillPerSecond;
    return at + Math.abs(at) * EXPIRY_MARGIN;
  }

  const windowMs = Math.ceil(tolerance);
  return {
    name: 'token-bucket',
    limit: capacity,
    windowMs,
    evaluate,
    charge,
    refund,
    expiresAt,
    redis: { lua: TOKEN_BUCKET_LUA, params: [capacity, refillPerSecond], msPerUnit: interval },
  };
}
