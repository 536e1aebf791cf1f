/**
 * Where an in-memory `consume` spends its time: floodgate's `consume` and `decide` at 1,000 keys
 * beside express-rate-limit's `MemoryStore.increment`, rate-limiter-flexible's `consume` and
 * floor rows that do less than any exact limiter can, all in one process, in interleaved rounds.
 * It is not part of `npm run bench`; case 2 is the measure of record, this finds the split.
 *   npx tsup && node --import tsx bench/consume.ts [--processes=3] [--rounds=15] [--baseline=dir] [--limiters=3] [--async-first]
 * It runs one child process for the floor rows and one per algorithm (so no algorithm shares the
 * limiter's call sites with another), each with both peers, pinned to CPU 1 with taskset when
 * there is one, `--processes` times over. `--baseline` also runs each algorithm on another
 * checkout's built dist/, alternating with this one's (`--group=token-bucket:consume --build=dir` runs one child).
 * `--limiters=N` also measures each floodgate row after N - 1 other limiters of its algorithm have
 * been made and used in its process, as case 2's worker does (see `floodgateRow`).
 * `--async-first` measures every floodgate row after a limiter whose store answers with promises,
 * as a Redis store does, has been used in its process: as in an app with a Redis limiter too.
 *
 * Times are CPU time per call (`process.cpuUsage`), not wall time: on a shared machine a process
 * that is descheduled for a while is not charged for it. Ratios are taken within a round.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MemoryStore as ErlMemoryStore, type Options as ErlOptions } from 'express-rate-limit';
import type * as Floodgate from 'floodgate';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { median } from './lib/stats.js';

const ALGORITHMS = ['token-bucket', 'sliding-log', 'fixed-window', 'sliding-counter'] as const;
type AlgorithmName = (typeof ALGORITHMS)[number];
type Method = 'consume' | 'decide';
/**
 * `consume` and `decide` each in a process of their own, as in case 2: sharing one process, they
 * share the limiter's call sites, and `decide` measured 0.2 lower beside `consume` than alone.
 */
type Group = 'floors' | `${AlgorithmName}:${Method}`;
const GROUPS: readonly Group[] = ['floors', ...ALGORITHMS.flatMap((a) => [`${a}:consume`, `${a}:decide`] as const)];
const HUGE = 1_000_000_000;
const KEYS = Array.from({ length: 1000 }, (_, k) => `user:${k}`);
const CALLS_PER_ROUND = 200_000;

type Call = (key: string) => boolean | Promise<boolean>;
type Harness = (call: Call, keys: readonly string[], calls: number) => Promise<number>;

/**
 * Case 2's loop (await only what is a promise), returning CPU ns per call. Each contender gets its
 * own copy, compiled anew, so that no two share the feedback of the `call` site.
 */
function harness(): Harness {
  return new Function(`return async function measure(call, keys, calls) {
    const n = keys.length;
    let i = 0;
    let denied = 0;
    const start = process.cpuUsage();
    for (let c = 0; c < calls; c++) {
      let r = call(keys[i]);
      if (typeof r !== 'boolean') r = await r;
      if (r) denied++;
      i = i + 1 === n ? 0 : i + 1;
    }
    const used = process.cpuUsage(start);
    if (denied > 0) throw new Error('a call was denied');
    return ((used.user + used.system) * 1000) / calls;
  }`)() as Harness;
}

function algorithmOf(lib: typeof Floodgate, name: AlgorithmName): Floodgate.Algorithm {
  // Limits are never reached; state lives between visits (see case 2's worker).
  switch (name) {
    case 'token-bucket':
      return lib.tokenBucket({ capacity: HUGE, refillPerSecond: 1 });
    case 'sliding-log':
      // Case 2's window at 1,000 keys: a few dozen entries per key at a few million calls a second.
      return lib.slidingWindowLog({ limit: HUGE, windowMs: 10 });
    case 'fixed-window':
      return lib.fixedWindow({ limit: HUGE, windowMs: 60_000 });
    case 'sliding-counter':
      return lib.slidingWindowCounter({ limit: HUGE, windowMs: 60_000 });
  }
}

/** The two peers, first in every process: each ratio is taken to them within its own process. */
function peers(): Record<string, Call> {
  const erl = new ErlMemoryStore();
  erl.init({ windowMs: 60_000 } as ErlOptions);
  const rlf = new RateLimiterMemory({ points: HUGE, duration: 60 });
  return {
    'express-rate-limit': (key) => erl.increment(key).then((info) => info.totalHits > HUGE),
    'rate-limiter-flexible': (key) =>
      rlf.consume(key).then(
        () => false,
        () => true,
      ),
  };
}

/**
 * The floor rows, in a process of their own: beside a sliding log, whose entries keep the old
 * generation growing, every allocation pays for the collector's marking, and the floors doubled.
 */
function floors(): Record<string, Call> {
  const counts = new Map<string, number>();
  const fractions = new Map<string, number>();
  let n = 0;
  return {
    // Case 2's floor: a clock read, a fresh answer, one promise; no key, no state.
    'reference-clock-and-promise': () =>
      Promise.resolve({
        allowed: performance.now() >= 0,
        limit: HUGE,
        remaining: n++,
        resetMs: 0,
        retryAfterMs: 0,
      }).then((d) => !d.allowed),
    // The least an exact limiter keeping a number per key does: a clock read, the key's number
    // read and written back, a fresh answer, one promise. A small integer is stored in the Map as
    // it is, as the window counters' packed counts are.
    'floor: clock, Map of an integer, promise': (key) => {
      const now = performance.now();
      const used = counts.get(key) ?? 0;
      counts.set(key, used + 1);
      return Promise.resolve({
        allowed: now >= 0,
        limit: HUGE,
        remaining: HUGE - used - 1,
        resetMs: 0,
        retryAfterMs: 0,
      }).then((d) => !d.allowed);
    },
    // The same with a fraction, as a token bucket's state is: V8 boxes a double stored in a Map,
    // so every write allocates a new heap number.
    'floor: clock, Map of a fraction, promise': (key) => {
      const now = performance.now();
      const used = fractions.get(key) ?? 0.5;
      fractions.set(key, used + 1);
      return Promise.resolve({
        allowed: now >= 0,
        limit: HUGE,
        remaining: HUGE - Math.ceil(used),
        resetMs: 0,
        retryAfterMs: 0,
      }).then((d) => !d.allowed);
    },
  };
}

/** How case 2 calls a limiter for a group's method. */
function floodgate(group: Exclude<Group, 'floors'>, limiter: Floodgate.Limiter): Call {
  const method = group.split(':')[1] as Method;
  if (method === 'consume') return (key) => limiter.consume(key).then((d) => !d.allowed);
  return (key) => {
    const d = limiter.decide(key, 1);
    return d instanceof Promise ? d.then((x) => !x.allowed) : !d.allowed;
  };
}

/**
 * The floodgate row of a group: one limiter, measured after `limiters - 1` others of the same
 * algorithm have been made and used in the process, as in case 2, whose worker makes one per key
 * count, and as in an app with several limiters. Each limiter's functions are made anew from the
 * same source, and a limiter used after another one scores lower (see bench/README.md, "Several
 * limiters in one process").
 */
async function floodgateRow(
  lib: typeof Floodgate,
  group: Exclude<Group, 'floors'>,
  { limiters, asyncFirst }: Setup,
): Promise<Record<string, Call>> {
  const algorithm = group.split(':')[0] as AlgorithmName;
  const make = (): Floodgate.Limiter => lib.createLimiter({ algorithm: algorithmOf(lib, algorithm) });
  if (asyncFirst) {
    // A memory store behind a `decide` that answers with a promise: the limiter's code then meets
    // promises where it met only Decisions, as with a Redis store, with no server to run.
    const inner = new lib.MemoryStore();
    const store: Floodgate.Store = {
      bind(options) {
        const binding = inner.bind(options);
        return { ...binding, decide: async (key, cost, charge) => binding.decide(key, cost, charge) };
      },
    };
    const other = lib.createLimiter({ algorithm: algorithmOf(lib, algorithm), store, prefix: 'async' });
    await harness()(floodgate(group, other), KEYS, CALLS_PER_ROUND);
  }
  for (let i = 1; i < limiters; i++) await harness()(floodgate(group, make()), KEYS, CALLS_PER_ROUND);
  const suffix = `${limiters === 1 ? '' : `, ${limiters} limiters`}${asyncFirst ? ', after an async store' : ''}`;
  return { [`floodgate ${group.replace(':', ' ')}${suffix}`]: floodgate(group, make()) };
}

/** What a floodgate row's process does before it is measured: `--limiters` and `--async-first`. */
interface Setup {
  limiters: number;
  asyncFirst: boolean;
}

function option(argv: readonly string[], name: string): string | undefined {
  const arg = argv.find((a) => a.startsWith(`--${name}=`));
  return arg?.slice(name.length + 3);
}

async function runOne(group: Group, rounds: number, build: string, setup: Setup): Promise<void> {
  let calls: Record<string, Call>;
  if (group === 'floors') calls = { ...peers(), ...floors() };
  else {
    const lib = (await import(pathToFileURL(resolve(build, 'dist', 'index.js')).href)) as typeof Floodgate;
    calls = { ...peers(), ...(await floodgateRow(lib, group, setup)) };
  }
  const names = Object.keys(calls);
  const timed = names.map((name) => ({ name, call: calls[name] as Call, measure: harness(), ns: [] as number[] }));
  for (const t of timed) await t.measure(t.call, KEYS, CALLS_PER_ROUND);
  for (let r = 0; r < rounds; r++) {
    for (const t of r % 2 === 0 ? timed : [...timed].reverse()) {
      t.ns.push(await t.measure(t.call, KEYS, CALLS_PER_ROUND));
    }
  }
  const [erl, rlf] = timed as [(typeof timed)[0], (typeof timed)[0]];
  const rows: Row[] = timed.map((t) => ({
    name: t.name,
    ns: median(t.ns),
    // Ratios of speed (calls per second), so above 1 is faster than the peer.
    vsErl: median(t.ns.map((x, i) => (erl.ns[i] as number) / x)),
    vsRlf: median(t.ns.map((x, i) => (rlf.ns[i] as number) / x)),
  }));
  console.log(JSON.stringify({ load: loadavg()[0], rows }));
}

interface Row {
  name: string;
  ns: number;
  vsErl: number;
  vsRlf: number;
}

/** One child process: a group, on this build or the baseline's. */
function child(
  group: Group,
  rounds: number,
  build: string,
  { limiters, asyncFirst }: Setup,
  pinned: boolean,
): { load: number; rows: Row[] } {
  const args = [
    '--import',
    'tsx',
    'bench/consume.ts',
    `--group=${group}`,
    `--rounds=${rounds}`,
    `--build=${build}`,
    `--limiters=${limiters}`,
    ...(asyncFirst ? ['--async-first'] : []),
  ];
  const run = pinned
    ? spawnSync('taskset', ['-c', '1', process.execPath, ...args], { encoding: 'utf8' })
    : spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`the ${group} run failed:\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1) as string);
}

const spread = (xs: number[]): string =>
  `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const rounds = Number(option(argv, 'rounds') ?? 15);
  const build = resolve(option(argv, 'build') ?? '.');
  const group = option(argv, 'group');
  const limiters = Number(option(argv, 'limiters') ?? 1);
  const asyncFirst = argv.includes('--async-first');
  if (!Number.isSafeInteger(limiters) || limiters < 1)
    throw new Error(`--limiters must be a positive integer, got ${limiters}`);
  if (group !== undefined) {
    if (!(GROUPS as readonly string[]).includes(group)) {
      throw new Error(`--group must be one of ${GROUPS.join(', ')}, got ${group}`);
    }
    await runOne(group as Group, rounds, build, { limiters, asyncFirst });
    return;
  }
  const processes = Number(option(argv, 'processes') ?? 3);
  const baseline = option(argv, 'baseline');
  const builds = baseline === undefined ? [build] : [build, resolve(baseline)];
  const pinned = spawnSync('taskset', ['-c', '1', 'true']).status === 0;
  // With --limiters, each floodgate row is measured both alone and after the others, side by side.
  const counts = limiters === 1 ? [1] : [1, limiters];
  // Per row: each process's median ratio. Processes of the two builds alternate, so drift over the
  // run falls on both; a process's JIT and memory layout move its figures by a few percent, so a
  // figure is the median over processes, with their range.
  const results = new Map<string, Row[]>();
  const loads: number[] = [];
  for (let p = 0; p < processes; p++) {
    for (const g of GROUPS) {
      for (const b of g === 'floors' ? [build] : builds) {
        for (const n of g === 'floors' ? [1] : counts) {
          const { load, rows } = child(g, rounds, b, { limiters: n, asyncFirst }, pinned);
          loads.push(load);
          for (const row of rows) {
            if (g !== 'floors' && !row.name.startsWith('floodgate')) continue;
            const name = b === build ? row.name : `${row.name} (baseline)`;
            results.set(name, [...(results.get(name) ?? []), row]);
          }
        }
      }
    }
  }
  console.log(
    `${processes} processes per group and build, ${rounds} rounds each, 1,000 keys; ${pinned ? 'pinned to CPU 1' : 'not pinned'}; ` +
      `load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}${baseline === undefined ? '' : `; baseline ${resolve(baseline)}`}\n`,
  );
  console.log('| contender | CPU ns per call | ÷ express-rate-limit | ÷ rate-limiter-flexible |');
  console.log('| --- | --- | --- | --- |');
  for (const [name, rows] of results) {
    const ns = median(rows.map((r) => r.ns)).toFixed(1);
    console.log(`| ${name} | ${ns} | ${spread(rows.map((r) => r.vsErl))} | ${spread(rows.map((r) => r.vsRlf))} |`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
