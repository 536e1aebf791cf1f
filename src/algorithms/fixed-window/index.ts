import { MAX_STEP_BACK_MS } from '../../clock.js';
import { checkOptionsObject, positiveInteger, waitUntil } from '../../options.js';
import type { Algorithm, Decision } from '../../types.js';
import { packedWindow } from '../packed.js';
import { MAX_PACKED } from './constants.js';
import { FIXED_WINDOW_LUA } from './lua.js';

/** Options of {@link fixedWindow}. */
export interface FixedWindowOptions {
  /** Largest total cost allowed in one window. A positive integer. */
  limit: number;
  /** Length of a window in milliseconds. A positive integer. */
  windowMs: number;
}

/**
 * A key's count in its window: `window * (limit + 1) + count` as one number, or `[window, count]`
 * when that number would not be an exact integer. `window` counts windows (`floor(now /
 * windowMs)`) from the first this algorithm charged in, so the number stays small: V8 keeps an
 * integer below 2^30 in place, and a larger one in a box of 16 bytes more.
 */
export type FixedWindowState = number | [number, number];

const OWNER = 'fixedWindow';
/** What `countIn` gives for a state of a window later than the reading's: the clock stepped back. */
const LATER = -1;

/**
 * The fixed window: time is cut into windows aligned to whole multiples of `windowMs` on the
 * store's clock, and a call of cost `c` is allowed iff the window's count plus `c` is at most
 * `limit`. A denied call waits for the window's end. The counting express-rate-limit and
 * @fastify/rate-limit use, and the cheapest decision; but a client can spend `limit` at the end of
 * one window and `limit` again at the start of the next, so up to twice the limit passes in a
 * span of `windowMs` across a boundary.
 *
 * @example
 * ```ts
 * const limiter = createLimiter({ algorithm: fixedWindow({ limit: 100, windowMs: 60_000 }) });
 * ```
 */
export function fixedWindow(options: FixedWindowOptions): Algorithm<FixedWindowState> {
  const given = checkOptionsObject(OWNER, options, ['limit', 'windowMs']);
  const limit = positiveInteger(OWNER, 'limit', given.limit);
  const windowMs = positiveInteger(OWNER, 'windowMs', given.windowMs, ' number of milliseconds');
  const span = limit + 1;
  /** The window of the first charge; states count windows from it (see {@link FixedWindowState}). */
  let origin: number | undefined;
  /**
   * What an allowing, charging `evaluate` found the charge of the same call will write: a store
   * charges right after it (the memory store does), and `charge` then skips the window arithmetic
   * it would repeat. `chargeAt` is NaN when nothing is kept, so no `now` matches.
   */
  let chargeAt = Number.NaN;
  let chargeFrom: FixedWindowState | undefined;
  let chargeCost = 0;
  let chargeTo: FixedWindowState = 0;

  /**
   * The count `state` holds for `window`: 0 for a state of an earlier window, {@link LATER} for
   * one of a later window (see `laterWindow`).
   */
  function countIn(state: FixedWindowState | undefined, window: number, base: number): number {
    if (state === undefined) return 0;
    if (typeof state === 'number') return state < base ? 0 : state < base + span ? state - base : LATER;
    return state[0] === window ? state[1] : state[0] < window ? 0 : LATER;
  }

  /**
   * The window of a state that `countIn` found later than the reading's, or undefined when that
   * window starts more than `MAX_STEP_BACK_MS` after `now` (`o` is the origin). The clock stepped
   * back (on Redis, a failover to a replica whose clock is behind): the reading is decided in the
   * state's window, the later time, as if read at its start, so that the count is neither reset
   * nor lost. Further ahead, the state was written at other settings and counts nothing.
   */
  function laterWindow(state: FixedWindowState, o: number, now: number): number | undefined {
    const window = typeof state === 'number' ? packedWindow(state, span) : state[0];
    return (window + o) * windowMs - now <= MAX_STEP_BACK_MS ? window : undefined;
  }

  /** The window the last `read` counted in, relative to the origin. */
  let readAt = 0;

  /**
   * The count `state` holds for window `rel` (counted from the origin `o`), or for the state's own
   * window when that is later by a clock step back (see `laterWindow`); the window it counted in
   * is left in `readAt`. One read for `evaluate`, `charge` and `refund` alike.
   */
  function read(state: FixedWindowState | undefined, rel: number, o: number, now: number): number {
    readAt = rel;
    const count = countIn(state, rel, rel * span);
    if (count !== LATER) return count;
    const later = laterWindow(state as FixedWindowState, o, now);
    if (later === undefined) return 0;
    readAt = later;
    return countIn(state, later, later * span);
  }

  /** The state holding `count` in `window`. */
  function stateOf(window: number, base: number, count: number): FixedWindowState {
    return Math.abs(base) + span <= MAX_PACKED ? base + count : [window, count];
  }

  function evaluate(state: FixedWindowState | undefined, now: number, cost: number, charge: boolean): Decision {
    const reading = Math.floor(now / windowMs);
    // No state exists before the first charge sets the origin.
    const o = origin ?? reading;
    const count = read(state, reading - o, o, now);
    const rel = readAt;
    const base = rel * span;
    const window = rel + o;
    // Waits run from `now` to the window's end, which is on the same clock.
    const end = (window + 1) * windowMs;
    const allowed = count + cost <= limit;
    if (allowed && charge && cost > 0) {
      origin ??= window;
      chargeAt = now;
      chargeFrom = state;
      chargeCost = cost;
      chargeTo = stateOf(rel, base, count + cost);
      return { allowed, limit, remaining: limit - count - cost, resetMs: waitUntil(end, now), retryAfterMs: 0 };
    }
    return {
      allowed,
      limit,
      // A state written under a larger limit (a rolling deploy lowering it) can count more than
      // this one: nothing is left, not less than nothing.
      remaining: count < limit ? limit - count : 0,
      resetMs: count > 0 ? waitUntil(end, now) : 0,
      retryAfterMs: allowed ? 0 : waitUntil(end, now),
    };
  }

  function charge(state: FixedWindowState | undefined, now: number, cost: number): FixedWindowState {
    if (now === chargeAt && state === chargeFrom && cost === chargeCost) {
      chargeAt = Number.NaN;
      return chargeTo;
    }
    const window = Math.floor(now / windowMs);
    origin ??= window;
    const count = read(state, window - origin, origin, now);
    return stateOf(readAt, readAt * span, count + cost);
  }

  function refund(state: FixedWindowState | undefined, now: number, cost: number): FixedWindowState | undefined {
    if (state === undefined) return undefined;
    const window = Math.floor(now / windowMs);
    origin ??= window;
    const count = read(state, window - origin, origin, now);
    return count > cost ? stateOf(readAt, readAt * span, count - cost) : undefined;
  }

  // The window's end. `state / span` may round up to the next whole window, never down below the
  // state's own, so the worst this does is keep a state one window longer.
  function expiresAt(state: FixedWindowState): number {
    return ((typeof state === 'number' ? Math.floor(state / span) : state[0]) + (origin ?? 0) + 1) * windowMs;
  }

  return {
    name: 'fixed-window',
    limit,
    windowMs,
    evaluate,
    charge,
    refund,
    expiresAt,
    redis: { lua: FIXED_WINDOW_LUA, params: [limit, windowMs] },
  };
}
