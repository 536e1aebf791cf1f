import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type Algorithm, createLimiter, slidingWindowLog, tokenBucket } from 'floodgate';
import floodgate, { type FloodgatePluginOptions } from 'floodgate/fastify';
import {
  allowedAndLimited,
  fastifyVersions,
  getOverUnixSocket,
  PIPELINED_REMAINING,
  PIPELINED_STATUSES,
  pipeline,
  SwitchableStore,
  sleep,
  warnings,
} from './helpers/http.js';

for (const { name, Fastify } of fastifyVersions) {
  async function app(options: FloodgatePluginOptions): Promise<FastifyInstance> {
    const a = Fastify();
    await a.register(floodgate, { warn: false, ...options });
    a.get('/', async () => 'ok');
    return a;
  }

  async function listenOnPort(a: FastifyInstance): Promise<number> {
    await a.listen({ port: 0, host: '127.0.0.1' });
    return (a.server.address() as AddressInfo).port;
  }

  describe(`${name}: real sockets`, () => {
    test('20 pipelined requests on one keep-alive connection, limit 10: exactly 10×200 then 10×429', async () => {
      const a = await app({ algorithm: slidingWindowLog({ limit: 10, windowMs: 60_000 }) });
      try {
        const responses = await pipeline(await listenOnPort(a), 20);
        deepStrictEqual(
          responses.map((r) => r.status),
          PIPELINED_STATUSES,
        );
        deepStrictEqual(
          responses.map((r) => r.headers['ratelimit-remaining']),
          PIPELINED_REMAINING,
        );
      } finally {
        await a.close();
      }
    });

    test('pipelined through an async store: still exactly 10 allowed', async () => {
      const limiter = createLimiter({
        algorithm: tokenBucket({ capacity: 10, refillPerSecond: 0.001 }),
        store: new SwitchableStore({ async: true, failing: false }),
      });
      const a = await app({ limiter });
      try {
        const statuses = (await pipeline(await listenOnPort(a), 20)).map((r) => r.status);
        deepStrictEqual(allowedAndLimited(statuses), [10, 10]);
      } finally {
        await a.close();
      }
    });

    test('waiting Retry-After seconds and retrying succeeds, for both algorithms (real clock)', async () => {
      const algorithms: [string, Algorithm][] = [
        ['sliding log', slidingWindowLog({ limit: 1, windowMs: 1_000 })],
        ['token bucket', tokenBucket({ capacity: 1, refillPerSecond: 1 })],
      ];
      await Promise.all(
        algorithms.map(async ([label, algorithm]) => {
          const a = await app({ algorithm });
          strictEqual((await a.inject('/')).statusCode, 200, label);
          const limited = await a.inject('/');
          strictEqual(limited.statusCode, 429, label);
          const seconds = Number(limited.headers['retry-after']);
          strictEqual(seconds, 1, label);
          await sleep(500);
          strictEqual((await a.inject('/')).statusCode, 429, `${label}, after half the wait`);
          await sleep(seconds * 1000 - 500);
          strictEqual((await a.inject('/')).statusCode, 200, `${label}, after Retry-After`);
        }),
      );
    });

    test('no client IP (a Unix socket): ERR_NO_CLIENT_IP to the error handler, warned once', async () => {
      const path = join(tmpdir(), `floodgate-fastify-${process.pid}-${Date.now()}.sock`);
      const sink = warnings();
      const a = await app({ algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }), warn: sink.warn });
      await a.listen({ path });
      try {
        for (let i = 0; i < 2; i++) {
          const res = await getOverUnixSocket(path);
          deepStrictEqual([res.status, JSON.parse(res.body).code], [500, 'ERR_NO_CLIENT_IP']);
        }
        deepStrictEqual(sink.codes, ['FLOODGATE_NO_CLIENT_IP']);
      } finally {
        await a.close();
        await rm(path, { force: true });
      }
    });
  });
}
