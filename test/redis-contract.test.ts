import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  type Algorithm,
  createLimiter,
  fixedWindow,
  MemoryStore,
  type RedisClient,
  RedisStore,
  slidingWindowCounter,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { runContractScenario, storeContract } from 'floodgate/testing';
import { randomPrefix, useSuiteRedis } from './helpers/redis.js';
import { replayOnBothStores, twinLockouts, twinOps, twinStarts } from './helpers/twin-replay.js';

/** Timeouts are not under test here: a busy machine must not turn into a failure. */
const PATIENT_MS = 5000;

/** The store's client: of the library FLOODGATE_TEST_CLIENT picks (see helpers/clients.ts). */
let client: RedisClient;
useSuiteRedis((_server, _c, forStore) => {
  client = forStore;
});

for (const denyCache of [true, false]) {
  describe(`redis store contract (denyCache: ${denyCache})`, () => {
    for (const scenario of storeContract) {
      test(scenario.name, () =>
        runContractScenario(
          scenario,
          (clock) => new RedisStore({ client, timeoutMs: PATIENT_MS, clock, denyCache }),
          randomPrefix('contract'),
        ),
      );
    }
  });
}

// The Lua twins must decide exactly like the TS algorithms, float for float: random call
// sequences at epoch-sized, fractional times (like the server clock's microseconds) with awkward
// rates, on both stores, compared Decision by Decision.
describe('redis store decides exactly like the memory store (property)', () => {
  const bucket = fc
    .record({
      capacity: fc.integer({ min: 1, max: 12 }),
      refillPerSecond: fc.oneof(
        fc.constantFrom(0.3, 7 / 3, 1, 3, 1000 / 7, 0.001),
        fc.double({ min: 0.01, max: 500, noNaN: true }),
      ),
    })
    .map((o) => ({ default: tokenBucket(o) }));
  // Windows of 1 ms at epoch times with limits past 2^53 / window keep their counts apart from
  // the window (the split layout); small ones pack them into one integer.
  const fixed = fc
    .record({
      limit: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constant(9_000_000)),
      windowMs: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.constant(1)),
    })
    .map((o) => ({ default: fixedWindow(o) }));
  const counter = fc
    .record({
      limit: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constant(3000)),
      windowMs: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.constant(7)),
    })
    .map((o) => ({ default: slidingWindowCounter(o) }));
  const algorithms: fc.Arbitrary<Record<string, Algorithm>> = fc.oneof(
    fc
      .record({ limit: fc.integer({ min: 1, max: 12 }), windowMs: fc.integer({ min: 1, max: 3000 }) })
      .map((o) => ({ default: slidingWindowLog(o) })),
    bucket,
    fc
      .record({
        capacity: fc.integer({ min: 2, max: 6 }),
        refillPerSecond: fc.double({ min: 0.1, max: 50, noNaN: true }),
        limit: fc.integer({ min: 2, max: 8 }),
        windowMs: fc.integer({ min: 10, max: 2000 }),
      })
      .map((o) => ({
        burst: tokenBucket({ capacity: o.capacity, refillPerSecond: o.refillPerSecond }),
        window: slidingWindowLog({ limit: o.limit, windowMs: o.windowMs }),
      })),
    fixed,
    counter,
    fc
      .record({
        limit: fc.integer({ min: 2, max: 8 }),
        windowMs: fc.integer({ min: 10, max: 2000 }),
        capacity: fc.integer({ min: 2, max: 6 }),
      })
      .map((o) => ({
        fixed: fixedWindow({ limit: o.limit, windowMs: o.windowMs }),
        counter: slidingWindowCounter({ limit: o.capacity, windowMs: o.windowMs * 3 }),
        log: slidingWindowLog({ limit: o.limit + 1, windowMs: o.windowMs }),
      })),
  );
  const forward = fc.oneof(
    fc.constant(0),
    fc.double({ min: 0, max: 700, noNaN: true }),
    fc.integer({ min: 0, max: 400 }),
  );
  const step = fc.record({
    dt: forward,
    op: twinOps,
    cost: fc.integer({ min: 0, max: 3 }),
    key: fc.constantFrom('a', 'b'),
  });

  test('random sequences give identical Decisions', async () => {
    await fc.assert(
      fc.asyncProperty(
        algorithms,
        fc.array(step, { minLength: 1, maxLength: 40 }),
        twinStarts,
        twinLockouts,
        (policies, steps, start, blockDurationMs) =>
          replayOnBothStores({
            policies,
            steps,
            start,
            blockDurationMs,
            client,
            timeoutMs: PATIENT_MS,
            advance: (s) => s.dt,
          }),
      ),
      { numRuns: 600, includeErrorInReport: true },
    );
  });

  // A clock that steps back (a failover to a replica whose clock is behind), across a window's
  // boundary or within it: both twins decide in the key's later window alike. One key, and no
  // blocks: the stores forget expired state each in their own way (the memory store when it makes
  // room for another key, Redis by TTL), which a clock going back shows, and which is no rule of
  // the algorithms'.
  const steppingBack: fc.Arbitrary<Record<string, Algorithm>> = fc.oneof(
    bucket,
    fixed,
    counter,
    fc
      .record({
        limit: fc.integer({ min: 2, max: 8 }),
        windowMs: fc.integer({ min: 10, max: 2000 }),
        capacity: fc.integer({ min: 2, max: 6 }),
        refillPerSecond: fc.double({ min: 0.1, max: 50, noNaN: true }),
      })
      .map((o) => ({
        fixed: fixedWindow({ limit: o.limit, windowMs: o.windowMs }),
        counter: slidingWindowCounter({ limit: o.capacity, windowMs: o.windowMs * 3 }),
        burst: tokenBucket({ capacity: o.capacity, refillPerSecond: o.refillPerSecond }),
      })),
  );
  const backStep = fc.record({
    dt: fc.oneof(
      { weight: 2, arbitrary: forward },
      {
        weight: 1,
        arbitrary: fc.oneof(fc.double({ min: -1500, max: 0, noNaN: true }), fc.integer({ min: -1500, max: -1 })),
      },
    ),
    op: fc.constantFrom('consume', 'consume', 'consume', 'peek', 'refund', 'reset'),
    cost: fc.integer({ min: 0, max: 3 }),
    key: fc.constant('a'),
  });

  test('random sequences with a clock stepping back give identical Decisions', async () => {
    await fc.assert(
      fc.asyncProperty(
        steppingBack,
        fc.array(backStep, { minLength: 1, maxLength: 40 }),
        twinStarts,
        (policies, steps, start) =>
          replayOnBothStores({
            policies,
            steps,
            start,
            blockDurationMs: 0,
            client,
            timeoutMs: PATIENT_MS,
            advance: (s) => s.dt,
          }),
      ),
      { numRuns: 300, includeErrorInReport: true },
    );
  });
});

// A token bucket's wait starts from an estimate that float rounding can leave a millisecond off
// either way, and a correcting loop on each side fixes it. Such instants are rare (none in a
// million at epoch times for the first case's side), so they are listed here, found by search.
describe('token bucket waits where the first estimate is a millisecond off', () => {
  const cases = [
    { refillPerSecond: 1000 / 290, now: 1935.6615543365479, cost: 1, off: 'short' },
    { refillPerSecond: 1000 / 499, now: 1782194304466.248, cost: 1, off: 'over' },
    { refillPerSecond: 1.6129032258064515, now: 1724767851829.529, cost: 3, off: 'over' },
    { refillPerSecond: 1.148105625717566, now: 1779841303825.379, cost: 2, off: 'over' },
  ];
  for (const { refillPerSecond, now, cost, off } of cases) {
    test(`${refillPerSecond}/s at ${now}, cost ${cost}: estimate ${off}`, async () => {
      const algorithm = (): Algorithm => tokenBucket({ capacity: 3, refillPerSecond });
      const prefix = randomPrefix('estimate');
      const clock = (): number => now;
      const memory = createLimiter({ algorithm: algorithm(), store: new MemoryStore({ clock }), prefix });
      const redis = createLimiter({
        algorithm: algorithm(),
        store: new RedisStore({ client, timeoutMs: PATIENT_MS, clock, denyCache: false }),
        prefix,
        onStoreError: 'throw',
      });
      const m = await memory.consume('k', { cost });
      // The case must exercise a correction: the plain estimate differs from the answer.
      const refilled = (now * refillPerSecond) / 1000;
      const fullAt = Math.floor(refilled * 1_048_576) / 1_048_576 + cost;
      const estimate = Math.ceil(((fullAt - refilled) * 1000) / refillPerSecond);
      strictEqual(m.resetMs - estimate, off === 'short' ? 1 : -1);
      deepStrictEqual(await redis.consume('k', { cost }), m);
    });
  }
});

// The twin of the memory store's test of the same name (property.test.ts), on 20 of each whole
// rate's instants, spread over its first 20 s: the script counts the refill exactly as the memory
// store does.
test('a token due at a whole millisecond is there at that millisecond, for every whole rate up to 1,000/s', async () => {
  const capacity = 1_000_000;
  let now = 0;
  const store = new RedisStore({ client, timeoutMs: PATIENT_MS, clock: () => now, denyCache: false });
  let checked = 0;
  for (let rate = 1; rate <= 1000; rate++) {
    const limiter = createLimiter({
      algorithm: tokenBucket({ capacity, refillPerSecond: rate }),
      store,
      prefix: randomPrefix('due'),
      onStoreError: 'throw',
    });
    now = 0;
    strictEqual((await limiter.consume('k', { cost: capacity })).allowed, true);
    // Whole tokens are due every `step` ms, at its multiples: a divisor of 1,000, so at least 20
    // of them in 20 s.
    let step = 1;
    while ((step * rate) % 1000 !== 0) step++;
    const instants = 20_000 / step;
    for (let j = 1; j <= 20; j++) {
      const t = step * Math.ceil((j * instants) / 20);
      const due = (t * rate) / 1000;
      now = t - 1;
      const before = await limiter.peek('k', { cost: due });
      now = t;
      const at = await limiter.peek('k', { cost: due });
      deepStrictEqual(
        [before.allowed, before.retryAfterMs, at.allowed],
        [false, 1, true],
        `${due} tokens at ${t} ms at ${rate}/s`,
      );
      checked++;
    }
  }
  strictEqual(checked, 20_000);
});
