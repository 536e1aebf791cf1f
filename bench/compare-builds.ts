/**
 * Side by side in one run: the in-memory `decide` and `consume` of this checkout against another
 * checkout's (say, the commit before a change), so that a change's cost can be told from the
 * machine's drift. Each contender runs case 2's worker (bench/cases/core-worker.ts) from its own
 * checkout and build, in its own process, in alternating order each round; ratios are taken
 * within a round and their median reported. Not part of `npm run bench`.
 *
 *   node --import tsx bench/compare-builds.ts --baseline=<dir> [--rounds=12] [--keys=1000,100000] [--measure=300] [--fresh]
 *
 * A worker keeps what the optimizing compiler made of its calls for as long as it runs, and two
 * builds of the same code have differed by a fifth on one row that way. With `--fresh` every
 * worker is started anew each round (and warmed again), so the median is over as many compiler
 * outcomes as rounds.
 *
 * `<dir>` is a checkout with its dependencies installed (a symlink to this node_modules will do)
 * and its dist/ built, e.g.:
 *   git worktree add /tmp/base main && ln -s "$PWD/node_modules" /tmp/base/node_modules && (cd /tmp/base && npx tsup)
 */
import { resolve } from 'node:path';
import { type IpcWorker, startIpcWorker } from './lib/ipc.js';
import { waitQuiet } from './lib/machine.js';
import { buildDist, CPU, checkedBaseline, childrenLoadDist, ROOT, runScript } from './lib/proc.js';
import { median, range, roundOrder } from './lib/stats.js';

const IMPLS = [
  'floodgate-token-bucket-decide',
  'floodgate-token-bucket-consume',
  'floodgate-sliding-log-decide',
  'floodgate-sliding-log-consume',
] as const;

interface Args {
  baseline: string;
  rounds: number;
  keys: number[];
  measureMs: number;
  fresh: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { baseline: '', rounds: 12, keys: [1000, 100_000], measureMs: 300, fresh: false };
  for (const arg of argv) {
    const [name, value = ''] = arg.split('=', 2);
    if (name === '--baseline') args.baseline = checkedBaseline(value);
    else if (name === '--rounds') args.rounds = Number(value);
    else if (name === '--keys') args.keys = value.split(',').map(Number);
    else if (name === '--measure') args.measureMs = Number(value);
    else if (arg === '--fresh') args.fresh = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  // Without one, the workers would run this checkout's build against itself.
  if (args.baseline === '') throw new Error('--baseline=<checkout> is required');
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  buildDist();
  // Each worker loads floodgate as users do, from its own checkout's dist/.
  childrenLoadDist();
  const builds = { baseline: args.baseline, this: ROOT } as const;
  type Build = keyof typeof builds;
  const workers = new Map<string, IpcWorker>();
  const id = (impl: string, build: Build): string => `${impl}@${build}`;
  const rates = new Map<string, number[]>();
  const startWorkers = async (): Promise<void> => {
    for (const impl of IMPLS) {
      for (const build of Object.keys(builds) as Build[]) {
        const script = resolve(builds[build], 'bench', 'cases', 'core-worker.ts');
        workers.set(id(impl, build), await startIpcWorker(script, ['serve', impl], CPU.load));
      }
    }
  };
  const stopWorkers = async (): Promise<void> => {
    await Promise.all([...workers.values()].map((w) => w.stop()));
    workers.clear();
  };
  try {
    if (!args.fresh) await startWorkers();
    for (let r = 0; r < args.rounds; r++) {
      if (args.fresh) await startWorkers();
      await waitQuiet(3000);
      for (const keys of args.keys) {
        for (const impl of IMPLS) {
          for (const build of roundOrder(Object.keys(builds) as Build[], r)) {
            const m = await (workers.get(id(impl, build)) as IpcWorker).request<{ opsPerSec: number }>(
              { keys, measureMs: args.measureMs, warmupMs: args.measureMs },
              60_000 + args.measureMs * 4 + keys / 10,
            );
            const k = `${id(impl, build)}@${keys}`;
            rates.set(k, [...(rates.get(k) ?? []), m.opsPerSec]);
          }
        }
      }
      if (args.fresh) await stopWorkers();
      process.stderr.write(`round ${r + 1}/${args.rounds}\n`);
    }
  } finally {
    await stopWorkers();
  }
  const workersNote = args.fresh ? ', fresh workers each round' : '';
  console.log(
    `this checkout ${ROOT} against ${args.baseline}; ${args.rounds} rounds of ${args.measureMs} ms${workersNote}`,
  );
  console.log('');
  console.log('| keys | implementation | baseline /s | this /s | this ÷ baseline, median (min–max) |');
  console.log('|---|---|---|---|---|');
  for (const keys of args.keys) {
    for (const impl of IMPLS) {
      const base = rates.get(`${id(impl, 'baseline')}@${keys}`) ?? [];
      const ours = rates.get(`${id(impl, 'this')}@${keys}`) ?? [];
      const ratios = ours.map((x, i) => x / (base[i] as number));
      const [lo, hi] = range(ratios);
      const m = (x: number): string => `${(x / 1e6).toFixed(2)} M`;
      console.log(
        `| ${keys.toLocaleString('en-US')} | ${impl} | ${m(median(base))} | ${m(median(ours))} | ${median(ratios).toFixed(3)} (${lo.toFixed(2)}–${hi.toFixed(2)}) |`,
      );
    }
  }
}

runScript(main);
