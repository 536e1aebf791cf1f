import { deepStrictEqual, strictEqual, throws } from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Limiter } from 'floodgate';
import { rateLimit } from 'floodgate/express';
import floodgate from 'floodgate/fastify';
import request from 'supertest';
import { expressVersions, fastifyVersions, slidingLimiter } from './helpers/http.js';

/** What the handler saw on the request: the whole property, under `name`. */
type Seen = Record<string, unknown> | undefined;

/** One app per framework version: limiters in order in front of GET /, the handler returning `req[name]`. */
type Make = (
  limits: { limiter: Limiter; requestPropertyName?: string | false; shadow?: boolean; keyGenerator?: () => string }[],
  name?: string,
) => Promise<() => Promise<{ status: number; seen: Seen }>>;

const apps: [string, Make][] = [
  ...expressVersions.map(({ name, express }): [string, Make] => [
    name,
    async (limits, property = 'rateLimit') => {
      const app = express();
      for (const limit of limits) app.use(rateLimit({ warn: false, ...limit }));
      app.get('/', (req, res) => {
        res.json({ seen: (req as unknown as Record<string, unknown>)[property] ?? null });
      });
      return async () => {
        const res = await request(app).get('/');
        return { status: res.status, seen: res.body.seen ?? undefined };
      };
    },
  ]),
  ...fastifyVersions.map(({ name, Fastify }): [string, Make] => [
    name,
    async (limits, property = 'rateLimit') => {
      const app = Fastify();
      // Each limit in a context nested in the previous one's, so GET / gets all of them.
      const nest = async (instance: FastifyInstance, i: number): Promise<void> => {
        const limit = limits[i];
        if (limit === undefined) {
          instance.get('/', async (req) => ({ seen: (req as unknown as Record<string, unknown>)[property] ?? null }));
          return;
        }
        await instance.register(floodgate, { warn: false, ...limit });
        await instance.register(async (child) => nest(child, i + 1));
      };
      await nest(app, 0);
      await app.ready();
      return async () => {
        const res = await app.inject('/');
        return { status: res.statusCode, seen: res.json().seen ?? undefined };
      };
    },
  ]),
];

for (const [name, make] of apps) {
  describe(`${name}: the decision on the request`, () => {
    test('req.rateLimit holds the Decision and the key', async () => {
      const get = await make([{ limiter: slidingLimiter(3, 10_000).limiter }]);
      deepStrictEqual((await get()).seen, {
        allowed: true,
        limit: 3,
        remaining: 2,
        resetMs: 10_000,
        retryAfterMs: 0,
        key: '127.0.0.1',
      });
    });

    test('stacked limiters leave the binding decision: least remaining, whatever the order', async () => {
      for (const order of [
        [10, 2],
        [2, 10],
      ]) {
        const get = await make(
          order.map((limit, i) => ({ limiter: slidingLimiter(limit, 10_000).limiter, keyGenerator: () => `k${i}` })),
        );
        const { seen } = await get();
        deepStrictEqual([seen?.limit, seen?.remaining, seen?.key], [2, 1, `k${order.indexOf(2)}`], `${order}`);
      }
    });

    test('a shadow limiter that would deny is recorded, with allowed: false', async () => {
      const get = await make([{ limiter: slidingLimiter(1, 10_000).limiter, shadow: true }]);
      await get();
      const { status, seen } = await get();
      deepStrictEqual([status, seen?.allowed, seen?.remaining], [200, false, 0]);
    });

    test('requestPropertyName renames it; false leaves the request alone', async () => {
      const renamed = await make(
        [{ limiter: slidingLimiter(3, 10_000).limiter, requestPropertyName: 'quota' }],
        'quota',
      );
      strictEqual((await renamed()).seen?.remaining, 2);
      const none = await make([{ limiter: slidingLimiter(3, 10_000).limiter, requestPropertyName: false }]);
      strictEqual((await none()).seen, undefined);
    });
  });
}

describe('requestPropertyName is checked', () => {
  test('a non-string or empty name is refused, naming what is allowed', () => {
    const { limiter } = slidingLimiter(1, 1_000);
    for (const bad of ['', 42, true]) {
      throws(
        () => rateLimit({ limiter, requestPropertyName: bad as never }),
        (error: Error) =>
          error.message.startsWith('rateLimit: requestPropertyName must be a non-empty string, or false for none, got'),
      );
    }
  });
});
