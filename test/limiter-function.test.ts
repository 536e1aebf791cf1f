import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ErrorRequestHandler } from 'express';
import { createLimiter, type Limiter, slidingWindowLog } from 'floodgate';
import { rateLimit } from 'floodgate/express';
import floodgate from 'floodgate/fastify';
import request from 'supertest';
import { expressVersions, fastifyVersions, slidingLimiter, warnings } from './helpers/http.js';

type Pick = (plan: string | undefined) => Limiter | Promise<Limiter>;
type Get = (plan?: string) => Promise<{ status: number; headers: Record<string, string>; body: string }>;

const errorHandler: ErrorRequestHandler = (error, _req, res, _next) => {
  res.status(500).send(String(error.message));
};

const apps: [string, (pick: Pick, warn?: (m: string, c: string) => void) => Promise<Get>][] = [
  ...expressVersions.map(
    ({ name, express }): [string, (pick: Pick, warn?: (m: string, c: string) => void) => Promise<Get>] => [
      name,
      async (pick, warn) => {
        const app = express();
        app.use(rateLimit({ limiter: (req) => pick(req.get('plan')), headers: 'draft-8', warn: warn ?? false }));
        app.get('/', (_req, res) => {
          res.send('ok');
        });
        app.use(errorHandler);
        return async (plan) => {
          const res = await (plan === undefined ? request(app).get('/') : request(app).get('/').set('plan', plan));
          return { status: res.status, headers: res.headers, body: res.text };
        };
      },
    ],
  ),
  ...fastifyVersions.map(
    ({ name, Fastify }): [string, (pick: Pick, warn?: (m: string, c: string) => void) => Promise<Get>] => [
      name,
      async (pick, warn) => {
        const app = Fastify();
        app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) =>
          reply.code(error.statusCode ?? 500).send(error.message),
        );
        await app.register(floodgate, {
          limiter: (req) => pick(req.headers.plan as string | undefined),
          headers: 'draft-8',
          warn: warn ?? false,
        });
        app.get('/', async () => 'ok');
        await app.ready();
        return async (plan) => {
          const res = await app.inject({ url: '/', headers: plan === undefined ? {} : { plan } });
          return { status: res.statusCode, headers: res.headers as Record<string, string>, body: res.body };
        };
      },
    ],
  ),
];

for (const [name, make] of apps) {
  describe(`${name}: a limiter picked per request`, () => {
    for (const async of [false, true]) {
      test(`each request is limited by the limiter the function returns (${async ? 'async' : 'sync'}), with its own headers`, async () => {
        const free = slidingLimiter(1, 60_000).limiter;
        const pro = createLimiter({ policies: { burst: slidingWindowLog({ limit: 3, windowMs: 10_000 }) } });
        const get = await make((plan) => {
          const l = plan === 'pro' ? pro : free;
          return async ? Promise.resolve(l) : l;
        });
        const free1 = await get();
        deepStrictEqual([free1.status, free1.headers['ratelimit-policy']], [200, '"default";q=1;w=60']);
        strictEqual((await get()).status, 429);
        const pro1 = await get('pro');
        deepStrictEqual(
          [pro1.status, pro1.headers['ratelimit-policy'], pro1.headers.ratelimit],
          [200, '"burst";q=3;w=10', '"burst";r=2;t=10'],
        );
        strictEqual((await get('pro')).status, 200);
      });
    }

    test('a function returning something else fails the request, naming what it must return', async () => {
      const get = await make(() => ({ not: 'a limiter' }) as never);
      const res = await get();
      deepStrictEqual(
        [res.status, res.body.includes('the limiter function must return a limiter from createLimiter({...}), got')],
        [500, true],
      );
    });

    test('a function making a new limiter on every request gets a once-only warning', async () => {
      const seen = warnings();
      const get = await make(() => slidingLimiter(1, 60_000).limiter, seen.warn);
      const statuses = [];
      for (let i = 0; i < 12; i++) statuses.push((await get()).status);
      // The mistake it warns about: nothing is ever limited.
      deepStrictEqual(statuses, new Array(12).fill(200));
      deepStrictEqual(seen.codes, ['FLOODGATE_LIMITER_PER_REQUEST']);
    });

    test('a function choosing among a few limiters made once gets no warning', async () => {
      const seen = warnings();
      const limiters = Array.from({ length: 5 }, () => slidingLimiter(100, 60_000).limiter);
      let i = 0;
      const get = await make(() => limiters[i++ % limiters.length] as Limiter, seen.warn);
      for (let n = 0; n < 30; n++) strictEqual((await get()).status, 200);
      deepStrictEqual(seen.codes, []);
    });
  });
}

describe('a limiter made inside a request handler', () => {
  for (const { name, express } of expressVersions) {
    test(`${name}: rateLimit() called in a handler warns once`, async () => {
      const seen = warnings();
      const app = express();
      app.get('/', (req, res, next) => {
        rateLimit({ algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }), warn: seen.warn })(req, res, next);
      });
      app.get('/', (_req, res) => {
        res.send('ok');
      });
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await request(app).get('/')).status);
      deepStrictEqual(statuses, [200, 200, 200]);
      deepStrictEqual(seen.codes, ['FLOODGATE_CREATED_IN_REQUEST']);
    });
  }

  for (const { name, Fastify } of fastifyVersions) {
    test(`${name}: app.rateLimit() called in a handler warns once`, async () => {
      const seen = warnings();
      const app = Fastify();
      await app.register(floodgate, { limiter: slidingLimiter(100, 60_000).limiter, global: false, warn: seen.warn });
      app.rateLimit();
      app.get('/', async () => {
        app.rateLimit({ limiter: slidingLimiter(1, 60_000).limiter });
        return 'ok';
      });
      for (let i = 0; i < 3; i++) strictEqual((await app.inject('/')).statusCode, 200);
      deepStrictEqual(seen.codes, ['FLOODGATE_CREATED_IN_REQUEST']);
    });
  }

  test('rateLimit() at startup does not warn', () => {
    const seen = warnings();
    rateLimit({ algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }), warn: seen.warn });
    deepStrictEqual(seen.codes, []);
  });
});
