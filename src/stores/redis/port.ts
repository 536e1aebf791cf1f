import type { EvictionNode } from './eviction.js';
import { notReadyReason } from './status.js';

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
  /** A Cluster: a script then touches one hash slot per call, so batches form per slot. */
  readonly cluster: boolean;
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
  /** The servers the eviction check asks: the server itself, or a Cluster's masters. */
  nodes(): EvictionNode[];
}

type Send = (args: string[]) => Promise<unknown>;

/**
 * The most Cluster masters the eviction check asks. A cluster's masters normally share one
 * configuration (a managed service applies one parameter group to all), so a few tell; the cap
 * keeps the check to a bounded burst of commands on a cluster of hundreds.
 */
export const MAX_CHECKED_MASTERS = 16;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isCorkable(value: unknown): value is Corkable {
  return isObject(value) && typeof value.cork === 'function' && typeof value.uncork === 'function';
}

function evalArgs(command: string, script: string, keys: readonly string[], args: readonly string[]): string[] {
  return [command, script, String(keys.length), ...keys, ...args];
}

/** The ioredis commands the store sends; every command has a Buffer-returning twin at run time. */
interface IoredisCommands {
  readonly status: string;
  readonly isCluster?: unknown;
  readonly stream?: unknown;
  evalshaBuffer(sha: string, numKeys: number, ...args: string[]): Promise<unknown>;
  evalBuffer(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  del(...keys: string[]): Promise<unknown>;
  connect(): Promise<void>;
}

function isIoredis(value: unknown): value is IoredisCommands {
  return (
    isObject(value) &&
    typeof value.status === 'string' &&
    typeof value.evalshaBuffer === 'function' &&
    typeof value.evalBuffer === 'function' &&
    typeof value.del === 'function' &&
    typeof value.connect === 'function'
  );
}

/** The part of an ioredis `Redis` (a single server, or one node of a Cluster) the check uses. */
interface IoredisNode {
  call(command: string, args: string[]): Promise<unknown>;
  readonly options?: { readonly host?: string; readonly port?: number; readonly path?: string };
  readonly stream?: { readonly remoteAddress?: string; readonly remotePort?: number };
}

function isIoredisNode(value: unknown): value is IoredisNode {
  return isObject(value) && typeof value.call === 'function';
}

/** Where an ioredis node is connected: the socket's peer when it has one, else what it was told. */
function ioredisAddress(client: IoredisNode): string {
  const { stream, options } = client;
  if (stream?.remoteAddress !== undefined && stream.remotePort !== undefined) {
    return `${stream.remoteAddress}:${stream.remotePort}`;
  }
  if (options?.path !== undefined) return options.path;
  return `${options?.host ?? 'localhost'}:${options?.port ?? 6379}`;
}

/**
 * The servers behind an ioredis client: the server itself, or a Cluster's masters (up to
 * {@link MAX_CHECKED_MASTERS}). Replicas are left out: they do not evict on their own
 * (`replica-ignore-maxmemory`, the default since Redis 5) but apply their master's evictions.
 */
function ioredisNodes(client: unknown): EvictionNode[] {
  const cluster = client as { nodes?: unknown };
  const list: unknown[] = [];
  if (typeof cluster.nodes === 'function') {
    const masters: unknown = cluster.nodes('master');
    if (Array.isArray(masters)) list.push(...masters.slice(0, MAX_CHECKED_MASTERS));
  } else {
    list.push(client);
  }
  return list.filter(isIoredisNode).map((node) => ({
    address: ioredisAddress(node),
    send: ([command, ...args]) => node.call(command as string, args),
  }));
}

function ioredisPort(client: IoredisCommands): RedisPort {
  return {
    cluster: client.isCluster === true,
    unready() {
      const status = client.status;
      if (status === 'ready') return undefined;
      // A lazyConnect client waits for its first command, which the store would never send.
      if (status === 'wait') client.connect().catch(() => undefined);
      return notReadyReason(status);
    },
    evalsha: (sha, keys, args) => client.evalshaBuffer(sha, keys.length, ...keys, ...args),
    eval: (source, keys, args) => client.evalBuffer(source, keys.length, ...keys, ...args),
    del: (keys) => client.del(...keys),
    socket() {
      // A Cluster's sockets belong to its nodes, each written by the Cluster's own routing.
      if (client.isCluster === true) return undefined;
      return isCorkable(client.stream) ? client.stream : undefined;
    },
    nodes: () => ioredisNodes(client),
  };
}

/**
 * The node-redis commands the store sends. A single client's `sendCommand(args, options)`; a
 * cluster's `sendCommand(firstKey, isReadonly, args, options)`, which routes by the key.
 */
interface NodeRedisCommands {
  readonly isOpen: boolean;
  readonly isReady?: unknown;
  readonly options?: unknown;
  sendCommand(...args: unknown[]): Promise<unknown>;
  connect(): Promise<unknown>;
  /** node-redis 5 and later: how replies are typed. Absent in 4. */
  withTypeMapping?: unknown;
  /** A cluster's masters (by `nodeClient`) and its per-node clients. */
  readonly masters?: unknown;
  nodeClient?: (node: unknown) => unknown;
}

function isNodeRedisLike(value: unknown): value is NodeRedisCommands {
  return (
    isObject(value) &&
    typeof value.isOpen === 'boolean' &&
    typeof value.sendCommand === 'function' &&
    typeof value.connect === 'function'
  );
}

function isNodeRedisCluster(client: NodeRedisCommands): boolean {
  return typeof client.nodeClient === 'function' && 'masters' in client;
}

/**
 * A node-redis client (`createClient`) or cluster (`createCluster`). A client pool and a Sentinel
 * client look much alike but are not taken: a Sentinel's `sendCommand` takes other arguments,
 * and neither has been tested. A client is the one that can `duplicate` itself and says whether
 * it is ready; a Sentinel (which can, from node-redis 6) finds its master by `getMasterNode`.
 */
function isNodeRedis(value: unknown): value is NodeRedisCommands {
  if (!isNodeRedisLike(value)) return false;
  if (isNodeRedisCluster(value)) return true;
  const c = value as unknown as Record<string, unknown>;
  return typeof c.duplicate === 'function' && typeof c.isReady === 'boolean' && typeof c.getMasterNode !== 'function';
}

/**
 * The options that make node-redis reply with bytes: `returnBuffers` in version 4, a type mapping
 * of bulk strings (RESP type `$`, 36) to `Buffer` from version 5. One object for every call: the
 * client reads it and keeps nothing of it.
 */
function bufferOptions(client: NodeRedisCommands): object {
  return typeof client.withTypeMapping === 'function' ? { typeMapping: { 36: Buffer } } : { returnBuffers: true };
}

/** `redis://host:port` or a socket's host and port, as node-redis was told, to name it in a warning. */
function nodeRedisAddress(client: NodeRedisCommands): string {
  const options = client.options;
  if (!isObject(options)) return 'localhost:6379';
  if (typeof options.url === 'string') return options.url.replace(/\/\/[^@/]*@/, '//');
  const socket = isObject(options.socket) ? options.socket : {};
  if (typeof socket.path === 'string') return socket.path;
  const host = typeof socket.host === 'string' ? socket.host : 'localhost';
  const port = typeof socket.port === 'number' ? socket.port : 6379;
  return `${host}:${port}`;
}

function nodeRedisNodes(client: NodeRedisCommands, cluster: boolean): EvictionNode[] {
  if (!cluster) {
    return [{ address: nodeRedisAddress(client), send: (command) => client.sendCommand([...command]) }];
  }
  const masters = client.masters;
  const nodeClient = client.nodeClient;
  if (!Array.isArray(masters) || nodeClient === undefined) return [];
  return masters.slice(0, MAX_CHECKED_MASTERS).map((master: unknown) => {
    const address = isObject(master) && typeof master.address === 'string' ? master.address : 'a cluster master';
    return {
      address,
      // The node's client may still be connecting: `nodeClient` then gives a promise of it.
      send: async (command) => {
        const node: unknown = await nodeClient.call(client, master);
        if (!isNodeRedisLike(node)) throw new Error('node-redis gave no client for a cluster master');
        return node.sendCommand([...command]);
      },
    };
  });
}

function nodeRedisPort(client: NodeRedisCommands): RedisPort {
  const cluster = isNodeRedisCluster(client);
  const options = bufferOptions(client);
  const send: Send = cluster
    ? (args) => client.sendCommand(args[3], false, args, options)
    : (args) => client.sendCommand(args, options);
  // DEL's first key is its second argument; EVAL's and EVALSHA's is their fourth (see `send`).
  const sendDel: Send = cluster
    ? (args) => client.sendCommand(args[1], false, args, options)
    : (args) => client.sendCommand(args, options);
  return {
    cluster,
    unready() {
      if (!client.isOpen) {
        return 'the client is not open (its connect() was not called yet, or it was closed)';
      }
      if (cluster) {
        // A cluster is open from the moment connect() is called, before it knows which master
        // serves which slot; a command then would fail inside node-redis. Once it knows, each
        // command goes to a node's own client, and a node that is down fails that command alone.
        const masters = client.masters;
        return Array.isArray(masters) && masters.length === 0
          ? "the client is still discovering the cluster's nodes"
          : undefined;
      }
      if (client.isReady === false) return 'the client is connecting or reconnecting to Redis';
      return undefined;
    },
    evalsha: (sha, keys, args) => send(evalArgs('EVALSHA', sha, keys, args)),
    eval: (source, keys, args) => send(evalArgs('EVAL', source, keys, args)),
    del: (keys) => sendDel(['DEL', ...keys]),
    // node-redis corks its own socket for each tick's writes.
    socket: () => undefined,
    nodes: () => nodeRedisNodes(client, cluster),
  };
}

/** The port for `client`, or `undefined` when it is no client the store knows. */
export function portOf(client: unknown): RedisPort | undefined {
  if (isIoredis(client)) return ioredisPort(client);
  if (isNodeRedis(client)) return nodeRedisPort(client);
  return undefined;
}

/** The clients {@link portOf} accepts, as the end of an error message. */
export const ACCEPTED_CLIENTS =
  'an ioredis Redis or Cluster (ioredis 5 or 6), or a node-redis client from createClient or createCluster (node-redis 4, 5 or 6)';
