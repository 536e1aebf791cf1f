/**
 * `npm run demo`: floodgate at work on the in-memory default, no Redis needed.
 *
 * The first part drives each limiter through a burst of calls on a simulated clock (the
 * MemoryStore takes an injected clock), so the timeline is exact and the demo is instant. The
 * second part uses real time: `acquire` waits for slots. The last part starts an Express and a
 * Fastify app on loopback ports and shows the status codes and headers a burst gets back.
 */
import {
  type Algorithm,
  createLimiter,
  type Decision,
  fixedWindow,
  MemoryStore,
  slidingWindowCounter,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { runHttpDemo } from './http.js';

const pad = (value: string | number, width: number) => String(value).padStart(width);

function line(at: number, label: string, d: Decision): string {
  const verdict = d.allowed ? 'allowed' : d.blocked ? 'BLOCKED' : 'DENIED ';
  const wait = d.allowed ? '' : `  retry after ${d.retryAfterMs} ms`;
  return `  t=${pad(at, 5)} ms  ${label.padEnd(9)} ${verdict}  remaining ${pad(d.remaining, 2)}/${d.limit}  reset in ${pad(d.resetMs, 4)} ms${wait}`;
}

async function timeline(
  title: string,
  algorithm: Algorithm,
  calls: readonly [at: number, cost: number][],
): Promise<void> {
  let now = 0;
  const limiter = createLimiter({ algorithm, store: new MemoryStore({ clock: () => now, sweepIntervalMs: false }) });
  console.log(`\n${title}`);
  for (const [at, cost] of calls) {
    now = at;
    const d = await limiter.consume('user:42', { cost });
    console.log(line(at, cost === 1 ? 'call' : `cost ${cost}`, d));
  }
}

const burst: [number, number][] = [
  [0, 1],
  [10, 1],
  [20, 1],
  [30, 1],
  [40, 1],
  [50, 1],
  [400, 1],
  [600, 1],
  [1000, 1],
  [1010, 1],
  [1600, 3],
];

await timeline(
  'Sliding-window log: limit 5 per 1000 ms (exact: never more than 5 in any 1000 ms span)',
  slidingWindowLog({ limit: 5, windowMs: 1000 }),
  burst,
);
await timeline(
  'Token bucket: capacity 5, refill 5 per second (bursts of 5, then one every 200 ms)',
  tokenBucket({ capacity: 5, refillPerSecond: 5 }),
  burst,
);
await timeline(
  'Fixed window: limit 5 per 1000 ms window (cheapest; a burst may straddle two windows)',
  fixedWindow({ limit: 5, windowMs: 1000 }),
  burst,
);
await timeline(
  'Sliding-window counter: limit 5 per 1000 ms (the previous window weighted by its overlap)',
  slidingWindowCounter({ limit: 5, windowMs: 1000 }),
  burst,
);

console.log('\nLogin lock-out: 3 failed attempts per 10 s, then locked for 60 s; a success is refunded');
{
  let now = 0;
  const limiter = createLimiter({
    algorithm: slidingWindowLog({ limit: 3, windowMs: 10_000 }),
    blockDurationMs: 60_000,
    store: new MemoryStore({ clock: () => now, sweepIntervalMs: false }),
  });
  for (const [at, outcome] of [
    [0, 'success'],
    [1000, 'fail'],
    [2000, 'fail'],
    [3000, 'fail'],
    [4000, 'fail'],
    [30_000, 'fail'],
    [64_000, 'fail'],
  ] as const) {
    now = at;
    const d = await limiter.consume('alice');
    // Only failed attempts count: a success gives its unit back (the refund tells what is left).
    const shown = d.allowed && outcome === 'success' ? await limiter.refund('alice') : d;
    console.log(line(at, d.allowed ? outcome : 'attempt', shown));
  }
}

console.log('\nMulti-policy: burst 3 (token bucket) AND 4 per 10 s (sliding log), all-or-nothing');
{
  let now = 0;
  const limiter = createLimiter({
    policies: {
      burst: tokenBucket({ capacity: 3, refillPerSecond: 1 }),
      window: slidingWindowLog({ limit: 4, windowMs: 10_000 }),
    },
    store: new MemoryStore({ clock: () => now, sweepIntervalMs: false }),
  });
  for (const at of [0, 0, 0, 0, 1000, 2000, 3000]) {
    now = at;
    const d = await limiter.consume('user:42');
    const each = Object.entries(d.policies ?? {})
      .map(([name, p]) => `${name} ${p.remaining}/${p.limit}`)
      .join(', ');
    console.log(`${line(at, 'call', d)}  [bound by ${d.policy}; ${each}]`);
  }
}

console.log('\nacquire: 6 jobs wait their turn for a token bucket of 2, refilling 10 per second (real time)');
{
  const limiter = createLimiter({ algorithm: tokenBucket({ capacity: 2, refillPerSecond: 10 }) });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 6 }, async (_, job) => {
      await limiter.acquire('jobs', { maxWaitMs: 2000 });
      console.log(`  job ${job} got its slot after ${pad(Math.round(performance.now() - started), 3)} ms`);
    }),
  );
}

await runHttpDemo();
