import { deepStrictEqual } from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ErrorRequestHandler } from 'express';
import { createLimiter, isFloodgateError, type RedisClient, RedisStore, slidingWindowLog } from 'floodgate';
import { rateLimit } from 'floodgate/express';
import request from 'supertest';
import { redisTests } from './helpers/adapter-suites.js';
import { expressCountingApp } from './helpers/counting-apps.js';
import { countingRedisDownTest, countingTests } from './helpers/counting-suites.js';
import { expressVersions, listen, manualClock } from './helpers/http.js';
import { randomPrefix, useSuiteRedis } from './helpers/redis.js';

const errorHandler: ErrorRequestHandler = (error, _req, res, _next) => {
  res.status(500).json({ code: isFloodgateError(error) ? error.code : String(error) });
};

/** The store's client: of the library FLOODGATE_TEST_CLIENT picks (see helpers/clients.ts). */
let client: RedisClient;
useSuiteRedis((_server, _c, forStore) => {
  client = forStore;
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

    redisTests(
      (limiter) => listen(app(limiter)),
      () => client,
    );
  });

  describe(`${name} with the Redis store: counting only some requests`, () => {
    countingTests(expressCountingApp(express), (limit) =>
      createLimiter({
        algorithm: slidingWindowLog({ limit, windowMs: 60_000 }),
        store: new RedisStore({ client, timeoutMs: 2_000 }),
        prefix: randomPrefix('counting'),
      }),
    );
    countingRedisDownTest(expressCountingApp(express));
  });
}
