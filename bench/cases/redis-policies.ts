import { type Algorithm, fixedWindow, slidingWindowCounter, slidingWindowLog, tokenBucket } from 'floodgate';

/** floodgate's built-in algorithms, as the bench names them in its rows. */
export const FLOODGATE_KINDS = ['token-bucket', 'sliding-log', 'fixed-window', 'sliding-counter'] as const;
export type FloodgateKind = (typeof FLOODGATE_KINDS)[number];

/**
 * The algorithms the Redis throughput case also runs on a node-redis client (the `redis`
 * package), beside the same limiter on ioredis. Their rows are `floodgate-<kind>-node-redis`.
 */
export const NODE_REDIS_KINDS = ['token-bucket', 'sliding-log'] as const satisfies readonly FloodgateKind[];
export type NodeRedisKind = (typeof NODE_REDIS_KINDS)[number];

/**
 * The row of floodgate's token bucket with every call on one key (a client's burst): a script
 * call's calls then share their key, whose state passes from call to call inside the script.
 */
export const ONE_KEY = 'floodgate-token-bucket-one-key';

/**
 * The limiter prefix of each algorithm in the Redis cases (shared with the MONITOR capture, so
 * redis-benchmark replays the workers' exact call). One per algorithm: a token bucket is a string
 * and a log is a list, so they must never meet on one key.
 */
export function redisPrefix(kind: FloodgateKind): string {
  return {
    'token-bucket': 'fg-tb',
    'sliding-log': 'fg-swl',
    'fixed-window': 'fg-fw',
    'sliding-counter': 'fg-swc',
  }[kind];
}

/**
 * Policies of the Redis throughput case: never reached, and each key's state stays live between
 * visits (a bucket refilling 1 token/s; a log of ~10 entries per key at ~100 k decisions/s over
 * 10 k random keys; counts of windows an hour long), so every call reads and writes existing
 * state, as for a real key. The two window counters keep their counts as one integer string while
 * `window × (limit + 1)` (the counter: `× (limit + 1)²`) stays an exact integer; on the Redis
 * clock, with hour-long windows, that holds for these limits (and any smaller) until about 2070,
 * so the rows measure the form real limits are stored in, not the split form of huge ones.
 */
export function fastAlgorithm(kind: FloodgateKind): Algorithm {
  switch (kind) {
    case 'token-bucket':
      return tokenBucket({ capacity: 1_000_000_000, refillPerSecond: 1 });
    case 'sliding-log':
      return slidingWindowLog({ limit: 1_000_000, windowMs: 1000 });
    case 'fixed-window':
      return fixedWindow({ limit: 1_000_000_000, windowMs: 3_600_000 });
    case 'sliding-counter':
      return slidingWindowCounter({ limit: 100_000, windowMs: 3_600_000 });
  }
}

/** Policies of the memory case: one call per key, state kept for an hour or more. */
export function memoryAlgorithm(kind: FloodgateKind): Algorithm {
  switch (kind) {
    case 'token-bucket':
      return tokenBucket({ capacity: 100, refillPerSecond: 0.01 });
    case 'sliding-log':
      return slidingWindowLog({ limit: 100, windowMs: 3_600_000 });
    case 'fixed-window':
      return fixedWindow({ limit: 100, windowMs: 3_600_000 });
    case 'sliding-counter':
      return slidingWindowCounter({ limit: 100, windowMs: 3_600_000 });
  }
}
