import { strict as assert } from 'node:assert';
import { after, describe, test } from 'node:test';
import {
  type Algorithm,
  createLimiter,
  type Decision,
  FloodgateError,
  fixedWindow,
  type Limiter,
  type LimiterOptions,
  MemoryStore,
  RedisStore,
  type SlidingWindowLogState,
  slidingWindowCounter,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { Redis } from './helpers/ioredis.js';
import { freePort } from './helpers/redis.js';

const quiet = { onOutage: () => {} };

function sync(d: Decision | Promise<Decision>): Decision {
  assert.ok(!(d instanceof Promise), 'the memory store decides synchronously');
  return d;
}

/** Calls `key` until denied (at most `limit + 5` times) and returns how many calls were allowed. */
async function allowedCalls(limiter: Limiter, key: string, limit: number, between?: () => void): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < limit + 5; i++) {
    between?.();
    const d = await limiter.consume(key);
    if (!d.allowed) break;
    allowed++;
  }
  return allowed;
}

// A client of a Redis that is not there: every call on the store fails at once with
// ERR_STORE_UNAVAILABLE, and the fallback memory store decides. Nothing listens on the port.
const clients: Redis[] = [];
after(() => {
  for (const client of clients) client.disconnect();
});
async function unreachableRedis(): Promise<RedisStore> {
  const client = new Redis(await freePort(), '127.0.0.1', { retryStrategy: () => 1_000 });
  client.on('error', () => {});
  clients.push(client);
  return new RedisStore({ client });
}

describe('a flood of one-call keys at a full store: 2 × maxKeys of them', () => {
  const MAX_KEYS = 1_000;
  const LIMIT = 5;
  const algorithms: Record<string, () => LimiterOptions> = {
    'sliding log': () => ({ algorithm: slidingWindowLog({ limit: LIMIT, windowMs: 900_000 }) }),
    'token bucket': () => ({ algorithm: tokenBucket({ capacity: LIMIT, refillPerSecond: LIMIT / 900 }) }),
    'fixed window': () => ({ algorithm: fixedWindow({ limit: LIMIT, windowMs: 900_000 }) }),
    'sliding window counter': () => ({ algorithm: slidingWindowCounter({ limit: LIMIT, windowMs: 900_000 }) }),
    // Two states per key, one per policy; the hourly log is the one the victim spends.
    'two policies': () => ({
      policies: {
        burst: tokenBucket({ capacity: 2, refillPerSecond: 1 }),
        hourly: slidingWindowLog({ limit: LIMIT, windowMs: 3_600_000 }),
      },
    }),
  };
  const setups = {
    "onStoreError 'allow'": async (store: MemoryStore) => ({ store, onStoreError: 'allow' as const }),
    "onStoreError 'deny'": async (store: MemoryStore) => ({ store, onStoreError: 'deny' as const }),
    'the memory store as the fallback of an unreachable Redis': async (store: MemoryStore) => ({
      store: await unreachableRedis(),
      onStoreError: store,
    }),
  };
  for (const [setup, options] of Object.entries(setups)) {
    for (const [name, algorithm] of Object.entries(algorithms)) {
      test(`${setup}, ${name}: a spent key stays denied and a new key after the flood gets exactly its limit`, async () => {
        let now = 0;
        const store = new MemoryStore({ clock: () => now, maxKeys: MAX_KEYS, sweepIntervalMs: false });
        const limiter = createLimiter({ ...algorithm(), ...(await options(store)), ...quiet });
        const fallback = setup.includes('fallback');
        // Calls a second apart, so that the burst policy never binds.
        const tick = (): void => {
          now += 1_000;
        };
        assert.equal(await allowedCalls(limiter, 'victim', LIMIT, tick), LIMIT, 'the victim spends its limit');
        for (let i = 0; i < 2 * MAX_KEYS; i++) {
          now += 1;
          const d = await limiter.consume(`attacker:${i}`);
          assert.deepEqual([d.allowed, d.degraded === true], [true, fallback], `attacker:${i}`);
          if (fallback) assert.equal(d.cause?.code, 'ERR_STORE_UNAVAILABLE');
        }
        assert.ok(store.size <= MAX_KEYS, `${store.size} states held`);
        const victim = await limiter.consume('victim');
        assert.deepEqual([victim.allowed, victim.remaining], [false, 0], 'the flood did not reset the victim');
        assert.equal(victim.degraded === true, fallback, 'the store itself decided');
        assert.equal(await allowedCalls(limiter, 'newcomer', LIMIT, tick), LIMIT, 'no more and no less than its limit');
      });
    }
  }
});

describe('making room', () => {
  test('a new key at a full store is decided by the store: limited, never degraded, whatever onStoreError', async () => {
    for (const onStoreError of ['allow', 'deny', 'throw'] as const) {
      const store = new MemoryStore({ clock: () => 0, maxKeys: 100, sweepIntervalMs: false });
      const limiter = createLimiter({
        algorithm: slidingWindowLog({ limit: 10, windowMs: 60_000 }),
        store,
        onStoreError,
      });
      for (let i = 0; i < 100; i++) sync(limiter.decide(`live:${i}`));
      const decisions = [];
      for (let i = 0; i < 11; i++) decisions.push(await limiter.consume('new'));
      assert.deepEqual(
        decisions.map((d) => [d.allowed, d.degraded]),
        [...Array.from({ length: 10 }, () => [true, undefined]), [false, undefined]],
        onStoreError,
      );
      assert.equal(store.size, 100);
    }
  });

  test("a victim's spent state is never dropped by flooding other keys between its calls", async () => {
    let now = 0;
    const store = new MemoryStore({ clock: () => now, maxKeys: 1_000, sweepIntervalMs: false });
    const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 10, windowMs: 60_000 }), store });
    for (let i = 0; i < 1_000; i++) sync(limiter.decide(`live:${i}`));
    for (let i = 0; i < 10; i++) assert.ok((await limiter.consume('victim')).allowed);
    // An attacker floods fresh keys between each of the victim's calls, the way an LRU store is
    // made to forget a victim.
    for (let round = 0; round < 40; round++) {
      for (let j = 0; j < 1_000; j++) {
        now += 1;
        assert.ok(sync(limiter.decide(`attacker:${round}:${j}`)).allowed);
      }
      const d = await limiter.consume('victim');
      assert.deepEqual([d.allowed, d.remaining, d.degraded], [false, 0, undefined], `round ${round}`);
    }
    assert.equal(store.size, 1_000);
  });

  test('new keys take the room of expired state and of states that count no more: spent keys keep their limits', () => {
    let now = 0;
    const store = new MemoryStore({ clock: () => now, maxKeys: 100, sweepIntervalMs: false });
    const short = createLimiter({ algorithm: slidingWindowLog({ limit: 1, windowMs: 1_000 }), store, prefix: 's' });
    const long = createLimiter({ algorithm: slidingWindowLog({ limit: 2, windowMs: 60_000 }), store, prefix: 'l' });
    for (let i = 0; i < 50; i++) {
      sync(short.decide(`k${i}`));
      sync(long.decide(`k${i}`));
      sync(long.decide(`k${i}`));
    }
    now = 1_000;
    const newcomer = createLimiter({
      algorithm: tokenBucket({ capacity: 1, refillPerSecond: 0.001 }),
      store,
      prefix: 'n',
    });
    for (let i = 0; i < 200; i++) assert.deepEqual(pick(sync(newcomer.decide(`new${i}`))), [true, undefined]);
    for (let i = 0; i < 50; i++) assert.equal(sync(long.decide(`k${i}`)).allowed, false, `k${i} stays limited`);
    assert.equal(store.size, 100);
  });

  test('when every state looked at has been used more than a new key will be, the least used of them goes', async () => {
    const store = new MemoryStore({ clock: () => 0, maxKeys: 64, sweepIntervalMs: false });
    const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }), store });
    // 64 keys, all spent but every eighth, which has used 2 of its 5: any 32 looked at in turn
    // hold some of those.
    const cheap = (i: number): boolean => i % 8 === 0;
    for (let i = 0; i < 64; i++) for (let c = 0; c < (cheap(i) ? 2 : 5); c++) sync(limiter.decide(`k${i}`));
    assert.ok(sync(limiter.decide('new')).allowed);
    assert.equal(store.size, 64);
    const peeks = await Promise.all(Array.from({ length: 64 }, (_, i) => limiter.peek(`k${i}`)));
    const dropped = peeks.flatMap((d, i) => (d.remaining === 5 ? [i] : []));
    assert.equal(dropped.length, 1, `dropped: ${dropped.join(', ')}`);
    assert.ok(cheap(dropped[0] as number), `k${dropped[0]} was dropped`);
  });

  test("a user's own algorithm is weighed by what it reports: a key it refuses even a free call is kept", () => {
    // A fixed window counter, with a state the store knows nothing of, that also blocks a key for
    // the rest of its window once it is spent: a free call is refused then, with `remaining` left
    // at 1 (a state that says little about how much was used).
    interface Window {
      start: number;
      count: number;
    }
    const LIMIT = 3;
    const WINDOW_MS = 60_000;
    const fixedWindow: Algorithm<Window> = {
      name: 'fixed-window-that-holds-a-spent-key',
      limit: LIMIT,
      windowMs: WINDOW_MS,
      evaluate(state, now, cost, charge) {
        const live = state !== undefined && now < state.start + WINDOW_MS;
        const count = live ? state.count : 0;
        const resetMs = live ? state.start + WINDOW_MS - now : 0;
        if (count >= LIMIT) return { allowed: false, limit: LIMIT, remaining: 1, resetMs, retryAfterMs: resetMs };
        const allowed = count + cost <= LIMIT;
        const after = charge && allowed ? count + cost : count;
        return { allowed, limit: LIMIT, remaining: LIMIT - after, resetMs, retryAfterMs: allowed ? 0 : resetMs };
      },
      charge(state, now, cost) {
        return state !== undefined && now < state.start + WINDOW_MS
          ? { start: state.start, count: state.count + cost }
          : { start: now, count: cost };
      },
      refund: (state, now, cost) =>
        state !== undefined && now < state.start + WINDOW_MS
          ? { start: state.start, count: Math.max(0, state.count - cost) }
          : undefined,
      expiresAt: (state) => state.start + WINDOW_MS,
    };
    const store = new MemoryStore({ clock: () => 0, maxKeys: 10, sweepIntervalMs: false });
    const limiter = createLimiter({ algorithm: fixedWindow, store });
    for (let c = 0; c < LIMIT; c++) assert.ok(sync(limiter.decide('blocked')).allowed);
    for (let i = 0; i < 9; i++) {
      sync(limiter.decide(`two:${i}`));
      sync(limiter.decide(`two:${i}`));
    }
    for (let i = 0; i < 100; i++) assert.ok(sync(limiter.decide(`flood:${i}`)).allowed);
    assert.equal(store.size, 10);
    assert.equal(sync(limiter.decide('blocked')).allowed, false, 'the blocked key was kept');
  });

  test('regression: a full store scanned every key per refused call; now a new key looks at a few states at most', () => {
    // Count the store's calls into the algorithm: a scan showed as maxKeys of them per new key.
    let calls = 0;
    const log = slidingWindowLog({ limit: 10, windowMs: 60_000 });
    const counted: Algorithm<SlidingWindowLogState> = {
      ...log,
      evaluate(state, now, cost, charge) {
        calls++;
        return log.evaluate(state, now, cost, charge);
      },
      expiresAt(state) {
        calls++;
        return log.expiresAt(state);
      },
    };
    let now = 0;
    const maxKeys = 10_000;
    const store = new MemoryStore({ clock: () => now, maxKeys, sweepIntervalMs: false });
    const limiter = createLimiter({ algorithm: counted, store, onStoreError: 'throw' });
    // Spent keys: a new key finds none it may drop cheaply and looks as far as it ever does.
    for (let i = 0; i < maxKeys; i++) for (let c = 0; c < 10; c++) sync(limiter.decide(`live:${i}`));
    calls = 0;
    const flood = 1_000;
    for (let i = 0; i < flood; i++) {
      now += 1;
      assert.ok(sync(limiter.decide(`attacker:${i}`)).allowed);
    }
    // Per new key: its own evaluation, two small sweeps of 4 (its table's and the table whose turn
    // it is), and at most 33 states weighed.
    assert.ok(calls <= flood * (1 + 8 + 33), `${calls} calls into the algorithm for ${flood} new keys`);
  });
});

describe('more than one policy', () => {
  test('a new key at a full store makes room for every policy before charging any', () => {
    const store = new MemoryStore({ clock: () => 0, maxKeys: 3, sweepIntervalMs: false });
    const limiter = createLimiter({
      policies: {
        burst: tokenBucket({ capacity: 2, refillPerSecond: 0.001 }),
        hourly: slidingWindowLog({ limit: 5, windowMs: 3_600_000 }),
      },
      store,
      onStoreError: 'throw',
    });
    sync(limiter.decide('a'));
    assert.equal(store.size, 2);
    const b = sync(limiter.decide('b'));
    assert.deepEqual([b.policies?.burst?.remaining, b.policies?.hourly?.remaining], [1, 4]);
    assert.ok(store.size <= 3, `${store.size} states with maxKeys 3`);
  });

  test("a key's own states are never dropped to make room for its other policies", () => {
    let now = 0;
    const store = new MemoryStore({ clock: () => now, maxKeys: 2, sweepIntervalMs: false });
    const limiter = createLimiter({
      policies: {
        short: slidingWindowLog({ limit: 5, windowMs: 100 }),
        long: slidingWindowLog({ limit: 5, windowMs: 3_600_000 }),
      },
      store,
    });
    sync(limiter.decide('k'));
    sync(limiter.decide('k'));
    now = 200;
    // k's short state has expired; k needs it back, and the only other state is k's long one.
    const d = sync(limiter.decide('k'));
    assert.deepEqual([d.allowed, d.policies?.long?.remaining, d.policies?.short?.remaining], [true, 2, 4]);
    assert.equal(store.size, 2);
  });

  test('regression: a multi-policy call whose own expired state the sweep dropped overshot maxKeys', async () => {
    let now = 0;
    const store = new MemoryStore({ clock: () => now, maxKeys: 2, sweepIntervalMs: false });
    const both = createLimiter({
      policies: {
        a: slidingWindowLog({ limit: 5, windowMs: 100 }),
        b: tokenBucket({ capacity: 5, refillPerSecond: 1000 }),
      },
      store,
      onStoreError: 'throw',
    });
    const onlyB = createLimiter({ policies: { b: tokenBucket({ capacity: 5, refillPerSecond: 1000 }) }, store });
    const other = createLimiter({
      algorithm: slidingWindowLog({ limit: 5, windowMs: 100_000 }),
      store,
      prefix: 'other',
    });
    await both.consume('k');
    now = 200;
    // k's two states have expired; one is gone (a background pass drops one table at a time).
    await onlyB.reset('k');
    await other.consume('z');
    assert.equal(store.size, 2);
    // k needs two states and the store has room for one: it used to admit k and hold 3.
    assert.equal((await both.consume('k')).allowed, true);
    assert.ok(store.size <= 2, `store holds ${store.size} states with maxKeys 2`);
  });

  test('a limiter with more policies than maxKeys could hold no key at all: createLimiter throws', () => {
    const store = new MemoryStore({ maxKeys: 1, sweepIntervalMs: false });
    const policies = {
      burst: tokenBucket({ capacity: 2, refillPerSecond: 1 }),
      hourly: slidingWindowLog({ limit: 5, windowMs: 3_600_000 }),
    };
    assert.throws(
      () => createLimiter({ policies, store, prefix: 'api' }),
      (e: unknown) =>
        e instanceof FloodgateError &&
        e.code === 'ERR_INVALID_OPTION' &&
        e.message ===
          'MemoryStore: maxKeys must be at least the number of policies of each limiter bound to the store (a key holds one state per policy), got 1 for prefix "api" with 2 policies',
    );
    // As a fallback store too: the fallback is bound when the limiter is created.
    assert.throws(
      () => createLimiter({ policies, store: new MemoryStore({ sweepIntervalMs: false }), onStoreError: store }),
      (e: unknown) => e instanceof FloodgateError && e.code === 'ERR_INVALID_OPTION',
    );
  });
});

describe('blocked keys', () => {
  test('a blocked key is never dropped to make room: neither its block nor its state', async () => {
    let now = 0;
    const store = new MemoryStore({ clock: () => now, maxKeys: 10, sweepIntervalMs: false });
    const limiter = createLimiter({
      algorithm: slidingWindowLog({ limit: 1, windowMs: 120_000 }),
      store,
      blockDurationMs: 60_000,
    });
    assert.ok(sync(limiter.decide('blocked')).allowed);
    assert.equal(sync(limiter.decide('blocked')).blocked, true);
    // One-call keys, cheaper to drop than anything, but neither of the blocked key's two states.
    for (let i = 0; i < 100; i++) {
      now += 1;
      assert.ok(sync(limiter.decide(`flood:${i}`)).allowed);
    }
    assert.equal(store.size, 10);
    assert.equal(sync(limiter.decide('blocked')).blocked, true);
    // Past the block, the state it kept decides: the call of its window still counts.
    now = 60_000;
    const after = await limiter.peek('blocked');
    assert.deepEqual([after.allowed, after.blocked, after.remaining], [false, undefined, 0]);
  });

  test('a store full of blocked keys gives up the block ending soonest, and keeps limiting', async () => {
    const now = 0;
    const store = new MemoryStore({ clock: () => now, maxKeys: 4, sweepIntervalMs: false });
    const limiter = createLimiter({
      algorithm: tokenBucket({ capacity: 1, refillPerSecond: 0.001 }),
      store,
      onStoreError: 'throw',
      ...quiet,
    });
    await limiter.consume('a');
    await limiter.block('a', { durationMs: 1_000 });
    await limiter.block('b', { durationMs: 3_000 });
    await limiter.block('c', { durationMs: 2_000 });
    assert.equal(store.size, 4, "a's state and block, b's and c's blocks");
    // Nothing but blocked keys to weigh: a's block, the soonest to end, goes; not its state.
    assert.deepEqual(pick(await limiter.consume('d')), [true, undefined]);
    assert.equal(store.size, 4);
    const a = await limiter.peek('a');
    assert.deepEqual([a.allowed, a.blocked, a.remaining], [false, undefined, 0], "a's own limit still holds");
    for (const key of ['b', 'c']) assert.equal((await limiter.peek(key)).blocked, true, `${key} is still blocked`);
    assert.equal((await limiter.consume('d')).allowed, false, 'the new key is limited');
  });
  for (const policies of [1, 2]) {
    test(`a lock-out the store has no room for leaves the denial standing (${policies} ${policies === 1 ? 'policy' : 'policies'})`, async () => {
      // A store holding nothing but this key's states: the block could only take their room.
      const store = new MemoryStore({ clock: () => 0, maxKeys: policies, sweepIntervalMs: false });
      const limiter = createLimiter({
        policies: Object.fromEntries(
          Array.from({ length: policies }, (_, i) => [`p${i}`, slidingWindowLog({ limit: 2 + i, windowMs: 60_000 })]),
        ),
        store,
        blockDurationMs: 60_000,
        ...quiet,
      });
      const answers: [boolean, boolean | undefined][] = [];
      for (let i = 0; i < 5; i++) answers.push(pick(await limiter.consume('k')));
      assert.deepEqual(answers, [
        [true, undefined],
        [true, undefined],
        [false, undefined],
        [false, undefined],
        [false, undefined],
      ]);
      assert.equal(store.size, policies);
    });
  }
});

describe('limiters sharing a store', () => {
  test("one limiter's state for a key is not another's own: it is weighed, not a reason to refuse", async () => {
    const store = new MemoryStore({ clock: () => 0, maxKeys: 1, sweepIntervalMs: false });
    const api = createLimiter({ algorithm: slidingWindowLog({ limit: 100, windowMs: 60_000 }), store, prefix: 'api' });
    const login = createLimiter({
      algorithm: slidingWindowLog({ limit: 2, windowMs: 60_000 }),
      store,
      prefix: 'login',
      onStoreError: 'throw',
    });
    await api.consume('203.0.113.7');
    // The one state held is api's for the same key string: it makes room for login's.
    assert.deepEqual(pick(await login.consume('203.0.113.7')), [true, undefined]);
    assert.deepEqual(pick(await login.consume('203.0.113.7')), [true, undefined]);
    assert.deepEqual(pick(await login.consume('203.0.113.7')), [false, undefined]);
    assert.equal(store.size, 1);
  });
});

function pick(d: Decision): [boolean, boolean | undefined] {
  return [d.allowed, d.degraded];
}
