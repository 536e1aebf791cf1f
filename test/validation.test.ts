import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import {
  type BindOptions,
  createLimiter,
  FloodgateError,
  type FloodgateErrorCode,
  type LimiterOptions,
  MemoryStore,
  type MemoryStoreOptions,
  type RedisClient,
  RedisStore,
  type SlidingWindowLogOptions,
  type Store,
  type StoreBinding,
  slidingWindowLog,
  type TokenBucketOptions,
  tokenBucket,
} from 'floodgate';
import * as nodeRedis5 from 'redis';
import * as nodeRedis4 from 'redis4';
import * as nodeRedis6 from 'redis6';

/** A FloodgateError with this code and exactly this message. */
function coded(code: FloodgateErrorCode, message: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof FloodgateError, `expected a FloodgateError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.message, message);
    return true;
  };
}

/**
 * Every option error is ERR_INVALID_OPTION with one message shape: the owner, the option's name,
 * what is allowed and the bad value as given (strings quoted).
 */
function invalid(message: string) {
  return coded('ERR_INVALID_OPTION', message);
}

type Case = readonly [value: unknown, shown: string];

const notPositiveIntegers: readonly Case[] = [
  [0, '0'],
  [-5, '-5'],
  [1.5, '1.5'],
  [Number.NaN, 'NaN'],
  [Number.POSITIVE_INFINITY, 'Infinity'],
  [2 ** 53, '9007199254740992'],
  ['10', '"10"'],
  [null, 'null'],
  [undefined, 'undefined'],
  [[10], 'an array'],
];

const notObjects: readonly Case[] = [
  [null, 'null'],
  [5, '5'],
  ['limit', '"limit"'],
  [[], 'an array'],
];

describe('slidingWindowLog', () => {
  const good: SlidingWindowLogOptions = { limit: 10, windowMs: 1_000 };
  for (const [value, shown] of notPositiveIntegers) {
    test(`limit ${shown}`, () => {
      assert.throws(
        () => slidingWindowLog({ ...good, limit: value as number }),
        invalid(`slidingWindowLog: limit must be a positive integer, got ${shown}`),
      );
    });
    test(`windowMs ${shown}`, () => {
      assert.throws(
        () => slidingWindowLog({ ...good, windowMs: value as number }),
        invalid(`slidingWindowLog: windowMs must be a positive integer number of milliseconds, got ${shown}`),
      );
    });
  }
  test('an unknown option (a typo) is named, with the allowed ones', () => {
    assert.throws(
      () => slidingWindowLog({ limit: 10, windowMS: 1_000 } as unknown as SlidingWindowLogOptions),
      invalid('slidingWindowLog: unknown option "windowMS"; allowed options are limit, windowMs'),
    );
  });
  for (const [value, shown] of [...notObjects, [undefined, 'undefined'] as const]) {
    test(`options ${shown}`, () => {
      assert.throws(
        () => slidingWindowLog(value as SlidingWindowLogOptions),
        invalid(`slidingWindowLog: options must be an object, got ${shown}`),
      );
    });
  }
});

describe('tokenBucket', () => {
  const good: TokenBucketOptions = { capacity: 10, refillPerSecond: 5 };
  for (const [value, shown] of notPositiveIntegers) {
    test(`capacity ${shown}`, () => {
      assert.throws(
        () => tokenBucket({ ...good, capacity: value as number }),
        invalid(`tokenBucket: capacity must be a positive integer, got ${shown}`),
      );
    });
  }
  for (const [value, shown] of [
    [0, '0'],
    [-1, '-1'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    ['5', '"5"'],
    [null, 'null'],
    [undefined, 'undefined'],
    // Past the bounds the arithmetic breaks: an overflow to Infinity, an infinite interval.
    [1_000_001, '1000001'],
    [1e300, '1e+300'],
    [9e-10, '9e-10'],
    [5e-324, '5e-324'],
  ] as const) {
    test(`refillPerSecond ${shown}`, () => {
      assert.throws(
        () => tokenBucket({ ...good, refillPerSecond: value as number }),
        invalid(
          `tokenBucket: refillPerSecond must be a number of tokens per second from 1e-9 (one token in 31 years) to 1,000,000 (count in larger units above that), got ${shown}`,
        ),
      );
    });
  }
  test('fractional refill rates are fine, and so are both bounds', () => {
    assert.equal(tokenBucket({ capacity: 1, refillPerSecond: 0.001 }).limit, 1);
    const now = Date.now();
    for (const rate of [1e-9, 1_000_000]) {
      const bucket = tokenBucket({ capacity: 5, refillPerSecond: rate });
      assert.ok(Number.isFinite(bucket.windowMs), `windowMs at ${rate}/s`);
      // On an epoch-millisecond clock, as Redis's: a full bucket, then exact whole tokens.
      const state = bucket.charge(undefined, now, 2);
      const d = bucket.evaluate(state, now, 4, true);
      assert.deepEqual([d.allowed, d.remaining], [false, 3], `at ${rate}/s`);
      assert.ok(Number.isFinite(d.retryAfterMs) && d.retryAfterMs > 0, `retryAfterMs ${d.retryAfterMs} at ${rate}/s`);
    }
  });
  test('an unknown option (a typo) is named, with the allowed ones', () => {
    assert.throws(
      () => tokenBucket({ capacity: 10, refillRate: 5 } as unknown as TokenBucketOptions),
      invalid('tokenBucket: unknown option "refillRate"; allowed options are capacity, refillPerSecond'),
    );
  });
  for (const [value, shown] of notObjects) {
    test(`options ${shown}`, () => {
      assert.throws(
        () => tokenBucket(value as TokenBucketOptions),
        invalid(`tokenBucket: options must be an object, got ${shown}`),
      );
    });
  }
});

describe('MemoryStore', () => {
  const make = (options: unknown) => () => new MemoryStore(options as MemoryStoreOptions).close();
  test('no options, or an empty object, are fine', () => {
    new MemoryStore().close();
    new MemoryStore({}).close();
  });
  for (const [value, shown] of [...notPositiveIntegers].filter(([v]) => v !== undefined)) {
    test(`maxKeys ${shown}`, () => {
      assert.throws(make({ maxKeys: value }), invalid(`MemoryStore: maxKeys must be a positive integer, got ${shown}`));
    });
  }
  for (const [value, shown] of [
    [0, '0'],
    [-1, '-1'],
    [1.5, '1.5'],
    [true, 'true'],
    ['60000', '"60000"'],
    [null, 'null'],
    // Node runs a longer interval every millisecond, which would spin the sweep.
    [2_147_483_648, '2147483648'],
  ] as const) {
    test(`sweepIntervalMs ${shown}`, () => {
      assert.throws(
        make({ sweepIntervalMs: value }),
        invalid(
          `MemoryStore: sweepIntervalMs must be a positive integer number of milliseconds up to 2147483647 (24.8 days), or false, got ${shown}`,
        ),
      );
    });
  }
  for (const [value, shown] of [
    [5, '5'],
    ['performance.now', '"performance.now"'],
    [null, 'null'],
    [{}, 'an object (Object)'],
  ] as const) {
    test(`clock ${shown}`, () => {
      assert.throws(make({ clock: value }), invalid(`MemoryStore: clock must be a function, got ${shown}`));
    });
  }
  test('an unknown option (a typo) is named, with the allowed ones', () => {
    assert.throws(
      make({ maxkeys: 10 }),
      invalid('MemoryStore: unknown option "maxkeys"; allowed options are clock, maxKeys, sweepIntervalMs'),
    );
  });
  for (const [value, shown] of notObjects) {
    test(`options ${shown}`, () => {
      assert.throws(make(value), invalid(`MemoryStore: options must be an object, got ${shown}`));
    });
  }
});

describe('createLimiter', () => {
  const algorithm = slidingWindowLog({ limit: 10, windowMs: 1_000 });
  const store = new MemoryStore({ sweepIntervalMs: false });
  const make = (options: unknown) => () => createLimiter(options as LimiterOptions);

  test('algorithm and policies together', () => {
    assert.throws(
      make({ algorithm, policies: { a: algorithm } }),
      invalid('createLimiter: give either algorithm or policies, not both'),
    );
  });
  test('neither algorithm nor policies', () => {
    assert.throws(make({ store }), invalid('createLimiter: algorithm or policies is required, got neither'));
  });
  for (const [value, shown] of [
    ['slidingWindowLog', '"slidingWindowLog"'],
    [slidingWindowLog, 'a function'],
    [null, 'null'],
  ] as const) {
    test(`algorithm ${shown}`, () => {
      assert.throws(
        make({ algorithm: value }),
        invalid(
          `createLimiter: algorithm must be an algorithm such as slidingWindowLog({...}), tokenBucket({...}), fixedWindow({...}) or slidingWindowCounter({...}), got ${shown}`,
        ),
      );
    });
  }
  for (const [value, shown] of [
    [[algorithm], 'an array'],
    [null, 'null'],
    [5, '5'],
  ] as const) {
    test(`policies ${shown}`, () => {
      assert.throws(
        make({ policies: value }),
        invalid(`createLimiter: policies must be an object of named algorithms, got ${shown}`),
      );
    });
  }
  test('policies with no policy', () => {
    assert.throws(
      make({ policies: {} }),
      invalid('createLimiter: policies must be an object with at least one policy, got an object (Object)'),
    );
  });
  // A computed `__proto__` key is an own property, as one read from JSON would be.
  for (const name of ['', 'per minute', 'a.b', 'ü', '__proto__']) {
    test(`a policy named ${JSON.stringify(name)}`, () => {
      assert.throws(
        make({ policies: { [name]: algorithm } }),
        invalid(
          `createLimiter: policies key must be letters, digits, _ and - only, and not __proto__, got ${JSON.stringify(name)}`,
        ),
      );
    });
  }
  test('a policy that is not an algorithm', () => {
    assert.throws(
      make({ policies: { burst: { limit: 5 } } }),
      invalid('createLimiter: policies.burst.name must be a non-empty string, got undefined'),
    );
  });
  for (const [value, shown] of [
    [{}, 'an object (Object)'],
    ['redis', '"redis"'],
    [null, 'null'],
  ] as const) {
    test(`store ${shown}`, () => {
      assert.throws(
        make({ algorithm, store: value }),
        invalid(
          `createLimiter: store must be a store such as new MemoryStore() or new RedisStore({...}), got ${shown}`,
        ),
      );
    });
  }
  for (const [value, shown] of [
    ['', '""'],
    [5, '5'],
    [null, 'null'],
  ] as const) {
    test(`prefix ${shown}`, () => {
      assert.throws(
        make({ algorithm, store, prefix: value }),
        invalid(`createLimiter: prefix must be a non-empty string, got ${shown}`),
      );
    });
  }
  for (const [value, shown] of [
    ['ignore', '"ignore"'],
    [true, 'true'],
    [null, 'null'],
  ] as const) {
    test(`onStoreError ${shown}`, () => {
      assert.throws(
        make({ algorithm, store, onStoreError: value }),
        invalid(`createLimiter: onStoreError must be 'allow', 'deny', 'throw' or a fallback store, got ${shown}`),
      );
    });
  }
  for (const [value, shown] of [
    ['console.warn', '"console.warn"'],
    [null, 'null'],
  ] as const) {
    test(`onOutage ${shown}`, () => {
      assert.throws(
        make({ algorithm, store, onOutage: value }),
        invalid(`createLimiter: onOutage must be a function, got ${shown}`),
      );
    });
  }
  test('an unknown option (a typo) is named, with the allowed ones', () => {
    assert.throws(
      make({ algorithm, store, onStoreErorr: 'deny' }),
      invalid(
        'createLimiter: unknown option "onStoreErorr"; allowed options are algorithm, policies, store, prefix, blockDurationMs, onStoreError, onOutage',
      ),
    );
  });
  for (const [value, shown] of [...notObjects, [undefined, 'undefined'] as const]) {
    test(`options ${shown}`, () => {
      assert.throws(make(value), invalid(`createLimiter: options must be an object, got ${shown}`));
    });
  }
  test('regression: a null option fell back to its default (onStoreError: null failed open)', () => {
    assert.throws(
      make({ algorithm, store, onStoreError: null }),
      invalid(`createLimiter: onStoreError must be 'allow', 'deny', 'throw' or a fallback store, got null`),
    );
    assert.throws(make({ algorithm, store: null }), (e: unknown) => e instanceof FloodgateError);
    assert.throws(() => new MemoryStore({ maxKeys: null } as unknown as MemoryStoreOptions), FloodgateError);
  });
});

describe('per-call options', () => {
  const limiter = createLimiter({ algorithm: tokenBucket({ capacity: 5, refillPerSecond: 1 }) });

  for (const method of ['consume', 'peek'] as const) {
    test(`${method}: an unknown option is named by the method it was given to`, async () => {
      await assert.rejects(
        limiter[method]('k', { costs: 2 } as unknown as { cost: number }),
        invalid(`${method}: unknown option "costs"; allowed options are cost`),
      );
    });
    test(`${method}: options that are not an object`, async () => {
      await assert.rejects(
        limiter[method]('k', 2 as unknown as { cost: number }),
        invalid(`${method}: options must be an object, got 2`),
      );
    });
  }

  for (const [value, shown] of [
    [-1, '-1'],
    [Number.NaN, 'NaN'],
    ['1000', '"1000"'],
    [null, 'null'],
  ] as const) {
    test(`acquire: maxWaitMs ${shown}`, async () => {
      await assert.rejects(
        limiter.acquire('k', { maxWaitMs: value as number }),
        invalid(`acquire: maxWaitMs must be a non-negative number of milliseconds or Infinity, got ${shown}`),
      );
    });
  }
  for (const [value, shown] of [
    [{ aborted: false }, 'an object (Object)'],
    ['signal', '"signal"'],
    [null, 'null'],
  ] as const) {
    test(`acquire: signal ${shown}`, async () => {
      await assert.rejects(
        limiter.acquire('k', { signal: value as unknown as AbortSignal }),
        invalid(`acquire: signal must be an AbortSignal, got ${shown}`),
      );
    });
  }
  test('acquire: an unknown option is named, with the allowed ones', async () => {
    await assert.rejects(
      limiter.acquire('k', { timeoutMs: 5 } as unknown as { maxWaitMs: number }),
      invalid('acquire: unknown option "timeoutMs"; allowed options are cost, maxWaitMs, signal'),
    );
  });
  test('acquire: maxWaitMs of 0 and Infinity are allowed', async () => {
    assert.equal((await limiter.acquire('k', { maxWaitMs: 0 })).allowed, true);
    assert.equal((await limiter.acquire('k', { maxWaitMs: Number.POSITIVE_INFINITY })).allowed, true);
  });
});

/** A memory store on a clock that stands still, counting every call that reaches its binding. */
function spiedStore() {
  const calls = { bind: 0, decide: 0, refund: 0, block: 0, reset: 0 };
  const inner = new MemoryStore({ clock: () => 1_000, sweepIntervalMs: false });
  const store: Store = {
    bind(options: BindOptions): StoreBinding {
      calls.bind++;
      const b = inner.bind(options);
      const counted =
        <A extends unknown[], R>(name: keyof typeof calls, call: (...args: A) => R) =>
        (...args: A): R => {
          calls[name]++;
          return call(...args);
        };
      return {
        decide: counted('decide', b.decide),
        refund: counted('refund', b.refund),
        block: counted('block', b.block),
        reset: counted('reset', b.reset),
      };
    },
  };
  return { store, calls };
}

describe('refund and block: bad input changes nothing', () => {
  const REFUND_COST =
    'refund: cost must be a non-negative integer no larger than the smallest limit (3, policy "burst"), got';
  /** Two policies, the smallest limit 3, and a key with 2 units charged. */
  async function charged() {
    const { store, calls } = spiedStore();
    const limiter = createLimiter({
      policies: {
        window: slidingWindowLog({ limit: 5, windowMs: 1_000 }),
        burst: tokenBucket({ capacity: 3, refillPerSecond: 1 }),
      },
      store,
    });
    await limiter.consume('k', { cost: 2 });
    const before = await limiter.peek('k');
    assert.equal(before.remaining, 1);
    return { limiter, calls, before, storeCalls: { ...calls } };
  }

  for (const [value, shown] of [
    [-1, '-1'],
    [1.5, '1.5'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    ['1', '"1"'],
    [null, 'null'],
  ] as const) {
    test(`refund: cost ${shown}`, async () => {
      const { limiter, calls, before, storeCalls } = await charged();
      await assert.rejects(
        limiter.refund('k', { cost: value as number }),
        coded('ERR_INVALID_COST', `${REFUND_COST} ${shown}`),
      );
      assert.deepEqual(calls, storeCalls, 'the store was not called');
      assert.deepEqual(await limiter.peek('k'), before);
    });
  }
  test('refund: a cost above the smallest limit', async () => {
    const { limiter, calls, before, storeCalls } = await charged();
    await assert.rejects(limiter.refund('k', { cost: 4 }), coded('ERR_COST_EXCEEDS_LIMIT', `${REFUND_COST} 4`));
    assert.deepEqual(calls, storeCalls, 'the store was not called');
    assert.deepEqual(await limiter.peek('k'), before);
    // The smallest limit itself is a refund like any other.
    assert.equal((await limiter.refund('k', { cost: 3 })).remaining, 3);
  });
  test('refund: an unknown option, and options that are not an object', async () => {
    const { limiter, calls, before, storeCalls } = await charged();
    await assert.rejects(
      limiter.refund('k', { costs: 1 } as unknown as { cost: number }),
      invalid('refund: unknown option "costs"; allowed options are cost'),
    );
    await assert.rejects(
      limiter.refund('k', 1 as unknown as { cost: number }),
      invalid('refund: options must be an object, got 1'),
    );
    assert.deepEqual(calls, storeCalls, 'the store was not called');
    assert.deepEqual(await limiter.peek('k'), before);
  });

  for (const [options, shown] of [
    [{ durationMs: 0 }, '0'],
    [{ durationMs: -1 }, '-1'],
    [{ durationMs: 1.5 }, '1.5'],
    [{ durationMs: Number.NaN }, 'NaN'],
    [{ durationMs: Number.POSITIVE_INFINITY }, 'Infinity'],
    [{ durationMs: 1e15 + 1 }, '1000000000000001'],
    [{ durationMs: '5' }, '"5"'],
    [{ durationMs: null }, 'null'],
    [{ durationMs: true }, 'true'],
    [{}, 'undefined'],
  ] as const) {
    test(`block: durationMs ${shown}`, async () => {
      const { limiter, calls, before, storeCalls } = await charged();
      await assert.rejects(
        limiter.block('k', options as unknown as { durationMs: number }),
        invalid(`block: durationMs must be a positive integer number of milliseconds up to 1e15, got ${shown}`),
      );
      assert.deepEqual(calls, storeCalls, 'the store was not called');
      const after = await limiter.peek('k');
      assert.deepEqual(after, before);
      assert.equal(after.blocked, undefined);
    });
  }
  test('block: no options, an unknown option', async () => {
    const { limiter, calls, before, storeCalls } = await charged();
    await assert.rejects(
      limiter.block('k', undefined as unknown as { durationMs: number }),
      invalid('block: options must be an object, got undefined'),
    );
    await assert.rejects(
      limiter.block('k', { duration: 5 } as unknown as { durationMs: number }),
      invalid('block: unknown option "duration"; allowed options are durationMs'),
    );
    assert.deepEqual(calls, storeCalls, 'the store was not called');
    assert.deepEqual(await limiter.peek('k'), before);
  });
  test('block: 1 ms and 1e15 ms are allowed', async () => {
    const { limiter } = await charged();
    for (const durationMs of [1, 1e15]) assert.equal((await limiter.block('k', { durationMs })).blocked, true);
  });

  for (const [value, shown] of [
    [-1, '-1'],
    [1.5, '1.5'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [1e15 + 1, '1000000000000001'],
    ['5000', '"5000"'],
    [null, 'null'],
    [true, 'true'],
  ] as const) {
    test(`createLimiter: blockDurationMs ${shown}`, () => {
      const { store, calls } = spiedStore();
      assert.throws(
        () =>
          createLimiter({
            algorithm: slidingWindowLog({ limit: 5, windowMs: 1_000 }),
            store,
            blockDurationMs: value as number,
          }),
        invalid(
          `createLimiter: blockDurationMs must be a non-negative integer number of milliseconds up to 1e15 (0 for no lock-out), got ${shown}`,
        ),
      );
      assert.equal(calls.bind, 0, 'the store was not bound');
    });
  }
  test('createLimiter: blockDurationMs 0 (none) and 1e15 are allowed', () => {
    for (const blockDurationMs of [0, 1e15]) {
      createLimiter({ algorithm: slidingWindowLog({ limit: 5, windowMs: 1_000 }), blockDurationMs });
    }
  });
});

/** What these tests call of a node-redis module; its own types differ too much across versions to unite. */
interface NodeRedisModule {
  createClient(options: { url: string }): RedisClient;
  createCluster(options: { rootNodes: { url: string }[] }): RedisClient;
  createClientPool?(options: { url: string }): object;
  createSentinel?(options: { name: string; sentinelRootNodes: { host: string; port: number }[] }): object;
}

describe('RedisStore: which clients it takes', () => {
  const accepted =
    'an ioredis Redis or Cluster (ioredis 5 or 6), or a node-redis client from createClient or createCluster (node-redis 4, 5 or 6)';
  // Nothing here connects: a store only sends commands once its client is ready.
  const url = 'redis://127.0.0.1:1';
  for (const [version, lib] of [
    ['4', nodeRedis4 as unknown as NodeRedisModule],
    ['5', nodeRedis5 as unknown as NodeRedisModule],
    ['6', nodeRedis6 as unknown as NodeRedisModule],
  ] as const) {
    test(`node-redis ${version}: createClient and createCluster are taken`, () => {
      assert.ok(new RedisStore({ client: lib.createClient({ url }) }));
      assert.ok(new RedisStore({ client: lib.createCluster({ rootNodes: [{ url }] }) }));
    });
  }
  for (const [version, lib] of [
    ['5', nodeRedis5 as unknown as Required<NodeRedisModule>],
    ['6', nodeRedis6 as unknown as Required<NodeRedisModule>],
  ] as const) {
    test(`node-redis ${version}: a client pool and a Sentinel client are refused, naming what is taken`, () => {
      const pool = lib.createClientPool({ url });
      const sentinel = lib.createSentinel({ name: 'mymaster', sentinelRootNodes: [{ host: '127.0.0.1', port: 1 }] });
      for (const client of [pool, sentinel]) {
        assert.throws(
          () => new RedisStore({ client: client as RedisClient }),
          (e: unknown) =>
            e instanceof FloodgateError &&
            e.code === 'ERR_INVALID_OPTION' &&
            e.message.startsWith(`RedisStore: client must be ${accepted}, got an object`),
        );
      }
    });
  }
  test('node-redis 4: a client made with legacyMode is refused, saying why', () => {
    // Its commands take callbacks and return nothing: taken, every call failed on `then` and a
    // timeout left behind rejected unheld, ending the process.
    const legacy = (nodeRedis4 as unknown as { createClient(o: object): RedisClient }).createClient({
      url,
      legacyMode: true,
    });
    assert.throws(
      () => new RedisStore({ client: legacy }),
      (e: unknown) =>
        e instanceof FloodgateError &&
        e.code === 'ERR_INVALID_OPTION' &&
        e.message.startsWith(
          `RedisStore: client must be ${accepted} (a node-redis client made with legacyMode: true answers through callbacks; make it without legacyMode), got an object`,
        ),
    );
  });
});
