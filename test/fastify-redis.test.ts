import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import {
  createLimiter,
  type Limiter,
  MemoryStore,
  RedisStore,
  type StoreErrorPolicy,
  slidingWindowLog,
} from 'floodgate';
import floodgate from 'floodgate/fastify';
import { Redis } from 'ioredis';
import { allowedAndLimited, fastifyVersions, manualClock, pipeline } from './helpers/http.js';
import { randomPrefix, startRedis, useSuiteRedis } from './helpers/redis.js';

let client: Redis;
useSuiteRedis((_server, c) => {
  client = c;
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

    test('20 pipelined requests, limit 10: exactly 10×200 and 10×429', async () => {
      const a = await app(
        createLimiter({
          algorithm: slidingWindowLog({ limit: 10, windowMs: 60_000 }),
          store: new RedisStore({ client, timeoutMs: 2_000 }),
          prefix: randomPrefix('fastify'),
        }),
      );
      await a.listen({ port: 0, host: '127.0.0.1' });
      try {
        const statuses = (await pipeline((a.server.address() as AddressInfo).port, 20)).map((r) => r.status);
        deepStrictEqual(allowedAndLimited(statuses), [10, 10]);
      } finally {
        await a.close();
      }
    });

    test('Redis killed: every onStoreError policy answers at once, nothing hangs', async () => {
      const doomed = await startRedis();
      const doomedClient = new Redis(doomed.url, { maxRetriesPerRequest: 0 });
      doomedClient.on('error', () => {});
      await doomedClient.ping();
      try {
        const policies: [StoreErrorPolicy, number][] = [
          ['allow', 200],
          ['deny', 429],
          ['throw', 500],
          [new MemoryStore({ sweepIntervalMs: false }), 200],
        ];
        const apps: FastifyInstance[] = [];
        for (const [onStoreError] of policies) {
          const a = await app(
            createLimiter({
              algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }),
              store: new RedisStore({ client: doomedClient, timeoutMs: 200 }),
              prefix: randomPrefix('doomed'),
              onStoreError,
              onOutage: () => {},
            }),
          );
          strictEqual((await a.inject('/')).statusCode, 200);
          apps.push(a);
        }
        await doomed.stop();
        const statuses: number[] = [];
        for (const a of apps) {
          const res = await a.inject('/');
          statuses.push(res.statusCode);
          if (res.statusCode === 500) strictEqual(String(res.json().code).startsWith('ERR_STORE'), true, res.body);
        }
        deepStrictEqual(
          statuses,
          policies.map(([, status]) => status),
        );
      } finally {
        doomedClient.disconnect();
        await doomed.stop();
      }
    });
  });
}
