/**
 * How close the sliding-window counter comes to the exact sliding log under steady traffic: one
 * client calls at a steady average rate above the limit, and the calls each algorithm admits are
 * counted over every span of `windowMs`.
 *
 *   node --import tsx bench/counter-accuracy.ts
 *
 * Deterministic (seeded arrivals, an injected clock), about a second. Two kinds of arrivals:
 * evenly spaced, and random (exponential gaps, as independent requests arrive). Limit 100 per
 * minute, 20 minutes per run, 5 seeds; the first two minutes are left out of the per-window mean.
 */
import { type Algorithm, createLimiter, MemoryStore, slidingWindowCounter, slidingWindowLog } from 'floodgate';

const LIMIT = 100;
const WINDOW_MS = 60_000;
const WINDOWS = 20;
const SEEDS = [1, 2, 3, 4, 5];

/** A small linear congruential generator: the same arrivals on every run. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648;
  };
}

/** The admitted calls' times when a client sends at `factor` × the limit, evenly or at random. */
function admitted(algorithm: Algorithm, factor: number, arrivals: 'even' | 'random', seed: number): number[] {
  let now = 0;
  const limiter = createLimiter({ algorithm, store: new MemoryStore({ clock: () => now, sweepIntervalMs: false }) });
  const gap = WINDOW_MS / (LIMIT * factor);
  const next = random(seed);
  const times: number[] = [];
  const calls = Math.floor((WINDOWS * WINDOW_MS) / gap);
  for (let i = 0; i < calls; i++) {
    now = arrivals === 'even' ? i * gap : now - Math.log(1 - next()) * gap;
    const d = limiter.decide('client');
    if (!(d instanceof Promise) && d.allowed) times.push(now);
  }
  return times;
}

/** Most admitted calls in any span `(t - windowMs, t]`. */
function busiestSpan(times: readonly number[]): number {
  let most = 0;
  let first = 0;
  for (let i = 0; i < times.length; i++) {
    while ((times[first] as number) <= (times[i] as number) - WINDOW_MS) first++;
    most = Math.max(most, i - first + 1);
  }
  return most;
}

const rows: string[] = [
  `Limit ${LIMIT} per ${WINDOW_MS / 1000} s; ${WINDOWS} windows per run; ${SEEDS.length} seeds for random arrivals.`,
  '',
  '| arrivals | rate ÷ limit | busiest span: counter (log) | admitted per window: counter (log) |',
  '|---|---|---|---|',
];
for (const arrivals of ['even', 'random'] as const) {
  for (const factor of [1.2, 2, 10]) {
    let counterMost = 0;
    let logMost = 0;
    let counterMean = 0;
    let logMean = 0;
    const seeds = arrivals === 'even' ? [1] : SEEDS;
    for (const seed of seeds) {
      const c = admitted(slidingWindowCounter({ limit: LIMIT, windowMs: WINDOW_MS }), factor, arrivals, seed);
      const l = admitted(slidingWindowLog({ limit: LIMIT, windowMs: WINDOW_MS }), factor, arrivals, seed);
      counterMost = Math.max(counterMost, busiestSpan(c));
      logMost = Math.max(logMost, busiestSpan(l));
      const late = (t: number): boolean => t >= 2 * WINDOW_MS;
      counterMean += c.filter(late).length / (WINDOWS - 2) / seeds.length;
      logMean += l.filter(late).length / (WINDOWS - 2) / seeds.length;
    }
    rows.push(
      `| ${arrivals} | ${factor} | ${counterMost} (${logMost}) | ${counterMean.toFixed(1)} (${logMean.toFixed(1)}) |`,
    );
  }
}
console.log(rows.join('\n'));
