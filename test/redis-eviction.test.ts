import { deepStrictEqual, match, ok, strictEqual, throws } from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import {
  createLimiter,
  type Decision,
  type FloodgateError,
  isFloodgateError,
  type RedisClient,
  RedisStore,
  slidingWindowLog,
} from 'floodgate';
import type { RedisOptions } from 'ioredis';
import { CHECK_TIMEOUT_MS, readMemoryPolicy, type SendCommand } from '../src/stores/redis/eviction.js';
import {
  closeClient,
  masterClients,
  NODE_REDIS,
  ping,
  storeClient,
  storeCluster,
  TEST_CLIENT_LABEL,
  whenClusterReady,
  whenReady,
} from './helpers/clients.js';
import { Redis } from './helpers/ioredis.js';
import { type RedisClusterServers, type RedisServer, randomPrefix, startCluster, startRedis } from './helpers/redis.js';

/** Timeouts are not under test here (but one, which sets its own): a busy machine must not fail a test. */
const PATIENT_MS = 5000;
/** The longest a test waits for a warning it expects. */
const WARNING_WAIT_MS = 5000;
const CODE = 'FLOODGATE_REDIS_EVICTION';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

const servers = new Set<RedisServer | RedisClusterServers>();
/** ioredis clients that look at the servers and act on them, whatever the stores are given. */
const clients = new Set<Redis>();
/** The stores' clients, of the library FLOODGATE_TEST_CLIENT names. */
const storeClients = new Set<RedisClient>();
after(async () => {
  for (const c of clients) c.disconnect();
  for (const c of storeClients) closeClient(c);
  await Promise.all([...servers].map((s) => s.stop()));
});

async function start(args: readonly string[]): Promise<RedisServer> {
  const server = await startRedis({ args });
  servers.add(server);
  return server;
}

async function connect(port: number, options: RedisOptions = {}): Promise<Redis> {
  const client = new Redis(port, '127.0.0.1', options);
  client.on('error', () => undefined);
  clients.add(client);
  await client.ping();
  return client;
}

/**
 * A ready client for the stores, of the library FLOODGATE_TEST_CLIENT names. `ioredis` options
 * apply on an ioredis run (node-redis sends nothing on connecting that these servers refuse).
 */
async function storeOn(port: number, ioredis: RedisOptions = {}): Promise<RedisClient> {
  let client: RedisClient;
  if (NODE_REDIS || Object.keys(ioredis).length === 0) {
    client = storeClient(port);
    storeClients.add(client);
  } else {
    client = new Redis(port, '127.0.0.1', ioredis);
    (client as Redis).on('error', () => undefined);
    clients.add(client as Redis);
  }
  await whenReady(client);
  return client;
}

/** How the store's eviction check sends a command on `client`, whichever library made it. */
function sendOn(client: RedisClient): SendCommand {
  if (NODE_REDIS) {
    const send = (client as unknown as { sendCommand(args: string[]): Promise<unknown> }).sendCommand.bind(client);
    return (command) => send([...command]);
  }
  return (command) => (client as Redis).call(command[0] as string, command.slice(1));
}

/**
 * The server the warning names: `host:port` whichever the client (ioredis: its socket's peer;
 * node-redis: the host and port of the URL ./helpers/clients.ts gives it).
 */
function address(port: number): string {
  return `127.0.0.1:${port}`;
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Rejects after `ms` unless `promise` settles first: a wait on a real event, bounded. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Sink {
  readonly seen: { message: string; code: string }[];
  readonly warn: (message: string, code: 'FLOODGATE_REDIS_EVICTION') => void;
  /** Resolves at the first warning (at once if there was one), or fails after WARNING_WAIT_MS. */
  first(): Promise<{ message: string; code: string }>;
}

function sink(): Sink {
  const seen: { message: string; code: string }[] = [];
  let wake: (() => void) | undefined;
  return {
    seen,
    warn(message, code) {
      seen.push({ message, code });
      wake?.();
    },
    async first() {
      if (seen.length === 0) await within(new Promise<void>((r) => (wake = r)), WARNING_WAIT_MS, 'warning');
      return seen[0] as { message: string; code: string };
    },
  };
}

const nextImmediate = () => new Promise<void>((r) => setImmediate(r));

/**
 * Resolves once an eviction check started by the calls so far has finished. The check starts in
 * an immediate and sends at most two commands (CONFIG, then INFO), each as soon as the reply
 * before it is in, on the connections of `on` (the store's client, or a Cluster's master
 * clients). Replies come back in order on a connection, so a PING sent after each of its
 * commands is answered after it: three rounds outlast the check.
 */
async function checkDone(on: readonly RedisClient[]): Promise<void> {
  for (let round = 0; round < 3; round++) {
    await nextImmediate();
    await Promise.all(on.map(ping));
  }
  await nextImmediate();
}

/** How many `CONFIG GET`s the server has run: the check sends one each time it looks. */
async function configGets(admin: Redis): Promise<number> {
  const found = /^cmdstat_config\|get:calls=(\d+)/m.exec(await admin.info('commandstats'));
  return found === null ? 0 : Number(found[1]);
}

/**
 * A limit of 10 in 10 s on an injected clock that does not move, as in the report that eviction
 * let a victim through 47 to 54 times in 75 calls: with its state kept, exactly 10 get through.
 */
function victimLimiter(store: RedisStore, outages: FloodgateError[] = []) {
  return createLimiter({
    algorithm: slidingWindowLog({ limit: 10, windowMs: 10_000 }),
    store,
    prefix: randomPrefix('ev'),
    onOutage: (e) => outages.push(e),
  });
}

const clock = () => 1_000_000;

/** 75 calls for one key, in three waves of 25 at once. */
async function hammer(limiter: ReturnType<typeof victimLimiter>): Promise<Decision[]> {
  const decisions: Decision[] = [];
  for (let wave = 0; wave < 3; wave++) {
    decisions.push(...(await Promise.all(Array.from({ length: 25 }, () => limiter.consume('victim')))));
  }
  return decisions;
}

function checkHeld(decisions: readonly Decision[]): void {
  deepStrictEqual(
    decisions.filter((d) => d.degraded),
    [],
    'every decision came from Redis',
  );
  strictEqual(decisions.filter((d) => d.allowed).length, 10, 'exactly the limit got through');
}

const LIMITED = ['--maxmemory', '64mb'];

describe('a server whose policy can evict is reported once', () => {
  test('allkeys-lru under maxmemory: one warning through process.emitWarning, however many calls', async (t) => {
    const server = await start([...LIMITED, '--maxmemory-policy', 'allkeys-lru']);
    const admin = await connect(server.port);
    const client = await storeOn(server.port);
    // Caught at process.emitWarning, the default `warn`: the real call would also print the
    // warning into the test output, where it reads like a problem with the run.
    const emitWarning = t.mock.method(process, 'emitWarning', () => undefined);
    const outages: FloodgateError[] = [];
    const limiter = victimLimiter(new RedisStore({ client, timeoutMs: PATIENT_MS, clock }), outages);
    checkHeld(await hammer(limiter));
    await checkDone([client]);
    const warnings = emitWarning.mock.calls.filter((call) => (call.arguments[1] as { code?: string })?.code === CODE);
    emitWarning.mock.restore();
    strictEqual(warnings.length, 1, 'one warning for 75 calls');
    const [message, options] = (warnings[0] as (typeof warnings)[number]).arguments as [string, { type: string }];
    strictEqual(options.type, 'FloodgateWarning');
    match(message, new RegExp(`^Redis at ${escaped(address(server.port))} has maxmemory-policy allkeys-lru: `));
    t.diagnostic(`${TEST_CLIENT_LABEL}: the warning names ${address(server.port)}`);
    match(message, /reaches maxmemory \(64 MB\), it evicts any key, rate-limit keys included/);
    match(message, /Set maxmemory-policy to noeviction/);
    strictEqual(await configGets(admin), 1, 'the store looked once');
    deepStrictEqual(outages, [], 'a warning is not an outage');
    strictEqual(unhandled.length, 0, String(unhandled[0]));
  });

  test('noeviction under maxmemory: the store looks, and says nothing', async () => {
    const server = await start([...LIMITED, '--maxmemory-policy', 'noeviction']);
    const admin = await connect(server.port);
    const client = await storeOn(server.port);
    const warnings = sink();
    const limiter = victimLimiter(new RedisStore({ client, timeoutMs: PATIENT_MS, clock, warn: warnings.warn }));
    checkHeld(await hammer(limiter));
    await checkDone([client]);
    deepStrictEqual(warnings.seen, []);
    strictEqual(await configGets(admin), 1, 'the check ran, so its silence means something');
  });

  test('every policy but noeviction is reported, the volatile ones as evicting keys with a TTL', async () => {
    const server = await start(LIMITED);
    const admin = await connect(server.port);
    const client = await storeOn(server.port);
    const policies = [
      'allkeys-lru',
      'allkeys-lfu',
      'allkeys-random',
      'volatile-lru',
      'volatile-lfu',
      'volatile-random',
      'volatile-ttl',
    ];
    for (const policy of policies) {
      await admin.config('SET', 'maxmemory-policy', policy);
      const warnings = sink();
      const limiter = victimLimiter(new RedisStore({ client, timeoutMs: PATIENT_MS, clock, warn: warnings.warn }));
      await limiter.consume('victim');
      const { message, code } = await warnings.first();
      strictEqual(code, CODE);
      match(message, new RegExp(`has maxmemory-policy ${policy}: `));
      match(
        message,
        policy.startsWith('volatile-') ? /it evicts keys with a TTL, as every rate-limit key has/ : /it evicts any key/,
      );
    }
  });

  test('maxmemory 0 (no limit) is still reported: the policy evicts as soon as a limit is set', async () => {
    const server = await start(['--maxmemory', '0', '--maxmemory-policy', 'allkeys-lru']);
    const client = await storeOn(server.port);
    const warnings = sink();
    const limiter = victimLimiter(new RedisStore({ client, timeoutMs: PATIENT_MS, clock, warn: warnings.warn }));
    await limiter.consume('victim');
    const { message } = await warnings.first();
    match(
      message,
      /allkeys-lru: maxmemory is 0 \(no limit\), so nothing is evicted yet; once a limit is set, it evicts/,
    );
  });

  test('warn: false: the store does not look; a bad warn is refused at construction', async () => {
    const server = await start([...LIMITED, '--maxmemory-policy', 'allkeys-lru']);
    const admin = await connect(server.port);
    const client = await storeOn(server.port);
    const limiter = victimLimiter(new RedisStore({ client, timeoutMs: PATIENT_MS, clock, warn: false }));
    checkHeld(await hammer(limiter));
    await checkDone([client]);
    strictEqual(await configGets(admin), 0);
    throws(
      () => new RedisStore({ client, warn: 'yes' as unknown as false }),
      (e: unknown) =>
        isFloodgateError(e) &&
        e.code === 'ERR_INVALID_OPTION' &&
        e.message === 'RedisStore: warn must be a function or false, got "yes"',
    );
  });

  test('a warn that throws costs nothing: decisions go on', async () => {
    const server = await start([...LIMITED, '--maxmemory-policy', 'allkeys-lru']);
    const client = await storeOn(server.port);
    let told = 0;
    const outages: FloodgateError[] = [];
    const warn = (): void => {
      told++;
      throw new Error('a broken logger');
    };
    const limiter = victimLimiter(new RedisStore({ client, timeoutMs: PATIENT_MS, clock, warn }), outages);
    checkHeld(await hammer(limiter));
    await checkDone([client]);
    strictEqual(told, 1);
    deepStrictEqual(outages, []);
    strictEqual(unhandled.length, 0, String(unhandled[0]));
  });
});

describe('servers that refuse CONFIG', () => {
  test('CONFIG renamed away: the store works, and INFO memory tells the policy', async () => {
    const server = await start([...LIMITED, '--maxmemory-policy', 'allkeys-lru', '--rename-command', 'CONFIG', '']);
    const client = await storeOn(server.port);
    const outages: FloodgateError[] = [];
    const warnings = sink();
    const limiter = victimLimiter(
      new RedisStore({ client, timeoutMs: PATIENT_MS, clock, warn: warnings.warn }),
      outages,
    );
    checkHeld(await hammer(limiter));
    // Only INFO can have told: the server has no CONFIG command.
    const { message } = await warnings.first();
    match(message, /has maxmemory-policy allkeys-lru: when its memory reaches maxmemory \(64 MB\)/);
    await checkDone([client]);
    strictEqual(warnings.seen.length, 1);
    deepStrictEqual(outages, []);
    deepStrictEqual(await readMemoryPolicy(sendOn(client)), {
      policy: 'allkeys-lru',
      maxmemory: 64 * 2 ** 20,
      via: 'INFO',
    });
  });

  test('CONFIG and INFO both refused: the store works and the check says nothing', async () => {
    const server = await start([
      ...LIMITED,
      '--maxmemory-policy',
      'allkeys-lru',
      '--rename-command',
      'CONFIG',
      '',
      '--rename-command',
      'INFO',
      '',
    ]);
    // ioredis's ready check sends INFO, which this server refuses.
    const client = await storeOn(server.port, { enableReadyCheck: false });
    const outages: FloodgateError[] = [];
    const warnings = sink();
    const limiter = victimLimiter(
      new RedisStore({ client, timeoutMs: PATIENT_MS, clock, warn: warnings.warn }),
      outages,
    );
    checkHeld(await hammer(limiter));
    await checkDone([client]);
    deepStrictEqual(warnings.seen, []);
    deepStrictEqual(outages, [], 'the refused commands are not a store failure');
    strictEqual(unhandled.length, 0, String(unhandled[0]));
  });

  test('a server silent past the timeout is given up on, without asking INFO behind the stall', {
    timeout: 10_000,
  }, async () => {
    const server = await start([...LIMITED, '--maxmemory-policy', 'allkeys-lru']);
    const client = await storeOn(server.port);
    const admin = await connect(server.port);
    const send = sendOn(client);
    const sent: string[] = [];
    // Holds every client's commands, its own included, for 300 ms: far past the check's 50.
    await admin.call('CLIENT', 'PAUSE', '300', 'ALL');
    const found = await readMemoryPolicy((command) => {
      sent.push(command[0] as string);
      return send(command);
    }, 50);
    strictEqual(found, undefined);
    deepStrictEqual(sent, ['CONFIG']);
    // The late reply, once the pause ends, is dropped without an unhandled rejection.
    await ping(client);
    await nextImmediate();
    strictEqual(unhandled.length, 0, String(unhandled[0]));
  });
});

test('an OOM reply (noeviction, memory full) is a store error: the Decision is degraded', async () => {
  const server = await start(['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction']);
  const client = await storeOn(server.port);
  const admin = await connect(server.port);
  const value = 'x'.repeat(10_000);
  let full = false;
  // 2 MB of 10 kB values: a few hundred writes fill it, so 1000 is a bound, not a target.
  for (let i = 0; i < 1000 && !full; i++) {
    try {
      await admin.set(`fill:${i}`, value);
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('OOM '))) throw error;
      full = true;
    }
  }
  ok(full, 'the server filled up');
  const store = new RedisStore({ client, timeoutMs: PATIENT_MS, clock });
  for (const onStoreError of ['allow', 'deny'] as const) {
    const outages: FloodgateError[] = [];
    const limiter = createLimiter({
      algorithm: slidingWindowLog({ limit: 10, windowMs: 10_000 }),
      store,
      prefix: randomPrefix('oom'),
      onStoreError,
      onOutage: (e) => outages.push(e),
    });
    const decisions = await Promise.all(Array.from({ length: 5 }, () => limiter.consume('victim')));
    for (const d of decisions) {
      strictEqual(d.degraded, true, onStoreError);
      strictEqual(d.allowed, onStoreError === 'allow');
      strictEqual(d.cause?.code, 'ERR_STORE');
      const cause = d.cause?.cause;
      ok(cause instanceof Error && cause.message.startsWith('OOM command not allowed'), String(cause));
    }
    strictEqual(outages.length, 1, 'reported as one outage');
  }
  strictEqual(unhandled.length, 0, String(unhandled[0]));
});

describe('on a 3-master cluster', () => {
  let servers3: RedisClusterServers;
  /** A plain client per master, in the order of `servers3.nodes`. */
  let direct: Redis[];
  /** The stores' Cluster client, of the library FLOODGATE_TEST_CLIENT names. */
  let client: RedisClient;
  /** The master whose policy evicts; the others keep the default, noeviction. */
  let evicting: RedisServer;

  before(async () => {
    servers3 = await startCluster(3);
    servers.add(servers3);
    direct = await Promise.all(servers3.nodes.map((n) => connect(n.port)));
    evicting = servers3.nodes[2] as RedisServer;
    await (direct[2] as Redis).config('SET', 'maxmemory-policy', 'volatile-lfu');
    client = storeCluster(servers3.startupNodes);
    storeClients.add(client);
    await whenClusterReady(client, 3, WARNING_WAIT_MS);
  });

  const named = () =>
    new RegExp(`^1 of 3 Redis masters \\(127\\.0\\.0\\.1:${evicting.port}\\) have maxmemory-policy volatile-lfu: `);

  test('every master is asked once, and the one whose policy evicts is named', async () => {
    const warnings = sink();
    const limiter = victimLimiter(new RedisStore({ client, timeoutMs: PATIENT_MS, clock, warn: warnings.warn }));
    // Keys on every master, so each has served a call.
    await Promise.all(Array.from({ length: 30 }, (_, i) => limiter.consume(`user:${i}`)));
    const { message } = await warnings.first();
    match(message, named());
    await checkDone(await masterClients(client));
    strictEqual(warnings.seen.length, 1);
    deepStrictEqual(await Promise.all(direct.map(configGets)), [1, 1, 1], 'each master asked once');
  });

  test('a master that does not answer the check delays no decision, and the others still tell', async () => {
    // The master serving the key must answer, and the evicting one must too, to be named: the
    // third one is stopped.
    const slots = await (direct[0] as Redis).cluster('SLOTS');
    const ownerOf = async (tag: string): Promise<number> => {
      const slot = Number(await (direct[0] as Redis).cluster('KEYSLOT', tag));
      const range = slots.find(([from, to]) => slot >= from && slot <= to);
      return range?.[2]?.[1] ?? 0;
    };
    let key = '';
    for (let i = 0; i < 100 && key === ''; i++) if ((await ownerOf(`user:${i}`)) !== evicting.port) key = `user:${i}`;
    const serving = await ownerOf(key);
    const stalled = servers3.nodes.find((n) => n.port !== serving && n.port !== evicting.port) as RedisServer;
    const warnings = sink();
    const limiter = victimLimiter(new RedisStore({ client, timeoutMs: PATIENT_MS, clock, warn: warnings.warn }));
    // Below the cluster's node timeout (5 s), so the cluster itself does not react.
    stalled.signal('SIGSTOP');
    try {
      const sentAt = performance.now();
      const first = await limiter.consume(key);
      const second = await limiter.consume(key);
      const ms = performance.now() - sentAt;
      deepStrictEqual(
        [first.degraded, first.remaining, second.degraded, second.remaining],
        [undefined, 9, undefined, 8],
      );
      // The check waits up to CHECK_TIMEOUT_MS for the stopped master; a decision waiting on it would too.
      ok(ms < CHECK_TIMEOUT_MS / 2, `two decisions took ${ms.toFixed(0)} ms`);
      match((await warnings.first()).message, named());
    } finally {
      stalled.signal('SIGCONT');
    }
  });
});
