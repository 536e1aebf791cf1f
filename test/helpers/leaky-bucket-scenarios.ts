import { slidingWindowLog } from 'floodgate';
import type { ContractScenario, ExpectedDecision } from 'floodgate/testing';
import { leakyBucket } from '../../examples/leaky-bucket.js';

const ok = (remaining: number, resetMs: number): ExpectedDecision => ({
  allowed: true,
  remaining,
  resetMs,
  retryAfterMs: 0,
});
const no = (remaining: number, resetMs: number, retryAfterMs: number): ExpectedDecision => ({
  allowed: false,
  remaining,
  resetMs,
  retryAfterMs,
});

const bucket3 = () => ({ default: leakyBucket({ capacity: 3, leakPerSecond: 2 }) });

/**
 * The example leaky bucket's contract, worked out by hand: every store must give these Decisions.
 * Rates are chosen so that every figure is exact (2/s is 500 ms a unit, 4/s 250 ms), and a denied
 * key is called again before its wait has passed only with the same cost, whose figures the Redis
 * store's deny cache serves counted down, as the algorithm gives them.
 */
export const leakyBucketContract: readonly ContractScenario[] = [
  {
    name: 'leaky bucket: fills, denies with the exact wait, drains continuously',
    policies: bucket3,
    steps: [
      // Level 0 → 1: 500 ms to drain one unit at 2/s.
      { at: 0, expect: { ...ok(2, 500), limit: 3 } },
      { at: 0, expect: ok(1, 1000) },
      { at: 0, expect: ok(0, 1500) },
      // Level 3: a unit fits once it is down to 2, at 500; empty at 1500.
      { at: 0, expect: no(0, 1500, 500) },
      // Level 2.5: remaining is floored; the denied call added nothing.
      { at: 250, expect: no(0, 1250, 250) },
      { at: 500, expect: ok(0, 1500) },
      // Level 3 - 2 = 1 at 1500, then 2.
      { at: 1500, expect: ok(1, 1000) },
      // Long drained: never below 0.
      { at: 5000, expect: ok(2, 500) },
    ],
  },
  {
    name: 'leaky bucket: weighted costs, fractional level',
    policies: () => ({ default: leakyBucket({ capacity: 10, leakPerSecond: 4 }) }),
    steps: [
      { at: 0, cost: 10, expect: ok(0, 2500) },
      // Level 9.6: one unit fits at 9, 150 ms on; empty at 2500.
      { at: 100, cost: 1, expect: no(0, 2400, 150) },
      { at: 250, cost: 1, expect: ok(0, 2500) },
      // Level 6 at 1250: 4 remain, five fit at 5, 250 ms on.
      { at: 1250, cost: 5, expect: no(4, 1500, 250) },
      { at: 1500, cost: 5, expect: ok(0, 2500) },
      { at: 1500, cost: 0, expect: ok(0, 2500) },
    ],
  },
  {
    name: 'leaky bucket: a partly drained unit is not counted as free',
    policies: () => ({ default: leakyBucket({ capacity: 5, leakPerSecond: 1 }) }),
    steps: [
      { at: 0, cost: 5, expect: ok(0, 5000) },
      // Level 3.5: 1.5 free, so 1 remains and a cost of 2 waits for level 3.
      { at: 1500, op: 'peek', expect: ok(1, 3500) },
      { at: 1500, cost: 2, expect: no(1, 3500, 500) },
      { at: 2000, cost: 2, expect: ok(0, 5000) },
    ],
  },
  {
    name: 'leaky bucket: peek charges nothing, reset empties the bucket',
    policies: bucket3,
    steps: [
      { at: 0, op: 'peek', expect: ok(3, 0) },
      { at: 0, cost: 3, expect: ok(0, 1500) },
      { at: 100, op: 'peek', expect: no(0, 1400, 400) },
      { at: 100, op: 'reset' },
      { at: 100, op: 'peek', expect: ok(3, 0) },
      { at: 100, expect: ok(2, 500) },
    ],
  },
  {
    // The call at 9500 sees the level measured at 10,000, undrained, and the bucket keeps the
    // later time: it never drains twice over the same span.
    name: 'leaky bucket: a clock stepping back drains nothing',
    policies: () => ({ default: leakyBucket({ capacity: 2, leakPerSecond: 1 }) }),
    steps: [
      { at: 10_000, expect: ok(1, 1000) },
      { at: 9500, expect: ok(0, 2500) },
      { at: 10_600, expect: no(0, 1400, 400) },
      { at: 11_000, expect: ok(0, 2000) },
    ],
  },
  {
    name: 'leaky bucket: a refund lowers the level, never below empty',
    policies: bucket3,
    steps: [
      { at: 0, cost: 3, expect: ok(0, 1500) },
      // Level 2: what a peek of cost 1 gives after the refund.
      { at: 0, op: 'refund', expect: ok(1, 1000) },
      { at: 0, op: 'refund', cost: 0, expect: ok(1, 1000) },
      // Level 1.5 at 250: 3 back empties the bucket, and no more.
      { at: 250, op: 'refund', cost: 3, expect: ok(3, 0) },
      { at: 250, cost: 3, expect: ok(0, 1500) },
      { at: 250, expect: no(0, 1500, 500) },
      // Level 2.75 at 375, 1.75 after the refund: the call denied at 250 fits now.
      { at: 375, op: 'refund', expect: ok(1, 875) },
      { at: 375, expect: ok(0, 1375) },
      { at: 375, key: 'fresh', op: 'refund', cost: 2, expect: ok(3, 0) },
      { at: 375, key: 'fresh', expect: ok(2, 500) },
    ],
  },
  {
    name: 'leaky bucket: a block denies every call and charges nothing, while the bucket drains',
    policies: bucket3,
    steps: [
      { at: 0, cost: 2, expect: ok(1, 1000) },
      { at: 0, op: 'block', durationMs: 2000, expect: { ...no(0, 2000, 2000), blocked: true } },
      { at: 500, expect: { ...no(0, 1500, 1500), blocked: true } },
      { at: 500, cost: 0, expect: { ...no(0, 1500, 1500), blocked: true } },
      // Drained empty while blocked, and never charged by the calls denied.
      { at: 2000, expect: ok(2, 500) },
    ],
  },
  {
    // Denied at level 3, the key is locked out for 1000 ms though a unit fits at 500.
    name: 'leaky bucket: with blockDurationMs, a denied consume locks the key out, a denied peek does not',
    policies: bucket3,
    blockDurationMs: 1000,
    steps: [
      { at: 0, cost: 3, expect: ok(0, 1500) },
      { at: 0, expect: { ...no(0, 1500, 1000), blocked: true } },
      { at: 500, op: 'peek', expect: { ...no(0, 1000, 500), blocked: true } },
      { at: 1000, expect: ok(1, 1000) },
      { at: 1000, op: 'peek', cost: 3, expect: { ...no(1, 1000, 1000), blocked: false } },
      { at: 1000, expect: ok(0, 1500) },
    ],
  },
  {
    name: 'leaky bucket: concurrent calls on a fresh key admit exactly the capacity',
    policies: () => ({ default: leakyBucket({ capacity: 10, leakPerSecond: 1 }) }),
    steps: [
      { at: 0, concurrent: 20, allowedCount: 10 },
      { at: 0, expect: no(0, 10_000, 1000) },
    ],
  },
  {
    name: 'leaky bucket with a sliding log: all-or-nothing, the binding policy reports',
    policies: () => ({
      burst: leakyBucket({ capacity: 2, leakPerSecond: 1 }),
      window: slidingWindowLog({ limit: 3, windowMs: 10_000 }),
    }),
    steps: [
      { at: 0, expect: { ...ok(1, 1000), policy: 'burst', policies: { burst: ok(1, 1000), window: ok(2, 10_000) } } },
      { at: 0, expect: { ...ok(0, 2000), policy: 'burst', policies: { window: ok(1, 10_000) } } },
      // The bucket denies, so the log is not charged and reports its uncharged view.
      {
        at: 0,
        expect: {
          ...no(0, 2000, 1000),
          policy: 'burst',
          policies: { burst: no(0, 2000, 1000), window: ok(1, 10_000) },
        },
      },
      {
        at: 1000,
        expect: { ...ok(0, 10_000), policy: 'window', policies: { burst: ok(0, 2000), window: ok(0, 10_000) } },
      },
      // The log denies: the bucket, drained empty by now, is not charged.
      {
        at: 5000,
        expect: { ...no(0, 6000, 5000), policy: 'window', policies: { burst: ok(2, 0), window: no(0, 6000, 5000) } },
      },
      {
        at: 10_000,
        expect: { ...ok(1, 10_000), policy: 'window', policies: { burst: ok(1, 1000), window: ok(1, 10_000) } },
      },
    ],
  },
];
