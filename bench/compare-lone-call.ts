/**
 * Side by side in one run: the latency of a lone call (one in flight) through floodgate's Redis
 * store, this checkout against another build (say, the last commit before calls were coalesced),
 * so that what a change costs a call made alone can be told from the machine's drift. Each build
 * runs bench/cases/lone-call-worker.ts from this checkout, loading floodgate from its own dist/,
 * in its own process on the load core, against one private redis-server on the server core, in
 * alternating order each round. Reported: each build's median p50 and p99 over rounds, the
 * median over rounds of the difference in p50 within a round, and the server's own time in
 * script calls per call (`INFO commandstats`). Not part of `npm run bench`.
 *
 *   node --import tsx bench/compare-lone-call.ts --baseline=<dir> [--rounds=10] [--measure=1500]
 *
 * `<dir>` is a checkout with its dist/ built, e.g.:
 *   git worktree add /tmp/base <commit> && ln -s "$PWD/node_modules" /tmp/base/node_modules && (cd /tmp/base && npx tsup)
 */
import { resolve } from 'node:path';
import { type IpcWorker, startIpcWorker } from './lib/ipc.js';
import { waitQuiet } from './lib/machine.js';
import { buildDist, CPU, checkedBaseline, ROOT, runScript } from './lib/proc.js';
import { startRedis } from './lib/redis-server.js';
import { median, range, roundOrder } from './lib/stats.js';

const KINDS = ['token-bucket', 'sliding-log'] as const;

interface Args {
  baseline: string;
  rounds: number;
  measureMs: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { baseline: '', rounds: 10, measureMs: 1500 };
  for (const arg of argv) {
    const [name, value = ''] = arg.split('=', 2);
    if (name === '--baseline') args.baseline = checkedBaseline(value);
    else if (name === '--rounds') args.rounds = Number(value);
    else if (name === '--measure') args.measureMs = Number(value);
    else throw new Error(`unknown argument ${arg}`);
  }
  // Without one, the workers would run this checkout's build against itself.
  if (args.baseline === '') throw new Error('--baseline=<checkout> is required');
  if (!Number.isInteger(args.rounds) || args.rounds < 1) throw new Error(`--rounds must be a positive integer`);
  return args;
}

interface Measured {
  calls: number;
  p50Us: number;
  p99Us: number;
  serverUsPerCall: number;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  buildDist();
  const builds = { baseline: args.baseline, this: ROOT } as const;
  type Build = keyof typeof builds;
  const redis = await startRedis(CPU.server);
  const workers = new Map<Build, IpcWorker>();
  const results = new Map<string, Measured[]>();
  try {
    for (const build of Object.keys(builds) as Build[]) {
      const script = resolve(ROOT, 'bench', 'cases', 'lone-call-worker.ts');
      workers.set(build, await startIpcWorker(script, ['serve', builds[build], String(redis.port)], CPU.load));
    }
    for (let r = 0; r < args.rounds; r++) {
      await waitQuiet(3000);
      for (const kind of KINDS) {
        for (const build of roundOrder(Object.keys(builds) as Build[], r)) {
          const m = await (workers.get(build) as IpcWorker).request<Measured>(
            { kind, measureMs: args.measureMs, warmupMs: 300 },
            60_000 + args.measureMs * 2,
          );
          const k = `${kind}@${build}`;
          results.set(k, [...(results.get(k) ?? []), m]);
        }
      }
      process.stderr.write(`round ${r + 1}/${args.rounds}\n`);
    }
  } finally {
    await Promise.all([...workers.values()].map((w) => w.stop()));
    await redis.stop();
  }
  console.log(
    `one call in flight through RedisStore on ioredis (redis-server ${redis.version}); this checkout ${ROOT} against ${args.baseline}; ${args.rounds} rounds of ${args.measureMs} ms per build and algorithm`,
  );
  console.log('');
  console.log(
    '| algorithm | baseline p50 µs | this p50 µs | this − baseline p50 µs, median (min–max) | baseline p99 µs | this p99 µs | Redis µs per call, baseline | this |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  const us = (x: number): string => x.toFixed(1);
  for (const kind of KINDS) {
    const base = results.get(`${kind}@baseline`) ?? [];
    const ours = results.get(`${kind}@this`) ?? [];
    const diffs = ours.map((m, i) => m.p50Us - (base[i] as Measured).p50Us);
    const [lo, hi] = range(diffs);
    const p = (ms: Measured[], key: 'p50Us' | 'p99Us' | 'serverUsPerCall'): number => median(ms.map((m) => m[key]));
    console.log(
      `| ${kind} | ${us(p(base, 'p50Us'))} | ${us(p(ours, 'p50Us'))} | ${us(median(diffs))} (${us(lo)} to ${us(hi)}) | ${us(p(base, 'p99Us'))} | ${us(p(ours, 'p99Us'))} | ${us(p(base, 'serverUsPerCall'))} | ${us(p(ours, 'serverUsPerCall'))} |`,
    );
  }
}

runScript(main);
