import { performance } from 'node:perf_hooks';

/** A source of milliseconds. Only differences matter, so it need not be wall time. */
export type Clock = () => number;

/**
 * The default clock: monotonic, so stepping the system time (NTP, a VM resume, an operator)
 * can neither reset a key early nor block it for the size of the step.
 */
export const monotonicClock: Clock = () => performance.now();
