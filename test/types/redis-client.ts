/**
 * The Redis store takes the clients of the ioredis or node-redis the user installed.
 * test/types.test.ts checks this file with `ioredis` resolving to ioredis 5 (tsconfig.json) and to
 * ioredis 6 (tsconfig.ioredis6.json), and with node-redis 4, 5 and 6 side by side.
 */
import { RedisStore, type RedisStoreOptions } from 'floodgate';
import { Cluster, Redis } from 'ioredis';
import { createClient, createCluster } from 'redis';
import { createClient as createClient4, createCluster as createCluster4 } from 'redis4';
import { createClient as createClient6, createCluster as createCluster6 } from 'redis6';

export const single = new RedisStore({ client: new Redis({ lazyConnect: true }), timeoutMs: 50 });
export const cluster = new RedisStore({
  client: new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true }),
});
export const options: RedisStoreOptions = { client: new Redis('redis://127.0.0.1:6380', { lazyConnect: true }) };

export function misuse(): void {
  // @ts-expect-error a client is an ioredis instance, not its options
  new RedisStore({ client: { host: '127.0.0.1', port: 6379 } });
}

// node-redis 4, 5 and 6: a client from createClient, a cluster from createCluster.
export const nodeRedis5 = new RedisStore({ client: createClient({ url: 'redis://127.0.0.1:6379' }) });
export const nodeRedis5Cluster = new RedisStore({
  client: createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:7000' }] }),
});
export const nodeRedis4 = new RedisStore({ client: createClient4() });
export const nodeRedis4Cluster = new RedisStore({
  client: createCluster4({ rootNodes: [{ url: 'redis://127.0.0.1:7000' }] }),
});
export const nodeRedis6 = new RedisStore({ client: createClient6() });
export const nodeRedis6Cluster = new RedisStore({
  client: createCluster6({ rootNodes: [{ url: 'redis://127.0.0.1:7000' }] }),
});

export function misuseNodeRedis(): void {
  // @ts-expect-error a node-redis client's options are not a client
  new RedisStore({ client: { url: 'redis://127.0.0.1:6379' } });
  // @ts-expect-error a pending connect() is a promise of a client, not one
  new RedisStore({ client: createClient().connect() });
}
