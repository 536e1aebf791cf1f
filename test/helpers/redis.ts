/**
 * Real `redis-server` processes for tests, on free loopback ports, stopped by pid.
 *
 * - {@link suiteRedis}: the server a non-fault suite talks to: `REDIS_URL` when set, else its own.
 * - {@link startRedis}: a server of the suite's own (fault suites kill, pause and restart it).
 * - {@link startCluster}: a local Redis Cluster of N masters built with `redis-cli --cluster create`.
 * - {@link randomPrefix}: a fresh key prefix, so tests never need FLUSHALL.
 *
 * Every server started here is also SIGKILLed when the test process exits, so a failed test
 * leaves nothing behind; still call `stop()` in `after`. Clients are built from the ioredis that
 * `FLOODGATE_TEST_IOREDIS` selects (5 or 6; see ./ioredis.ts).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import type { RedisClient } from 'floodgate';
import { closeClient, NODE_REDIS, storeClient, whenReady } from './clients.js';
import { Redis } from './ioredis.js';

const run = promisify(execFile);

/** A `redis-server` process this test started. */
export interface RedisServer {
  readonly port: number;
  readonly pid: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Sends a signal by pid, e.g. `SIGSTOP`/`SIGCONT` to pause and resume the server. */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILLs the server (by pid) and resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
}

/** A local cluster of masters with no replicas. */
export interface RedisClusterServers {
  readonly nodes: readonly RedisServer[];
  /** For `new Cluster(startupNodes)`. */
  readonly startupNodes: readonly { host: string; port: number }[];
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether nothing listens on loopback `port` right now. */
async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Starts a cluster-enabled server. Such a server also listens on its port + 10000 (the cluster
 * bus), which a free port says nothing about: the pair is checked, and a start that still loses
 * a race for either port is tried again on another pair.
 */
async function startClusterNode(): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    if (attempt > 50) throw new Error('found no free pair of ports for a cluster node in 50 tries');
    const port = await freePort();
    if (port + 10_000 > 65_535 || !(await isFree(port + 10_000))) continue;
    try {
      return await startRedis({
        port,
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '5000',
        ],
      });
    } catch (error) {
      if (attempt >= 5 || !String(error).includes('Address already in use')) throw error;
    }
  }
}

/** A fresh key prefix such as `t-3f9c2a1b`. */
export function randomPrefix(label = 't'): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

const MISSING =
  'redis-server was not found on PATH. The Redis test suites start their own servers: install Redis ' +
  '(e.g. `apt-get install redis-server`, `brew install redis`) or set REDIS_URL for the non-fault suites.';

/**
 * Starts `redis-server` on `port` (default: a free one) with no persistence, bound to 127.0.0.1,
 * and resolves once it accepts connections. `args` are extra `--name value` arguments.
 */
export async function startRedis(options: { port?: number; args?: readonly string[] } = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'floodgate-redis-'));
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--logfile',
      '',
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(child);
  let output = '';
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      live.delete(child);
      rmSync(dir, { recursive: true, force: true });
      resolve();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server on port ${port} not ready in 10 s:\n${output}`)),
      10_000,
    );
    const onData = (chunk: Buffer): void => {
      // Keep draining the pipes for the server's whole life: a full pipe would block its logging.
      if (output.length < 20_000) output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === 'ENOENT' ? new Error(MISSING) : error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${port} exited with ${code} before it was ready:\n${output}`));
    });
  });
  const pid = child.pid as number;
  return {
    port,
    pid,
    url: `redis://127.0.0.1:${port}`,
    signal(signal) {
      process.kill(pid, signal);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
      await exited;
    },
  };
}

/**
 * The server a non-fault suite uses: `REDIS_URL` if set (then `stop` does nothing), else a
 * server of its own.
 */
export async function suiteRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const url = process.env.REDIS_URL;
  if (url !== undefined && url !== '') return { url, stop: async () => undefined };
  return startRedis();
}

/**
 * Gives a suite its server (see {@link suiteRedis}), a connected ioredis client to look at Redis
 * with, and a ready client of the library `FLOODGATE_TEST_CLIENT` picks for its stores (the same
 * object when that is the ioredis in use): all made in `before`, handed to `ready`, and closed in
 * `after`. Both are ready first, because the store sends nothing until its client is ready and
 * every earlier call would be degraded.
 */
export function useSuiteRedis(
  ready: (server: { url: string; stop(): Promise<void> }, client: Redis, storeClient: RedisClient) => void,
): void {
  let server: { url: string; stop(): Promise<void> } | undefined;
  let client: Redis | undefined;
  let forStore: RedisClient | undefined;
  before(async () => {
    server = await suiteRedis();
    client = new Redis(server.url);
    await client.ping();
    if (NODE_REDIS) {
      forStore = storeClient(server.url);
      await whenReady(forStore);
    }
    ready(server, client, forStore ?? client);
  });
  after(async () => {
    client?.disconnect();
    if (forStore !== undefined) closeClient(forStore);
    await server?.stop();
  });
}

/**
 * Starts `masters` cluster-enabled servers, joins them with `redis-cli --cluster create`
 * (no replicas), and resolves once every node reports `cluster_state:ok`.
 */
export async function startCluster(masters = 3): Promise<RedisClusterServers> {
  const nodes: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) nodes.push(await startClusterNode());
    await run(
      'redis-cli',
      ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 30_000 },
    );
    const deadline = Date.now() + 15_000;
    for (const node of nodes) {
      const client = new Redis(node.port, '127.0.0.1', { lazyConnect: true });
      try {
        await client.connect();
        while (!String(await client.cluster('INFO')).includes('cluster_state:ok')) {
          if (Date.now() > deadline) throw new Error(`cluster node ${node.port} never reached cluster_state:ok`);
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        client.disconnect();
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, startupNodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), stop };
}
