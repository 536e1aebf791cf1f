import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, type TestContext, test } from 'node:test';
import {
  createLimiter,
  type FloodgateError,
  isFloodgateError,
  type Limiter,
  MemoryStore,
  type RedisClient,
  RedisStore,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import {
  closeClient,
  MAX_NODE_REDIS_RECONNECT_DELAY_MS,
  NODE_REDIS,
  nodeRedisReconnectDelay,
  storeClient,
  TEST_CLIENT_LABEL,
  whenReady,
} from './helpers/clients.js';
import { defaultReconnectDelay, MAX_RECONNECT_DELAY_MS, Redis } from './helpers/ioredis.js';
import { freePort, type RedisServer, startRedis } from './helpers/redis.js';

const TIMEOUT_MS = 50;
/** What the issue allows on top of timeoutMs for any one call. */
const SLACK_MS = 20;
const TICK_MS = 10;

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

const servers = new Set<RedisServer>();
const clients = new Set<Redis>();
const storeClients = new Set<RedisClient>();
after(async () => {
  for (const c of clients) c.disconnect();
  for (const c of storeClients) closeClient(c);
  await Promise.all([...servers].map((s) => s.stop()));
});

async function start(port?: number): Promise<RedisServer> {
  const server = await startRedis(port === undefined ? {} : { port });
  servers.add(server);
  return server;
}

/** An ioredis client to act on the server with (CLIENT PAUSE, CLIENT KILL), whatever the store is given. */
function connect(port: number): Redis {
  // The defaults a user gets, plus the error listener every ioredis user should add.
  const client = new Redis(port, '127.0.0.1');
  client.on('error', () => undefined);
  clients.add(client);
  return client;
}

/**
 * The store's client, of the library FLOODGATE_TEST_CLIENT names, connecting now: its defaults
 * (reconnection included), as a user gets them, plus an error listener.
 */
function storeOn(port: number): RedisClient {
  const client = storeClient(port);
  storeClients.add(client);
  return client;
}

/** A client's events: ioredis and node-redis clients are both EventEmitters. */
function events(client: RedisClient): NodeJS.EventEmitter {
  return client as unknown as NodeJS.EventEmitter;
}

/**
 * Why a test is skipped on this run: it is about one library's own behaviour, and this run
 * gives the store another.
 */
const ONLY_IOREDIS = NODE_REDIS && `about ioredis; this run gives the store ${TEST_CLIENT_LABEL}`;
const ONLY_NODE_REDIS = !NODE_REDIS && `about node-redis; this run gives the store ${TEST_CLIENT_LABEL}`;

type PolicyName = 'allow' | 'deny' | 'throw' | 'fallback';

interface Sample {
  readonly name: PolicyName;
  readonly start: number;
  readonly ms: number;
  readonly allowed?: boolean;
  readonly degraded: boolean;
  /** The store error's code: the Decision's `cause`, or what `throw` rejected with. */
  readonly code?: string;
}

interface Subject {
  readonly name: PolicyName;
  readonly limiter: Limiter;
  readonly outages: FloodgateError[];
}

/** One limiter per failure policy, all on one store (one client), as an app would have. */
function subjects(client: RedisClient, names: readonly PolicyName[], timeoutMs = TIMEOUT_MS): Subject[] {
  const store = new RedisStore({ client, timeoutMs });
  return names.map((name) => {
    const outages: FloodgateError[] = [];
    const limiter =
      name === 'fallback'
        ? // Small, so the fallback's own decisions show: 5 allowed, then denied, during the outage.
          createLimiter({
            algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }),
            store,
            prefix: `faults-${name}`,
            onStoreError: new MemoryStore(),
            onOutage: (e) => outages.push(e),
          })
        : createLimiter({
            algorithm: tokenBucket({ capacity: 1_000_000, refillPerSecond: 1_000_000 }),
            store,
            prefix: `faults-${name}`,
            onStoreError: name,
            onOutage: (e) => outages.push(e),
          });
    return { name, limiter, outages };
  });
}

/** One call of `subject`'s limiter for `key`, and how it was answered. */
function sample({ name, limiter }: Subject, key: string): Promise<Sample> {
  const begin = performance.now();
  return limiter.consume(key).then(
    (d) => ({
      name,
      start: begin,
      ms: performance.now() - begin,
      allowed: d.allowed,
      degraded: d.degraded === true,
      ...(d.cause === undefined ? {} : { code: d.cause.code }),
    }),
    (error: unknown) => ({
      name,
      start: begin,
      ms: performance.now() - begin,
      degraded: true,
      code: isFloodgateError(error) ? error.code : String(error),
    }),
  );
}

/** Calls every limiter every TICK_MS (without waiting for earlier calls) until `done()` resolves. */
async function drive(list: readonly Subject[], done: Promise<void>): Promise<Sample[]> {
  const samples: Sample[] = [];
  const pending: Promise<void>[] = [];
  const tick = (): void => {
    for (const subject of list) pending.push(sample(subject, 'k').then((s) => void samples.push(s)));
  };
  const timer = setInterval(tick, TICK_MS);
  await done;
  clearInterval(timer);
  await Promise.all(pending);
  return samples.sort((a, b) => a.start - b.start);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * When `client` next becomes ready, on `performance.now()`. Called before Redis comes back, so a
 * reconnect that beats the server's start-up log line is not missed. Rejects past `withinMs`.
 */
function nextReady(client: RedisClient, withinMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      events(client).off('ready', onReady);
      reject(new Error(`the client was not ready within ${withinMs} ms`));
    }, withinMs);
    function onReady(): void {
      clearTimeout(timer);
      resolve(performance.now());
    }
    events(client).once('ready', onReady);
  });
}

/**
 * How long after Redis is back the client may take to reconnect: its longest wait between two
 * attempts under the default retryStrategy (ioredis) or reconnectStrategy (node-redis; see
 * nodeRedisReconnectDelay in ./helpers/clients.ts), plus the attempt itself on a busy machine.
 */
const RECONNECT_WITHIN_MS = (NODE_REDIS ? MAX_NODE_REDIS_RECONNECT_DELAY_MS : MAX_RECONNECT_DELAY_MS) + 300;

/**
 * Watches how late this process's timers fire. On a machine busy with other work the test process
 * itself can be descheduled for tens of milliseconds, which no store can help; a call is allowed
 * that much on top of timeoutMs + SLACK_MS, and only that much (near zero on an idle machine).
 */
function watchLag(): { stop(): void; lagDuring(from: number, to: number): number } {
  const PERIOD = 5;
  const ticks: { at: number; late: number }[] = [];
  let expected = performance.now() + PERIOD;
  const timer = setInterval(() => {
    const at = performance.now();
    ticks.push({ at, late: Math.max(0, at - expected) });
    expected = at + PERIOD;
  }, PERIOD);
  return {
    stop: () => clearInterval(timer),
    lagDuring(from, to) {
      let late = 0;
      // A tick `late` ms late means the loop was stalled from (at - late) to at.
      for (const t of ticks) if (t.at >= from && t.at - t.late <= to) late = Math.max(late, t.late);
      return late;
    },
  };
}

function checkLatency(samples: readonly Sample[], lag: ReturnType<typeof watchLag>, t: TestContext): void {
  const slow = samples.filter((s) => s.ms > TIMEOUT_MS + SLACK_MS + lag.lagDuring(s.start, s.start + s.ms));
  deepStrictEqual(
    slow.map((s) => `${s.name} ${s.ms.toFixed(1)} ms`),
    [],
    `every call answered within ${TIMEOUT_MS} + ${SLACK_MS} ms`,
  );
  const slowest = samples.reduce((a, b) => (b.ms > a.ms ? b : a));
  t.diagnostic(
    `slowest of ${samples.length} calls: ${slowest.ms.toFixed(1)} ms (this process's timers ran up to ${lag
      .lagDuring(0, Number.POSITIVE_INFINITY)
      .toFixed(1)} ms late)`,
  );
}

function checkDegraded(samples: readonly Sample[], from: number, to: number, codes: readonly string[]): void {
  const during = samples.filter((s) => s.start >= from && s.start < to);
  ok(during.length > 0);
  for (const s of during) {
    const where = `${s.name} at ${(s.start - from).toFixed(0)} ms: ${JSON.stringify(s)}`;
    ok(s.degraded && s.code !== undefined && codes.includes(s.code), where);
    if (s.name === 'allow') strictEqual(s.allowed, true, where);
    if (s.name === 'deny') strictEqual(s.allowed, false, where);
    if (s.name === 'throw') strictEqual(s.allowed, undefined, where);
  }
}

/** The first Redis-backed answer after `from` comes within `withinMs`, and every later one is too. */
function checkResumed(samples: readonly Sample[], name: PolicyName, from: number, withinMs: number): number {
  const after = samples.filter((s) => s.name === name && s.start >= from);
  const first = after.findIndex((s) => !s.degraded);
  ok(first >= 0, `${name}: no Redis-backed decision after ${from}`);
  const at = (after[first] as Sample).start - from;
  ok(at <= withinMs, `${name}: Redis-backed again ${at.toFixed(0)} ms after the restart`);
  deepStrictEqual(
    after.slice(first).filter((s) => s.degraded),
    [],
    `${name}: no degraded decision once resumed`,
  );
  return at;
}

test('Redis killed (SIGKILL) for 3 s, then restarted on its port', async (t) => {
  const names: PolicyName[] = ['allow', 'deny', 'throw', 'fallback'];
  let server = await start();
  const client = storeOn(server.port);
  await whenReady(client);
  const list = subjects(client, names);
  let killedAt = 0;
  let restartedAt = 0;
  let readyAt = 0;
  const lag = watchLag();
  const samples = await drive(
    list,
    (async () => {
      await sleep(500);
      killedAt = performance.now();
      await server.stop();
      await sleep(3000);
      const ready = nextReady(client, 3000 + RECONNECT_WITHIN_MS);
      server = await start(server.port);
      restartedAt = performance.now();
      readyAt = await ready;
      // At least 1.5 s after the restart, as before the wait for the client, and 500 ms of calls
      // after it reconnected.
      await sleep(Math.max(500, restartedAt + 1500 - performance.now()));
    })(),
  );
  lag.stop();
  checkLatency(samples, lag, t);
  deepStrictEqual(
    samples.filter((s) => s.start + s.ms < killedAt && s.degraded),
    [],
    'Redis-backed before the kill',
  );
  // A call still unanswered at the kill (made in the tick before it) dies with the connection:
  // node-redis fails it (its command may not even have been written: node-redis writes in an
  // immediate), ioredis keeps it for the reconnect and the store times it out.
  for (const s of samples.filter((s) => s.start < killedAt && s.start + s.ms >= killedAt && s.degraded)) {
    ok(s.code === 'ERR_STORE' || s.code === 'ERR_STORE_TIMEOUT', `in flight at the kill: ${JSON.stringify(s)}`);
  }
  // Calls in flight at the kill time out; 100 ms later the client knows it is disconnected.
  checkDegraded(samples, killedAt + 100, restartedAt, ['ERR_STORE_UNAVAILABLE', 'ERR_STORE_TIMEOUT']);
  const fallback = samples.filter((s) => s.name === 'fallback' && s.degraded);
  ok(fallback.length > 50);
  strictEqual(fallback.filter((s) => s.allowed).length, 5, 'the fallback store decides: 5 allowed, then denied');
  // How soon the client reconnects is its retryStrategy's business; once it has, every call is
  // Redis-backed again: the next tick's calls.
  const reconnected = readyAt - restartedAt;
  ok(reconnected <= RECONNECT_WITHIN_MS, `the client reconnected ${reconnected.toFixed(0)} ms after the restart`);
  const resumed = names.map((name) =>
    checkResumed(samples, name, readyAt, TICK_MS + SLACK_MS + lag.lagDuring(readyAt, readyAt + TICK_MS)),
  );
  t.diagnostic(
    `${TEST_CLIENT_LABEL}: client ready ${reconnected.toFixed(0)} ms after the restart; Redis-backed again ${resumed
      .map((ms) => (reconnected + ms).toFixed(0))
      .join(', ')} ms after the restart (${names.join(', ')})`,
  );
  for (const { name, outages } of list) strictEqual(outages.length, 1, `${name}: outage reported once`);
  strictEqual(unhandled.length, 0, String(unhandled[0]));
});

test('Redis paused (SIGSTOP 2 s, SIGCONT): latency stays bounded', async (t) => {
  const names: PolicyName[] = ['allow', 'deny', 'throw', 'fallback'];
  const server = await start();
  const client = storeOn(server.port);
  await whenReady(client);
  const list = subjects(client, names);
  let stoppedAt = 0;
  let continuedAt = 0;
  const lag = watchLag();
  const samples = await drive(
    list,
    (async () => {
      await sleep(300);
      stoppedAt = performance.now();
      server.signal('SIGSTOP');
      await sleep(2000);
      server.signal('SIGCONT');
      continuedAt = performance.now();
      await sleep(1000);
    })(),
  );
  lag.stop();
  checkLatency(samples, lag, t);
  // Until the first call times out, the store still counts as healthy and may serve the
  // fallback limiter's key from the deny cache (a true answer); from then on, every call
  // degrades. The first timeout is read off the samples, not assumed: a tick due in the same
  // timers phase as the timeout timer may run first, and a timer a millisecond late defers the
  // timeout by a poll phase (see Caller's re-check), so a fixed boundary races the store.
  // A call sent within a tick of the stop times out TIMEOUT_MS later, and later still by as long
  // as this process's loop was held up meanwhile (test files share the cores), as checkLatency
  // allows for too.
  const firstTimeout = Math.min(
    ...samples.filter((s) => s.start >= stoppedAt && s.code === 'ERR_STORE_TIMEOUT').map((s) => s.start + s.ms),
  );
  const timedOutBy = stoppedAt + TICK_MS + TIMEOUT_MS + SLACK_MS;
  ok(
    firstTimeout <= timedOutBy + lag.lagDuring(stoppedAt, timedOutBy),
    `the first call after the stop timed out ${(firstTimeout - stoppedAt).toFixed(1)} ms after it`,
  );
  checkDegraded(samples, firstTimeout, continuedAt - TIMEOUT_MS, ['ERR_STORE_TIMEOUT']);
  const resumed = names.map((name) => checkResumed(samples, name, continuedAt, 500));
  t.diagnostic(`${TEST_CLIENT_LABEL}: Redis-backed again after ${resumed.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  for (const { name, outages } of list) strictEqual(outages.length, 1, `${name}: outage reported once`);
  strictEqual(unhandled.length, 0, String(unhandled[0]));
});

test('cold start: limiter created before Redis listens; Redis-backed as soon as the client connects', async (t) => {
  const port = await freePort();
  const client = storeOn(port);
  const list = subjects(client, ['allow', 'fallback']);
  let startedAt = 0;
  let readyAt = 0;
  const lag = watchLag();
  const samples = await drive(
    list,
    (async () => {
      await sleep(1000);
      const ready = nextReady(client, RECONNECT_WITHIN_MS);
      await start(port);
      startedAt = performance.now();
      readyAt = await ready;
      await sleep(300);
    })(),
  );
  lag.stop();
  checkLatency(samples, lag, t);
  checkDegraded(samples, 0, startedAt, ['ERR_STORE_UNAVAILABLE']);
  const reconnected = readyAt - startedAt;
  ok(reconnected <= RECONNECT_WITHIN_MS, `the client connected ${reconnected.toFixed(0)} ms after Redis started`);
  const resumed = ['allow', 'fallback'].map((name) =>
    checkResumed(samples, name as PolicyName, readyAt, TICK_MS + SLACK_MS + lag.lagDuring(readyAt, readyAt + TICK_MS)),
  );
  t.diagnostic(
    `${TEST_CLIENT_LABEL}: client ready ${reconnected.toFixed(0)} ms after Redis started; Redis-backed ${resumed
      .map((ms) => (reconnected + ms).toFixed(0))
      .join(', ')} ms after it started`,
  );
  for (const { name, outages } of list) strictEqual(outages.length, 1, `${name}: outage reported once`);
  strictEqual(unhandled.length, 0, String(unhandled[0]));
});

/** How long the reconnect tests leave a client with nothing to connect to. */
const NOWHERE_MS = 1000;

test("ioredis: the waits before its reconnect attempts are its default retryStrategy's", {
  skip: ONLY_IOREDIS,
}, async (t) => {
  const client = storeOn(await freePort());
  // The waits ioredis announces before each reconnect attempt: its default retryStrategy.
  const delays: number[] = [];
  events(client).on('reconnecting', (ms: number) => delays.push(ms));
  await sleep(NOWHERE_MS);
  closeClient(client);
  // docs/redis.md quotes these waits.
  ok(delays.length >= 3, `reconnect attempts: ${delays.join(', ')}`);
  delays.forEach((ms, i) => {
    const { min, max } = defaultReconnectDelay(i + 1);
    ok(ms >= min && ms <= max, `attempt ${i + 1} waited ${ms} ms, not ${min}–${max}: ${delays.join(', ')}`);
  });
  t.diagnostic(`${TEST_CLIENT_LABEL}: waits before each reconnect attempt: ${delays.join(', ')} ms`);
});

test("node-redis: the waits before its reconnect attempts are its default reconnectStrategy's", {
  skip: ONLY_NODE_REDIS,
}, async (t) => {
  // node-redis does not say how long it waits: each wait is timed, from the 'error' of a failed
  // attempt to the 'reconnecting' that ends the wait (both emitted by the same loop in
  // @redis/client's socket.js, around one setTimeout of the wait).
  const lag = watchLag();
  const client = storeOn(await freePort());
  const waits: { from: number; to: number }[] = [];
  let failedAt: number | undefined;
  events(client).on('error', () => {
    failedAt = performance.now();
  });
  events(client).on('reconnecting', () => {
    if (failedAt !== undefined) waits.push({ from: failedAt, to: performance.now() });
    failedAt = undefined;
  });
  await sleep(NOWHERE_MS);
  closeClient(client);
  lag.stop();
  const shown = waits.map((w) => (w.to - w.from).toFixed(1)).join(', ');
  ok(waits.length >= 3, `reconnect attempts: ${shown}`);
  waits.forEach(({ from, to }, retries) => {
    const { min, max } = nodeRedisReconnectDelay(retries);
    const ms = to - from;
    // A timer never fires early (but for the millisecond the loop's clock is rounded to); it
    // fires late by what the loop was held up, and a promise's resolution on top.
    const late = lag.lagDuring(from, to) + 10;
    ok(ms >= min - 1 && ms <= max + late, `wait ${retries + 1} took ${ms.toFixed(1)} ms, not ${min}–${max}: ${shown}`);
  });
  t.diagnostic(`${TEST_CLIENT_LABEL}: waits before each reconnect attempt: ${shown} ms`);
});

test('a call made while the store reports a timeout (from onOutage) still ends within timeoutMs', async () => {
  const server = await start();
  const client = storeOn(server.port);
  const admin = connect(server.port);
  await Promise.all([whenReady(client), admin.ping()]);
  let inner: Promise<{ ms: number; degraded: boolean }> | undefined;
  const limiter = createLimiter({
    algorithm: tokenBucket({ capacity: 10, refillPerSecond: 1 }),
    store: new RedisStore({ client, timeoutMs: TIMEOUT_MS }),
    // Settling a timed-out call runs this at once, from inside the store's timeout handling.
    onOutage: () => {
      const sentAt = performance.now();
      inner ??= limiter.consume('other').then((d) => ({
        ms: performance.now() - sentAt,
        degraded: d.degraded === true,
      }));
    },
  });
  await limiter.consume('warm-up');
  // Holds every other client's commands for 1 s; this one's own reply comes first.
  await admin.call('CLIENT', 'PAUSE', '1000', 'ALL');
  const outer = await limiter.consume('k');
  strictEqual(outer.degraded, true);
  ok(inner !== undefined, 'onOutage ran');
  const { ms, degraded } = await inner;
  strictEqual(degraded, true, 'the inner call timed out too, rather than waiting out the pause');
  // Timer slack on a loaded machine aside; a call the store lost track of waited out the pause.
  ok(ms <= TIMEOUT_MS + SLACK_MS + 100, `the inner call took ${ms.toFixed(0)} ms`);
  strictEqual(unhandled.length, 0, String(unhandled[0]));
});

test('a client that disconnects mid-batch gives each waiting decision its onStoreError answer within timeoutMs', async (t) => {
  // Long enough that an answer the disconnect gives is told apart from a timeout.
  const timeoutMs = 1000;
  const names: PolicyName[] = ['allow', 'deny', 'throw', 'fallback'];
  const server = await start();
  const client = storeOn(server.port);
  const admin = connect(server.port);
  await Promise.all([whenReady(client), admin.ping()]);
  const list = subjects(client, names, timeoutMs);
  for (const subject of list) strictEqual((await sample(subject, 'warm-up')).degraded, false);
  // Scripts wait while writes are paused (a script may write); CLIENT KILL, no write, does not.
  await admin.call('CLIENT', 'PAUSE', String(timeoutMs * 3), 'WRITE');
  const lag = watchLag();
  try {
    // 100 calls per limiter at once: the first alone, the others batched behind it, all unanswered.
    const calls = list.flatMap((subject) => Array.from({ length: 100 }, () => sample(subject, 'k')));
    // Written by now, whichever the client: node-redis writes in an immediate.
    await new Promise((resolve) => setImmediate(resolve));
    const droppedAt = performance.now();
    // The store's client is the only other one: its connection drops under its batches.
    strictEqual(await admin.call('CLIENT', 'KILL', 'SKIPME', 'yes', 'TYPE', 'normal'), 1);
    const samples = await Promise.all(calls);
    lag.stop();
    const slow = samples.filter((s) => s.ms > timeoutMs + SLACK_MS + lag.lagDuring(s.start, s.start + s.ms));
    deepStrictEqual(
      slow.map((s) => `${s.name} ${s.ms.toFixed(1)} ms`),
      [],
      `every call answered within ${timeoutMs} + ${SLACK_MS} ms`,
    );
    // ioredis keeps the commands a dropped connection leaves unanswered, to send them again once
    // reconnected, so the store's timeout answers every call. node-redis fails the ones it had
    // written at once (ERR_STORE); one it had not written yet (its socket still taking the burst)
    // stays in its queue for the reconnect, and the store's timeout answers it.
    checkDegraded(
      samples,
      0,
      Number.POSITIVE_INFINITY,
      NODE_REDIS ? ['ERR_STORE', 'ERR_STORE_TIMEOUT'] : ['ERR_STORE_TIMEOUT'],
    );
    strictEqual(samples.length, 400);
    const fallback = samples.filter((s) => s.name === 'fallback');
    strictEqual(fallback.filter((s) => s.allowed).length, 5, 'the fallback store decides: 5 allowed, then denied');
    const atDrop = samples.filter((s) => s.code === 'ERR_STORE');
    if (NODE_REDIS) {
      ok(atDrop.length > 0, 'node-redis failed the written calls when the connection dropped');
      // Answered by the disconnect, not by the timer.
      const last = Math.max(...atDrop.map((s) => s.start + s.ms)) - droppedAt;
      ok(last < timeoutMs / 2, `the last call failed by the drop was answered ${last.toFixed(0)} ms after it`);
    }
    t.diagnostic(
      `${TEST_CLIENT_LABEL}: ${atDrop.length} of ${samples.length} calls failed by the drop; all answered ${Math.min(...samples.map((s) => s.ms)).toFixed(0)}–${Math.max(
        ...samples.map((s) => s.ms),
      ).toFixed(0)} ms after they were made`,
    );
    for (const { name, outages } of list) strictEqual(outages.length, 1, `${name}: outage reported once`);
    strictEqual(unhandled.length, 0, String(unhandled[0]));
  } finally {
    lag.stop();
    await admin.call('CLIENT', 'UNPAUSE');
  }
});

/** Keeps the event loop busy for `ms`, as synchronous work or a GC pause does. */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** A warmed-up limiter on `client` for the stall tests, and the outages it reports. */
async function stallLimiter(client: RedisClient, prefix: string): Promise<{ limiter: Limiter; outages: string[] }> {
  const outages: string[] = [];
  const limiter = createLimiter({
    algorithm: slidingWindowLog({ limit: 100, windowMs: 60_000 }),
    store: new RedisStore({ client, timeoutMs: TIMEOUT_MS }),
    prefix,
    onOutage: (e) => outages.push(e.code),
  });
  await limiter.consume('warm-up');
  return { limiter, outages };
}

test('regression: a loop stalled past timeoutMs with calls in flight times out only unanswered ones', async () => {
  const server = await start();
  const client = storeOn(server.port);
  const admin = connect(server.port);
  await Promise.all([whenReady(client), admin.ping()]);
  const { limiter, outages } = await stallLimiter(client, 'stall');
  // Synchronous work (or a GC pause) past timeoutMs right after sending: Redis answers within a
  // millisecond, but Node runs the due timeout timer before it reads the socket.
  const stall = (): void => busyFor(TIMEOUT_MS + 30);
  const healthy = Array.from({ length: 5 }, () => limiter.consume('k'));
  stall();
  deepStrictEqual(
    (await Promise.all(healthy)).map((d) => (d.degraded ? `degraded (${d.cause?.code})` : d.remaining)),
    [99, 98, 97, 96, 95],
  );
  deepStrictEqual(outages, [], 'no outage reported for a healthy Redis');
  // Redis itself stalled too (it holds every other client's commands): still timed out. With
  // ioredis, the first call was written before the stall and times out right after it; the four
  // the stall kept from the socket (written together on the next tick) get their timeoutMs from
  // then. node-redis writes even the first one only after the stall (in an immediate), so all
  // five get their timeoutMs from then.
  await admin.call('CLIENT', 'PAUSE', '500', 'ALL');
  const sentAt = performance.now();
  const stuck = Array.from({ length: 5 }, () =>
    limiter.consume('k').then((d) => ({ degraded: d.degraded === true, ms: performance.now() - sentAt })),
  );
  stall();
  const late = await Promise.all(stuck);
  for (const { degraded, ms } of late) {
    strictEqual(degraded, true);
    ok(ms <= TIMEOUT_MS + 30 + TIMEOUT_MS + SLACK_MS, `answered after ${ms.toFixed(0)} ms`);
  }
  if (NODE_REDIS) {
    // Not timed out during the stall, before it was even written: a timer never fires early (but
    // for the millisecond the loop's clock is rounded to).
    ok(
      (late[0]?.ms ?? 0) >= TIMEOUT_MS + 30 + TIMEOUT_MS - 1,
      `the first, written after the stall, after ${late[0]?.ms} ms`,
    );
  } else {
    ok((late[0]?.ms ?? 0) <= TIMEOUT_MS + 30 + SLACK_MS, `the first, written at once, after ${late[0]?.ms} ms`);
  }
  deepStrictEqual(outages, ['ERR_STORE_TIMEOUT']);
  strictEqual(unhandled.length, 0, String(unhandled[0]));
});

test('regression: a second stall, in the poll phase the re-check waits for, times out no answered call', async () => {
  const server = await start();
  const client = storeOn(server.port);
  await whenReady(client);
  const { limiter, outages } = await stallLimiter(client, 'stall-twice');
  // The first stall makes the timeout timer late, so its check waits for one poll phase. In that
  // very phase, a's reply sends b, and the loop stalls again past b's deadline: b's reply, sent
  // by Redis at once, is unread when the check runs, and b used to be timed out by it.
  const b = limiter.consume('a').then(() => {
    const next = limiter.consume('b');
    busyFor(TIMEOUT_MS * 4);
    return next;
  });
  busyFor(TIMEOUT_MS * 2);
  const d = await b;
  deepStrictEqual([d.degraded, d.remaining], [undefined, 99]);
  deepStrictEqual(outages, [], 'no outage reported for a healthy Redis');
  strictEqual(unhandled.length, 0, String(unhandled[0]));
});
