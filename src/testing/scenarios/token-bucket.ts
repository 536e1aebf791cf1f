import { tokenBucket } from 'floodgate';
import type { ContractScenario } from '../types.js';
import { no, ok } from './expect.js';

const bucket3 = () => ({ default: tokenBucket({ capacity: 3, refillPerSecond: 2 }) });

export const tokenBucketScenarios: readonly ContractScenario[] = [
  {
    name: 'token bucket: starts full, drains, refills continuously',
    policies: bucket3,
    steps: [
      { at: 0, expect: { ...ok(2, 500), limit: 3 } },
      { at: 0, expect: ok(1, 1000) },
      { at: 0, expect: ok(0, 1500) },
      { at: 0, expect: no(0, 1500, 500) },
      { at: 250, expect: no(0, 1250, 250) },
      { at: 500, expect: ok(0, 1500) },
      { at: 1500, expect: ok(1, 1000) },
      { at: 5000, expect: ok(2, 500) },
    ],
  },
  {
    name: 'token bucket: weighted costs and fractional refill',
    policies: () => ({ default: tokenBucket({ capacity: 10, refillPerSecond: 4 }) }),
    steps: [
      { at: 0, cost: 10, expect: ok(0, 2500) },
      { at: 100, cost: 1, expect: no(0, 2400, 150) },
      { at: 250, cost: 1, expect: ok(0, 2500) },
      { at: 1250, cost: 5, expect: no(4, 1500, 250) },
      { at: 1500, cost: 5, expect: ok(0, 2500) },
      { at: 1500, cost: 0, expect: ok(0, 2500) },
    ],
  },
  {
    name: 'token bucket: peek and reset',
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
    // A clock that steps back (on Redis, a failover to a replica whose clock is behind) finds the
    // bucket owing 5 tokens of its 3: it holds none, and the waits run from the earlier reading.
    name: 'token bucket: a clock stepping back reports remaining 0, never less; a refund to full leaves no debt',
    policies: bucket3,
    steps: [
      { at: 10_000, cost: 3, expect: ok(0, 1500) },
      { at: 9000, op: 'peek', expect: no(0, 2500, 1500) },
      { at: 9000, expect: no(0, 2500, 1500) },
      { at: 10_500, expect: ok(0, 1500) },
      // Refunded to full, the bucket is no state at all: read 100 ms earlier, it is still full.
      { at: 10_500, op: 'refund', cost: 3, expect: ok(3, 0) },
      { at: 10_400, op: 'peek', expect: ok(3, 0) },
    ],
  },
  {
    name: 'token bucket: concurrent calls on a fresh key admit exactly the capacity',
    policies: () => ({ default: tokenBucket({ capacity: 10, refillPerSecond: 1 }) }),
    steps: [
      { at: 0, concurrent: 20, allowedCount: 10 },
      { at: 0, expect: no(0, 10000, 1000) },
    ],
  },
];
