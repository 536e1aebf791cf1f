import { deepStrictEqual, strictEqual, throws } from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  type Algorithm,
  createLimiter,
  fixedWindow,
  isFloodgateError,
  MemoryStore,
  type RedisClient,
  RedisStore,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { runContractScenario } from 'floodgate/testing';
import { leakyBucket } from '../examples/leaky-bucket.js';
import { leakyBucketContract } from './helpers/leaky-bucket-scenarios.js';
import { randomPrefix, useSuiteRedis } from './helpers/redis.js';
import { replayOnBothStores, twinLockouts, twinOps, twinStarts } from './helpers/twin-replay.js';

/** Timeouts are not under test here: a busy machine must not turn into a failure. */
const PATIENT_MS = 5000;

/** The store's client: of the library FLOODGATE_TEST_CLIENT picks (see helpers/clients.ts). */
let client: RedisClient;
useSuiteRedis((_server, _c, forStore) => {
  client = forStore;
});

describe('example leaky bucket: contract on the memory store', () => {
  for (const scenario of leakyBucketContract) {
    test(scenario.name, () =>
      runContractScenario(scenario, (clock) => new MemoryStore({ clock, sweepIntervalMs: false })),
    );
  }
});

for (const denyCache of [true, false]) {
  describe(`example leaky bucket: contract on the redis store (denyCache: ${denyCache})`, () => {
    for (const scenario of leakyBucketContract) {
      test(scenario.name, () =>
        runContractScenario(
          scenario,
          (clock) => new RedisStore({ client, timeoutMs: PATIENT_MS, clock, denyCache }),
          randomPrefix('leaky'),
        ),
      );
    }
  });
}

describe('example leaky bucket: the TypeScript step', () => {
  test('options are checked at construction, naming the option and the bad value', () => {
    const refused = (options: unknown, message: string): void =>
      throws(
        () => leakyBucket(options as { capacity: number; leakPerSecond: number }),
        (e: unknown) => isFloodgateError(e) && e.code === 'ERR_INVALID_OPTION' && e.message === message,
      );
    refused({ capacity: 0, leakPerSecond: 1 }, 'leakyBucket: capacity must be a positive integer, got 0');
    refused(
      { capacity: 3, leakPerSecond: 0 },
      'leakyBucket: leakPerSecond must be a number of units per second from 1e-9 to 1,000,000, got 0',
    );
    refused(
      { capacity: 3, leakPerSecond: 1, leakPerSec: 1 },
      'leakyBucket: unknown option "leakPerSec"; allowed options are capacity, leakPerSecond',
    );
  });

  // The contract lets stores skip the expiry check on the hot path: a state past expiresAt must
  // decide, charge and refund exactly as no state does.
  test('a state past expiresAt decides as no state does (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.oneof(fc.constantFrom(7 / 3, 1000 / 7, 0.3, 0.001), fc.double({ min: 1e-3, max: 1e4, noNaN: true })),
        fc.double({ min: 1e-6, max: 50, noNaN: true }),
        fc.oneof(
          fc.double({ min: 1.7e12, max: 1.8e12, noNaN: true }),
          fc.double({ min: -5000, max: 5000, noNaN: true }),
        ),
        fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1e6, noNaN: true })),
        fc.integer({ min: 0, max: 50 }),
        (capacity, leakPerSecond, level, at, later, cost) => {
          const bucket = leakyBucket({ capacity, leakPerSecond });
          const c = Math.min(cost, capacity);
          const now = bucket.expiresAt([Math.min(level, capacity), at]) + later;
          const state = (): [number, number] => [Math.min(level, capacity), at];
          for (const charge of [true, false]) {
            deepStrictEqual(bucket.evaluate(state(), now, c, charge), bucket.evaluate(undefined, now, c, charge));
          }
          if (c > 0) deepStrictEqual(bucket.charge(state(), now, c), bucket.charge(undefined, now, c));
          strictEqual(bucket.refund(state(), now, c), undefined);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

// A denial cached by the Redis store answers a larger cost without Redis. With a per-unit bound
// (`msPerUnit`) it would have told this call of 5 to wait 15,000 ms, a millisecond short of the
// 15,001 its level needs (found by fuzzing); the example leaves msPerUnit out for that reason.
test('example leaky bucket: a larger cost answered from the deny cache waits long enough', async () => {
  let now = 8023;
  const limiter = createLimiter({
    algorithm: leakyBucket({ capacity: 8, leakPerSecond: 0.3 }),
    store: new RedisStore({ client, timeoutMs: PATIENT_MS, clock: () => now, denyCache: true }),
    prefix: randomPrefix('leaky-cache'),
    onStoreError: 'throw',
  });
  strictEqual((await limiter.consume('k', { cost: 8 })).allowed, true);
  now = 9689.666666666666;
  strictEqual((await limiter.consume('k', { cost: 2 })).allowed, false);
  const larger = await limiter.consume('k', { cost: 5 });
  strictEqual(larger.allowed, false);
  now += larger.retryAfterMs;
  strictEqual((await limiter.consume('k', { cost: 5 })).allowed, true);
});

// The Lua twin must decide exactly like the TS step, float for float: random call sequences at
// epoch-sized, fractional times (like the server clock's microseconds) with awkward rates, on
// both stores, compared Decision by Decision, refunds and blocks included.
describe('example leaky bucket: the redis store decides exactly like the memory store (property)', () => {
  const rate = fc.oneof(
    fc.constantFrom(0.3, 7 / 3, 1, 3, 1000 / 7, 0.001),
    fc.double({ min: 0.01, max: 500, noNaN: true }),
  );
  // With the rate, so steps can move time by whole and half units of drain: levels then land on
  // or next to whole numbers, where one rounding of a differing float operation flips a decision.
  const algorithms: fc.Arbitrary<{ policies: Record<string, Algorithm>; msPerUnit: number }> = fc.oneof(
    fc.record({ capacity: fc.integer({ min: 1, max: 12 }), leakPerSecond: rate }).map((o) => ({
      policies: { default: leakyBucket(o) },
      msPerUnit: 1000 / o.leakPerSecond,
    })),
    fc
      .record({
        capacity: fc.integer({ min: 2, max: 6 }),
        leakPerSecond: rate,
        limit: fc.integer({ min: 2, max: 8 }),
        windowMs: fc.integer({ min: 10, max: 2000 }),
      })
      .map((o) => ({
        policies: {
          leak: leakyBucket({ capacity: o.capacity, leakPerSecond: o.leakPerSecond }),
          log: slidingWindowLog({ limit: o.limit, windowMs: o.windowMs }),
          fixed: fixedWindow({ limit: o.limit + 2, windowMs: o.windowMs * 2 }),
          bucket: tokenBucket({ capacity: o.capacity + 1, refillPerSecond: o.leakPerSecond }),
        },
        msPerUnit: 1000 / o.leakPerSecond,
      })),
  );
  const step = fc.record({
    dt: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 700, noNaN: true }), fc.integer({ min: 0, max: 400 })),
    units: fc.oneof(fc.constant(0), fc.constant(0), fc.constantFrom(0.5, 1, 2, 3)),
    op: twinOps,
    cost: fc.integer({ min: 0, max: 3 }),
    key: fc.constantFrom('a', 'b'),
  });

  test('random sequences give identical Decisions', async () => {
    await fc.assert(
      fc.asyncProperty(
        algorithms,
        fc.array(step, { minLength: 1, maxLength: 30 }),
        twinStarts,
        twinLockouts,
        ({ policies, msPerUnit }, steps, start, blockDurationMs) =>
          replayOnBothStores({
            policies,
            steps,
            start,
            blockDurationMs,
            client,
            timeoutMs: PATIENT_MS,
            // Whole and half units of the leak land exactly where a unit leaves the bucket.
            advance: (s) => (s.units === 0 ? s.dt : s.units * msPerUnit),
          }),
      ),
      { numRuns: 800, includeErrorInReport: true },
    );
  });

  // Each policy's twin keeps its locals for the whole of a call's code, and a Lua function holds
  // at most 200: the twin keeps five besides its four reply slots, so the store's most fit.
  test('sixteen leaky-bucket policies fit in one script', async () => {
    const policies: Record<string, Algorithm> = {};
    for (let i = 0; i < 16; i++) policies[`p${i}`] = leakyBucket({ capacity: 2 + i, leakPerSecond: 1 + i });
    const limiter = createLimiter({
      policies,
      store: new RedisStore({ client, timeoutMs: PATIENT_MS, clock: () => 0 }),
      prefix: randomPrefix('leaky16'),
      onStoreError: 'throw',
    });
    const d = await limiter.consume('k');
    strictEqual(d.allowed, true);
    strictEqual(d.policy, 'p0');
    deepStrictEqual(d.policies?.p15, { allowed: true, limit: 17, remaining: 16, resetMs: 63, retryAfterMs: 0 });
  });
});
