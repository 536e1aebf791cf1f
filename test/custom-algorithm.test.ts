import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import {
  type Algorithm,
  createLimiter,
  type Decision,
  FloodgateError,
  type Limiter,
  MemoryStore,
  type RedisClient,
  RedisStore,
  type Store,
  tokenBucket,
} from 'floodgate';
import { randomPrefix, useSuiteRedis } from './helpers/redis.js';
import { windowQuota } from './helpers/window-quota.js';

/** Timeouts are not under test here: a busy machine must not turn into a failure. */
const PATIENT_MS = 5000;

/** The store's client: of the library FLOODGATE_TEST_CLIENT picks (see helpers/clients.ts). */
let client: RedisClient;
useSuiteRedis((_server, _c, forStore) => {
  client = forStore;
});

function invalid(message: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof FloodgateError, `expected a FloodgateError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_INVALID_OPTION');
    assert.equal(e.message, message);
    return true;
  };
}

describe('a hand-written algorithm with a member missing or of the wrong type is refused at createLimiter', () => {
  const good = windowQuota({ limit: 3, windowMs: 1000, twin: true });
  const twin = good.redis as NonNullable<Algorithm['redis']>;
  const withTwin = (change: Record<string, unknown>) => ({ ...good, redis: { ...twin, ...change } });
  const withLua = (change: Record<string, unknown>) => withTwin({ lua: { ...twin.lua, ...change } });
  const cases: [member: string, algorithm: unknown, expected: string, shown: string][] = [
    ['name', { ...good, name: undefined }, 'a non-empty string', 'undefined'],
    ['name', { ...good, name: '' }, 'a non-empty string', '""'],
    ['name', { ...good, name: 5 }, 'a non-empty string', '5'],
    ['limit', { ...good, limit: 0 }, 'a positive integer', '0'],
    ['limit', { ...good, limit: 1.5 }, 'a positive integer', '1.5'],
    ['limit', { ...good, limit: '3' }, 'a positive integer', '"3"'],
    ['windowMs', { ...good, windowMs: undefined }, 'a positive number of milliseconds', 'undefined'],
    ['windowMs', { ...good, windowMs: -1 }, 'a positive number of milliseconds', '-1'],
    ['windowMs', { ...good, windowMs: Number.NaN }, 'a positive number of milliseconds', 'NaN'],
    ...(['evaluate', 'charge', 'refund', 'expiresAt'] as const).flatMap((name) => [
      [name, { ...good, [name]: undefined }, 'a function', 'undefined'] as [string, unknown, string, string],
      [name, { ...good, [name]: 'function' }, 'a function', '"function"'] as [string, unknown, string, string],
    ]),
    ['redis', { ...good, redis: null }, 'an object { lua, params, msPerUnit? }', 'null'],
    ['redis', { ...good, redis: 'lua' }, 'an object { lua, params, msPerUnit? }', '"lua"'],
    [
      'redis.lua',
      withTwin({ lua: undefined }),
      'an object of Lua steps { decide, uncharged, charge, refund }',
      'undefined',
    ],
    ...(['decide', 'uncharged', 'charge', 'refund'] as const).flatMap((step) => [
      [`redis.lua.${step}`, withLua({ [step]: undefined }), 'a function returning Lua code', 'undefined'] as [
        string,
        unknown,
        string,
        string,
      ],
      [`redis.lua.${step}`, withLua({ [step]: 'return 1' }), 'a function returning Lua code', '"return 1"'] as [
        string,
        unknown,
        string,
        string,
      ],
    ]),
    ['redis.params', withTwin({ params: undefined }), 'an array of finite numbers', 'undefined'],
    ['redis.params', withTwin({ params: [3, Number.NaN] }), 'an array of finite numbers', 'an array'],
    ['redis.params', withTwin({ params: [3, '1000'] }), 'an array of finite numbers', 'an array'],
    ['redis.msPerUnit', withTwin({ msPerUnit: 0 }), 'a positive finite number, or undefined', '0'],
    [
      'redis.msPerUnit',
      withTwin({ msPerUnit: Number.POSITIVE_INFINITY }),
      'a positive finite number, or undefined',
      'Infinity',
    ],
    ['redis.msPerUnit', withTwin({ msPerUnit: '5' }), 'a positive finite number, or undefined', '"5"'],
  ];
  for (const [member, algorithm, expected, shown] of cases) {
    test(`${member} ${shown}`, () => {
      assert.throws(
        () => createLimiter({ algorithm: algorithm as Algorithm }),
        invalid(`createLimiter: algorithm.${member} must be ${expected}, got ${shown}`),
      );
      assert.throws(
        () =>
          createLimiter({
            policies: { burst: tokenBucket({ capacity: 5, refillPerSecond: 1 }), mine: algorithm as Algorithm },
          }),
        invalid(`createLimiter: policies.mine.${member} must be ${expected}, got ${shown}`),
      );
    });
  }
  test('the same algorithm, whole, is accepted', () => {
    createLimiter({ algorithm: good });
    createLimiter({ algorithm: windowQuota({ limit: 3, windowMs: 1000, twin: false }) });
  });
});

describe('a hand-written algorithm without a Redis twin', () => {
  test('runs on the memory store: consume, peek, refund, block and reset', async () => {
    let now = 1500;
    const limiter = createLimiter({
      algorithm: windowQuota({ limit: 2, windowMs: 1000, twin: false }),
      store: new MemoryStore({ clock: () => now, sweepIntervalMs: false }),
    });
    const brief = (d: Decision) => [d.allowed, d.remaining, d.resetMs, d.retryAfterMs, d.blocked];
    assert.deepEqual(brief(await limiter.consume('k')), [true, 1, 500, 0, undefined]);
    assert.deepEqual(brief(await limiter.consume('k')), [true, 0, 500, 0, undefined]);
    assert.deepEqual(brief(await limiter.consume('k')), [false, 0, 500, 500, undefined]);
    assert.deepEqual(brief(await limiter.refund('k')), [true, 1, 500, 0, undefined]);
    assert.deepEqual(brief(await limiter.block('k', { durationMs: 800 })), [false, 0, 800, 800, true]);
    now = 2300;
    assert.deepEqual(brief(await limiter.peek('k')), [true, 2, 0, 0, undefined]);
    await limiter.block('k', { durationMs: 100 });
    await limiter.reset('k');
    assert.deepEqual(brief(await limiter.consume('k')), [true, 1, 700, 0, undefined]);
  });

  test('is refused at createLimiter on the Redis store, naming the algorithm and the store', () => {
    const store = new RedisStore({ client, timeoutMs: PATIENT_MS });
    const algorithm = windowQuota({ limit: 2, windowMs: 1000, twin: false });
    assert.throws(
      () => createLimiter({ algorithm, store, prefix: randomPrefix('twinless') }),
      invalid(
        'RedisStore: policy "default" uses the algorithm "window-quota", which has no Redis twin (its redis member), so it cannot run on the Redis store; give it one, or use the MemoryStore',
      ),
    );
    assert.throws(
      () =>
        createLimiter({
          policies: { burst: tokenBucket({ capacity: 5, refillPerSecond: 1 }), quota: algorithm },
          store,
          prefix: randomPrefix('twinless'),
        }),
      invalid(
        'RedisStore: policy "quota" uses the algorithm "window-quota", which has no Redis twin (its redis member), so it cannot run on the Redis store; give it one, or use the MemoryStore',
      ),
    );
  });
});

describe('a hand-written algorithm with its own Redis twin', () => {
  /** The same calls through `make()` on both stores, which must agree Decision by Decision. */
  async function both(make: () => Algorithm, run: (l: Limiter, at: (ms: number) => void) => Promise<Decision[]>) {
    let now = 0;
    const at = (ms: number) => {
      now = ms;
    };
    const limiter = (store: Store) =>
      createLimiter({ algorithm: make(), store, prefix: randomPrefix('own'), onStoreError: 'throw' });
    const memory = await run(limiter(new MemoryStore({ clock: () => now, sweepIntervalMs: false })), at);
    now = 0;
    const redis = await run(
      limiter(new RedisStore({ client, timeoutMs: PATIENT_MS, clock: () => now, denyCache: false })),
      at,
    );
    assert.deepEqual(redis, memory, 'the twin decides as the TypeScript does');
    return memory;
  }

  test('named token-bucket, with the numbers of a built-in bucket, runs its own Lua, not the built-in', async () => {
    // A built-in tokenBucket({ capacity: 2, refillPerSecond: 1000 }) has these very name and
    // params, and has a token back 1 ms after a burst; this quota waits for its window to end.
    const builtIn = tokenBucket({ capacity: 2, refillPerSecond: 1000 });
    const impostor = () => windowQuota({ limit: 2, windowMs: 1000, twin: true, name: 'token-bucket' });
    assert.equal(impostor().name, builtIn.name);
    assert.deepEqual(impostor().redis?.params, builtIn.redis?.params);
    const decisions = await both(impostor, async (l, at) => {
      const out = [await l.consume('k'), await l.consume('k'), await l.consume('k')];
      at(5);
      out.push(await l.consume('k'), await l.refund('k'), await l.consume('k'), await l.consume('k'));
      at(1000);
      out.push(await l.consume('k'));
      return out;
    });
    assert.deepEqual(
      decisions.map((d) => [d.allowed, d.remaining, d.retryAfterMs]),
      [
        [true, 1, 0],
        [true, 0, 0],
        [false, 0, 1000],
        // A bucket refilling 1000 a second would allow this one.
        [false, 0, 995],
        [true, 1, 0],
        [true, 0, 0],
        [false, 0, 995],
        [true, 1, 0],
      ],
    );
  });
});
