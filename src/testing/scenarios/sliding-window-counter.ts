import { slidingWindowCounter } from 'floodgate';
import type { ContractScenario } from '../types.js';
import { no, ok } from './expect.js';

const counter10 = () => ({ default: slidingWindowCounter({ limit: 10, windowMs: 1000 }) });

/**
 * The sliding-window counter, with `p` the previous window's count, `c` the current one's and
 * `e` the time elapsed in the current window: a call of cost `k` is allowed iff
 * `p × (windowMs − e) / windowMs + c + k ≤ limit`; `remaining` is `limit` minus that estimate,
 * rounded down; a charged call's `resetMs` runs to the end of the next window.
 */
export const slidingWindowCounterScenarios: readonly ContractScenario[] = [
  {
    name: 'sliding-window counter: the previous window counts by the share of it still inside the sliding window',
    policies: counter10,
    steps: [
      { at: 0, cost: 6, expect: { ...ok(4, 2000), limit: 10 } },
      { at: 500, cost: 4, expect: ok(0, 1500) },
      // 10 in this window, 9 room for a unit call: the estimate 10 × (2000 − t) / 1000 falls to 9 at t = 1100.
      { at: 900, expect: no(0, 1100, 200) },
      // The same instant, seen from the next window: p = 10 weighs 10 × 1000 / 1000.
      { at: 1000, op: 'peek', expect: no(0, 1000, 100) },
      // 10 × 0.75 = 7.5: 2.5 left, rounded down; with p alone the key is clear at the window's end.
      { at: 1250, op: 'peek', expect: ok(2, 750) },
      { at: 1250, cost: 2, expect: ok(0, 1750) },
      // 9.5 used, 0.5 left; 10 × (2000 − t) / 1000 + 2 + 1 ≤ 10 from t = 1300.
      { at: 1250, op: 'peek', expect: no(0, 1750, 50) },
      { at: 1300, expect: ok(0, 1700) },
      // The window of 1000..1999 counted 3; from 2000 it is the previous window, weighing 3 × 1.
      { at: 2000, op: 'peek', expect: ok(7, 1000) },
      { at: 3000, op: 'peek', expect: ok(10, 0) },
    ],
  },
  {
    name: 'sliding-window counter: a wait at a fractional instant is rounded up to the exact whole millisecond',
    policies: () => ({ default: slidingWindowCounter({ limit: 3, windowMs: 1000 }) }),
    steps: [
      { at: 0, cost: 3, expect: ok(0, 2000) },
      // 3 × (2000 − t) / 1000 + 1 ≤ 3 from t = 1333.33…: 834 ms from 500, not 833.
      { at: 500, expect: no(0, 1500, 834) },
      // At 1333 the estimate is 3 × 0.667 = 2.001: 0.999 left, rounded down to 0; one more millisecond.
      { at: 1333, op: 'peek', expect: no(0, 667, 1) },
      { at: 1334, expect: ok(0, 1666) },
      // 3 × (2000 − t) / 1000 + 1 + 1 ≤ 3 from t = 1666.67…: 333 ms.
      { at: 1334, op: 'peek', expect: no(0, 1666, 333) },
      { at: 1667, expect: ok(0, 1333) },
    ],
  },
  {
    // A clock that steps back (on Redis, a failover to a replica whose clock is behind): within
    // the window the previous count weighs more, and before it the counts are read in the key's
    // window, the later one, as at its start, where the previous window weighs in whole.
    name: 'sliding-window counter: a clock stepping back keeps the later window and its counts; remaining stays at 0',
    policies: counter10,
    steps: [
      { at: 9000, cost: 10, expect: ok(0, 2000) },
      // 10 × 0.1 + 9 = 10.
      { at: 10_900, cost: 9, expect: ok(0, 1100) },
      // 10 × 0.9 + 9 = 18, more than the limit: nothing left, not -8.
      { at: 10_100, op: 'peek', expect: no(0, 1900, 900) },
      // In the window before: 10 + 9 = 19, as at 10000.
      { at: 9500, op: 'peek', expect: no(0, 2500, 1500) },
      { at: 9500, expect: no(0, 2500, 1500) },
      // 9 back from the current count: 10 + 0 = 10; 10 × (11000 − t) / 1000 + 1 ≤ 10 from t = 10100.
      { at: 9500, op: 'refund', cost: 9, expect: no(0, 1500, 600) },
      { at: 10_100, expect: ok(0, 1900) },
      // The window of 10000..10999 counted 1.
      { at: 11_000, op: 'peek', expect: ok(9, 1000) },
    ],
  },
  {
    // Read from before the key's window, the estimate is the one at its start, where the previous
    // window weighs in whole: 4 + 2, not 4 × 1.5 + 2 as the formula would give at 9500.
    name: 'sliding-window counter: a clock stepping back reads the estimate at the start of the key window',
    policies: counter10,
    steps: [
      { at: 9200, cost: 4, expect: ok(6, 1800) },
      // 4 × 0.9 + 0 = 3.6.
      { at: 10_100, cost: 2, expect: ok(4, 1900) },
      { at: 9500, cost: 3, expect: ok(1, 2500) },
      // 4 × 0.9 + 5 = 8.6.
      { at: 10_100, op: 'peek', expect: ok(1, 1900) },
    ],
  },
  {
    // As for the fixed window: further back than a minute, the key's window is not the later time.
    name: 'sliding-window counter: a key more than a minute ahead of the clock counts nothing',
    policies: counter10,
    steps: [
      { at: 70_500, cost: 10, expect: ok(0, 1500) },
      // Its window starts 60.6 s after this reading.
      { at: 9400, cost: 4, expect: ok(6, 1600) },
    ],
  },
  {
    name: 'sliding-window counter: concurrent calls on a fresh key admit exactly the limit; reset clears them',
    policies: counter10,
    steps: [
      { at: 0, concurrent: 20, allowedCount: 10 },
      { at: 1, expect: no(0, 1999, 1099) },
      { at: 1, op: 'reset' },
      { at: 1, op: 'peek', expect: ok(10, 0) },
      { at: 1, expect: ok(9, 1999) },
    ],
  },
];
