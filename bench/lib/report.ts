import type { CoreResult, CoreRow } from '../cases/core.js';
import type { CoreImpl } from '../cases/core-impls.js';
import type { FloodResult } from '../cases/flood.js';
import type { HttpContender, HttpResult } from '../cases/http.js';
import type { MemoryResult } from '../cases/memory.js';
import type { HotKeyResult, RedisResult } from '../cases/redis.js';
import type { ClusterResult } from '../cases/redis-cluster.js';
import { ONE_KEY } from '../cases/redis-policies.js';
import type { ChartResult } from '../chart.js';
import type { MachineInfo } from './machine.js';

export interface Meta {
  date: string;
  command: string;
  profile: string;
  rounds: Record<string, number>;
  machine: MachineInfo;
  versions: Record<string, string>;
  /** Where the run loaded floodgate from. */
  code?: string;
  loadGenerator: string;
  pinning: string;
  durationSeconds?: number;
}

export interface Target {
  case: string;
  peers: string;
  target: string;
  floodgate: string;
  met: boolean | null;
  /** A row set beside the targets for comparison, with no target of its own to meet. */
  informational?: true;
}

export interface Results {
  meta: Meta;
  http?: HttpResult | { error: string };
  core?: CoreResult | { error: string };
  redis?: RedisResult | { error: string };
  memory?: MemoryResult | { error: string };
  hotKey?: HotKeyResult | { error: string };
  flood?: FloodResult | { error: string };
  cluster?: ClusterResult | { error: string };
  chart?: Omit<ChartResult, 'sent'> | { error: string };
  /** The headline figures of the run, each beside its peers in the same run. */
  summary: SummaryRow[];
}

/** One headline figure as the report shows it: no goal, no verdict, only what was measured. */
export interface SummaryRow {
  case: string;
  peers: string;
  floodgate: string;
}

/** The summary rows of `targets`: what the run measured, without the goals they are judged by. */
export function summaryRows(targets: readonly Target[]): SummaryRow[] {
  return targets.map((t) => ({ case: t.case, peers: t.peers, floodgate: t.floodgate }));
}

/** The algorithms as the report's lines name them. */
const LABELS = {
  'token-bucket': 'token bucket',
  'sliding-log': 'sliding log',
  'fixed-window': 'fixed window',
  'sliding-counter': 'sliding-window counter',
} as const;

const ok = <T extends object>(x: T | { error: string } | undefined): T | undefined =>
  x === undefined || 'error' in x ? undefined : (x as T);

export function fmtRate(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return 'n/a';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}

const fmtRatio = (n: number | null | undefined, digits = 2): string =>
  n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(digits);

const fmtRange = (r: [number, number] | undefined, digits = 2): string =>
  r === undefined || !Number.isFinite(r[0]) ? '' : ` (${r[0].toFixed(digits)}–${r[1].toFixed(digits)})`;

const fmtCpu = (n: number | null | undefined): string =>
  n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(1);

const fmtUs = (n: number | null | undefined): string =>
  n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : n < 10 ? n.toFixed(1) : n.toFixed(0);

/** The app's share of its core's time, in percent. */
const fmtBusy = (n: number): string => (Number.isFinite(n) ? `${(n * 100).toFixed(0)} %` : 'n/a');

/**
 * redis-server's CPU per request, for the apps that use it: what Redis takes from wrk's core. The
 * others show a dash; the server's own idle work is a few hundredths of a µs a request.
 */
const fmtRedisUs = (c: HttpContender): string => (c.id.includes('redis') ? fmtUs(c.medianRedisCpuUsPerRequest) : '–');

/** A Redis worker's collections: ms of pauses per second and, in brackets, full collections per round. */
const fmtGc = (row: { medianGcMsPerSecond?: number; majorGcs?: number[] }): string =>
  row.medianGcMsPerSecond === undefined || !Number.isFinite(row.medianGcMsPerSecond)
    ? '–'
    : `${row.medianGcMsPerSecond.toFixed(1)} (${(row.majorGcs ?? []).join(', ')})`;

/**
 * The peers' line of a target, with a reference row of the same run and its ratio to `peer`
 * appended: by default a floor (no limiter); `what` says what else the row is.
 */
function withFloor(
  peers: string,
  floor: CoreRow | undefined,
  peer: 'express-rate-limit' | 'rate-limiter-flexible',
  what = 'no limiter',
): string {
  const vs = floor?.vs?.[peer];
  return (
    `${peers}; ${floor?.impl ?? 'floor'} (${what}) ${fmtRate(floor?.medianOpsPerSec)}/s` +
    (vs === undefined ? '' : `, ${fmtRatio(vs.median)}`)
  );
}

/** floodgate's speed and size targets, each judged on this run's medians. */
export function judgeTargets(r: Results): Target[] {
  const targets: Target[] = [];
  const http = ok<HttpResult>(r.http);
  const contender = (framework: string, id: string) =>
    http?.groups.find((g) => g.framework.startsWith(framework))?.contenders.find((c) => c.id === id);
  /** `ours` ÷ bare against `min`, beside `theirs` and, when given, another row of the same run. */
  const httpTarget = (
    name: string,
    framework: string,
    ours: string,
    theirs: string,
    min: number,
    beside = '',
  ): void => {
    const o = contender(framework, ours);
    const t = contender(framework, theirs);
    const met = o?.available === true && Number.isFinite(o.medianRatio) ? o.medianRatio >= min : null;
    targets.push({
      case: name,
      peers: (t?.available ? `${t.label.split(',')[0]} ${fmtRatio(t.medianRatio)}` : 'n/a') + beside,
      target: `≥ ${min.toFixed(2)}`,
      floodgate: o?.available
        ? `${fmtRatio(o.medianRatio)}${fmtRange(o.ratioRange)}`
        : `not available${o?.reason ? `: ${o.reason}` : ''}`,
      met,
    });
  };
  httpTarget('Express + memory ÷ bare', 'Express', 'express-floodgate', 'express-erl', 0.95);
  httpTarget('Fastify + memory ÷ bare', 'Fastify', 'fastify-floodgate', 'fastify-frl', 0.95);
  // The floor of a limiter that asks Redis for every request and shares its script calls, as
  // floodgate's store does, in the same run: what no such limiter, however little it decides,
  // gets past on this machine.
  const shared = contender('Fastify', 'fastify-redis-floor-shared');
  const sharedOk = shared?.available === true && Number.isFinite(shared.medianRatio);
  httpTarget(
    'Fastify + Redis ÷ bare',
    'Fastify',
    'fastify-floodgate-redis',
    'fastify-frl-redis',
    0.75,
    sharedOk ? `; a hook awaiting a shared floor-script call (no limiter) ${fmtRatio(shared.medianRatio)}` : '',
  );
  {
    // Against the peer on the same Redis: floodgate's ratio to the bare app ÷ @fastify/rate-limit's.
    const o = contender('Fastify', 'fastify-floodgate-redis');
    const t = contender('Fastify', 'fastify-frl-redis');
    const both = o?.available === true && t?.available === true;
    const ratio = both ? o.medianRatio / t.medianRatio : Number.NaN;
    targets.push({
      case: "Fastify + Redis ÷ bare, ÷ @fastify/rate-limit's on Redis",
      peers:
        (both ? `${t.label.split(',')[0]} ${fmtRatio(t.medianRatio)}` : 'n/a') +
        (both && sharedOk
          ? `; the shared floor-script hook (no limiter) ${fmtRatio(shared.medianRatio)} ÷ ${fmtRatio(t.medianRatio)} = ${fmtRatio(shared.medianRatio / t.medianRatio, 3)}`
          : ''),
      target: '≥ 1.30',
      floodgate: both ? `${fmtRatio(o.medianRatio)} ÷ ${fmtRatio(t.medianRatio)} = ${fmtRatio(ratio, 3)}` : 'n/a',
      met: Number.isFinite(ratio) ? ratio >= 1.3 : null,
    });
  }
  /**
   * Variant `id` ÷ bare, beside `beside` ÷ bare, named `peer`; with `min`, a goal for the variant,
   * else a row with no goal of its own.
   */
  const httpRow = (name: string, framework: string, id: string, beside: string, peer: string, min?: number): void => {
    const o = contender(framework, id);
    const p = contender(framework, beside);
    const measured = o?.available === true && Number.isFinite(o.medianRatio);
    targets.push({
      case: name,
      peers: p?.available ? `${peer} ${fmtRatio(p.medianRatio)}` : 'n/a',
      target: min === undefined ? '–' : `≥ ${min.toFixed(2)}`,
      floodgate: o?.available
        ? `${fmtRatio(o.medianRatio)}${fmtRange(o.ratioRange)}`
        : `not available${o?.reason ? `: ${o.reason}` : ''}`,
      met: min === undefined || !measured ? null : o.medianRatio >= min,
      ...(min === undefined ? { informational: true as const } : {}),
    });
  };
  // The same app and limiter on a node-redis client, beside ioredis.
  httpRow(
    'Fastify + Redis on a node-redis client ÷ bare',
    'Fastify',
    'fastify-floodgate-redis-node-redis',
    'fastify-floodgate-redis',
    'floodgate, Redis on ioredis',
  );
  // What watching every response to its end adds, beside the same app without the option.
  for (const [framework, plain] of [
    ['Express', 'express-floodgate'],
    ['Fastify', 'fastify-floodgate'],
  ] as const) {
    httpRow(
      `${framework} + memory, skipFailedRequests ÷ bare`,
      framework,
      `${plain}-skipfailed`,
      plain,
      'floodgate, memory, without it',
      0.9,
    );
  }

  const core = ok<CoreResult>(r.core);
  const row = (impl: string, keys: number) => core?.rows.find((x) => x.impl === impl && x.keys === keys);
  const rlf = row('rate-limiter-flexible', 1000);
  const erl = row('express-rate-limit', 1000);
  const peers = `rate-limiter-flexible ${fmtRate(rlf?.medianOpsPerSec)}/s; express-rate-limit store ${fmtRate(erl?.medianOpsPerSec)}/s`;
  /** The peers' line with the floor of a kind and floodgate's algorithm of that kind alone, both of this run. */
  const floorAndSteps = (floor: CoreImpl, steps: CoreImpl, peer: 'express-rate-limit' | 'rate-limiter-flexible') =>
    withFloor(withFloor(peers, row(floor, 1000), peer), row(steps, 1000), peer, 'the algorithm alone');
  for (const [mode, min] of [
    ['consume', 0.85],
    ['decide', 1.2],
  ] as const) {
    const tb = row(`floodgate-token-bucket-${mode}`, 1000);
    const v = tb?.vs?.['express-rate-limit'];
    targets.push({
      case: `memory, 1k keys: token bucket \`${mode}\` ÷ express-rate-limit store`,
      // `consume` beside the floor of a bucket kept in memory and beside floodgate's bucket alone
      // (no limiter, no store), measured in the same rounds.
      peers:
        mode === 'consume'
          ? floorAndSteps(
              'reference-clock-map-fraction-and-promise',
              'reference-bucket-steps-and-promise',
              'express-rate-limit',
            )
          : peers,
      target: `≥ ${min.toFixed(2)}`,
      floodgate:
        v === undefined ? 'n/a' : `${fmtRate(tb?.medianOpsPerSec)}/s, ${fmtRatio(v.median)}${fmtRange(v.range)}`,
      met: v === undefined || !Number.isFinite(v.median) ? null : v.median >= min,
    });
  }
  for (const [mode, min] of [
    ['consume', 1],
    ['decide', 1.5],
  ] as const) {
    const fw = row(`floodgate-fixed-window-${mode}`, 1000);
    const v = fw?.vs?.['express-rate-limit'];
    // The floor of the same work with no limiter around it, measured in the same rounds.
    const floor = row(mode === 'decide' ? 'reference-clock-and-map' : 'reference-clock-map-and-promise', 1000);
    targets.push({
      case: `memory, 1k keys: fixed window \`${mode}\` ÷ express-rate-limit store`,
      peers: withFloor(peers, floor, 'express-rate-limit'),
      target: `≥ ${min.toFixed(2)}`,
      floodgate:
        v === undefined ? 'n/a' : `${fmtRate(fw?.medianOpsPerSec)}/s, ${fmtRatio(v.median)}${fmtRange(v.range)}`,
      met: v === undefined || !Number.isFinite(v.median) ? null : v.median >= min,
    });
  }
  for (const mode of ['consume', 'decide'] as const) {
    const swl = row(`floodgate-sliding-log-${mode}`, 1000);
    const v = swl?.vs?.['rate-limiter-flexible'];
    // The goal is on `consume`; `decide` is shown beside it.
    const goal = mode === 'consume';
    targets.push({
      case: `memory, 1k keys: sliding log \`${mode}\` ÷ rate-limiter-flexible`,
      peers: goal
        ? floorAndSteps('reference-log-and-promise', 'reference-log-steps-and-promise', 'rate-limiter-flexible')
        : peers,
      target: goal ? '≥ 2.00' : '–',
      floodgate:
        v === undefined ? 'n/a' : `${fmtRate(swl?.medianOpsPerSec)}/s, ${fmtRatio(v.median)}${fmtRange(v.range)}`,
      met: !goal || v === undefined || !Number.isFinite(v.median) ? null : v.median >= 2,
      ...(goal ? {} : { informational: true as const }),
    });
  }

  const redis = ok<RedisResult>(r.redis);
  const rrow = (id: string, f: number) => redis?.rows.find((x) => x.id === id && x.inFlight === f);
  const rlf256 = rrow('rate-limiter-flexible', 256);
  for (const kind of ['token-bucket', 'sliding-log'] as const) {
    const o = rrow(`floodgate-${kind}`, 256);
    const rb = rrow(`redis-benchmark-${kind}`, 256);
    const v = o?.vsRedisBenchmark;
    targets.push({
      case: `Redis, 256 in flight: ${kind.replace('-', ' ')} ÷ redis-benchmark of the same script`,
      peers: `redis-benchmark ${fmtRate(rb?.medianDecisionsPerSec)}/s`,
      target: '≥ 1.50',
      floodgate:
        o?.available && v !== undefined
          ? `${fmtRate(o.medianDecisionsPerSec)}/s, ${fmtRatio(v.median)}${fmtRange(v.range)}`
          : `not available${o?.reason ? `: ${o.reason}` : ''}`,
      met: o?.available && v !== undefined && Number.isFinite(v.median) ? v.median >= 1.5 : null,
    });
    const w = o?.vsRateLimiterFlexible;
    targets.push({
      case: `Redis, 256 in flight: ${kind.replace('-', ' ')} ÷ rate-limiter-flexible`,
      peers: `rate-limiter-flexible ${fmtRate(rlf256?.medianDecisionsPerSec)}/s`,
      target: '≥ 1.50',
      floodgate: o?.available && w !== undefined ? `${fmtRatio(w.median)}${fmtRange(w.range)}` : 'not available',
      met: o?.available && w !== undefined && Number.isFinite(w.median) ? w.median >= 1.5 : null,
    });
    // Redis's own time per decision, against the same decision sent alone by bare ioredis.
    const one = rrow(`ioredis-${kind}`, 256);
    const us = o?.medianServerUsPerDecision;
    const oneUs = one?.medianServerUsPerDecision;
    const usRatio = us !== undefined && oneUs !== undefined ? us / oneUs : Number.NaN;
    targets.push({
      case: `Redis, 256 in flight: ${kind.replace('-', ' ')} Redis µs per decision ÷ a one-decision call's`,
      peers: one?.available ? `one-decision call through bare ioredis ${fmtRatio(oneUs)} µs` : 'n/a',
      target: '≤ 0.60',
      floodgate: Number.isFinite(usRatio) ? `${fmtRatio(us)} µs, ${fmtRatio(usRatio, 3)}` : 'n/a',
      met: o?.available && one?.available && Number.isFinite(usRatio) ? usRatio <= 0.6 : null,
    });
  }
  for (const kind of ['fixed-window', 'sliding-counter'] as const) {
    const o = rrow(`floodgate-${kind}`, 256);
    const rb = rrow(`redis-benchmark-${kind}`, 256);
    const w = o?.vsRateLimiterFlexible;
    targets.push({
      case: `Redis, 256 in flight: ${LABELS[kind]} ÷ rate-limiter-flexible`,
      peers: `rate-limiter-flexible ${fmtRate(rlf256?.medianDecisionsPerSec)}/s; redis-benchmark of the same script ${fmtRate(rb?.medianDecisionsPerSec)}/s`,
      target: '≥ 1.00',
      floodgate:
        o?.available && w !== undefined
          ? `${fmtRate(o.medianDecisionsPerSec)}/s, ${fmtRatio(w.median)}${fmtRange(w.range)}`
          : `not available${o?.reason ? `: ${o.reason}` : ''}`,
      met: o?.available && w !== undefined && Number.isFinite(w.median) ? w.median >= 1 : null,
    });
  }
  // One client's burst: every call on one key, beside the same limiter on distinct keys.
  {
    const one = rrow(ONE_KEY, 256);
    const spread = rrow('floodgate-token-bucket', 256);
    const v = one?.vsFloodgateOnIoredis;
    targets.push({
      case: 'Redis, 256 in flight: token bucket, every call on one key: Redis µs per decision; decisions/s ÷ on random keys',
      peers: spread?.available
        ? `the same limiter on ${redis?.keyspace.toLocaleString('en-US')} random keys ${fmtRatio(spread.medianServerUsPerDecision)} µs`
        : 'n/a',
      target: '–',
      floodgate:
        one?.available && v !== undefined
          ? `${fmtRatio(one.medianServerUsPerDecision)} µs; ${fmtRatio(v.median)}${fmtRange(v.range)}`
          : 'not available',
      met: null,
      informational: true,
    });
  }
  const rlf1 = rrow('rate-limiter-flexible', 1);
  const floor1 = rrow('ioredis-floor', 1);
  for (const kind of ['token-bucket', 'sliding-log'] as const) {
    const o = rrow(`floodgate-${kind}`, 1);
    targets.push({
      case: `Redis, 1 in flight: ${kind.replace('-', ' ')} p50 latency`,
      peers:
        `rate-limiter-flexible ${fmtUs(rlf1?.medianP50Us)} µs` +
        (floor1?.available ? `; floor script through bare ioredis ${fmtUs(floor1.medianP50Us)} µs` : ''),
      target: "≤ rate-limiter-flexible's",
      floodgate: o?.available ? `${fmtUs(o.medianP50Us)} µs` : 'not available',
      met: o?.available && rlf1?.available && Number.isFinite(o.medianP50Us) ? o.medianP50Us <= rlf1.medianP50Us : null,
    });
  }
  // floodgate on node-redis beside the same limiter on ioredis: within 10 %.
  for (const kind of ['token-bucket', 'sliding-log'] as const) {
    const io = rrow(`floodgate-${kind}`, 256);
    const o = rrow(`floodgate-${kind}-node-redis`, 256);
    const v = o?.vsFloodgateOnIoredis;
    targets.push({
      case: `Redis, 256 in flight: ${LABELS[kind]}, node-redis ÷ ioredis`,
      peers: io?.available ? `floodgate on ioredis ${fmtRate(io.medianDecisionsPerSec)}/s` : 'n/a',
      target: '≥ 0.90',
      floodgate:
        o?.available && v !== undefined
          ? `${fmtRate(o.medianDecisionsPerSec)}/s, ${fmtRatio(v.median)}${fmtRange(v.range)}`
          : `not available${o?.reason ? `: ${o.reason}` : ''}`,
      met: o?.available && v !== undefined && Number.isFinite(v.median) ? v.median >= 0.9 : null,
    });
  }
  for (const kind of ['token-bucket', 'sliding-log'] as const) {
    const io = rrow(`floodgate-${kind}`, 1);
    const o = rrow(`floodgate-${kind}-node-redis`, 1);
    const v = o?.p50VsFloodgateOnIoredis;
    targets.push({
      case: `Redis, 1 in flight: ${LABELS[kind]} p50 latency, node-redis ÷ ioredis`,
      peers: io?.available ? `floodgate on ioredis ${fmtUs(io.medianP50Us)} µs` : 'n/a',
      target: '–',
      floodgate:
        o?.available && v !== undefined
          ? `${fmtUs(o.medianP50Us)} µs, ${fmtRatio(v.median)}${fmtRange(v.range)}`
          : `not available${o?.reason ? `: ${o.reason}` : ''}`,
      met: null,
      informational: true,
    });
  }

  const memory = ok<MemoryResult>(r.memory);
  const peerMem = memory?.heap.filter((x) => !x.impl.startsWith('floodgate') && x.available);
  for (const [kind, max] of [
    ['token-bucket', 120],
    ['fixed-window', 80],
    ['sliding-counter', 80],
  ] as const) {
    const mem = memory?.heap.find((x) => x.impl === `floodgate-${kind}`);
    targets.push({
      case: `memory per key, ${memory?.keys.toLocaleString('en-US') ?? '?'} keys, ${LABELS[kind]}`,
      peers: (peerMem ?? []).map((x) => `${x.impl} ${x.heapBytesPerKey} B`).join('; ') || 'n/a',
      target: `≤ ${max} B`,
      floodgate: mem?.available ? `${mem.heapBytesPerKey} B` : 'n/a',
      met: mem?.available && mem.heapBytesPerKey !== undefined ? mem.heapBytesPerKey <= max : null,
    });
  }
  const rlfKey = memory?.redis.find((x) => x.impl === 'rate-limiter-flexible');
  for (const kind of ['fixed-window', 'sliding-counter'] as const) {
    const key = memory?.redis.find((x) => x.impl === `floodgate-${kind}`);
    targets.push({
      case: `Redis, one key's \`MEMORY USAGE\`, ${LABELS[kind]}`,
      peers: rlfKey?.available ? `rate-limiter-flexible ${rlfKey.memoryUsageBytes} B` : 'n/a',
      target: '≤ 100 B',
      floodgate: key?.available ? `${key.memoryUsageBytes} B` : 'n/a',
      met: key?.available && typeof key.memoryUsageBytes === 'number' ? key.memoryUsageBytes <= 100 : null,
    });
  }

  const flood = ok<FloodResult>(r.flood);
  const floodSize = flood?.maxKeys.at(-1);
  for (const kind of ['token-bucket', 'sliding-log'] as const) {
    const row = flood?.rows.find((x) => x.kind === kind && x.maxKeys === floodSize);
    const v = row?.vsSteady;
    targets.push({
      case: `memory, a flood of 2 × maxKeys new keys at a full store (maxKeys ${floodSize?.toLocaleString('en-US') ?? '?'}): ${kind.replace('-', ' ')} \`decide\` ÷ steady \`decide\` of that store`,
      peers: '–',
      target: '≥ 0.50',
      floodgate:
        row?.available && v !== undefined
          ? `${fmtRate(row.medianFloodPerSec)}/s ÷ ${fmtRate(row.medianSteadyPerSec)}/s, ${fmtRatio(v.median)}${fmtRange(v.range)}`
          : `not available${row?.reason ? `: ${row.reason}` : ''}`,
      met: row?.available && v !== undefined && Number.isFinite(v.median) ? v.median >= 0.5 : null,
    });
  }

  const cluster = ok<ClusterResult>(r.cluster);
  for (const kind of ['token-bucket', 'sliding-log'] as const) {
    // No target: the row says what the same limiter gets, and costs Redis, through a Cluster.
    const row = (topology: 'single' | 'cluster' | 'perslot') =>
      cluster?.rows.find((x) => x.kind === kind && x.topology === topology);
    const single = row('single');
    const o = row('cluster');
    const perSlot = row('perslot');
    targets.push({
      case: `Redis Cluster, ${cluster?.masters ?? 3} masters, ${cluster?.inFlight ?? 256} in flight: ${LABELS[kind]} ÷ single server`,
      peers:
        (single?.available
          ? `single server ${fmtRate(single.medianDecisionsPerSec)}/s, Redis CPU ${fmtCpu(single.medianServerCpuUsPerDecision)} µs per decision`
          : 'n/a') +
        (perSlot?.available && perSlot.vsSingle !== undefined
          ? `; one script call per slot ${fmtRate(perSlot.medianDecisionsPerSec)}/s, ${fmtRatio(perSlot.vsSingle.median)}, Redis CPU ${fmtCpu(perSlot.medianServerCpuUsPerDecision)} µs, ${fmtRatio(perSlot.cpuVsSingle?.median)}×`
          : ''),
      target: '–',
      floodgate:
        o?.available && o.vsSingle !== undefined
          ? `${fmtRate(o.medianDecisionsPerSec)}/s, ${fmtRatio(o.vsSingle.median)}${fmtRange(o.vsSingle.range)}; Redis CPU ${fmtCpu(o.medianServerCpuUsPerDecision)} µs per decision, ${fmtRatio(o.cpuVsSingle?.median)}× the single server's`
          : `not available${o?.reason ? `: ${o.reason}` : ''}`,
      met: null,
      informational: true,
    });
  }

  const hot = ok<HotKeyResult>(r.hotKey);
  targets.push({
    case: 'hot key through Redis: deny cache on ÷ off',
    peers: '–',
    target: '≥ 5×',
    floodgate: hot?.available ? `${fmtRatio(hot.medianRatio, 1)}×${fmtRange(hot.ratioRange, 1)}` : 'not available',
    met: hot?.available && Number.isFinite(hot.medianRatio) ? hot.medianRatio >= 5 : null,
  });
  return targets;
}

/** The Markdown report: targets first, then every case's table. */
export function renderMarkdown(r: Results): string {
  const m = r.meta;
  const lines: string[] = [];
  const push = (...xs: string[]): void => {
    lines.push(...xs);
  };
  push(
    `# floodgate benchmarks (${m.profile} run)`,
    '',
    `- Date: ${m.date}`,
    `- Machine: ${m.machine.cpus} × ${m.machine.model}, ${m.machine.memoryGiB} GiB, Linux ${m.machine.kernel}, Node ${m.machine.node}`,
    `- Command: \`${m.command}\` (rounds per case: ${Object.entries(m.rounds)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )}, contenders alternating order each round; figures are medians of per-round values and ratios${m.durationSeconds === undefined ? '' : `; took ${Math.round(m.durationSeconds)} s`})`,
    ...(m.code === undefined ? [] : [`- floodgate loaded from ${m.code}`]),
    `- Load generator: ${m.loadGenerator}; ${m.pinning}`,
    `- Versions: ${Object.entries(m.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    '',
    '## Summary',
    '',
    '| case | peers, this run | floodgate, this run (median, min–max of rounds) |',
    '|---|---|---|',
    ...r.summary.map((t) => `| ${t.case} | ${t.peers} | ${t.floodgate} |`),
    '',
  );

  const http = r.http;
  push('## 1. HTTP overhead (hello world, one hot key, limit never reached)', '');
  if (http === undefined) push('Not run.', '');
  else if ('error' in http) push(`Failed: ${http.error}`, '');
  else {
    push(
      `wrk, ${http.connections} connections, ${http.seconds} s per run, ${http.rounds} rounds; the bare app runs before and after every contender, and each ratio is to the mean of those two bare runs. Every run, the bare app's too, follows ${http.rewarmSeconds} s of unmeasured load on the same app.`,
      '',
      '| app | limiter | req/s | ÷ bare (min–max) | server CPU µs/req | added µs/req | server core busy | Redis CPU µs/req |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const g of http.groups) {
      push(
        `| ${g.framework} | none (bare) | ${fmtRate(g.bare.medianRps)} | 1 | ${fmtUs(g.bare.medianCpuUsPerRequest)} | – | ${fmtBusy(g.bare.medianServerBusy)} | ${fmtRedisUs(g.bare)} |`,
      );
      for (const c of g.contenders) {
        if (!c.available) {
          push(`| ${g.framework} | ${c.label} | not available: ${c.reason ?? ''} | | | | | |`);
          continue;
        }
        const bad = c.non2xx + c.errors > 0 ? ` (${c.non2xx} non-2xx, ${c.errors} errors)` : '';
        push(
          `| ${g.framework} | ${c.label} | ${fmtRate(c.medianRps)}${bad} | ${fmtRatio(c.medianRatio)}${fmtRange(c.ratioRange)} | ${fmtUs(c.medianCpuUsPerRequest)} | ${fmtUs(c.medianAddedCpuUs)} | ${fmtBusy(c.medianServerBusy)} | ${fmtRedisUs(c)} |`,
        );
      }
    }
    push('');
  }

  const core = r.core;
  push('## 2. Core decisions/s, in-memory store', '');
  if (core === undefined) push('Not run.', '');
  else if ('error' in core) push(`Failed: ${core.error}`, '');
  else {
    push(
      `Each implementation in its own process, ${core.measureMs} ms per key count per round, ${core.rounds} rounds; no call is denied. reference-clock-and-promise is the floor of any async limiter on a clock: one clock read, a fresh five-field answer, one promise awaited, and no limiter. reference-clock-and-map is the floor of any exact counter kept in memory: one clock read, a count read from a Map and written back, a fresh five-field answer, and no limiter (no key or cost check, no window); reference-clock-map-and-promise hands that answer back in a promise. reference-clock-map-fraction-and-promise does the same with a fraction per key, as a token bucket's level is (V8 keeps a fraction in a Map as a number of its own, so every write allocates one): the floor of a token bucket. reference-log-and-promise is the floor of an exact sliding log: one clock read, the key's list of expiry instants read from a Map, the expired ones dropped from its head, the new one appended, a fresh answer in a promise, with the same window as floodgate's sliding log, and no limiter (no key or cost check, no bound on keys, no exact reset time). reference-bucket-steps-and-promise and reference-log-steps-and-promise run floodgate's own token bucket and sliding log, with the same parameters as floodgate's rows, and nothing of its limiter or store: one clock read, the key's state read from a Map, the algorithm's two steps (evaluate, then charge when allowed, writing back a state it replaced), its Decision handed back in a promise; no key or cost check, no bound on keys, no expiry of idle keys, no blocks. What a floodgate row spends beyond its steps row is the limiter and the store; what a steps row spends beyond the floor of its kind is the algorithm's exact arithmetic (whole-millisecond reset and retry times, the bucket's grid, the log's expired entries dropped in bulk and its running sum of costs).`,
      '',
      '| keys | implementation | decisions/s | ÷ rate-limiter-flexible | ÷ express-rate-limit store |',
      '|---|---|---|---|---|',
    );
    for (const row of core.rows) {
      const vs = row.vs;
      push(
        `| ${row.keys.toLocaleString('en-US')} | ${row.impl} | ${fmtRate(row.medianOpsPerSec)} | ${vs ? fmtRatio(vs['rate-limiter-flexible'].median) : ''} | ${vs ? fmtRatio(vs['express-rate-limit'].median) : ''} |`,
      );
    }
    push('');
  }

  const redis = r.redis;
  const redisVersion = m.versions['node-redis (redis)'];
  push('## 3. Redis decisions/s and latency', '');
  if (redis === undefined) push('Not run.', '');
  else if ('error' in redis) push(`Failed: ${redis.error}`, '');
  else {
    push(
      `ioredis and node-redis clients and redis-benchmark on the load core, redis-server on the server core; ${redis.keyspace.toLocaleString('en-US')} random keys; ${redis.measureMs} ms per contender per round. ` +
        `redis-benchmark replays floodgate's own script call (captured with MONITOR): ${Object.entries(
          redis.benchmarkShape,
        )
          .map(([f, s]) => `\`${s}\` for ${f} in flight`)
          .join(', ')}. ` +
        'Latency at 256 in flight includes queueing; redis-benchmark reports per-batch latency when pipelining, so it is omitted there. ' +
        '"Redis µs per decision" is the server\'s own time in script calls (`INFO commandstats`, EVALSHA and EVAL) per decision; floodgate\'s store sends the calls that wait together as one script call, and "script calls per decision" says how many it took (1 for one call per decision). ' +
        'redis-benchmark-floor replays the least a decision on the Redis clock asks of the server, with no decision in it ' +
        '(`TIME`, `GET`, `SET … PX`, a four-number reply). ' +
        "ioredis-* rows send floodgate's captured script call through a bare ioredis client, with no floodgate code: what the driver itself gets for that command. " +
        'ioredis-floor sends the floor script the same way: what any limiter on the Redis clock gets through ioredis, before it decides anything. ' +
        `*-node-redis rows are floodgate's same limiter on a node-redis client (the \`redis\` package${redisVersion === undefined ? '' : ` ${redisVersion}`}, \`createClient\`, connected, its defaults otherwise) in place of ioredis; "÷ floodgate on ioredis" is the per-round ratio of decisions/s to the row of the same algorithm on ioredis. ` +
        `${ONE_KEY} is floodgate-token-bucket with every call on one key, as in one client's burst; its "÷ floodgate on ioredis" is to floodgate-token-bucket on the random keys. ` +
        '"Client CPU µs per decision" is the worker\'s own CPU time (user + system, `process.cpuUsage`) over the measured decisions, harness included. ' +
        '"Client GC ms per s" is the worker\'s garbage-collection pauses over the measured decisions (V8\'s own reports, `PerformanceObserver` of `gc` entries), per second, median of rounds; in brackets, its full collections per round.',
      '',
      '| in flight | contender | decisions/s | p50 µs | p99 µs | Redis µs per decision | script calls per decision | client CPU µs per decision | client GC ms per s (full collections per round) | ÷ redis-benchmark, same script | ÷ bare ioredis, same script | ÷ rate-limiter-flexible | ÷ floodgate on ioredis (min–max) |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const row of redis.rows) {
      if (!row.available) {
        push(`| ${row.inFlight} | ${row.id} | not available: ${row.reason ?? ''} | | | | | | | | | | |`);
        continue;
      }
      const lat = row.id.startsWith('redis-benchmark') && row.inFlight > 1;
      const retried =
        row.retried === undefined
          ? ''
          : ` (${row.retried} measurement${row.retried > 1 ? 's' : ''} taken again after a stall)`;
      push(
        `| ${row.inFlight} | ${row.id}${retried} | ${fmtRate(row.medianDecisionsPerSec)} | ${lat ? '–' : fmtUs(row.medianP50Us)} | ${lat ? '–' : fmtUs(row.medianP99Us)} | ${Number.isFinite(row.medianServerUsPerDecision) ? row.medianServerUsPerDecision.toFixed(1) : '–'} | ${Number.isFinite(row.medianScriptCallsPerDecision) ? row.medianScriptCallsPerDecision.toFixed(3) : '–'} | ${Number.isFinite(row.medianClientCpuUs) ? row.medianClientCpuUs.toFixed(2) : '–'} | ${fmtGc(row)} | ${row.vsRedisBenchmark ? fmtRatio(row.vsRedisBenchmark.median) : ''} | ${row.vsIoredis ? fmtRatio(row.vsIoredis.median) : ''} | ${row.vsRateLimiterFlexible ? fmtRatio(row.vsRateLimiterFlexible.median) : ''} | ${row.vsFloodgateOnIoredis ? `${fmtRatio(row.vsFloodgateOnIoredis.median)}${fmtRange(row.vsFloodgateOnIoredis.range)}` : ''} |`,
      );
    }
    push('');
  }

  const memory = r.memory;
  push('## 4. Memory per key', '');
  if (memory === undefined) push('Not run.', '');
  else if ('error' in memory) push(`Failed: ${memory.error}`, '');
  else {
    push(
      `Heap after GC, ${memory.keys.toLocaleString('en-US')} keys with one call each (key strings included), one fresh process per store.`,
      '',
      '| store | heap B/key | RSS B/key |',
      '|---|---|---|',
      ...memory.heap.map((x) =>
        x.available ? `| ${x.impl} | ${x.heapBytesPerKey} | ${x.rssBytesPerKey} |` : `| ${x.impl} | not available | |`,
      ),
      '',
      `In Redis, ${memory.redisKeys.toLocaleString('en-US')} keys with one call each: \`INFO\` used_memory growth per key (all a key costs the server) and \`MEMORY USAGE\` of one key.`,
      '',
      '| store | used_memory B/key | MEMORY USAGE B | key |',
      '|---|---|---|---|',
      ...memory.redis.map((x) =>
        x.available
          ? `| ${x.impl} | ${x.usedMemoryBytesPerKey} | ${x.memoryUsageBytes} | \`${x.sampleKey}\` |`
          : `| ${x.impl} | not available: ${x.reason ?? ''} | | |`,
      ),
      '',
    );
  }

  const hot = r.hotKey;
  push('## 5. Hot abusive key through the Redis store', '');
  if (hot === undefined) push('Not run.', '');
  else if ('error' in hot) push(`Failed: ${hot.error}`, '');
  else if (!hot.available) push(`Not available: ${hot.reason ?? ''}`, '');
  else {
    push(
      `One key, sliding log 10 per minute, ${hot.inFlight} calls in flight, ${hot.measureMs} ms per mode per round; every measured call is denied.`,
      '',
      '| deny cache | decisions/s | Redis round trips per decision |',
      '|---|---|---|',
      `| on | ${fmtRate(hot.on.median)} | ${hot.on.roundTripsPerDecision} |`,
      `| off | ${fmtRate(hot.off.median)} | ${hot.off.roundTripsPerDecision} |`,
      '',
      `On ÷ off: ${fmtRatio(hot.medianRatio, 1)}×${fmtRange(hot.ratioRange, 1)}.`,
      '',
    );
  }

  const flood = r.flood;
  push('## 6. A flood of new keys at a full memory store', '');
  if (flood === undefined) push('Not run.', '');
  else if ('error' in flood) push(`Failed: ${flood.error}`, '');
  else {
    push(
      `Stores of maxKeys ${flood.maxKeys.map((n) => n.toLocaleString('en-US')).join(' and ')}, filled with one-call keys; then \`decide\` on the keys a store holds, cycled, for ${flood.steadyMs} ms (steady), on 2 × maxKeys new keys, one call each, each making room for itself (flood), and on the same flood into a store with room for it (room). One process per algorithm and size, ${flood.rounds} rounds, a fresh store and fresh key strings each round.`,
      '',
      '| maxKeys | algorithm | steady /s | flood /s | room /s | flood ÷ steady (min–max) | flood ÷ room (min–max) |',
      '|---|---|---|---|---|---|---|',
      ...flood.rows.map((x) =>
        x.available
          ? `| ${x.maxKeys.toLocaleString('en-US')} | ${x.kind} | ${fmtRate(x.medianSteadyPerSec)} | ${fmtRate(x.medianFloodPerSec)} | ${fmtRate(x.medianRoomPerSec)} | ${fmtRatio(x.vsSteady?.median)}${fmtRange(x.vsSteady?.range)} | ${fmtRatio(x.vsRoom?.median)}${fmtRange(x.vsRoom?.range)} |`
          : `| ${x.maxKeys.toLocaleString('en-US')} | ${x.kind} | not available: ${x.reason ?? ''} | | | | |`,
      ),
      '',
    );
  }

  const cluster = r.cluster;
  push('## 7. Redis Cluster', '');
  if (cluster === undefined) push('Not run.', '');
  else if ('error' in cluster) push(`Failed: ${cluster.error}`, '');
  else {
    push(
      `floodgate's Redis store on an ioredis \`Cluster\` over a local cluster of ${cluster.masters} masters (no replicas), by default (a script call decides the calls waiting for one master, whatever their slots) and with one script call per slot (\`batchAcrossSlots: false\`), beside the same store on the single server, ${cluster.inFlight} calls in flight on ${cluster.keyspace.toLocaleString('en-US')} random keys (each its own hash tag, so spread over the slots; each master's share of the per-slot rows' script calls: ${cluster.callSharePerMaster.map((n) => `${fmtRatio(n, 1)} %`).join(', ')}), ${cluster.measureMs} ms per contender per round, ${cluster.rounds} rounds; ${cluster.pinning}. ` +
        '"Redis CPU µs per decision" is the servers\' own CPU time (`INFO cpu`, used_cpu_user + used_cpu_sys), summed over every master, per decision: the scripts, and reading requests and writing replies. "Redis script µs per decision" is the time the servers spent inside script calls (`INFO commandstats`, EVALSHA and EVAL), per decision; it is wall-clock time, so on a busy machine it can exceed the CPU figure. "Script calls per decision" is below 1 when the store sends decisions that wait together as one script call.',
      '',
      '| algorithm | servers | decisions/s | ÷ single server (min–max) | Redis CPU µs per decision | ÷ single server (min–max) | Redis script µs per decision | script calls per decision | client CPU µs per decision | p50 µs | p99 µs |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
      ...cluster.rows.map((x) => {
        const servers =
          x.topology === 'single'
            ? 'single server'
            : `Cluster, ${cluster.masters} masters${x.topology === 'perslot' ? ', one script call per slot (`batchAcrossSlots: false`)' : ''}`;
        if (!x.available)
          return `| ${LABELS[x.kind]} | ${servers} | not available: ${x.reason ?? ''} | | | | | | | | |`;
        const retried =
          x.retried === undefined
            ? ''
            : ` (${x.retried} measurement${x.retried > 1 ? 's' : ''} taken again after a stall)`;
        return `| ${LABELS[x.kind]} | ${servers}${retried} | ${fmtRate(x.medianDecisionsPerSec)} | ${x.vsSingle ? `${fmtRatio(x.vsSingle.median)}${fmtRange(x.vsSingle.range)}` : ''} | ${fmtCpu(x.medianServerCpuUsPerDecision)} | ${x.cpuVsSingle ? `${fmtRatio(x.cpuVsSingle.median)}${fmtRange(x.cpuVsSingle.range)}` : ''} | ${fmtCpu(x.medianServerUsPerDecision)} | ${Number.isFinite(x.medianScriptCallsPerDecision) ? x.medianScriptCallsPerDecision.toFixed(3) : '–'} | ${Number.isFinite(x.medianClientCpuUs) ? x.medianClientCpuUs.toFixed(2) : '–'} | ${fmtUs(x.medianP50Us)} | ${fmtUs(x.medianP99Us)} |`;
      }),
      '',
    );
  }

  const chart = r.chart;
  if (chart !== undefined && !('error' in chart)) {
    push(
      '## Boundary burst',
      '',
      '![Requests allowed around a window boundary](boundary-burst.svg)',
      '',
      `Most requests allowed in any 1 s (limit 10): express-rate-limit's fixed window ${chart.maxPerSecond['fixed-window']}, floodgate's fixed window ${chart.maxPerSecond['floodgate-fixed-window']}, floodgate's sliding-window counter ${chart.maxPerSecond['sliding-window-counter']}, sliding log ${chart.maxPerSecond['sliding-log']} and token bucket ${chart.maxPerSecond['token-bucket']}.`,
      '',
    );
  }
  return `${lines.join('\n')}\n`;
}
