/**
 * The client the Redis suites hand to `RedisStore`, picked by `FLOODGATE_TEST_CLIENT`:
 *
 * - `ioredis5` (the default, the `ioredis` devDependency) or `ioredis6` (`ioredis6`, an alias);
 * - `node-redis4`, `node-redis5` or `node-redis6` (`redis4`, `redis`, `redis6`).
 *
 * CI runs the Redis suites once per client. The suites look at what landed in Redis through an
 * ioredis client of their own (./ioredis.ts), whichever client the store is given, so every
 * assertion about Redis's contents reads the same whatever client wrote them.
 */
import { createRequire } from 'node:module';
import type { RedisClient } from 'floodgate';

const NAMES = ['ioredis5', 'ioredis6', 'node-redis4', 'node-redis5', 'node-redis6'] as const;
export type TestClientName = (typeof NAMES)[number];

function chosenName(): TestClientName {
  const given = process.env.FLOODGATE_TEST_CLIENT ?? 'ioredis5';
  if (!(NAMES as readonly string[]).includes(given)) {
    throw new Error(`FLOODGATE_TEST_CLIENT must be one of ${NAMES.join(', ')}, got ${given}`);
  }
  return given as TestClientName;
}

export const TEST_CLIENT: TestClientName = chosenName();
/** Whether the store's client is a node-redis one (else ioredis). */
export const NODE_REDIS = TEST_CLIENT.startsWith('node-redis');

const require = createRequire(import.meta.url);
const MODULES: Record<TestClientName, string> = {
  ioredis5: 'ioredis',
  ioredis6: 'ioredis6',
  'node-redis4': 'redis4',
  'node-redis5': 'redis',
  'node-redis6': 'redis6',
};
const moduleName = MODULES[TEST_CLIENT];

/** The client library and its version, e.g. `node-redis 5.12.4`, for test names and diagnostics. */
export const TEST_CLIENT_LABEL = `${NODE_REDIS ? 'node-redis' : 'ioredis'} ${
  (require(`${moduleName}/package.json`) as { version: string }).version
}`;

/** What the suites do with a client of either library, beyond handing it to the store. */
interface IoredisLike {
  readonly status: string;
  readonly isCluster: boolean;
  connect(): Promise<void>;
  disconnect(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
}
interface NodeRedisLike {
  readonly isOpen: boolean;
  readonly isReady?: boolean;
  connect(): Promise<unknown>;
  sendCommand(...args: never[]): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<void>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
}
type IoredisModule = {
  Redis: new (url: string, options?: object) => IoredisLike;
  Cluster: new (nodes: { host: string; port: number }[], options?: object) => IoredisLike;
};
type NodeRedisModule = {
  createClient(options: object): NodeRedisLike;
  createCluster(options: object): NodeRedisLike;
};

function ignore(): void {}

/** Options for {@link storeClient}. */
export interface ClientOptions {
  /** Wait between reconnect attempts, in ms; the library's default when not given. */
  readonly reconnectMs?: number;
}

/**
 * A client of the chosen library for the server at `server` (a port on 127.0.0.1, or a URL), with
 * an error listener, connecting now: a suite that needs it ready awaits {@link whenReady}. The
 * library's defaults otherwise, as a user gets them.
 */
export function storeClient(server: number | string, options: ClientOptions = {}): RedisClient {
  const url = typeof server === 'number' ? `redis://127.0.0.1:${server}` : server;
  if (NODE_REDIS) {
    const { createClient } = require(moduleName) as NodeRedisModule;
    const client = createClient({
      url,
      socket: options.reconnectMs === undefined ? {} : { reconnectStrategy: () => options.reconnectMs },
    });
    client.on('error', ignore);
    // Connecting retries until the server is up; its failures come through the error listener.
    client.connect().catch(ignore);
    return client;
  }
  const { Redis } = require(moduleName) as IoredisModule;
  const client = new Redis(url, {
    ...(options.reconnectMs === undefined ? {} : { retryStrategy: () => options.reconnectMs }),
  });
  client.on('error', ignore);
  return client;
}

/** A Cluster client of the chosen library for these masters, with an error listener, connecting now. */
export function storeCluster(nodes: readonly { host: string; port: number }[]): RedisClient {
  if (NODE_REDIS) {
    const { createCluster } = require(moduleName) as NodeRedisModule;
    const client = createCluster({ rootNodes: nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })) });
    client.on('error', ignore);
    client.connect().catch(ignore);
    return client;
  }
  const { Cluster } = require(moduleName) as IoredisModule;
  const client = new Cluster([...nodes]);
  client.on('error', ignore);
  return client;
}

function isNodeRedis(client: RedisClient): client is RedisClient & NodeRedisLike {
  return 'isOpen' in client;
}

/** Whether `client` would take a command now. */
export function isReady(client: RedisClient): boolean {
  if (isNodeRedis(client)) {
    const masters = (client as { masters?: unknown }).masters;
    // A cluster is open before it has found its masters; it takes commands once it has.
    return client.isOpen && client.isReady !== false && !(Array.isArray(masters) && masters.length === 0);
  }
  return (client as unknown as IoredisLike).status === 'ready';
}

/** Resolves once `client` is ready; rejects after `withinMs`. */
export async function whenReady(client: RedisClient, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!isReady(client)) {
    if (Date.now() > deadline) throw new Error(`the ${TEST_CLIENT_LABEL} client was not ready within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Closes `client` at once, dropping what it has queued; never throws. */
export function closeClient(client: RedisClient): void {
  if (isNodeRedis(client)) {
    try {
      if (typeof client.destroy === 'function') client.destroy();
      else void client.disconnect?.().catch(ignore);
    } catch {
      // Already closed.
    }
    return;
  }
  (client as unknown as IoredisLike).disconnect();
}

/**
 * A node-redis client of the chosen version for `server`, with an error listener, whose
 * `connect()` has not been called: the store must answer it without sending. Only for a
 * node-redis run (an ioredis client connects when it is made; see `lazyConnect` for its
 * equivalent).
 */
export function unconnectedClient(server: number | string): RedisClient {
  if (!NODE_REDIS) throw new Error(`unconnectedClient is for node-redis, not ${TEST_CLIENT_LABEL}`);
  const url = typeof server === 'number' ? `redis://127.0.0.1:${server}` : server;
  const { createClient } = require(moduleName) as NodeRedisModule;
  const client = createClient({ url });
  client.on('error', ignore);
  return client;
}

/** The major version of the node-redis in use (4, 5 or 6), or undefined on an ioredis run. */
export const NODE_REDIS_MAJOR: number | undefined = NODE_REDIS
  ? Number(TEST_CLIENT.slice('node-redis'.length))
  : undefined;

/**
 * The wait before the reconnect attempt that follows failure number `retries` (counted from 0,
 * as node-redis counts) under the default `reconnectStrategy` of the node-redis in use, as its
 * source has it:
 *
 * - node-redis 4 (@redis/client 1.x, dist/lib/client/socket.js): `min(retries × 50, 500)` ms, so
 *   the first retry follows at once;
 * - node-redis 5 and 6 (@redis/client 5.x and 6.x, `defaultReconnectStrategy` in
 *   dist/lib/client/socket.js): `min(2^retries × 50, 2000)` ms plus a random 0–199 ms (and no
 *   reconnect at all after a socket timeout, which a client without `socketTimeout` never has).
 */
export function nodeRedisReconnectDelay(retries: number): { min: number; max: number } {
  if (NODE_REDIS_MAJOR === 4) {
    const ms = Math.min(retries * 50, 500);
    return { min: ms, max: ms };
  }
  const ms = Math.min(2 ** retries * 50, 2000);
  return { min: ms, max: ms + 199 };
}

/** The longest wait between two reconnect attempts under node-redis's default `reconnectStrategy`. */
export const MAX_NODE_REDIS_RECONNECT_DELAY_MS = NODE_REDIS_MAJOR === 4 ? 500 : 2199;

/** A PING on `client`'s own connection (a single client), answered after every command sent on it before. */
export async function ping(client: RedisClient): Promise<void> {
  if (isNodeRedis(client)) {
    await (client.sendCommand as (args: string[]) => Promise<unknown>)(['PING']);
    return;
  }
  await (client as unknown as { ping(): Promise<unknown> }).ping();
}

/**
 * The client of each master of a Cluster client (ioredis `nodes('master')`, node-redis
 * `nodeClient` of each of `masters`), to reach one node's connection.
 */
export async function masterClients(cluster: RedisClient): Promise<RedisClient[]> {
  if (isNodeRedis(cluster)) {
    const { masters, nodeClient } = cluster as unknown as {
      masters: unknown[];
      nodeClient(node: unknown): RedisClient | Promise<RedisClient>;
    };
    return Promise.all(masters.map((master) => nodeClient.call(cluster, master)));
  }
  return (cluster as unknown as { nodes(role: 'master'): RedisClient[] }).nodes('master');
}

/**
 * Resolves once a Cluster client knows `masters` masters and can reach each of them. A node-redis
 * 4 or 5 cluster reports `isOpen` from the moment `connect()` is called, before it has found a
 * single node (and has no `isReady`), so {@link whenReady} cannot tell. Rejects after `withinMs`.
 */
export async function whenClusterReady(cluster: RedisClient, masters: number, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  const ready = (): boolean => {
    if (!isNodeRedis(cluster)) return (cluster as unknown as IoredisLike).status === 'ready';
    const known = (cluster as unknown as { masters?: { client?: NodeRedisLike }[] }).masters ?? [];
    return (
      isReady(cluster) &&
      known.length >= masters &&
      known.every((m) => m.client?.isOpen === true && m.client.isReady !== false)
    );
  };
  while (!ready()) {
    if (Date.now() > deadline) {
      throw new Error(`the ${TEST_CLIENT_LABEL} cluster client was not ready within ${withinMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
