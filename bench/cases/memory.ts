import type { BenchContext } from '../lib/context.js';
import { CPU, runWorker } from '../lib/proc.js';
import { round } from '../lib/stats.js';
import { FLOODGATE_KINDS } from './redis-policies.js';

const FLOODGATE = FLOODGATE_KINDS.map((k) => `floodgate-${k}`);
const HEAP_IMPLS = [...FLOODGATE, 'rate-limiter-flexible', 'express-rate-limit'];
const REDIS_IMPLS = [...FLOODGATE, 'rate-limiter-flexible'];

export interface MemoryRow {
  impl: string;
  available: boolean;
  reason?: string;
  heapBytesPerKey?: number;
  rssBytesPerKey?: number;
}

export interface RedisMemoryRow {
  impl: string;
  available: boolean;
  reason?: string;
  /** INFO used_memory growth ÷ keys: everything a key costs the server, dictionary slots included. */
  usedMemoryBytesPerKey?: number;
  /** MEMORY USAGE <key> SAMPLES 0 of one key: the value and key object only. */
  memoryUsageBytes?: number;
  sampleKey?: string;
}

export interface MemoryResult {
  keys: number;
  redisKeys: number;
  heap: MemoryRow[];
  redis: RedisMemoryRow[];
}

/**
 * Case 4, memory: heap bytes per key after GC at `keys` keys, one fresh process per
 * implementation; and the bytes per key a Redis store costs the server.
 */
export async function runMemoryCase(ctx: BenchContext): Promise<MemoryResult> {
  const { profile, redis, log } = ctx;
  const { keys, redisKeys } = profile.memory;
  const heap: MemoryRow[] = [];
  for (const impl of HEAP_IMPLS) {
    try {
      const out = await runWorker<{ heapBytesPerKey: number; rssBytesPerKey: number }>(
        'bench/cases/memory-worker.ts',
        [impl, String(keys)],
        { cpu: CPU.load, timeoutMs: 300_000, nodeFlags: ['--expose-gc'] },
      );
      heap.push({
        impl,
        available: true,
        heapBytesPerKey: round(out.heapBytesPerKey, 1),
        rssBytesPerKey: round(out.rssBytesPerKey, 1),
      });
      log(`memory: ${impl} ${out.heapBytesPerKey.toFixed(1)} B/key on the heap at ${keys} keys`);
    } catch (error) {
      heap.push({
        impl,
        available: false,
        reason: error instanceof Error ? error.message.slice(0, 400) : String(error),
      });
    }
  }
  const inRedis: RedisMemoryRow[] = [];
  for (const impl of REDIS_IMPLS) {
    try {
      const out = await runWorker<{ usedMemoryBytesPerKey: number; memoryUsageBytes: number; sampleKey: string }>(
        'bench/cases/redis-worker.ts',
        ['memory', impl, String(redis.port), String(redisKeys)],
        { cpu: CPU.load, timeoutMs: 300_000 },
      );
      inRedis.push({
        impl,
        available: true,
        usedMemoryBytesPerKey: round(out.usedMemoryBytesPerKey, 1),
        memoryUsageBytes: out.memoryUsageBytes,
        sampleKey: out.sampleKey,
      });
      log(
        `memory: ${impl} ${out.usedMemoryBytesPerKey.toFixed(1)} B/key in Redis (MEMORY USAGE ${out.memoryUsageBytes})`,
      );
    } catch (error) {
      inRedis.push({
        impl,
        available: false,
        reason: error instanceof Error ? error.message.slice(0, 400) : String(error),
      });
    }
  }
  return { keys, redisKeys, heap, redis: inRedis };
}
