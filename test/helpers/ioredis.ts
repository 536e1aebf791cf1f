/**
 * The ioredis the Redis suites build their ioredis clients from: 6 (`ioredis6`, an alias of
 * `ioredis@6`) when `FLOODGATE_TEST_CLIENT=ioredis6`, else 5 (the `ioredis` devDependency). With a
 * node-redis client chosen (./clients.ts), the suites still look at Redis through ioredis 5.
 *
 * Both are typed as ioredis 5's classes: the suites are written once, and the store's own types
 * are checked against ioredis 6's separately (test/types.test.ts).
 */
import { createRequire } from 'node:module';
import * as ioredis5 from 'ioredis';
import * as ioredis6 from 'ioredis6';

import { TEST_CLIENT } from './clients.js';

const chosen = TEST_CLIENT === 'ioredis6' ? '6' : '5';
const chosenModule = (chosen === '6' ? ioredis6 : ioredis5) as unknown as typeof ioredis5;

export const Redis = chosenModule.Redis;
export type Redis = ioredis5.Redis;
export const Cluster = chosenModule.Cluster;
export type Cluster = ioredis5.Cluster;

/** The version of the ioredis in use, read from its package.json, e.g. `6.1.0`. */
export const IOREDIS_VERSION: string = (
  createRequire(import.meta.url)(chosen === '6' ? 'ioredis6/package.json' : 'ioredis/package.json') as {
    version: string;
  }
).version;

/**
 * The wait before reconnect attempt `attempt` (counted from 1) under the default `retryStrategy`
 * of the ioredis in use, as its source has it (node_modules/ioredis/built/redis/RedisOptions.js):
 * ioredis 5 waits `min(attempt × 50, 2000)` ms; ioredis 6 waits `min(2^(attempt-1) × 50, 5000)`
 * ms plus a random 0–199 ms. docs/redis.md quotes both; the fault suite checks them.
 */
export function defaultReconnectDelay(attempt: number): { min: number; max: number } {
  if (chosen === '5') {
    const ms = Math.min(attempt * 50, 2000);
    return { min: ms, max: ms };
  }
  const ms = Math.min(2 ** (attempt - 1) * 50, 5000);
  return { min: ms, max: ms + 199 };
}

/** The longest wait between two reconnect attempts under the default `retryStrategy`. */
export const MAX_RECONNECT_DELAY_MS = chosen === '5' ? 2000 : 5199;
