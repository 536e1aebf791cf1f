import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { runInNewContext } from 'node:vm';
import {
  type Algorithm,
  createLimiter,
  type Decision,
  FloodgateError,
  type FloodgateErrorCode,
  type Limiter,
  MemoryStore,
  type Store,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { unhandledRejections } from './helpers/failing-callbacks.js';
import { CountingStore, FlakyStore } from './helpers/stores.js';

function memory(): MemoryStore {
  return new MemoryStore({ sweepIntervalMs: false });
}

function isCode(code: FloodgateErrorCode) {
  return (e: unknown): boolean => e instanceof FloodgateError && e.code === code;
}

describe('concurrency', () => {
  const single = {
    'sliding log': () => ({ algorithm: slidingWindowLog({ limit: 10, windowMs: 60_000 }) }),
    'token bucket': () => ({ algorithm: tokenBucket({ capacity: 10, refillPerSecond: 1 }) }),
    'multi-policy': () => ({
      policies: {
        burst: tokenBucket({ capacity: 10, refillPerSecond: 1 }),
        hourly: slidingWindowLog({ limit: 100, windowMs: 3_600_000 }),
      },
    }),
  };
  for (const [name, options] of Object.entries(single)) {
    for (const delivery of ['memory store', 'store answering a macrotask later'] as const) {
      test(`${name}, ${delivery}: 20 concurrent consumes on a fresh key, limit 10, allow exactly 10`, async () => {
        const store = delivery === 'memory store' ? memory() : new CountingStore(memory(), true);
        const limiter = createLimiter({ ...options(), store });
        const decisions = await Promise.all(Array.from({ length: 20 }, () => limiter.consume('fresh')));
        const allowed = decisions.filter((d) => d.allowed);
        assert.equal(allowed.length, 10);
        // Each call has its own Decision, never a shared record rewritten under it.
        assert.equal(new Set(decisions).size, 20);
        assert.deepEqual(
          allowed.map((d) => d.remaining).sort((a, b) => a - b),
          [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        );
        assert.ok(decisions.slice(10).every((d) => !d.allowed && d.remaining === 0 && d.retryAfterMs > 0));
      });
    }
  }
});

describe('cost and key validation', () => {
  const limiter = createLimiter({
    policies: {
      small: tokenBucket({ capacity: 5, refillPerSecond: 1 }),
      large: slidingWindowLog({ limit: 50, windowMs: 1_000 }),
    },
    store: memory(),
  });
  const badCosts: readonly [string, unknown][] = [
    ['a fraction', 1.5],
    ['a negative number', -1],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a string', '2'],
    ['null', null],
    ['an unsafe integer', 2 ** 53],
  ];
  for (const [what, cost] of badCosts) {
    test(`a cost that is ${what} is ERR_INVALID_COST from consume, peek, acquire and decide`, async () => {
      const message = (e: unknown) =>
        isCode('ERR_INVALID_COST')(e) && (e as Error).message.startsWith('cost must be a non-negative integer, got');
      await assert.rejects(limiter.consume('k', { cost: cost as number }), message);
      await assert.rejects(limiter.peek('k', { cost: cost as number }), message);
      await assert.rejects(limiter.acquire('k', { cost: cost as number }), message);
      assert.throws(() => limiter.decide('k', cost as number), message);
    });
  }

  test('regression: a null cost was charged as 1 instead of reported', async () => {
    await assert.rejects(limiter.consume('null-cost', { cost: null as unknown as number }), isCode('ERR_INVALID_COST'));
    assert.equal((await limiter.peek('null-cost')).remaining, 5, 'nothing was charged');
  });

  test('a cost above the smallest limit is ERR_COST_EXCEEDS_LIMIT naming the policy, never a silent deny', async () => {
    const exceeds = (e: unknown) =>
      isCode('ERR_COST_EXCEEDS_LIMIT')(e) &&
      (e as Error).message === 'cost 6 can never be allowed: policy "small" has a limit of 5';
    await assert.rejects(limiter.consume('k', { cost: 6 }), exceeds);
    await assert.rejects(limiter.peek('k', { cost: 6 }), exceeds);
    await assert.rejects(limiter.acquire('k', { cost: 6 }), exceeds);
    assert.throws(() => limiter.decide('k', 6), exceeds);
    // The largest allowed cost and a zero cost are fine.
    assert.equal((await limiter.peek('fresh', { cost: 5 })).allowed, true);
    assert.equal((await limiter.consume('fresh', { cost: 0 })).allowed, true);
  });

  const badKeys: readonly [string, unknown][] = [
    ['an empty string', ''],
    ['a number', 42],
    ['undefined', undefined],
    ['null', null],
    ['an object', { id: 1 }],
  ];
  for (const [what, key] of badKeys) {
    test(`a key that is ${what} is ERR_INVALID_KEY from consume, peek, reset, acquire and decide`, async () => {
      const invalid = (e: unknown) =>
        isCode('ERR_INVALID_KEY')(e) && (e as Error).message.startsWith('key must be a non-empty string, got');
      await assert.rejects(limiter.consume(key as string), invalid);
      await assert.rejects(limiter.peek(key as string), invalid);
      await assert.rejects(limiter.reset(key as string), invalid);
      await assert.rejects(limiter.acquire(key as string), invalid);
      assert.throws(() => limiter.decide(key as string), invalid);
    });
  }

  test('consume and peek report bad input as rejections, never as synchronous throws', async () => {
    let pending: Promise<Decision> | undefined;
    assert.doesNotThrow(() => {
      pending = limiter.consume('', { cost: -1 });
    });
    await assert.rejects(pending as Promise<Decision>, isCode('ERR_INVALID_KEY'));
  });
});

describe('multi-policy: all or nothing', () => {
  function setup() {
    let now = 0;
    const store = new MemoryStore({ clock: () => now, sweepIntervalMs: false });
    const limiter = createLimiter({
      policies: {
        burst: tokenBucket({ capacity: 3, refillPerSecond: 1 }),
        hourly: slidingWindowLog({ limit: 5, windowMs: 3_600_000 }),
      },
      store,
    });
    return {
      limiter,
      advance(ms: number) {
        now += ms;
      },
    };
  }

  test('when the burst policy denies, the hourly policy is not charged', async () => {
    const { limiter } = setup();
    for (let i = 0; i < 3; i++) assert.ok((await limiter.consume('k')).allowed);
    const denied = await limiter.consume('k');
    assert.equal(denied.allowed, false);
    assert.equal(denied.policy, 'burst');
    assert.equal(denied.policies?.burst?.allowed, false);
    assert.deepEqual(
      [denied.policies?.hourly?.allowed, denied.policies?.hourly?.remaining],
      [true, 2],
      'hourly reports its uncharged view',
    );
    assert.equal((await limiter.peek('k')).policies?.hourly?.remaining, 2);
  });

  test('when the hourly policy denies, the burst policy is not charged', async () => {
    const { limiter, advance } = setup();
    for (let i = 0; i < 5; i++) {
      assert.ok((await limiter.consume('k')).allowed);
      advance(1_000);
    }
    advance(10_000);
    const before = await limiter.peek('k');
    assert.equal(before.policies?.burst?.remaining, 3);
    const denied = await limiter.consume('k', { cost: 2 });
    assert.equal(denied.allowed, false);
    assert.equal(denied.policy, 'hourly');
    assert.equal(denied.retryAfterMs, denied.policies?.hourly?.retryAfterMs);
    assert.deepEqual([denied.policies?.burst?.allowed, denied.policies?.burst?.remaining], [true, 3]);
    assert.equal((await limiter.peek('k')).policies?.burst?.remaining, 3, 'burst was not charged');
  });

  test('an allowed call charges every policy, and the binding one is the one with the least left', async () => {
    const { limiter } = setup();
    const d = await limiter.consume('k', { cost: 2 });
    assert.equal(d.allowed, true);
    assert.deepEqual([d.policies?.burst?.remaining, d.policies?.hourly?.remaining], [1, 3]);
    assert.equal(d.policy, 'burst');
    assert.equal(d.remaining, 1);
    assert.equal(d.limit, 3);
  });
});

describe('onStoreError', () => {
  const algorithm = () => slidingWindowLog({ limit: 3, windowMs: 60_000 });

  function flaky(onStoreError: 'allow' | 'deny' | 'throw' | Store, mode: 'throw' | 'reject' = 'reject') {
    const store = new FlakyStore(memory());
    const outages: FloodgateError[] = [];
    const limiter = createLimiter({ algorithm: algorithm(), store, onStoreError, onOutage: (e) => outages.push(e) });
    store.down = mode;
    return { store, limiter, outages };
  }

  for (const mode of ['throw', 'reject'] as const) {
    test(`'allow' lets calls through, degraded, with the wrapped cause (store that fails to ${mode})`, async () => {
      const { limiter, store } = flaky('allow', mode);
      const d = await limiter.consume('k');
      assert.deepEqual([d.allowed, d.degraded, d.cause?.code], [true, true, 'ERR_STORE']);
      assert.equal(d.cause?.cause, store.error, 'the original error is kept as the cause');
      assert.match(d.cause?.message ?? '', /connection refused/);
    });

    test(`'deny' refuses calls, degraded, with a wait to come back after (store that fails to ${mode})`, async () => {
      const { limiter } = flaky('deny', mode);
      const d = await limiter.consume('k');
      assert.deepEqual([d.allowed, d.degraded, d.cause?.code, d.remaining], [false, true, 'ERR_STORE', 0]);
      assert.ok(d.retryAfterMs > 0);
    });

    test(`'throw' rejects with the coded error (store that fails to ${mode})`, async () => {
      const { limiter, store } = flaky('throw', mode);
      await assert.rejects(
        limiter.consume('k'),
        (e: unknown) => isCode('ERR_STORE')(e) && (e as Error).cause === store.error,
      );
      await assert.rejects(limiter.peek('k'), isCode('ERR_STORE'));
    });

    test(`a fallback store decides in its place, degraded (store that fails to ${mode})`, async () => {
      const { limiter } = flaky(memory(), mode);
      const decisions: Decision[] = [];
      for (let i = 0; i < 4; i++) decisions.push(await limiter.consume('k'));
      assert.deepEqual(
        decisions.map((d) => [d.allowed, d.remaining, d.degraded, d.cause?.code]),
        [
          [true, 2, true, 'ERR_STORE'],
          [true, 1, true, 'ERR_STORE'],
          [true, 0, true, 'ERR_STORE'],
          [false, 0, true, 'ERR_STORE'],
        ],
      );
    });
  }

  test('a store failure that is already coded keeps its code', async () => {
    const { limiter, store } = flaky('allow');
    store.error = new FloodgateError('ERR_STORE_TIMEOUT', 'store did not answer within 50 ms');
    const d = await limiter.consume('k');
    assert.equal(d.cause, store.error);
  });

  test('onOutage is told once per outage, again after a recovery, and at most once per 10 s', async (t) => {
    // The limiter spaces reports on the monotonic clock; move it by hand.
    let now = 1_000_000;
    t.mock.method(performance, 'now', () => now);
    const { limiter, store, outages } = flaky('allow');
    for (let i = 0; i < 5; i++) await limiter.consume('k');
    assert.equal(outages.length, 1);
    assert.equal(outages[0]?.code, 'ERR_STORE');
    const recoverThenFail = async () => {
      store.down = undefined;
      assert.equal((await limiter.consume('k')).degraded, undefined);
      store.down = 'throw';
      for (let i = 0; i < 5; i++) await limiter.consume('k');
    };
    now += 9_999;
    await recoverThenFail();
    assert.equal(outages.length, 1, 'a flapping store is not a new outage every few seconds');
    now += 1;
    await recoverThenFail();
    assert.equal(outages.length, 2, 'a new outage 10 s after the last report is told');
    now += 60_000;
    for (let i = 0; i < 5; i++) await limiter.consume('k');
    assert.equal(outages.length, 2, 'the same outage, however long, is told once');
  });

  test('an outage that begins within 10 s of the last report is told once those 10 s are up', async (t) => {
    let now = 1_000_000;
    t.mock.method(performance, 'now', () => now);
    const { limiter, store, outages } = flaky('allow');
    await limiter.consume('k');
    store.down = undefined;
    await limiter.consume('k');
    now += 2_000;
    store.down = 'reject';
    await limiter.consume('k');
    assert.equal(outages.length, 1, 'too soon after the last report');
    // The same outage goes on: it was never told, so it is told once the quiet interval ends.
    now += 8_000;
    for (let i = 0; i < 3; i++) await limiter.consume('k');
    assert.equal(outages.length, 2);
    now += 60_000;
    await limiter.consume('k');
    assert.equal(outages.length, 2, 'and then not again');
  });

  test('reset on a failing store rejects with a coded ERR_STORE, after resetting the fallback store', async () => {
    const fallback = memory();
    const { limiter, store } = flaky(fallback);
    for (let i = 0; i < 3; i++) await limiter.consume('k');
    assert.equal((await limiter.consume('k')).allowed, false, 'the fallback has counted the outage calls');
    await assert.rejects(
      limiter.reset('k'),
      (e: unknown) => isCode('ERR_STORE')(e) && (e as Error).cause === store.error,
    );
    const d = await limiter.consume('k');
    assert.deepEqual([d.allowed, d.degraded], [true, true], 'the fallback, still deciding, forgot the key');
  });

  for (const policy of ['allow', 'deny'] as const) {
    test(`reset on a failing store rejects under '${policy}' too, with a coded store error as it is`, async () => {
      const { limiter, store } = flaky(policy);
      await assert.rejects(
        limiter.reset('k'),
        (e: unknown) => isCode('ERR_STORE')(e) && (e as Error).cause === store.error,
      );
      // A store's own coded failure (the Redis store's timeout) keeps its code.
      store.error = new FloodgateError('ERR_STORE_TIMEOUT', 'no answer within 100 ms');
      await assert.rejects(limiter.reset('k'), (e: unknown) => e === store.error);
      // The calls that answer with a Decision answer under the policy meanwhile.
      const d = await limiter.consume('k');
      assert.deepEqual([d.allowed, d.degraded], [policy === 'allow', true]);
    });
  }

  test('a throwing onOutage does not turn a handled outage into a crash', async () => {
    const store = new FlakyStore(memory());
    store.down = 'reject';
    const limiter = createLimiter({
      algorithm: algorithm(),
      store,
      onStoreError: 'deny',
      onOutage: () => {
        throw new Error('reporter broke');
      },
    });
    assert.equal((await limiter.consume('k')).degraded, true);
  });

  test('an async onOutage that rejects leaves no unhandled rejection behind', async () => {
    const store = new FlakyStore(memory());
    store.down = 'reject';
    let told = 0;
    const unhandled = await unhandledRejections(async () => {
      const limiter = createLimiter({
        algorithm: algorithm(),
        store,
        onOutage: async () => {
          told++;
          throw new Error('reporter broke');
        },
      });
      assert.equal((await limiter.consume('k')).degraded, true);
    });
    assert.equal(told, 1, 'the reporter was called');
    assert.deepEqual(unhandled, []);
  });

  for (const mode of ['throw', 'reject'] as const) {
    test(`a fallback store that fails to ${mode} too denies, degraded, never an error for the framework`, async () => {
      const fallback = new FlakyStore(memory(), new Error('fallback down too'));
      fallback.down = mode;
      const { limiter } = flaky(fallback);
      for (const call of [
        () => limiter.consume('k'),
        () => limiter.refund('k'),
        () => limiter.block('k', { durationMs: 5 }),
      ]) {
        const d = await call();
        assert.deepEqual([d.allowed, d.degraded, d.retryAfterMs > 0], [false, true, true]);
        assert.equal(d.cause?.code, 'ERR_STORE');
        assert.equal(d.cause?.message, 'store and fallback store both failed');
        assert.equal(
          (d.cause?.cause as FloodgateError | undefined)?.cause,
          fallback.error,
          'the fallback error is kept',
        );
      }
      const d = limiter.decide('k');
      assert.ok(!(d instanceof Promise) || (await d).allowed === false);
    });
  }

  test("with a synchronously failing store and 'allow', decide still answers synchronously", () => {
    const { limiter } = flaky('allow', 'throw');
    const d = limiter.decide('k');
    assert.ok(!(d instanceof Promise));
    assert.equal(d.degraded, true);
  });
});

describe('decide()', () => {
  const limiters: Record<string, () => Limiter> = {
    'a single algorithm': () => createLimiter({ algorithm: tokenBucket({ capacity: 2, refillPerSecond: 1 }) }),
    'several policies': () =>
      createLimiter({
        policies: {
          a: tokenBucket({ capacity: 2, refillPerSecond: 1 }),
          b: slidingWindowLog({ limit: 5, windowMs: 1_000 }),
        },
      }),
  };
  for (const [name, make] of Object.entries(limiters)) {
    test(`returns the Decision itself, not a Promise, for the memory store (${name})`, () => {
      const limiter = make();
      const decisions = [limiter.decide('k'), limiter.decide('k', 1), limiter.decide('k')];
      for (const d of decisions) assert.ok(!(d instanceof Promise) && typeof d.allowed === 'boolean');
      assert.deepEqual(
        decisions.map((d) => (d as Decision).allowed),
        [true, true, false],
      );
    });
  }

  test('returns a Promise when the store answers asynchronously', async () => {
    const limiter = createLimiter({
      algorithm: tokenBucket({ capacity: 2, refillPerSecond: 1 }),
      store: new CountingStore(memory(), true),
    });
    const d = limiter.decide('k');
    assert.ok(d instanceof Promise);
    assert.equal((await d).allowed, true);
  });
});

describe('algorithms as plain values', () => {
  test('an algorithm may be shared by several limiters; each keeps its own state', async () => {
    const shared: Algorithm = slidingWindowLog({ limit: 1, windowMs: 1_000 });
    const a = createLimiter({ algorithm: shared });
    const b = createLimiter({ algorithm: shared });
    assert.ok((await a.consume('k')).allowed);
    assert.ok((await b.consume('k')).allowed);
    assert.equal((await a.consume('k')).allowed, false);
  });
});

describe("a store whose promises come from another realm (a test runner's VM context)", () => {
  const ForeignPromise = runInNewContext('Promise') as PromiseConstructor;

  /** Answers through a memory store, in promises that are not `instanceof Promise` here. */
  function foreign(inner: Store, error?: Error): Store {
    return {
      bind(options) {
        const binding = inner.bind(options);
        return {
          decide: (key, cost, charge) =>
            error === undefined
              ? ForeignPromise.resolve(binding.decide(key, cost, charge))
              : ForeignPromise.reject(error),
          refund: (key, cost) => binding.refund(key, cost),
          block: (key, ms) => binding.block(key, ms),
          reset: (key) => binding.reset(key),
        };
      },
    };
  }

  test('its answers are awaited, for one policy and for several', async () => {
    assert.equal(ForeignPromise.resolve(1) instanceof Promise, false, 'the control: another realm');
    const one = createLimiter({
      algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }),
      store: foreign(memory()),
    });
    assert.deepEqual(
      [await one.consume('k'), await one.consume('k')].map((d) => [d.allowed, d.remaining]),
      [
        [true, 0],
        [false, 0],
      ],
    );
    const two = createLimiter({
      policies: {
        a: slidingWindowLog({ limit: 1, windowMs: 60_000 }),
        b: tokenBucket({ capacity: 5, refillPerSecond: 1 }),
      },
      store: foreign(memory()),
    });
    const d = await two.consume('k');
    assert.deepEqual([d.allowed, d.policy, Object.keys(d.policies ?? {})], [true, 'a', ['a', 'b']]);
  });

  test('its rejections go through onStoreError, and acquire settles', async () => {
    const error = new Error('connection refused');
    const limiter = createLimiter({
      algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }),
      store: foreign(memory(), error),
      onStoreError: 'deny',
      onOutage: () => {},
    });
    const d = await limiter.consume('k');
    assert.deepEqual([d.allowed, d.degraded, d.cause?.cause], [false, true, error]);
    await assert.rejects(limiter.acquire('k', { maxWaitMs: 10 }), isCode('ERR_WAIT_EXCEEDED'));
  });
});
