import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type Algorithm,
  createLimiter,
  fixedWindow,
  type Limiter,
  type RedisClient,
  RedisStore,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { batchesDecideLikeMemory } from './helpers/batch-property.js';
import { closeClient, NODE_REDIS, storeClient, whenReady } from './helpers/clients.js';
import { heapAfterGc } from './helpers/gc.js';
import { Redis } from './helpers/ioredis.js';
import { type RedisServer, randomPrefix, startRedis } from './helpers/redis.js';

/** Timeouts are not under test here unless a test says so: a busy machine must not fail them. */
const PATIENT_MS = 5000;
/** Calls one script call decides at most (MAX_BATCH in src/stores/redis/script.ts). */
const MAX_BATCH = 64;

// A server of its own: INFO commandstats counts every client's scripts.
let server: RedisServer;
/** Looks at the server: INFO, and keys of the wrong type. */
let client: Redis;
/** The stores' client, of the library FLOODGATE_TEST_CLIENT picks (the same one for ioredis). */
let forStore: RedisClient;
before(async () => {
  server = await startRedis();
  client = new Redis(server.port, '127.0.0.1');
  await client.ping();
  forStore = NODE_REDIS ? storeClient(server.port) : client;
  await whenReady(forStore);
});
after(async () => {
  client.disconnect();
  if (forStore !== client) closeClient(forStore);
  await server.stop();
});

/** Calls of these commands the server has run so far, from scripts too, read at one instant. */
async function commandCalls(...names: string[]): Promise<number> {
  const info = await client.info('commandstats');
  let calls = 0;
  for (const name of names) {
    const match = new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info);
    if (match) calls += Number(match[1]);
  }
  return calls;
}

/** Script calls the server has run so far (EVALSHA, and EVAL for a script it did not hold yet). */
function scriptCalls(): Promise<number> {
  return commandCalls('evalsha', 'eval');
}

function limiterOf(algorithm: Algorithm, options: { clock?: () => number; timeoutMs?: number } = {}): Limiter {
  return createLimiter({
    algorithm,
    store: new RedisStore({
      client: forStore,
      timeoutMs: options.timeoutMs ?? PATIENT_MS,
      denyCache: false,
      clock: options.clock,
    }),
    prefix: randomPrefix('batch'),
    onStoreError: 'throw',
  });
}

describe('coalesced Redis decisions', () => {
  test('a burst goes as one script call per 64 calls, behind the first, which goes alone', async () => {
    const limiter = limiterOf(tokenBucket({ capacity: 10, refillPerSecond: 1 }));
    await limiter.peek('warm-up');
    for (const n of [1, 2, 64, 65, 150]) {
      const before = await scriptCalls();
      const decisions = await Promise.all(Array.from({ length: n }, (_, i) => limiter.consume(`k${n}-${i}`)));
      const calls = (await scriptCalls()) - before;
      strictEqual(calls, 1 + Math.ceil((n - 1) / MAX_BATCH), `${n} calls`);
      ok(decisions.every((d) => d.allowed && d.remaining === 9));
    }
  });

  test('a batch that fills up is written at once, not at the end of the poll phase', {
    skip: NODE_REDIS && 'node-redis writes every command in an immediate of its own',
  }, async () => {
    const limiter = limiterOf(tokenBucket({ capacity: 10, refillPerSecond: 1 }));
    await limiter.peek('warm-up');
    const socket = (forStore as unknown as { stream: { bytesWritten: number } }).stream;
    const lone = limiter.consume('lone');
    const before = socket.bytesWritten;
    const early = Array.from({ length: MAX_BATCH - 1 }, (_, i) => limiter.consume(`early-${i}`));
    strictEqual(socket.bytesWritten, before, 'a batch still filling waits');
    early.push(limiter.consume('last'));
    const written = socket.bytesWritten - before;
    // Each call's key and its block's key, at the least.
    ok(written > MAX_BATCH * 2 * 'early-00'.length, `${written} bytes written when the batch filled`);
    const decisions = await Promise.all([lone, ...early]);
    ok(decisions.every((d) => d.allowed && d.remaining === 9));
  });

  test('a call refused by a client not yet ready leaves later lone calls to go alone, at once', {
    skip: NODE_REDIS && 'node-redis writes every command in an immediate of its own',
  }, async () => {
    const lazy = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true });
    try {
      const limiter = createLimiter({
        algorithm: tokenBucket({ capacity: 10, refillPerSecond: 1 }),
        store: new RedisStore({ client: lazy, timeoutMs: PATIENT_MS, denyCache: false }),
        prefix: randomPrefix('refused'),
        onStoreError: 'deny',
        onOutage: () => undefined,
      });
      const refused = await limiter.consume('k');
      deepStrictEqual([refused.degraded, refused.cause?.code], [true, 'ERR_STORE_UNAVAILABLE']);
      // The store has asked the client to connect; the refusal came before it was ready.
      await whenReady(lazy as unknown as RedisClient);
      for (let i = 0; i < 3; i++) {
        const socket = lazy.stream;
        const before = socket.bytesWritten + socket.writableLength;
        const call = limiter.consume('k');
        ok(socket.bytesWritten + socket.writableLength > before, `lone call ${i} written at once`);
        strictEqual((await call).remaining, 9 - i);
      }
    } finally {
      lazy.disconnect();
    }
  });

  test('a reset goes after the calls made before it that wait for a batch', async () => {
    const limiter = limiterOf(slidingWindowLog({ limit: 5, windowMs: 60_000 }));
    await limiter.peek('warm-up');
    // The first call goes alone and is unanswered, so the next one waits for a batch.
    const first = limiter.consume('other');
    const before = limiter.consume('k');
    const reset = limiter.reset('k');
    await Promise.all([first, before, reset]);
    strictEqual((await limiter.peek('k')).remaining, 5, 'the consume made before the reset is undone by it');
  });

  test("replies read together reach their callers in halves, around the client's write", {
    skip: !NODE_REDIS && 'ioredis writes a full batch at once: its replies are handed out as they come',
  }, async () => {
    const own = await startRedis();
    const c = storeClient(own.port);
    let turn = 0;
    let counting = true;
    const tick = (): void => {
      turn++;
      if (counting) setImmediate(tick);
    };
    try {
      await whenReady(c);
      const limiter = createLimiter({
        algorithm: tokenBucket({ capacity: 100, refillPerSecond: 1 }),
        store: new RedisStore({ client: c, timeoutMs: PATIENT_MS, denyCache: false }),
        prefix: randomPrefix('halves'),
        onStoreError: 'throw',
      });
      await limiter.peek('warm-up');
      // Redis stopped, so that four batches (behind a lone call) are out at once, and their
      // replies come back together once it goes on.
      own.signal('SIGSTOP');
      const batches: Promise<number[]>[] = [];
      const lone = limiter.consume('lone');
      for (let b = 0; b < 4; b++) {
        const calls = Array.from({ length: 8 }, (_, i) => limiter.consume(`b${b}-${i}`).then(() => turn));
        batches.push(Promise.all(calls));
        // One batch per poll phase: each waits for the flush of its own.
        await new Promise((resolve) => setImmediate(resolve));
      }
      setImmediate(tick);
      own.signal('SIGCONT');
      const turns = await Promise.all(batches);
      await lone;
      for (const t of turns) strictEqual(new Set(t).size, 1, `a batch reaches its callers together: ${t}`);
      const first = Math.min(...turns.map((t) => t[0] as number));
      const handedFirst = turns.filter((t) => t[0] === first).length;
      // Four batches were out when the first of their replies came: two may reach their callers
      // before the client writes what those callers sent.
      ok(handedFirst <= 2, `batches handed out in the first turn: ${handedFirst} of 4 (${turns.map((t) => t[0])})`);
    } finally {
      counting = false;
      own.signal('SIGCONT');
      closeClient(c);
      await own.stop();
    }
  });

  test('calls sent again after the script went missing keep their order: none made later overtakes them', async () => {
    const admin = new Redis(server.port, '127.0.0.1');
    try {
      await admin.ping();
      for (let round = 0; round < 3; round++) {
        const limiter = limiterOf(slidingWindowLog({ limit: 1, windowMs: 60_000 }));
        await limiter.peek('warm-up');
        await admin.script('FLUSH');
        // Answered NOSCRIPT while this process is busy, so the reply waits unread.
        const lone = limiter.consume('lone');
        const until = performance.now() + 10;
        while (performance.now() < until);
        // Redis holds the next commands: the first call's EVALSHA, then the lone call's EVAL (sent
        // again as its NOSCRIPT is read), then the second call's EVALSHA, which the EVAL's load
        // would let through ahead of the first call's NOSCRIPT and EVAL.
        void admin.call('CLIENT', 'PAUSE', '300', 'ALL');
        const first = limiter.consume('k');
        await new Promise((resolve) => setTimeout(resolve, 50));
        const second = limiter.consume('k');
        const [, a, b] = await Promise.all([lone, first, second]);
        deepStrictEqual([a.allowed, b.allowed], [true, false], `round ${round}: the first made is the one allowed`);
      }
    } finally {
      admin.disconnect();
    }
  });

  test('a reset made after a call the server answers NOSCRIPT goes after that call is sent again', async () => {
    const admin = new Redis(server.port, '127.0.0.1');
    try {
      await admin.ping();
      for (let round = 0; round < 3; round++) {
        const limiter = limiterOf(fixedWindow({ limit: 1, windowMs: 60_000 }));
        await limiter.peek('warm-up');
        await admin.script('FLUSH');
        // The consume's EVALSHA is answered NOSCRIPT and sent again in full: a DEL written right
        // behind the EVALSHA ran before that EVAL, and the consume charged after the reset.
        const [consumed] = await Promise.all([limiter.consume('k'), limiter.reset('k')]);
        strictEqual(consumed.allowed, true);
        const after = await limiter.consume('k');
        deepStrictEqual([after.allowed, after.remaining], [true, 0], `round ${round}: the reset undid the consume`);
      }
    } finally {
      admin.disconnect();
    }
  });

  test('answered batches are let go of while later calls are unanswered', async () => {
    const limiter = limiterOf(tokenBucket({ capacity: 1_000_000_000, refillPerSecond: 1 }));
    // Long keys, so that what a batch holds is easy to see in the heap: about 60 kB a batch.
    const keys = Array.from({ length: 5000 }, (_, i) => `${i}:`.padEnd(400, 'k'));
    await limiter.peek('warm-up');
    const base = heapAfterGc();
    let made = 0;
    let largest = 0;
    // 256 lanes, each making its next call when its last is answered: some calls are always
    // unanswered, so the store's queue of calls sent is trimmed now and then, never emptied.
    // About 1,500 batches of 64, past the 1,024 answered calls the queue may hold before a trim.
    const total = 1500 * MAX_BATCH;
    const lane = async (): Promise<void> => {
      while (made < total) {
        made++;
        if (made % (100 * MAX_BATCH) === 0) largest = Math.max(largest, heapAfterGc() - base);
        const d = await limiter.consume(keys[made % keys.length] as string);
        if (!d.allowed) throw new Error('denied');
      }
    };
    await Promise.all(Array.from({ length: 4 * MAX_BATCH }, lane));
    ok(largest < 8_000_000, `the heap held ${largest} bytes more mid-run`);
  });

  test('a batch decides its calls in the order they were made, as separate calls would be', async () => {
    const limiter = limiterOf(slidingWindowLog({ limit: 10, windowMs: 60_000 }));
    const decisions = await Promise.all(Array.from({ length: 25 }, () => limiter.consume('k')));
    deepStrictEqual(
      decisions.map((d) => [d.allowed, d.remaining]),
      Array.from({ length: 25 }, (_, i) => (i < 10 ? [true, 9 - i] : [false, 0])),
    );
  });

  test('a call whose key holds another type fails alone; the others in its batch are decided', async () => {
    const prefix = randomPrefix('wrongtype');
    await client.hset(`${prefix}:{bad}:default`, 'f', '1');
    const limiter = createLimiter({
      algorithm: slidingWindowLog({ limit: 3, windowMs: 1000 }),
      store: new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, denyCache: false }),
      prefix,
      onOutage: () => undefined,
    });
    const before = await scriptCalls();
    const [first, good, bad, other] = await Promise.all([
      limiter.consume('a'),
      limiter.consume('b'),
      limiter.consume('bad'),
      limiter.consume('c'),
    ]);
    strictEqual((await scriptCalls()) - before, 2, 'one alone, then one batch of three');
    for (const d of [first, good, other])
      deepStrictEqual([d?.allowed, d?.remaining, d?.degraded], [true, 2, undefined]);
    strictEqual(bad?.degraded, true);
    strictEqual(bad?.cause?.code, 'ERR_STORE');
    ok(/WRONGTYPE/.test(String(bad?.cause?.message)), String(bad?.cause?.message));
  });

  test('a burst on one key writes the key once per script call, not once per call', async () => {
    const limiter = limiterOf(tokenBucket({ capacity: 10, refillPerSecond: 1 }));
    await limiter.peek('warm-up');
    const before = await commandCalls('set');
    const decisions = await Promise.all(Array.from({ length: 20 }, () => limiter.consume('burst')));
    // The first call goes alone and writes at once; the other 19 go as one batch, whose last
    // charge is the one written.
    strictEqual((await commandCalls('set')) - before, 2);
    deepStrictEqual(
      decisions.map((d) => [d.allowed, d.remaining]),
      Array.from({ length: 20 }, (_, i) => (i < 10 ? [true, 9 - i] : [false, 0])),
    );
    deepStrictEqual([(await limiter.peek('burst')).remaining, (await limiter.peek('other')).remaining], [0, 10]);
  });

  test('a burst whose writes the server refuses fails each of its calls; none reports a charge', async () => {
    const own = await startRedis();
    const admin = new Redis(own.port, '127.0.0.1');
    const c = storeClient(own.port);
    try {
      await whenReady(c);
      const limiter = createLimiter({
        algorithm: fixedWindow({ limit: 100, windowMs: 60_000 }),
        store: new RedisStore({ client: c, timeoutMs: PATIENT_MS, denyCache: false }),
        prefix: randomPrefix('oom'),
        onStoreError: 'deny',
        onOutage: () => undefined,
      });
      await limiter.peek('warm-up');
      // Every write is over the memory limit (noeviction, the default policy): Redis refuses it.
      await admin.config('SET', 'maxmemory', '1');
      const decisions = await Promise.all(Array.from({ length: 8 }, () => limiter.consume('k')));
      for (const d of decisions) {
        deepStrictEqual([d.allowed, d.degraded, d.cause?.code], [false, true, 'ERR_STORE']);
        ok(/OOM/.test(String(d.cause?.message)), String(d.cause?.message));
      }
      await admin.config('SET', 'maxmemory', '0');
      strictEqual((await limiter.consume('k')).remaining, 99, 'no charge was kept');
    } finally {
      admin.disconnect();
      closeClient(c);
      await own.stop();
    }
  });

  test('a server that stops answering mid-batch gives each waiting call its onStoreError answer', async () => {
    const own = await startRedis();
    const c = storeClient(own.port);
    try {
      await whenReady(c);
      const limiter = createLimiter({
        algorithm: tokenBucket({ capacity: 100, refillPerSecond: 1 }),
        store: new RedisStore({ client: c, timeoutMs: 200, denyCache: false }),
        prefix: randomPrefix('paused'),
        onStoreError: 'deny',
        onOutage: () => undefined,
      });
      await limiter.peek('warm-up');
      own.signal('SIGSTOP');
      const decisions = await Promise.all(Array.from({ length: 100 }, (_, i) => limiter.consume(`k${i}`)));
      own.signal('SIGCONT');
      for (const d of decisions) {
        deepStrictEqual([d.allowed, d.degraded, d.cause?.code], [false, true, 'ERR_STORE_TIMEOUT']);
      }
      const after = await limiter.consume('k0');
      strictEqual(after.degraded, undefined, 'Redis-backed again once the server answers');
    } finally {
      own.signal('SIGCONT');
      closeClient(c);
      await own.stop();
    }
  });

  // The TS-vs-Lua property, with batches: calls made together at one instant are decided, in
  // Redis, in the order they were made, exactly as the memory store decides them one by one.
  test('batches decide exactly like the memory store calling one by one (property)', () =>
    batchesDecideLikeMemory({
      store: (clock) => new RedisStore({ client: forStore, timeoutMs: PATIENT_MS, clock, denyCache: false }),
      keys: () => ['a', 'b', 'c'],
      numRuns: 150,
    }));
});
