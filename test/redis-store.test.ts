import { deepStrictEqual, ok, rejects, strictEqual, throws } from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import {
  type Algorithm,
  createLimiter,
  type Decision,
  FloodgateError,
  fixedWindow,
  type Limiter,
  type LuaTwin,
  type RedisClient,
  RedisStore,
  type RedisStoreOptions,
  type RedisTwin,
  type Store,
  slidingWindowCounter,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { DENY_CACHE_MAX_KEYS, DenyCache } from '../src/stores/redis/deny-cache.js';
import { notReadyReason } from '../src/stores/redis/status.js';
import {
  closeClient,
  isReady,
  NODE_REDIS,
  NODE_REDIS_MAJOR,
  storeClient,
  TEST_CLIENT,
  TEST_CLIENT_LABEL,
  unconnectedClient,
  whenReady,
} from './helpers/clients.js';
import { heapAfterGc } from './helpers/gc.js';
import { IOREDIS_VERSION, Redis } from './helpers/ioredis.js';
import { freePort, type RedisServer, randomPrefix, startRedis, useSuiteRedis } from './helpers/redis.js';

/** Timeouts are not under test here: a busy machine must not turn into a failure. */
const PATIENT_MS = 5000;

let server: { url: string; stop(): Promise<void> };
/** Looks at what landed in Redis: ioredis, whichever client the stores are given. */
let client: Redis;
/** The stores' client: of the library FLOODGATE_TEST_CLIENT names (`client` itself on an ioredis run). */
let forStore: RedisClient;
useSuiteRedis((s, c, sc) => {
  server = s;
  client = c;
  forStore = sc;
});

const ONLY_IOREDIS = NODE_REDIS && `about ioredis; this run gives the store ${TEST_CLIENT_LABEL}`;
const ONLY_NODE_REDIS = !NODE_REDIS && `about node-redis; this run gives the store ${TEST_CLIENT_LABEL}`;

/** What a cached Decision must get right: `remaining` is the value at the denial. */
function pick(d: Decision): Pick<Decision, 'allowed' | 'retryAfterMs' | 'resetMs' | 'policy'> {
  return { allowed: d.allowed, retryAfterMs: d.retryAfterMs, resetMs: d.resetMs, policy: d.policy };
}

function code(error: unknown): string | undefined {
  return error instanceof FloodgateError ? error.code : undefined;
}

test('the stores get a client of the library FLOODGATE_TEST_CLIENT names (ioredis5 unless set); the suite looks through ioredis', (t) => {
  strictEqual(TEST_CLIENT, process.env.FLOODGATE_TEST_CLIENT ?? 'ioredis5');
  const require = createRequire(import.meta.url);
  // The ioredis the suite looks through: 6 on an ioredis6 run, else 5.
  const ioMajor = TEST_CLIENT === 'ioredis6' ? '6' : '5';
  const loaded = require(ioMajor === '6' ? 'ioredis6' : 'ioredis') as { Redis: unknown };
  strictEqual(IOREDIS_VERSION.split('.')[0], ioMajor);
  strictEqual(Redis, loaded.Redis);
  ok(client instanceof (loaded.Redis as typeof Redis));
  if (NODE_REDIS) {
    const name = { 4: 'redis4', 5: 'redis', 6: 'redis6' }[NODE_REDIS_MAJOR as 4 | 5 | 6];
    const { version } = require(`${name}/package.json`) as { version: string };
    strictEqual(version.split('.')[0], String(NODE_REDIS_MAJOR));
    strictEqual(TEST_CLIENT_LABEL, `node-redis ${version}`);
    // Made by that module's createClient: its sendCommand is the one a client made there has
    // (each createClient makes a class of its own, on one base class per version).
    const { createClient } = require(name) as { createClient(options: object): object };
    const definer = (o: object): unknown => {
      let proto: unknown = Object.getPrototypeOf(o);
      while (proto !== null && !Object.hasOwn(proto as object, 'sendCommand')) proto = Object.getPrototypeOf(proto);
      return proto;
    };
    ok(definer(forStore) !== null);
    strictEqual(definer(forStore), definer(createClient({})));
    ok(!(forStore instanceof (loaded.Redis as typeof Redis)));
  } else {
    strictEqual(forStore, client, 'on an ioredis run, the store and the suite share one client');
    strictEqual(TEST_CLIENT_LABEL, `ioredis ${IOREDIS_VERSION}`);
  }
  t.diagnostic(`the stores' client: ${TEST_CLIENT_LABEL}; the suite looks through ioredis ${IOREDIS_VERSION}`);
});

describe('RedisStore options', () => {
  test('a limiter may have up to 16 policies on the Redis store, all decided in one script', async () => {
    const policiesOf = (n: number) =>
      Object.fromEntries(
        Array.from({ length: n }, (_, i) => [
          `p${i}`,
          i % 2 === 0
            ? slidingWindowLog({ limit: 10 + i, windowMs: 60_000 })
            : tokenBucket({ capacity: 10 + i, refillPerSecond: 0.001 }),
        ]),
      );
    const store = new RedisStore({ client: forStore, timeoutMs: PATIENT_MS });
    throws(
      () => createLimiter({ policies: policiesOf(17), store, prefix: randomPrefix('many') }),
      (e: unknown) => code(e) === 'ERR_INVALID_OPTION' && /at most 16 policies, got 17/.test(String(e)),
    );
    const limiter = createLimiter({
      policies: policiesOf(16),
      store,
      prefix: randomPrefix('many'),
      onStoreError: 'throw',
    });
    for (let i = 1; i <= 10; i++) strictEqual((await limiter.consume('k')).allowed, true);
    const d = await limiter.consume('k');
    strictEqual(d.allowed, false, 'p0 (limit 10) denies the 11th call');
    strictEqual(d.policy, 'p0');
    strictEqual(d.policies?.p15?.remaining, 25 - 10, 'the others were charged 10 times, not 11');
  });

  test('a twin may read any number of parameters as numbers (past the locals the script keeps for them, in a table)', async () => {
    // Sixteen token buckets whose twin also reads a third parameter, 48 numbers in all: the
    // first 32 go in locals of the script, the rest in a table, and each must reach its policy.
    const policies = Object.fromEntries(
      Array.from({ length: 16 }, (_, i) => {
        const bucket = tokenBucket({ capacity: 10 + i, refillPerSecond: 0.001 });
        const twin = bucket.redis as RedisTwin;
        const lua: LuaTwin = {
          ...twin.lua,
          decide: (p) =>
            `\ndo\n  local third = ${p.num(2)}\n  if third ~= ${100 + i} then error('policy ${i} read ' .. tostring(third)) end\nend\n${twin.lua.decide(p)}`,
        };
        return [`p${i}`, { ...bucket, redis: { ...twin, lua, params: [...twin.params, 100 + i] } }];
      }),
    );
    const limiter = createLimiter({
      policies,
      store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS }),
      prefix: randomPrefix('numbers'),
      onStoreError: 'throw',
    });
    for (let i = 1; i <= 10; i++) strictEqual((await limiter.consume('k')).allowed, true);
    const d = await limiter.consume('k');
    strictEqual(d.allowed, false, 'p0 (capacity 10) denies the 11th call');
    strictEqual(d.policies?.p15?.remaining, 25 - 10);
  });

  test('every option is checked at construction', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [
        {},
        /client must be an ioredis Redis or Cluster \(ioredis 5 or 6\), or a node-redis client from createClient or createCluster \(node-redis 4, 5 or 6\), got undefined/,
      ],
      [{ client: { status: 'ready' } }, /client must be an ioredis Redis or Cluster .*, got an object/],
      [
        { client: { isOpen: true, connect() {} } },
        /client must be an ioredis Redis or Cluster .*node-redis.*, got an object/,
      ],
      [{ client: forStore, timeoutMs: 0 }, /timeoutMs must be a positive integer number of milliseconds.*, got 0/],
      [{ client: forStore, timeoutMs: 1.5 }, /timeoutMs must be .*got 1.5/],
      [{ client: forStore, timeoutMs: '50' }, /timeoutMs must be .*got "50"/],
      [{ client: forStore, timeoutMs: 2 ** 31 }, /timeoutMs must be .*got 2147483648/],
      [{ client: forStore, denyCache: 'yes' }, /denyCache must be true or false, got "yes"/],
      [{ client: forStore, timeoutMs: null }, /timeoutMs must be .*got null/],
      [{ client: forStore, denyCache: null }, /denyCache must be true or false, got null/],
      [{ client: forStore, batchWrites: 1 }, /batchWrites must be true or false, got 1/],
      [{ client: forStore, batchAcrossSlots: 'no' }, /batchAcrossSlots must be true or false, got "no"/],
      [{ client: forStore, batchAcrossSlots: null }, /batchAcrossSlots must be true or false, got null/],
      [{ client: forStore, clock: 5 }, /clock must be a function, got 5/],
      [
        { client: forStore, timeout: 50 },
        /unknown option "timeout"; allowed options are client, timeoutMs, denyCache, batchWrites, batchAcrossSlots, clock/,
      ],
    ];
    for (const [options, message] of bad) {
      throws(
        () => new RedisStore(options as unknown as RedisStoreOptions),
        (e: unknown) => code(e) === 'ERR_INVALID_OPTION' && message.test((e as Error).message),
        message.source,
      );
    }
    throws(
      () => new RedisStore(undefined as unknown as RedisStoreOptions),
      /RedisStore: options must be an object, got undefined/,
    );
  });

  test('a prefix with braces is refused when the limiter is created', () => {
    throws(
      () =>
        createLimiter({
          algorithm: slidingWindowLog({ limit: 1, windowMs: 1000 }),
          store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS }),
          prefix: 'a{b',
        }),
      /RedisStore: prefix must be a string without \{ or \}.*got "a\{b"/,
    );
  });

  test('a prefix with a lone surrogate is refused: Redis would read two such prefixes as one', () => {
    for (const prefix of ['tenant\uD800', 'tenant\uDFFF']) {
      throws(
        () =>
          createLimiter({
            algorithm: slidingWindowLog({ limit: 1, windowMs: 1000 }),
            store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS }),
            prefix,
          }),
        /RedisStore: prefix must be well-formed UTF-16, with no lone surrogate \(Redis would read it as U\+FFFD\), got "tenant\\ud[8f]/,
      );
    }
  });
});

describe('key layout', () => {
  test('keys are prefix, hash-tagged key and policy; braces and % in keys are escaped', async () => {
    const prefix = randomPrefix('layout');
    const limiter = createLimiter({
      policies: {
        burst: tokenBucket({ capacity: 5, refillPerSecond: 1 }),
        hour: slidingWindowLog({ limit: 10, windowMs: 60_000 }),
      },
      store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS }),
      prefix,
      onStoreError: 'throw',
    });
    for (const key of ['user:42', 'a{b}c', '}x{', 'a%7Bb', 'a{b']) await limiter.consume(key);
    const keys = (await client.keys(`${prefix}:*`)).sort();
    deepStrictEqual(
      keys,
      [
        `${prefix}:{%7Dx%7B}:burst`,
        `${prefix}:{%7Dx%7B}:hour`,
        `${prefix}:{a%257Bb}:burst`,
        `${prefix}:{a%257Bb}:hour`,
        `${prefix}:{a%7Bb%7Dc}:burst`,
        `${prefix}:{a%7Bb%7Dc}:hour`,
        `${prefix}:{a%7Bb}:burst`,
        `${prefix}:{a%7Bb}:hour`,
        `${prefix}:{user:42}:burst`,
        `${prefix}:{user:42}:hour`,
      ].sort(),
    );
  });

  test('long keys are stored hashed', async () => {
    const prefix = randomPrefix('long');
    const limiter = createLimiter({
      algorithm: slidingWindowLog({ limit: 3, windowMs: 1000 }),
      store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS }),
      prefix,
      onStoreError: 'throw',
    });
    await limiter.consume('x'.repeat(10_000));
    const [key] = await client.keys(`${prefix}:*`);
    ok(key !== undefined && /^[^{]+:\{#[A-Za-z0-9_-]{43}\}:default$/.test(key), String(key));
    // The name, as the README gives it: the SHA-256 of the key's UTF-8 bytes. Long keys stored by
    // an earlier version keep their name, so an upgrade (or a rolling deploy) keeps their counts.
    const sha = createHash('sha256').update('x'.repeat(10_000)).digest('base64url');
    strictEqual(key, `${prefix}:{#${sha}}:default`);
    // A short key with a lone surrogate is hashed, or Redis would read it as the key with U+FFFD.
    await limiter.consume('a\uD800');
    await limiter.consume('a\uFFFD');
    strictEqual((await client.keys(`${prefix}:*`)).length, 3);
  });
});

describe('failures are coded errors', () => {
  test('a Redis error becomes ERR_STORE with the reply error as cause', async () => {
    const prefix = randomPrefix('wrongtype');
    await client.hset(`${prefix}:{k}:default`, 'f', '1');
    const limiter = createLimiter({
      algorithm: slidingWindowLog({ limit: 3, windowMs: 1000 }),
      store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS }),
      prefix,
      onOutage: () => undefined,
    });
    const d = await limiter.consume('k');
    strictEqual(d.degraded, true);
    strictEqual(d.cause?.code, 'ERR_STORE');
    ok(d.cause?.cause instanceof Error && /WRONGTYPE/.test(d.cause.cause.message), String(d.cause?.cause));
  });

  test('a lazyConnect client is answered at once, told to connect, and used once ready', {
    skip: ONLY_IOREDIS,
  }, async () => {
    const lazy = new Redis(server.url, { lazyConnect: true });
    try {
      const limiter = createLimiter({
        algorithm: slidingWindowLog({ limit: 3, windowMs: 1000 }),
        store: new RedisStore({ client: lazy, timeoutMs: PATIENT_MS }),
        prefix: randomPrefix('lazy'),
        onOutage: () => undefined,
      });
      const first = await limiter.consume('k');
      strictEqual(first.cause?.code, 'ERR_STORE_UNAVAILABLE');
      strictEqual(
        first.cause?.message,
        'RedisStore: the client has not connected yet (it was created with lazyConnect) and is connecting now, so the script was not sent',
      );
      await new Promise<void>((resolve) => lazy.once('ready', () => resolve()));
      const second = await limiter.consume('k');
      deepStrictEqual(second, { allowed: true, limit: 3, remaining: 2, resetMs: 1000, retryAfterMs: 0 });
    } finally {
      lazy.disconnect();
    }
  });

  test('a node-redis client whose connect() was not called is answered at once, left alone, and used once connected', {
    skip: ONLY_NODE_REDIS,
  }, async () => {
    const idle = unconnectedClient(server.url);
    try {
      const limiter = createLimiter({
        algorithm: slidingWindowLog({ limit: 3, windowMs: 1000 }),
        store: new RedisStore({ client: idle, timeoutMs: PATIENT_MS }),
        prefix: randomPrefix('idle'),
        onOutage: () => undefined,
      });
      const first = await limiter.consume('k');
      strictEqual(first.cause?.code, 'ERR_STORE_UNAVAILABLE');
      strictEqual(
        first.cause?.message,
        'RedisStore: the client is not open (its connect() was not called yet, or it was closed), so the script was not sent',
      );
      // Connecting a node-redis client is its owner's call: the store did not make it.
      await new Promise((resolve) => setTimeout(resolve, 50));
      strictEqual(isReady(idle), false, 'the store did not connect it');
      await (idle as { connect(): Promise<unknown> }).connect();
      const second = await limiter.consume('k');
      deepStrictEqual(second, { allowed: true, limit: 3, remaining: 2, resetMs: 1000, retryAfterMs: 0 });
    } finally {
      closeClient(idle);
    }
  });
});

describe('a client that is not ready is answered in words', () => {
  async function causeOf(c: RedisClient, what: 'consume' | 'reset'): Promise<string | undefined> {
    const limiter = createLimiter({
      algorithm: slidingWindowLog({ limit: 3, windowMs: 1000 }),
      store: new RedisStore({ client: c, timeoutMs: PATIENT_MS }),
      prefix: randomPrefix('status'),
      onStoreError: 'throw',
      onOutage: () => undefined,
    });
    try {
      await (what === 'consume' ? limiter.consume('k') : limiter.reset('k'));
    } catch (error) {
      strictEqual(code(error), 'ERR_STORE_UNAVAILABLE');
      return (error as Error).message;
    }
    return undefined;
  }

  test('closed (status end): it will not reconnect', { skip: ONLY_IOREDIS }, async () => {
    const closed = new Redis(server.url);
    await closed.ping();
    const ended = new Promise<void>((resolve) => closed.once('end', () => resolve()));
    closed.disconnect();
    await ended;
    strictEqual(closed.status, 'end');
    const end =
      'the client is closed and will not reconnect (quit() or disconnect() was called, or its retryStrategy stopped reconnecting)';
    strictEqual(await causeOf(closed, 'consume'), `RedisStore: ${end}, so the script was not sent`);
    strictEqual(await causeOf(closed, 'reset'), `RedisStore: ${end}, so the reset was not sent`);
  });

  test('no server (status connecting or reconnecting): still connecting, or waiting to reconnect', {
    skip: ONLY_IOREDIS,
  }, async () => {
    const nowhere = new Redis(await freePort(), '127.0.0.1');
    nowhere.on('error', () => undefined);
    try {
      const message = await causeOf(nowhere, 'consume');
      ok(
        message === 'RedisStore: the client is still connecting to Redis, so the script was not sent' ||
          message ===
            'RedisStore: the client lost its connection to Redis and is waiting to reconnect, so the script was not sent',
        message,
      );
    } finally {
      nowhere.disconnect();
    }
  });

  test('node-redis, closed (destroyed, or disconnected in node-redis 4): not open', {
    skip: ONLY_NODE_REDIS,
  }, async () => {
    const closed = storeClient(server.url);
    await whenReady(closed);
    closeClient(closed);
    strictEqual((closed as { isOpen: boolean }).isOpen, false);
    const notOpen = 'the client is not open (its connect() was not called yet, or it was closed)';
    strictEqual(await causeOf(closed, 'consume'), `RedisStore: ${notOpen}, so the script was not sent`);
    strictEqual(await causeOf(closed, 'reset'), `RedisStore: ${notOpen}, so the reset was not sent`);
  });

  test('node-redis, no server (open, not ready): connecting or reconnecting', { skip: ONLY_NODE_REDIS }, async () => {
    const nowhere = storeClient(await freePort());
    try {
      strictEqual((nowhere as { isOpen: boolean }).isOpen, true, 'connect() was called');
      const reason = 'RedisStore: the client is connecting or reconnecting to Redis';
      strictEqual(await causeOf(nowhere, 'consume'), `${reason}, so the script was not sent`);
      strictEqual(await causeOf(nowhere, 'reset'), `${reason}, so the reset was not sent`);
    } finally {
      closeClient(nowhere);
    }
  });

  test('every ioredis status has words of its own; an unknown one is quoted', () => {
    const statuses = ['wait', 'connecting', 'connect', 'reconnecting', 'close', 'end', 'disconnecting', 'monitoring'];
    const reasons = statuses.map(notReadyReason);
    strictEqual(new Set(reasons).size, statuses.length);
    for (const [i, reason] of reasons.entries()) {
      ok(reason.startsWith('the client ') && !reason.includes(`"${statuses[i]}"`), reason);
    }
    strictEqual(notReadyReason('sleeping'), 'the client is "sleeping", not ready');
  });
});

test('an injected clock that reads NaN fails the call with a clear error, and sends nothing', async () => {
  const prefix = randomPrefix('nan-clock');
  let now = Number.NaN;
  const limiter = createLimiter({
    algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }),
    store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, clock: () => now, denyCache: false }),
    prefix,
    onStoreError: 'throw',
    onOutage: () => {},
  });
  await rejects(
    limiter.consume('k'),
    (e: unknown) =>
      e instanceof FloodgateError &&
      e.code === 'ERR_STORE' &&
      e.message === 'RedisStore: clock must return a finite number of milliseconds, got NaN',
  );
  strictEqual(await client.exists(`${prefix}:{k}:default`), 0);
  now = 1_000_000;
  strictEqual((await limiter.consume('k')).remaining, 4);
});

describe('bounded state', () => {
  test('a sliding log keeps at most limit entries and its PTTL is the newest expiry', async () => {
    const prefix = randomPrefix('log');
    let now = 1_000_000;
    const limiter = createLimiter({
      algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }),
      store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, clock: () => now, denyCache: false }),
      prefix,
      onStoreError: 'throw',
    });
    const key = `${prefix}:{k}:default`;
    for (let i = 0; i < 20; i++) {
      await limiter.consume('k');
      ok((await client.llen(key)) <= 5);
      now += 10;
    }
    strictEqual(await client.llen(key), 5);
    const pttl = await client.pttl(key);
    // Set by the 5th call (newest entry): 60,000 ms + 1, less the real time since.
    ok(pttl > 55_000 && pttl <= 60_001, String(pttl));
    // Once the window has passed, expired entries leave as soon as the key is touched.
    now += 60_000;
    await limiter.consume('k');
    strictEqual(await client.llen(key), 1);
  });

  test('a sliding log drops exactly its expired entries, however many, and keeps the live ones', async () => {
    const prefix = randomPrefix('log-drop');
    let now = 1_000_000;
    const limiter = createLimiter({
      algorithm: slidingWindowLog({ limit: 40, windowMs: 1000 }),
      store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, clock: () => now, denyCache: false }),
      prefix,
      onStoreError: 'throw',
    });
    // Fewer, as many as, and more than the store reads at a time, and a few times that.
    for (const expired of [1, 3, 4, 5, 8, 9, 13]) {
      const user = `k${expired}`;
      const key = `${prefix}:{${user}}:default`;
      for (let i = 0; i < expired; i++) await limiter.consume(user);
      now += 500;
      for (let i = 0; i < 3; i++) await limiter.consume(user);
      // The first ones have left the window; the three after them have not.
      now += 500;
      const d = await limiter.consume(user);
      deepStrictEqual([d.allowed, d.remaining], [true, 40 - 3 - 1], `${expired} expired`);
      strictEqual(await client.llen(key), 4, `${expired} expired`);
      now += 2000;
    }
  });

  test('a token bucket is one short string with a PTTL at the instant it is full again', async () => {
    const prefix = randomPrefix('bucket');
    const limiter = createLimiter({
      algorithm: tokenBucket({ capacity: 10, refillPerSecond: 2 }),
      store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS }),
      prefix,
      onStoreError: 'throw',
    });
    await limiter.consume('k', { cost: 4 });
    const key = `${prefix}:{k}:default`;
    strictEqual(await client.type(key), 'string');
    ok((await client.strlen(key)) <= 24);
    const pttl = await client.pttl(key);
    ok(pttl > 1900 && pttl <= 2002, String(pttl));
  });

  test("on the server clock, a key's expiry is its state's last instant, a few ms after at most", async () => {
    // PEXPIRETIME (absolute, ms) against the instant the state stops mattering, read back from
    // Redis: the newest log entry's expiry, the bucket's expiresAt(fullAt). Never before it
    // (state would be lost early); after it, only the 1 ms margin, the rounding up to whole
    // milliseconds, and the microseconds the script runs past its TIME reading.
    const swl = createLimiter({
      algorithm: slidingWindowLog({ limit: 100, windowMs: 1500 }),
      store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, denyCache: false }),
      prefix: randomPrefix('expiry-log'),
      onStoreError: 'throw',
    });
    const rps = 3;
    const tb = createLimiter({
      algorithm: tokenBucket({ capacity: 10, refillPerSecond: rps }),
      store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, denyCache: false }),
      prefix: randomPrefix('expiry-bucket'),
      onStoreError: 'throw',
    });
    const logKey = `${swl.prefix}:{k}:default`;
    const bucketKey = `${tb.prefix}:{k}:default`;
    for (let i = 0; i < 8; i++) {
      await Promise.all([swl.consume('k'), tb.consume('k')]);
      const newest = ((await client.lindexBuffer(logKey, 0)) as Buffer).readDoubleLE(0);
      const fullAt = ((await client.getBuffer(bucketKey)) as Buffer).readDoubleLE(0);
      const at = (fullAt * 1000) / rps;
      const lastInstant = at + Math.abs(at) * 2 ** -50;
      for (const [key, last] of [
        [logKey, newest],
        [bucketKey, lastInstant],
      ] as const) {
        const expireAt = Number(await client.call('PEXPIRETIME', key));
        ok(expireAt >= last && expireAt <= last + 3, `${key}: expires at ${expireAt}, state lasts until ${last}`);
      }
    }
  });

  test('regression: a TTL of 1e17 ms or more is capped, not sent as 1e+17 (which Redis refuses)', async () => {
    // Emptied, the bucket is full again in 3e5 tokens / 1e-9 per second = 3e17 ms.
    for (const clock of [undefined, () => 0]) {
      const prefix = randomPrefix('huge');
      const limiter = createLimiter({
        algorithm: tokenBucket({ capacity: 300_000, refillPerSecond: 1e-9 }),
        store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, ...(clock && { clock }) }),
        prefix,
        onStoreError: 'throw',
      });
      strictEqual((await limiter.consume('k', { cost: 300_000 })).allowed, true);
      const pttl = await client.pttl(`${prefix}:{k}:default`);
      ok(pttl > 1e15 - 60_000 && pttl <= 1e15, String(pttl));
    }
  });

  test('processes sharing a bucket at different refill rates (a rolling deploy) each read its tokens, not a debt of years', async () => {
    const prefix = randomPrefix('rates');
    let now = 1_764_000_000_000;
    // Two stores, as two processes on two versions would be, on one clock.
    const at = (refillPerSecond: number) =>
      createLimiter({
        algorithm: tokenBucket({ capacity: 10, refillPerSecond }),
        store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, denyCache: false, clock: () => now }),
        prefix,
        onStoreError: 'throw',
      });
    const [old, next] = [at(10), at(5)];
    strictEqual((await old.consume('k', { cost: 4 })).remaining, 6);
    // Read at 5/s, 10/s tokens since 1970 used to be a debt of 8.8e9 tokens (remaining -8.8e9).
    const peeked = await next.peek('k');
    deepStrictEqual([peeked.allowed, peeked.remaining], [true, 6]);
    strictEqual((await next.consume('k', { cost: 2 })).remaining, 4);
    // And back: the old rate reads the new writer's bucket the same way (it used to read it full).
    strictEqual((await old.peek('k')).remaining, 4);
    const denied = await old.consume('k', { cost: 5 });
    // One token missing, at 10/s: 100 ms.
    deepStrictEqual([denied.allowed, denied.retryAfterMs], [false, 100]);
    // A wait promised at one rate holds: the bucket, emptied at 5/s, refills at 10/s from the
    // moment the faster reader reads it, even when that read charged nothing. Left at 5/s, only
    // half of it would be back when the promised second is up.
    strictEqual((await next.consume('k', { cost: 4 })).remaining, 0);
    const peek = await old.peek('k', { cost: 10 });
    deepStrictEqual([peek.allowed, peek.retryAfterMs], [false, 1000]);
    now += peek.retryAfterMs;
    strictEqual((await old.consume('k', { cost: 10 })).allowed, true);
  });

  for (const [name, make] of [
    ['fixedWindow', fixedWindow],
    ['slidingWindowCounter', slidingWindowCounter],
  ] as const) {
    for (const [change, before, after] of [
      ['limit 100 to 10', { limit: 100, windowMs: 60_000 }, { limit: 10, windowMs: 60_000 }],
      ['limit 10 to 100', { limit: 10, windowMs: 60_000 }, { limit: 100, windowMs: 60_000 }],
      ['windowMs 60 s to 120 s', { limit: 10, windowMs: 60_000 }, { limit: 10, windowMs: 120_000 }],
      ['windowMs 120 s to 60 s', { limit: 10, windowMs: 120_000 }, { limit: 10, windowMs: 60_000 }],
    ] as const) {
      test(`${name}: a rolling deploy changing ${change} starts the key afresh, never a window years away`, async () => {
        const prefix = randomPrefix('settings');
        const now = 1_764_000_030_000;
        const at = (options: { limit: number; windowMs: number }) =>
          createLimiter({
            algorithm: make(options),
            store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, denyCache: false, clock: () => now }),
            prefix,
            onStoreError: 'throw',
          });
        const [old, next] = [at(before), at(after)];
        strictEqual((await old.consume('k')).allowed, true);
        // The number the old settings stored means nothing under the new ones: read as another
        // window's, it counts nothing, and the new limit is admitted in full.
        let allowed = 0;
        let last: Decision | undefined;
        for (let i = 0; i < after.limit + 2; i++) {
          last = await next.consume('k');
          if (last.allowed) allowed++;
        }
        strictEqual(allowed, after.limit);
        ok(last !== undefined && last.retryAfterMs <= 2 * after.windowMs, String(last?.retryAfterMs));
        const pttl = await client.pttl(`${prefix}:{k}:default`);
        ok(pttl > 0 && pttl <= 3 * after.windowMs + 60_000, String(pttl));
      });
    }
  }

  test('fixedWindow: a limit lowered below what the window counts leaves nothing, not less than nothing', async () => {
    const prefix = randomPrefix('lowered');
    const now = 1_764_000_030_000;
    // A limit this large keeps the window and the count apart, so the count survives the change.
    const at = (limit: number) =>
      createLimiter({
        algorithm: fixedWindow({ limit, windowMs: 1000 }),
        store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, denyCache: false, clock: () => now }),
        prefix,
        onStoreError: 'throw',
      });
    strictEqual((await at(1_000_000_000).consume('k', { cost: 500 })).allowed, true);
    const peek = await at(100).peek('k');
    deepStrictEqual([peek.allowed, peek.remaining, peek.retryAfterMs], [false, 0, 1000]);
  });

  test('slidingWindowLog: a limit lowered below the entries a key holds leaves nothing, not less than nothing', async () => {
    const prefix = randomPrefix('lowered-log');
    let now = 1_764_000_030_000;
    const at = (limit: number) =>
      createLimiter({
        algorithm: slidingWindowLog({ limit, windowMs: 60_000 }),
        store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, denyCache: false, clock: () => now }),
        prefix,
        onStoreError: 'throw',
      });
    strictEqual((await at(10).consume('k', { cost: 5 })).allowed, true);
    now += 1000;
    const lowered = at(2);
    const peek = await lowered.peek('k');
    deepStrictEqual([peek.allowed, peek.remaining, peek.retryAfterMs], [false, 0, 59_000]);
    const denied = await lowered.consume('k');
    deepStrictEqual([denied.allowed, denied.remaining], [false, 0]);
  });

  test('keys disappear once they can no longer change a decision', async () => {
    const prefix = randomPrefix('gone');
    const store = new RedisStore({ client: forStore, timeoutMs: PATIENT_MS });
    const log = createLimiter({
      algorithm: slidingWindowLog({ limit: 3, windowMs: 100 }),
      store,
      prefix: `${prefix}-log`,
      onStoreError: 'throw',
    });
    const bucket = createLimiter({
      algorithm: tokenBucket({ capacity: 2, refillPerSecond: 20 }),
      store,
      prefix: `${prefix}-bucket`,
      onStoreError: 'throw',
    });
    await Promise.all([log.consume('k'), log.consume('k'), bucket.consume('k', { cost: 2 })]);
    const keys = await client.keys(`${prefix}-*`);
    strictEqual(keys.length, 2);
    for (const key of keys) ok((await client.pttl(key)) > 0, key);
    await new Promise((r) => setTimeout(r, 180));
    strictEqual(await client.exists(...keys), 0);
  });

  test('bytes per key (MEMORY USAGE ... SAMPLES 0)', async (t) => {
    const prefix = 'api';
    const store = new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, denyCache: false });
    const figures: string[] = [];
    const measure = async (label: string, key: string): Promise<number> => {
      const bytes = Number(await client.memory('USAGE', key, 'SAMPLES', 0));
      figures.push(`${label}: ${bytes} bytes (${key})`);
      return bytes;
    };
    const user = `user:${randomPrefix('m').slice(2)}`;
    const bucket = createLimiter({
      algorithm: tokenBucket({ capacity: 100, refillPerSecond: 10 }),
      store,
      prefix: `${prefix}-tb`,
      onStoreError: 'throw',
    });
    await bucket.consume(user);
    const tb = await measure('token bucket', `${prefix}-tb:{${user}}:default`);
    const sizes: Record<number, number> = {};
    for (const entries of [1, 10, 100]) {
      const log = createLimiter({
        algorithm: slidingWindowLog({ limit: 100, windowMs: 60_000 }),
        store,
        prefix: `${prefix}-swl${entries}`,
        onStoreError: 'throw',
      });
      for (let i = 0; i < entries; i++) await log.consume(user);
      sizes[entries] = await measure(`sliding log, ${entries} entries`, `${prefix}-swl${entries}:{${user}}:default`);
    }
    figures.push(`sliding log per entry: ${(((sizes[100] as number) - (sizes[1] as number)) / 99).toFixed(1)} bytes`);
    for (const line of figures) t.diagnostic(line);
    await client.del(
      `${prefix}-tb:{${user}}:default`,
      ...[1, 10, 100].map((n) => `${prefix}-swl${n}:{${user}}:default`),
    );
    ok(tb <= 128, `token bucket ${tb} bytes`);
    ok((sizes[100] as number) <= 3072, `sliding log of 100 ${sizes[100]} bytes`);
  });
});

describe('wrapped bindings', () => {
  test("a store that wraps the Redis binding's decide is never bypassed", async () => {
    const redis = new RedisStore({ client: forStore, timeoutMs: PATIENT_MS });
    let calls = 0;
    const counting: Store = {
      bind(options) {
        const binding = redis.bind(options);
        return {
          ...binding,
          decide(key, cost, charge) {
            calls++;
            return binding.decide(key, cost, charge);
          },
        };
      },
    };
    const limiter = createLimiter({
      algorithm: tokenBucket({ capacity: 5, refillPerSecond: 1 }),
      store: counting,
      prefix: randomPrefix('wrapped'),
      onStoreError: 'throw',
    });
    strictEqual((await limiter.consume('k')).remaining, 4);
    strictEqual((await limiter.consume('k', { cost: 2 })).remaining, 2);
    strictEqual(calls, 2);
  });
});

// The store corks only an ioredis client's socket: node-redis corks its own (see batchWrites).
describe('batched writes', { skip: ONLY_IOREDIS }, () => {
  function limiterOn(batchWrites?: boolean) {
    return createLimiter({
      algorithm: tokenBucket({ capacity: 100, refillPerSecond: 1 }),
      store: new RedisStore(
        batchWrites === undefined ? { client, timeoutMs: PATIENT_MS } : { client, timeoutMs: PATIENT_MS, batchWrites },
      ),
      prefix: randomPrefix('batch'),
      onStoreError: 'throw',
    });
  }

  test('a lone call is written at once; calls behind it go together once the poll phase is over', async () => {
    const limiter = limiterOn();
    const stream = client.stream;
    const written = stream.bytesWritten + stream.writableLength;
    const lone = limiter.consume('k');
    ok(stream.bytesWritten + stream.writableLength > written, 'a lone call is written at once');
    const before = stream.bytesWritten + stream.writableLength;
    const burst = Array.from({ length: 20 }, () => limiter.consume('k'));
    await new Promise((resolve) => process.nextTick(resolve));
    strictEqual(stream.bytesWritten + stream.writableLength, before, 'calls behind it wait past the end of the tick');
    await new Promise((resolve) => setImmediate(resolve));
    ok(stream.bytesWritten + stream.writableLength > before, 'and are written once the poll phase is over');
    const decisions = await Promise.all([lone, ...burst]);
    deepStrictEqual(
      decisions.map((d) => d.remaining).sort((a, b) => b - a),
      Array.from({ length: 21 }, (_, i) => 99 - i),
    );
  });

  test('batchWrites: false writes every call at once', async () => {
    const limiter = limiterOn(false);
    const calls = Array.from({ length: 5 }, () => limiter.consume('k'));
    strictEqual(client.stream.writableCorked, 0);
    strictEqual((await Promise.all(calls)).filter((d) => d.allowed).length, 5);
  });
});

describe('deny cache', () => {
  let own: RedisServer;
  /** The stores' client on `own`, of the library under test. */
  let counted: RedisClient;
  /** Reads `own`'s command counts. */
  let looker: Redis;

  before(async () => {
    // Its own server: INFO commandstats counts every client's scripts.
    own = await startRedis();
    looker = new Redis(own.port, '127.0.0.1');
    await looker.ping();
    counted = storeClient(own.port);
    await whenReady(counted);
    // Load the script once, so the counts below are one EVALSHA per round trip.
    await hotLimiter().consume('warm-up');
  });

  after(async () => {
    looker.disconnect();
    closeClient(counted);
    await own.stop();
  });

  async function scriptCalls(): Promise<number> {
    const info = await looker.info('commandstats');
    let calls = 0;
    for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) calls += Number(m[1]);
    return calls;
  }

  function hotLimiter(denyCache?: boolean) {
    return createLimiter({
      algorithm: slidingWindowLog({ limit: 2, windowMs: 60_000 }),
      store: new RedisStore(
        denyCache === undefined
          ? { client: counted, timeoutMs: PATIENT_MS }
          : { client: counted, timeoutMs: PATIENT_MS, denyCache },
      ),
      prefix: randomPrefix('hot'),
      onStoreError: 'throw',
    });
  }

  test('a denied hot key is answered without a round trip, with the wait counted down', async () => {
    const limiter = hotLimiter();
    const start = await scriptCalls();
    await limiter.consume('k');
    await limiter.consume('k');
    const denied = await limiter.consume('k');
    strictEqual(denied.allowed, false);
    strictEqual(await scriptCalls(), start + 3);
    let last = denied.retryAfterMs;
    for (let i = 0; i < 500; i++) {
      const d = limiter.decide('k');
      ok(!(d instanceof Promise), 'a cached denial is answered synchronously');
      strictEqual(d.allowed, false);
      strictEqual(d.remaining, 0);
      ok(d.retryAfterMs > 0 && d.retryAfterMs <= last, `${d.retryAfterMs} after ${last}`);
      last = d.retryAfterMs;
    }
    strictEqual((await limiter.peek('k')).allowed, false);
    strictEqual((await limiter.consume('k', { cost: 2 })).allowed, false);
    strictEqual(await scriptCalls(), start + 3, 'the same cost and a larger one, consume and peek, all local');
    await limiter.consume('k', { cost: 0 });
    strictEqual(await scriptCalls(), start + 4, 'a smaller cost goes to Redis');
  });

  /** A bucket of `capacity` refilling `rate` a second beside a log of `limit` per `windowMs`. */
  function burstAndWindow(capacity: number, rate: number, limit: number, windowMs: number): Record<string, Algorithm> {
    return {
      burst: tokenBucket({ capacity, refillPerSecond: rate }),
      window: slidingWindowLog({ limit, windowMs }),
    };
  }

  /** A limiter on `policies` with the deny cache, and one without it that tells the truth. */
  function cachedAndTruth(policies: Record<string, Algorithm>, clock: () => number) {
    const prefix = randomPrefix('cost');
    const store = (denyCache: boolean) => new RedisStore({ client: counted, timeoutMs: PATIENT_MS, clock, denyCache });
    return {
      cached: createLimiter({ policies, store: store(true), prefix, onStoreError: 'throw' }),
      truth: createLimiter({ policies, store: store(false), prefix, onStoreError: 'throw' }),
    };
  }

  test('a larger cost is answered locally: denied, with a wait never shorter than Redis would give', async () => {
    let now = 0;
    // The burst denies cost 1 (wait 900 ms) while the window allows it; cost 3 waits 2.9 s for
    // the burst and 9.9 s for the window, which a cost-1 denial says nothing of.
    const { cached, truth } = cachedAndTruth(burstAndWindow(4, 1, 6, 10_000), () => now);
    await cached.consume('k', { cost: 4 });
    now = 100;
    strictEqual((await cached.consume('k')).allowed, false);
    for (const [at, cost] of [
      [100, 3],
      [500, 2],
      [999, 4],
    ] as const) {
      now = at;
      const start = await scriptCalls();
      const big = await cached.consume('k', { cost });
      strictEqual(await scriptCalls(), start, `cost ${cost} at ${at} ms: answered locally`);
      deepStrictEqual(big, await truth.peek('k', { cost }), `cost ${cost} at ${at} ms`);
    }
    now = 1000;
    strictEqual((await cached.consume('k')).allowed, true, 'the cost-1 denial has run out');
  });

  test('property: a larger cost served from the cache is denied, and its wait is never short (a bucket: by at most 2 ms)', async () => {
    let now = 1_000_000;
    let seed = 7;
    // mulberry32: a seeded generator, so a failure replays.
    const random = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) / 4_294_967_296) * n;
    };
    const shapes: Record<string, Algorithm>[] = [
      { only: tokenBucket({ capacity: 8, refillPerSecond: 3 }) },
      { only: slidingWindowLog({ limit: 8, windowMs: 3000 }) },
      burstAndWindow(5, 7, 8, 2000),
    ];
    let local = 0;
    for (const policies of shapes) {
      const { cached, truth } = cachedAndTruth(policies, () => now);
      const buckets = Object.values(policies).every((a) => a.name === 'token-bucket');
      for (let step = 0; step < 150; step++) {
        now += Math.floor(random(400));
        const cost = 1 + Math.floor(random(4));
        const expected = await truth.peek('k', { cost });
        const before = await scriptCalls();
        const got = await cached.consume('k', { cost });
        if ((await scriptCalls()) !== before) continue;
        local++;
        const at = `step ${step}, cost ${cost}, ${JSON.stringify(policies)}`;
        strictEqual(got.allowed, false, at);
        strictEqual(expected.allowed, false, at);
        ok(got.retryAfterMs >= expected.retryAfterMs, `${at}: ${got.retryAfterMs} < ${expected.retryAfterMs}`);
        if (buckets) ok(got.retryAfterMs <= expected.retryAfterMs + 2, `${at}: ${got.retryAfterMs}`);
        // `remaining` is the value at the denial; a bucket may have refilled a token since.
        ok(got.remaining <= expected.remaining, `${at}: remaining ${got.remaining}`);
        strictEqual(got.resetMs, expected.resetMs, at);
        // Waiting out the promised wait, with nothing else going on, gets the call through. (Time
        // only moves forward: a peek drops expired entries, which a clock set back would miss.)
        if (random(2) < 1) {
          now += got.retryAfterMs;
          strictEqual((await truth.peek('k', { cost })).allowed, true, `${at}: after the wait`);
        }
      }
    }
    ok(local > 60, `only ${local} calls were answered locally`);
  });

  /** Waiters for the next cost-2 call of {@link costTwoAfterTwoCalls}, each resolved once it is made. */
  const costTwoMade: (() => void)[] = [];

  /** Charges `limiter`'s key at 0 and 100 ms, then asks for cost 2 at 200 ms: a 3-per-10 s log denies it. */
  async function costTwoAfterTwoCalls(limiter: Limiter, at: (ms: number) => void): Promise<Decision> {
    at(0);
    await limiter.consume('k');
    at(100);
    await limiter.consume('k');
    at(200);
    // Made when nothing else of the limiter is unanswered: sent at once, in a script call of its own.
    const decision = limiter.consume('k', { cost: 2 });
    for (const made of costTwoMade.splice(0)) made();
    return decision;
  }

  /**
   * Resolves once the next cost-2 call of {@link costTwoAfterTwoCalls} has been made (and so sent,
   * alone), so that a call made next is a script call of its own, not one batch with its calls.
   */
  function costTwoSent(): Promise<void> {
    return new Promise((resolve) => costTwoMade.push(resolve));
  }

  test('regression: a smaller cost charged at Redis drops the entry, whose waits it made too short', async () => {
    let now = 0;
    const { cached, truth } = cachedAndTruth({ default: slidingWindowLog({ limit: 3, windowMs: 10_000 }) }, () => now);
    const denied = await costTwoAfterTwoCalls(cached, (ms) => {
      now = ms;
    });
    strictEqual(denied.retryAfterMs, 9800, 'until the entry of 0 ms expires');
    now = 300;
    strictEqual((await cached.consume('k')).allowed, true);
    now = 400;
    // Two entries must expire now: the one of 100 ms sets the wait.
    deepStrictEqual(await cached.consume('k', { cost: 2 }), await truth.peek('k', { cost: 2 }));
    strictEqual((await truth.peek('k', { cost: 2 })).retryAfterMs, 9700);
  });

  test('regression: a charge in flight drops the entry at once, so a larger cost sent meanwhile is not answered from it', async () => {
    let now = 0;
    const { cached, truth } = cachedAndTruth({ default: slidingWindowLog({ limit: 3, windowMs: 10_000 }) }, () => now);
    const denied = await costTwoAfterTwoCalls(cached, (ms) => {
      now = ms;
    });
    strictEqual(denied.retryAfterMs, 9800);
    now = 300;
    // Sent in one tick: the cost-1 charge is on its way when the cost-2 call is made.
    const [small, big] = await Promise.all([cached.consume('k'), cached.peek('k', { cost: 2 })]);
    strictEqual(small.allowed, true);
    deepStrictEqual(big, await truth.peek('k', { cost: 2 }));
    strictEqual(big.retryAfterMs, 9800, 'the entries of 0 and 100 ms must both expire');
  });

  test("regression: a charge through a limiter with other policies on the same prefix drops this limiter's entry", async () => {
    let now = 0;
    const store = new RedisStore({ client: counted, timeoutMs: PATIENT_MS, clock: () => now });
    const prefix = randomPrefix('sibling');
    const log = () => slidingWindowLog({ limit: 3, windowMs: 10_000 });
    const mine = createLimiter({ algorithm: log(), store, prefix, onStoreError: 'throw' });
    const wider = createLimiter({
      policies: { default: log(), burst: tokenBucket({ capacity: 5, refillPerSecond: 1 }) },
      store,
      prefix,
      onStoreError: 'throw',
    });
    const truth = createLimiter({
      algorithm: log(),
      store: new RedisStore({ client: counted, timeoutMs: PATIENT_MS, clock: () => now, denyCache: false }),
      prefix,
      onStoreError: 'throw',
    });
    const denied = await costTwoAfterTwoCalls(mine, (ms) => {
      now = ms;
    });
    strictEqual(denied.allowed, false);
    now = 300;
    strictEqual((await wider.consume('k')).allowed, true);
    deepStrictEqual(await mine.consume('k', { cost: 2 }), await truth.peek('k', { cost: 2 }));
  });

  test('regression: a policy that allowed the smaller cost is reported allowing the larger one once its bound has passed', async () => {
    let now = 0;
    const { cached, truth } = cachedAndTruth(burstAndWindow(2, 0.1, 3, 1000), () => now);
    await cached.consume('k', { cost: 2 });
    now = 1;
    // The burst denies cost 1 for 10 s; the window allows it with 1 left, and cost 2 once its
    // only entry leaves, at 1000 ms.
    strictEqual((await cached.consume('k')).policies?.window?.allowed, true);
    now = 1500;
    const start = await scriptCalls();
    const big = await cached.peek('k', { cost: 2 });
    strictEqual(await scriptCalls(), start, 'answered locally');
    const exact = await truth.peek('k', { cost: 2 });
    deepStrictEqual(big.policies?.window && pick(big.policies.window), pick(exact.policies?.window as Decision));
    deepStrictEqual(pick(big), pick(exact));
  });

  /**
   * `counted`, except that the next script call made while `gate.armed` is held back until
   * `gate.open()`: floodgate has sent it, Redis has not seen it. Everything else goes straight
   * through to the real client, of whichever library it is.
   */
  function gatedClient(): { gate: { armed: boolean; open(): void }; client: RedisClient } {
    const gate = { armed: false, open: (): void => undefined };
    /** `send()` now, or when the gate opens if it is armed (which disarms it). */
    function through<T>(send: () => Promise<T>): Promise<T> {
      if (!gate.armed) return send();
      gate.armed = false;
      return new Promise((resolve, reject) => {
        gate.open = () => void send().then(resolve, reject);
      });
    }
    if (NODE_REDIS) {
      const real = counted as unknown as {
        readonly isOpen: boolean;
        readonly isReady: boolean;
        readonly withTypeMapping?: unknown;
        sendCommand(args: string[], options?: unknown): Promise<unknown>;
        connect(): Promise<unknown>;
        duplicate(): unknown;
      };
      const client = {
        get isOpen() {
          return real.isOpen;
        },
        get isReady() {
          return real.isReady;
        },
        // node-redis 5 and 6 have it: the store reads it to ask for bytes as the version takes it.
        ...(typeof real.withTypeMapping === 'function' ? { withTypeMapping: real.withTypeMapping } : {}),
        sendCommand(args: string[], options?: unknown): Promise<unknown> {
          const send = () => real.sendCommand(args, options);
          return args[0] === 'EVALSHA' ? through(send) : send();
        },
        connect: () => real.connect(),
        // The store tells a plain client from a pool or a Sentinel by it (never called here).
        duplicate: () => real.duplicate(),
      };
      return { gate, client: client as unknown as RedisClient };
    }
    type Script = (sha: string, numKeys: number, ...args: string[]) => Promise<Buffer>;
    // Every ioredis command has a Buffer variant at run time; the typings list only some.
    const io = counted as unknown as Redis;
    const real = io as unknown as { evalshaBuffer: Script; evalBuffer: Script };
    const client = {
      get status() {
        return io.status;
      },
      get stream() {
        return io.stream;
      },
      evalshaBuffer: (sha: string, numKeys: number, ...args: string[]): Promise<Buffer> =>
        through(() => real.evalshaBuffer(sha, numKeys, ...args)),
      evalBuffer: (script: string, numKeys: number, ...args: string[]) => real.evalBuffer(script, numKeys, ...args),
      del: (...keys: string[]) => io.del(...keys),
      connect: () => io.connect(),
    };
    return { gate, client: client as unknown as RedisClient };
  }

  /** A log of 3 per 10 s on `client` with the deny cache, and one on `counted` without it, one prefix. */
  function gatedAndTruth(client: RedisClient, timeoutMs: number, clock: () => number) {
    const prefix = randomPrefix('gated');
    const log = () => slidingWindowLog({ limit: 3, windowMs: 10_000 });
    return {
      cached: createLimiter({
        algorithm: log(),
        store: new RedisStore({ client, timeoutMs, clock }),
        prefix,
        onStoreError: 'throw',
        // The timeouts here are the test's own doing: no console warning for them.
        onOutage: () => undefined,
      }),
      truth: createLimiter({
        algorithm: log(),
        store: new RedisStore({ client: counted, timeoutMs: PATIENT_MS, clock, denyCache: false }),
        prefix,
        onStoreError: 'throw',
      }),
    };
  }

  test('regression: a denial answered while a charge of the key is in flight is dropped when the charge is answered', async () => {
    let now = 0;
    const { gate, client } = gatedClient();
    const { cached, truth } = gatedAndTruth(client, PATIENT_MS, () => now);
    const denial = costTwoAfterTwoCalls(cached, (ms) => {
      now = ms;
    });
    // The cost-2 call is on its way, alone; the charge after it is sent but held back, so the
    // denial is answered first and describes the state before the charge.
    await costTwoSent();
    gate.armed = true;
    const charge = cached.consume('k');
    strictEqual((await denial).retryAfterMs, 9800);
    gate.open();
    strictEqual((await charge).allowed, true);
    // Two entries must expire now: the one of 100 ms sets the wait.
    deepStrictEqual(await cached.consume('k', { cost: 2 }), await truth.peek('k', { cost: 2 }));
    strictEqual((await truth.peek('k', { cost: 2 })).retryAfterMs, 9800 + 100);
  });

  test('regression: a charge that timed out empties the deny cache (it may still run in Redis)', async () => {
    let now = 0;
    const { gate, client } = gatedClient();
    const { cached, truth } = gatedAndTruth(client, 50, () => now);
    const denial = costTwoAfterTwoCalls(cached, (ms) => {
      now = ms;
    });
    await costTwoSent();
    gate.armed = true;
    const charge = cached.consume('k');
    strictEqual((await denial).allowed, false);
    await rejects(charge, { code: 'ERR_STORE_TIMEOUT' });
    // Redis runs the charge after all, and charges it.
    gate.open();
    strictEqual((await truth.peek('k')).allowed, false, 'the timed-out charge ran');
    // A success makes the store healthy again, and its deny cache answers again.
    await cached.peek('another key');
    deepStrictEqual(await cached.consume('k', { cost: 2 }), await truth.peek('k', { cost: 2 }));
  });

  test("a larger cost's denial arriving after a smaller cost's keeps the smaller cost's entry, which answers more calls", async () => {
    let now = 0;
    const { cached } = cachedAndTruth({ default: slidingWindowLog({ limit: 2, windowMs: 10_000 }) }, () => now);
    await cached.consume('k', { cost: 2 });
    now = 100;
    // Sent in one tick on one connection: the cost-1 reply arrives first.
    const [small, large] = await Promise.all([cached.consume('k'), cached.consume('k', { cost: 2 })]);
    strictEqual(small.allowed, false);
    strictEqual(large.allowed, false);
    const start = await scriptCalls();
    strictEqual((await cached.consume('k')).allowed, false);
    strictEqual(await scriptCalls(), start, 'cost 1 is still answered locally');
  });

  test('reset clears it', async () => {
    const limiter = hotLimiter();
    await limiter.consume('k');
    await limiter.consume('k');
    strictEqual((await limiter.consume('k')).allowed, false);
    await limiter.reset('k');
    const start = await scriptCalls();
    const d = await limiter.consume('k');
    deepStrictEqual(d, { allowed: true, limit: 2, remaining: 1, resetMs: 60_000, retryAfterMs: 0 });
    strictEqual(await scriptCalls(), start + 1);
  });

  test('regression: a reset while a denial is in flight leaves nothing cached', async () => {
    const limiter = hotLimiter();
    await limiter.consume('k');
    await limiter.consume('k');
    // Sent before the reset's DEL, so Redis denies it; its reply arrives after the reset began.
    const inflight = limiter.consume('k');
    await limiter.reset('k');
    strictEqual((await inflight).allowed, false);
    const start = await scriptCalls();
    strictEqual((await limiter.consume('k')).remaining, 1, 'Redis holds nothing for the key');
    strictEqual(await scriptCalls(), start + 1);
  });

  test('regression: limiters created and dropped (one per tenant) left their denials on the store for good', async () => {
    const store = new RedisStore({ client: counted, timeoutMs: PATIENT_MS });
    const tenants = async (count: number, tag: string): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const limiter = createLimiter({
          algorithm: slidingWindowLog({ limit: 1, windowMs: 600_000 }),
          store,
          prefix: randomPrefix(`${tag}${i}`),
        });
        const calls: Promise<unknown>[] = [];
        for (let k = 0; k < 50; k++) calls.push(limiter.consume(`u${k}`), limiter.consume(`u${k}`));
        await Promise.all(calls);
      }
    };
    await tenants(20, 'warm');
    const before = heapAfterGc();
    // 400 limiters, each with 50 denials cached: 20,000 entries, about 9 MB when they were kept.
    await tenants(400, 'tenant');
    await new Promise((resolve) => setTimeout(resolve, 10));
    const grown = heapAfterGc() - before;
    ok(grown < 3_000_000, `the heap grew by ${grown} bytes after the limiters were dropped`);
  });

  test('regression: a reset through another limiter with the same prefix clears this one', async () => {
    const store = new RedisStore({ client: counted, timeoutMs: PATIENT_MS });
    const prefix = randomPrefix('shared');
    const log = () => slidingWindowLog({ limit: 2, windowMs: 60_000 });
    const mine = createLimiter({ algorithm: log(), store, prefix, onStoreError: 'throw' });
    const twin = createLimiter({ algorithm: log(), store, prefix, onStoreError: 'throw' });
    // Other policies, so another cache; the key's `default` state is the same one.
    const wider = createLimiter({
      policies: { default: log(), burst: tokenBucket({ capacity: 5, refillPerSecond: 1 }) },
      store,
      prefix,
      onStoreError: 'throw',
    });
    for (const other of [twin, wider]) {
      await mine.consume('k');
      await mine.consume('k');
      strictEqual((await mine.consume('k')).allowed, false);
      await other.reset('k');
      strictEqual(
        (await mine.consume('k')).remaining,
        1,
        `after a reset through ${other === twin ? 'a twin' : 'a wider limiter'}`,
      );
      await mine.reset('k');
    }
  });

  test('denyCache: false sends every call', async () => {
    const limiter = hotLimiter(false);
    const start = await scriptCalls();
    for (let i = 0; i < 50; i++) await limiter.consume('k');
    strictEqual(await scriptCalls(), start + 50);
  });

  test('cached Decisions equal what Redis says, until the wait has passed', async () => {
    let now = 5000;
    const prefix = randomPrefix('exact');
    const policies = {
      burst: tokenBucket({ capacity: 3, refillPerSecond: 1 }),
      window: slidingWindowLog({ limit: 4, windowMs: 10_000 }),
    };
    const cached = createLimiter({
      policies,
      store: new RedisStore({ client: counted, timeoutMs: PATIENT_MS, clock: () => now }),
      prefix,
      onStoreError: 'throw',
    });
    const truth = createLimiter({
      policies,
      store: new RedisStore({ client: counted, timeoutMs: PATIENT_MS, clock: () => now, denyCache: false }),
      prefix,
      onStoreError: 'throw',
    });
    for (let i = 0; i < 3; i++) await cached.consume('k');
    const denied = await cached.consume('k');
    strictEqual(denied.allowed, false);
    strictEqual(denied.retryAfterMs, 1000);
    for (const dt of [1, 250, 499, 999]) {
      now = 5000 + dt;
      const start = await scriptCalls();
      const hit = await cached.consume('k');
      strictEqual(await scriptCalls(), start, `at +${dt} ms: answered locally`);
      deepStrictEqual(hit, await truth.peek('k'), `at +${dt} ms`);
    }
    now = 6000;
    const start = await scriptCalls();
    strictEqual((await cached.consume('k')).allowed, true);
    strictEqual(await scriptCalls(), start + 1);
  });

  test('a blocked key is answered from the deny cache with blocked: true and what Redis would say, until the block ends', async () => {
    let now = 0;
    const prefix = randomPrefix('blocked');
    const algorithm = () => slidingWindowLog({ limit: 2, windowMs: 60_000 });
    const store = (denyCache: boolean) =>
      new RedisStore({ client: counted, timeoutMs: PATIENT_MS, clock: () => now, denyCache });
    const cached = createLimiter({ algorithm: algorithm(), store: store(true), prefix, onStoreError: 'throw' });
    const truth = createLimiter({ algorithm: algorithm(), store: store(false), prefix, onStoreError: 'throw' });
    await cached.consume('k');
    await cached.block('k', { durationMs: 1000 });
    strictEqual((await cached.consume('k')).blocked, true, 'from Redis');
    for (const at of [1, 500, 999]) {
      now = at;
      const start = await scriptCalls();
      const hit = await cached.consume('k');
      strictEqual(await scriptCalls(), start, `at ${at} ms: answered locally`);
      deepStrictEqual(hit, await truth.peek('k'), `at ${at} ms`);
      strictEqual(hit.blocked, true);
    }
    now = 1000;
    deepStrictEqual([(await cached.consume('k')).allowed, (await cached.consume('k')).allowed], [true, false]);
  });

  test('regression: a consume answered from a denial cached without a lock-out (a peek, a limiter without blockDurationMs) did not lock the key out', async () => {
    const now = 0;
    const store = new RedisStore({ client: counted, timeoutMs: PATIENT_MS, clock: () => now });
    const prefix = randomPrefix('lockout');
    const log = () => slidingWindowLog({ limit: 1, windowMs: 60_000 });
    const plain = createLimiter({ algorithm: log(), store, prefix, onStoreError: 'throw' });
    const locking = createLimiter({ algorithm: log(), store, prefix, blockDurationMs: 120_000, onStoreError: 'throw' });
    await plain.consume('k');
    for (const deny of [() => plain.consume('k'), () => locking.peek('k')]) {
      const d = await deny();
      deepStrictEqual([d.allowed, d.blocked, d.retryAfterMs], [false, undefined, 60_000], 'a denial, no lock-out');
    }
    const first = await locking.consume('k');
    deepStrictEqual([first.allowed, first.blocked, first.retryAfterMs], [false, true, 120_000], 'the lock-out starts');
    const after = await plain.peek('k');
    deepStrictEqual([after.blocked, after.retryAfterMs], [true, 120_000], 'every limiter of the prefix sees it');
  });

  test('its size is bounded', () => {
    const cache = new DenyCache();
    const denied: Decision[] = [{ allowed: false, limit: 1, remaining: 0, resetMs: 10, retryAfterMs: 10 }];
    for (let i = 0; i <= DENY_CACHE_MAX_KEYS; i++) cache.set(`k${i}`, 1, cache.generation, 0, () => 0, denied);
    strictEqual(
      cache.get('k0', 1, 1, () => 1),
      undefined,
      'the oldest key was forgotten',
    );
    ok(cache.get(`k${DENY_CACHE_MAX_KEYS}`, 1, 1, () => 1) !== undefined);
    ok(cache.get('k1', 1, 1, () => 1) !== undefined);
  });
});

describe('scripts', () => {
  test('a server that lost its scripts (SCRIPT FLUSH, a restart) gets them again with the next call', async () => {
    const limiter = createLimiter({
      algorithm: tokenBucket({ capacity: 5, refillPerSecond: 1 }),
      store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS }),
      prefix: randomPrefix('flush'),
      onStoreError: 'throw',
    });
    strictEqual((await limiter.consume('k')).remaining, 4);
    await client.script('FLUSH');
    const d = await limiter.consume('k');
    strictEqual(d.degraded, undefined);
    strictEqual(d.remaining, 3);
  });
});
