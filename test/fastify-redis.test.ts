import { deepStrictEqual } from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createLimiter, type Limiter, type RedisClient, RedisStore, slidingWindowLog } from 'floodgate';
import floodgate from 'floodgate/fastify';
import { redisTests } from './helpers/adapter-suites.js';
import { fastifyCountingApp } from './helpers/counting-apps.js';
import { countingRedisDownTest, countingTests } from './helpers/counting-suites.js';
import { fastifyVersions, manualClock } from './helpers/http.js';
import { randomPrefix, useSuiteRedis } from './helpers/redis.js';

/** The store's client: of the library FLOODGATE_TEST_CLIENT picks (see helpers/clients.ts). */
let client: RedisClient;
useSuiteRedis((_server, _c, forStore) => {
  client = forStore;
});

for (const { name, Fastify } of fastifyVersions) {
  async function app(limiter: Limiter): Promise<FastifyInstance> {
    const a = Fastify();
    await a.register(floodgate, { limiter, headers: 'draft-8', warn: false });
    a.get('/', async () => 'ok');
    return a;
  }

  describe(`${name} with the Redis store`, () => {
    test('headers are exact from an injected clock, as with the memory store', async () => {
      const clock = manualClock();
      const a = await app(
        createLimiter({
          algorithm: slidingWindowLog({ limit: 2, windowMs: 10_000 }),
          store: new RedisStore({ client, clock: clock.clock, timeoutMs: 2_000 }),
          prefix: randomPrefix('fastify'),
        }),
      );
      const seen: [number, unknown, unknown][] = [];
      for (const at of [0, 3_000, 3_000, 9_999]) {
        clock.set(at);
        const res = await a.inject('/');
        seen.push([res.statusCode, res.headers.ratelimit, res.headers['retry-after']]);
      }
      deepStrictEqual(seen, [
        [200, '"default";r=1;t=10', undefined],
        [200, '"default";r=0;t=10', undefined],
        [429, '"default";r=0;t=7', '7'],
        [429, '"default";r=0;t=1', '1'],
      ]);
    });

    redisTests(
      async (limiter) => {
        const a = await app(limiter);
        await a.listen({ port: 0, host: '127.0.0.1' });
        return { port: (a.server.address() as AddressInfo).port, close: () => a.close() };
      },
      () => client,
    );
  });

  describe(`${name} with the Redis store: counting only some requests`, () => {
    countingTests(fastifyCountingApp(Fastify), (limit) =>
      createLimiter({
        algorithm: slidingWindowLog({ limit, windowMs: 60_000 }),
        store: new RedisStore({ client, timeoutMs: 2_000 }),
        prefix: randomPrefix('counting'),
      }),
    );
    countingRedisDownTest(fastifyCountingApp(Fastify));
  });
}
