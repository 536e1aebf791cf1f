import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createLimiter, MemoryStore, slidingWindowLog, tokenBucket } from 'floodgate';
import { type RateLimitOptions, rateLimit } from 'floodgate/express';
import floodgate from 'floodgate/fastify';
import { parseRateLimit } from 'ratelimit-header-parser';
import request from 'supertest';
import { expressVersions, fastifyVersions, rateLimitHeaders } from './helpers/http.js';

/** One limiter of a stack: a window of `limit` per `windowMs`, its header formats, optional shadow. */
interface Layer {
  limit: number;
  windowMs: number;
  headers: NonNullable<RateLimitOptions['headers']>;
  shadow?: boolean;
  policies?: boolean;
}

type Headers = Record<string, unknown>;
/** Sends GET / through the stack `layers`, the first layer outermost, `count` times; the last response. */
type Stack = (
  layers: readonly Layer[],
  before?: (headers: (name: string, value: string) => void) => void,
) => Promise<{ get(): Promise<{ status: number; headers: Headers }> }>;

function limiterOf(layer: Layer) {
  const store = new MemoryStore({ clock: () => 0, sweepIntervalMs: false });
  const algorithm = slidingWindowLog({ limit: layer.limit, windowMs: layer.windowMs });
  if (layer.policies) {
    return createLimiter({
      policies: {
        burst: tokenBucket({ capacity: layer.limit, refillPerSecond: 1 }),
        hour: slidingWindowLog({ limit: 1000, windowMs: 3_600_000 }),
      },
      store,
    });
  }
  return createLimiter({ algorithm, store });
}

/**
 * A structured-field list of items `"name";key=value;…` (RFC 9651), as draft 8 sends
 * `RateLimit` and `RateLimit-Policy`: names are plain tokens here, so a split is exact.
 */
function sfList(value: unknown): [string, Record<string, number>][] {
  strictEqual(typeof value, 'string', `a field value, got ${value}`);
  return (value as string).split(', ').map((item) => {
    const [name = '', ...params] = item.split(';');
    strictEqual(/^"[A-Za-z0-9_-]+"$/.test(name), true, `item name ${name}`);
    const values: Record<string, number> = {};
    for (const param of params) {
      const [key = '', v = ''] = param.split('=');
      strictEqual(/^\d{1,15}$/.test(v), true, `${key}=${v}`);
      values[key] = Number(v);
    }
    return [name.slice(1, -1), values];
  });
}

const expressStack =
  (express: (typeof expressVersions)[number]['express']): Stack =>
  async (layers, before) => {
    const app = express();
    if (before !== undefined)
      app.use((_req, res, next) => {
        before((name, value) => res.setHeader(name, value));
        next();
      });
    for (const layer of layers)
      app.use(
        rateLimit({ limiter: limiterOf(layer), headers: layer.headers, shadow: layer.shadow ?? false, warn: false }),
      );
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    return {
      async get() {
        const res = await request(app).get('/');
        return { status: res.status, headers: res.headers };
      },
    };
  };

const fastifyStack =
  (Fastify: (typeof fastifyVersions)[number]['Fastify']): Stack =>
  async (layers, before) => {
    const app = Fastify();
    if (before !== undefined)
      app.addHook('onRequest', async (_request, reply) => {
        before((name, value) => reply.header(name, value));
      });
    // Each limiter in a context nested in the previous one's, so a route inside gets all of them.
    async function nest(instance: FastifyInstance, i: number): Promise<void> {
      const layer = layers[i];
      if (layer === undefined) {
        instance.get('/', async () => 'ok');
        return;
      }
      await instance.register(floodgate, {
        limiter: limiterOf(layer),
        headers: layer.headers,
        shadow: layer.shadow ?? false,
        warn: false,
      });
      await instance.register(async (child) => nest(child, i + 1));
    }
    await nest(app, 0);
    await app.ready();
    return {
      async get() {
        const res = await app.inject('/');
        return { status: res.statusCode, headers: res.headers };
      },
    };
  };

const stacks: [string, Stack][] = [
  ...expressVersions.map(({ name, express }): [string, Stack] => [name, expressStack(express)]),
  ...fastifyVersions.map(({ name, Fastify }): [string, Stack] => [name, fastifyStack(Fastify)]),
];

for (const [name, stack] of stacks) {
  describe(`${name}: stacked limiters add to each other's headers`, () => {
    test('five draft-8 limiters: every policy of every limiter, names kept unique', async () => {
      const layers: Layer[] = [
        { limit: 100, windowMs: 60_000, headers: 'draft-8' },
        { limit: 10, windowMs: 1_000, headers: 'draft-8' },
        { limit: 5, windowMs: 10_000, headers: 'draft-8', policies: true },
        { limit: 50, windowMs: 3_600_000, headers: 'draft-8' },
        { limit: 7, windowMs: 30_000, headers: 'draft-8' },
      ];
      const app = await stack(layers);
      await app.get();
      const res = await app.get();
      strictEqual(res.status, 200);
      deepStrictEqual(sfList(res.headers['ratelimit-policy']), [
        ['default', { q: 100, w: 60 }],
        ['default-2', { q: 10, w: 1 }],
        ['burst', { q: 5, w: 5 }],
        ['hour', { q: 1000, w: 3600 }],
        ['default-3', { q: 50, w: 3600 }],
        ['default-4', { q: 7, w: 30 }],
      ]);
      deepStrictEqual(sfList(res.headers.ratelimit), [
        ['default', { r: 98, t: 60 }],
        ['default-2', { r: 8, t: 1 }],
        ['burst', { r: 3, t: 2 }],
        ['hour', { r: 998, t: 3600 }],
        ['default-3', { r: 48, t: 3600 }],
        ['default-4', { r: 5, t: 30 }],
      ]);
    });

    test('draft-6 and legacy: the most restrictive view (least remaining, then longest reset); every policy listed', async () => {
      const app = await stack([
        { limit: 10, windowMs: 60_000, headers: ['draft-6', 'legacy'] },
        { limit: 3, windowMs: 10_000, headers: 'draft-6' },
        { limit: 3, windowMs: 20_000, headers: ['draft-6', 'legacy'] },
        { limit: 100, windowMs: 60_000, headers: 'draft-6' },
      ]);
      const before = Date.now();
      const res = await app.get();
      const { 'x-ratelimit-reset': reset, ...rest } = rateLimitHeaders(res.headers);
      deepStrictEqual(rest, {
        'ratelimit-limit': '3',
        'ratelimit-remaining': '2',
        'ratelimit-reset': '20',
        'ratelimit-policy': '10;w=60, 3;w=10, 3;w=20, 100;w=60',
        'x-ratelimit-limit': '3',
        'x-ratelimit-remaining': '2',
      });
      const at = Number(reset);
      strictEqual(
        at >= Math.ceil((before + 20_000) / 1000) && at <= Math.ceil((Date.now() + 20_000) / 1000),
        true,
        `${reset}`,
      );
      // ratelimit-header-parser reads the combined view as one quota.
      deepStrictEqual(
        [
          parseRateLimit(res.headers as Record<string, string>)?.limit,
          parseRateLimit(res.headers as Record<string, string>)?.remaining,
        ],
        [3, 2],
      );
    });

    test("on a 429, the single-valued fields are the denying limiter's, Retry-After with them", async () => {
      const app = await stack([
        { limit: 10, windowMs: 60_000, headers: 'draft-7' },
        { limit: 2, windowMs: 60_000, headers: 'draft-7', shadow: true },
        { limit: 3, windowMs: 5_000, headers: 'draft-7' },
      ]);
      for (let i = 0; i < 3; i++) strictEqual((await app.get()).status, 200);
      const res = await app.get();
      strictEqual(res.status, 429);
      deepStrictEqual(rateLimitHeaders(res.headers), {
        ratelimit: 'limit=3, remaining=0, reset=5',
        'ratelimit-policy': '10;w=60, 2;w=60, 3;w=5',
        'retry-after': '5',
      });
    });

    test('Retry-After: the longest, when the response already carries one', async () => {
      const app = await stack([{ limit: 1, windowMs: 5_000, headers: 'draft-6' }], (set) => set('retry-after', '120'));
      await app.get();
      strictEqual((await app.get()).headers['retry-after'], '120');
      const shorter = await stack([{ limit: 1, windowMs: 5_000, headers: 'draft-6' }], (set) =>
        set('retry-after', '2'),
      );
      await shorter.get();
      strictEqual((await shorter.get()).headers['retry-after'], '5');
    });

    test('mixed formats: the first limiter picks draft-8 or drafts 6/7, later ones write in it; other formats add up', async () => {
      const cases: [Layer['headers'][], Headers][] = [
        [
          ['draft-6', 'draft-8'],
          {
            'ratelimit-limit': '2',
            'ratelimit-remaining': '1',
            'ratelimit-reset': '10',
            'ratelimit-policy': '5;w=60, 2;w=10',
          },
        ],
        [
          ['draft-8', ['draft-7', 'legacy']],
          {
            'ratelimit-policy': '"default";q=5;w=60, "default-2";q=2;w=10',
            ratelimit: '"default";r=4;t=60, "default-2";r=1;t=10',
            'x-ratelimit-limit': '2',
            'x-ratelimit-remaining': '1',
          },
        ],
        [
          ['legacy', 'draft-7'],
          {
            'x-ratelimit-limit': '2',
            'x-ratelimit-remaining': '1',
            ratelimit: 'limit=2, remaining=1, reset=10',
            'ratelimit-policy': '5;w=60, 2;w=10',
          },
        ],
        [
          [false, 'draft-6'],
          { 'ratelimit-limit': '2', 'ratelimit-remaining': '1', 'ratelimit-reset': '10', 'ratelimit-policy': '2;w=10' },
        ],
      ];
      for (const [[first, second], expected] of cases) {
        const app = await stack([
          { limit: 5, windowMs: 60_000, headers: first as Layer['headers'] },
          { limit: 2, windowMs: 10_000, headers: second as Layer['headers'] },
        ]);
        const { 'x-ratelimit-reset': _reset, ...seen } = rateLimitHeaders((await app.get()).headers);
        deepStrictEqual(seen, expected, `${first} then ${second}`);
      }
    });
  });
}
