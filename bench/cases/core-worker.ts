/**
 * Case 2 worker: decisions per second of one implementation on its in-memory store, in a process
 * of its own (so no other contender's code shares the JIT's call sites).
 *   node --import tsx bench/cases/core-worker.ts serve <impl>
 *     stays up; each IPC request { keys, measureMs, warmupMs } measures one key count
 *   node --import tsx bench/cases/core-worker.ts <impl> <measureMs> <warmupMs> <keyCount,...>
 *     one shot (for profiling with --cpu-prof); prints one JSON line
 */
import { MemoryStore as ErlMemoryStore, type Options as ErlOptions } from 'express-rate-limit';
import {
  type Algorithm,
  createLimiter,
  type Decision,
  fixedWindow,
  type Limiter,
  slidingWindowCounter,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { serve } from '../lib/ipc.js';
import { CORE_IMPLS, type CoreImpl } from './core-impls.js';

const HUGE = 1_000_000_000;
/** Hard bound on calls per measurement, whatever the clock says. */
const MAX_OPS = 50_000_000;
const BATCH = 1000;

/** A call that may or may not be async, and tells whether it was denied. */
type Call = (key: string) => boolean | Promise<boolean>;

/** The five numbers every limiter here answers with (floodgate's Decision). */
interface Answer {
  allowed: boolean;
  limit: number;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

/**
 * A promise fulfilled with a Decision, made as floodgate's `consume` makes it: the read of
 * `allowed` lets the optimizing compiler see the Decision's shape where the promise is resolved,
 * so that resolving it skips the generic look-up of a `then` (see bench/README.md, "The promise").
 */
function fulfilled(decision: Decision): Promise<Decision> {
  void decision.allowed;
  return Promise.resolve(decision);
}

/**
 * Sliding-log window per key count: a log keeps every call of the last window, so a limit that is
 * never reached means rate × window entries per key. The window is picked so that each key's log
 * holds a few dozen entries at ~3 M calls/s, as a real key's log would; one hot key at millions
 * of calls per second cannot be brought there with a whole-millisecond window (see bench.md).
 */
function slidingWindowMs(keys: number): number {
  return Math.max(1, Math.round(keys / 100));
}

type Kind = 'token-bucket' | 'sliding-log' | 'fixed-window' | 'sliding-counter';

/**
 * Limits are never reached: a billion tokens drain by at most ~15 M in a measurement. A refill of
 * 1 token/s keeps each key's state alive between visits, as it is for real keys, instead of every
 * call finding an expired bucket. The window counters count in hour-long windows, so a key's
 * count lives on between visits too. Their state is one number, `window × (limit + 1) + count`
 * (the counter: `window × (limit + 1)² + previous × (limit + 1) + current`), windows counted from
 * the first charge's; this case runs within that first window, so the state is the count, an
 * integer below 2^30, which V8 keeps unboxed, as it does for real limits. The counter's limit is
 * close to the largest whose `(limit + 1)²` is still an exact integer (above that the state is an
 * array): one key sees up to ~50 M calls in this case.
 */
function algorithmOf(kind: Kind, keys: number): Algorithm {
  switch (kind) {
    case 'token-bucket':
      return tokenBucket({ capacity: HUGE, refillPerSecond: 1 });
    case 'sliding-log':
      return slidingWindowLog({ limit: HUGE, windowMs: slidingWindowMs(keys) });
    case 'fixed-window':
      return fixedWindow({ limit: HUGE, windowMs: 3_600_000 });
    case 'sliding-counter':
      return slidingWindowCounter({ limit: 90_000_000, windowMs: 3_600_000 });
  }
}

function floodgate(kind: Kind, keys: number): Limiter {
  return createLimiter({ algorithm: algorithmOf(kind, keys) });
}

/** The algorithm of a floodgate contender: `floodgate-<kind>-<consume|decide>`. */
function kindOf(impl: CoreImpl): Kind {
  return impl.slice('floodgate-'.length, impl.lastIndexOf('-')) as Kind;
}

function makeCall(impl: CoreImpl, keys: number): { call: Call; close(): void } {
  switch (impl) {
    case 'floodgate-token-bucket-consume':
    case 'floodgate-sliding-log-consume':
    case 'floodgate-fixed-window-consume':
    case 'floodgate-sliding-counter-consume': {
      const limiter = floodgate(kindOf(impl), keys);
      return { call: (key) => limiter.consume(key).then((d) => !d.allowed), close() {} };
    }
    case 'floodgate-token-bucket-decide':
    case 'floodgate-sliding-log-decide':
    case 'floodgate-fixed-window-decide':
    case 'floodgate-sliding-counter-decide': {
      const limiter = floodgate(kindOf(impl), keys);
      return {
        call(key) {
          const d = limiter.decide(key, 1);
          return d instanceof Promise ? d.then((x) => !x.allowed) : !d.allowed;
        },
        close() {},
      };
    }
    case 'rate-limiter-flexible': {
      const limiter = new RateLimiterMemory({ points: HUGE, duration: 60 });
      return {
        call: (key) =>
          limiter.consume(key).then(
            () => false,
            () => true,
          ),
        close() {},
      };
    }
    case 'reference-clock-and-promise': {
      // The floor of any async limiter on a clock: read the time, make a fresh answer, hand it
      // back in a promise. express-rate-limit's store does this plus a map lookup and a counter.
      let n = 0;
      return {
        call: (_key) =>
          Promise.resolve({
            allowed: performance.now() >= 0,
            limit: HUGE,
            remaining: n++,
            resetMs: 0,
            retryAfterMs: 0,
          }).then((d) => !d.allowed),
        close() {},
      };
    }
    case 'reference-clock-and-map':
    case 'reference-clock-map-and-promise':
    case 'reference-clock-map-fraction-and-promise': {
      // The floor of an exact counter kept in memory, whatever its algorithm: read the clock, get a
      // key's count from a Map and set it back (a count is a number, written back per call, as
      // floodgate's window counters keep it), make a fresh answer; then, but for the first, hand it
      // back in a promise. No key check, no cost, no windows. The third counts from 0.5, so what it
      // keeps is a fraction, as a token bucket's level is: the floor of a bucket. V8 keeps a
      // fraction in a Map as a heap number of its own, so every write allocates one.
      const start = impl === 'reference-clock-map-fraction-and-promise' ? 0.5 : 0;
      const counts = new Map<string, number>();
      const answer = (key: string): Answer => {
        const now = performance.now();
        const used = counts.get(key) ?? start;
        counts.set(key, used + 1);
        return {
          allowed: now >= 0 && used < HUGE,
          limit: HUGE,
          remaining: HUGE - used - 1,
          resetMs: 0,
          retryAfterMs: 0,
        };
      };
      return impl === 'reference-clock-and-map'
        ? { call: (key) => !answer(key).allowed, close() {} }
        : { call: (key) => Promise.resolve(answer(key)).then((d) => !d.allowed), close() {} };
    }
    case 'reference-log-and-promise': {
      // The floor of an exact sliding log kept in memory: read the clock, get the key's log of
      // expiry instants from a Map, drop the expired ones from its head, append the new one, make
      // a fresh answer and hand it back in a promise, with floodgate's window for this key count.
      // No key check, no cost, no bound on keys, no exact reset time.
      const windowMs = slidingWindowMs(keys);
      const logs = new Map<string, number[]>();
      return {
        call(key) {
          const now = performance.now();
          let log = logs.get(key);
          if (log === undefined) {
            log = [];
            logs.set(key, log);
          }
          while (log.length > 0 && (log[0] as number) <= now) log.shift();
          const allowed = log.length < HUGE;
          if (allowed) log.push(now + windowMs);
          return Promise.resolve({
            allowed,
            limit: HUGE,
            remaining: HUGE - log.length,
            resetMs: windowMs,
            retryAfterMs: 0,
          }).then((d) => !d.allowed);
        },
        close() {},
      };
    }
    case 'reference-bucket-steps-and-promise':
    case 'reference-log-steps-and-promise': {
      // floodgate's own algorithm, with nothing of its limiter or store around it: read the
      // clock, get the key's state from a Map, run the algorithm's two steps (evaluate, then
      // charge when allowed, writing back a state it replaced), and hand its Decision back in a
      // promise. The same algorithm and parameters as floodgate's row. No key or cost check, no
      // bound on keys, no expiry of idle keys, no blocks, no policies but one. What floodgate's
      // row spends beyond this is its limiter and store; what this spends beyond the floor of
      // the same kind is the algorithm's exact arithmetic.
      const algorithm = algorithmOf(
        impl === 'reference-bucket-steps-and-promise' ? 'token-bucket' : 'sliding-log',
        keys,
      );
      const states = new Map<string, unknown>();
      return {
        call(key) {
          const now = performance.now();
          const state = states.get(key);
          const d = algorithm.evaluate(state, now, 1, true);
          if (d.allowed) {
            const next = algorithm.charge(state, now, 1);
            if (next !== state) states.set(key, next);
          }
          return fulfilled(d).then((x) => !x.allowed);
        },
        close() {},
      };
    }
    case 'express-rate-limit': {
      // The store the middleware awaits once per request; the middleware denies when totalHits > limit.
      const store = new ErlMemoryStore();
      store.init({ windowMs: 60_000 } as ErlOptions);
      return {
        call: (key) => store.increment(key).then((info) => info.totalHits > HUGE),
        close: () => store.shutdown(),
      };
    }
  }
}

async function measure(
  call: Call,
  keys: readonly string[],
  ms: number,
): Promise<{ ops: number; seconds: number; denied: number }> {
  const n = keys.length;
  let i = 0;
  let ops = 0;
  let denied = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms && ops < MAX_OPS) {
    for (let j = 0; j < BATCH; j++) {
      let r = call(keys[i] as string);
      // Await only what is a promise: the sync fast path must not pay for a microtask.
      if (typeof r !== 'boolean') r = await r;
      if (r) denied++;
      i = i + 1 === n ? 0 : i + 1;
    }
    ops += BATCH;
    now = performance.now();
  }
  return { ops, seconds: (now - start) / 1000, denied };
}

interface Prepared {
  call: Call;
  keys: string[];
  close(): void;
}

/** One limiter per key count, warmed on first use: every key seen and the JIT settled. */
async function prepare(impl: CoreImpl, count: number, warmupMs: number): Promise<Prepared> {
  const keys = Array.from({ length: count }, (_, k) => `user:${k}`);
  const { call, close } = makeCall(impl, count);
  await measure(call, keys, Math.max(warmupMs, 1));
  for (let k = 0; k < count; k++) {
    const r = call(keys[k] as string);
    if (typeof r !== 'boolean') await r;
  }
  return { call, keys, close };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === 'serve') {
    const impl = argv[1] as CoreImpl;
    if (!CORE_IMPLS.includes(impl)) throw new Error(`unknown impl ${argv[1]}`);
    const ready = new Map<number, Prepared>();
    serve(async (message) => {
      const count = Number(message.keys);
      let p = ready.get(count);
      if (p === undefined) {
        p = await prepare(impl, count, Number(message.warmupMs));
        ready.set(count, p);
      }
      const m = await measure(p.call, p.keys, Number(message.measureMs));
      return { keys: count, opsPerSec: m.ops / m.seconds, ops: m.ops, denied: m.denied };
    });
    return;
  }
  const [implArg, measureArg, warmupArg, countsArg] = argv;
  const impl = implArg as CoreImpl;
  if (!CORE_IMPLS.includes(impl)) throw new Error(`unknown impl ${implArg}`);
  const results = [];
  for (const count of (countsArg ?? '1').split(',').map(Number)) {
    const p = await prepare(impl, count, Number(warmupArg));
    const m = await measure(p.call, p.keys, Number(measureArg));
    p.close();
    results.push({ keys: count, opsPerSec: m.ops / m.seconds, ops: m.ops, denied: m.denied });
  }
  console.log(JSON.stringify({ impl, results }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
