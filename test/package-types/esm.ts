/**
 * A small app that imports every entry point as an ES module. test/package-types.test.ts
 * type-checks it against the built package under each `moduleResolution` a user may have
 * (node10, node16, bundler); it is never run. Each `@ts-expect-error` proves that an entry's
 * types were found and are not `any`.
 */
import express from 'express';
import Fastify, { type FastifyPluginCallback } from 'fastify';
import {
  createLimiter,
  type Decision,
  type FloodgateErrorCode,
  MemoryStore,
  RedisStore,
  slidingWindowLog,
} from 'floodgate';
import { type RateLimitOptions, rateLimit } from 'floodgate/express';
import floodgate, { type FloodgatePluginOptions, type RateLimitedError } from 'floodgate/fastify';
import { type ContractScenario, storeContract } from 'floodgate/testing';
import { Redis } from 'ioredis';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_proof: T): void {}

const limiter = createLimiter({
  algorithm: slidingWindowLog({ limit: 100, windowMs: 60_000 }),
  store: new MemoryStore(),
});

export const shared = createLimiter({
  algorithm: slidingWindowLog({ limit: 100, windowMs: 60_000 }),
  store: new RedisStore({ client: new Redis({ lazyConnect: true }), timeoutMs: 50 }),
});

const app = express();
app.use(rateLimit({ limiter, statusCode: 429 }));

const server = Fastify();
void server.register(floodgate, { limiter, hook: 'preHandler' });

export async function check(): Promise<void> {
  const d = await limiter.consume('user:42');
  expectType<Equal<typeof d, Decision>>(true);
  expectType<Equal<typeof d.retryAfterMs, number>>(true);
  expectType<Equal<RateLimitOptions['statusCode'], number | undefined>>(true);
  expectType<Equal<typeof floodgate, FastifyPluginCallback<FloodgatePluginOptions>>>(true);
  expectType<Equal<RateLimitedError['decision'], Decision>>(true);
  expectType<Equal<typeof storeContract, readonly ContractScenario[]>>(true);
  const code: FloodgateErrorCode = 'ERR_INVALID_OPTION';
  void code;
}

export function misuse(): void {
  // @ts-expect-error a limit is a number
  slidingWindowLog({ limit: '100', windowMs: 60_000 });
  // @ts-expect-error a client is an ioredis instance, not its options
  new RedisStore({ client: { host: '127.0.0.1' } });
  // @ts-expect-error a status code is a number
  rateLimit({ limiter, statusCode: '429' });
  // @ts-expect-error the hook is 'onRequest' or 'preHandler'
  void server.register(floodgate, { limiter, hook: 'onSend' });
  // @ts-expect-error the contract is a list of scenarios
  const count: number = storeContract;
  void count;
}
