import { ok, strictEqual } from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import type { Interval, WorkerConfig, WorkerReport } from './fixtures/redis-worker.js';
import { randomPrefix, useSuiteRedis } from './helpers/redis.js';

const WORKER = fileURLToPath(new URL('./fixtures/redis-worker.ts', import.meta.url));
const LIMIT = 100;
const WINDOW_MS = 2000;
const DURATION_MS = 6000;

let server: { url: string; stop(): Promise<void> };
let client: Redis;
const children = new Set<ChildProcess>();
useSuiteRedis((s, c) => {
  server = s;
  client = c;
});

after(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** One admitted log entry, as the script wrote it: its expiry on the Redis clock and its running total. */
interface Entry {
  expiry: number;
  cum: number;
  cost: number;
}

function decode(raw: Buffer): Entry {
  return {
    expiry: raw.readDoubleLE(0),
    cum: raw.readDoubleLE(8),
    cost: raw.length === 24 ? raw.readDoubleLE(16) : 1,
  };
}

/**
 * Runs one worker per entry of `shifts` against one key and collects every entry the log ever
 * held by reading the list more often than entries live (they stay until they expire). The
 * entries carry the server time of each admission, so the rolling-window check runs on the one
 * timeline every process shares, with no client-side timestamp jitter to allow for.
 */
async function hammer(
  shifts: readonly number[],
  refundEvery = 0,
): Promise<{ reports: WorkerReport[]; entries: Entry[] }> {
  const prefix = randomPrefix('mp');
  const key = 'hot';
  const redisKey = `${prefix}:{${key}}:default`;
  const workers = shifts.map((shiftMs) => {
    const config: WorkerConfig = {
      url: server.url,
      prefix,
      key,
      limit: LIMIT,
      windowMs: WINDOW_MS,
      inFlight: 8,
      durationMs: DURATION_MS,
      maxCalls: 500_000,
      shiftMs,
      refundEvery,
    };
    const child = fork(WORKER, [JSON.stringify(config)], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    children.add(child);
    child.once('exit', () => children.delete(child));
    const ready = new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
    });
    return { child, ready };
  });
  await Promise.all(workers.map((w) => w.ready));

  const seen = new Map<string, Entry>();
  const snapshot = async (): Promise<void> => {
    for (const raw of await client.lrangeBuffer(redisKey, 0, -1)) {
      const e = decode(raw);
      seen.set(`${e.expiry}/${e.cum}`, e);
    }
  };
  const reports = Promise.all(
    workers.map(
      ({ child }) =>
        new Promise<WorkerReport>((resolve, reject) => {
          child.once('message', (m) => resolve(m as WorkerReport));
          child.once('exit', (code) => reject(new Error(`worker exited with ${code} without a report`)));
        }),
    ),
  );
  for (const { child } of workers) child.send('go');
  let finished = false;
  const poller = (async () => {
    while (!finished) {
      await snapshot();
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    const done = await reports;
    finished = true;
    await poller;
    await snapshot();
    return { reports: done, entries: [...seen.values()] };
  } finally {
    finished = true;
  }
}

function check(reports: WorkerReport[], entries: Entry[]): void {
  for (const r of reports) {
    strictEqual(r.failures.length, 0, r.failures.join('\n'));
    ok(r.maxRetryAfterMs <= WINDOW_MS && r.maxResetMs <= WINDOW_MS, JSON.stringify(r));
  }
  const allowed = reports.reduce((sum, r) => sum + r.allowed, 0);
  const admitted = entries.reduce((sum, e) => sum + e.cost, 0);
  strictEqual(allowed, admitted, `the processes were told "allowed" ${allowed} times, the log admitted ${admitted}`);
  // Saturated for 6 s from a fresh key: bursts at t0, t0 + 2 s, t0 + 4 s, perhaps the start of t0 + 6 s.
  ok(allowed >= 3 * LIMIT && allowed <= 4 * LIMIT, `allowed ${allowed}`);
  const expiries = entries.map((e) => e.expiry).sort((a, b) => a - b);
  // Each admission at t wrote expiry t + windowMs, so "at most LIMIT admitted in any span of
  // windowMs" is: any LIMIT + 1 consecutive admissions span at least windowMs. The 0.001 ms
  // allows only for float rounding of epoch-sized times; no clock-jitter tolerance is needed.
  let tightest = Number.POSITIVE_INFINITY;
  for (let i = 0; i + LIMIT < expiries.length; i++) {
    tightest = Math.min(tightest, (expiries[i + LIMIT] as number) - (expiries[i] as number));
  }
  ok(tightest >= WINDOW_MS - 0.001, `${LIMIT + 1} admissions within ${tightest} ms`);
}

test('4 processes × 8 in flight on one key: at most 100 per rolling 2 s, counts add up', async (t) => {
  const { reports, entries } = await hammer([0, 0, 0, 0]);
  t.diagnostic(
    `calls ${reports.map((r) => r.calls).join(' + ')}, allowed ${reports.map((r) => r.allowed).join(' + ')}`,
  );
  check(reports, entries);
});

test('processes with clocks skewed by +5 s and -5 s share the Redis timeline', async (t) => {
  const { reports, entries } = await hammer([5000, -5000]);
  t.diagnostic(
    `calls ${reports.map((r) => r.calls).join(' + ')}, allowed ${reports.map((r) => r.allowed).join(' + ')}`,
  );
  check(reports, entries);
});

/**
 * The most units admitted minus refunded that any span `[s, s + windowMs)` can be shown to hold,
 * from the intervals alone. A call took effect in Redis somewhere in `[sent, received + 1)` (whole
 * milliseconds of the clock Redis reads; the extra `SLACK_MS` costs nothing), so an admission
 * counts for a span only if that interval lies inside it, and a refund counts against a span if
 * the interval merely touches it. For a correct log this can never pass the limit: let t be the
 * span's last admission; every unit admitted in `[s, t]` is in the window `(t − windowMs, t]` that
 * decided it, so those units, less the ones refunded by t, are at most the limit, and every such
 * refund took effect inside the span. Each refund counted here gives back one unit (its caller's
 * own entry was still live when it was sent, at most a round trip after it was admitted).
 */
function netPerSpan(reports: readonly WorkerReport[]): number {
  const SLACK_MS = 1;
  const inside = reports
    .flatMap((r) => r.admitted)
    .map(([sent, received]): Interval => [sent - SLACK_MS, received + 1 + SLACK_MS]);
  const touching = reports
    .flatMap((r) => r.refunded)
    .map(([sent, received]): Interval => [sent - SLACK_MS, received + 1 + SLACK_MS]);
  // The count changes only where a span's start meets an end of some interval: try each of them.
  const starts = new Set<number>();
  for (const [from, to] of inside) starts.add(from).add(to - WINDOW_MS);
  for (const [from, to] of touching) starts.add(from - WINDOW_MS).add(to);
  let most = Number.NEGATIVE_INFINITY;
  for (const s of starts) {
    const end = s + WINDOW_MS;
    let net = 0;
    for (const [from, to] of inside) if (from >= s && to <= end) net++;
    for (const [from, to] of touching) if (from < end && to > s) net--;
    most = Math.max(most, net);
  }
  return most;
}

test('4 processes consuming and refunding every third allowed call on one key: admitted minus refunded is at most 100 in any 2 s', async (t) => {
  const { reports } = await hammer([0, 0, 0, 0], 3);
  for (const r of reports) strictEqual(r.failures.length, 0, r.failures.join('\n'));
  const allowed = reports.reduce((sum, r) => sum + r.allowed, 0);
  const refunded = reports.reduce((sum, r) => sum + r.refunded.length, 0);
  const most = netPerSpan(reports);
  t.diagnostic(`allowed ${allowed}, refunded ${refunded}, at most ${most} net in one span of ${WINDOW_MS} ms`);
  ok(most <= LIMIT, `${most} units admitted and not refunded in one span of ${WINDOW_MS} ms`);
  // Not vacuous: the refunds freed slots that were taken again (without them no 6 s could admit more
  // than 4 windows' worth), and the check saw saturated spans, not only the quiet edges of some.
  ok(allowed > 4 * LIMIT, `allowed ${allowed}: the refunded slots were used again`);
  ok(most >= LIMIT / 2, `the fullest span the check could see held only ${most}`);
});
