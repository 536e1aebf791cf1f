import { captureRateLimiterFlexibleCall, captureScriptCall } from '../lib/capture.js';
import { scriptStatsOf } from '../lib/commandstats.js';
import type { BenchContext } from '../lib/context.js';
import { FLOOR_SCRIPT } from '../lib/floor-script.js';
import { type IpcWorker, startIpcWorker } from '../lib/ipc.js';
import type { QuietReport } from '../lib/machine.js';
import { CPU, run } from '../lib/proc.js';
import { median, range, round, roundOrder } from '../lib/stats.js';
import {
  FLOODGATE_KINDS,
  type FloodgateKind,
  NODE_REDIS_KINDS,
  type NodeRedisKind,
  ONE_KEY,
} from './redis-policies.js';

/** floodgate on a node-redis client: the same limiter as `floodgate-<kind>`, which runs on ioredis. */
type NodeRedisClient = `floodgate-${NodeRedisKind}-node-redis`;
const CLIENTS = [
  ...FLOODGATE_KINDS.map((k) => `floodgate-${k}` as const),
  ...NODE_REDIS_KINDS.map((k): NodeRedisClient => `floodgate-${k}-node-redis`),
  'rate-limiter-flexible',
] as const;
type Client = (typeof CLIENTS)[number];
/** A replay by redis-benchmark of one script call: floodgate's, rate-limiter-flexible's, or the floor. */
type Replay = FloodgateKind | 'rate-limiter-flexible' | 'floor';
/**
 * floodgate's own script call sent by a bare ioredis client: the driver's ceiling for it; and the
 * floor script sent the same way: what any limiter on the Redis clock gets through ioredis.
 */
type IoredisReplay = `ioredis-${FloodgateKind | 'floor'}`;
type Contender = Client | typeof ONE_KEY | IoredisReplay | `redis-benchmark-${Replay}`;
const IOREDIS_REPLAYS: readonly IoredisReplay[] = [
  ...FLOODGATE_KINDS.map((k) => `ioredis-${k}` as const),
  'ioredis-floor',
];

const IN_FLIGHT = [1, 256] as const;

interface Sample {
  decisionsPerSec: number;
  p50Us: number;
  p99Us: number;
  /** Server time per script call (`INFO commandstats`: EVALSHA and EVAL usec / calls). */
  serverUs?: number;
  /** Server time in script calls per decision, µs (a script call may decide several). */
  serverUsPerDecision?: number;
  /** Script calls per decision: 1, or less when the store sends calls waiting together as one. */
  scriptCallsPerDecision?: number;
  /** The worker's own CPU time per call (user + system), µs. */
  clientCpuUs?: number;
  /** The worker's garbage-collection pauses, ms per measured second. */
  gcMsPerSecond?: number;
  /** The worker's full (mark-compact) collections while measuring. */
  majorGcs?: number;
  denied?: number;
  degraded?: number;
}

export interface RedisContender {
  id: Contender;
  inFlight: number;
  available: boolean;
  reason?: string;
  decisionsPerSec: number[];
  p50Us: number[];
  p99Us: number[];
  medianDecisionsPerSec: number;
  medianP50Us: number;
  medianP99Us: number;
  /** Redis server time per script call, µs (median of rounds). */
  medianServerUs: number;
  /** Redis server time per decision, µs (median of rounds). */
  medianServerUsPerDecision: number;
  /** Script calls per decision (median of rounds). */
  medianScriptCallsPerDecision: number;
  /** The client process's CPU time per call, µs (median of rounds); the workers' rows only. */
  medianClientCpuUs: number;
  /** The client process's garbage-collection pauses, ms per second, per round; the workers' rows only. */
  gcMsPerSecond: number[];
  /** Its full (mark-compact) collections, per round. */
  majorGcs: number[];
  /** Median of `gcMsPerSecond`. */
  medianGcMsPerSecond: number;
  /** For floodgate rows: per-round ratios to rate-limiter-flexible and to redis-benchmark of the same script. */
  vsRateLimiterFlexible?: { ratios: number[]; median: number; range: [number, number] };
  vsRedisBenchmark?: { ratios: number[]; median: number; range: [number, number] };
  /** For floodgate rows: per-round ratio to the same script call sent by bare ioredis. */
  vsIoredis?: { ratios: number[]; median: number; range: [number, number] };
  /**
   * For floodgate rows on node-redis: per-round ratios to floodgate's row of the same algorithm on
   * ioredis, of decisions/s and of p50 latency.
   */
  vsFloodgateOnIoredis?: { ratios: number[]; median: number; range: [number, number] };
  p50VsFloodgateOnIoredis?: { ratios: number[]; median: number; range: [number, number] };
  deniedOrDegraded: number;
  /** Measurements that failed once and were taken again (over both in-flight counts). */
  retried?: number;
}

export interface RedisResult {
  rounds: number;
  measureMs: number;
  keyspace: number;
  /**
   * The command redis-benchmark replayed: floodgate's per algorithm and rate-limiter-flexible's
   * (as captured through MONITOR), and the floor's.
   */
  scriptCalls: Partial<Record<Replay, string[]>>;
  /** redis-benchmark's connection/pipeline shape for each in-flight count. */
  benchmarkShape: Record<string, string>;
  rows: RedisContender[];
  quiet: QuietReport[];
}

function benchmarkArgs(inFlight: number): string[] {
  // One connection with `inFlight` requests outstanding: the shape of one ioredis client.
  return inFlight === 1 ? ['-c', '1', '-P', '1'] : ['-c', '1', '-P', String(inFlight)];
}

async function errorReplies(ctx: BenchContext): Promise<number> {
  const info = await ctx.redis.cli('INFO', 'stats');
  return Number(info.match(/total_error_replies:(\d+)/)?.[1] ?? Number.NaN);
}

async function redisBenchmark(
  ctx: BenchContext,
  port: number,
  call: string[],
  inFlight: number,
  requests: number,
  keyspace: number,
): Promise<Sample> {
  const args = ['-h', '127.0.0.1', '-p', String(port), ...benchmarkArgs(inFlight), '-n', String(requests)];
  const errorsBefore = await errorReplies(ctx);
  const argv = [...args, '-r', String(keyspace), '--csv', ...call];
  let r = await run('redis-benchmark', argv, 120_000, CPU.load);
  // Now and then redis-benchmark loses its connection mid-run on this machine ("All clients
  // disconnected"), with no error reply and nothing in the server's log: run it once more.
  if (r.code !== 0 && r.stderr.includes('All clients disconnected'))
    r = await run('redis-benchmark', argv, 120_000, CPU.load);
  // redis-benchmark does not read replies: make sure the replayed script ran rather than failed fast.
  const errors = (await errorReplies(ctx)) - errorsBefore;
  if (errors > 0)
    throw new Error(`redis-benchmark's replay of ${call.slice(0, 2).join(' ')} got ${errors} error replies`);
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  const fields = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1] as string);
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const rps = Number(fields[1]);
  if (r.code !== 0 || !Number.isFinite(rps)) throw new Error(`redis-benchmark failed: ${r.stderr || r.stdout}`);
  // With -P, redis-benchmark times a whole pipeline batch; per-call latency is only meaningful at 1 in flight.
  return { decisionsPerSec: rps, p50Us: Number(fields[4]) * 1000, p99Us: Number(fields[6]) * 1000 };
}

/** Server time per script call since the last `CONFIG RESETSTAT`, in µs. */
async function serverUsPerCall(ctx: BenchContext): Promise<number> {
  const { calls, usec } = scriptStatsOf(await ctx.redis.cli('INFO', 'commandstats'));
  return calls > 0 ? usec / calls : Number.NaN;
}

function ratioSummary(a: number[], b: number[]): { ratios: number[]; median: number; range: [number, number] } {
  const ratios = a.map((x, i) => x / (b[i] as number));
  return {
    ratios: ratios.map((x) => round(x, 3)),
    median: round(median(ratios), 3),
    range: range(ratios).map((x) => round(x, 3)) as [number, number],
  };
}

/**
 * Case 3, Redis: decisions/s and latency at 1 and 256 calls in flight, redis-server pinned to the
 * server core and every client (ioredis and node-redis workers, redis-benchmark) to the load core.
 */
export async function runRedisCase(ctx: BenchContext): Promise<RedisResult> {
  const { profile, log, redis } = ctx;
  const { measureMs, warmupMs, keyspace } = profile.redis;
  const scriptCalls: RedisResult['scriptCalls'] = {};
  const reasons = new Map<Contender, string>();
  /** Measurements taken a second time after a failure, per contender. */
  const retries = new Map<Contender, number>();
  for (const kind of FLOODGATE_KINDS) {
    try {
      scriptCalls[kind] = await captureScriptCall(redis.port, kind);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      reasons.set(`redis-benchmark-${kind}`, reason);
      log(`redis: could not capture floodgate's ${kind} script call: ${reason}`);
    }
  }
  const contenders: Contender[] = [
    ...CLIENTS,
    ONE_KEY,
    ...IOREDIS_REPLAYS,
    ...FLOODGATE_KINDS.map((k) => `redis-benchmark-${k}` as const),
    'redis-benchmark-rate-limiter-flexible',
    'redis-benchmark-floor',
  ];
  try {
    scriptCalls['rate-limiter-flexible'] = await captureRateLimiterFlexibleCall(redis.port);
  } catch (error) {
    reasons.set('redis-benchmark-rate-limiter-flexible', error instanceof Error ? error.message : String(error));
  }
  try {
    const sha = (await redis.cli('SCRIPT', 'LOAD', FLOOR_SCRIPT)).trim();
    scriptCalls.floor = ['EVALSHA', sha, '1', 'floor:{key:__rand_int__}'];
  } catch (error) {
    reasons.set('redis-benchmark-floor', error instanceof Error ? error.message : String(error));
  }
  const samples = new Map<string, Sample[]>();
  const key = (c: Contender, f: number): string => `${c}@${f}`;
  const quiet: QuietReport[] = [];
  const rounds = profile.rounds.redis;
  const workers = new Map<Contender, IpcWorker>();
  try {
    const start = async (c: Contender, mode: string[]): Promise<void> => {
      try {
        workers.set(c, await startIpcWorker('bench/cases/redis-worker.ts', ['serve', ...mode], CPU.load));
      } catch (error) {
        reasons.set(c, (error instanceof Error ? error.message : String(error)).slice(0, 400));
      }
    };
    await Promise.all([
      ...CLIENTS.map((c) => start(c, ['throughput', c, String(redis.port), String(keyspace)])),
      start(ONE_KEY, ['throughput', 'floodgate-token-bucket', String(redis.port), '1']),
      ...IOREDIS_REPLAYS.map(async (c) => {
        const call = scriptCalls[c.slice('ioredis-'.length) as FloodgateKind | 'floor'];
        if (call === undefined) reasons.set(c, 'the script call was not captured or loaded');
        else await start(c, ['replay', String(redis.port), String(keyspace), JSON.stringify(call)]);
      }),
    ]);
    for (let r = 0; r < rounds; r++) {
      quiet.push(await ctx.quiet());
      for (const inFlight of IN_FLIGHT) {
        for (const c of roundOrder(contenders, r)) {
          if (reasons.has(c)) continue;
          const measureOnce = async (): Promise<Sample> => {
            let sample: Sample;
            await redis.cli('CONFIG', 'RESETSTAT');
            if (c.startsWith('redis-benchmark-')) {
              const kind = c.slice('redis-benchmark-'.length) as Replay;
              // Sized to run about as long as the workers' measurement at this machine's rates.
              const rate = inFlight === 1 ? 8000 : 150_000;
              const requests = Math.max(1000, Math.round((rate * measureMs) / 1000));
              sample = await redisBenchmark(
                ctx,
                redis.port,
                scriptCalls[kind] as string[],
                inFlight,
                requests,
                keyspace,
              );
            } else {
              sample = await (workers.get(c) as IpcWorker).request<Sample>(
                { inFlight, measureMs, warmupMs },
                60_000 + measureMs * 3,
              );
            }
            sample.serverUs = await serverUsPerCall(ctx);
            // redis-benchmark sends one decision per script call; the workers count their own.
            sample.serverUsPerDecision ??= sample.serverUs;
            sample.scriptCallsPerDecision ??= 1;
            return sample;
          };
          // The error's first line: a worker's message carries its stack, which no table cell wants.
          const reasonOf = (error: unknown): string =>
            (error instanceof Error ? error.message : String(error)).split('\n')[0]?.slice(0, 400) ?? '';
          try {
            let sample: Sample;
            try {
              sample = await measureOnce();
            } catch (error) {
              // On a shared machine a stall of a second or more (a call timing out, redis-benchmark
              // losing its connection) now and then hits one measurement: take it once more before
              // giving the contender up, and count it.
              log(`redis: ${c} at ${inFlight} in flight failed (${reasonOf(error)}); measuring it once more`);
              retries.set(c, (retries.get(c) ?? 0) + 1);
              sample = await measureOnce();
            }
            samples.set(key(c, inFlight), [...(samples.get(key(c, inFlight)) ?? []), sample]);
          } catch (error) {
            reasons.set(c, reasonOf(error));
            log(`redis: ${c} not available: ${reasonOf(error)}`);
          }
        }
        log(
          `redis: round ${r + 1}/${rounds}, ${inFlight} in flight: ` +
            contenders
              .map((c) => `${c} ${Math.round(samples.get(key(c, inFlight))?.at(-1)?.decisionsPerSec ?? Number.NaN)}/s`)
              .join(', '),
        );
      }
    }
  } finally {
    await Promise.all([...workers.values()].map((w) => w.stop()));
  }
  const rows: RedisContender[] = [];
  for (const inFlight of IN_FLIGHT) {
    for (const c of contenders) {
      const s = samples.get(key(c, inFlight)) ?? [];
      const dps = s.map((x) => x.decisionsPerSec);
      const row: RedisContender = {
        id: c,
        inFlight,
        available: !reasons.has(c) && s.length === rounds,
        decisionsPerSec: dps.map((x) => round(x, 0)),
        p50Us: s.map((x) => round(x.p50Us, 1)),
        p99Us: s.map((x) => round(x.p99Us, 1)),
        medianDecisionsPerSec: round(median(dps), 0),
        medianP50Us: round(median(s.map((x) => x.p50Us)), 1),
        medianP99Us: round(median(s.map((x) => x.p99Us)), 1),
        medianServerUs: round(median(s.map((x) => x.serverUs ?? Number.NaN)), 2),
        medianServerUsPerDecision: round(median(s.map((x) => x.serverUsPerDecision ?? Number.NaN)), 2),
        medianScriptCallsPerDecision: round(median(s.map((x) => x.scriptCallsPerDecision ?? Number.NaN)), 3),
        medianClientCpuUs: round(median(s.map((x) => x.clientCpuUs ?? Number.NaN)), 2),
        gcMsPerSecond: s.map((x) => round(x.gcMsPerSecond ?? Number.NaN, 1)),
        majorGcs: s.map((x) => x.majorGcs ?? Number.NaN),
        medianGcMsPerSecond: round(median(s.map((x) => x.gcMsPerSecond ?? Number.NaN)), 1),
        deniedOrDegraded: s.reduce((a, x) => a + (x.denied ?? 0) + (x.degraded ?? 0), 0),
      };
      const reason = reasons.get(c);
      if (reason !== undefined) row.reason = reason;
      const retried = retries.get(c);
      if (retried !== undefined) row.retried = retried;
      // Per-round ratios to another contender's rounds, when it ran every round this one did.
      const assign = (
        field: 'vsRateLimiterFlexible' | 'vsRedisBenchmark' | 'vsIoredis' | 'vsFloodgateOnIoredis',
        other: Contender,
      ): void => {
        const theirs = (samples.get(key(other, inFlight)) ?? []).map((x) => x.decisionsPerSec);
        if (theirs.length === dps.length && dps.length > 0) row[field] = ratioSummary(dps, theirs);
      };
      const nodeRedisKind = NODE_REDIS_KINDS.find((k) => c === `floodgate-${k}-node-redis`);
      if (c === ONE_KEY) {
        // The same limiter on distinct keys is its peer.
        assign('vsFloodgateOnIoredis', 'floodgate-token-bucket');
      } else if (nodeRedisKind !== undefined) {
        // The same limiter on ioredis is its peer; bare ioredis's replay would mix two drivers.
        assign('vsRateLimiterFlexible', 'rate-limiter-flexible');
        assign('vsRedisBenchmark', `redis-benchmark-${nodeRedisKind}`);
        assign('vsFloodgateOnIoredis', `floodgate-${nodeRedisKind}`);
        const theirs = samples.get(key(`floodgate-${nodeRedisKind}`, inFlight)) ?? [];
        if (theirs.length === s.length && s.length > 0)
          row.p50VsFloodgateOnIoredis = ratioSummary(
            s.map((x) => x.p50Us),
            theirs.map((x) => x.p50Us),
          );
      } else if (c.startsWith('floodgate-')) {
        const kind = c.slice('floodgate-'.length) as FloodgateKind;
        assign('vsRateLimiterFlexible', 'rate-limiter-flexible');
        assign('vsRedisBenchmark', `redis-benchmark-${kind}`);
        assign('vsIoredis', `ioredis-${kind}`);
      } else if (c.startsWith('ioredis-')) {
        assign('vsRedisBenchmark', `redis-benchmark-${c.slice('ioredis-'.length)}` as Contender);
      }
      rows.push(row);
    }
  }
  const benchmarkShape = Object.fromEntries(IN_FLIGHT.map((f) => [String(f), benchmarkArgs(f).join(' ')]));
  return { rounds, measureMs, keyspace, scriptCalls, benchmarkShape, rows, quiet };
}

export interface HotKeyResult {
  rounds: number;
  inFlight: number;
  measureMs: number;
  on: { decisionsPerSec: number[]; median: number; roundTripsPerDecision: number };
  off: { decisionsPerSec: number[]; median: number; roundTripsPerDecision: number };
  ratios: number[];
  medianRatio: number;
  ratioRange: [number, number];
  available: boolean;
  reason?: string;
}

interface HotSample {
  decisionsPerSec: number;
  redisRoundTripsPerDecision: number;
  denied: number;
  ops: number;
}

/** Case 5: one abusive key far over its limit through the Redis store, deny cache on vs off. */
export async function runHotKeyCase(ctx: BenchContext): Promise<HotKeyResult> {
  const { profile, redis, log } = ctx;
  const inFlight = 256;
  const measureMs = profile.hotKey.measureMs;
  const on: HotSample[] = [];
  const off: HotSample[] = [];
  const result = (reason?: string): HotKeyResult => {
    const ratios = on.map((x, i) => x.decisionsPerSec / (off[i]?.decisionsPerSec ?? Number.NaN));
    const r: HotKeyResult = {
      rounds: profile.rounds.hotKey,
      inFlight,
      measureMs,
      on: {
        decisionsPerSec: on.map((x) => round(x.decisionsPerSec, 0)),
        median: round(median(on.map((x) => x.decisionsPerSec)), 0),
        roundTripsPerDecision: round(median(on.map((x) => x.redisRoundTripsPerDecision)), 6),
      },
      off: {
        decisionsPerSec: off.map((x) => round(x.decisionsPerSec, 0)),
        median: round(median(off.map((x) => x.decisionsPerSec)), 0),
        roundTripsPerDecision: round(median(off.map((x) => x.redisRoundTripsPerDecision)), 6),
      },
      ratios: ratios.map((x) => round(x, 2)),
      medianRatio: round(median(ratios), 2),
      ratioRange: range(ratios).map((x) => round(x, 2)) as [number, number],
      available: reason === undefined,
    };
    if (reason !== undefined) r.reason = reason;
    return r;
  };
  const workers: IpcWorker[] = [];
  try {
    const [onWorker, offWorker] = await Promise.all(
      (['on', 'off'] as const).map((mode) =>
        startIpcWorker('bench/cases/redis-worker.ts', ['serve', 'hotkey', mode, String(redis.port)], CPU.load),
      ),
    );
    workers.push(onWorker as IpcWorker, offWorker as IpcWorker);
    for (let r = 0; r < profile.rounds.hotKey; r++) {
      await ctx.quiet();
      for (const mode of roundOrder(['on', 'off'] as const, r)) {
        const worker = (mode === 'on' ? onWorker : offWorker) as IpcWorker;
        const sample = await worker.request<HotSample>(
          { inFlight, measureMs, warmupMs: Math.min(500, measureMs) },
          60_000 + measureMs * 3,
        );
        if (sample.denied !== sample.ops) throw new Error(`hot key: ${sample.ops - sample.denied} calls allowed`);
        (mode === 'on' ? on : off).push(sample);
      }
      log(
        `hot key: round ${r + 1}/${profile.rounds.hotKey}: deny cache on ${Math.round(on.at(-1)?.decisionsPerSec ?? 0)}/s, ` +
          `off ${Math.round(off.at(-1)?.decisionsPerSec ?? 0)}/s`,
      );
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`hot key: not available: ${reason.slice(0, 400)}`);
    return result(reason.slice(0, 400));
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  return result();
}
