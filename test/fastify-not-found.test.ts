import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Decision } from 'floodgate';
import floodgate, { type FloodgatePluginOptions, RateLimitedError } from 'floodgate/fastify';
import { fastifyVersions, slidingLimiter } from './helpers/http.js';

for (const { name, Fastify } of fastifyVersions) {
  describe(`${name}: the status is the error handler's`, () => {
    test('an error handler that redirects sends the redirect, not a 429 with Location; onLimited still sees the decision', async () => {
      const seen: boolean[] = [];
      const app = Fastify();
      app.setErrorHandler((error, _request, reply) => {
        if (error instanceof RateLimitedError) return reply.redirect('/limited');
        return reply.code(500).send();
      });
      await app.register(floodgate, {
        limiter: slidingLimiter(1, 10_000).limiter,
        warn: false,
        onLimited: (_request, _reply, decision: Decision) => seen.push(decision.allowed),
      });
      app.get('/', async () => 'ok');
      strictEqual((await app.inject('/')).statusCode, 200);
      const res = await app.inject('/');
      deepStrictEqual([res.statusCode, res.headers.location], [302, '/limited']);
      deepStrictEqual(seen, [false]);
    });

    test('an error handler that rewrites the status is obeyed; the default one answers the statusCode option', async () => {
      const app = Fastify();
      app.setErrorHandler((_error, _request, reply) => reply.code(503).send('busy'));
      await app.register(floodgate, { limiter: slidingLimiter(1, 10_000).limiter, warn: false, statusCode: 420 });
      app.get('/', async () => 'ok');
      await app.inject('/');
      const res = await app.inject('/');
      deepStrictEqual([res.statusCode, res.body, res.headers['retry-after']], [503, 'busy', '10']);
      const plain = Fastify();
      await plain.register(floodgate, { limiter: slidingLimiter(1, 10_000).limiter, warn: false, statusCode: 420 });
      plain.get('/', async () => 'ok');
      await plain.inject('/');
      strictEqual((await plain.inject('/')).statusCode, 420);
    });
  });

  describe(`${name}: not-found requests`, () => {
    async function appWith(options: FloodgatePluginOptions, setup?: (app: FastifyInstance) => void) {
      const app = Fastify();
      await app.register(floodgate, { warn: false, ...options });
      app.get('/', async () => 'ok');
      setup?.(app);
      await app.ready();
      return app;
    }

    test('with global (the default), a scan of unknown URLs gets 429s', async () => {
      const app = await appWith({ limiter: slidingLimiter(2, 10_000).limiter });
      const seen = [];
      for (const url of ['/admin', '/wp-login.php', '/.env', '/']) {
        const res = await app.inject(url);
        seen.push([res.statusCode, res.headers['ratelimit-remaining']]);
      }
      deepStrictEqual(seen, [
        [404, '1'],
        [404, '0'],
        [429, '0'],
        [429, '0'],
      ]);
    });

    test("with hook: 'preHandler' too", async () => {
      const app = await appWith({ limiter: slidingLimiter(1, 10_000).limiter, hook: 'preHandler' });
      deepStrictEqual([(await app.inject('/a')).statusCode, (await app.inject('/b')).statusCode], [404, 429]);
    });

    test('with global: false, not-found requests are not limited', async () => {
      const limiter = slidingLimiter(1, 10_000).limiter;
      const app = await appWith({ limiter, global: false });
      for (let i = 0; i < 3; i++) strictEqual((await app.inject('/nope')).statusCode, 404);
      strictEqual((await limiter.peek('127.0.0.1')).remaining, 1);
    });

    test('fastify.rateLimit() limits a custom not-found handler; with options, by its own limiter', async () => {
      const app = await appWith({ limiter: slidingLimiter(1, 10_000).limiter, global: false }, (a) => {
        a.setNotFoundHandler({ preHandler: a.rateLimit() }, (_request, reply) => reply.code(404).send('none'));
      });
      deepStrictEqual([(await app.inject('/x')).statusCode, (await app.inject('/y')).statusCode], [404, 429]);
      const own = slidingLimiter(2, 10_000).limiter;
      const other = await appWith({ limiter: slidingLimiter(100, 10_000).limiter, global: false }, (a) => {
        a.setNotFoundHandler({ preHandler: a.rateLimit({ limiter: own, headers: 'draft-8' }) }, (_request, reply) =>
          reply.code(404).send('none'),
        );
      });
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await other.inject('/x')).statusCode);
      deepStrictEqual(statuses, [404, 404, 429]);
      strictEqual((await other.inject('/')).statusCode, 200);
    });

    test('with global and fastify.rateLimit() on the not-found handler, a request is charged once', async () => {
      const limiter = slidingLimiter(3, 10_000).limiter;
      const app = await appWith({ limiter }, (a) => {
        a.setNotFoundHandler({ preHandler: a.rateLimit() }, (_request, reply) => reply.code(404).send('none'));
      });
      const res = await app.inject('/x');
      deepStrictEqual([res.statusCode, res.headers['ratelimit-remaining']], [404, '2']);
      strictEqual((await limiter.peek('127.0.0.1')).remaining, 2);
    });

    test('fastify.rateLimit() without options when the plugin has no limiter is refused', async () => {
      const app = Fastify();
      await app.register(floodgate, { global: false, warn: false });
      let message = '';
      try {
        app.rateLimit();
      } catch (error) {
        message = (error as Error).message;
      }
      strictEqual(message, 'floodgate: rateLimit() needs options with a limiter: the plugin has none');
    });
  });
}
