import { performance } from 'node:perf_hooks';

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
