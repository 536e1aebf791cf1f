/**
 * The same app as esm.ts, loading every entry point with `require` (`import x = require()`
 * compiles to it). Type-checked by test/package-types.test.ts; never run.
 */
import express = require('express');
import core = require('floodgate');
import expressEntry = require('floodgate/express');
import fastifyEntry = require('floodgate/fastify');
import testing = require('floodgate/testing');
import ioredis = require('ioredis');

import type { FastifyPluginCallback } from 'fastify';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_proof: T): void {}

const limiter = core.createLimiter({
  algorithm: core.slidingWindowLog({ limit: 100, windowMs: 60_000 }),
  store: new core.MemoryStore(),
});

export const shared = core.createLimiter({
  algorithm: core.slidingWindowLog({ limit: 100, windowMs: 60_000 }),
  store: new core.RedisStore({ client: new ioredis.Redis({ lazyConnect: true }), timeoutMs: 50 }),
});

const app = express();
app.use(expressEntry.rateLimit({ limiter, statusCode: 429 }));

export async function check(): Promise<void> {
  const d = await limiter.consume('user:42');
  expectType<Equal<typeof d, core.Decision>>(true);
  expectType<Equal<expressEntry.RateLimitOptions['statusCode'], number | undefined>>(true);
  expectType<Equal<typeof fastifyEntry.default, typeof fastifyEntry.floodgate>>(true);
  expectType<Equal<typeof fastifyEntry.floodgate, FastifyPluginCallback<fastifyEntry.FloodgatePluginOptions>>>(true);
  expectType<Equal<typeof testing.storeContract, readonly testing.ContractScenario[]>>(true);
}

export function misuse(): void {
  // @ts-expect-error a limit is a number
  core.slidingWindowLog({ limit: '100', windowMs: 60_000 });
  // @ts-expect-error a client is an ioredis instance, not its options
  new core.RedisStore({ client: { host: '127.0.0.1' } });
  // @ts-expect-error a status code is a number
  expressEntry.rateLimit({ limiter, statusCode: '429' });
  // @ts-expect-error the contract is a list of scenarios
  const count: number = testing.storeContract;
  void count;
}
