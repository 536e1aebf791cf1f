import { performance } from 'node:perf_hooks';
import { FloodgateError } from './errors.js';
import { show } from './options.js';

/** A source of milliseconds. Only differences matter, so it need not be wall time. */
export type Clock = () => number;

/**
 * The default clock: monotonic, so stepping the system time (NTP, a VM resume, an operator)
 * can neither reset a key early nor block it for the size of the step.
 */
export const monotonicClock: Clock = () => performance.now();

/**
 * The longest delay `setTimeout` and `setInterval` take: Node runs a longer one after 1 ms
 * instead, which would turn a long wait into a poll.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * How far a window counter's state may lie ahead of the clock and still be read as the same key's
 * later window: a clock that stepped back (on Redis, a failover to a replica whose clock is
 * behind) by up to this much. A state further ahead is no step back but one written at other
 * settings (a rolling deploy changing `limit` or `windowMs`, which read the stored number as a
 * window years away): it counts nothing, as a state of another window does.
 */
export const MAX_STEP_BACK_MS = 60_000;

/**
 * An injected clock, its readings checked: a NaN would make every comparison false and decide
 * silently wrong (a window that never ends, a bucket that never refills). A bad reading fails the
 * call, which the limiter's `onStoreError` then answers, and reports. The default clock needs no
 * check.
 */
export function checkedClock(owner: string, clock: Clock): Clock {
  return () => {
    const now: unknown = clock();
    if (typeof now !== 'number' || !Number.isFinite(now)) {
      throw new FloodgateError(
        'ERR_STORE',
        `${owner}: clock must return a finite number of milliseconds, got ${show(now)}`,
      );
    }
    return now;
  };
}
