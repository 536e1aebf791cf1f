import { deepStrictEqual, ok, rejects, strictEqual, throws } from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { isFloodgateError, type Limiter } from 'floodgate';
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

  const taken =
    'a name the request does not have already (not __proto__, nor a property Node, Express or Fastify give a request, such as ip, headers or body), or false for none';

  test("__proto__ is refused at setup: the first request would replace the request object's prototype", async () => {
    const { limiter } = slidingLimiter(1, 1_000);
    for (const { name, express } of expressVersions) {
      const app = express();
      throws(
        () => app.use(rateLimit({ limiter, warn: false, requestPropertyName: '__proto__' })),
        (error: unknown) =>
          isFloodgateError(error) &&
          error.code === 'ERR_INVALID_OPTION' &&
          error.message === `rateLimit: requestPropertyName must be ${taken}, got "__proto__"`,
        name,
      );
    }
    for (const { name, Fastify } of fastifyVersions) {
      const app = Fastify();
      await rejects(
        async () => {
          await app.register(floodgate, { limiter, warn: false, requestPropertyName: '__proto__' });
        },
        (error: unknown) =>
          isFloodgateError(error) &&
          error.code === 'ERR_INVALID_OPTION' &&
          error.message === `floodgate: requestPropertyName must be ${taken}, got "__proto__"`,
        name,
      );
      // A route's own config is checked as the plugin's is.
      const routes = Fastify();
      await routes.register(floodgate, { limiter, warn: false });
      throws(
        () => routes.get('/', { config: { rateLimit: { requestPropertyName: '__proto__' } } }, async () => 'ok'),
        (error: Error) =>
          error.message === `floodgate (route GET /): requestPropertyName must be ${taken}, got "__proto__"`,
        name,
      );
    }
  });

  test('every property a real request has is refused, on every framework version', async () => {
    const { limiter } = slidingLimiter(1, 1_000);
    const namesOf = (request: object): string[] => {
      const names = new Set<string>();
      for (let o: object | null = request; o !== null; o = Object.getPrototypeOf(o)) {
        for (const name of Object.getOwnPropertyNames(o)) names.add(name);
      }
      return [...names];
    };
    const refused = (make: () => unknown): boolean => {
      try {
        make();
        return false;
      } catch (error) {
        return isFloodgateError(error) && error.code === 'ERR_INVALID_OPTION';
      }
    };
    for (const { name, express } of expressVersions) {
      // A request as a handler sees it: through a body parser, with route params and a query.
      let names: string[] = [];
      const app = express();
      app.use(express.json());
      app.post('/:id', (req, res) => {
        names = namesOf(req);
        res.send('ok');
      });
      await request(app).post('/7?page=2').send({ a: 1 });
      ok(names.includes('ip') && names.includes('body'), name);
      deepStrictEqual(
        names.filter((n) => !refused(() => rateLimit({ limiter, requestPropertyName: n }))),
        [],
        name,
      );
    }
    for (const { name, Fastify } of fastifyVersions) {
      for (const trustProxy of [false, true]) {
        let names: string[] = [];
        const app = Fastify({ trustProxy });
        app.post('/:id', async (req) => {
          names = namesOf(req);
          return 'ok';
        });
        await app.inject({ method: 'POST', url: '/7?page=2', payload: { a: 1 } });
        ok(names.includes('raw') && names.includes('params'), name);
        const accepted: string[] = [];
        for (const n of names) {
          const limited = Fastify();
          try {
            await limited.register(floodgate, { limiter, warn: false, requestPropertyName: n });
            accepted.push(n);
          } catch (error) {
            ok(isFloodgateError(error) && error.code === 'ERR_INVALID_OPTION', `${n}: ${error}`);
          }
        }
        deepStrictEqual(accepted, [], `${name}, trustProxy ${trustProxy}`);
      }
    }
  });
});
