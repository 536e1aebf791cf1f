/**
 * Heap bytes per key of one implementation's in-memory store, in a fresh process run with
 * --expose-gc (case 4, and bench/bytes-per-key.ts):
 *   node --expose-gc --import tsx bench/cases/memory-worker.ts <impl> <keys> [limit] [one|full|pairs] [clock]
 * `limit` (default 100) is floodgate's limit or capacity. With `fill` `one` (the default) each key
 * gets one call of cost 1; with `full` each key is busy: a sliding log gets `limit` calls of cost
 * 1, every other floodgate algorithm two calls, of cost `limit - 1` and 1 (a key in use is
 * charged more than once, and a token bucket keeps a key charged twice in a holder); with `pairs`
 * (a sliding log only) each key is busy with one call of cost 2, then `limit - 2` of cost 1, so
 * its log holds pairs of instant and cost rather than one number per entry. Every call
 * must be allowed; the state is kept for an hour or more, so nothing expires during the
 * measurement. `clock` is the floodgate store's: `monotonic` (the default, which starts near 0
 * with the process) or `unix` (`Date.now()`), under which the window counters' packed counts are
 * too large for V8 to keep inline. Key strings are made on the fly, as requests make them, so the
 * bytes per key include the key string each store keeps.
 */
import { MemoryStore as ErlMemoryStore, type Options as ErlOptions } from 'express-rate-limit';
import {
  type Algorithm,
  createLimiter,
  fixedWindow,
  MemoryStore,
  slidingWindowCounter,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { RateLimiterMemory } from 'rate-limiter-flexible';

const FLOODGATE = {
  'floodgate-token-bucket': (limit: number) => tokenBucket({ capacity: limit, refillPerSecond: 0.01 }),
  'floodgate-sliding-log': (limit: number) => slidingWindowLog({ limit, windowMs: 3_600_000 }),
  'floodgate-fixed-window': (limit: number) => fixedWindow({ limit, windowMs: 3_600_000 }),
  'floodgate-sliding-counter': (limit: number) => slidingWindowCounter({ limit, windowMs: 3_600_000 }),
} satisfies Record<string, (limit: number) => Algorithm>;
type FloodgateImpl = keyof typeof FLOODGATE;
const IMPLS = [...Object.keys(FLOODGATE), 'rate-limiter-flexible', 'express-rate-limit'];
type Impl = FloodgateImpl | 'rate-limiter-flexible' | 'express-rate-limit';
type Fill = 'one' | 'full' | 'pairs';
type ClockName = 'monotonic' | 'unix';

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run with --expose-gc');
  // Twice: the first pass may leave weak and finalizable objects for the second.
  collect();
  collect();
}

function makeCall(
  impl: Impl,
  keys: number,
  limit: number,
  fill: Fill,
  clock: ClockName,
): { call: (key: string) => unknown; hold: unknown } {
  switch (impl) {
    case 'floodgate-token-bucket':
    case 'floodgate-sliding-log':
    case 'floodgate-fixed-window':
    case 'floodgate-sliding-counter': {
      const limiter = createLimiter({
        algorithm: FLOODGATE[impl](limit),
        store: new MemoryStore({
          maxKeys: keys + 1,
          sweepIntervalMs: false,
          ...(clock === 'unix' ? { clock: Date.now } : {}),
        }),
      });
      if (fill === 'one') return { call: (key) => limiter.consume(key), hold: limiter };
      // The memory store decides synchronously: `decide` fills a key without a promise per call.
      const denied = (d: unknown): boolean => (d as { allowed: boolean }).allowed !== true;
      const call =
        impl === 'floodgate-sliding-log'
          ? (key: string): void => {
              // A first call of cost 2 makes the log keep each entry's cost beside its instant.
              const first = fill === 'pairs' ? 2 : 1;
              if (denied(limiter.decide(key, first))) throw new Error(`${key} denied`);
              for (let i = first; i < limit; i++) if (denied(limiter.decide(key))) throw new Error(`${key} denied`);
            }
          : (key: string): void => {
              // Two calls, as a key in use is charged more than once (a token bucket keeps its
              // state in a holder from its second charge on).
              if (limit > 1 && denied(limiter.decide(key, limit - 1))) throw new Error(`${key} denied`);
              if (denied(limiter.decide(key, 1))) throw new Error(`${key} denied`);
            };
      return { call, hold: limiter };
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
  const [implArg, keysArg, limitArg = '100', fillArg = 'one', clockArg = 'monotonic'] = process.argv.slice(2);
  const impl = implArg as Impl;
  const keys = Number(keysArg);
  const limit = Number(limitArg);
  const fill = fillArg as Fill;
  if (!IMPLS.includes(impl)) throw new Error(`unknown impl ${implArg}; one of ${IMPLS.join(', ')}`);
  if (!Number.isSafeInteger(keys) || keys < 1) throw new Error(`keys must be a positive integer, got ${keysArg}`);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`limit must be a positive integer, got ${limitArg}`);
  if (fill !== 'one' && fill !== 'full' && fill !== 'pairs') {
    throw new Error(`fill must be one, full or pairs, got ${fillArg}`);
  }
  if (fill === 'pairs' && (impl !== 'floodgate-sliding-log' || limit < 2)) {
    throw new Error('fill pairs is for floodgate-sliding-log at a limit of 2 or more');
  }
  const clock = clockArg as ClockName;
  if (clock !== 'monotonic' && clock !== 'unix') throw new Error(`clock must be monotonic or unix, got ${clockArg}`);
  if ((limit !== 100 || fill !== 'one' || clock !== 'monotonic') && !impl.startsWith('floodgate-')) {
    throw new Error(`${impl} is measured at its own settings: no limit, fill or clock`);
  }
  gc();
  const before = process.memoryUsage();
  const { call, hold } = makeCall(impl, keys, limit, fill, clock);
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
      limit,
      fill,
      clock,
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
