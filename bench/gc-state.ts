/**
 * Brings Redis workers through case 3's schedule, one worker at a time, to see how often one falls
 * into the garbage collector's expensive state (see bench/README.md, "Garbage collection in the
 * Redis workers"): this build's workers, in alternating order with this build's under a V8 flag, or
 * with another checkout's (`--baseline`, its `dist/` built). `--node-flags` go to every worker:
 * with a young generation of 1 MB (`--min-semi-space-size=1,--max-semi-space-size=1`) a young
 * collection meets almost every burst, so what the state needs happens in nearly every worker. Each worker is fresh and does
 * what a case-3 worker does first in a full run: one measurement at 1 call in flight, an idle spell
 * (the other contenders' turns), then one at 256 in flight, which is the one reported. A worker is
 * counted in the state when its collections paused it more than `STATE_GC_MS` ms a second.
 * Against one private redis-server on the server core; the workers on the load core. Not part of
 * `npm run bench`.
 *
 *   node --import tsx bench/gc-state.ts [--impl=floodgate-sliding-log-node-redis] [--pairs=12]
 *     [--idle=5000] [--flag=--no-allocation-site-pretenuring | --baseline=<checkout>] [--node-flags=<a,b>]
 */
import { resolve } from 'node:path';
import { type IpcWorker, startIpcWorker } from './lib/ipc.js';
import { buildDist, CPU, checkedBaseline, childrenLoadDist, ROOT, runScript } from './lib/proc.js';
import { startRedis } from './lib/redis-server.js';
import { median, roundOrder } from './lib/stats.js';

/**
 * Milliseconds of collection pauses per measured second above which a worker is in the state. In
 * the full runs, workers in it paused 216 to 338 ms a second; every other worker 30 to 80.
 */
const STATE_GC_MS = 150;
/** Upper bounds, whatever is asked: workers per side, and the idle spell. */
const MAX_PAIRS = 50;
const MAX_IDLE_MS = 30_000;

interface Args {
  impl: string;
  pairs: number;
  idleMs: number;
  flag: string;
  baseline: string | undefined;
  nodeFlags: string[];
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    impl: 'floodgate-sliding-log-node-redis',
    pairs: 12,
    idleMs: 5000,
    flag: '--no-allocation-site-pretenuring',
    baseline: undefined,
    nodeFlags: [],
  };
  for (const arg of argv) {
    const [name, value = ''] = arg.split(/=(.*)/s);
    if (name === '--impl') args.impl = value;
    else if (name === '--pairs') args.pairs = Number(value);
    else if (name === '--idle') args.idleMs = Number(value);
    else if (name === '--flag') args.flag = value;
    else if (name === '--baseline') args.baseline = checkedBaseline(value);
    else if (name === '--node-flags') args.nodeFlags = value.split(',').filter((flag) => flag !== '');
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!Number.isInteger(args.pairs) || args.pairs < 1 || args.pairs > MAX_PAIRS) {
    throw new Error(`--pairs must be an integer from 1 to ${MAX_PAIRS}, got ${args.pairs}`);
  }
  if (!Number.isInteger(args.idleMs) || args.idleMs < 0 || args.idleMs > MAX_IDLE_MS) {
    throw new Error(`--idle must be a whole number of milliseconds up to ${MAX_IDLE_MS}, got ${args.idleMs}`);
  }
  if (!args.flag.startsWith('--')) throw new Error(`--flag must be a V8 flag such as --no-…, got ${args.flag}`);
  for (const flag of args.nodeFlags) {
    if (!flag.startsWith('--')) throw new Error(`--node-flags must be Node or V8 flags, comma-separated, got ${flag}`);
  }
  return args;
}

/** What a worker's measurement reports (see `Drive` in cases/redis-worker.ts). */
interface Measured {
  decisionsPerSec: number;
  clientCpuUs: number;
  gcMsPerSecond: number;
  majorGcs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  buildDist();
  // The workers load floodgate from dist/, as in a full run.
  childrenLoadDist();
  const redis = await startRedis(CPU.server);
  const sides = { this: [] as Measured[], other: [] as Measured[] };
  const label = (side: 'this' | 'other'): string =>
    side === 'this' ? 'this build' : args.baseline === undefined ? `this build ${args.flag}` : 'baseline';
  try {
    for (let pair = 0; pair < args.pairs; pair++) {
      for (const side of roundOrder(['other', 'this'] as const, pair)) {
        let worker: IpcWorker | undefined;
        try {
          // The other side: the baseline's own worker, which loads the baseline's dist/ (the
          // bench tsconfig drops the source paths alike on both sides), or this one under the flag.
          const other = side === 'other';
          const root = other && args.baseline !== undefined ? args.baseline : ROOT;
          worker = await startIpcWorker(
            resolve(root, 'bench', 'cases', 'redis-worker.ts'),
            ['serve', 'throughput', args.impl, String(redis.port), '10000'],
            CPU.load,
            { nodeFlags: other && args.baseline === undefined ? [...args.nodeFlags, args.flag] : args.nodeFlags },
          );
          await worker.request({ inFlight: 1, measureMs: 1500, warmupMs: 300 }, 60_000);
          await sleep(args.idleMs);
          const m = await worker.request<Measured>({ inFlight: 256, measureMs: 1500, warmupMs: 300 }, 60_000);
          sides[side].push(m);
          const state = m.gcMsPerSecond > STATE_GC_MS ? '  in the state' : '';
          console.log(
            `${pair + 1}/${args.pairs} ${label(side)}: ` +
              `${(m.decisionsPerSec / 1000).toFixed(1)} k/s, ${m.clientCpuUs.toFixed(2)} µs CPU a decision, ` +
              `${m.gcMsPerSecond.toFixed(0)} ms/s of collections, ${m.majorGcs} full${state}`,
          );
        } finally {
          await worker?.stop();
        }
      }
    }
  } finally {
    await redis.stop();
  }
  for (const side of ['this', 'other'] as const) {
    const all = sides[side];
    const inState = all.filter((m) => m.gcMsPerSecond > STATE_GC_MS);
    const clean = all.filter((m) => m.gcMsPerSecond <= STATE_GC_MS);
    const cpu = (list: Measured[]): string =>
      list.length === 0 ? '–' : median(list.map((m) => m.clientCpuUs)).toFixed(2);
    // Under a small young generation every worker pauses long; the full collections tell them apart.
    const majors = all.length === 0 ? '–' : String(median(all.map((m) => m.majorGcs)));
    console.log(
      `${label(side)}: ${inState.length} of ${all.length} workers in the state; ` +
        `client CPU µs a decision, median: ${cpu(clean)} outside it, ${cpu(inState)} in it; ` +
        `full collections a worker, median: ${majors}`,
    );
  }
}

runScript(main);
