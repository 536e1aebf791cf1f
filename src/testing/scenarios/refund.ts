import { fixedWindow, slidingWindowCounter, slidingWindowLog, tokenBucket } from 'floodgate';
import type { ContractScenario } from '../types.js';
import { no, ok } from './expect.js';

/**
 * `refund` gives back up to `cost` units to every policy, never beyond its limit, and resolves
 * with what a peek of cost 1 gives after it. Each scenario ends in a state that a refund taking
 * the wrong units (the oldest, the previous window's first) or going past the limit would not give.
 */
export const refundScenarios: readonly ContractScenario[] = [
  {
    name: 'refund, sliding log: the newest entries go first, a partly refunded entry keeps the rest',
    policies: () => ({ default: slidingWindowLog({ limit: 10, windowMs: 1000 }) }),
    steps: [
      { at: 0, cost: 3, expect: ok(7, 1000) },
      { at: 100, cost: 4, expect: ok(3, 1000) },
      { at: 200, cost: 3, expect: ok(0, 1000) },
      // 5 back: all of the entry of 200 (3), then 2 of the entry of 100, which keeps 2 until 1100.
      { at: 300, op: 'refund', cost: 5, expect: ok(5, 800) },
      { at: 300, op: 'refund', cost: 0, expect: ok(5, 800) },
      // A cost of 6 needs 1 unit freed: the oldest entry, untouched, frees 3 at 1000.
      { at: 300, op: 'peek', cost: 6, expect: no(5, 800, 700) },
      { at: 300, cost: 5, expect: ok(0, 1000) },
      // Left: 2 until 1100 and 5 until 1300 (the oldest-first refund would have left 10 here).
      { at: 1000, op: 'peek', expect: ok(3, 300) },
      { at: 1100, op: 'peek', expect: ok(5, 200) },
      { at: 1200, op: 'refund', cost: 10, expect: ok(10, 0) },
      { at: 1200, key: 'fresh', op: 'refund', cost: 2, expect: ok(10, 0) },
      { at: 1200, key: 'fresh', expect: ok(9, 1000) },
    ],
  },
  {
    name: 'refund, token bucket: tokens come back, never past the capacity',
    policies: () => ({ default: tokenBucket({ capacity: 3, refillPerSecond: 2 }) }),
    steps: [
      { at: 0, cost: 3, expect: ok(0, 1500) },
      { at: 0, op: 'refund', expect: ok(1, 1000) },
      { at: 0, op: 'refund', cost: 0, expect: ok(1, 1000) },
      // Holding 2 (1 given back, 1 refilled): 3 more fill the bucket, and no more.
      { at: 500, op: 'refund', cost: 3, expect: ok(3, 0) },
      { at: 500, cost: 3, expect: ok(0, 1500) },
      { at: 500, expect: no(0, 1500, 500) },
      { at: 500, key: 'fresh', op: 'refund', cost: 2, expect: ok(3, 0) },
      { at: 500, key: 'fresh', expect: ok(2, 500) },
    ],
  },
  {
    name: 'refund, fixed window: the count goes down, never below 0',
    policies: () => ({ default: fixedWindow({ limit: 3, windowMs: 1000 }) }),
    steps: [
      { at: 100, cost: 2, expect: ok(1, 900) },
      { at: 200, op: 'refund', expect: ok(2, 800) },
      // 3 back from a count of 1.
      { at: 300, op: 'refund', cost: 3, expect: ok(3, 0) },
      // A count taken below 0 would leave some of the limit after a call of 3.
      { at: 400, cost: 3, expect: ok(0, 600) },
      { at: 400, op: 'refund', cost: 0, expect: no(0, 600, 600) },
      { at: 400, expect: no(0, 600, 600) },
      { at: 400, key: 'fresh', op: 'refund', cost: 3, expect: ok(3, 0) },
      { at: 400, key: 'fresh', expect: ok(2, 600) },
    ],
  },
  {
    name: "refund, sliding-window counter: the current window's count first, then the previous one's, never below 0",
    policies: () => ({ default: slidingWindowCounter({ limit: 10, windowMs: 1000 }) }),
    steps: [
      { at: 0, cost: 6, expect: ok(4, 2000) },
      { at: 1000, cost: 3, expect: ok(1, 2000) },
      // 3 from the current window, 1 from the previous: 5 × 0.5 = 2.5 used (previous first: 2 × 0.5 + 3 = 4).
      { at: 1500, op: 'refund', cost: 4, expect: ok(7, 500) },
      { at: 1500, op: 'refund', cost: 0, expect: ok(7, 500) },
      { at: 1500, op: 'refund', cost: 10, expect: ok(10, 0) },
      { at: 1500, cost: 10, expect: ok(0, 1500) },
      { at: 1500, expect: no(0, 1500, 600) },
      { at: 1500, key: 'fresh', op: 'refund', cost: 1, expect: ok(10, 0) },
    ],
  },
  {
    name: 'refund, several policies: every policy gets the units back, all-or-nothing still holds',
    policies: () => ({
      burst: tokenBucket({ capacity: 2, refillPerSecond: 1 }),
      window: fixedWindow({ limit: 5, windowMs: 10_000 }),
    }),
    steps: [
      { at: 0, expect: { ...ok(1, 1000), policy: 'burst', policies: { burst: ok(1, 1000), window: ok(4, 10_000) } } },
      { at: 0, expect: { ...ok(0, 2000), policy: 'burst', policies: { window: ok(3, 10_000) } } },
      {
        at: 0,
        op: 'refund',
        expect: { ...ok(1, 1000), policy: 'burst', policies: { burst: ok(1, 1000), window: ok(4, 10_000) } },
      },
      {
        at: 0,
        cost: 2,
        expect: {
          ...no(1, 1000, 1000),
          policy: 'burst',
          policies: { burst: no(1, 1000, 1000), window: ok(4, 10_000) },
        },
      },
    ],
  },
];
