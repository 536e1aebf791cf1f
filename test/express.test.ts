import { deepStrictEqual, match, ok, strictEqual, throws } from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runInNewContext } from 'node:vm';
import type { ErrorRequestHandler, Express } from 'express';
import {
  createLimiter,
  type Decision,
  FloodgateError,
  isFloodgateError,
  MemoryStore,
  slidingWindowLog,
} from 'floodgate';
import { type RateLimitOptions, rateLimit } from 'floodgate/express';
import request from 'supertest';
import { assertFailed, failingCallbacks, NON_ERRORS, unhandledRejections } from './helpers/failing-callbacks.js';
import { assertIntegerHeaders, expectedFieldCount, extremeSettings, HEADER_SETS } from './helpers/header-integers.js';
import {
  DRAFT6_TIMELINE,
  expressVersions,
  FORMAT_CASES,
  rateLimitHeaders,
  SwitchableStore,
  slidingLimiter,
  warnings,
} from './helpers/http.js';

/** Answers errors as JSON `{ code }` with status 500, so a test sees what reached `next(err)`. */
const errorHandler: ErrorRequestHandler = (error, _req, res, _next) => {
  res.status(500).json({ code: isFloodgateError(error) ? error.code : String(error) });
};

function rejectsOption(make: () => unknown, message: string | RegExp): void {
  throws(make, (error: unknown) => {
    ok(error instanceof FloodgateError, 'a FloodgateError');
    strictEqual(error.code, 'ERR_INVALID_OPTION');
    if (typeof message === 'string') strictEqual(error.message, message);
    else match(error.message, message);
    return true;
  });
}

for (const { name, express } of expressVersions) {
  /** An app with `rateLimit(options)` in front of `GET /` and the JSON error handler behind. */
  function appWith(options: RateLimitOptions, setup?: (app: Express) => void): Express {
    const app = express();
    setup?.(app);
    app.use(rateLimit({ warn: false, ...options }));
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    app.use(errorHandler);
    return app;
  }

  describe(`${name}: headers`, () => {
    test('draft-6 by default, exact values from an injected clock, Retry-After on the 429', async () => {
      const { clock, limiter } = slidingLimiter(2, 10_000);
      const app = appWith({ limiter });
      const seen: [number, Record<string, unknown>][] = [];
      for (const at of DRAFT6_TIMELINE.at) {
        clock.set(at);
        const res = await request(app).get('/');
        seen.push([res.status, rateLimitHeaders(res.headers)]);
      }
      deepStrictEqual(seen, DRAFT6_TIMELINE.expected);
    });

    test('draft-7, draft-8 and legacy, each exact', async () => {
      for (const [headers, expected] of FORMAT_CASES) {
        const { limiter } = slidingLimiter(2, 10_000);
        const res = await request(appWith({ limiter, headers })).get('/');
        deepStrictEqual(rateLimitHeaders(res.headers), expected, `headers: ${headers}`);
      }
      const { limiter } = slidingLimiter(2, 10_000);
      const before = Date.now();
      const res = await request(appWith({ limiter, headers: 'legacy' })).get('/');
      const after = Date.now();
      const reset = Number(res.headers['x-ratelimit-reset']);
      ok(reset >= Math.ceil((before + 10_000) / 1000) && reset <= Math.ceil((after + 10_000) / 1000), `${reset}`);
      strictEqual(res.headers['x-ratelimit-limit'], '2');
      strictEqual(res.headers['x-ratelimit-remaining'], '1');
    });

    test('extreme settings: every header value in every format is an integer of at most 15 plain digits', async () => {
      for (const headers of HEADER_SETS) {
        for (const { label, limiter, cost, statuses } of extremeSettings()) {
          const app = appWith({ limiter, cost, headers });
          for (const status of statuses) {
            const res = await request(app).get('/');
            const where = `${label}, ${headers}, ${status}`;
            strictEqual(res.status, status, where);
            const seen = assertIntegerHeaders(res.headers, where);
            strictEqual(seen.length, expectedFieldCount(headers, status), `${where}: ${seen}`);
          }
        }
      }
    });

    test('after Remaining: r, exactly r more requests succeed (sliding log, no time passing)', async () => {
      const { clock, limiter } = slidingLimiter(5, 10_000);
      const app = appWith({ limiter });
      // Spread earlier requests over the window so the count is checked mid-window too.
      for (const at of [0, 0, 4_000, 4_000, 10_000, 12_000, 14_500]) {
        clock.set(at);
        const first = await request(app).get('/');
        if (first.status === 429) continue;
        const r = Number(first.headers['ratelimit-remaining']);
        for (let i = 0; i < r; i++)
          strictEqual((await request(app).get('/')).status, 200, `request ${i + 1} of ${r} at ${at}`);
        strictEqual((await request(app).get('/')).status, 429, `request ${r + 1} at ${at}`);
      }
    });
  });

  describe(`${name}: limited responses`, () => {
    test('the default body is short text', async () => {
      const { limiter } = slidingLimiter(1, 1_000);
      const app = appWith({ limiter });
      await request(app).get('/');
      const res = await request(app).get('/');
      strictEqual(res.status, 429);
      strictEqual(res.headers['content-type'], 'text/plain; charset=utf-8');
      strictEqual(res.text, 'Too many requests, please try again later.');
    });

    test('message as text, object, sync and async function; statusCode', async () => {
      const bodies: [RateLimitOptions['message'], string, string][] = [
        ['Slow down', 'text/plain; charset=utf-8', 'Slow down'],
        [{ error: 'slow down' }, 'application/json; charset=utf-8', '{"error":"slow down"}'],
        [
          (_req, _res, d: Decision) => ({ retryMs: d.retryAfterMs }),
          'application/json; charset=utf-8',
          '{"retryMs":1000}',
        ],
        [async (req) => `no more for ${req.path}`, 'text/plain; charset=utf-8', 'no more for /'],
      ];
      for (const [message, type, body] of bodies) {
        const { limiter } = slidingLimiter(1, 1_000);
        const app = appWith({ limiter, message, statusCode: 503 });
        await request(app).get('/');
        const res = await request(app).get('/');
        strictEqual(res.status, 503);
        strictEqual(res.headers['content-type'], type);
        strictEqual(res.text, body);
        strictEqual(res.headers['retry-after'], '1');
      }
    });

    test('onLimited sees the Decision after headers and status are set, and may answer itself', async () => {
      const { limiter } = slidingLimiter(1, 1_000);
      const seen: [number, string | undefined, boolean][] = [];
      const app = appWith({
        limiter,
        onLimited(_req, res, decision) {
          seen.push([res.statusCode, res.getHeader('Retry-After') as string | undefined, decision.allowed]);
          res.status(418).send('teapot');
        },
      });
      await request(app).get('/');
      const res = await request(app).get('/');
      strictEqual(res.status, 418);
      strictEqual(res.text, 'teapot');
      deepStrictEqual(seen, [[429, '1', false]]);
    });

    test('onDecision sees every decision; a throwing hook goes to next(err)', async () => {
      const { limiter } = slidingLimiter(1, 1_000);
      const seen: boolean[] = [];
      const app = appWith({ limiter, onDecision: (_req, d) => seen.push(d.allowed) });
      await request(app).get('/');
      await request(app).get('/');
      deepStrictEqual(seen, [true, false]);
      const throwing = appWith({
        limiter: slidingLimiter(1, 1_000).limiter,
        onDecision: () => {
          throw new Error('metrics down');
        },
      });
      const res = await request(throwing).get('/');
      strictEqual(res.status, 500);
      deepStrictEqual(res.body, { code: 'Error: metrics down' });
    });
  });

  describe(`${name}: errors from the app's callbacks`, () => {
    test('a callback throwing or rejecting a falsy or non-Error value fails the request, even a denied one', async () => {
      for (const [value, shown] of NON_ERRORS) {
        for (const [callback, denied, options] of failingCallbacks(value, true)) {
          const label = `${callback} failing with ${shown}`;
          const seen: unknown[] = [];
          let handled = 0;
          const app = express();
          app.use(rateLimit({ warn: false, limiter: slidingLimiter(1, 60_000).limiter, ...options }));
          app.get('/', (_req, res) => {
            handled += 1;
            res.send('ok');
          });
          app.use(((error, _req, res, _next) => {
            seen.push(error);
            res.status(500).send('failed');
          }) as ErrorRequestHandler);
          const statuses = [(await request(app).get('/')).status, (await request(app).get('/')).status];
          assertFailed(
            { label, owner: 'rateLimit', callback, denied, value, shown },
            { statuses, handled, errors: seen },
          );
        }
      }
    });

    test("a throw in onLimited or message is answered 500 by Express's final handler, not 429, with the Retry-After the response carried before the limit's", async () => {
      const bug = (): never => {
        throw new Error('bug in a hook');
      };
      for (const options of [{ onLimited: bug }, { message: bug }, { message: async () => bug() }]) {
        // None, or the app's own (a maintenance window, say), set before the limiter runs.
        for (const before of [undefined, '120']) {
          const app = express();
          app.set('env', 'test');
          if (before !== undefined) {
            app.use((_req, res, next) => {
              res.setHeader('retry-after', before);
              next();
            });
          }
          app.use(rateLimit({ warn: false, limiter: slidingLimiter(1, 60_000).limiter, ...options }));
          app.get('/', (_req, res) => {
            res.send('ok');
          });
          strictEqual((await request(app).get('/')).status, 200);
          const res = await request(app).get('/');
          deepStrictEqual([res.status, res.headers['retry-after']], [500, before], Object.keys(options)[0]);
        }
      }
    });

    test('an async onDecision or onLimited that rejects ends no process and changes no answer; a warning says so, once', async () => {
      const down = async (): Promise<never> => {
        throw new Error('metrics down');
      };
      for (const [hook, code] of [
        ['onDecision', 'FLOODGATE_ON_DECISION_REJECTED'],
        ['onLimited', 'FLOODGATE_ON_LIMITED_REJECTED'],
      ] as const) {
        const sink = warnings();
        const statuses: number[] = [];
        const unhandled = await unhandledRejections(async () => {
          const app = appWith({ limiter: slidingLimiter(1, 60_000).limiter, warn: sink.warn, [hook]: down });
          for (let i = 0; i < 3; i++) statuses.push((await request(app).get('/')).status);
        });
        deepStrictEqual([statuses, unhandled, sink.codes], [[200, 429, 429], [], [code]], hook);
        match(
          sink.messages[0] ?? '',
          new RegExp(`^rateLimit: ${hook} returned a promise that rejected \\(metrics down\\)`),
        );
      }
    });

    test('an async warning sink that rejects ends no process and changes no answer', async () => {
      const statuses: number[] = [];
      let calls = 0;
      const unhandled = await unhandledRejections(async () => {
        const app = appWith({
          limiter: slidingLimiter(1, 60_000).limiter,
          warn: async () => {
            calls += 1;
            throw new Error('log sink down');
          },
        });
        // X-Forwarded-For on an app that trusts no proxy: the warning FLOODGATE_UNTRUSTED_FORWARDED_FOR.
        for (let i = 0; i < 2; i++)
          statuses.push((await request(app).get('/').set('x-forwarded-for', '198.51.100.1')).status);
      });
      deepStrictEqual([statuses, calls, unhandled], [[200, 429], 1, []]);
    });
  });

  describe(`${name}: pending decisions`, () => {
    test('a response sent while the decision was pending is left alone: no headers, no next()', async () => {
      let release: (key: string) => void = () => {};
      const key = new Promise<string>((resolve) => {
        release = resolve;
      });
      const seen: unknown[] = [];
      let handled = 0;
      const app = express();
      // Answers and goes on, as a request-timeout middleware does when its timer fires first.
      app.use((_req, res, next) => {
        res.status(503).send('timed out');
        next();
      });
      app.use(rateLimit({ warn: false, limiter: slidingLimiter(1, 60_000).limiter, keyGenerator: () => key }));
      app.get('/', (_req, res) => {
        handled += 1;
        res.send('ok');
      });
      app.use(((error, _req, _res, _next) => {
        seen.push(error);
      }) as ErrorRequestHandler);
      const res = await request(app).get('/');
      deepStrictEqual([res.status, res.text, res.headers['ratelimit-remaining']], [503, 'timed out', undefined]);
      release('client');
      // The decision settles in microtasks after the release; one turn of the event loop runs them all.
      await new Promise((resolve) => setImmediate(resolve));
      deepStrictEqual([seen, handled], [[], 0]);
    });

    test("a decide returning another realm's promise (a thenable, not a Promise) is awaited", async () => {
      const OtherPromise = runInNewContext('Promise') as PromiseConstructor;
      ok(!(OtherPromise.resolve() instanceof Promise));
      const { limiter } = slidingLimiter(1, 60_000);
      const app = appWith({
        limiter: { ...limiter, decide: (key, cost) => OtherPromise.resolve(limiter.decide(key, cost)) },
      });
      const first = await request(app).get('/');
      deepStrictEqual([first.status, first.headers['ratelimit-remaining']], [200, '0']);
      const second = await request(app).get('/');
      deepStrictEqual([second.status, second.headers['retry-after']], [429, '60']);
    });
  });

  describe(`${name}: keys, cost, skip, shadow`, () => {
    test('keyGenerator, sync and async, gives each key its own limit', async () => {
      for (const keyGenerator of [
        (req: { get(name: string): string | undefined }) => req.get('x-user') ?? 'anon',
        async (req: { get(name: string): string | undefined }) => req.get('x-user') ?? 'anon',
      ]) {
        const { limiter } = slidingLimiter(1, 1_000);
        const app = appWith({ limiter, keyGenerator });
        strictEqual((await request(app).get('/').set('x-user', 'a')).status, 200);
        strictEqual((await request(app).get('/').set('x-user', 'a')).status, 429);
        strictEqual((await request(app).get('/').set('x-user', 'b')).status, 200);
      }
    });

    test('a keyGenerator returning no string reaches next(err) as ERR_INVALID_KEY', async () => {
      const { limiter } = slidingLimiter(1, 1_000);
      const app = appWith({ limiter, keyGenerator: () => undefined as unknown as string });
      const res = await request(app).get('/');
      deepStrictEqual([res.status, res.body], [500, { code: 'ERR_INVALID_KEY' }]);
    });

    test('cost as a number, a sync and an async function', async () => {
      for (const cost of [3, () => 3, async () => 3]) {
        const { limiter } = slidingLimiter(7, 1_000);
        const app = appWith({ limiter, cost });
        strictEqual((await request(app).get('/')).headers['ratelimit-remaining'], '4');
        strictEqual((await request(app).get('/')).headers['ratelimit-remaining'], '1');
        strictEqual((await request(app).get('/')).status, 429);
      }
    });

    test('a cost function returning 0 is a free request: not charged, let through on a spent key, not on a blocked one', async () => {
      for (const cost of [
        (req: { query: object }) => ('free' in req.query ? 0 : 1),
        async (req: { query: object }) => ('free' in req.query ? 0 : 1),
      ]) {
        const { limiter } = slidingLimiter(1, 1_000);
        const app = appWith({ limiter, cost });
        const free = await request(app).get('/?free');
        deepStrictEqual([free.status, free.headers['ratelimit-remaining']], [200, '1']);
        strictEqual((await request(app).get('/')).status, 200);
        const spent = await request(app).get('/?free');
        deepStrictEqual(
          [spent.status, spent.headers['ratelimit-remaining'], spent.headers['retry-after']],
          [200, '0', undefined],
        );
        strictEqual((await request(app).get('/')).status, 429);
        // A blocked key denies even a free request.
        await limiter.block('127.0.0.1', { durationMs: 60_000 });
        const blocked = await request(app).get('/?free');
        deepStrictEqual([blocked.status, blocked.headers['retry-after']], [429, '60']);
      }
    });

    test('a cost function returning undefined reaches next(err) with ERR_INVALID_COST, as null does, and charges nothing', async () => {
      const costs: Record<string, number> = { '/report': 2 };
      for (const cost of [
        (req: { path: string }) => costs[req.path] as number,
        async (req: { path: string }) => costs[req.path] as number,
        () => null as unknown as number,
      ]) {
        const { limiter } = slidingLimiter(2, 1_000);
        const seen: unknown[] = [];
        const app = express();
        app.use(rateLimit({ warn: false, limiter, cost }));
        app.get('/', (_req, res) => {
          res.send('ok');
        });
        app.use(((error, _req, res, _next) => {
          seen.push(error);
          res.status(500).send('failed');
        }) as ErrorRequestHandler);
        strictEqual((await request(app).get('/')).status, 500, String(cost));
        ok(seen[0] instanceof FloodgateError);
        deepStrictEqual(
          [seen[0].code, seen[0].message],
          ['ERR_INVALID_COST', `cost must be a non-negative integer, got ${cost.length === 0 ? 'null' : 'undefined'}`],
        );
        strictEqual((await limiter.peek('127.0.0.1')).remaining, 2);
      }
    });

    test('a cost above the limit reaches next(err)', async () => {
      const { limiter } = slidingLimiter(2, 1_000);
      const res = await request(appWith({ limiter, cost: () => 3 })).get('/');
      deepStrictEqual([res.status, res.body], [500, { code: 'ERR_COST_EXCEEDS_LIMIT' }]);
    });

    test('skip, sync and async: skipped requests get no headers and cost nothing', async () => {
      for (const skip of [
        (req: { path: string; query: object }) => 'free' in req.query,
        async (req: { query: object }) => 'free' in req.query,
      ]) {
        const { limiter } = slidingLimiter(1, 1_000);
        const app = appWith({ limiter, skip });
        const skipped = await request(app).get('/?free');
        strictEqual(skipped.status, 200);
        strictEqual(skipped.headers['ratelimit-limit'], undefined);
        strictEqual((await request(app).get('/')).status, 200);
        strictEqual((await request(app).get('/')).status, 429);
        strictEqual((await request(app).get('/?free')).status, 200);
      }
    });

    test('shadow: decides, sets headers and fires hooks, never blocks', async () => {
      const { limiter } = slidingLimiter(1, 1_000);
      const limited: number[] = [];
      const decided: boolean[] = [];
      const app = appWith({
        limiter,
        shadow: true,
        onLimited: (_req, _res, d) => limited.push(d.retryAfterMs),
        onDecision: (_req, d) => decided.push(d.allowed),
      });
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await request(app).get('/');
        statuses.push(res.status);
        strictEqual(res.headers['retry-after'], undefined);
        strictEqual(res.headers['ratelimit-remaining'], '0');
      }
      deepStrictEqual(statuses, [200, 200, 200]);
      deepStrictEqual(decided, [true, false, false]);
      deepStrictEqual(limited, [1_000, 1_000]);
    });

    test('per-route limiters from inline createLimiter options, beside a global one', async () => {
      const app = express();
      app.use(rateLimit({ warn: false, algorithm: slidingWindowLog({ limit: 100, windowMs: 60_000 }) }));
      app.post(
        '/login',
        rateLimit({ warn: false, algorithm: slidingWindowLog({ limit: 2, windowMs: 60_000 }), headers: 'draft-8' }),
        (_req, res) => {
          res.send('welcome');
        },
      );
      app.get('/', (_req, res) => {
        res.send('ok');
      });
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await request(app).post('/login')).status);
      deepStrictEqual(statuses, [200, 200, 429]);
      const home = await request(app).get('/');
      strictEqual(home.status, 200);
      // The global limiter counted all four requests; the login one only its own route.
      strictEqual(home.headers['ratelimit-remaining'], '96');
    });
  });

  describe(`${name}: client IP keys`, () => {
    test('IPv6 clients are grouped by /56 through a trusted X-Forwarded-For', async () => {
      const { limiter } = slidingLimiter(2, 60_000);
      const app = appWith({ limiter }, (a) => a.set('trust proxy', 1));
      const get = (ip: string) => request(app).get('/').set('X-Forwarded-For', ip);
      strictEqual((await get('2001:db8:1:200::1')).status, 200);
      strictEqual((await get('2001:db8:1:2ff:aaaa::9')).status, 200);
      strictEqual((await get('2001:DB8:1:2AB::7')).status, 429);
      strictEqual((await get('2001:db8:1:300::1')).status, 200);
    });

    test('ipv6Subnet: false counts each IPv6 address alone', async () => {
      const { limiter } = slidingLimiter(1, 60_000);
      const app = appWith({ limiter, ipv6Subnet: false }, (a) => a.set('trust proxy', 1));
      const get = (ip: string) => request(app).get('/').set('X-Forwarded-For', ip);
      strictEqual((await get('2001:db8::1')).status, 200);
      strictEqual((await get('2001:db8::2')).status, 200);
      strictEqual((await get('2001:0db8:0::1')).status, 429);
    });

    test('an IPv4-mapped address counts as its IPv4 address', async () => {
      const { limiter } = slidingLimiter(2, 60_000);
      const app = appWith({ limiter }, (a) => a.set('trust proxy', 1));
      const get = (ip: string) => request(app).get('/').set('X-Forwarded-For', ip);
      strictEqual((await get('::ffff:203.0.113.7')).status, 200);
      strictEqual((await get('203.0.113.7')).status, 200);
      strictEqual((await get('::ffff:cb00:7107')).status, 429);
      strictEqual((await get('203.0.113.8')).status, 200);
    });

    test('20 IPv4 clients seen through NAT64 (64:ff9b::/96) get a key each, their IPv4 one', async () => {
      const { limiter } = slidingLimiter(1, 60_000);
      const app = appWith({ limiter }, (a) => a.set('trust proxy', 1));
      const get = (ip: string) => request(app).get('/').set('X-Forwarded-For', ip);
      const statuses: number[] = [];
      for (let i = 1; i <= 20; i++) statuses.push((await get(`64:ff9b::203.0.113.${i}`)).status);
      deepStrictEqual(statuses, Array(20).fill(200));
      // The same client over IPv4, or in another spelling, is the same key.
      strictEqual((await get('203.0.113.1')).status, 429);
      strictEqual((await get('64:ff9b::cb00:7102')).status, 429);
      // Just outside the /96: an ordinary IPv6 address, grouped by /56.
      strictEqual((await get('64:ff9b::1:cb00:7101')).status, 200);
      strictEqual((await get('64:ff9b::1:cb00:7102')).status, 429);
    });

    test('without trust proxy, X-Forwarded-For is ignored and warned about once', async () => {
      const { limiter } = slidingLimiter(2, 60_000);
      const sink = warnings();
      const app = appWith({ limiter, warn: sink.warn });
      strictEqual((await request(app).get('/')).status, 200);
      deepStrictEqual(sink.codes, []);
      strictEqual((await request(app).get('/').set('X-Forwarded-For', '198.51.100.1')).status, 200);
      // Same key (the socket's), whatever the header says.
      strictEqual((await request(app).get('/').set('X-Forwarded-For', '198.51.100.2')).status, 429);
      deepStrictEqual(sink.codes, ['FLOODGATE_UNTRUSTED_FORWARDED_FOR']);
      const message = sink.messages[0] ?? '';
      ok(message.startsWith('rateLimit: a request carries X-Forwarded-For but Express ignored it'), message);
    });

    test('trust proxy true is warned about once; a hop count with X-Forwarded-For is not', async () => {
      const sink = warnings();
      const app = appWith({ limiter: slidingLimiter(10, 60_000).limiter, warn: sink.warn }, (a) =>
        a.set('trust proxy', true),
      );
      for (let i = 0; i < 3; i++) await request(app).get('/').set('X-Forwarded-For', `198.51.100.${i}`);
      deepStrictEqual(sink.codes, ['FLOODGATE_TRUST_ALL_PROXIES']);
      const quiet = warnings();
      const trusted = appWith({ limiter: slidingLimiter(10, 60_000).limiter, warn: quiet.warn }, (a) =>
        a.set('trust proxy', 1),
      );
      for (let i = 0; i < 3; i++) await request(trusted).get('/').set('X-Forwarded-For', `198.51.100.${i}`);
      deepStrictEqual(quiet.codes, []);
    });

    test('a trust proxy list without this peer ignores X-Forwarded-For, and says so once', async () => {
      const sink = warnings();
      const app = appWith({ limiter: slidingLimiter(10, 60_000).limiter, warn: sink.warn }, (a) =>
        a.set('trust proxy', '10.0.0.1'),
      );
      for (let i = 0; i < 3; i++) await request(app).get('/').set('X-Forwarded-For', `198.51.100.${i}`);
      deepStrictEqual(sink.codes, ['FLOODGATE_UNTRUSTED_FORWARDED_FOR']);
    });

    test('by default the warning goes to process.emitWarning', async (t) => {
      const emitWarning = t.mock.method(process, 'emitWarning', () => {});
      const app = express();
      app.use(rateLimit({ limiter: slidingLimiter(10, 60_000).limiter }));
      app.get('/', (_req, res) => {
        res.send('ok');
      });
      await request(app).get('/').set('X-Forwarded-For', '198.51.100.1');
      await request(app).get('/').set('X-Forwarded-For', '198.51.100.1');
      deepStrictEqual(
        emitWarning.mock.calls.map((call) => call.arguments[1]),
        [{ type: 'FloodgateWarning', code: 'FLOODGATE_UNTRUSTED_FORWARDED_FOR' }],
      );
    });
  });

  describe(`${name}: store failures follow onStoreError`, () => {
    for (const async of [false, true]) {
      const kind = async ? 'async' : 'sync';
      test(`allow (${kind}): requests pass with degraded headers`, async () => {
        const store = new SwitchableStore({ async });
        const limiter = createLimiter({
          algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }),
          store,
          onOutage: () => {},
        });
        const app = appWith({ limiter });
        for (let i = 0; i < 3; i++) {
          const res = await request(app).get('/');
          strictEqual(res.status, 200);
          strictEqual(res.headers['ratelimit-remaining'], '1');
        }
        store.failing = false;
        strictEqual((await request(app).get('/')).status, 200);
        strictEqual((await request(app).get('/')).status, 429);
      });

      test(`deny (${kind}): requests get a 429 with Retry-After`, async () => {
        const limiter = createLimiter({
          algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }),
          store: new SwitchableStore({ async }),
          onStoreError: 'deny',
          onOutage: () => {},
        });
        const res = await request(appWith({ limiter })).get('/');
        strictEqual(res.status, 429);
        strictEqual(res.headers['retry-after'], '1');
      });

      test(`throw (${kind}): the error goes to next(err), no crash, no hang`, async () => {
        const limiter = createLimiter({
          algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }),
          store: new SwitchableStore({ async }),
          onStoreError: 'throw',
          onOutage: () => {},
        });
        const res = await request(appWith({ limiter })).get('/').timeout(5_000);
        deepStrictEqual([res.status, res.body], [500, { code: 'ERR_STORE' }]);
        // Without an error handler of the app's own, Express's final handler answers 500.
        const bare = express();
        bare.use(rateLimit({ limiter, warn: false }));
        bare.get('/', (_req, res) => {
          res.send('ok');
        });
        bare.set('env', 'test');
        strictEqual((await request(bare).get('/').timeout(5_000)).status, 500);
      });

      test(`fallback store (${kind}): the fallback's limit applies`, async () => {
        const limiter = createLimiter({
          algorithm: slidingWindowLog({ limit: 2, windowMs: 60_000 }),
          store: new SwitchableStore({ async }),
          onStoreError: new MemoryStore({ sweepIntervalMs: false }),
          onOutage: () => {},
        });
        const app = appWith({ limiter });
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) statuses.push((await request(app).get('/')).status);
        deepStrictEqual(statuses, [200, 200, 429]);
      });
    }
  });

  describe(`${name}: options are checked at construction`, () => {
    const algorithm = slidingWindowLog({ limit: 1, windowMs: 1_000 });
    const limiter = createLimiter({ algorithm });
    test('a fixed cost of 0 is refused: it would never limit', () => {
      rejectsOption(
        () => rateLimit({ limiter, cost: 0 }),
        'rateLimit: cost must be a function or a positive integer no larger than the smallest limit (1), got 0: a fixed cost of 0 charges nothing, so it would never limit; use skip to leave requests unlimited, or a cost function returning 0 for the ones that are free',
      );
      rejectsOption(
        () => rateLimit({ algorithm, cost: 0 }),
        'rateLimit: cost must be a function or a positive integer no larger than the smallest limit (1), got 0: a fixed cost of 0 charges nothing, so it would never limit; use skip to leave requests unlimited, or a cost function returning 0 for the ones that are free',
      );
    });

    test('each bad option names itself, its value and what is allowed', () => {
      rejectsOption(
        () => rateLimit({ limiter, windowMS: 5 } as RateLimitOptions),
        'rateLimit: unknown option "windowMS"; allowed options are limiter, algorithm, policies, store, prefix, blockDurationMs, onStoreError, onOutage, headers, statusCode, skip, cost, keyGenerator, ipv6Subnet, shadow, onDecision, onLimited, skipFailedRequests, skipSuccessfulRequests, requestWasSuccessful, requestPropertyName, message, warn',
      );
      rejectsOption(
        () => rateLimit({} as RateLimitOptions),
        'rateLimit: limiter or algorithm/policies is required, got neither',
      );
      rejectsOption(
        () => rateLimit({ prefix: 'api' } as RateLimitOptions),
        'rateLimit: prefix given without algorithm or policies; give algorithm or policies with it, or a limiter',
      );
      rejectsOption(
        () => rateLimit({ prefix: 'api', blockDurationMs: 1000 } as RateLimitOptions),
        'rateLimit: prefix, blockDurationMs given without algorithm or policies; give algorithm or policies with them, or a limiter',
      );
      rejectsOption(
        () => rateLimit({ limiter, algorithm }),
        'rateLimit: give either limiter or the createLimiter options, not both; got limiter and algorithm',
      );
      rejectsOption(
        () => rateLimit({ limiter: {} as never }),
        'rateLimit: limiter must be a limiter from createLimiter({...}) or a function of the request returning one, got an object (Object)',
      );
      rejectsOption(
        () => rateLimit({ limiter, statusCode: 200 }),
        'rateLimit: statusCode must be an integer HTTP status from 400 to 599, got 200',
      );
      rejectsOption(
        () => rateLimit({ limiter, cost: 2 }),
        'rateLimit: cost must be a function or a positive integer no larger than the smallest limit (1), got 2',
      );
      for (const [cost, shown] of [
        ['2', '"2"'],
        [null, 'null'],
      ] as const) {
        rejectsOption(
          () => rateLimit({ limiter, cost: cost as never }),
          `rateLimit: cost must be a function or a positive integer no larger than the smallest limit (1), got ${shown}`,
        );
      }
      rejectsOption(() => rateLimit({ limiter, skip: true as never }), 'rateLimit: skip must be a function, got true');
      rejectsOption(
        () => rateLimit({ limiter, skipFailedRequests: 'yes' as never }),
        'rateLimit: skipFailedRequests must be true or false, got "yes"',
      );
      rejectsOption(
        () => rateLimit({ limiter, skipSuccessfulRequests: 1 as never }),
        'rateLimit: skipSuccessfulRequests must be true or false, got 1',
      );
      rejectsOption(
        () => rateLimit({ limiter, requestWasSuccessful: 'status' as never }),
        'rateLimit: requestWasSuccessful must be a function, got "status"',
      );
      rejectsOption(
        () => rateLimit({ limiter, keyGenerator: 'ip' as never }),
        'rateLimit: keyGenerator must be a function, got "ip"',
      );
      rejectsOption(
        () => rateLimit({ limiter, shadow: 'yes' as never }),
        'rateLimit: shadow must be true or false, got "yes"',
      );
      rejectsOption(
        () => rateLimit({ limiter, message: 42 as never }),
        'rateLimit: message must be a string, an object, or a function returning one, got 42',
      );
      rejectsOption(
        () => rateLimit({ limiter, warn: true as never }),
        'rateLimit: warn must be a function or false, got true',
      );
      rejectsOption(
        () => rateLimit({ limiter, warn: null as never }),
        'rateLimit: warn must be a function or false, got null',
      );
      rejectsOption(
        () => rateLimit({ limiter, onLimited: {} as never }),
        'rateLimit: onLimited must be a function, got an object (Object)',
      );
      rejectsOption(
        () => rateLimit({ limiter, ipv6Subnet: 0 }),
        'rateLimit: ipv6Subnet must be an integer prefix length from 1 to 128, or false, got 0',
      );
      rejectsOption(
        () => rateLimit({ limiter, headers: 'draft-9' as never }),
        "rateLimit: headers must be 'draft-6', 'draft-7', 'draft-8', 'legacy', a list of these, or false, got \"draft-9\"",
      );
      rejectsOption(() => rateLimit(null as never), 'rateLimit: options must be an object, got null');
    });

    test('inline createLimiter options are checked by createLimiter, and the error names rateLimit', () => {
      rejectsOption(() => rateLimit({ algorithm, prefix: '' }), 'rateLimit: prefix must be a non-empty string, got ""');
      rejectsOption(() => rateLimit({ algorithm: 5 as never }), /^rateLimit: algorithm must be /);
      rejectsOption(() => rateLimit({ policies: {} }), /^rateLimit: policies must be /);
      // What createLimiter said is kept as the cause.
      throws(
        () => rateLimit({ algorithm, prefix: '' }),
        (error: unknown) =>
          error instanceof FloodgateError &&
          error.cause instanceof FloodgateError &&
          error.cause.message === 'createLimiter: prefix must be a non-empty string, got ""',
      );
    });
  });
}
