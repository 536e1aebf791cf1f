import type { EvictionNode } from './eviction.js';
import { isObject, MAX_CHECKED_MASTERS, type RedisPort } from './port.js';

/** The arguments of EVAL or EVALSHA, the command's name first. */
function evalArgs(command: string, script: string, keys: readonly string[], args: readonly string[]): string[] {
  return [command, script, String(keys.length), ...keys, ...args];
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
  /** A cluster's map: by slot, its shard (`{ master, replicas }`). */
  readonly slots?: unknown;
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
 * A node-redis 4 client made with `legacyMode: true`: its commands take callbacks and return
 * nothing, as in node-redis 3 (the promise API is kept apart, under `v4`).
 */
export function isLegacyMode(value: unknown): boolean {
  if (!isNodeRedisLike(value)) return false;
  // Read from its options: on a client not in legacy mode, `v4` is a getter that throws.
  const options = (value as unknown as Record<string, unknown>).options;
  return isObject(options) && options.legacyMode === true;
}

/**
 * A node-redis client (`createClient`) or cluster (`createCluster`). A client pool and a Sentinel
 * client look much alike but are not taken: a Sentinel's `sendCommand` takes other arguments,
 * and neither has been tested. A client is the one that can `duplicate` itself and says whether
 * it is ready; a Sentinel (which can, from node-redis 6) finds its master by `getMasterNode`.
 */
export function isNodeRedis(value: unknown): value is NodeRedisCommands {
  if (!isNodeRedisLike(value) || isLegacyMode(value)) return false;
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

/** The server a node-redis client was told to use, as `host:port` (or a socket path), to name it in a warning. */
function nodeRedisAddress(client: NodeRedisCommands): string {
  const options = isObject(client.options) ? client.options : {};
  const socket = isObject(options.socket) ? options.socket : {};
  if (typeof socket.path === 'string') return socket.path;
  if (typeof socket.host === 'string' || typeof socket.port === 'number') {
    return `${typeof socket.host === 'string' ? socket.host : 'localhost'}:${typeof socket.port === 'number' ? socket.port : 6379}`;
  }
  if (typeof options.url === 'string' && URL.canParse(options.url)) {
    const url = new URL(options.url);
    return `${url.hostname || 'localhost'}:${url.port || 6379}`;
  }
  return 'localhost:6379';
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

export function nodeRedisPort(client: NodeRedisCommands): RedisPort {
  const cluster = isNodeRedisCluster(client);
  const options = bufferOptions(client);
  /** Sends `args`; a cluster routes it by `firstKey`, the first of the keys it names. */
  const send = (args: string[], firstKey: string): Promise<unknown> =>
    cluster ? client.sendCommand(firstKey, false, args, options) : client.sendCommand(args, options);
  return {
    cluster,
    // node-redis sends keys as they are given.
    keyPrefix: '',
    masterOf(slot) {
      if (!cluster) return undefined;
      const slots = client.slots;
      const shard: unknown = Array.isArray(slots) ? slots[slot] : undefined;
      return isObject(shard) ? shard.master : undefined;
    },
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
    evalsha: (sha, keys, args) => send(evalArgs('EVALSHA', sha, keys, args), keys[0] as string),
    eval: (source, keys, args) => send(evalArgs('EVAL', source, keys, args), keys[0] as string),
    del: (keys) => send(['DEL', ...keys], keys[0] as string),
    // node-redis corks its own socket for each tick's writes.
    socket: () => undefined,
    // node-redis 5 and 6 write in an immediate; node-redis 4 writes into a socket it corks until one.
    writesLater: true,
    nodes: () => nodeRedisNodes(client, cluster),
  };
}
