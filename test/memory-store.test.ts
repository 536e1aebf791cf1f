import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import {
  type Algorithm,
  createLimiter,
  type Decision,
  FloodgateError,
  fixedWindow,
  MAX_KEY_LENGTH,
  MemoryStore,
  type SlidingWindowLogState,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { FIRST } from '../src/algorithms/sliding-window-log/constants.js';
import type { IdleChurnReport } from './fixtures/idle-churn.js';
import { heapAfterGc } from './helpers/gc.js';

const run = promisify(execFile);

/** Steps the wall clock by `offsetMs` from the real time, as NTP or an operator would. */
function stepWallClock(t: TestContext, offsetMs: number): void {
  const real = Date.now.bind(Date);
  t.mock.method(Date, 'now', () => real() + offsetMs);
}

function sync(d: Decision | Promise<Decision>): Decision {
  assert.ok(!(d instanceof Promise), 'the memory store decides synchronously');
  return d;
}

describe('clock steps of ±5 s', () => {
  // The store under test, and a control whose clock is the wall clock: the control shows the
  // very steps applied here reset and block a key whose store reads Date.now.
  const stores = {
    'default monotonic clock': () => new MemoryStore({ sweepIntervalMs: false }),
    'control: a wall-clock store': () => new MemoryStore({ clock: () => Date.now(), sweepIntervalMs: false }),
  };

  for (const [name, makeStore] of Object.entries(stores)) {
    const monotonic = !name.startsWith('control');
    for (const algorithm of [
      slidingWindowLog({ limit: 2, windowMs: 4_000 }),
      tokenBucket({ capacity: 2, refillPerSecond: 0.5 }),
    ]) {
      test(`${name}, ${algorithm.name}: +5 s ${monotonic ? 'does not reset' : 'resets'} a limited key`, (t) => {
        const limiter = createLimiter({ algorithm, store: makeStore() });
        assert.ok(sync(limiter.decide('k')).allowed);
        assert.ok(sync(limiter.decide('k')).allowed);
        const denied = sync(limiter.decide('k'));
        assert.equal(denied.allowed, false);
        stepWallClock(t, 5_000);
        const after = sync(limiter.decide('k'));
        assert.equal(after.allowed, !monotonic, JSON.stringify(after));
        if (monotonic) {
          // Only real time has passed (well under a second): the wait shrank by that much.
          assert.ok(after.retryAfterMs <= denied.retryAfterMs && after.retryAfterMs > denied.retryAfterMs - 1_000);
        }
      });

      test(`${name}, ${algorithm.name}: -5 s ${monotonic ? 'does not block' : 'blocks'} a key for longer`, (t) => {
        const limiter = createLimiter({ algorithm, store: makeStore() });
        sync(limiter.decide('k'));
        sync(limiter.decide('k'));
        const denied = sync(limiter.decide('k'));
        assert.equal(denied.allowed, false);
        assert.ok(denied.retryAfterMs <= 4_000);
        stepWallClock(t, -5_000);
        const after = sync(limiter.decide('k'));
        assert.equal(after.allowed, false);
        if (monotonic) assert.ok(after.retryAfterMs <= denied.retryAfterMs, JSON.stringify(after));
        else
          assert.ok(
            after.retryAfterMs >= denied.retryAfterMs + 4_000,
            `the wall-clock store blocks for ${after.retryAfterMs} ms, up from ${denied.retryAfterMs}`,
          );
      });
    }
  }

  test('an injected clock is the only time the store sees: wall-clock steps change nothing', (t) => {
    let now = 1_000;
    const limiter = createLimiter({
      algorithm: slidingWindowLog({ limit: 2, windowMs: 4_000 }),
      store: new MemoryStore({ clock: () => now, sweepIntervalMs: false }),
    });
    sync(limiter.decide('k'));
    sync(limiter.decide('k'));
    assert.deepEqual(pick(sync(limiter.decide('k'))), { allowed: false, retryAfterMs: 4_000 });
    stepWallClock(t, 5_000);
    assert.deepEqual(pick(sync(limiter.decide('k'))), { allowed: false, retryAfterMs: 4_000 });
    t.mock.restoreAll();
    stepWallClock(t, -5_000);
    assert.deepEqual(pick(sync(limiter.decide('k'))), { allowed: false, retryAfterMs: 4_000 });
    now += 3_999;
    assert.deepEqual(pick(sync(limiter.decide('k'))), { allowed: false, retryAfterMs: 1 });
    now += 1;
    assert.deepEqual(pick(sync(limiter.decide('k'))), { allowed: true, retryAfterMs: 0 });
  });
});

function pick(d: Decision): { allowed: boolean; retryAfterMs: number } {
  return { allowed: d.allowed, retryAfterMs: d.retryAfterMs };
}

describe('key churn', () => {
  // 2 million keys, each charged once, on a clock that moves 1 ms per 1,000 keys; every state
  // can change a decision for 10 ms, so about 10,000 keys are live at any moment.
  const KEYS = 2_000_000;
  const KEYS_PER_MS = 1_000;
  const LIVE = 10 * KEYS_PER_MS + KEYS_PER_MS;
  for (const algorithm of [
    tokenBucket({ capacity: 10, refillPerSecond: 100 }),
    slidingWindowLog({ limit: 10, windowMs: 10 }),
  ]) {
    test(`${algorithm.name}: 2 million keys keep the store near its live size, then memory returns to baseline`, () => {
      const baseline = heapAfterGc();
      let now = 0;
      const store = new MemoryStore({ clock: () => now, sweepIntervalMs: false });
      const limiter = createLimiter({ algorithm, store, onStoreError: 'throw' });
      let largest = 0;
      for (let i = 0; i < KEYS; i++) {
        if (i % KEYS_PER_MS === 0) now += 1;
        assert.ok(sync(limiter.decide(`user:${i}`)).allowed);
        if (store.size > largest) largest = store.size;
      }
      // The incremental sweep keeps up: a small multiple of the live set, never the 2 million.
      assert.ok(largest <= 2 * LIVE, `store held ${largest} keys with about ${LIVE} live`);
      now += 1_000;
      const held = store.size;
      assert.equal(store.sweep(), held);
      assert.equal(store.size, 0);
      const grown = heapAfterGc() - baseline;
      assert.ok(grown < 4_000_000, `heap is ${grown} bytes above its baseline after the churn`);
      // Still in use after the measurement, so the heap above held the store, empty, and not nothing.
      assert.ok(sync(limiter.decide('still-here')).allowed);
      assert.equal(store.size, 1);
    });
  }
});

describe('regression: after a churn, an idle process held the memory of expired state', () => {
  // The background pass ran its slices on unref'd immediates, which an idle event loop runs only
  // when something else wakes it: one slice per sweep interval. And a small sweep's Map iterator,
  // left standing in a table, held the whole table as it was before the pass emptied it.
  const SWEEP_INTERVAL_MS = 200;
  for (const kind of ['token-bucket', 'sliding-window-log']) {
    test(`${kind}: a million one-call keys; within the sweep interval plus 1 s of their expiry, the heap is back to baseline`, async () => {
      const { stdout } = await run(
        process.execPath,
        ['--expose-gc', '--import', 'tsx', 'test/fixtures/idle-churn.ts', kind, '1000000', String(SWEEP_INTERVAL_MS)],
        { timeout: 60_000 },
      );
      const report = JSON.parse(stdout) as IdleChurnReport;
      // 400 keys a millisecond, each live for 1 s: over 400,000 states when the churn ends.
      assert.ok(report.heldBytes > 20_000_000, `the churn held only ${report.heldBytes} bytes`);
      assert.equal(report.sizeAfter, 0, `${report.sizeAfter} of ${report.held} states still held`);
      assert.ok(report.afterBytes < 1_000_000, `heap ${report.afterBytes} bytes above its baseline after the wait`);
    });
  }
});

test("regression: with two policies, only the first policy's table was swept as keys churned", () => {
  let now = 0;
  const store = new MemoryStore({ clock: () => now, sweepIntervalMs: false });
  const limiter = createLimiter({
    policies: {
      a: slidingWindowLog({ limit: 10, windowMs: 10 }),
      b: tokenBucket({ capacity: 10, refillPerSecond: 100 }),
    },
    store,
    onStoreError: 'throw',
  });
  // 100,000 keys, 1,000 per ms, each state live for 10 ms: about 11,000 keys' states live at once.
  let largest = 0;
  for (let i = 0; i < 100_000; i++) {
    if (i % 1_000 === 0) now += 1;
    assert.ok(sync(limiter.decide(`user:${i}`)).allowed);
    if (store.size > largest) largest = store.size;
  }
  // The second table used to keep every key: store.size grew past 100,000.
  assert.ok(largest <= 2 * 2 * 11_000, `store held ${largest} states with about ${2 * 11_000} live`);
});

test("regression: one background pass swept only the part of a table after the small sweeps' cursor", async () => {
  let now = 0;
  const store = new MemoryStore({ clock: () => now, sweepIntervalMs: 20 });
  try {
    const policies = {
      a: slidingWindowLog({ limit: 5, windowMs: 10 }),
      b: tokenBucket({ capacity: 5, refillPerSecond: 1 }),
    };
    const one = createLimiter({ algorithm: slidingWindowLog({ limit: 5, windowMs: 10 }), store, prefix: 'one' });
    const two = createLimiter({ policies, store, prefix: 'two' });
    // All live while added, so the small sweeps drop nothing and stop part-way through each table.
    for (let i = 0; i < 1_000; i++) {
      sync(one.decide(`k${i}`));
      sync(two.decide(`k${i}`));
    }
    assert.equal(store.size, 3_000);
    now = 1_000_000;
    // The pass runs in slices on setImmediate; the interval does not come again within 30 ms.
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(store.size, 0, 'one pass, every table, from the start of each');
  } finally {
    store.close();
  }
});

/**
 * Live and expired entries of a sliding log's state, `[used, head, …entries]`: one number per
 * entry while every charge cost 1, with `head` the first live one; pairs `expiry, cost` after a
 * charge of another cost, with `head` negated.
 */
function entries(state: SlidingWindowLogState): { live: number; dead: number; pairs: boolean } {
  const head = state[1] as number;
  const size = head > 0 ? 1 : 2;
  const first = Math.abs(head);
  return { live: (state.length - first) / size, dead: (first - FIRST) / size, pairs: size === 2 };
}

describe('bounded sliding log', () => {
  test('a key never holds more than limit live entries, and expired ones at most a quarter of those, whatever the calls', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 1_000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.nat()), { maxLength: 300 }),
        (limit, windowMs, calls) => {
          const log = slidingWindowLog({ limit, windowMs });
          let state: SlidingWindowLogState | undefined;
          let now = 0;
          for (const [wait, c] of calls) {
            now += wait;
            const cost = c % (limit + 1);
            if (state !== undefined && log.expiresAt(state) <= now) state = undefined;
            if (log.evaluate(state, now, cost, true).allowed && cost > 0) state = log.charge(state, now, cost);
            if (state !== undefined) {
              const { live, dead } = entries(state);
              assert.ok(live <= limit, `${live} live entries`);
              assert.ok(dead * 4 <= live, `${dead} expired entries beside ${live} live ones`);
            }
          }
        },
      ),
    );
  });

  test('a log keeps one number per entry while every charge costs 1, pairs from the first charge of another cost, and decides and refunds alike in both', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 1_000 }),
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 300 }),
            fc.oneof(
              { weight: 6, arbitrary: fc.constant<['consume', number]>(['consume', 1]) },
              { weight: 1, arbitrary: fc.tuple(fc.constant<'consume'>('consume'), fc.nat({ max: 20 })) },
              { weight: 2, arbitrary: fc.tuple(fc.constant<'refund'>('refund'), fc.integer({ min: 1, max: 20 })) },
            ),
          ),
          { maxLength: 200 },
        ),
        (limit, windowMs, calls) => {
          const log = slidingWindowLog({ limit, windowMs });
          let state: SlidingWindowLogState | undefined;
          // The reference: every allowed charge still in the window, oldest first.
          let held: { expiry: number; cost: number }[] = [];
          let otherCost = false;
          let now = 0;
          for (const [wait, [op, cost]] of calls) {
            now += wait;
            held = held.filter((e) => e.expiry > now);
            if (state !== undefined && log.expiresAt(state) <= now) {
              state = undefined;
              otherCost = false;
            }
            const used = held.reduce((sum, e) => sum + e.cost, 0);
            if (op === 'consume') {
              const d = log.evaluate(state, now, cost, true);
              assert.equal(d.allowed, used + cost <= limit);
              assert.equal(d.remaining, d.allowed ? limit - used - cost : limit - used);
              if (!d.allowed || cost === 0) continue;
              state = log.charge(state, now, cost);
              held.push({ expiry: now + windowMs, cost });
              if (cost !== 1) otherCost = true;
            } else {
              state = log.refund(state, now, cost);
              let left = cost;
              while (left > 0 && held.length > 0) {
                const last = held[held.length - 1] as { expiry: number; cost: number };
                const back = Math.min(left, last.cost);
                last.cost -= back;
                left -= back;
                if (last.cost === 0) held.pop();
              }
              const d = log.evaluate(state, now, 1, false);
              assert.equal(d.remaining, limit - held.reduce((sum, e) => sum + e.cost, 0));
            }
            if (state === undefined) continue;
            const { live, pairs } = entries(state);
            assert.equal(pairs, otherCost, 'pairs exactly when the state has been charged a cost other than 1');
            assert.equal(live, held.length, 'one entry per charge held');
          }
        },
      ),
    );
  });

  test('a limit of 1,000 costs 1,249 entries at most (1,000 live), even after a million calls on one key', () => {
    let now = 0;
    const log = slidingWindowLog({ limit: 1_000, windowMs: 1_000 });
    let state: SlidingWindowLogState | undefined;
    let longest = 0;
    let mostLive = 0;
    for (let i = 0; i < 1_000_000; i++) {
      now += 0.5;
      if (state !== undefined && log.expiresAt(state) <= now) state = undefined;
      if (log.evaluate(state, now, 1, true).allowed) state = log.charge(state, now, 1);
      if (state === undefined) continue;
      const { live, dead } = entries(state);
      longest = Math.max(longest, live + dead);
      mostLive = Math.max(mostLive, live);
    }
    assert.equal(mostLive, 1_000);
    // A quarter of the 999 live entries the newest one joined, rounded down, may have expired.
    assert.equal(longest, 1_249);
  });
});

describe('prefixes', () => {
  test('limiters with distinct prefixes on one store keep separate counts', async () => {
    const store = new MemoryStore({ sweepIntervalMs: false });
    const algorithm = slidingWindowLog({ limit: 2, windowMs: 60_000 });
    const a = createLimiter({ algorithm, store, prefix: 'a' });
    const b = createLimiter({ algorithm, store, prefix: 'b' });
    await a.consume('k');
    await a.consume('k');
    assert.equal((await a.consume('k')).allowed, false);
    assert.deepEqual(pick(await b.consume('k')), { allowed: true, retryAfterMs: 0 });
    assert.equal(store.size, 2);
    await a.reset('k');
    assert.equal((await a.peek('k')).remaining, 2);
    assert.equal((await b.peek('k')).remaining, 1, "a's reset leaves b alone");
  });

  test('limiters with the same prefix and policy share the limit', async () => {
    const store = new MemoryStore({ sweepIntervalMs: false });
    const one = createLimiter({ algorithm: tokenBucket({ capacity: 2, refillPerSecond: 1 }), store, prefix: 'p' });
    const two = createLimiter({ algorithm: tokenBucket({ capacity: 2, refillPerSecond: 1 }), store, prefix: 'p' });
    await one.consume('k');
    await two.consume('k');
    assert.equal((await one.consume('k')).allowed, false);
    assert.equal(store.size, 1);
  });

  for (const [what, second] of [
    ['another algorithm', tokenBucket({ capacity: 2, refillPerSecond: 1 })],
    ['other options', slidingWindowLog({ limit: 3, windowMs: 60_000 })],
  ] as const satisfies readonly (readonly [string, Algorithm])[]) {
    test(`binding ${what} to a prefix already in use throws ERR_INVALID_OPTION`, () => {
      const store = new MemoryStore({ sweepIntervalMs: false });
      createLimiter({ algorithm: slidingWindowLog({ limit: 2, windowMs: 60_000 }), store, prefix: 'api' });
      assert.throws(
        () => createLimiter({ algorithm: second, store, prefix: 'api' }),
        (e: unknown) =>
          e instanceof FloodgateError &&
          e.code === 'ERR_INVALID_OPTION' &&
          e.message.includes('prefix "api"') &&
          e.message.includes('give each limiter its own prefix'),
      );
      // A different prefix is fine.
      createLimiter({ algorithm: second, store, prefix: 'api2' });
    });
  }
});

describe('long keys', () => {
  test('two 10 kB keys that differ only at the end are distinct buckets', async () => {
    const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }) });
    const head = 'x'.repeat(10_000);
    assert.ok((await limiter.consume(`${head}a`)).allowed);
    assert.ok((await limiter.consume(`${head}b`)).allowed);
    assert.equal((await limiter.consume(`${head}a`)).allowed, false);
    assert.equal((await limiter.consume(`${head}b`)).allowed, false);
  });

  test('keys around the hashing threshold stay distinct', async () => {
    const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }) });
    const keys = [MAX_KEY_LENGTH - 1, MAX_KEY_LENGTH, MAX_KEY_LENGTH + 1, MAX_KEY_LENGTH + 2].map((n) => 'k'.repeat(n));
    for (const key of keys) assert.ok((await limiter.consume(key)).allowed, `${key.length} chars`);
    for (const key of keys) assert.equal((await limiter.consume(key)).allowed, false, `${key.length} chars`);
  });

  test("a key given as it is cannot pose as a long key's hash: keys starting with # are hashed too", async () => {
    const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }) });
    const long = 'v'.repeat(MAX_KEY_LENGTH + 1);
    const forged = `#${createHash('sha256').update(long).digest('base64url')}`;
    assert.ok((await limiter.consume(forged)).allowed);
    assert.ok((await limiter.consume(long)).allowed, 'the long key has a bucket of its own');
    assert.equal((await limiter.consume('#')).allowed, true);
    assert.equal((await limiter.consume('#')).allowed, false, 'a key that is only # is still a key');
  });

  test('keys with a lone surrogate stay distinct from each other and from U+FFFD, short or long', async () => {
    const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }) });
    const pad = 'p'.repeat(MAX_KEY_LENGTH);
    for (const head of ['', pad]) {
      const keys = [`${head}a\uD800`, `${head}a\uDFFF`, `${head}a\uFFFD`];
      for (const key of keys) assert.ok((await limiter.consume(key)).allowed, JSON.stringify(key));
    }
  });

  test('a key with a lone surrogate is one key to consume, peek, decide, block, refund, reset and the lock-out', async () => {
    // consume, peek and decide leave the test for lone surrogates to the store, which makes it on
    // a key it holds nothing for; the other calls check the key in full. Both must reach the same
    // state, the hashed key's, or a reset, a block or a lock-out would miss it.
    const store = new MemoryStore({ sweepIntervalMs: false });
    const limiter = createLimiter({
      algorithm: tokenBucket({ capacity: 2, refillPerSecond: 0.001 }),
      store,
      blockDurationMs: 60_000,
    });
    const key = 'user\uD800';
    assert.equal((await limiter.consume(key)).remaining, 1);
    assert.equal((await limiter.peek(key)).remaining, 1);
    assert.equal(sync(limiter.decide(key)).remaining, 0);
    assert.equal((await limiter.refund(key)).remaining, 1);
    assert.equal(store.size, 1);
    await limiter.reset(key);
    assert.equal(store.size, 0);
    assert.equal((await limiter.consume(key, { cost: 2 })).remaining, 0);
    // Denied: the lock-out starts under the key's one name, and every path sees it.
    const denied = await limiter.consume(key);
    assert.equal(denied.blocked, true);
    assert.equal((await limiter.peek(key)).blocked, true);
    await limiter.reset(key);
    assert.equal((await limiter.peek(key)).blocked, undefined);
    await limiter.block(key, { durationMs: 1000 });
    assert.equal(sync(limiter.decide(key)).blocked, true);
    assert.equal(store.size, 1);
  });

  test('memory does not grow with key length: 2,000 keys of 100 kB cost what short keys cost', () => {
    const store = new MemoryStore({ sweepIntervalMs: false });
    const limiter = createLimiter({ algorithm: tokenBucket({ capacity: 5, refillPerSecond: 0.001 }), store });
    const grow = (key: (i: number) => string): number => {
      const before = heapAfterGc();
      for (let i = 0; i < 2_000; i++) sync(limiter.decide(key(i)));
      return heapAfterGc() - before;
    };
    const filler = 'y'.repeat(100_000);
    const long = grow((i) => `${filler}${i}`);
    const short = grow((i) => `short:${i}`);
    assert.equal(store.size, 4_000);
    // Keeping the keys themselves would cost 200 MB; their hashes cost a few hundred kB.
    assert.ok(long < 2_000_000, `2,000 keys of 100 kB grew the heap by ${long} bytes`);
    assert.ok(long < short + 1_000_000, `long keys grew the heap by ${long} bytes, short ones by ${short}`);
  });
});

describe('an injected clock that reads NaN', () => {
  test('fails the call, reported and answered under onStoreError, and leaves no state behind', async () => {
    let reading: unknown = Number.NaN;
    const store = new MemoryStore({ clock: () => reading as number, sweepIntervalMs: false });
    const outages: FloodgateError[] = [];
    const limiter = createLimiter({
      algorithm: fixedWindow({ limit: 2, windowMs: 1_000 }),
      store,
      onOutage: (e) => outages.push(e),
    });
    const d = await limiter.consume('k');
    assert.deepEqual([d.allowed, d.degraded, d.cause?.code], [true, true, 'ERR_STORE']);
    assert.equal(d.cause?.message, 'MemoryStore: clock must return a finite number of milliseconds, got NaN');
    assert.equal(outages.length, 1);
    reading = '5000';
    const strict = createLimiter({
      algorithm: fixedWindow({ limit: 2, windowMs: 1_000 }),
      store,
      prefix: 'strict',
      onStoreError: 'throw',
    });
    await assert.rejects(
      strict.consume('k'),
      (e: unknown) => e instanceof FloodgateError && e.code === 'ERR_STORE' && e.message.endsWith('got "5000"'),
    );
    // Healthy again: nothing of the bad readings stayed in the algorithm or the store.
    reading = 5_000;
    let allowed = 0;
    for (let i = 0; i < 10; i++) if ((await limiter.consume('k')).allowed) allowed++;
    assert.equal(allowed, 2);
  });

  test('ends a background pass without ending the process', async () => {
    const store = new MemoryStore({ clock: () => Number.NaN, sweepIntervalMs: 5 });
    try {
      // Passes run on timers: a clock error thrown from one would be an uncaught exception.
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.throws(
        () => store.sweep(),
        (e: unknown) => e instanceof FloodgateError && e.code === 'ERR_STORE',
      );
    } finally {
      store.close();
    }
  });
});

test('acquire rejects a denial that names no wait (retryAfterMs NaN) rather than asking again forever', async () => {
  const never: Algorithm<number> = {
    name: 'never',
    limit: 1,
    windowMs: 1,
    evaluate: () => ({ allowed: false, limit: 1, remaining: 0, resetMs: 0, retryAfterMs: Number.NaN }),
    charge: () => 0,
    refund: () => 0,
    expiresAt: () => 0,
  };
  const limiter = createLimiter({ algorithm: never, store: new MemoryStore({ sweepIntervalMs: false }) });
  await assert.rejects(
    limiter.acquire('k', { maxWaitMs: 100 }),
    (e: unknown) => e instanceof FloodgateError && e.code === 'ERR_STORE' && /retryAfterMs NaN/.test(e.message),
  );
});
