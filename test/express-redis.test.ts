import { deepStrictEqual } from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ErrorRequestHandler } from 'express';
import {
  createLimiter,
  isFloodgateError,
  MemoryStore,
  RedisStore,
  type StoreErrorPolicy,
  slidingWindowLog,
} from 'floodgate';
import { rateLimit } from 'floodgate/express';
import { Redis } from 'ioredis';
import request from 'supertest';
import { allowedAndLimited, expressVersions, listen, manualClock, pipeline } from './helpers/http.js';
import { randomPrefix, startRedis, useSuiteRedis } from './helpers/redis.js';

const errorHandler: ErrorRequestHandler = (error, _req, res, _next) => {
  res.status(500).json({ code: isFloodgateError(error) ? error.code : String(error) });
};

let client: Redis;
useSuiteRedis((_server, c) => {
  client = c;
});

for (const { name, express } of expressVersions) {
  function app(limiter: ReturnType<typeof createLimiter>) {
    const a = express();
    a.use(rateLimit({ limiter, warn: false }));
    a.get('/', (_req, res) => {
      res.send('ok');
    });
    a.use(errorHandler);
    return a;
  }

  describe(`${name} with the Redis store`, () => {
    test('headers are exact from an injected clock, as with the memory store', async () => {
      const clock = manualClock();
      const limiter = createLimiter({
        algorithm: slidingWindowLog({ limit: 2, windowMs: 10_000 }),
        store: new RedisStore({ client, clock: clock.clock, timeoutMs: 2_000 }),
        prefix: randomPrefix('express'),
      });
      const a = app(limiter);
      const seen: [number, unknown, unknown, unknown][] = [];
      for (const at of [0, 3_000, 3_000, 9_999]) {
        clock.set(at);
        const res = await request(a).get('/');
        seen.push([
          res.status,
          res.headers['ratelimit-remaining'],
          res.headers['ratelimit-reset'],
          res.headers['retry-after'],
        ]);
      }
      deepStrictEqual(seen, [
        [200, '1', '10', undefined],
        [200, '0', '10', undefined],
        [429, '0', '7', '7'],
        [429, '0', '1', '1'],
      ]);
    });

    test('20 pipelined requests, limit 10: exactly 10×200 and 10×429', async () => {
      const limiter = createLimiter({
        algorithm: slidingWindowLog({ limit: 10, windowMs: 60_000 }),
        store: new RedisStore({ client, timeoutMs: 2_000 }),
        prefix: randomPrefix('express'),
      });
      const listening = await listen(app(limiter));
      try {
        const statuses = (await pipeline(listening.port, 20)).map((r) => r.status);
        deepStrictEqual(allowedAndLimited(statuses), [10, 10]);
      } finally {
        await listening.close();
      }
    });

    test('Redis killed: every onStoreError policy answers at once, nothing hangs', async () => {
      const doomed = await startRedis();
      const doomedClient = new Redis(doomed.url, { maxRetriesPerRequest: 0 });
      doomedClient.on('error', () => {});
      await doomedClient.ping();
      try {
        const policies: [string, StoreErrorPolicy, number][] = [
          ['allow', 'allow', 200],
          ['deny', 'deny', 429],
          ['throw', 'throw', 500],
          ['fallback', new MemoryStore({ sweepIntervalMs: false }), 200],
        ];
        const apps = policies.map(([, onStoreError]) =>
          app(
            createLimiter({
              algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }),
              store: new RedisStore({ client: doomedClient, timeoutMs: 200 }),
              prefix: randomPrefix('doomed'),
              onStoreError,
              onOutage: () => {},
            }),
          ),
        );
        for (const a of apps) deepStrictEqual((await request(a).get('/')).status, 200);
        await doomed.stop();
        const seen: [string, number, unknown][] = [];
        for (const [i, [label]] of policies.entries()) {
          const res = await request(apps[i] as ReturnType<typeof app>)
            .get('/')
            .timeout(5_000);
          seen.push([label, res.status, res.status === 500 ? res.body.code : undefined]);
        }
        deepStrictEqual(seen[0]?.slice(0, 2), ['allow', 200]);
        deepStrictEqual(seen[1]?.slice(0, 2), ['deny', 429]);
        deepStrictEqual(seen[2]?.[1], 500);
        deepStrictEqual(String(seen[2]?.[2]).startsWith('ERR_STORE'), true, String(seen[2]?.[2]));
        deepStrictEqual(seen[3]?.slice(0, 2), ['fallback', 200]);
      } finally {
        doomedClient.disconnect();
        await doomed.stop();
      }
    });
  });
}
