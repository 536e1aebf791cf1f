import { MAX_STEP_BACK_MS } from '../../clock.js';
import { checkOptionsObject, positiveInteger, waitUntil } from '../../options.js';
import type { Algorithm, Decision } from '../../types.js';
import { packedWindow } from '../packed.js';
import { MAX_PACKED, MAX_STEPS } from './constants.js';
import { SLIDING_WINDOW_COUNTER_LUA } from './lua.js';

/** Options of {@link slidingWindowCounter}. */
export interface SlidingWindowCounterOptions {
  /** Largest total cost allowed in a sliding span of `windowMs`, as estimated. A positive integer. */
  limit: number;
  /** Length of the window in milliseconds. A positive integer. */
  windowMs: number;
}

/**
 * A key's counts: the fixed window they belong to (`floor(now / windowMs)`, counted from the
 * first window this algorithm charged in, so the number stays small: V8 keeps an integer below
 * 2^30 in place, and a larger one in a box of 16 bytes more), the previous window's count and the
 * current one's, as one number
 * `window * (limit + 1)^2 + previous * (limit + 1) + current`, or as `[window, previous, current]`
 * when that number would not be an exact integer.
 */
export type SlidingWindowCounterState = number | [number, number, number];

const OWNER = 'slidingWindowCounter';

/**
 * The sliding-window counter: counts per fixed window, and a call of cost `c` at `now` is allowed
 * iff `previous × (the share of the previous window still inside the sliding window) + current + c`
 * is at most `limit`. It assumes the previous window's calls were spread evenly, so it is O(1)
 * per key whatever the limit, and close to an exact log under steady traffic; in the worst case
 * (all of one window's calls at its very end) a span of `windowMs` admits up to `2 × limit - 1`,
 * against the log's `limit`. See docs/algorithms.md for the bound.
 *
 * @example
 * ```ts
 * const limiter = createLimiter({ algorithm: slidingWindowCounter({ limit: 10_000, windowMs: 3_600_000 }) });
 * ```
 */
export function slidingWindowCounter(options: SlidingWindowCounterOptions): Algorithm<SlidingWindowCounterState> {
  const given = checkOptionsObject(OWNER, options, ['limit', 'windowMs']);
  const limit = positiveInteger(OWNER, 'limit', given.limit);
  const windowMs = positiveInteger(OWNER, 'windowMs', given.windowMs, ' number of milliseconds');
  const span = limit + 1;
  const square = span * span;
  /** The window of the first charge; states count windows from it. */
  let origin: number | undefined;

  // The counts `state` holds, read in `window` (`o` is the origin): [previous, current]. A state
  // of the window before moves its current count to previous; an older one counts nothing.
  // Returns the window read in: `window`, or the state's own when that is later and starts at most
  // `MAX_STEP_BACK_MS` after `now`. The clock then stepped back (on Redis, a failover to a replica
  // whose clock is behind), and the call is decided in the state's window, the later time, so
  // that its counts are neither reset nor lost. Further ahead, the state was written at other
  // settings and counts nothing.
  let previous = 0;
  let current = 0;
  function read(state: SlidingWindowCounterState | undefined, window: number, o: number, now: number): number {
    previous = 0;
    current = 0;
    if (state === undefined) return window;
    let at: number;
    let p: number;
    let c: number;
    if (typeof state === 'number') {
      const base = window * square;
      at = state >= base ? window : window - 1;
      let rest = state - at * square;
      if (rest >= square) {
        at = packedWindow(state, square);
        rest = state - at * square;
      } else if (rest < 0) return window;
      p = Math.floor(rest / span);
      c = rest - p * span;
    } else [at, p, c] = state;
    if (at === window) {
      previous = p;
      current = c;
    } else if (at === window - 1) previous = c;
    else if (at > window && (at + o) * windowMs - now <= MAX_STEP_BACK_MS) {
      previous = p;
      current = c;
      return at;
    }
    return window;
  }

  function stateOf(window: number, p: number, c: number): SlidingWindowCounterState {
    const base = window * square;
    return Math.abs(base) + square <= MAX_PACKED ? base + p * span + c : [window, p, c];
  }

  /**
   * The estimate at `t` of counts `p` and `c` read in `window` (no charge between). Before the
   * window (a clock that stepped back) it is the estimate at the window's start.
   */
  function usedAt(t: number, window: number, p: number, c: number): number {
    const w = Math.floor(t / windowMs);
    if (w === window) return p * ((windowMs - (t - window * windowMs)) / windowMs) + c;
    if (w === window + 1) return c * ((windowMs - (t - w * windowMs)) / windowMs);
    return w < window ? p + c : 0;
  }

  /** The smallest whole r with usedAt(now + r) + cost <= limit: the very test the retry meets. */
  function waitFor(now: number, window: number, p: number, c: number, cost: number): number {
    const room = limit - cost;
    const at =
      c <= room
        ? window * windowMs + windowMs - (room - c) * (windowMs / p)
        : (window + 1) * windowMs + windowMs - room * (windowMs / c);
    let r = Math.ceil(at - now);
    if (r < 1) r = 1;
    for (let i = 0; i < MAX_STEPS && usedAt(now + r, window, p, c) + cost > limit; i++) r++;
    for (let i = 0; i < MAX_STEPS && r > 1 && usedAt(now + r - 1, window, p, c) + cost <= limit; i++) r--;
    return r;
  }

  /** Until the estimate is 0: the end of the next window while the current one counts anything. */
  function resetAfter(now: number, window: number, p: number, c: number): number {
    if (c > 0) return waitUntil((window + 2) * windowMs, now);
    return p > 0 ? waitUntil((window + 1) * windowMs, now) : 0;
  }

  function evaluate(
    state: SlidingWindowCounterState | undefined,
    now: number,
    cost: number,
    charge: boolean,
  ): Decision {
    let window = Math.floor(now / windowMs);
    // No state exists before the first charge sets the origin.
    const o = origin ?? window;
    const rel = window - o;
    const at = read(state, rel, o, now);
    const p = previous;
    const c = current;
    let used: number;
    if (at === rel) used = p * ((windowMs - (now - window * windowMs)) / windowMs) + c;
    else {
      // Read in a later window: the estimate at its start, where the previous window weighs in
      // whole (the formula's weight is 1 there). Waits still run from `now`.
      window = at + o;
      used = p + c;
    }
    const allowed = used + cost <= limit;
    if (allowed && charge && cost > 0) {
      return {
        allowed,
        limit,
        remaining: Math.floor(limit - (used + cost)),
        resetMs: waitUntil((window + 2) * windowMs, now),
        retryAfterMs: 0,
      };
    }
    return {
      allowed,
      limit,
      // A clock that stepped back can find more used than the limit (the previous window weighs
      // more earlier in the current one): nothing is left, not less than nothing.
      remaining: used < limit ? Math.floor(limit - used) : 0,
      resetMs: resetAfter(now, window, p, c),
      retryAfterMs: allowed ? 0 : waitFor(now, window, p, c, cost),
    };
  }

  function charge(state: SlidingWindowCounterState | undefined, now: number, cost: number): SlidingWindowCounterState {
    const window = Math.floor(now / windowMs);
    origin ??= window;
    return stateOf(read(state, window - origin, origin, now), previous, current + cost);
  }

  // The current window's count first (the newest calls), then the previous one's.
  function refund(
    state: SlidingWindowCounterState | undefined,
    now: number,
    cost: number,
  ): SlidingWindowCounterState | undefined {
    if (state === undefined) return undefined;
    const window = Math.floor(now / windowMs);
    origin ??= window;
    const at = read(state, window - origin, origin, now);
    const fromCurrent = Math.min(current, cost);
    const c = current - fromCurrent;
    const left = cost - fromCurrent;
    const p = previous < left ? 0 : previous - left;
    return p === 0 && c === 0 ? undefined : stateOf(at, p, c);
  }

  // `state / square` may round up to the next whole window, never down below the state's own.
  function expiresAt(state: SlidingWindowCounterState): number {
    let window: number;
    let c: number;
    if (typeof state === 'number') {
      window = Math.floor(state / square);
      c = state - window * square - Math.floor((state - window * square) / span) * span;
    } else [window, , c] = state;
    return (window + (origin ?? 0) + (c > 0 ? 2 : 1)) * windowMs;
  }

  return {
    name: 'sliding-window-counter',
    limit,
    windowMs,
    evaluate,
    charge,
    refund,
    expiresAt,
    redis: { lua: SLIDING_WINDOW_COUNTER_LUA, params: [limit, windowMs] },
  };
}
