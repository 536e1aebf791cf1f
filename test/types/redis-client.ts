/**
 * The Redis store takes the clients of the ioredis the user installed. test/types.test.ts checks
 * this file with `ioredis` resolving to ioredis 5 (tsconfig.json) and to ioredis 6
 * (tsconfig.ioredis6.json), the two majors the peer range allows.
 */
import { RedisStore, type RedisStoreOptions } from 'floodgate';
import { Cluster, Redis } from 'ioredis';

export const single = new RedisStore({ client: new Redis({ lazyConnect: true }), timeoutMs: 50 });
export const cluster = new RedisStore({
  client: new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true }),
});
export const options: RedisStoreOptions = { client: new Redis('redis://127.0.0.1:6380', { lazyConnect: true }) };

export function misuse(): void {
  // @ts-expect-error a client is an ioredis instance, not its options
  new RedisStore({ client: { host: '127.0.0.1', port: 6379 } });
}
