/**
 * The TS-vs-Lua property, with batches: calls made together at one instant are decided, in Redis,
 * in the order they were made, exactly as the memory store decides them one by one. Shared by the
 * single-server suite and the Cluster suite, where the keys lie in several slots of one master.
 */
import { deepStrictEqual } from 'node:assert/strict';
import fc from 'fast-check';
import {
  type Algorithm,
  type Clock,
  createLimiter,
  type Decision,
  fixedWindow,
  type Limiter,
  MemoryStore,
  type RedisStore,
  slidingWindowCounter,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { randomPrefix } from './redis.js';

export interface BatchPropertyOptions {
  /** A Redis store on the test clock, with no deny cache (it would answer some calls locally). */
  store(clock: Clock): RedisStore;
  /** The three keys the calls use, for a limiter of this prefix. */
  keys(prefix: string): Promise<readonly [string, string, string]> | readonly [string, string, string];
  numRuns: number;
}

export async function batchesDecideLikeMemory({ store, keys, numRuns }: BatchPropertyOptions): Promise<void> {
  const algorithms: fc.Arbitrary<Algorithm> = fc.oneof(
    fc
      .record({ limit: fc.integer({ min: 1, max: 8 }), windowMs: fc.integer({ min: 1, max: 2000 }) })
      .map((o) => slidingWindowLog(o)),
    fc
      .record({
        capacity: fc.integer({ min: 1, max: 8 }),
        refillPerSecond: fc.double({ min: 0.1, max: 50, noNaN: true }),
      })
      .map((o) => tokenBucket(o)),
    fc
      .record({ limit: fc.integer({ min: 1, max: 8 }), windowMs: fc.integer({ min: 1, max: 2000 }) })
      .map((o) => fixedWindow(o)),
    fc
      .record({ limit: fc.integer({ min: 1, max: 8 }), windowMs: fc.integer({ min: 1, max: 2000 }) })
      .map((o) => slidingWindowCounter(o)),
  );
  const call = fc.record({
    op: fc.constantFrom('consume', 'consume', 'consume', 'peek', 'refund', 'block'),
    key: fc.constantFrom(0, 1, 2),
    cost: fc.integer({ min: 0, max: 2 }),
  });
  const group = fc.record({
    dt: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 800, noNaN: true })),
    calls: fc.array(call, { minLength: 1, maxLength: 12 }),
  });
  await fc.assert(
    fc.asyncProperty(
      algorithms,
      fc.array(group, { minLength: 1, maxLength: 8 }),
      fc.double({ min: 1.7e12, max: 1.8e12, noNaN: true }),
      fc.constantFrom(0, 300),
      async (algorithm, groups, start, blockDurationMs) => {
        let now = start;
        const clock = (): number => now;
        const prefix = randomPrefix('batchprop');
        const names = await keys(prefix);
        const memory = createLimiter({
          algorithm,
          store: new MemoryStore({ clock, sweepIntervalMs: false }),
          prefix,
          blockDurationMs,
        });
        const redis = createLimiter({ algorithm, store: store(clock), prefix, blockDurationMs, onStoreError: 'throw' });
        const run = (l: Limiter, c: { op: string; key: number; cost: number }): Promise<Decision> => {
          const cost = Math.min(c.cost, algorithm.limit);
          const key = names[c.key] as string;
          if (c.op === 'peek') return l.peek(key, { cost });
          if (c.op === 'refund') return l.refund(key, { cost });
          if (c.op === 'block') return l.block(key, { durationMs: 1 + cost * 100 });
          return l.consume(key, { cost });
        };
        for (const [g, { dt, calls }] of groups.entries()) {
          now += dt;
          const expected: Decision[] = [];
          for (const c of calls) expected.push(await run(memory, c));
          const actual = await Promise.all(calls.map((c) => run(redis, c)));
          deepStrictEqual(actual, expected, `group ${g + 1} at ${now}`);
        }
      },
    ),
    { numRuns },
  );
}
