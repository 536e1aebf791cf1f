import { deepStrictEqual, strictEqual, throws } from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLimiter, slidingWindowLog } from 'floodgate';
import { ipKeyGenerator as expressIpKey, rateLimit } from 'floodgate/express';
import floodgate, { ipKeyGenerator as fastifyIpKey } from 'floodgate/fastify';
import request from 'supertest';
import { expressVersions, fastifyVersions, slidingLimiter } from './helpers/http.js';

describe('ipKeyGenerator, from both adapter subpaths', () => {
  for (const [label, ipKeyGenerator] of [
    ['floodgate/express', expressIpKey],
    ['floodgate/fastify', fastifyIpKey],
  ] as const) {
    test(`${label}: the default key's rules, /56 unless told otherwise`, () => {
      deepStrictEqual(
        [
          ipKeyGenerator('203.0.113.7'),
          ipKeyGenerator('2001:db8:1:2ff::9'),
          ipKeyGenerator('2001:DB8:1:2ff:0::9'),
          ipKeyGenerator('2001:db8:1:2ff::9', 64),
          ipKeyGenerator('2001:db8:1:2ff::9', false),
          ipKeyGenerator('::ffff:203.0.113.7'),
          ipKeyGenerator('64:ff9b::cb00:7107'),
          ipKeyGenerator('64:ff9b::cb00:7107', 32),
        ],
        [
          '203.0.113.7',
          '2001:db8:1:200::/56',
          '2001:db8:1:200::/56',
          '2001:db8:1:2ff::/64',
          '2001:db8:1:2ff::9',
          '203.0.113.7',
          '203.0.113.7',
          '203.0.113.7',
        ],
      );
      throws(
        () => ipKeyGenerator('::1', 0),
        /^FloodgateError: ipKeyGenerator: ipv6Subnet must be an integer prefix length from 1 to 128, or false, got 0/,
      );
    });
  }

  test('it is what the default key is: a keyGenerator built on it counts the same client alike', async () => {
    const { limiter } = slidingLimiter(1, 60_000);
    const express = expressVersions[0]?.express;
    if (express === undefined) throw new Error('no Express');
    const app = express();
    app.use(rateLimit({ limiter, warn: false, keyGenerator: (req) => `${expressIpKey(req.ip ?? '')}:login` }));
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    strictEqual((await request(app).get('/')).status, 200);
    strictEqual((await limiter.peek('127.0.0.1:login')).remaining, 0);
  });
});

for (const { name, express } of expressVersions) {
  test(`${name}: the middleware exposes its limiter, made inline or given`, async () => {
    const given = createLimiter({ algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }) });
    strictEqual(rateLimit({ limiter: given }).limiter, given);
    const middleware = rateLimit({ algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }), warn: false });
    const app = express();
    app.use(middleware);
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    app.post('/unlock', async (req, res) => {
      await middleware.limiter.reset(req.rateLimit?.key ?? '');
      res.send('unlocked');
    });
    deepStrictEqual(
      [
        (await request(app).get('/')).status,
        (await request(app).get('/')).status,
        (await request(app).post('/unlock')).status,
      ],
      [200, 429, 429],
    );
    await middleware.limiter.reset('127.0.0.1');
    strictEqual((await request(app).get('/')).status, 200);
  });
}

for (const { name, Fastify } of fastifyVersions) {
  test(`${name}: app.floodgate.limiter is the plugin's limiter`, async () => {
    const { limiter } = slidingLimiter(1, 60_000);
    const app = Fastify();
    await app.register(floodgate, { limiter, warn: false });
    strictEqual(app.floodgate.limiter, limiter);
    const bare = Fastify();
    await bare.register(floodgate, { global: false, warn: false });
    strictEqual(bare.floodgate.limiter, undefined);
  });
}
