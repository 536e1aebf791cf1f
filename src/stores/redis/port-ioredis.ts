import type { EvictionNode } from './eviction.js';
import { type Corkable, isObject, MAX_CHECKED_MASTERS, type RedisPort } from './port.js';
import { notReadyReason } from './status.js';

function isCorkable(value: unknown): value is Corkable {
  return isObject(value) && typeof value.cork === 'function' && typeof value.uncork === 'function';
}

/** The ioredis commands the store sends; every command has a Buffer-returning twin at run time. */
interface IoredisCommands {
  readonly status: string;
  readonly isCluster?: unknown;
  readonly stream?: unknown;
  /** A Cluster's map: by slot, the nodes serving it as `host:port`, the master first. */
  readonly slots?: unknown;
  /** Its options; `keyPrefix` goes before every key of a command (a Cluster's from its `redisOptions`). */
  readonly options?: { readonly keyPrefix?: unknown };
  evalshaBuffer(sha: string, numKeys: number, ...args: string[]): Promise<unknown>;
  evalBuffer(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  del(...keys: string[]): Promise<unknown>;
  connect(): Promise<void>;
}

export function isIoredis(value: unknown): value is IoredisCommands {
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

export function ioredisPort(client: IoredisCommands): RedisPort {
  const prefix = client.options?.keyPrefix;
  // A prefix of bytes (a Buffer) cannot be put before a key passed as a string argument, nor
  // anything ioredis would turn into a string its own way: their batches stay within one slot,
  // where every key is declared.
  const acrossSlots = prefix === undefined || prefix === null || typeof prefix === 'string';
  return {
    cluster: client.isCluster === true,
    keyPrefix: typeof prefix === 'string' ? prefix : '',
    masterOf(slot) {
      if (!acrossSlots) return undefined;
      const slots = client.slots;
      const nodes: unknown = Array.isArray(slots) ? slots[slot] : undefined;
      return Array.isArray(nodes) ? nodes[0] : undefined;
    },
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
    // A single client writes at once (a corked socket aside); a Cluster's node does too.
    writesLater: false,
    nodes: () => ioredisNodes(client),
  };
}
