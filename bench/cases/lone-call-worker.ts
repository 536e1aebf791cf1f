/**
 * Worker of bench/compare-lone-call.ts: one call at a time through floodgate's Redis store, with
 * floodgate loaded from the `dist/` of the checkout given, so that two builds run the same loop.
 *   node --import tsx bench/cases/lone-call-worker.ts serve <checkout> <port>
 *     stays up; each IPC request { kind, measureMs, warmupMs } measures one algorithm
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { scriptStatsOf } from '../lib/commandstats.js';
import { serve } from '../lib/ipc.js';
import { quantileSorted } from '../lib/stats.js';

/** What the worker uses of a build: the API every build compared here has. */
interface Build {
  createLimiter(options: { algorithm: unknown; store: unknown; prefix: string }): {
    consume(key: string): Promise<{ allowed: boolean; degraded?: boolean }>;
  };
  RedisStore: new (options: { client: Redis; timeoutMs: number }) => unknown;
  tokenBucket(options: { capacity: number; refillPerSecond: number }): unknown;
  slidingWindowLog(options: { limit: number; windowMs: number }): unknown;
}

/** Hard bound on calls per measurement, whatever the clock says. */
const MAX_OPS = 1_000_000;
const KEYSPACE = 10_000;

async function main(): Promise<void> {
  const [mode, checkout, portArg] = process.argv.slice(2);
  if (mode !== 'serve' || checkout === undefined) throw new Error('usage: serve <checkout> <port>');
  const port = Number(portArg);
  if (port === 6379) throw new Error('refusing to bench the shared Redis on 6379');
  const build = (await import(pathToFileURL(resolve(checkout, 'dist', 'index.js')).href)) as Build;
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, lazyConnect: true });
  await client.connect();
  const store = new build.RedisStore({ client, timeoutMs: 1000 });
  // Limits never reached, as in case 3: the same work per call whatever the rate.
  const limiters = {
    'token-bucket': build.createLimiter({
      algorithm: build.tokenBucket({ capacity: 1_000_000_000, refillPerSecond: 1 }),
      store,
      prefix: `lone-tb-${process.pid}`,
    }),
    'sliding-log': build.createLimiter({
      algorithm: build.slidingWindowLog({ limit: 1_000_000_000, windowMs: 1000 }),
      store,
      prefix: `lone-sl-${process.pid}`,
    }),
  };
  const keys = Array.from({ length: KEYSPACE }, (_, i) => `user:${i}`);
  async function drive(kind: keyof typeof limiters, ms: number): Promise<number[]> {
    const limiter = limiters[kind];
    const latencies: number[] = [];
    const deadline = performance.now() + ms;
    while (latencies.length < MAX_OPS) {
      const t0 = performance.now();
      if (t0 >= deadline) break;
      const d = await limiter.consume(keys[(Math.random() * KEYSPACE) | 0] as string);
      latencies.push(performance.now() - t0);
      if (!d.allowed || d.degraded === true) throw new Error('a call was denied or degraded');
    }
    return latencies;
  }
  process.once('disconnect', () => client.disconnect());
  serve(async (message) => {
    const { kind, measureMs, warmupMs } = message as {
      kind: keyof typeof limiters;
      measureMs: number;
      warmupMs: number;
    };
    if (!(kind in limiters)) throw new Error(`unknown kind ${String(kind)}`);
    await drive(kind, warmupMs);
    // The worker is the server's only client while it measures: the script time is its calls'.
    const before = scriptStatsOf(await client.info('commandstats')).usec;
    const sorted = Float64Array.from(await drive(kind, measureMs)).sort();
    const after = scriptStatsOf(await client.info('commandstats')).usec;
    return {
      calls: sorted.length,
      p50Us: quantileSorted(sorted, 0.5) * 1000,
      p99Us: quantileSorted(sorted, 0.99) * 1000,
      serverUsPerCall: (after - before) / sorted.length,
    };
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
