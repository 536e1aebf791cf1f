import type { RedisPort } from './port.js';
import { ioredisPort, isIoredis } from './port-ioredis.js';
import { isNodeRedis, nodeRedisPort } from './port-node-redis.js';

/** The port for `client`, or `undefined` when it is no client the store knows. */
export function portOf(client: unknown): RedisPort | undefined {
  if (isIoredis(client)) return ioredisPort(client);
  if (isNodeRedis(client)) return nodeRedisPort(client);
  return undefined;
}

/** The clients {@link portOf} accepts, as the end of an error message. */
export const ACCEPTED_CLIENTS =
  'an ioredis Redis or Cluster (ioredis 5 or 6), or a node-redis client from createClient or createCluster (node-redis 4, 5 or 6)';
