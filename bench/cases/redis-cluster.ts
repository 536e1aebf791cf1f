import type { BenchContext } from '../lib/context.js';
import { type IpcWorker, startIpcWorker } from '../lib/ipc.js';
import type { QuietReport } from '../lib/machine.js';
import { CPU } from '../lib/proc.js';
import { type BenchCluster, startCluster } from '../lib/redis-cluster.js';
import { median, range, round, roundOrder } from '../lib/stats.js';

const MASTERS = 3;
const IN_FLIGHT = 256;
const KINDS = ['token-bucket', 'sliding-log'] as const;
type Kind = (typeof KINDS)[number];
/**
 * The single server; the Cluster, each script call deciding the calls waiting for one master
 * (the default); and the Cluster with one script call per slot (`batchAcrossSlots: false`).
 */
const TOPOLOGIES = ['single', 'cluster', 'perslot'] as const;
type Topology = (typeof TOPOLOGIES)[number];
type Contender = `${Topology}-${Kind}`;

/** One measurement, as the worker's `topology` mode answers it. */
interface Sample {
  decisionsPerSec: number;
  p50Us: number;
  p99Us: number;
  /** The servers' CPU time (user + system, `INFO cpu`) per decision, summed over every master, µs. */
  serverCpuUsPerDecision: number;
  /** The servers' time in script calls per decision (`INFO commandstats`), µs. */
  serverUsPerDecision: number;
  scriptCallsPerDecision: number;
  /** The worker's own CPU time per decision, µs. */
  clientCpuUs: number;
  /** Each master's script calls over the measurement. */
  scriptCallsPerMaster: number[];
}

interface Ratio {
  ratios: number[];
  median: number;
  range: [number, number];
}

export interface ClusterRow {
  topology: Topology;
  kind: Kind;
  available: boolean;
  reason?: string;
  decisionsPerSec: number[];
  serverCpuUsPerDecision: number[];
  medianDecisionsPerSec: number;
  medianP50Us: number;
  medianP99Us: number;
  medianServerCpuUsPerDecision: number;
  medianServerUsPerDecision: number;
  medianScriptCallsPerDecision: number;
  medianClientCpuUs: number;
  /** Cluster rows (both kinds): per-round decisions/s ÷ the single server's, same algorithm. */
  vsSingle?: Ratio;
  /** Cluster rows: per-round Redis CPU per decision ÷ the single server's, same algorithm. */
  cpuVsSingle?: Ratio;
  /** Measurements that failed once and were taken again. */
  retried?: number;
}

export interface ClusterResult {
  masters: number;
  rounds: number;
  measureMs: number;
  inFlight: number;
  keyspace: number;
  /** Where the servers and the workers ran. */
  pinning: string;
  /**
   * Each master's share of the per-slot Cluster rows' script calls over every round, in percent:
   * how evenly the keys' slots spread the work.
   */
  callSharePerMaster: number[];
  rows: ClusterRow[];
  quiet: QuietReport[];
}

function ratioSummary(a: readonly number[], b: readonly number[]): Ratio | undefined {
  if (a.length === 0 || a.length !== b.length) return undefined;
  const ratios = a.map((x, i) => x / (b[i] as number));
  return {
    ratios: ratios.map((x) => round(x, 3)),
    median: round(median(ratios), 3),
    range: range(ratios).map((x) => round(x, 3)) as [number, number],
  };
}

/**
 * Case 7, Redis Cluster: floodgate's Redis store on an ioredis `Cluster` over a local cluster of
 * three masters, beside the same store on the run's single server, in alternating rounds:
 * decisions/s at 256 in flight on random keys spread over the slots, and what the servers spent
 * in CPU per decision, summed over the masters.
 */
export async function runClusterCase(ctx: BenchContext): Promise<ClusterResult> {
  const { profile, log, redis } = ctx;
  const { measureMs, warmupMs, keyspace } = profile.cluster;
  const rounds = profile.rounds.cluster;
  // Every master on the server core, as the single server has it alone: the row compares the
  // same server CPU spent through a Cluster with it spent on one server, not more cores with one.
  const pinning = CPU.pinned
    ? `the ${MASTERS} masters share CPU ${CPU.server}, as the single server has CPU ${CPU.server} alone; the workers run on CPU ${CPU.load}`
    : 'not pinned';
  const contenders: Contender[] = KINDS.flatMap((k) => TOPOLOGIES.map((t) => `${t}-${k}` as const));
  const samples = new Map<Contender, Sample[]>();
  const reasons = new Map<Contender, string>();
  const retries = new Map<Contender, number>();
  const quiet: QuietReport[] = [];
  const workers = new Map<Contender, IpcWorker>();
  let cluster: BenchCluster | undefined;
  // The error's first line: a worker's message carries its stack, which no table cell wants.
  const reasonOf = (error: unknown): string =>
    (error instanceof Error ? error.message : String(error)).split('\n')[0]?.slice(0, 400) ?? '';
  try {
    const start = async (c: Contender, ports: string): Promise<void> => {
      const [topology, ...kind] = c.split('-') as [Topology, ...string[]];
      try {
        workers.set(
          c,
          await startIpcWorker(
            'bench/cases/redis-worker.ts',
            ['serve', 'topology', topology, kind.join('-'), ports, String(keyspace)],
            CPU.load,
          ),
        );
      } catch (error) {
        reasons.set(c, reasonOf(error));
        log(`cluster: ${c} not available: ${reasonOf(error)}`);
      }
    };
    // The single server's workers start (on the load core) while the cluster forms (on the
    // server core, mostly waiting for its masters to meet): the case's start-up is most of its
    // time in a quick run. `start` never throws, so this settles before any worker is stopped.
    const singles = Promise.all(
      contenders.filter((c) => c.startsWith('single-')).map((c) => start(c, String(redis.port))),
    );
    try {
      cluster = await startCluster(MASTERS, CPU.server);
    } catch (error) {
      await singles;
      throw error;
    }
    log(
      `cluster: ${MASTERS} masters on 127.0.0.1 ports ${cluster.ports.join(', ')} (pids ${cluster.nodes.map((n) => n.pid).join(', ')})`,
    );
    const clusterPorts = cluster.ports.join(',');
    await Promise.all([
      singles,
      ...contenders.filter((c) => !c.startsWith('single-')).map((c) => start(c, clusterPorts)),
    ]);
    for (let r = 0; r < rounds; r++) {
      quiet.push(await ctx.quiet());
      for (const c of roundOrder(contenders, r)) {
        const worker = workers.get(c);
        if (worker === undefined || reasons.has(c)) continue;
        const measureOnce = (): Promise<Sample> =>
          worker.request<Sample>({ inFlight: IN_FLIGHT, measureMs, warmupMs }, 60_000 + measureMs * 3);
        try {
          let sample: Sample;
          try {
            sample = await measureOnce();
          } catch (error) {
            // As in case 3: a stall of a second on a shared machine now and then times a call
            // out; measure once more before giving the contender up, and count it.
            log(`cluster: ${c} failed (${reasonOf(error)}); measuring it once more`);
            retries.set(c, (retries.get(c) ?? 0) + 1);
            sample = await measureOnce();
          }
          samples.set(c, [...(samples.get(c) ?? []), sample]);
        } catch (error) {
          reasons.set(c, reasonOf(error));
          log(`cluster: ${c} not available: ${reasonOf(error)}`);
        }
      }
      log(
        `cluster: round ${r + 1}/${rounds}: ` +
          contenders
            .map((c) => {
              const s = samples.get(c)?.at(-1);
              return `${c} ${Math.round(s?.decisionsPerSec ?? Number.NaN)}/s ${s?.serverCpuUsPerDecision.toFixed(1) ?? 'n/a'} µs`;
            })
            .join(', '),
      );
    }
  } finally {
    await Promise.all([...workers.values()].map((w) => w.stop()));
    if (cluster !== undefined) {
      await cluster.stop();
      log(`cluster: masters (pids ${cluster.nodes.map((n) => n.pid).join(', ')}) stopped`);
    }
  }

  const rows: ClusterRow[] = [];
  for (const kind of KINDS) {
    for (const topology of TOPOLOGIES) {
      const c: Contender = `${topology}-${kind}`;
      const s = samples.get(c) ?? [];
      const dps = s.map((x) => x.decisionsPerSec);
      const cpu = s.map((x) => x.serverCpuUsPerDecision);
      const row: ClusterRow = {
        topology,
        kind,
        available: !reasons.has(c) && s.length === rounds,
        decisionsPerSec: dps.map((x) => round(x, 0)),
        serverCpuUsPerDecision: cpu.map((x) => round(x, 2)),
        medianDecisionsPerSec: round(median(dps), 0),
        medianP50Us: round(median(s.map((x) => x.p50Us)), 1),
        medianP99Us: round(median(s.map((x) => x.p99Us)), 1),
        medianServerCpuUsPerDecision: round(median(cpu), 2),
        medianServerUsPerDecision: round(median(s.map((x) => x.serverUsPerDecision)), 2),
        medianScriptCallsPerDecision: round(median(s.map((x) => x.scriptCallsPerDecision)), 3),
        medianClientCpuUs: round(median(s.map((x) => x.clientCpuUs)), 2),
      };
      const reason = reasons.get(c);
      if (reason !== undefined) row.reason = reason;
      const retried = retries.get(c);
      if (retried !== undefined) row.retried = retried;
      if (topology !== 'single') {
        const single = samples.get(`single-${kind}`) ?? [];
        const vs = ratioSummary(
          dps,
          single.map((x) => x.decisionsPerSec),
        );
        const cpuVs = ratioSummary(
          cpu,
          single.map((x) => x.serverCpuUsPerDecision),
        );
        if (vs !== undefined) row.vsSingle = vs;
        if (cpuVs !== undefined) row.cpuVsSingle = cpuVs;
      }
      rows.push(row);
    }
  }
  const perMaster = contenders
    .filter((c) => c.startsWith('perslot-'))
    .flatMap((c) => samples.get(c) ?? [])
    .reduce((sum, s) => sum.map((x, i) => x + (s.scriptCallsPerMaster[i] ?? 0)), new Array<number>(MASTERS).fill(0));
  const allCalls = perMaster.reduce((a, x) => a + x, 0);
  return {
    masters: MASTERS,
    rounds,
    measureMs,
    inFlight: IN_FLIGHT,
    keyspace,
    pinning,
    callSharePerMaster: perMaster.map((x) => round((100 * x) / allCalls, 1)),
    rows,
    quiet,
  };
}
