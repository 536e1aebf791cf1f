import { deepStrictEqual } from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ErrorRequestHandler } from 'express';
import { isFloodgateError, slidingWindowLog } from 'floodgate';
import { type RateLimitOptions, rateLimit } from 'floodgate/express';
import { socketTests } from './helpers/adapter-suites.js';
import { expressVersions, getOverUnixSocket, listen, warnings } from './helpers/http.js';

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
    socketTests(async (limit) => listen(app(limit)));

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
