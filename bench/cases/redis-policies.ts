import { type Algorithm, slidingWindowLog, tokenBucket } from 'floodgate';

export type FloodgateKind = 'token-bucket' | 'sliding-log';

/**
 * The limiter prefix of each algorithm in the Redis cases (shared with the MONITOR capture, so
 * redis-benchmark replays the workers' exact call). One per algorithm: a token bucket is a string
 * and a log is a list, so they must never meet on one key.
 */
export function redisPrefix(kind: FloodgateKind): string {
  return kind === 'token-bucket' ? 'fg-tb' : 'fg-swl';
}

/**
 * Policies of the Redis throughput case: never reached, and each key's state stays live between
 * visits (a bucket refilling 1 token/s; a log of ~10 entries per key at ~100 k decisions/s over
 * 10 k random keys), so every call reads and writes existing state, as for a real key.
 */
export function fastAlgorithm(kind: FloodgateKind): Algorithm {
  return kind === 'token-bucket'
    ? tokenBucket({ capacity: 1_000_000_000, refillPerSecond: 1 })
    : slidingWindowLog({ limit: 1_000_000, windowMs: 1000 });
}

/** Policies of the memory case: one call per key, state kept for an hour or more. */
export function memoryAlgorithm(kind: FloodgateKind): Algorithm {
  return kind === 'token-bucket'
    ? tokenBucket({ capacity: 100, refillPerSecond: 0.01 })
    : slidingWindowLog({ limit: 100, windowMs: 3_600_000 });
}
