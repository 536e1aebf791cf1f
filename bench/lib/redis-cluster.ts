import { run } from './proc.js';
import { type BenchRedis, startRedis } from './redis-server.js';

/** A local Redis Cluster of masters with no replicas, started by this run and owned until `stop()`. */
export interface BenchCluster {
  /** The masters, each a redis-server of its own on a free loopback port. */
  readonly nodes: readonly BenchRedis[];
  /** Every master's port, for an ioredis `Cluster`'s startup nodes. */
  readonly ports: readonly number[];
  /** Stops every master by pid and removes their working directories. */
  stop(): Promise<void>;
}

/** Longest wait for every master to report `cluster_state:ok` once the slots are assigned. */
const STATE_OK_TIMEOUT_MS = 20_000;

/**
 * Starts `masters` cluster-enabled redis-servers pinned to `cpu`, joins them with
 * `redis-cli --cluster create` (slots split evenly, no replicas), and resolves once every master
 * reports `cluster_state:ok`. On any failure the servers started so far are stopped before it throws.
 */
export async function startCluster(masters: number, cpu?: number): Promise<BenchCluster> {
  const nodes: BenchRedis[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    // Started side by side (each waits for its own "Ready"); any that started are stopped if one fails.
    const started = await Promise.allSettled(
      Array.from({ length: masters }, () =>
        startRedis(cpu, [
          '--cluster-enabled',
          'yes',
          // Relative to the server's own --dir, a fresh temporary directory, so no run reads another's.
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          '5000',
        ]),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const created = await run(
      'redis-cli',
      ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      30_000,
    );
    if (created.code !== 0)
      throw new Error(`redis-cli --cluster create failed: ${(created.stderr || created.stdout).trim().slice(-500)}`);
    // The slots are assigned, but each master learns the others' through the cluster bus: wait,
    // bounded, until all say the cluster is ok, or the first calls would be refused (CLUSTERDOWN).
    const deadline = performance.now() + STATE_OK_TIMEOUT_MS;
    for (const node of nodes) {
      for (let attempt = 0; ; attempt++) {
        const info = await node.cli('CLUSTER', 'INFO');
        if (info.includes('cluster_state:ok')) break;
        if (performance.now() > deadline || attempt >= 1000)
          throw new Error(`cluster master on port ${node.port} never reached cluster_state:ok`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, ports: nodes.map((n) => n.port), stop };
}
