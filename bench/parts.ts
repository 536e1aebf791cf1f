/**
 * What one in-memory decision is made of, each part timed alone in a tight loop over 1,000 keys:
 * the clock read, the Map look-up and write a store makes, a token bucket's own arithmetic, a
 * whole synchronous `decide`, and the promise `consume` adds. It sets the budget beside case 2's
 * targets (README, "Where floodgate misses a target"); it is not part of `npm run bench`.
 *   node --import tsx bench/parts.ts
 */
import { createLimiter, tokenBucket } from 'floodgate';

const KEYS = Array.from({ length: 1000 }, (_, k) => `user:${k}`);
/** Calls per timed run; a run is repeated and the fastest of them kept, as noise only adds. */
const CALLS = 3_000_000;
const RUNS = 5;

function time(name: string, part: (key: string, i: number) => unknown): void {
  let best = Number.POSITIVE_INFINITY;
  let sink = 0;
  for (let r = 0; r < RUNS; r++) {
    const start = performance.now();
    for (let i = 0; i < CALLS; i++) if (part(KEYS[i % 1000] as string, i) === sink) sink++;
    best = Math.min(best, ((performance.now() - start) * 1e6) / CALLS);
  }
  console.log(`| ${name} | ${best.toFixed(1)} |`);
}

async function timeAsync(name: string, part: (key: string) => Promise<unknown>): Promise<void> {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < RUNS; r++) {
    const start = performance.now();
    for (let i = 0; i < CALLS; i++) await part(KEYS[i % 1000] as string);
    best = Math.min(best, ((performance.now() - start) * 1e6) / CALLS);
  }
  console.log(`| ${name} | ${best.toFixed(1)} |`);
}

async function main(): Promise<void> {
  console.log('| part (1,000 keys) | ns per call, fastest of 5 runs |');
  console.log('|---|---|');
  time('an empty loop (the harness)', (key) => key);
  time('`performance.now()`', () => performance.now());
  const map = new Map<string, number>(KEYS.map((k) => [k, 0]));
  time('Map get and set of a number', (key) => {
    const v = map.get(key) as number;
    map.set(key, v + 1);
    return v;
  });
  const bucket = tokenBucket({ capacity: 1_000_000_000, refillPerSecond: 1 });
  time('token bucket evaluate + charge, no store', (_key, i) => {
    const now = 1000 + i * 1e-3;
    bucket.evaluate(5, now, 1, true);
    return bucket.charge(5, now, 1);
  });
  const limiter = createLimiter({ algorithm: bucket });
  time('token bucket `decide` (all of the above, key check and answer)', (key) => limiter.decide(key, 1));
  await timeAsync('token bucket `consume` (`decide` and a promise)', (key) => limiter.consume(key));
  await timeAsync('a promise made and awaited, nothing else', (key) => Promise.resolve(key));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
