import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ErrorRequestHandler } from 'express';
import { type Algorithm, createLimiter, isFloodgateError, slidingWindowLog, tokenBucket } from 'floodgate';
import { type RateLimitOptions, rateLimit } from 'floodgate/express';
import request from 'supertest';
import {
  allowedAndLimited,
  expressVersions,
  getOverUnixSocket,
  listen,
  PIPELINED_REMAINING,
  PIPELINED_STATUSES,
  pipeline,
  SwitchableStore,
  sleep,
  warnings,
} from './helpers/http.js';

const errorHandler: ErrorRequestHandler = (error, _req, res, _next) => {
  res.status(500).json({ code: isFloodgateError(error) ? error.code : String(error) });
};

for (const { name, express } of expressVersions) {
  function app(options: RateLimitOptions) {
    const a = express();
    a.use(rateLimit({ warn: false, ...options }));
    a.get('/', (_req, res) => {
      res.send('ok');
    });
    a.use(errorHandler);
    return a;
  }

  describe(`${name}: real sockets`, () => {
    test('20 pipelined requests on one keep-alive connection, limit 10: exactly 10×200 then 10×429', async () => {
      const server = await listen(app({ algorithm: slidingWindowLog({ limit: 10, windowMs: 60_000 }) }));
      try {
        const responses = await pipeline(server.port, 20);
        deepStrictEqual(
          responses.map((r) => r.status),
          PIPELINED_STATUSES,
        );
        deepStrictEqual(
          responses.map((r) => r.headers['ratelimit-remaining']),
          PIPELINED_REMAINING,
        );
      } finally {
        await server.close();
      }
    });

    test('pipelined through an async store: still exactly 10 allowed', async () => {
      const limiter = createLimiter({
        algorithm: tokenBucket({ capacity: 10, refillPerSecond: 0.001 }),
        store: new SwitchableStore({ async: true, failing: false }),
      });
      const server = await listen(app({ limiter }));
      try {
        const statuses = (await pipeline(server.port, 20)).map((r) => r.status);
        deepStrictEqual(allowedAndLimited(statuses), [10, 10]);
      } finally {
        await server.close();
      }
    });

    test('waiting Retry-After seconds and retrying succeeds, for both algorithms (real clock)', async () => {
      const algorithms: [string, Algorithm][] = [
        ['sliding log', slidingWindowLog({ limit: 1, windowMs: 1_000 })],
        ['token bucket', tokenBucket({ capacity: 1, refillPerSecond: 1 })],
      ];
      await Promise.all(
        algorithms.map(async ([label, algorithm]) => {
          const a = app({ algorithm });
          strictEqual((await request(a).get('/')).status, 200, label);
          const limited = await request(a).get('/');
          strictEqual(limited.status, 429, label);
          const seconds = Number(limited.headers['retry-after']);
          strictEqual(seconds, 1, label);
          // Half the wait is not enough: the header is not merely generous.
          await sleep(500);
          strictEqual((await request(a).get('/')).status, 429, `${label}, after half the wait`);
          await sleep(seconds * 1000 - 500);
          strictEqual((await request(a).get('/')).status, 200, `${label}, after Retry-After`);
        }),
      );
    });

    test('no client IP (a Unix socket): ERR_NO_CLIENT_IP to next(err), warned once; a keyGenerator fixes it', async () => {
      const path = join(tmpdir(), `floodgate-express-${process.pid}-${Date.now()}.sock`);
      const sink = warnings();
      const server = await listen(
        app({ algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }), warn: sink.warn }),
        path,
      );
      try {
        for (let i = 0; i < 2; i++) {
          const res = await getOverUnixSocket(path);
          deepStrictEqual([res.status, JSON.parse(res.body)], [500, { code: 'ERR_NO_CLIENT_IP' }]);
        }
        deepStrictEqual(sink.codes, ['FLOODGATE_NO_CLIENT_IP']);
      } finally {
        await server.close();
        await rm(path, { force: true });
      }
      const keyed = await listen(
        app({ algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }), keyGenerator: () => 'local' }),
        path,
      );
      try {
        deepStrictEqual([(await getOverUnixSocket(path)).status, (await getOverUnixSocket(path)).status], [200, 429]);
      } finally {
        await keyed.close();
        await rm(path, { force: true });
      }
    });
  });
}
