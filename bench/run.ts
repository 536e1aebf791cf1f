/**
 * The benchmark runner: `npm run bench` (full) or `npm run bench:quick` (about a minute; CI's
 * smoke test, which asserts nothing about speed).
 *
 *   node --import tsx bench/run.ts [--quick] [--only=http,core,redis,memory,hotkey,flood,cluster,chart] [--rounds=N] [--out=dir]
 *
 * It starts its own redis-server on a free loopback port (stopped by pid at the end, on error
 * too), and for the cluster case a local 3-master Redis Cluster the same way; installs wrk if it
 * is missing and it can (else uses autocannon); runs every case with floodgate and its peers in
 * the same run; and writes results.json and results.md (plus the boundary-burst chart) to
 * bench/results/ (quick runs: bench/results/quick/, not committed).
 *
 * floodgate is measured as users run it: the run builds dist/ first, and every worker and server
 * loads floodgate from there (bench/tsconfig.dist.json). Loaded from src/ through tsx, each closure
 * made per call is also wrapped in esbuild's name-keeping helper, which cost the Redis path about
 * a tenth of its throughput.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { runCoreCase } from './cases/core.js';
import { runFloodCase } from './cases/flood.js';
import { runHttpCase } from './cases/http.js';
import { runMemoryCase } from './cases/memory.js';
import { runHotKeyCase, runRedisCase } from './cases/redis.js';
import { runClusterCase } from './cases/redis-cluster.js';
import { writeChart } from './chart.js';
import { type BenchContext, PROFILES } from './lib/context.js';
import { ensureLoadTool, type LoadTool } from './lib/load.js';
import { machineInfo, waitQuiet } from './lib/machine.js';
import { buildDist, CPU, childrenLoadDist, packageVersion, ROOT, runScript } from './lib/proc.js';
import { startRedis } from './lib/redis-server.js';
import { judgeTargets, type Results, renderMarkdown, summaryRows } from './lib/report.js';

const CASES = ['http', 'core', 'redis', 'memory', 'hotkey', 'flood', 'cluster', 'chart'] as const;
type CaseName = (typeof CASES)[number];

interface Args {
  quick: boolean;
  only: Set<CaseName>;
  /** Rounds of every case, in place of the profile's own (for a focused look, not a full run). */
  rounds: number | undefined;
  out: string | undefined;
}

function parseArgs(argv: string[]): Args {
  let quick = false;
  let only = new Set<CaseName>(CASES);
  let rounds: number | undefined;
  let out: string | undefined;
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg.startsWith('--only=')) {
      const names = arg.slice(7).split(',');
      for (const n of names)
        if (!(CASES as readonly string[]).includes(n)) throw new Error(`unknown case ${n}; cases: ${CASES.join(', ')}`);
      only = new Set(names as CaseName[]);
    } else if (arg.startsWith('--rounds=')) {
      rounds = Number(arg.slice(9));
      if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > 100)
        throw new Error(`--rounds must be a whole number from 1 to 100, got ${arg.slice(9)}`);
    } else if (arg.startsWith('--out=')) out = arg.slice(6);
    else
      throw new Error(
        `unknown argument ${arg}; usage: bench/run.ts [--quick] [--only=${CASES.join(',')}] [--rounds=N] [--out=dir]`,
      );
  }
  return { quick, only, rounds, out };
}

const started = performance.now();
function log(line: string): void {
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
}

function commandLine(quick: boolean, argv: string[]): string {
  const script = process.env.npm_lifecycle_event;
  if (script === 'bench' || script === 'bench:quick') {
    const extra = argv.filter((a) => a !== '--quick');
    return `npm run ${script}${extra.length > 0 ? ` -- ${extra.join(' ')}` : ''}`;
  }
  return `node --import tsx bench/run.ts${quick && !argv.includes('--quick') ? ' --quick' : ''}${argv.length > 0 ? ` ${argv.join(' ')}` : ''}`;
}

/** Builds dist/ and points every child's tsx at it; returns how floodgate is loaded, for the report. */
function useBuild(): string {
  buildDist();
  childrenLoadDist();
  return 'dist/ (built by tsup at the start of the run)';
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const { quick, only, rounds, out } = parseArgs(argv);
  const code = useBuild();
  log(`floodgate loaded from ${code}`);
  const chosen = PROFILES[quick ? 'quick' : 'full'];
  const profile =
    rounds === undefined
      ? chosen
      : {
          ...chosen,
          rounds: { http: rounds, core: rounds, redis: rounds, hotKey: rounds, flood: rounds, cluster: rounds },
        };
  const outDir = resolve(out ?? resolve(ROOT, 'bench', 'results', quick ? 'quick' : '.'));
  mkdirSync(outDir, { recursive: true });
  log(`profile ${profile.name}, writing to ${outDir}; cases: ${[...only].join(', ')}`);
  if (!CPU.pinned) log('taskset or a second CPU is missing: running unpinned (figures will be noisier)');

  let tool: LoadTool = 'autocannon';
  let toolVersion = packageVersion('autocannon');
  if (only.has('http')) ({ tool, version: toolVersion } = await ensureLoadTool(log));

  const redis = await startRedis(CPU.server);
  log(`redis-server ${redis.version} (pid ${redis.pid}) on 127.0.0.1:${redis.port}`);
  let failures = 0;
  const results: Results = {
    meta: {
      date: new Date().toISOString(),
      command: commandLine(quick, argv),
      profile: profile.name,
      rounds: profile.rounds,
      machine: machineInfo(),
      versions: {
        floodgate: packageVersion('.'),
        'express-rate-limit': packageVersion('express-rate-limit'),
        '@fastify/rate-limit': packageVersion('@fastify/rate-limit'),
        'rate-limiter-flexible': packageVersion('rate-limiter-flexible'),
        express: packageVersion('express'),
        fastify: packageVersion('fastify'),
        ioredis: packageVersion('ioredis'),
        'node-redis (redis)': packageVersion('redis'),
        'redis-server': redis.version,
      },
      code,
      loadGenerator: `${tool} ${toolVersion}`,
      pinning: CPU.pinned
        ? 'servers under test (HTTP app; redis-server in the Redis cases; all three masters in the Redis Cluster case) pinned to CPU 0 with taskset, load generators and bench workers to CPU 1 (in the HTTP case redis-server shares CPU 1 with wrk)'
        : 'not pinned',
    },
    summary: [],
  };
  const ctx: BenchContext = {
    profile,
    tool,
    redis,
    log,
    quiet: async () => {
      const q = await waitQuiet(profile.quietWaitMs);
      if (!q.quiet)
        log(
          `machine still busy (${((q.busy ?? 0) * 100).toFixed(0)}% CPU) after ${profile.quietWaitMs} ms: running the round anyway`,
        );
      return q;
    },
  };
  async function step<K extends keyof Results>(name: CaseName, key: K, fn: () => Promise<Results[K]>): Promise<void> {
    if (!only.has(name)) return;
    log(`case ${name}: start`);
    try {
      results[key] = await fn();
    } catch (error) {
      failures++;
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`case ${name} failed: ${message}`);
      (results as unknown as Record<string, unknown>)[key] = { error: message.split('\n')[0] };
    }
  }
  try {
    await step('chart', 'chart', async () => {
      const { sent: _sent, ...rest } = await writeChart(outDir);
      return rest;
    });
    await step('core', 'core', () => runCoreCase(ctx));
    await step('memory', 'memory', () => runMemoryCase(ctx));
    await step('flood', 'flood', () => runFloodCase(ctx));
    await step('redis', 'redis', () => runRedisCase(ctx));
    await step('hotkey', 'hotKey', () => runHotKeyCase(ctx));
    await step('cluster', 'cluster', () => runClusterCase(ctx));
    await step('http', 'http', () => runHttpCase(ctx));
  } finally {
    await redis.stop();
    log(`redis-server (pid ${redis.pid}) stopped`);
  }
  results.meta.durationSeconds = (performance.now() - started) / 1000;
  // The goals stay on the console, for whoever works on speed; the files keep only the figures.
  const targets = judgeTargets(results);
  results.summary = summaryRows(targets);
  writeFileSync(resolve(outDir, 'results.json'), `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(resolve(outDir, 'results.md'), renderMarkdown(results));
  log(`wrote ${outDir}/results.json and results.md`);
  for (const t of targets) {
    log(
      t.informational
        ? `row    ${t.case}: ${t.floodgate} (${t.peers})`
        : `target ${t.met === null ? 'n/a   ' : t.met ? 'met   ' : 'MISSED'} ${t.case}: ${t.floodgate} (target ${t.target})`,
    );
  }
  return failures;
}

runScript(main, (error) => log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`));
