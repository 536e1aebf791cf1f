import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Algorithm,
  createLimiter,
  type Limiter,
  MemoryStore,
  type RedisClient,
  RedisStore,
  type StoreErrorPolicy,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { closeClient, storeClient, whenReady } from './clients.js';
import {
  allowedAndLimited,
  PIPELINED_REMAINING,
  PIPELINED_STATUSES,
  pipeline,
  type RawResponse,
  SwitchableStore,
  sleep,
} from './http.js';
import { randomPrefix, startRedis } from './redis.js';

/** An adapter's app listening on a loopback port. */
export interface Served {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Starts an app of one adapter (one framework version) limited as given, with draft-6 headers
 * unless `headers` says otherwise and errors answered 500 with `{ code }` in the body, listening
 * on a loopback port.
 */
export type Serve = (
  limit: ({ algorithm: Algorithm } | { limiter: Limiter }) & { headers?: 'draft-8' },
) => Promise<Served>;

/** One GET / on a connection of its own. */
async function get(port: number): Promise<RawResponse> {
  return (await pipeline(port, 1))[0] as RawResponse;
}

/** Runs `body` against the app `start` starts, and always stops the app. */
async function withServed(start: () => Promise<Served>, body: (port: number) => Promise<void>): Promise<void> {
  const served = await start();
  try {
    await body(served.port);
  } finally {
    await served.close();
  }
}

/** What both adapters must do over real sockets, with the memory store. */
export function socketTests(serve: Serve): void {
  test('20 pipelined requests on one keep-alive connection, limit 10: exactly 10×200 then 10×429', async () => {
    await withServed(
      () => serve({ algorithm: slidingWindowLog({ limit: 10, windowMs: 60_000 }) }),
      async (port) => {
        const responses = await pipeline(port, 20);
        deepStrictEqual(
          responses.map((r) => r.status),
          PIPELINED_STATUSES,
        );
        deepStrictEqual(
          responses.map((r) => r.headers['ratelimit-remaining']),
          PIPELINED_REMAINING,
        );
      },
    );
  });

  test('pipelined through an async store: still exactly 10 allowed', async () => {
    const limiter = createLimiter({
      algorithm: tokenBucket({ capacity: 10, refillPerSecond: 0.001 }),
      store: new SwitchableStore({ async: true, failing: false }),
    });
    await withServed(
      () => serve({ limiter }),
      async (port) => {
        const statuses = (await pipeline(port, 20)).map((r) => r.status);
        deepStrictEqual(allowedAndLimited(statuses), [10, 10]);
      },
    );
  });

  test('a multi-policy limiter lists every policy (draft-8)', async () => {
    const store = new MemoryStore({ clock: () => 0, sweepIntervalMs: false });
    const limiter = createLimiter({
      policies: {
        second: tokenBucket({ capacity: 5, refillPerSecond: 5 }),
        day: slidingWindowLog({ limit: 1000, windowMs: 86_400_000 }),
      },
      store,
    });
    await withServed(
      () => serve({ limiter, headers: 'draft-8' }),
      async (port) => {
        const res = await get(port);
        strictEqual(res.headers['ratelimit-policy'], '"second";q=5;w=1, "day";q=1000;w=86400');
        strictEqual(res.headers.ratelimit, '"second";r=4;t=1, "day";r=999;t=86400');
      },
    );
  });

  test('waiting Retry-After seconds and retrying succeeds, for both algorithms (real clock)', async () => {
    const algorithms: [string, Algorithm][] = [
      ['sliding log', slidingWindowLog({ limit: 1, windowMs: 1_000 })],
      ['token bucket', tokenBucket({ capacity: 1, refillPerSecond: 1 })],
    ];
    await Promise.all(
      algorithms.map(([label, algorithm]) =>
        withServed(
          () => serve({ algorithm }),
          async (port) => {
            strictEqual((await get(port)).status, 200, label);
            const limited = await get(port);
            strictEqual(limited.status, 429, label);
            const seconds = Number(limited.headers['retry-after']);
            strictEqual(seconds, 1, label);
            // Half the wait is not enough: the header is not merely generous.
            await sleep(500);
            strictEqual((await get(port)).status, 429, `${label}, after half the wait`);
            await sleep(seconds * 1000 - 500);
            strictEqual((await get(port)).status, 200, `${label}, after Retry-After`);
          },
        ),
      ),
    );
  });
}

/**
 * What both adapters must do with the Redis store. `serve` starts an app as {@link Serve} does,
 * limited by `limiter`; `client` is the suite's client for its stores (see ./clients.ts).
 */
export function redisTests(serve: (limiter: Limiter) => Promise<Served>, client: () => RedisClient): void {
  test('20 pipelined requests, limit 10: exactly 10×200 and 10×429', async () => {
    const limiter = createLimiter({
      algorithm: slidingWindowLog({ limit: 10, windowMs: 60_000 }),
      store: new RedisStore({ client: client(), timeoutMs: 2_000 }),
      prefix: randomPrefix('adapter'),
    });
    await withServed(
      () => serve(limiter),
      async (port) => {
        const statuses = (await pipeline(port, 20)).map((r) => r.status);
        deepStrictEqual(allowedAndLimited(statuses), [10, 10]);
      },
    );
  });

  test('Redis killed: every onStoreError policy answers at once, nothing hangs', async () => {
    const doomed = await startRedis();
    const doomedClient = storeClient(doomed.url);
    await whenReady(doomedClient);
    const served: Served[] = [];
    try {
      const policies: [StoreErrorPolicy, number][] = [
        ['allow', 200],
        ['deny', 429],
        ['throw', 500],
        [new MemoryStore({ sweepIntervalMs: false }), 200],
      ];
      for (const [onStoreError] of policies) {
        const limiter = createLimiter({
          algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }),
          store: new RedisStore({ client: doomedClient, timeoutMs: 200 }),
          prefix: randomPrefix('doomed'),
          onStoreError,
          onOutage: () => {},
        });
        const s = await serve(limiter);
        served.push(s);
        strictEqual((await get(s.port)).status, 200);
      }
      await doomed.stop();
      const statuses: number[] = [];
      for (const s of served) {
        const res = await get(s.port);
        statuses.push(res.status);
        if (res.status === 500) strictEqual(String(JSON.parse(res.body).code).startsWith('ERR_STORE'), true, res.body);
      }
      deepStrictEqual(
        statuses,
        policies.map(([, status]) => status),
      );
    } finally {
      await Promise.all(served.map((s) => s.close()));
      closeClient(doomedClient);
      await doomed.stop();
    }
  });
}
