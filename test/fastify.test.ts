import { deepStrictEqual, match, ok, rejects, strictEqual, throws } from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runInNewContext } from 'node:vm';
import type { FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify';
import { createLimiter, FloodgateError, isFloodgateError, MemoryStore, slidingWindowLog } from 'floodgate';
import floodgate, { type FloodgatePluginOptions, RateLimitedError } from 'floodgate/fastify';
import { assertFailed, failingCallbacks, NON_ERRORS, unhandledRejections } from './helpers/failing-callbacks.js';
import { assertIntegerHeaders, expectedFieldCount, extremeSettings, HEADER_SETS } from './helpers/header-integers.js';
import {
  DRAFT6_TIMELINE,
  FORMAT_CASES,
  fastifyVersions,
  rateLimitHeaders,
  SwitchableStore,
  slidingLimiter,
  warnings,
} from './helpers/http.js';

async function rejectsOption(ready: PromiseLike<unknown>, message: string): Promise<void> {
  await rejects(
    async () => {
      await ready;
    },
    (error: unknown) => {
      ok(error instanceof FloodgateError, `a FloodgateError, got ${error}`);
      strictEqual(error.code, 'ERR_INVALID_OPTION');
      strictEqual(error.message, message);
      return true;
    },
  );
}

declare module 'fastify' {
  interface FastifyRequest {
    user: string;
  }
}

for (const { name, Fastify } of fastifyVersions) {
  /** A ready app with the plugin registered and `GET /`, plus whatever `routes` adds. */
  async function appWith(
    options: FloodgatePluginOptions,
    routes?: (app: FastifyInstance) => void,
    serverOptions: FastifyServerOptions = {},
  ): Promise<FastifyInstance> {
    const app = Fastify(serverOptions);
    await app.register(floodgate, { warn: false, ...options });
    app.get('/', async () => 'ok');
    routes?.(app);
    await app.ready();
    return app;
  }

  describe(`${name}: headers`, () => {
    test('draft-6 by default, exact values from an injected clock, Retry-After on the 429', async () => {
      const { clock, limiter } = slidingLimiter(2, 10_000);
      const app = await appWith({ limiter });
      const seen: [number, Record<string, unknown>][] = [];
      for (const at of DRAFT6_TIMELINE.at) {
        clock.set(at);
        const res = await app.inject('/');
        seen.push([res.statusCode, rateLimitHeaders(res.headers)]);
      }
      deepStrictEqual(seen, DRAFT6_TIMELINE.expected);
    });

    test('draft-7, draft-8, legacy and none, each exact', async () => {
      for (const [headers, expected] of FORMAT_CASES) {
        const app = await appWith({ limiter: slidingLimiter(2, 10_000).limiter, headers });
        deepStrictEqual(rateLimitHeaders((await app.inject('/')).headers), expected, `headers: ${headers}`);
      }
      const app = await appWith({ limiter: slidingLimiter(2, 10_000).limiter, headers: ['draft-6', 'legacy'] });
      const before = Date.now();
      const res = await app.inject('/');
      const after = Date.now();
      const reset = Number(res.headers['x-ratelimit-reset']);
      ok(reset >= Math.ceil((before + 10_000) / 1000) && reset <= Math.ceil((after + 10_000) / 1000), `${reset}`);
      strictEqual(res.headers['x-ratelimit-remaining'], '1');
      strictEqual(res.headers['ratelimit-remaining'], '1');
    });

    test('extreme settings: every header value in every format is an integer of at most 15 plain digits', async () => {
      for (const headers of HEADER_SETS) {
        for (const { label, limiter, cost, statuses } of extremeSettings()) {
          const app = await appWith({ limiter, cost, headers });
          for (const status of statuses) {
            const res = await app.inject('/');
            const where = `${label}, ${headers}, ${status}`;
            strictEqual(res.statusCode, status, where);
            const seen = assertIntegerHeaders(res.headers, where);
            strictEqual(seen.length, expectedFieldCount(headers, status), `${where}: ${seen}`);
          }
        }
      }
    });

    test('after Remaining: r, exactly r more requests succeed (sliding log, no time passing)', async () => {
      const { clock, limiter } = slidingLimiter(5, 10_000);
      const app = await appWith({ limiter });
      for (const at of [0, 0, 4_000, 4_000, 10_000, 12_000, 14_500]) {
        clock.set(at);
        const first = await app.inject('/');
        if (first.statusCode === 429) continue;
        const r = Number(first.headers['ratelimit-remaining']);
        for (let i = 0; i < r; i++) strictEqual((await app.inject('/')).statusCode, 200, `request ${i + 1} of ${r}`);
        strictEqual((await app.inject('/')).statusCode, 429, `request ${r + 1} at ${at}`);
      }
    });
  });

  describe(`${name}: limited responses`, () => {
    test("the usual Fastify JSON error, through the app's error handler", async () => {
      const app = await appWith({ limiter: slidingLimiter(1, 10_000).limiter });
      await app.inject('/');
      const res = await app.inject('/');
      strictEqual(res.statusCode, 429);
      strictEqual(res.headers['content-type'], 'application/json; charset=utf-8');
      deepStrictEqual(res.json(), {
        statusCode: 429,
        code: 'ERR_RATE_LIMITED',
        error: 'Too Many Requests',
        message: 'Rate limit exceeded, retry in 10 seconds',
      });
    });

    test('message as text or a function; statusCode', async () => {
      for (const message of [
        'Slow down',
        (req: FastifyRequest, d: { retryAfterMs: number }) => `${req.url}: ${d.retryAfterMs} ms`,
      ]) {
        const app = await appWith({ limiter: slidingLimiter(1, 1_000).limiter, message, statusCode: 503 });
        await app.inject('/');
        const res = await app.inject('/');
        strictEqual(res.statusCode, 503);
        strictEqual(res.headers['retry-after'], '1');
        strictEqual(res.json().message, typeof message === 'string' ? 'Slow down' : '/: 1000 ms');
      }
    });

    test('a custom error handler gets a RateLimitedError with the Decision; headers survive', async () => {
      const app = Fastify();
      app.setErrorHandler((error, _request, reply) => {
        if (error instanceof RateLimitedError) {
          void reply.code(error.statusCode).send({ limited: true, retryAfterMs: error.decision.retryAfterMs });
          return;
        }
        void reply.code(500).send({ limited: false });
      });
      await app.register(floodgate, { limiter: slidingLimiter(1, 2_000).limiter, warn: false });
      app.get('/', async () => 'ok');
      await app.inject('/');
      const res = await app.inject('/');
      deepStrictEqual([res.statusCode, res.json()], [429, { limited: true, retryAfterMs: 2_000 }]);
      strictEqual(res.headers['retry-after'], '2');
      strictEqual(res.headers['ratelimit-remaining'], '0');
    });

    test('onLimited may answer the request itself', async () => {
      const seen: [number, unknown][] = [];
      const app = await appWith({
        limiter: slidingLimiter(1, 1_000).limiter,
        onLimited(_request, reply, decision) {
          seen.push([reply.statusCode, decision.allowed]);
          void reply.code(418).send('teapot');
        },
      });
      await app.inject('/');
      const res = await app.inject('/');
      deepStrictEqual([res.statusCode, res.body], [418, 'teapot']);
      // The status is the error handler's to set: onLimited sees the reply as it was.
      deepStrictEqual(seen, [[200, false]]);
    });

    test('onDecision sees every decision; a throwing hook goes to the error handler', async () => {
      const seen: boolean[] = [];
      const app = await appWith({
        limiter: slidingLimiter(1, 1_000).limiter,
        onDecision: (_r, d) => seen.push(d.allowed),
      });
      await app.inject('/');
      await app.inject('/');
      deepStrictEqual(seen, [true, false]);
      const throwing = await appWith({
        limiter: slidingLimiter(1, 1_000).limiter,
        onDecision: () => {
          throw new Error('metrics down');
        },
      });
      const res = await throwing.inject('/');
      deepStrictEqual([res.statusCode, res.json().message], [500, 'metrics down']);
    });
  });

  describe(`${name}: errors from the app's callbacks`, () => {
    test('a callback throwing or rejecting a falsy or non-Error value fails the request, even a denied one', async () => {
      for (const [value, shown] of NON_ERRORS) {
        for (const [callback, denied, options] of failingCallbacks(value, false)) {
          const label = `${callback} failing with ${shown}`;
          const seen: unknown[] = [];
          let handled = 0;
          const app = Fastify();
          app.setErrorHandler((error, _request, reply) => {
            seen.push(error);
            void reply.code(500).send('failed');
          });
          await app.register(floodgate, { warn: false, limiter: slidingLimiter(1, 60_000).limiter, ...options });
          app.get('/', async () => {
            handled += 1;
            return 'ok';
          });
          const statuses = [(await app.inject('/')).statusCode, (await app.inject('/')).statusCode];
          assertFailed(
            { label, owner: 'floodgate', callback, denied, value, shown },
            { statuses, handled, errors: seen },
          );
        }
      }
    });

    test('a throw in onLimited or message is answered 500 and logged as an error, not as a 429', async () => {
      const bug = (): never => {
        throw new Error('bug in a hook');
      };
      for (const options of [{ onLimited: bug }, { message: bug }]) {
        const levels: number[] = [];
        const stream = {
          write(line: string) {
            const entry = JSON.parse(line) as { level: number; err?: unknown };
            if (entry.err !== undefined) levels.push(entry.level);
          },
        };
        const app = await appWith({ limiter: slidingLimiter(1, 60_000).limiter, ...options }, undefined, {
          logger: { level: 'info', stream },
        });
        strictEqual((await app.inject('/')).statusCode, 200);
        const res = await app.inject('/');
        deepStrictEqual(
          [res.statusCode, res.headers['retry-after'], res.json().message, levels],
          [500, undefined, 'bug in a hook', [50]],
          Object.keys(options)[0],
        );
      }
    });

    test("a throw in onLimited or message leaves the Retry-After the response carried before the limit's", async () => {
      const bug = (): never => {
        throw new Error('bug in a hook');
      };
      for (const options of [{ onLimited: bug }, { message: bug }]) {
        const app = Fastify();
        // The app's own Retry-After (a maintenance window, say), set before the limiter runs.
        app.addHook('onRequest', async (_request, reply) => {
          reply.header('retry-after', '120');
        });
        await app.register(floodgate, { warn: false, limiter: slidingLimiter(1, 60_000).limiter, ...options });
        app.get('/', async () => 'ok');
        await app.ready();
        strictEqual((await app.inject('/')).statusCode, 200);
        const res = await app.inject('/');
        deepStrictEqual([res.statusCode, res.headers['retry-after']], [500, '120'], Object.keys(options)[0]);
      }
    });

    test('a message function returning a promise fails clearly, never as "[object Promise]"', async () => {
      for (const message of [async () => 'slow down', async (): Promise<string> => Promise.reject(new Error('no'))]) {
        const app = await appWith({ limiter: slidingLimiter(1, 60_000).limiter, message: message as never });
        await app.inject('/');
        const res = await app.inject('/');
        deepStrictEqual(
          [res.statusCode, res.json().code, res.json().message],
          [
            500,
            'ERR_INVALID_OPTION',
            'floodgate: message must be a string or a function returning one synchronously, got an object (Promise)',
          ],
        );
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
          const app = await appWith({ limiter: slidingLimiter(1, 60_000).limiter, warn: sink.warn, [hook]: down });
          for (let i = 0; i < 3; i++) statuses.push((await app.inject('/')).statusCode);
        });
        deepStrictEqual([statuses, unhandled, sink.codes], [[200, 429, 429], [], [code]], hook);
        match(
          sink.messages[0] ?? '',
          new RegExp(`^floodgate: ${hook} returned a promise that rejected \\(metrics down\\)`),
        );
      }
    });

    test('an async warning sink that rejects ends no process and changes no answer', async () => {
      const statuses: number[] = [];
      let calls = 0;
      const unhandled = await unhandledRejections(async () => {
        const app = await appWith({
          limiter: slidingLimiter(1, 60_000).limiter,
          warn: async () => {
            calls += 1;
            throw new Error('log sink down');
          },
        });
        // X-Forwarded-For on an app that trusts no proxy: the warning FLOODGATE_UNTRUSTED_FORWARDED_FOR.
        for (let i = 0; i < 2; i++) {
          statuses.push((await app.inject({ url: '/', headers: { 'x-forwarded-for': '198.51.100.1' } })).statusCode);
        }
      });
      deepStrictEqual([statuses, calls, unhandled], [[200, 429], 1, []]);
    });
  });

  describe(`${name}: pending decisions`, () => {
    test("a decide returning another realm's promise (a thenable, not a Promise) is awaited", async () => {
      const OtherPromise = runInNewContext('Promise') as PromiseConstructor;
      ok(!(OtherPromise.resolve() instanceof Promise));
      const { limiter } = slidingLimiter(1, 60_000);
      const app = await appWith({
        limiter: { ...limiter, decide: (key, cost) => OtherPromise.resolve(limiter.decide(key, cost)) },
      });
      const first = await app.inject('/');
      deepStrictEqual([first.statusCode, first.headers['ratelimit-remaining']], [200, '0']);
      const second = await app.inject('/');
      deepStrictEqual([second.statusCode, second.headers['retry-after']], [429, '60']);
    });
  });

  describe(`${name}: keys, cost, skip, shadow`, () => {
    test('keyGenerator, sync and async', async () => {
      for (const keyGenerator of [
        (r: FastifyRequest) => String(r.headers['x-user'] ?? 'anon'),
        async (r: FastifyRequest) => String(r.headers['x-user'] ?? 'anon'),
      ]) {
        const app = await appWith({ limiter: slidingLimiter(1, 1_000).limiter, keyGenerator });
        const get = (user: string) => app.inject({ url: '/', headers: { 'x-user': user } });
        strictEqual((await get('a')).statusCode, 200);
        strictEqual((await get('a')).statusCode, 429);
        strictEqual((await get('b')).statusCode, 200);
      }
    });

    test('cost as a number, a sync and an async function', async () => {
      for (const cost of [3, () => 3, async () => 3]) {
        const app = await appWith({ limiter: slidingLimiter(7, 1_000).limiter, cost });
        strictEqual((await app.inject('/')).headers['ratelimit-remaining'], '4');
        strictEqual((await app.inject('/')).headers['ratelimit-remaining'], '1');
        strictEqual((await app.inject('/')).statusCode, 429);
      }
    });

    test('a cost function returning 0 is a free request: not charged, let through on a spent key, not on a blocked one', async () => {
      for (const cost of [
        (r: FastifyRequest) => (r.url.includes('free') ? 0 : 1),
        async (r: FastifyRequest) => (r.url.includes('free') ? 0 : 1),
      ]) {
        const { limiter } = slidingLimiter(1, 1_000);
        const app = await appWith({ limiter, cost });
        const free = await app.inject('/?free');
        deepStrictEqual([free.statusCode, free.headers['ratelimit-remaining']], [200, '1']);
        strictEqual((await app.inject('/')).statusCode, 200);
        const spent = await app.inject('/?free');
        deepStrictEqual(
          [spent.statusCode, spent.headers['ratelimit-remaining'], spent.headers['retry-after']],
          [200, '0', undefined],
        );
        strictEqual((await app.inject('/')).statusCode, 429);
        // A blocked key denies even a free request.
        await limiter.block('127.0.0.1', { durationMs: 60_000 });
        const blocked = await app.inject('/?free');
        deepStrictEqual([blocked.statusCode, blocked.headers['retry-after']], [429, '60']);
      }
    });

    test('a cost function returning undefined fails the request with ERR_INVALID_COST, as null does, and charges nothing', async () => {
      const costs: Record<string, number> = { '/report': 2 };
      for (const cost of [
        (r: FastifyRequest) => costs[r.url] as number,
        async (r: FastifyRequest) => costs[r.url] as number,
        () => null as unknown as number,
      ]) {
        const { limiter } = slidingLimiter(2, 1_000);
        const app = await appWith({ limiter, cost });
        const res = await app.inject('/');
        deepStrictEqual(
          [res.statusCode, res.json().code, res.json().message],
          [
            500,
            'ERR_INVALID_COST',
            `cost must be a non-negative integer, got ${cost.length === 0 ? 'null' : 'undefined'}`,
          ],
          String(cost),
        );
        strictEqual((await limiter.peek('127.0.0.1')).remaining, 2);
      }
    });

    test('skip, sync and async: skipped requests get no headers and cost nothing', async () => {
      for (const skip of [
        (r: FastifyRequest) => r.url.includes('free'),
        async (r: FastifyRequest) => r.url.includes('free'),
      ]) {
        const app = await appWith({ limiter: slidingLimiter(1, 1_000).limiter, skip });
        const skipped = await app.inject('/?free');
        strictEqual(skipped.statusCode, 200);
        strictEqual(skipped.headers['ratelimit-limit'], undefined);
        strictEqual((await app.inject('/')).statusCode, 200);
        strictEqual((await app.inject('/')).statusCode, 429);
        strictEqual((await app.inject('/?free')).statusCode, 200);
      }
    });

    test('shadow: decides, sets headers and fires hooks, never blocks', async () => {
      const limited: number[] = [];
      const decided: boolean[] = [];
      const app = await appWith({
        limiter: slidingLimiter(1, 1_000).limiter,
        shadow: true,
        onLimited: (_r, _reply, d) => limited.push(d.retryAfterMs),
        onDecision: (_r, d) => decided.push(d.allowed),
      });
      for (let i = 0; i < 3; i++) {
        const res = await app.inject('/');
        strictEqual(res.statusCode, 200);
        strictEqual(res.headers['retry-after'], undefined);
        strictEqual(res.headers['ratelimit-remaining'], '0');
      }
      deepStrictEqual(decided, [true, false, false]);
      deepStrictEqual(limited, [1_000, 1_000]);
    });

    test('IPv6 clients are grouped by /56 through a trusted X-Forwarded-For', async () => {
      const app = await appWith({ limiter: slidingLimiter(2, 60_000).limiter }, undefined, { trustProxy: '127.0.0.1' });
      const get = (ip: string) => app.inject({ url: '/', headers: { 'x-forwarded-for': ip } });
      strictEqual((await get('2001:db8:1:200::1')).statusCode, 200);
      strictEqual((await get('2001:db8:1:2ff:aaaa::9')).statusCode, 200);
      strictEqual((await get('2001:DB8:1:2AB::7')).statusCode, 429);
      strictEqual((await get('2001:db8:1:300::1')).statusCode, 200);
    });

    test('an IPv4-mapped address counts as its IPv4 address; ipv6Subnet: false splits a /56', async () => {
      const app = await appWith({ limiter: slidingLimiter(2, 60_000).limiter }, undefined, { trustProxy: '127.0.0.1' });
      const get = (ip: string) => app.inject({ url: '/', headers: { 'x-forwarded-for': ip } });
      strictEqual((await get('::ffff:203.0.113.7')).statusCode, 200);
      strictEqual((await get('203.0.113.7')).statusCode, 200);
      strictEqual((await get('::ffff:cb00:7107')).statusCode, 429);
      strictEqual((await get('203.0.113.8')).statusCode, 200);
      const split = await appWith({ limiter: slidingLimiter(1, 60_000).limiter, ipv6Subnet: false }, undefined, {
        trustProxy: '127.0.0.1',
      });
      const getSplit = (ip: string) => split.inject({ url: '/', headers: { 'x-forwarded-for': ip } });
      strictEqual((await getSplit('2001:db8::1')).statusCode, 200);
      strictEqual((await getSplit('2001:db8::2')).statusCode, 200);
      strictEqual((await getSplit('2001:db8:0::1')).statusCode, 429);
    });

    test('20 IPv4 clients seen through NAT64 (64:ff9b::/96) get a key each, their IPv4 one', async () => {
      const app = await appWith({ limiter: slidingLimiter(1, 60_000).limiter });
      const from = (remoteAddress: string) => app.inject({ url: '/', remoteAddress });
      const statuses: number[] = [];
      for (let i = 1; i <= 20; i++) statuses.push((await from(`64:ff9b::203.0.113.${i}`)).statusCode);
      deepStrictEqual(statuses, Array(20).fill(200));
      // The same client over IPv4, or in another spelling, is the same key.
      strictEqual((await from('203.0.113.1')).statusCode, 429);
      strictEqual((await from('64:ff9b::cb00:7102')).statusCode, 429);
      // Just outside the /96: an ordinary IPv6 address, grouped by /56.
      strictEqual((await from('64:ff9b::1:cb00:7101')).statusCode, 200);
      strictEqual((await from('64:ff9b::1:cb00:7102')).statusCode, 429);
    });

    test('the socket address is grouped too (no proxy)', async () => {
      const app = await appWith({ limiter: slidingLimiter(1, 60_000).limiter });
      strictEqual((await app.inject({ url: '/', remoteAddress: '2001:db8:7:100::1' })).statusCode, 200);
      strictEqual((await app.inject({ url: '/', remoteAddress: '2001:db8:7:1ff::2' })).statusCode, 429);
    });
  });

  describe(`${name}: warnings, once`, () => {
    test('a register that was not awaited, so no route is limited, is told at ready; an awaited one is quiet', async () => {
      const sink = warnings();
      const app = Fastify();
      void app.register(floodgate, { limiter: slidingLimiter(1, 60_000).limiter, warn: sink.warn });
      app.get('/', async () => 'ok');
      await app.ready();
      // The premise: the route was declared before the plugin loaded, and is not limited.
      deepStrictEqual([(await app.inject('/')).statusCode, (await app.inject('/')).statusCode], [200, 200]);
      deepStrictEqual(sink.codes, ['FLOODGATE_NO_ROUTES']);
      const quiet = warnings();
      const limited = await appWith({ limiter: slidingLimiter(1, 60_000).limiter, warn: quiet.warn });
      strictEqual((await limited.inject('/')).statusCode, 200);
      strictEqual((await limited.inject('/')).statusCode, 429);
      deepStrictEqual(quiet.codes, []);
    });

    test('X-Forwarded-For while trustProxy is off', async () => {
      const sink = warnings();
      const app = await appWith({ limiter: slidingLimiter(2, 60_000).limiter, warn: sink.warn });
      await app.inject('/');
      deepStrictEqual(sink.codes, []);
      strictEqual((await app.inject({ url: '/', headers: { 'x-forwarded-for': '198.51.100.1' } })).statusCode, 200);
      strictEqual((await app.inject({ url: '/', headers: { 'x-forwarded-for': '198.51.100.2' } })).statusCode, 429);
      deepStrictEqual(sink.codes, ['FLOODGATE_UNTRUSTED_FORWARDED_FOR']);
    });

    test('trustProxy: true, at registration; trusted addresses are quiet', async () => {
      const sink = warnings();
      const app = await appWith({ limiter: slidingLimiter(9, 60_000).limiter, warn: sink.warn }, undefined, {
        trustProxy: true,
      });
      for (let i = 0; i < 3; i++) await app.inject({ url: '/', headers: { 'x-forwarded-for': `198.51.100.${i}` } });
      deepStrictEqual(sink.codes, ['FLOODGATE_TRUST_ALL_PROXIES']);
      // The advice fits Fastify: addresses, never a hop count (which Fastify 5 ignores, see below).
      ok(sink.messages[0]?.includes("set it to your proxies' addresses or ranges"), sink.messages[0]);
      ok(sink.messages[0]?.includes('not to a hop count'), sink.messages[0]);
      const quiet = warnings();
      const listed = await appWith({ limiter: slidingLimiter(9, 60_000).limiter, warn: quiet.warn }, undefined, {
        trustProxy: '127.0.0.1',
      });
      for (let i = 0; i < 3; i++) await listed.inject({ url: '/', headers: { 'x-forwarded-for': `198.51.100.${i}` } });
      deepStrictEqual(quiet.codes, []);
    });

    test('a hop count is warned about exactly when Fastify ignores it (Fastify 5.12 does)', async () => {
      // Fastify 5.12 dropped hop counts from its types as well; the option still reaches it.
      const hopCount = { trustProxy: 1 } as unknown as FastifyServerOptions;
      const probe = Fastify(hopCount);
      probe.get('/', async (request) => request.ip);
      const used =
        (await probe.inject({ url: '/', headers: { 'x-forwarded-for': '198.51.100.1' } })).body !== '127.0.0.1';
      if (name === 'Fastify 5') strictEqual(used, false);
      if (name === 'Fastify 4') strictEqual(used, true);
      const sink = warnings();
      const app = await appWith({ limiter: slidingLimiter(9, 60_000).limiter, warn: sink.warn }, undefined, hopCount);
      for (let i = 0; i < 3; i++) await app.inject({ url: '/', headers: { 'x-forwarded-for': `198.51.100.${i}` } });
      deepStrictEqual(sink.codes, used ? [] : ['FLOODGATE_UNTRUSTED_FORWARDED_FOR']);
    });
  });

  describe(`${name}: per-route config`, () => {
    test("a route option set to undefined keeps the plugin's, as an absent one does", async () => {
      // As a route config spread from an object of defaults would carry them.
      const defaults = { keyGenerator: undefined, skip: undefined, message: undefined, requestPropertyName: undefined };
      const app = await appWith(
        {
          limiter: slidingLimiter(1, 60_000).limiter,
          keyGenerator: (request) => `user:${request.headers['x-user']}`,
          skip: (request) => request.headers['x-internal'] === '1',
          message: 'plugin message',
          requestPropertyName: 'quota',
        },
        (app) => {
          const seen = async (request: FastifyRequest) =>
            (request as unknown as { quota?: { key: string } }).quota?.key ?? 'none';
          app.get('/absent', { config: { rateLimit: { cost: 1 } } }, seen);
          app.get('/spread', { config: { rateLimit: { cost: 1, ...defaults } } }, seen);
        },
      );
      for (const url of ['/absent', '/spread']) {
        const user = url.slice(1);
        const first = await app.inject({ url, headers: { 'x-user': user } });
        const internal = await app.inject({ url, headers: { 'x-user': user, 'x-internal': '1' } });
        const second = await app.inject({ url, headers: { 'x-user': user } });
        deepStrictEqual(
          [first.body, internal.statusCode, internal.body, second.statusCode, second.json().message],
          [`user:${user}`, 200, 'none', 429, 'plugin message'],
          url,
        );
      }
    });

    test('registered at the root and again in a plugin, a route naming its own limiter is charged by it once', async () => {
      const outer = slidingLimiter(100, 60_000).limiter;
      const inner = slidingLimiter(50, 60_000).limiter;
      const login = slidingLimiter(4, 60_000).limiter;
      const app = Fastify();
      await app.register(floodgate, { limiter: outer, warn: false });
      await app.register(async (api) => {
        await api.register(floodgate, { limiter: inner, warn: false });
        api.post('/login', { config: { rateLimit: { limiter: login } } }, async () => 'ok');
        api.get('/heavy', { config: { rateLimit: { cost: 2 } } }, async () => 'heavy');
      });
      await app.ready();
      const seen: [number, unknown, unknown][] = [];
      for (let i = 0; i < 5; i++) {
        const res = await app.inject({ method: 'POST', url: '/login' });
        seen.push([res.statusCode, res.headers['ratelimit-remaining'], res.headers['ratelimit-policy']]);
      }
      deepStrictEqual(seen, [
        [200, '3', '4;w=60'],
        [200, '2', '4;w=60'],
        [200, '1', '4;w=60'],
        [200, '0', '4;w=60'],
        [429, '0', '4;w=60'],
      ]);
      strictEqual((await outer.peek('127.0.0.1')).remaining, 100, 'the limit of the route alone');
      strictEqual((await inner.peek('127.0.0.1')).remaining, 50);
      // A config with no limiter of its own still applies to each registration's limiter.
      strictEqual((await app.inject('/heavy')).statusCode, 200);
      strictEqual((await outer.peek('127.0.0.1')).remaining, 98);
      strictEqual((await inner.peek('127.0.0.1')).remaining, 48);
      await app.close();
    });

    test('opt out with rateLimit: false; override limiter and cost per route', async () => {
      const uploads = slidingLimiter(10, 60_000).limiter;
      const app = await appWith({ limiter: slidingLimiter(2, 60_000).limiter }, (a) => {
        a.get('/health', { config: { rateLimit: false } }, async () => 'up');
        a.post('/upload', { config: { rateLimit: { limiter: uploads, cost: () => 5 } } }, async () => 'stored');
        a.get('/heavy', { config: { rateLimit: { cost: 2 } } }, async () => 'heavy');
      });
      for (let i = 0; i < 5; i++) {
        const res = await app.inject('/health');
        strictEqual(res.statusCode, 200);
        strictEqual(res.headers['ratelimit-limit'], undefined);
      }
      const uploadsSeen: [number, unknown][] = [];
      for (let i = 0; i < 3; i++) {
        const res = await app.inject({ method: 'POST', url: '/upload' });
        uploadsSeen.push([res.statusCode, res.headers['ratelimit-remaining']]);
      }
      deepStrictEqual(uploadsSeen, [
        [200, '5'],
        [200, '0'],
        [429, '0'],
      ]);
      // /heavy keeps the plugin's limiter (limit 2) at cost 2: one call uses it all, for / too.
      strictEqual((await app.inject('/heavy')).statusCode, 200);
      strictEqual((await app.inject('/')).statusCode, 429);
    });

    test('per-route inline algorithm: one limiter per config object, shared by GET and HEAD', async () => {
      const app = await appWith({ limiter: slidingLimiter(100, 60_000).limiter }, (a) => {
        a.get(
          '/login',
          {
            config: { rateLimit: { algorithm: slidingWindowLog({ limit: 2, windowMs: 60_000 }), headers: 'draft-8' } },
          },
          async () => 'in',
        );
      });
      strictEqual((await app.inject('/login')).headers.ratelimit, '"default";r=1;t=60');
      strictEqual((await app.inject({ method: 'HEAD', url: '/login' })).headers.ratelimit, '"default";r=0;t=60');
      strictEqual((await app.inject('/login')).statusCode, 429);
      strictEqual((await app.inject('/')).headers['ratelimit-remaining'], '99');
    });

    test('global: false limits only routes that ask, with rateLimit: true or options', async () => {
      const app = await appWith({ limiter: slidingLimiter(1, 60_000).limiter, global: false }, (a) => {
        a.get('/limited', { config: { rateLimit: true } }, async () => 'yes');
        a.get('/own', { config: { rateLimit: { limiter: slidingLimiter(1, 60_000).limiter } } }, async () => 'own');
      });
      for (let i = 0; i < 3; i++) strictEqual((await app.inject('/')).statusCode, 200);
      strictEqual((await app.inject('/limited')).statusCode, 200);
      strictEqual((await app.inject('/limited')).statusCode, 429);
      strictEqual((await app.inject('/own')).statusCode, 200);
      strictEqual((await app.inject('/own')).statusCode, 429);
    });

    test('global: false needs no plugin limiter when every route brings its own', async () => {
      const app = await appWith({ global: false, headers: 'draft-7' }, (a) => {
        a.get(
          '/own',
          { config: { rateLimit: { algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }) } } },
          async () => 'own',
        );
      });
      strictEqual((await app.inject('/own')).headers.ratelimit, 'limit=1, remaining=0, reset=60');
      strictEqual((await app.inject('/own')).statusCode, 429);
      strictEqual((await app.inject('/')).headers.ratelimit, undefined);
    });

    test("hook: 'preHandler' runs after the route's own preHandlers, so keys can use them", async () => {
      const app = Fastify();
      app.decorateRequest('user', '');
      await app.register(floodgate, {
        limiter: slidingLimiter(1, 60_000).limiter,
        hook: 'preHandler',
        keyGenerator: (request) => request.user,
        warn: false,
      });
      app.get(
        '/me',
        {
          preHandler: (request, _reply, done) => {
            request.user = String(request.headers['x-user']);
            done();
          },
        },
        async () => 'me',
      );
      const get = (user: string) => app.inject({ url: '/me', headers: { 'x-user': user } });
      strictEqual((await get('ann')).statusCode, 200);
      strictEqual((await get('ann')).statusCode, 429);
      strictEqual((await get('bob')).statusCode, 200);
    });
  });

  describe(`${name}: types`, () => {
    test('config.rateLimit is typed on every route (checked by tsc)', async () => {
      const app = Fastify();
      await app.register(floodgate, { limiter: slidingLimiter(1, 1_000).limiter, warn: false });
      app.get(
        '/typed',
        { config: { rateLimit: { cost: (request) => request.url.length, headers: 'draft-8' } } },
        async () => 't',
      );
      const badCost = () =>
        // @ts-expect-error cost is a number or a function
        app.get('/cost', { config: { rateLimit: { cost: '5' } } }, async () => 'c');
      throws(badCost, /cost must be a function/);
      const five = () =>
        // @ts-expect-error a primitive other than true or false is refused by tsc too
        app.get('/five', { config: { rateLimit: 5 } }, async () => 'f');
      throws(five, /config.rateLimit must be true, false/);
      // Unknown names are not a type error: Fastify infers a route's own config type from the
      // literal and intersects it with ours. The plugin rejects them when the route is added.
      throws(
        () => app.get('/unknown', { config: { rateLimit: { windowMs: 5 } } }, async () => 'u'),
        /floodgate \(route GET \/unknown\): unknown option "windowMs"/,
      );
    });
  });

  describe(`${name}: plugin metadata and encapsulation`, () => {
    test("named 'floodgate', for Fastify 4.x || 5.x, visible through hasPlugin", async () => {
      const meta = (floodgate as unknown as Record<symbol, { name: string; fastify: string }>)[
        Symbol.for('plugin-meta')
      ];
      deepStrictEqual([meta?.name, meta?.fastify], ['floodgate', '4.x || 5.x']);
      const app = await appWith({ limiter: slidingLimiter(1, 1_000).limiter });
      strictEqual(app.hasPlugin('floodgate'), true);
    });

    test('registered inside a plugin, it limits that plugin only', async () => {
      const app = Fastify();
      let childHas = false;
      await app.register(async (child) => {
        await child.register(floodgate, { limiter: slidingLimiter(1, 60_000).limiter, warn: false });
        childHas = child.hasPlugin('floodgate');
        child.get('/inner', async () => 'inner');
      });
      app.get('/outer', async () => 'outer');
      await app.ready();
      strictEqual(childHas, true);
      strictEqual(app.hasPlugin('floodgate'), false);
      strictEqual((await app.inject('/inner')).statusCode, 200);
      strictEqual((await app.inject('/inner')).statusCode, 429);
      for (let i = 0; i < 3; i++) {
        const res = await app.inject('/outer');
        strictEqual(res.statusCode, 200);
        strictEqual(res.headers['ratelimit-limit'], undefined);
      }
    });

    test('registered at the root, it reaches routes in child plugins', async () => {
      const app = Fastify();
      await app.register(floodgate, { limiter: slidingLimiter(1, 60_000).limiter, warn: false });
      await app.register(
        async (child) => {
          child.get('/nested', async () => 'nested');
        },
        { prefix: '/v1' },
      );
      strictEqual((await app.inject('/v1/nested')).statusCode, 200);
      strictEqual((await app.inject('/v1/nested')).statusCode, 429);
    });
  });

  describe(`${name}: store failures follow onStoreError`, () => {
    for (const async of [false, true]) {
      const kind = async ? 'async' : 'sync';
      test(`allow (${kind}), then recovery`, async () => {
        const store = new SwitchableStore({ async });
        const limiter = createLimiter({
          algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }),
          store,
          onOutage: () => {},
        });
        const app = await appWith({ limiter });
        for (let i = 0; i < 3; i++) strictEqual((await app.inject('/')).statusCode, 200);
        store.failing = false;
        strictEqual((await app.inject('/')).statusCode, 200);
        strictEqual((await app.inject('/')).statusCode, 429);
      });

      test(`deny (${kind})`, async () => {
        const limiter = createLimiter({
          algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }),
          store: new SwitchableStore({ async }),
          onStoreError: 'deny',
          onOutage: () => {},
        });
        const res = await (await appWith({ limiter })).inject('/');
        deepStrictEqual([res.statusCode, res.headers['retry-after']], [429, '1']);
      });

      test(`throw (${kind}): the error handler answers, no crash, no hang`, async () => {
        const limiter = createLimiter({
          algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }),
          store: new SwitchableStore({ async }),
          onStoreError: 'throw',
          onOutage: () => {},
        });
        const seen: unknown[] = [];
        const app = Fastify();
        app.setErrorHandler((error, _request, reply) => {
          seen.push(isFloodgateError(error) ? error.code : error);
          void reply.code(503).send({ down: true });
        });
        await app.register(floodgate, { limiter, warn: false });
        app.get('/', async () => 'ok');
        const res = await app.inject('/');
        deepStrictEqual([res.statusCode, res.json(), seen], [503, { down: true }, ['ERR_STORE']]);
        const plain = await (await appWith({ limiter })).inject('/');
        deepStrictEqual([plain.statusCode, plain.json().code], [500, 'ERR_STORE']);
      });

      test(`fallback store (${kind})`, async () => {
        const limiter = createLimiter({
          algorithm: slidingWindowLog({ limit: 2, windowMs: 60_000 }),
          store: new SwitchableStore({ async }),
          onStoreError: new MemoryStore({ sweepIntervalMs: false }),
          onOutage: () => {},
        });
        const app = await appWith({ limiter });
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) statuses.push((await app.inject('/')).statusCode);
        deepStrictEqual(statuses, [200, 200, 429]);
      });
    }
  });

  describe(`${name}: options are checked at registration`, () => {
    const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 1, windowMs: 1_000 }) });
    const register = (options: unknown) => {
      const app = Fastify();
      app.register(floodgate, options as FloodgatePluginOptions);
      return app.ready();
    };

    test('plugin options', async () => {
      await rejectsOption(
        register({ limiter, windowMS: 5 }),
        'floodgate: unknown option "windowMS"; allowed options are limiter, algorithm, policies, store, prefix, blockDurationMs, onStoreError, onOutage, headers, statusCode, skip, cost, keyGenerator, ipv6Subnet, shadow, onDecision, onLimited, skipFailedRequests, skipSuccessfulRequests, requestWasSuccessful, requestPropertyName, message, global, hook, warn',
      );
      await rejectsOption(
        register({}),
        'floodgate: limiter or algorithm/policies is required unless global is false, got neither',
      );
      await rejectsOption(
        register({ limiter, hook: 'onSend' }),
        "floodgate: hook must be 'onRequest' or 'preHandler', got \"onSend\"",
      );
      await rejectsOption(register({ limiter, global: 1 }), 'floodgate: global must be true or false, got 1');
      await rejectsOption(
        register({ limiter, message: 5 }),
        'floodgate: message must be a string or a function returning one, got 5',
      );
      await rejectsOption(
        register({ limiter, statusCode: 600 }),
        'floodgate: statusCode must be an integer HTTP status from 400 to 599, got 600',
      );
      await rejectsOption(
        register({ global: false, message: {} }),
        'floodgate: message must be a string or a function returning one, got an object (Object)',
      );
    });

    test('a fixed cost of 0 is refused, for the plugin and for a route: it would never limit', async () => {
      const message = (owner: string) =>
        `${owner}: cost must be a function or a positive integer no larger than the smallest limit (1), got 0: a fixed cost of 0 charges nothing, so it would never limit; use skip to leave requests unlimited, or a cost function returning 0 for the ones that are free`;
      await rejectsOption(register({ limiter, cost: 0 }), message('floodgate'));
      await rejectsOption(register({ global: false, cost: 0 }), message('floodgate').replace(' (1)', ''));
      const app = Fastify();
      app.register(floodgate, { limiter, warn: false });
      app.register(async (child) => {
        child.get('/r', { config: { rateLimit: { cost: 0 } } }, async () => 'r');
      });
      await rejectsOption(app.ready(), message('floodgate (route GET /r)'));
    });

    test('hook: null is rejected, not read as the default', async () => {
      await rejectsOption(
        register({ limiter, hook: null }),
        "floodgate: hook must be 'onRequest' or 'preHandler', got null",
      );
    });

    test('global: false without a plugin limiter still checks every option at registration', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [
          { headers: 'draft-99' },
          "floodgate: headers must be 'draft-6', 'draft-7', 'draft-8', 'legacy', a list of these, or false, got \"draft-99\"",
        ],
        [{ statusCode: 200 }, 'floodgate: statusCode must be an integer HTTP status from 400 to 599, got 200'],
        [{ shadow: 'yes' }, 'floodgate: shadow must be true or false, got "yes"'],
        [
          { ipv6Subnet: 500 },
          'floodgate: ipv6Subnet must be an integer prefix length from 1 to 128, or false, got 500',
        ],
        [{ skip: 42 }, 'floodgate: skip must be a function, got 42'],
        [{ keyGenerator: 'ip' }, 'floodgate: keyGenerator must be a function, got "ip"'],
        [{ onDecision: {} }, 'floodgate: onDecision must be a function, got an object (Object)'],
        [{ onLimited: true }, 'floodgate: onLimited must be a function, got true'],
        [{ skipFailedRequests: 'yes' }, 'floodgate: skipFailedRequests must be true or false, got "yes"'],
        [{ requestWasSuccessful: 42 }, 'floodgate: requestWasSuccessful must be a function, got 42'],
        [
          { cost: '2' },
          'floodgate: cost must be a function or a positive integer no larger than the smallest limit, got "2"',
        ],
        [
          { cost: 1.5 },
          'floodgate: cost must be a function or a positive integer no larger than the smallest limit, got 1.5',
        ],
      ];
      for (const [options, message] of cases) await rejectsOption(register({ global: false, ...options }), message);
      // Only a fixed cost's bound waits: it is the smallest limit of the limiter each route brings.
      const app = Fastify();
      await app.register(floodgate, { global: false, cost: 2, warn: false });
      throws(
        () => app.get('/r', { config: { rateLimit: { limiter } } }, async () => 'r'),
        /^FloodgateError: floodgate \(route GET \/r\): cost must be a function or a positive integer no larger than the smallest limit \(1\), got 2$/,
      );
    });

    test('route configs, when the route is added', async () => {
      const withRoute = (config: unknown, options: FloodgatePluginOptions = { limiter }) => {
        const app = Fastify();
        app.register(floodgate, { warn: false, ...options });
        app.register(async (child) => {
          child.get('/r', { config: { rateLimit: config as boolean } }, async () => 'r');
        });
        return app.ready();
      };
      await rejectsOption(
        withRoute({ global: true }),
        'floodgate (route GET /r): unknown option "global"; allowed options are limiter, algorithm, policies, store, prefix, blockDurationMs, onStoreError, onOutage, headers, statusCode, skip, cost, keyGenerator, ipv6Subnet, shadow, onDecision, onLimited, skipFailedRequests, skipSuccessfulRequests, requestWasSuccessful, requestPropertyName, message',
      );
      await rejectsOption(
        withRoute({ cost: -1 }),
        'floodgate (route GET /r): cost must be a function or a positive integer no larger than the smallest limit (1), got -1',
      );
      await rejectsOption(
        withRoute(true, { global: false }),
        'floodgate (route GET /r): config.rateLimit is true but the plugin has no limiter; give the route its own',
      );
      await rejectsOption(
        withRoute({ cost: 1 }, { global: false }),
        'floodgate (route GET /r): limiter or algorithm/policies is required (the plugin has none), got neither',
      );
      await rejectsOption(
        withRoute({ prefix: 'other' }),
        'floodgate (route GET /r): prefix given without algorithm or policies; give algorithm or policies with it, or a limiter',
      );
      // createLimiter checks inline limiter options; its message is given under the plugin's name.
      await rejectsOption(
        withRoute({ algorithm: slidingWindowLog({ limit: 2, windowMs: 1000 }), prefix: '' }),
        'floodgate (route GET /r): prefix must be a non-empty string, got ""',
      );
      for (const [value, shown] of [
        [5, '5'],
        ['on', '"on"'],
        [null, 'null'],
      ] as const) {
        await rejectsOption(
          withRoute(value),
          `floodgate (route GET /r): config.rateLimit must be true, false, or an object of route options (limiter, algorithm, cost, keyGenerator, …), got ${shown}`,
        );
      }
    });
  });
}
