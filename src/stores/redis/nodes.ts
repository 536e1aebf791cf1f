import type { EvictionNode } from './eviction.js';

/**
 * The most Cluster masters the eviction check asks. A cluster's masters normally share one
 * configuration (a managed service applies one parameter group to all), so a few tell; the cap
 * keeps the check to a bounded burst of commands on a cluster of hundreds.
 */
export const MAX_CHECKED_MASTERS = 16;

/** The part of an ioredis `Redis` (a single server, or one node of a Cluster) the check uses. */
interface CommandClient {
  call(command: string, args: string[]): Promise<unknown>;
  readonly options?: { readonly host?: string; readonly port?: number; readonly path?: string };
  readonly stream?: { readonly remoteAddress?: string; readonly remotePort?: number };
}

function isCommandClient(value: unknown): value is CommandClient {
  return typeof value === 'object' && value !== null && typeof (value as CommandClient).call === 'function';
}

/** Where a client is connected: the socket's peer when it has one, else what it was told. */
function address(client: CommandClient): string {
  const { stream, options } = client;
  if (stream?.remoteAddress !== undefined && stream.remotePort !== undefined) {
    return `${stream.remoteAddress}:${stream.remotePort}`;
  }
  if (options?.path !== undefined) return options.path;
  return `${options?.host ?? 'localhost'}:${options?.port ?? 6379}`;
}

function node(client: CommandClient): EvictionNode {
  return {
    address: address(client),
    send: ([command, ...args]) => client.call(command as string, args),
  };
}

/**
 * The servers behind an ioredis client that hold floodgate's keys: the server itself, or a
 * Cluster's masters (up to {@link MAX_CHECKED_MASTERS}). Replicas are left out: they do not
 * evict on their own (`replica-ignore-maxmemory`, the default since Redis 5) but apply their
 * master's evictions, which the master's policy already tells.
 */
export function ioredisNodes(client: unknown): EvictionNode[] {
  const cluster = client as { nodes?: unknown };
  if (typeof cluster.nodes === 'function') {
    const masters: unknown = cluster.nodes('master');
    if (!Array.isArray(masters)) return [];
    return masters.filter(isCommandClient).slice(0, MAX_CHECKED_MASTERS).map(node);
  }
  return isCommandClient(client) ? [node(client)] : [];
}
