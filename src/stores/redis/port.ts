import type { EvictionNode } from './eviction.js';

/**
 * An ioredis `Redis` or `Cluster` (versions 5 and 6), as the store reads one. Written out rather
 * than imported from ioredis, so that the types of an app that installed only node-redis (or
 * only ioredis) resolve.
 */
export interface IoredisClient {
  readonly status: string;
  readonly isCluster: boolean;
  connect(): Promise<void>;
}

/**
 * A node-redis client from `createClient` or `createCluster` (versions 4, 5 and 6), as the store
 * reads one. Its `sendCommand` is typed loosely on purpose: its signature differs between a
 * client and a cluster and across versions, and the store tells them apart at run time.
 */
export interface NodeRedisClient {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  sendCommand(...args: never[]): Promise<unknown>;
}

/** A Redis client `RedisStore` can use. */
export type RedisClient = IoredisClient | NodeRedisClient;

/** The part of a socket that can hold writes back until it is uncorked. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * What the store needs of a Redis client, whichever library made it: one small port that ioredis
 * and node-redis each plug into, so nothing else in the store knows which it was given.
 */
export interface RedisPort {
  /**
   * A Cluster: a script call then declares keys of one hash slot only, so batches form per slot,
   * or per master (see {@link RedisPort.masterOf}).
   */
  readonly cluster: boolean;
  /**
   * On a Cluster, the master the client would send a command for `slot` to, as the client knows
   * it (its identity only: equal for the slots of one master); `undefined` when the client does
   * not know yet, and on a single server.
   */
  masterOf(slot: number): unknown;
  /**
   * What the client puts before each key it sends as a key (ioredis's `keyPrefix`; `''` for
   * none): the store puts it before the keys it passes as arguments, which the client leaves as
   * they are.
   */
  readonly keyPrefix: string;
  /**
   * Why a command cannot be sent now, as a sentence starting "the client", or `undefined` when
   * it can. Sending only to a ready client keeps calls out of the client's offline queue, where
   * they would wait for the whole outage.
   */
  unready(): string | undefined;
  /** EVALSHA with the reply as bytes (the decide script replies packed doubles). */
  evalsha(sha: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** EVAL of the whole source, for a server that has no copy of the script. */
  eval(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** DEL of `keys`, all in one hash slot. */
  del(keys: readonly string[]): Promise<unknown>;
  /** The socket to cork for a burst of writes, when the client leaves that to its user. */
  socket(): Corkable | undefined;
  /**
   * The client writes a command to its socket in a later phase of the event loop than the call
   * that sends it (node-redis, in an immediate), so work that holds the loop right after a call
   * also holds the call's command back from Redis.
   */
  readonly writesLater: boolean;
  /** The servers the eviction check asks: the server itself, or a Cluster's masters. */
  nodes(): EvictionNode[];
}

/**
 * The most Cluster masters the eviction check asks. A cluster's masters normally share one
 * configuration (a managed service applies one parameter group to all), so a few tell; the cap
 * keeps the check to a bounded burst of commands on a cluster of hundreds.
 */
export const MAX_CHECKED_MASTERS = 16;

/** Whether `value` is an object whose members can be looked at. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
