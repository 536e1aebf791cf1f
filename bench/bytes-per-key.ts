/**
 * Bytes per key of every built-in algorithm, in memory and in Redis:
 *
 *   node --import tsx bench/bytes-per-key.ts [--runs=3] [--quick]
 *
 * - Memory, busy keys: heap after GC per key, each measurement in a fresh child process run with
 *   --expose-gc (bench/cases/memory-worker.ts), at limits 100 and 10,000. A busy key is a sliding
 *   log filled to its limit (`limit` calls of cost 1) or any other algorithm charged to its limit
 *   in two calls (of cost `limit - 1`, then 1: a token bucket keeps a key charged twice in a
 *   holder). 100,000 keys, except for the log, whose key count is cut so the run stays within
 *   10,000,000 entries (1,000 keys at limit 10,000).
 * - Memory, busy sliding logs charged a cost other than 1 once (one call of cost 2, then cost 1 to
 *   the limit): the log then keeps each entry's cost beside its instant.
 * - Memory, 1,000,000 keys with one call of cost 1 each, limit 100: the cost of many quiet keys.
 * - Memory, busy keys of the two window counters under a clock of Unix time (`Date.now`), where
 *   their packed counts are past 2^30 and V8 boxes them, as it does under the default clock after
 *   enough uptime.
 * - Redis: `MEMORY USAGE <key> SAMPLES 0` of one busy key with a 30-character name such as
 *   `api-fw:{user:0000002a}:default`, and the growth of INFO `used_memory` per key (dictionary
 *   slots and expiry entries included), over 100,000 busy keys (a log: 200,000 entries in all).
 *   On a redis-server of its own, on a free loopback port, pinned away from the workers.
 *
 * Every figure is the median of `--runs` runs (default 3); the range is shown beside it. `--quick`
 * cuts every key count by 50 and runs once: a smoke run, not a measurement.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import {
  type Algorithm,
  createLimiter,
  fixedWindow,
  RedisStore,
  slidingWindowCounter,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { Redis } from 'ioredis';
import { CPU, runWorker, stopAllChildren } from './lib/proc.js';
import { type BenchRedis, startRedis } from './lib/redis-server.js';
import { median, range } from './lib/stats.js';

/** Each algorithm with its memory-worker name and a 6-character Redis prefix (30-character keys). */
const ALGORITHMS = [
  { name: 'tokenBucket', worker: 'floodgate-token-bucket', prefix: 'api-tb' },
  { name: 'slidingWindowLog', worker: 'floodgate-sliding-log', prefix: 'api-sl' },
  { name: 'fixedWindow', worker: 'floodgate-fixed-window', prefix: 'api-fw' },
  { name: 'slidingWindowCounter', worker: 'floodgate-sliding-counter', prefix: 'api-sc' },
] as const;
type AlgorithmName = (typeof ALGORITHMS)[number]['name'];
const LIMITS = [100, 10_000] as const;

/** The algorithm at `limit`, keeping its state for an hour or more, as the memory worker does. */
function algorithm(name: AlgorithmName, limit: number): Algorithm {
  switch (name) {
    case 'tokenBucket':
      return tokenBucket({ capacity: limit, refillPerSecond: 0.01 });
    case 'slidingWindowLog':
      return slidingWindowLog({ limit, windowMs: 3_600_000 });
    case 'fixedWindow':
      return fixedWindow({ limit, windowMs: 3_600_000 });
    case 'slidingWindowCounter':
      return slidingWindowCounter({ limit, windowMs: 3_600_000 });
  }
}

/** Most log entries one measurement writes, in memory and in Redis: it bounds the run's time. */
const MEMORY_ENTRIES = 10_000_000;
const REDIS_ENTRIES = 200_000;

/** Busy keys measured in memory: 100,000, or fewer logs, to stay within MEMORY_ENTRIES entries. */
function busyKeysInMemory(name: AlgorithmName, limit: number, scale: number): number {
  const full = name === 'slidingWindowLog' ? Math.min(100_000, MEMORY_ENTRIES / limit) : 100_000;
  return Math.max(10, Math.floor(full / scale));
}
/** Calls in flight to Redis while filling. */
const IN_FLIGHT = 256;
/** Longest any one measurement may take. */
const MEASURE_TIMEOUT_MS = 300_000;

function parseArgs(argv: string[]): { runs: number; quick: boolean } {
  let runs = 3;
  let quick = false;
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg.startsWith('--runs=')) runs = Number(arg.slice(7));
    else throw new Error(`unknown argument ${arg}; usage: bench/bytes-per-key.ts [--runs=3] [--quick]`);
  }
  if (!Number.isSafeInteger(runs) || runs < 1 || runs > 20) throw new Error(`--runs must be 1 to 20, got ${runs}`);
  return { runs: quick ? 1 : runs, quick };
}

const started = performance.now();
function log(line: string): void {
  process.stderr.write(`[bytes-per-key ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
}

/** Median and range of a measurement repeated `runs` times. */
async function repeat(
  runs: number,
  measure: () => Promise<number>,
): Promise<{ median: number; min: number; max: number }> {
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await measure());
  const [min, max] = range(values);
  return { median: median(values), min, max };
}

async function heapPerKey(
  worker: string,
  keys: number,
  limit: number,
  fill: 'one' | 'full' | 'pairs',
  clock: 'monotonic' | 'unix' = 'monotonic',
): Promise<number> {
  const out = await runWorker<{ heapBytesPerKey: number }>(
    'bench/cases/memory-worker.ts',
    [worker, String(keys), String(limit), fill, clock],
    { cpu: CPU.load, timeoutMs: MEASURE_TIMEOUT_MS, nodeFlags: ['--expose-gc'] },
  );
  return out.heapBytesPerKey;
}

async function usedMemory(client: Redis): Promise<number> {
  const info = await client.info('memory');
  return Number(info.match(/used_memory:(\d+)/)?.[1] ?? Number.NaN);
}

/** A 13-character key, so that with a 6-character prefix and `:default` a Redis key has 30. */
function keyName(i: number): string {
  return `user:${i.toString(16).padStart(8, '0')}`;
}

/**
 * Fills `keys` busy keys of `name` at `limit` on an empty server and returns the growth of
 * used_memory per key and the MEMORY USAGE of the first key.
 */
async function redisPerKey(
  client: Redis,
  name: AlgorithmName,
  prefix: string,
  limit: number,
  keys: number,
): Promise<{ usedMemory: number; memoryUsage: number }> {
  const limiter = createLimiter({
    algorithm: algorithm(name, limit),
    store: new RedisStore({ client, timeoutMs: 10_000, denyCache: false }),
    prefix,
    onStoreError: 'throw',
  });
  // The bench's own server (never 6379): emptying it is safe.
  await client.flushall();
  // Load the script first, so the script cache is not counted as keys' memory.
  await limiter.consume('warm-up');
  await limiter.reset('warm-up');
  const before = await usedMemory(client);
  const calls = name === 'slidingWindowLog' ? limit : 1;
  const cost = name === 'slidingWindowLog' ? 1 : limit;
  const total = keys * calls;
  const deadline = performance.now() + MEASURE_TIMEOUT_MS;
  for (let base = 0; base < total; base += IN_FLIGHT) {
    if (performance.now() > deadline) throw new Error(`filling ${name} at ${limit} took over ${MEASURE_TIMEOUT_MS} ms`);
    const batch = [];
    for (let i = base; i < Math.min(total, base + IN_FLIGHT); i++) {
      batch.push(limiter.consume(keyName(i % keys), { cost }));
    }
    for (const d of await Promise.all(batch))
      if (!d.allowed) throw new Error(`${name} at ${limit}: a fill call was denied`);
  }
  // Let the server finish growing its dictionaries (it rehashes a step at a time, also when idle).
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = await usedMemory(client);
  const held = await client.dbsize();
  // A fixed window's keys all expire at the window's end: a run across it would count too few.
  if (held !== keys) throw new Error(`${name} at ${limit}: expected ${keys} keys, found ${held}`);
  const sample = `${prefix}:{${keyName(0)}}:default`;
  const usage = Number(await client.call('MEMORY', 'USAGE', sample, 'SAMPLES', '0'));
  return { usedMemory: (after - before) / keys, memoryUsage: usage };
}

/** Retries a measurement a bounded number of times (a fixed window may straddle its end). */
async function withRetry<T>(attempts: number, measure: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await measure();
    } catch (error) {
      if (i >= attempts) throw error;
      log(`retrying: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

const fmt = (n: number): string =>
  n >= 1000 || Number.isInteger(n) ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
function cell(m: { median: number; min: number; max: number }): string {
  const [low, high] = [fmt(m.min), fmt(m.max)];
  return low === high ? fmt(m.median) : `${fmt(m.median)} (${low}–${high})`;
}
const count = (n: number): string => n.toLocaleString('en-US');

async function main(): Promise<void> {
  const { runs, quick } = parseArgs(process.argv.slice(2));
  const scale = quick ? 50 : 1;
  const lines: string[] = [];
  const date = new Date().toISOString().slice(0, 10);
  const load = loadavg().map((x) => x.toFixed(2));

  log('memory, busy keys');
  const heap = new Map<string, { keys: number; value: { median: number; min: number; max: number } }>();
  for (const a of ALGORITHMS) {
    for (const limit of LIMITS) {
      const keys = busyKeysInMemory(a.name, limit, scale);
      const value = await repeat(runs, () => heapPerKey(a.worker, keys, limit, 'full'));
      heap.set(`${a.name}/${limit}`, { keys, value });
      log(`  ${a.name} at ${limit}: ${cell(value)} B/key over ${keys} keys`);
    }
  }

  log('memory, busy sliding logs of pairs');
  const pairs = new Map<number, { keys: number; value: { median: number; min: number; max: number } }>();
  for (const limit of LIMITS) {
    const keys = busyKeysInMemory('slidingWindowLog', limit, scale);
    const value = await repeat(runs, () => heapPerKey('floodgate-sliding-log', keys, limit, 'pairs'));
    pairs.set(limit, { keys, value });
    log(`  slidingWindowLog at ${limit}, pairs: ${cell(value)} B/key over ${keys} keys`);
  }

  log('memory, 1,000,000 keys with one call each');
  const quiet = new Map<string, { median: number; min: number; max: number }>();
  const quietKeys = Math.floor(1_000_000 / scale);
  for (const a of ALGORITHMS) {
    const value = await repeat(runs, () => heapPerKey(a.worker, quietKeys, 100, 'one'));
    quiet.set(a.name, value);
    log(`  ${a.name}: ${cell(value)} B/key`);
  }

  log('memory, busy keys, clock of Unix time');
  const unix = new Map<string, { median: number; min: number; max: number }>();
  for (const a of ALGORITHMS) {
    if (a.name !== 'fixedWindow' && a.name !== 'slidingWindowCounter') continue;
    for (const limit of LIMITS) {
      const value = await repeat(runs, () => heapPerKey(a.worker, Math.floor(100_000 / scale), limit, 'full', 'unix'));
      unix.set(`${a.name}/${limit}`, value);
      log(`  ${a.name} at ${limit}: ${cell(value)} B/key`);
    }
  }

  log('redis');
  const redis: BenchRedis = await startRedis(CPU.server);
  const inRedis = new Map<
    string,
    { keys: number; used: { median: number; min: number; max: number }; usage: number }
  >();
  try {
    const client = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      await client.ping();
      for (const a of ALGORITHMS) {
        for (const limit of LIMITS) {
          const full = a.name === 'slidingWindowLog' ? Math.min(100_000, REDIS_ENTRIES / limit) : 100_000;
          const keys = Math.max(2, Math.floor(full / scale));
          const usages: number[] = [];
          const used = await repeat(runs, async () => {
            const r = await withRetry(3, () => redisPerKey(client, a.name, a.prefix, limit, keys));
            usages.push(r.memoryUsage);
            return r.usedMemory;
          });
          const usage = median(usages);
          inRedis.set(`${a.name}/${limit}`, { keys, used, usage });
          log(`  ${a.name} at ${limit}: MEMORY USAGE ${usage} B, used_memory ${cell(used)} B/key over ${keys} keys`);
        }
      }
      await client.flushall();
    } finally {
      client.disconnect();
    }
  } finally {
    await redis.stop();
  }

  lines.push(
    `Command: \`node --import tsx bench/bytes-per-key.ts${quick ? ' --quick' : ` --runs=${runs}`}\`, ${date}.`,
    `Machine: ${availableParallelism()} CPUs (\`nproc\`), ${cpus()[0]?.model.trim() ?? 'unknown CPU'}; Node.js ${process.version}; Redis ${redis.version}; load average at the start ${load.join(', ')}.`,
    `Medians of ${runs} run${runs === 1 ? '' : 's'}, range in brackets when the runs differ.`,
    '',
    '| algorithm | limit | memory: keys | memory: heap B/key | Redis: keys | Redis: `MEMORY USAGE` B | Redis: `used_memory` B/key |',
    '|---|---|---|---|---|---|---|',
  );
  for (const a of ALGORITHMS) {
    for (const limit of LIMITS) {
      const h = heap.get(`${a.name}/${limit}`);
      const r = inRedis.get(`${a.name}/${limit}`);
      if (h === undefined || r === undefined) continue;
      lines.push(
        `| ${a.name} | ${count(limit)} | ${count(h.keys)} | ${cell(h.value)} | ${count(r.keys)} | ${fmt(r.usage)} | ${cell(r.used)} |`,
      );
    }
  }
  lines.push(
    '',
    '| algorithm | limit | memory: keys | memory: heap B/key, busy, one call of cost 2 then cost 1 |',
    '|---|---|---|---|',
  );
  for (const [limit, p] of pairs) {
    lines.push(`| slidingWindowLog | ${count(limit)} | ${count(p.keys)} | ${cell(p.value)} |`);
  }
  lines.push(
    '',
    `| algorithm | memory: heap B/key at ${count(quietKeys)} keys, one call each, limit 100 |`,
    '|---|---|',
  );
  for (const a of ALGORITHMS) {
    const q = quiet.get(a.name);
    if (q !== undefined) lines.push(`| ${a.name} | ${cell(q)} |`);
  }
  lines.push(
    '',
    `| algorithm | limit | memory: heap B/key at ${count(Math.floor(100_000 / scale))} busy keys, clock of Unix time |`,
    '|---|---|---|',
  );
  for (const [id, value] of unix) {
    const [name, limit] = id.split('/');
    lines.push(`| ${name} | ${count(Number(limit))} | ${cell(value)} |`);
  }
  console.log(lines.join('\n'));
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(stopAllChildren);
