/**
 * Redis workers (cases 3, 4b and 5), each in a process of its own pinned to the load core:
 *   serve throughput <impl> <port> <keyspace>   IPC requests { inFlight, measureMs, warmupMs }; the
 *                                               floodgate-<kind>-node-redis impls run on node-redis
 *   serve replay <port> <keyspace> <call JSON>  the same, for a captured EVALSHA sent by bare ioredis
 *   serve hotkey <on|off> <port>                IPC requests { inFlight, measureMs, warmupMs }
 *   serve topology <single|cluster|perslot> <kind> <port[,port…]> <keyspace>
 *                                               the same, for floodgate on one server or a Cluster
 *   throughput <impl> <port> <inFlight> <measureMs> <warmupMs> <keyspace>   one shot, for --cpu-prof
 *   memory <impl> <port> <keys>                 one shot
 * One-shot modes print one JSON line.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { createLimiter, type Limiter, RedisStore, slidingWindowLog } from 'floodgate';
import { Cluster, Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createClient } from 'redis';
import { scriptStatsOf } from '../lib/commandstats.js';
import { serve } from '../lib/ipc.js';
import { quantileSorted } from '../lib/stats.js';
import {
  FLOODGATE_KINDS,
  type FloodgateKind,
  fastAlgorithm,
  memoryAlgorithm,
  NODE_REDIS_KINDS,
  redisPrefix,
} from './redis-policies.js';

const IMPLS = [...FLOODGATE_KINDS.map((k) => `floodgate-${k}` as const), 'rate-limiter-flexible'] as const;
type Impl = (typeof IMPLS)[number];

/** A client whose `INFO` the worker reads: ioredis's or node-redis's. */
interface InfoSource {
  info(section: string): Promise<unknown>;
}

/** Hard bound on calls per measurement, whatever the clock says. */
const MAX_OPS = 4_000_000;

/** One decision; resolves to whether it was denied, and whether it was degraded (a store failure). */
type Call = (key: string) => Promise<{ denied: boolean; degraded: boolean }>;

function floodgateCall(limiter: Limiter): Call {
  return (key) => limiter.consume(key).then((d) => ({ denied: !d.allowed, degraded: d.degraded === true }));
}

/** The limiter for one implementation; `policy` 'fast' never denies, 'memory' keeps keys for long. */
function makeCall(impl: Impl, client: Redis, policy: 'fast' | 'memory'): Call {
  if (impl === 'rate-limiter-flexible') {
    const limiter =
      policy === 'fast'
        ? new RateLimiterRedis({ storeClient: client, points: 1_000_000_000, duration: 60 })
        : new RateLimiterRedis({ storeClient: client, points: 100, duration: 3600 });
    return (key) =>
      limiter.consume(key).then(
        () => ({ denied: false, degraded: false }),
        (rejection: unknown) => {
          if (rejection instanceof Error) throw rejection;
          return { denied: true, degraded: false };
        },
      );
  }
  const kind = impl.slice('floodgate-'.length) as FloodgateKind;
  const algorithm = policy === 'fast' ? fastAlgorithm(kind) : memoryAlgorithm(kind);
  return floodgateCall(
    createLimiter({ algorithm, store: new RedisStore({ client, timeoutMs: 1000 }), prefix: redisPrefix(kind) }),
  );
}

interface Drive {
  ops: number;
  seconds: number;
  denied: number;
  degraded: number;
  p50Us: number;
  p99Us: number;
  /** This process's CPU time (user + system) per call while measuring, µs: the client's cost. */
  clientCpuUs: number;
  /** Milliseconds of garbage-collection pauses per measured second, young and old generation together. */
  gcMsPerSecond: number;
  /** Full (mark-compact) collections while measuring. */
  majorGcs: number;
}

/**
 * This process's garbage collections as V8 reports them (start and pause, whether full), kept
 * while a drive records them. Some workers have run a whole full run in a state where most of
 * what they allocated outlived the young generation, at twice the CPU per call; these figures
 * tell such a worker apart in the results, whatever put it there. Every worker keeps them.
 */
const collections: { start: number; ms: number; major: boolean }[] = [];
let recording = false;
new PerformanceObserver((list) => {
  if (!recording) return;
  for (const entry of list.getEntries()) {
    // A `gc` entry's `detail` says which kind of collection it was (not in the entry's type).
    const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
    collections.push({
      start: entry.startTime,
      ms: entry.duration,
      major: kind === constants.NODE_PERFORMANCE_GC_MAJOR,
    });
  }
}).observe({ entryTypes: ['gc'] });

/** The collections that started in [from, to), once V8's reports of them have been delivered. */
async function collectionsIn(from: number, to: number): Promise<{ gcMs: number; majorGcs: number }> {
  // Reports come a turn or two of the loop after the collection.
  for (let i = 0; i < 3; i++) await new Promise((done) => setImmediate(done));
  let gcMs = 0;
  let majorGcs = 0;
  for (const c of collections) {
    if (c.start < from || c.start >= to) continue;
    gcMs += c.ms;
    if (c.major) majorGcs++;
  }
  collections.length = 0;
  return { gcMs, majorGcs };
}

/**
 * Every measurement's latencies, allocated once as the worker starts, before any load. Allocated
 * per measurement, as it starts, these 32 MB outside the heap made V8 begin an incremental
 * marking under load, after which a process on a node-redis client moved much of what it
 * allocated to the old generation and collected it again: about twice the CPU per call, to the
 * end of the measurement (see bench/README.md). An application allocates nothing like it.
 */
const LATENCIES = new Float64Array(MAX_OPS);

/** Keeps `inFlight` calls outstanding until `ms` has passed (or MAX_OPS calls), timing each call. */
async function drive(call: Call, nextKey: () => string, inFlight: number, ms: number, record: boolean): Promise<Drive> {
  const latencies = record ? LATENCIES : undefined;
  let ops = 0;
  let denied = 0;
  let degraded = 0;
  collections.length = 0;
  recording = record;
  const cpu = process.cpuUsage();
  const start = performance.now();
  const deadline = start + ms;
  async function lane(): Promise<void> {
    while (ops < MAX_OPS) {
      const t0 = performance.now();
      if (t0 >= deadline) return;
      const r = await call(nextKey());
      const t1 = performance.now();
      if (latencies !== undefined && ops < MAX_OPS) latencies[ops] = t1 - t0;
      ops++;
      if (r.denied) denied++;
      if (r.degraded) degraded++;
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane));
  const end = performance.now();
  const seconds = (end - start) / 1000;
  const used = process.cpuUsage(cpu);
  const clientCpuUs = (used.user + used.system) / Math.max(1, ops);
  const { gcMs, majorGcs } = record ? await collectionsIn(start, end) : { gcMs: Number.NaN, majorGcs: 0 };
  recording = false;
  let p50Us = Number.NaN;
  let p99Us = Number.NaN;
  if (latencies !== undefined) {
    const sorted = latencies.subarray(0, Math.min(ops, MAX_OPS)).sort();
    p50Us = quantileSorted(sorted, 0.5) * 1000;
    p99Us = quantileSorted(sorted, 0.99) * 1000;
  }
  return { ops, seconds, denied, degraded, p50Us, p99Us, clientCpuUs, gcMsPerSecond: gcMs / seconds, majorGcs };
}

async function connect(port: number): Promise<Redis> {
  if (port === 6379) throw new Error('refusing to bench the shared Redis on 6379');
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, lazyConnect: true });
  await client.connect();
  return client;
}

interface Request {
  inFlight: number;
  measureMs: number;
  warmupMs: number;
}
type Measure = (request: Request) => Promise<unknown>;

/** What the server spent on the measured decisions: the worker is its only client meanwhile. */
interface ServerShare {
  /** Script calls (EVALSHA and EVAL) per decision: below 1 when the store sends calls together. */
  scriptCallsPerDecision: number;
  /** The server's own time in script calls, per decision, µs. */
  serverUsPerDecision: number;
}

/** A warm-up drive, then the measured one, with the server's script calls and time over it. */
async function warmThenDrive(
  client: InfoSource,
  call: Call,
  nextKey: () => string,
  request: Request,
): Promise<Drive & ServerShare> {
  await drive(call, nextKey, request.inFlight, request.warmupMs, false);
  const before = await scriptStats(client);
  // Every call of the drive is answered before it returns, so the counters cover exactly them.
  const m = await drive(call, nextKey, request.inFlight, request.measureMs, true);
  const after = await scriptStats(client);
  return {
    ...m,
    scriptCallsPerDecision: (after.calls - before.calls) / Math.max(1, m.ops),
    serverUsPerDecision: (after.usec - before.usec) / Math.max(1, m.ops),
  };
}

/**
 * A node-redis client (the `redis` package) on the bench's server, connected, with the error
 * listener node-redis wants (without one, an error event throws); its last error is kept to
 * name it when a measurement fails. Otherwise the library's defaults, as a user gets them.
 */
async function connectNodeRedis(
  port: number,
): Promise<{ client: ReturnType<typeof createClient>; lastError(): string }> {
  if (port === 6379) throw new Error('refusing to bench the shared Redis on 6379');
  const client = createClient({ socket: { host: '127.0.0.1', port } });
  let last = '';
  client.on('error', (error: unknown) => {
    last = error instanceof Error ? error.message : String(error);
  });
  await client.connect();
  return { client, lastError: () => last };
}

async function throughputWorker(args: string[]): Promise<{ measure: Measure; close(): void }> {
  const [implArg, port, keyspace] = args;
  const keys = Array.from({ length: Number(keyspace) }, (_, i) => `user:${i}`);
  const random = (): string => keys[(Math.random() * keys.length) | 0] as string;
  // floodgate on node-redis: the same limiter and keys as its ioredis row, another client.
  const nodeRedisKind = NODE_REDIS_KINDS.find((k) => implArg === `floodgate-${k}-node-redis`);
  if (nodeRedisKind !== undefined) {
    const { client, lastError } = await connectNodeRedis(Number(port));
    const call = floodgateCall(
      createLimiter({
        algorithm: fastAlgorithm(nodeRedisKind),
        store: new RedisStore({ client, timeoutMs: 1000 }),
        prefix: redisPrefix(nodeRedisKind),
      }),
    );
    return {
      async measure(request) {
        const m = await warmThenDrive(client, call, random, request);
        if (m.degraded > 0) {
          const last = lastError();
          throw new Error(
            `${m.degraded} of ${m.ops} decisions were degraded (store errors or timeouts)${last === '' ? '' : `; the client's last error: ${last}`}`,
          );
        }
        return { impl: implArg, inFlight: request.inFlight, decisionsPerSec: m.ops / m.seconds, ...m };
      },
      close: () => client.destroy(),
    };
  }
  const impl = implArg as Impl;
  if (!(IMPLS as readonly string[]).includes(impl)) throw new Error(`unknown impl ${implArg}`);
  const client = await connect(Number(port));
  const call = makeCall(impl, client, 'fast');
  return {
    async measure(request) {
      const m = await warmThenDrive(client, call, random, request);
      // A degraded decision is a store failure answered by onStoreError: the figure would not be Redis's.
      if (m.degraded > 0)
        throw new Error(`${m.degraded} of ${m.ops} decisions were degraded (store errors or timeouts)`);
      return { impl, inFlight: request.inFlight, decisionsPerSec: m.ops / m.seconds, ...m };
    },
    close: () => client.disconnect(),
  };
}

/**
 * A captured script call (`EVALSHA sha numkeys key… arg…`, the user key as `__rand_int__`) sent
 * through a bare ioredis client, with no floodgate code on the path: what ioredis itself gets for
 * the very command redis-benchmark replays. `__rand_int__` becomes a 12-digit number below the
 * keyspace, as redis-benchmark makes it. Sent as floodgate sends it, with the reply left as bytes
 * (floodgate's script replies packed doubles).
 */
async function replayWorker(args: string[]): Promise<{ measure: Measure; close(): void }> {
  const [port, keyspace, callJson] = args;
  const [command, sha, numKeys, ...rest] = JSON.parse(callJson as string) as string[];
  if (command?.toUpperCase() !== 'EVALSHA' || sha === undefined || numKeys === undefined)
    throw new Error(`replay expects an EVALSHA call, got ${String(callJson).slice(0, 100)}`);
  const client = await connect(Number(port));
  const n = Number(keyspace);
  const randomAt = rest.map((a, i) => (a.includes('__rand_int__') ? i : -1)).filter((i) => i >= 0);
  const ok = { denied: false, degraded: false };
  // Every ioredis command has a Buffer variant at run time; the typings list only some.
  const buffered = client as unknown as { evalshaBuffer(...args: string[]): Promise<unknown> };
  const call: Call = (padded) => {
    const argv = rest.slice();
    for (const i of randomAt) argv[i] = (rest[i] as string).replaceAll('__rand_int__', padded);
    return buffered.evalshaBuffer(sha, numKeys, ...argv).then(() => ok);
  };
  const random = (): string => String((Math.random() * n) | 0).padStart(12, '0');
  return {
    async measure(request) {
      const m = await warmThenDrive(client, call, random, request);
      return { impl: 'replay', inFlight: request.inFlight, decisionsPerSec: m.ops / m.seconds, ...m };
    },
    close: () => client.disconnect(),
  };
}

async function hotKeyWorker(args: string[]): Promise<{ measure: Measure; close(): void }> {
  const [mode, port] = args;
  const client = await connect(Number(port));
  // One abusive key far over its limit: 10 per minute, hammered as fast as the client can.
  const store = new RedisStore({ client, timeoutMs: 1000, denyCache: mode === 'on' });
  const limiter = createLimiter({
    algorithm: slidingWindowLog({ limit: 10, windowMs: 60_000 }),
    store,
    prefix: `hot-${mode}-${process.pid}`,
  });
  const call = floodgateCall(limiter);
  const key = (): string => 'abuser';
  return {
    async measure({ inFlight, measureMs, warmupMs }) {
      await drive(call, key, inFlight, warmupMs, false);
      const before = (await scriptStats(client)).calls;
      const m = await drive(call, key, inFlight, measureMs, true);
      const after = (await scriptStats(client)).calls;
      if (m.degraded > 0)
        throw new Error(`${m.degraded} of ${m.ops} decisions were degraded (store errors or timeouts)`);
      return {
        denyCache: mode === 'on',
        decisionsPerSec: m.ops / m.seconds,
        redisRoundTripsPerDecision: (after - before) / m.ops,
        ...m,
      };
    },
    close: () => client.disconnect(),
  };
}

/**
 * What a set of servers has spent so far, summed over them: script calls and their time
 * (`INFO commandstats`), and the processes' CPU time, user + system (`INFO cpu`), which also
 * counts reading requests and writing replies, where a Cluster's smaller batches cost more.
 */
async function serverTotals(
  nodes: readonly Redis[],
): Promise<{ calls: number; usec: number; cpuUs: number; callsPerNode: number[] }> {
  const each = await Promise.all(
    nodes.map(async (node) => {
      const [script, cpu] = await Promise.all([scriptStats(node), node.info('cpu')]);
      const seconds = (name: string): number => Number(cpu.match(new RegExp(`${name}:([0-9.]+)`))?.[1] ?? Number.NaN);
      return { ...script, cpuUs: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6 };
    }),
  );
  return {
    calls: each.reduce((a, x) => a + x.calls, 0),
    usec: each.reduce((a, x) => a + x.usec, 0),
    cpuUs: each.reduce((a, x) => a + x.cpuUs, 0),
    callsPerNode: each.map((x) => x.calls),
  };
}

/**
 * floodgate's Redis store on one server or on a Cluster of several masters, the same limiter and
 * keys either way, so the two differ only in the client and the servers behind it. The servers'
 * CPU time per decision is summed over every master.
 */
async function topologyWorker(args: string[]): Promise<{ measure: Measure; close(): void }> {
  const [topology, kindArg, portsArg, keyspace] = args;
  const kind = kindArg as FloodgateKind;
  if (!(FLOODGATE_KINDS as readonly string[]).includes(kind)) throw new Error(`unknown kind ${kindArg}`);
  const ports = String(portsArg).split(',').map(Number);
  if (ports.includes(6379)) throw new Error('refusing to bench the shared Redis on 6379');
  let client: Redis | Cluster;
  let nodes: Redis[];
  if (topology === 'cluster' || topology === 'perslot') {
    const cluster = new Cluster(
      ports.map((port) => ({ host: '127.0.0.1', port })),
      { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 1 } },
    );
    await cluster.connect();
    nodes = cluster.nodes('master');
    if (nodes.length !== ports.length)
      throw new Error(`the Cluster client sees ${nodes.length} masters, expected ${ports.length}`);
    client = cluster;
  } else if (topology === 'single') {
    const single = await connect(ports[0] as number);
    nodes = [single];
    client = single;
  } else throw new Error(`unknown topology ${topology}`);
  const limiter = createLimiter({
    algorithm: fastAlgorithm(kind),
    // perslot: the Cluster with one script call per slot, as before batches went across slots.
    store: new RedisStore({ client, timeoutMs: 1000, batchAcrossSlots: topology !== 'perslot' }),
    prefix: redisPrefix(kind),
  });
  const call = floodgateCall(limiter);
  // Each key is its own hash tag, so 10,000 keys land on thousands of slots across every master.
  const keys = Array.from({ length: Number(keyspace) }, (_, i) => `user:${i}`);
  const random = (): string => keys[(Math.random() * keys.length) | 0] as string;
  return {
    async measure(request) {
      // The warm-up also gives a fresh Cluster its keys' state: at a full run's rates it makes
      // a few decisions per key, so measured calls find state there as on the single server.
      await drive(call, random, request.inFlight, request.warmupMs, false);
      const before = await serverTotals(nodes);
      // Every call of the drive is answered before it returns, so the counters cover exactly them.
      const m = await drive(call, random, request.inFlight, request.measureMs, true);
      const after = await serverTotals(nodes);
      if (m.degraded > 0)
        throw new Error(`${m.degraded} of ${m.ops} decisions were degraded (store errors or timeouts)`);
      const ops = Math.max(1, m.ops);
      return {
        topology,
        kind,
        masters: nodes.length,
        decisionsPerSec: m.ops / m.seconds,
        ...m,
        serverCpuUsPerDecision: (after.cpuUs - before.cpuUs) / ops,
        serverUsPerDecision: (after.usec - before.usec) / ops,
        scriptCallsPerDecision: (after.calls - before.calls) / ops,
        // How the decisions spread over the masters: each one's script calls over the drive.
        scriptCallsPerMaster: after.callsPerNode.map((x, i) => x - (before.callsPerNode[i] as number)),
      };
    },
    close: () => client.disconnect(),
  };
}

/** Script calls (EVALSHA + EVAL) the server has run, one per round trip, and their time in µs. */
async function scriptStats(client: InfoSource): Promise<{ calls: number; usec: number }> {
  return scriptStatsOf(String(await client.info('commandstats')));
}

async function usedMemory(client: Redis): Promise<number> {
  const info = await client.info('memory');
  return Number(info.match(/used_memory:(\d+)/)?.[1] ?? Number.NaN);
}

async function memory(args: string[]): Promise<unknown> {
  const [implArg, port, keysArg] = args;
  const impl = implArg as Impl;
  if (!(IMPLS as readonly string[]).includes(impl)) throw new Error(`unknown impl ${implArg}`);
  const count = Number(keysArg);
  const client = await connect(Number(port));
  try {
    // The bench's own server (never 6379, checked in connect): emptying it is safe.
    await client.flushall();
    const before = await usedMemory(client);
    const call = makeCall(impl, client, 'memory');
    // One decision per key, in batches of 256 in flight; bounded by the count.
    let denied = 0;
    for (let base = 0; base < count; base += 256) {
      const batch = [];
      for (let i = base; i < Math.min(count, base + 256); i++) batch.push(call(`user:${i}`));
      for (const r of await Promise.all(batch)) if (r.denied || r.degraded) denied++;
    }
    const after = await usedMemory(client);
    const dbsize = await client.dbsize();
    const [, sample] = await client.scan('0', 'COUNT', 100);
    const sampleKey = sample[0];
    const usage = sampleKey === undefined ? null : await client.call('MEMORY', 'USAGE', sampleKey, 'SAMPLES', '0');
    return {
      impl,
      keys: count,
      deniedOrDegraded: denied,
      redisKeys: dbsize,
      usedMemoryBytesPerKey: (after - before) / count,
      sampleKey,
      memoryUsageBytes: usage,
    };
  } finally {
    client.disconnect();
  }
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'serve') {
    const [kind, ...rest] = args;
    const worker =
      kind === 'throughput'
        ? await throughputWorker(rest)
        : kind === 'replay'
          ? await replayWorker(rest)
          : kind === 'topology'
            ? await topologyWorker(rest)
            : await hotKeyWorker(rest);
    process.once('disconnect', () => worker.close());
    serve((message) => worker.measure(message as unknown as Request));
    return;
  }
  let out: unknown;
  if (mode === 'throughput') {
    const [impl, port, inFlight, measureMs, warmupMs, keyspace] = args;
    const worker = await throughputWorker([impl as string, port as string, keyspace as string]);
    out = await worker.measure({
      inFlight: Number(inFlight),
      measureMs: Number(measureMs),
      warmupMs: Number(warmupMs),
    });
    worker.close();
  } else if (mode === 'memory') out = await memory(args);
  else throw new Error(`unknown mode ${mode}`);
  console.log(JSON.stringify(out));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
