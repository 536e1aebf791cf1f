import type { LoadTool } from './load.js';
import type { QuietReport } from './machine.js';
import type { BenchRedis } from './redis-server.js';

/** Sizes of one run: the full bench or the quick smoke run. */
export interface Profile {
  name: 'full' | 'quick';
  /** Rounds per case (contenders alternate order between rounds). */
  rounds: { http: number; core: number; redis: number; hotKey: number; flood: number; cluster: number };
  /** Upper bound on waiting for a quiet machine before each round, in ms. */
  quietWaitMs: number;
  /** `rewarmSeconds`: unmeasured load on an app right before each measured run of it (see case 1). */
  http: { seconds: number; warmupSeconds: number; rewarmSeconds: number; connections: number };
  core: { measureMs: number; warmupMs: number; keyCounts: number[] };
  redis: { measureMs: number; warmupMs: number; keyspace: number };
  /** Case 7: floodgate on a local 3-master Redis Cluster beside the single server. */
  cluster: { measureMs: number; warmupMs: number; keyspace: number };
  memory: { keys: number; redisKeys: number };
  hotKey: { measureMs: number };
  /**
   * Case 6: the stores' maxKeys (each flood is twice that; the target is judged at the last) and
   * the steady measurement's length.
   */
  flood: { maxKeys: number[]; steadyMs: number };
}

export const PROFILES: Record<'full' | 'quick', Profile> = {
  full: {
    name: 'full',
    // Many short rounds: on a shared machine, noise comes in bursts of a few seconds, and the
    // median of many per-round ratios shrugs off the rounds it hits.
    rounds: { http: 20, core: 12, redis: 8, hotKey: 8, flood: 5, cluster: 6 },
    quietWaitMs: 5000,
    http: { seconds: 1, warmupSeconds: 3, rewarmSeconds: 1, connections: 50 },
    core: { measureMs: 300, warmupMs: 300, keyCounts: [1, 1000, 100_000] },
    redis: { measureMs: 1500, warmupMs: 300, keyspace: 10_000 },
    cluster: { measureMs: 1500, warmupMs: 300, keyspace: 10_000 },
    memory: { keys: 1_000_000, redisKeys: 100_000 },
    hotKey: { measureMs: 1000 },
    flood: { maxKeys: [100_000, 1_000_000], steadyMs: 500 },
  },
  quick: {
    name: 'quick',
    // Enough to run every code path in about a minute; not to judge speed.
    rounds: { http: 1, core: 1, redis: 1, hotKey: 1, flood: 1, cluster: 1 },
    quietWaitMs: 300,
    http: { seconds: 1, warmupSeconds: 1, rewarmSeconds: 1, connections: 50 },
    core: { measureMs: 100, warmupMs: 60, keyCounts: [1, 1000, 100_000] },
    redis: { measureMs: 300, warmupMs: 100, keyspace: 10_000 },
    cluster: { measureMs: 300, warmupMs: 100, keyspace: 10_000 },
    memory: { keys: 100_000, redisKeys: 5000 },
    hotKey: { measureMs: 300 },
    flood: { maxKeys: [20_000], steadyMs: 100 },
  },
};

/** What every case gets from the runner. */
export interface BenchContext {
  profile: Profile;
  tool: LoadTool;
  redis: BenchRedis;
  log(line: string): void;
  quiet(): Promise<QuietReport>;
}
