/**
 * Case 4 worker: heap bytes per key of one implementation's in-memory store, in a fresh process
 * run with --expose-gc:
 *   node --expose-gc --import tsx bench/cases/memory-worker.ts <impl> <keys>
 * Each key gets one call (allowed); the state is kept for an hour, so nothing expires during the
 * measurement. Key strings are made on the fly, as requests make them, so the bytes per key
 * include the key string each store keeps.
 */
import { MemoryStore as ErlMemoryStore, type Options as ErlOptions } from 'express-rate-limit';
import { createLimiter, MemoryStore } from 'floodgate';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { memoryAlgorithm } from './redis-policies.js';

type Impl = 'floodgate-token-bucket' | 'floodgate-sliding-log' | 'rate-limiter-flexible' | 'express-rate-limit';

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run with --expose-gc');
  // Twice: the first pass may leave weak and finalizable objects for the second.
  collect();
  collect();
}

function makeCall(impl: Impl, keys: number): { call: (key: string) => unknown; hold: unknown } {
  switch (impl) {
    case 'floodgate-token-bucket':
    case 'floodgate-sliding-log': {
      const kind = impl === 'floodgate-token-bucket' ? 'token-bucket' : 'sliding-log';
      const limiter = createLimiter({
        algorithm: memoryAlgorithm(kind),
        store: new MemoryStore({ maxKeys: keys + 1, sweepIntervalMs: false }),
      });
      return { call: (key) => limiter.consume(key), hold: limiter };
    }
    case 'rate-limiter-flexible': {
      const limiter = new RateLimiterMemory({ points: 100, duration: 3600 });
      return { call: (key) => limiter.consume(key), hold: limiter };
    }
    case 'express-rate-limit': {
      const store = new ErlMemoryStore();
      store.init({ windowMs: 3_600_000 } as ErlOptions);
      return { call: (key) => store.increment(key), hold: store };
    }
  }
}

async function main(): Promise<void> {
  const [implArg, keysArg] = process.argv.slice(2);
  const impl = implArg as Impl;
  const keys = Number(keysArg);
  if (
    !['floodgate-token-bucket', 'floodgate-sliding-log', 'rate-limiter-flexible', 'express-rate-limit'].includes(impl)
  ) {
    throw new Error(`unknown impl ${implArg}`);
  }
  gc();
  const before = process.memoryUsage();
  const { call, hold } = makeCall(impl, keys);
  for (let i = 0; i < keys; i += 1000) {
    const batch: unknown[] = [];
    for (let j = i; j < Math.min(keys, i + 1000); j++) batch.push(call(`user:${j}`));
    await Promise.all(batch);
  }
  gc();
  const after = process.memoryUsage();
  console.log(
    JSON.stringify({
      impl,
      keys,
      heapBytesPerKey: (after.heapUsed - before.heapUsed) / keys,
      rssBytesPerKey: (after.rss - before.rss) / keys,
      held: hold !== undefined,
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
