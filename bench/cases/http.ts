import type { ChildProcess } from 'node:child_process';
import type { BenchContext } from '../lib/context.js';
import { runLoad } from '../lib/load.js';
import { processCpuMicros, type QuietReport } from '../lib/machine.js';
import { CPU, nodeScript, repin, startChild, stopChild, waitForLine } from '../lib/proc.js';
import { freePort } from '../lib/redis-server.js';
import { median, range, round, roundOrder } from '../lib/stats.js';

interface Variant {
  id: string;
  label: string;
}

interface Group {
  framework: string;
  bare: Variant;
  contenders: Variant[];
}

const GROUPS: Group[] = [
  {
    framework: 'Express 5',
    bare: { id: 'express-bare', label: 'Express (bare)' },
    contenders: [
      { id: 'express-noop', label: 'reference: an empty middleware' },
      { id: 'express-headers', label: "reference: a middleware that only sets floodgate's four headers" },
      { id: 'express-floodgate', label: 'floodgate, memory' },
      { id: 'express-floodgate-skipfailed', label: 'floodgate, memory, skipFailedRequests' },
      { id: 'express-erl', label: 'express-rate-limit, memory' },
    ],
  },
  {
    framework: 'Fastify 5',
    bare: { id: 'fastify-bare', label: 'Fastify (bare)' },
    contenders: [
      { id: 'fastify-noop', label: 'reference: an empty onRequest hook' },
      { id: 'fastify-headers', label: "reference: an onRequest hook that only sets floodgate's four headers" },
      { id: 'fastify-floodgate', label: 'floodgate, memory' },
      { id: 'fastify-floodgate-skipfailed', label: 'floodgate, memory, skipFailedRequests' },
      { id: 'fastify-frl', label: '@fastify/rate-limit, memory' },
      {
        id: 'fastify-redis-floor',
        label:
          'reference: a hook that awaits one script call through ioredis (the floor script, no decision, no headers)',
      },
      {
        id: 'fastify-redis-floor-shared',
        label:
          'reference: a hook that awaits a script call shared by the requests read in one turn (the floor script, no decision, no headers)',
      },
      { id: 'fastify-floodgate-redis', label: 'floodgate, Redis' },
      { id: 'fastify-floodgate-redis-node-redis', label: 'floodgate, Redis, node-redis client' },
      { id: 'fastify-frl-redis', label: '@fastify/rate-limit, Redis' },
    ],
  },
];

export interface HttpContender {
  id: string;
  label: string;
  available: boolean;
  reason?: string;
  /** Per round, in round order. */
  rps: number[];
  cpuUsPerRequest: number[];
  /** Per round: this variant's req/s ÷ the bare app's just before and after it (mean of the two). */
  ratios: number[];
  /** Per round: this variant's server CPU µs per request minus the bare app's around it. */
  addedCpuUs: number[];
  medianRps: number;
  medianRatio: number;
  ratioRange: [number, number];
  medianAddedCpuUs: number;
  medianCpuUsPerRequest: number;
  /**
   * Per round: the fraction of the measured run's wall time the app's process spent on the CPU.
   * The app has its core to itself, so below 1 the core waited: for Redis, say, rather than for
   * the app's own work.
   */
  serverBusy: number[];
  medianServerBusy: number;
  /** Per round: redis-server's CPU µs per request over the measured run (it shares wrk's core). */
  redisCpuUsPerRequest: number[];
  medianRedisCpuUsPerRequest: number;
  /** Non-2xx responses and socket errors over all rounds: must be 0. */
  non2xx: number;
  errors: number;
}

export interface HttpGroupResult {
  framework: string;
  bare: HttpContender;
  contenders: HttpContender[];
}

export interface HttpResult {
  connections: number;
  seconds: number;
  /** Seconds of unmeasured load on an app right before each measured run of it. */
  rewarmSeconds: number;
  rounds: number;
  groups: HttpGroupResult[];
  quiet: QuietReport[];
}

interface Running {
  variant: Variant;
  child?: ChildProcess;
  port?: number;
  reason?: string;
  rps: number[];
  cpu: number[];
  busy: number[];
  redisCpu: number[];
  /** The bare app's req/s and CPU µs/request around each of this contender's measurements. */
  refRps: number[];
  refCpu: number[];
  non2xx: number;
  errors: number;
}

/** Where a running app answers. */
function appUrl(r: Running): string {
  return `http://127.0.0.1:${r.port}/`;
}

/** A contender's record before its first round: up (its process and port) or not (why). */
function record(variant: Variant, state: { child: ChildProcess; port: number } | { reason: string }): Running {
  return { variant, ...state, rps: [], cpu: [], busy: [], redisCpu: [], refRps: [], refCpu: [], non2xx: 0, errors: 0 };
}

async function startServer(variant: Variant, redisPort: number): Promise<Running> {
  const port = await freePort();
  const [cmd, args] = nodeScript('bench/servers/http-server.ts', [variant.id, String(port), String(redisPort)]);
  const child = startChild(cmd, args, CPU.server);
  try {
    // A group's servers boot together on one core, each loading its framework and both Redis
    // clients; on a clean clone (a cold transpile cache) with other work on the core, ten of
    // them have taken over 20 s.
    await waitForLine(child, /READY \d+/, 60_000);
    return record(variant, { child, port });
  } catch (error) {
    await stopChild(child);
    const message = error instanceof Error ? error.message : String(error);
    return record(variant, { reason: message.replace(/^.*not available: /s, '').slice(0, 300) });
  }
}

function summarise(r: Running, withRatios: boolean): HttpContender {
  const ratios: number[] = [];
  const added: number[] = [];
  const perReq = r.cpu;
  if (withRatios) {
    for (let i = 0; i < r.rps.length; i++) {
      ratios.push((r.rps[i] as number) / (r.refRps[i] as number));
      added.push((r.cpu[i] as number) - (r.refCpu[i] as number));
    }
  }
  const base: HttpContender = {
    id: r.variant.id,
    label: r.variant.label,
    available: r.child !== undefined,
    rps: r.rps.map((x) => round(x, 0)),
    cpuUsPerRequest: perReq.map((x) => round(x, 2)),
    ratios: ratios.map((x) => round(x, 4)),
    addedCpuUs: added.map((x) => round(x, 2)),
    medianRps: round(median(r.rps), 0),
    medianRatio: round(median(ratios), 4),
    ratioRange: range(ratios).map((x) => round(x, 4)) as [number, number],
    medianAddedCpuUs: round(median(added), 2),
    medianCpuUsPerRequest: round(median(perReq), 2),
    serverBusy: r.busy.map((x) => round(x, 3)),
    medianServerBusy: round(median(r.busy), 3),
    redisCpuUsPerRequest: r.redisCpu.map((x) => round(x, 2)),
    medianRedisCpuUsPerRequest: round(median(r.redisCpu), 2),
    non2xx: r.non2xx,
    errors: r.errors,
  };
  if (r.reason !== undefined) base.reason = r.reason;
  return base;
}

/**
 * Case 1, HTTP overhead: each framework's hello-world app bare and with each limiter, all
 * running at once (the app pinned to the server core, wrk to the load core), loaded one at a time
 * in alternating order with the bare app before and after each contender; the ratio to the mean
 * of those two bare runs is the overhead.
 */
export async function runHttpCase(ctx: BenchContext): Promise<HttpResult> {
  const { profile, log } = ctx;
  const { seconds, warmupSeconds, rewarmSeconds, connections } = profile.http;
  // The app under test owns the server core; Redis shares the load core with wrk.
  await repin(ctx.redis.pid, CPU.load);
  const quiet: QuietReport[] = [];
  const groups: HttpGroupResult[] = [];
  for (const group of GROUPS) {
    log(`http: starting ${group.framework} servers`);
    const all = [group.bare, ...group.contenders];
    const running: Running[] = [];
    try {
      // Started together: each boots in its own process, and the rounds only begin once all are up.
      running.push(...(await Promise.all(all.map((v) => startServer(v, ctx.redis.port)))));
      const up = running.filter((r) => r.child !== undefined);
      for (const r of running) if (r.reason !== undefined) log(`http: ${r.variant.id} not available: ${r.reason}`);
      const bare = up.find((r) => r.variant.id === group.bare.id);
      if (bare === undefined) throw new Error(`${group.bare.id} did not start: ${running[0]?.reason}`);
      for (const r of up) {
        const warm = await runLoad(ctx.tool, appUrl(r), {
          connections,
          seconds: warmupSeconds,
          cpu: CPU.load,
        });
        if (warm.non2xx > 0 || warm.requests === 0) {
          throw new Error(`${r.variant.id}: warm-up got ${warm.non2xx} non-2xx of ${warm.requests} responses`);
        }
      }
      const measure = async (r: Running): Promise<{ rps: number; cpu: number }> => {
        const pid = (r.child as ChildProcess).pid as number;
        const url = appUrl(r);
        // Every app, the bare one too, is loaded for a moment before it is measured. The bare app
        // runs every other time and so was always measured warm, while a contender had sat idle
        // for as long as its framework's other apps took (about 18 s for Fastify's ten), and its
        // first second after that idle spell often served far less (see bench/README.md).
        await runLoad(ctx.tool, url, { connections, seconds: rewarmSeconds, cpu: CPU.load });
        const cpuBefore = processCpuMicros(pid);
        const redisBefore = processCpuMicros(ctx.redis.pid);
        const start = performance.now();
        const result = await runLoad(ctx.tool, url, { connections, seconds, cpu: CPU.load });
        const wallUs = (performance.now() - start) * 1000;
        const appUs = processCpuMicros(pid) - cpuBefore;
        const cpu = appUs / result.requests;
        r.rps.push(result.rps);
        r.cpu.push(cpu);
        // The wall time includes starting and stopping the load tool, so this reads a little low,
        // alike for every app.
        r.busy.push(appUs / wallUs);
        r.redisCpu.push((processCpuMicros(ctx.redis.pid) - redisBefore) / result.requests);
        r.non2xx += result.non2xx;
        r.errors += result.errors;
        return { rps: result.rps, cpu };
      };
      const contenders = up.filter((r) => r !== bare);
      for (let round_ = 0; round_ < profile.rounds.http; round_++) {
        const q = await ctx.quiet();
        quiet.push(q);
        // The bare app runs before and after every contender (bare A bare B bare …), and each
        // contender is compared with the mean of the two bare runs around it: this machine's
        // throughput drifts by tens of percent over a minute, far more than within six seconds.
        const order = roundOrder(contenders, round_);
        let before = await measure(bare);
        for (const r of order) {
          await measure(r);
          const after = await measure(bare);
          r.refRps.push((before.rps + after.rps) / 2);
          r.refCpu.push((before.cpu + after.cpu) / 2);
          before = after;
        }
        log(
          `http: ${group.framework} round ${round_ + 1}/${profile.rounds.http} (busy ${q.busy?.toFixed(2)}): ` +
            order
              .map((r) => `${r.variant.id} ${((r.rps.at(-1) as number) / (r.refRps.at(-1) as number)).toFixed(2)}`)
              .join(', '),
        );
      }
      groups.push({
        framework: group.framework,
        bare: summarise(bare, false),
        contenders: running.filter((r) => r !== bare).map((r) => summarise(r, r.child !== undefined)),
      });
    } finally {
      for (const r of running) if (r.child !== undefined) await stopChild(r.child);
    }
  }
  await repin(ctx.redis.pid, CPU.server);
  return { connections, seconds, rewarmSeconds, rounds: profile.rounds.http, groups, quiet };
}
