/**
 * This checkout against another one (say, a worktree at an earlier commit), on rows both measure.
 * Each round measures every row on both sides back to back, in alternating order, and the figure
 * reported is the median of the per-round ratios this ÷ other, so a burst of noise from elsewhere
 * on the machine hits one round rather than one side. express-rate-limit and
 * rate-limiter-flexible run the same code on both sides: their ratios show how far noise alone
 * moves a ratio. Cases:
 * - core: in-memory decisions/s at 1,000 keys (case 2's workers), also per second of the worker's
 *   own CPU time, which the machine's other jobs move far less than decisions per wall second;
 * - redis: decisions/s at 256 in flight and p50 latency at 1 in flight (case 3's workers), with
 *   the server's time, script calls and the client's CPU time per decision; the token bucket also
 *   with every call on one key (`floodgate-token-bucket-one-key`), as in one client's burst;
 * - replay: redis-benchmark replaying each side's one-decision script call, captured with that
 *   side's own code, 256 pipelined: what the script alone costs the server.
 *
 *   node --import tsx bench/compare.ts --base=<other checkout> [--rounds=N] [--only=core,redis,replay]
 *     [--core-rows=<case 2 contender>,…] [--fresh] [--out=file.json]
 *
 * A worker keeps the outcome of the optimizing compiler it got when it warmed up for all its
 * rounds, and two builds of the same code have differed by a fifth on one row that way (see
 * bench/compare-builds.ts). With `--fresh` every worker is started anew each round, so the median
 * spans the compiler's outcomes too; each round then costs the workers' start and warm-up.
 *
 * Both checkouts need `npm ci`; dist/ is built in both first, and each side's workers load
 * floodgate from their own checkout's build. Each side gets its own redis-server (on free
 * loopback ports, stopped by pid at the end), as their scripts may store a key differently.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { ONE_KEY } from './cases/redis-policies.js';
import { scriptStatsOf } from './lib/commandstats.js';
import { type IpcWorker, startIpcWorker } from './lib/ipc.js';
import { machineInfo, processCpuMicros, waitQuiet } from './lib/machine.js';
import { CPU, ROOT, run, runScript } from './lib/proc.js';
import { type BenchRedis, startRedis } from './lib/redis-server.js';
import { median, range, round, roundOrder } from './lib/stats.js';

const CORE_ROWS = [
  'floodgate-token-bucket-decide',
  'floodgate-token-bucket-consume',
  'floodgate-sliding-log-decide',
  'floodgate-sliding-log-consume',
  'express-rate-limit',
  'rate-limiter-flexible',
] as const;
const REDIS_ROWS = ['floodgate-token-bucket', 'floodgate-sliding-log', 'rate-limiter-flexible', ONE_KEY] as const;
/** The worker and key count behind a Redis row: the one-key row is the token bucket on one key (a burst). */
function redisWorkerOf(row: (typeof REDIS_ROWS)[number]): { impl: string; keyspace: number } {
  return row === ONE_KEY ? { impl: 'floodgate-token-bucket', keyspace: 1 } : { impl: row, keyspace: REDIS.keyspace };
}
/** Algorithms whose one-decision script redis-benchmark replays on each side. */
const REPLAY_KINDS = ['token-bucket', 'sliding-log'] as const;
/** Longer than the main run's 300 ms, so the worker's CPU time (in 10 ms ticks) is read to ~1 %. */
const CORE = { keys: 1000, measureMs: 1000, warmupMs: 300 };
const REDIS = { keyspace: 10_000, measureMs: 1500, warmupMs: 300 };
/** Redis figures compared: what the main run's targets judge at each in-flight count. */
const REDIS_FIGURES = [
  { inFlight: 256, field: 'decisionsPerSec', label: 'decisions/s, 256 in flight' },
  { inFlight: 1, field: 'p50Us', label: 'p50 µs, 1 in flight' },
] as const;

const CASES = ['core', 'redis', 'replay'];
type Side = 'this' | 'base';
const SIDES: readonly Side[] = ['this', 'base'];

interface Args {
  base: string;
  rounds: number;
  only: Set<string>;
  coreRows: readonly string[];
  out: string | undefined;
  fresh: boolean;
}

function parseArgs(argv: string[]): Args {
  let base: string | undefined;
  let rounds = 8;
  let only = new Set<string>(CASES);
  let coreRows: readonly string[] = CORE_ROWS;
  let out: string | undefined;
  let fresh = false;
  for (const arg of argv) {
    if (arg.startsWith('--base=')) base = resolve(arg.slice(7));
    // Any of case 2's contenders that both checkouts have, for a look at another row.
    else if (arg.startsWith('--core-rows=')) coreRows = arg.slice(12).split(',');
    else if (arg.startsWith('--rounds=')) rounds = Number(arg.slice(9));
    else if (arg.startsWith('--only=')) only = new Set(arg.slice(7).split(','));
    else if (arg.startsWith('--out=')) out = resolve(arg.slice(6));
    else if (arg === '--fresh') fresh = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (base === undefined)
    throw new Error(
      `usage: bench/compare.ts --base=<other checkout> [--rounds=N] [--only=${CASES.join(',')}] [--fresh]`,
    );
  if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > 100)
    throw new Error(`--rounds must be 1 to 100, got ${rounds}`);
  for (const name of only) {
    if (!CASES.includes(name)) throw new Error(`unknown case ${name}; cases: ${CASES.join(', ')}`);
  }
  return { base, rounds, only, coreRows, out, fresh };
}

function log(line: string): void {
  process.stderr.write(`[compare] ${line}\n`);
}

function build(dir: string): void {
  const built = spawnSync('npm', ['run', '--silent', 'build'], { cwd: dir, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`building dist/ in ${dir} failed:\n${built.stdout}${built.stderr}`);
}

interface Row {
  case: 'core' | 'redis' | 'replay';
  row: string;
  figure: string;
  this: number[];
  base: number[];
}

function summary(r: Row) {
  const ratios = r.this.map((x, i) => x / (r.base[i] as number));
  return {
    ...r,
    medianThis: round(median(r.this), 3),
    medianBase: round(median(r.base), 3),
    ratios: ratios.map((x) => round(x, 3)),
    pairs: ratios.filter((x) => Number.isFinite(x)).length,
    medianRatio: round(median(ratios), 3),
    ratioRange: range(ratios).map((x) => round(x, 3)),
  };
}

/** Script calls (EVALSHA and EVAL) the server has run since the last `CONFIG RESETSTAT`, and their µs. */
async function scriptStats(server: BenchRedis): Promise<{ calls: number; usec: number }> {
  return scriptStatsOf(await server.cli('INFO', 'commandstats'));
}

/**
 * The script call one decision of `kind` sends on that checkout's store, captured through MONITOR
 * by that checkout's own capture code, in a child process (so its `floodgate` is that checkout's
 * build, not this process's).
 */
function capture(dir: string, port: number, kind: string): string[] {
  const code = `const m = await import(${JSON.stringify(resolve(dir, 'bench/lib/capture.ts'))});
console.log(JSON.stringify(await m.captureScriptCall(${port}, ${JSON.stringify(kind)})));
process.exit(0);`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !last.startsWith('[')) throw new Error(`capturing ${kind} in ${dir} failed: ${r.stderr}`);
  return JSON.parse(last) as string[];
}

/** redis-benchmark replaying one captured call, 256 pipelined on one connection, as case 3 does. */
async function replay(server: BenchRedis, call: readonly string[]): Promise<{ rps: number; usPerCall: number }> {
  const errors = async (): Promise<number> =>
    Number((await server.cli('INFO', 'stats')).match(/total_error_replies:(\d+)/)?.[1] ?? Number.NaN);
  const before = await errors();
  await server.cli('CONFIG', 'RESETSTAT');
  const args = ['-h', '127.0.0.1', '-p', String(server.port), '-c', '1', '-P', '256', '-n', '100000'];
  const r = await run('redis-benchmark', [...args, '-r', String(REDIS.keyspace), '--csv', ...call], 120_000, CPU.load);
  const stats = await scriptStats(server);
  if ((await errors()) > before) throw new Error(`the replay of ${call.slice(0, 2).join(' ')} got error replies`);
  const fields = [...(r.stdout.trim().split('\n').at(-1) ?? '').matchAll(/"([^"]*)"/g)].map((m) => m[1] as string);
  const rps = Number(fields[1]);
  if (r.code !== 0 || !Number.isFinite(rps)) throw new Error(`redis-benchmark failed: ${r.stderr || r.stdout}`);
  return { rps, usPerCall: stats.usec / stats.calls };
}

let failed = 0;

/**
 * One measurement, or undefined when it failed (a Redis call timing out on a machine starved by
 * other jobs, say): that round's ratio for the row is then left out, and the failures counted.
 */
async function measured<T>(measure: () => Promise<T>): Promise<T | undefined> {
  try {
    return await measure();
  } catch (error) {
    failed++;
    log(
      `a measurement failed, its round left out: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}`,
    );
    return undefined;
  }
}

async function main(): Promise<void> {
  const { base, rounds, only, coreRows, out, fresh } = parseArgs(process.argv.slice(2));
  const dirs: Record<Side, string> = { this: ROOT, base };
  for (const side of SIDES) build(dirs[side]);
  // Both sides' bench tsconfigs drop the source paths alike: each worker resolves `floodgate`
  // through its own checkout's package.json, to that checkout's dist/.
  process.env.TSX_TSCONFIG_PATH = resolve(ROOT, 'bench', 'tsconfig.dist.json');
  const started = { date: new Date().toISOString(), loadavg: loadavg().map((x) => round(x, 2)) };
  log(
    `this ${ROOT}, base ${base}; ${rounds} rounds${fresh ? ', fresh workers each round' : ''}; load average ${started.loadavg.join(' ')}`,
  );
  const rows = new Map<string, Row>();
  const sample = (c: Row['case'], row: string, figure: string, side: Side, value: number): void => {
    const id = `${c}|${row}|${figure}`;
    const r = rows.get(id) ?? { case: c, row, figure, this: [], base: [] };
    r[side].push(value);
    rows.set(id, r);
  };
  let workers: IpcWorker[] = [];
  const servers: BenchRedis[] = [];
  const busy: number[] = [];
  const core = new Map<string, IpcWorker>();
  const redis = new Map<string, IpcWorker>();
  /** Every worker both sides need, each warmed by one uncounted measurement. */
  const startWorkers = async (): Promise<void> => {
    if (only.has('core')) {
      for (const row of coreRows) {
        for (const side of SIDES) {
          const w = await startIpcWorker(resolve(dirs[side], 'bench/cases/core-worker.ts'), ['serve', row], CPU.load);
          workers.push(w);
          core.set(`${row}|${side}`, w);
        }
      }
    }
    if (only.has('redis')) {
      for (const side of SIDES) {
        const server = servers[SIDES.indexOf(side)] as BenchRedis;
        for (const row of REDIS_ROWS) {
          const { impl, keyspace } = redisWorkerOf(row);
          const w = await startIpcWorker(
            resolve(dirs[side], 'bench/cases/redis-worker.ts'),
            ['serve', 'throughput', impl, String(server.port), String(keyspace)],
            CPU.load,
          );
          workers.push(w);
          redis.set(`${row}|${side}`, w);
        }
      }
    }
    // A first measurement per worker, not counted: it includes the worker's warm-up and first
    // pass over the keys, which would count in its CPU time.
    for (const w of core.values()) await w.request({ ...CORE, measureMs: 100 }, 60_000);
    for (const w of redis.values()) await w.request({ inFlight: 256, measureMs: 500, warmupMs: 0 }, 60_000);
  };
  const stopWorkers = async (): Promise<void> => {
    await Promise.all(workers.map((w) => w.stop()));
    workers = [];
    core.clear();
    redis.clear();
  };
  try {
    const replays = new Map<string, string[]>();
    if (only.has('redis') || only.has('replay')) {
      for (let i = 0; i < SIDES.length; i++) servers.push(await startRedis(CPU.server));
    }
    if (only.has('replay')) {
      for (const side of SIDES) {
        const port = (servers[SIDES.indexOf(side)] as BenchRedis).port;
        for (const kind of REPLAY_KINDS) replays.set(`${kind}|${side}`, capture(dirs[side], port, kind));
      }
    }
    if (!fresh) await startWorkers();
    for (let r = 0; r < rounds; r++) {
      if (fresh) await startWorkers();
      const q = await waitQuiet(3000);
      busy.push(round(q.busy ?? Number.NaN, 2));
      for (const row of only.has('core') ? roundOrder(coreRows, r) : []) {
        for (const side of roundOrder(SIDES, r)) {
          const worker = core.get(`${row}|${side}`) as IpcWorker;
          const m = await measured(async () => {
            const cpu = processCpuMicros(worker.pid);
            const figures = await worker.request<{ opsPerSec: number; ops: number; denied: number }>(CORE, 60_000);
            return { ...figures, cpuUs: processCpuMicros(worker.pid) - cpu };
          });
          if (m !== undefined && m.denied > 0) throw new Error(`${row} (${side}) denied ${m.denied} calls`);
          sample('core', row, 'decisions/s, 1,000 keys', side, m?.opsPerSec ?? Number.NaN);
          // Per second of the worker's own CPU time: what the machine's other jobs move least, as
          // time spent waiting for a core is not counted.
          sample('core', row, 'decisions per CPU-second, 1,000 keys', side, m ? (m.ops * 1e6) / m.cpuUs : Number.NaN);
        }
      }
      for (const { inFlight, field, label } of only.has('redis') ? REDIS_FIGURES : []) {
        for (const row of roundOrder(REDIS_ROWS, r)) {
          for (const side of roundOrder(SIDES, r)) {
            const server = servers[SIDES.indexOf(side)] as BenchRedis;
            const m = await measured(async (): Promise<Record<string, number>> => {
              await server.cli('CONFIG', 'RESETSTAT');
              // No warm-up within the request (the worker is warm), so the server's counters
              // cover the measured decisions only.
              const figures = await (redis.get(`${row}|${side}`) as IpcWorker).request<Record<string, number>>(
                { inFlight, measureMs: REDIS.measureMs, warmupMs: 0 },
                60_000,
              );
              return { ...figures, ...(await scriptStats(server)) };
            });
            const ops = m?.ops ?? Number.NaN;
            sample('redis', row, label, side, m?.[field] ?? Number.NaN);
            // The server's own time per decision, and script calls per decision (the store may send
            // calls waiting together as one): less moved by the client's share of a busy machine
            // than decisions/s are.
            sample('redis', row, `Redis µs per decision, ${inFlight} in flight`, side, (m?.usec ?? Number.NaN) / ops);
            sample(
              'redis',
              row,
              `script calls per decision, ${inFlight} in flight`,
              side,
              (m?.calls ?? Number.NaN) / ops,
            );
            sample(
              'redis',
              row,
              `client CPU µs per decision, ${inFlight} in flight`,
              side,
              m?.clientCpuUs ?? Number.NaN,
            );
          }
        }
      }
      for (const kind of only.has('replay') ? roundOrder(REPLAY_KINDS, r) : []) {
        for (const side of roundOrder(SIDES, r)) {
          const server = servers[SIDES.indexOf(side)] as BenchRedis;
          const call = replays.get(`${kind}|${side}`) as string[];
          const m = await measured(() => replay(server, call));
          sample('replay', kind, 'decisions/s, redis-benchmark -P 256', side, m?.rps ?? Number.NaN);
          sample('replay', kind, 'Redis µs per decision', side, m?.usPerCall ?? Number.NaN);
        }
      }
      log(`round ${r + 1}/${rounds} done (busy ${busy.at(-1)} before it, load average ${loadavg()[0]?.toFixed(2)})`);
      if (fresh) await stopWorkers();
    }
  } finally {
    await stopWorkers();
    await Promise.all(servers.map((s) => s.stop()));
  }
  const result = {
    this: ROOT,
    base,
    rounds,
    freshWorkers: fresh,
    started,
    ended: { date: new Date().toISOString(), loadavg: loadavg().map((x) => round(x, 2)) },
    machine: machineInfo(),
    busyBeforeRounds: busy,
    failedMeasurements: failed,
    rows: [...rows.values()].map(summary),
  };
  console.log('| case | row | figure | base | this | this ÷ base, median (min–max) | rounds |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of result.rows) {
    console.log(
      `| ${r.case} | ${r.row} | ${r.figure} | ${r.medianBase} | ${r.medianThis} | ${r.medianRatio.toFixed(3)} (${r.ratioRange[0]?.toFixed(3)}–${r.ratioRange[1]?.toFixed(3)}) | ${r.pairs} |`,
    );
  }
  if (out !== undefined) writeFileSync(out, `${JSON.stringify(result, null, 1)}\n`);
}

runScript(main, (error) => log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`));
