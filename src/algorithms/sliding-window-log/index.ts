import { checkOptionsObject, positiveInteger, waitUntil } from '../../options.js';
import type { Algorithm, Decision } from '../../types.js';
import { FIRST } from './constants.js';
import { SLIDING_WINDOW_LOG_LUA } from './lua.js';

/** Options of {@link slidingWindowLog}. */
export interface SlidingWindowLogOptions {
  /** Largest total cost allowed in any span of `windowMs`. A positive integer. */
  limit: number;
  /** Length of the sliding window in milliseconds. A positive integer. */
  windowMs: number;
}

/**
 * A key's log: `[used, head, …entries]`, oldest entry first; `used` is the sum of the costs held.
 * Each allowed call of cost > 0 is one entry holding the instant it leaves the window
 * (`at + windowMs`, or the newest entry's if the clock stepped back, so the log stays sorted).
 * While every call charged has cost 1 (the usual case), an entry is that one number and `head` is
 * the index of the first live entry; the first charge of another cost turns the log into pairs
 * `expiry, cost` and `head` is stored negated. One number per entry halves a log's memory and the
 * numbers each call scans and moves. Entries before the head have expired and are dropped in bulk
 * (see `advance`). Storing the expiry rather than the arrival means the window test and the
 * Retry-After wait compare the very same number, so no rounding can make a promised retry fail.
 * Costs are at least 1, so a log never holds more than `limit` live entries, and expired ones
 * never outnumber a quarter of the live ones plus one.
 */
export type SlidingWindowLogState = number[];

const OWNER = 'slidingWindowLog';

/**
 * The exact sliding-window log: a call of cost `c` at time `t` is allowed iff the total cost of
 * calls allowed in `(t - windowMs, t]` plus `c` is at most `limit`. Denied calls are not
 * recorded. There is no boundary burst: any span of `windowMs` admits at most `limit` units.
 *
 * Pick it when the limit must hold exactly over every window (logins, paid API quotas). It keeps
 * up to `limit` entries per key, so for very large limits prefer {@link tokenBucket}.
 *
 * @example
 * ```ts
 * const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 100, windowMs: 60_000 }) });
 * ```
 */
export function slidingWindowLog(options: SlidingWindowLogOptions): Algorithm<SlidingWindowLogState> {
  const given = checkOptionsObject(OWNER, options, ['limit', 'windowMs']);
  const limit = positiveInteger(OWNER, 'limit', given.limit);
  const windowMs = positiveInteger(OWNER, 'windowMs', given.windowMs, ' number of milliseconds');

  function evaluate(state: SlidingWindowLogState | undefined, now: number, cost: number, charge: boolean): Decision {
    let used = 0;
    let first = FIRST;
    let step = 1;
    let newest = now;
    if (state !== undefined) {
      used = state[0] as number;
      first = state[1] as number;
      const end = state.length;
      if (first > 0) {
        while (first < end && (state[first] as number) <= now) {
          used--;
          first++;
        }
        if (first < end) newest = state[end - 1] as number;
      } else {
        first = -first;
        step = 2;
        while (first < end && (state[first] as number) <= now) {
          used -= state[first + 1] as number;
          first += 2;
        }
        if (first < end) newest = state[end - 2] as number;
      }
    }
    const allowed = used + cost <= limit;
    if (allowed) {
      if (charge && cost > 0) {
        // The new entry expires with the newest one when the clock has stepped back (see charge).
        const expiry = now + windowMs;
        const resetMs = newest > expiry ? waitUntil(newest, now) : windowMs;
        return { allowed, limit, remaining: limit - used - cost, resetMs, retryAfterMs: 0 };
      }
      return { allowed, limit, remaining: limit - used, resetMs: waitUntil(newest, now), retryAfterMs: 0 };
    }
    // Free the oldest entries until the call fits; the last one freed sets the wait.
    const need = used + cost - limit;
    let freed = 0;
    let at = newest;
    for (let i = first; state !== undefined && i < state.length; i += step) {
      freed += step === 1 ? 1 : (state[i + 1] as number);
      if (freed >= need) {
        at = state[i] as number;
        break;
      }
    }
    return {
      allowed,
      limit,
      // A log written under a larger limit (a rolling deploy lowering it) can hold more than this
      // one allows: nothing is left, not less than nothing.
      remaining: used < limit ? limit - used : 0,
      resetMs: waitUntil(newest, now),
      retryAfterMs: waitUntil(at, now),
    };
  }

  /**
   * Moves the head past the expired entries and updates `used`; drops them in bulk once they
   * outnumber a quarter of the live ones. Removing them one call at a time moved the whole log on
   * every call, O(limit) each, while this moves it once per a quarter of its length in calls. The
   * dead quarter is the memory paid for it. (`splice` moves the rest with one memmove;
   * `copyWithin` and a shorter `length` were slower than the one-at-a-time removal they replaced.)
   */
  function advance(state: SlidingWindowLogState, now: number): void {
    let first = state[1] as number;
    let used = state[0] as number;
    const end = state.length;
    // Each layout ends with its own copy of the drop: one shared tail after the two scans made
    // `decide` on a log a few percent slower, side by side with this form.
    if (first > 0) {
      while (first < end && (state[first] as number) <= now) {
        used--;
        first++;
      }
      if (first > FIRST && (first - FIRST) * 4 > end - first) {
        state.splice(FIRST, first - FIRST);
        first = FIRST;
      }
      state[1] = first;
    } else {
      first = -first;
      while (first < end && (state[first] as number) <= now) {
        used -= state[first + 1] as number;
        first += 2;
      }
      if (first > FIRST && (first - FIRST) * 4 > end - first) {
        state.splice(FIRST, first - FIRST);
        first = FIRST;
      }
      state[1] = -first;
    }
    state[0] = used;
  }

  /** Turns a log of cost-1 entries, advanced, into pairs: a charge of another cost is coming. */
  function toPairs(state: SlidingWindowLogState): void {
    const live = state.slice(state[1] as number);
    state.length = FIRST;
    for (const expiry of live) state.push(expiry, 1);
    state[1] = -FIRST;
  }

  function charge(state: SlidingWindowLogState | undefined, now: number, cost: number): SlidingWindowLogState {
    if (state === undefined) {
      if (cost === 1) return [1, FIRST, now + windowMs];
      return cost > 0 ? [cost, -FIRST, now + windowMs, cost] : [0, FIRST];
    }
    advance(state, now);
    if (cost > 0) {
      // Never before the newest entry: were the clock to step back (a wall clock set back; on
      // Redis, a failover to a replica whose clock is behind), an entry expiring first but stored
      // last would break the order the expiry scan and the wait rely on, and the twin would drop
      // live entries. Under a clock that never goes back, this is now + windowMs.
      let expiry = now + windowMs;
      const newest = expiresAt(state);
      if (newest > expiry) expiry = newest;
      if ((state[1] as number) > 0) {
        if (cost === 1) state.push(expiry);
        else {
          toPairs(state);
          state.push(expiry, cost);
        }
      } else state.push(expiry, cost);
      state[0] = (state[0] as number) + cost;
    }
    return state;
  }

  // The newest entries go first: a refund undoes the latest charges (a request that failed).
  function refund(
    state: SlidingWindowLogState | undefined,
    now: number,
    cost: number,
  ): SlidingWindowLogState | undefined {
    if (state === undefined) return undefined;
    advance(state, now);
    const head = state[1] as number;
    if (head > 0) {
      // Entries of cost 1: the newest `cost` of them go, or all there are.
      const gone = Math.min(cost, state.length - head);
      state.length -= gone;
      state[0] = (state[0] as number) - gone;
      return state;
    }
    let left = cost;
    while (left > 0 && state.length > -head) {
      const last = state.length - 1;
      const c = state[last] as number;
      if (c <= left) {
        state.length -= 2;
        left -= c;
        state[0] = (state[0] as number) - c;
      } else {
        state[last] = c - left;
        state[0] = (state[0] as number) - left;
        left = 0;
      }
    }
    return state;
  }

  function expiresAt(state: SlidingWindowLogState): number {
    const head = state[1] as number;
    const end = state.length;
    if (head > 0) return end > head ? (state[end - 1] as number) : Number.NEGATIVE_INFINITY;
    return end > -head ? (state[end - 2] as number) : Number.NEGATIVE_INFINITY;
  }

  return {
    name: 'sliding-window-log',
    limit,
    windowMs,
    evaluate,
    charge,
    refund,
    expiresAt,
    // The third is the usual PEXPIRE, sent ready-made: Redis formats a number on every call.
    redis: { lua: SLIDING_WINDOW_LOG_LUA, params: [limit, windowMs, windowMs + 1] },
  };
}
