import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Algorithm, createLimiter, type RedisClient, RedisStore, slidingWindowLog, tokenBucket } from 'floodgate';
import { runContractScenario, storeContract } from 'floodgate/testing';
import { batchesDecideLikeMemory } from './helpers/batch-property.js';
import { closeClient, NODE_REDIS, storeCluster, TEST_CLIENT_LABEL, whenReady } from './helpers/clients.js';
import { Cluster, Redis } from './helpers/ioredis.js';
import { type RedisClusterServers, randomPrefix, startCluster } from './helpers/redis.js';

/** Timeouts are not under test here: a busy machine must not turn into a failure. */
const PATIENT_MS = 5000;

let servers: RedisClusterServers;
/** The stores' Cluster client, of the library FLOODGATE_TEST_CLIENT picks. */
let cluster: RedisClient;
/** A plain client per master, by port, to look at what landed where. */
const direct = new Map<number, Redis>();
/** For each slot, the port of the master serving it. */
const owner = new Map<number, number>();

before(async () => {
  servers = await startCluster(3);
  cluster = storeCluster(servers.startupNodes);
  await whenReady(cluster);
  for (const node of servers.nodes) direct.set(node.port, new Redis(node.port, '127.0.0.1'));
  const first = direct.values().next().value as Redis;
  for (const [from, to, master] of await first.cluster('SLOTS')) {
    for (let slot = from; slot <= to; slot++) owner.set(slot, master?.[1] as number);
  }
  strictEqual(new Set(owner.values()).size, 3, 'three masters serve the slots');
});

after(async () => {
  if (cluster !== undefined) closeClient(cluster);
  for (const c of direct.values()) c.disconnect();
  await servers?.stop();
});

async function slotOf(key: string): Promise<number> {
  return Number(await (direct.values().next().value as Redis).cluster('KEYSLOT', key));
}

describe(`redis store contract on a 3-master cluster (${TEST_CLIENT_LABEL})`, () => {
  for (const scenario of storeContract) {
    test(scenario.name, () =>
      runContractScenario(
        scenario,
        (clock) => new RedisStore({ client: cluster, timeoutMs: PATIENT_MS, clock }),
        randomPrefix('cc'),
      ),
    );
  }
});

describe('cluster key placement', () => {
  const policies = () => ({
    burst: tokenBucket({ capacity: 3, refillPerSecond: 1 }),
    hour: slidingWindowLog({ limit: 5, windowMs: 3_600_000 }),
  });

  test('both algorithms, multi-policy, on a key of each master, and keys with braces', async () => {
    const prefix = randomPrefix('place');
    const limiter = createLimiter({
      policies: policies(),
      store: new RedisStore({ client: cluster, timeoutMs: PATIENT_MS }),
      prefix,
      onStoreError: 'throw',
    });
    // One plain key per master, chosen by slot, plus keys whose braces would break a naive tag.
    const chosen = new Map<number, string>();
    for (let i = 0; chosen.size < 3 && i < 1000; i++) {
      const key = `user:${i}`;
      const port = owner.get(await slotOf(`${prefix}:{${key}}:burst`)) as number;
      if (!chosen.has(port)) chosen.set(port, key);
    }
    strictEqual(chosen.size, 3);
    const keys = [...chosen.values(), '{', '}', '{}', 'a{b}c', '}x{', '{user:1}', 'user:%7B'];
    for (const key of keys) {
      const got = [];
      for (let i = 0; i < 4; i++) got.push(await limiter.consume(key));
      deepStrictEqual(
        got.map((d) => [d.allowed, d.policy, d.remaining, d.degraded]),
        [
          [true, 'burst', 2, undefined],
          [true, 'burst', 1, undefined],
          [true, 'burst', 0, undefined],
          [false, 'burst', 0, undefined],
        ],
        key,
      );
      strictEqual(got[3]?.policies?.hour?.remaining, 2, `${key}: the denied call charged no policy`);
    }
    // Every key of one decision sits in one slot, on the master that owns it.
    const stored = new Map<number, string[]>();
    for (const [port, c] of direct) stored.set(port, await c.keys(`${prefix}:*`));
    const all = [...stored.values()].flat();
    strictEqual(all.length, keys.length * 2);
    for (const [port, found] of stored) {
      for (const key of found) {
        const slot = await slotOf(key);
        strictEqual(owner.get(slot), port, key);
        const sibling = key.endsWith(':burst') ? key.replace(/:burst$/, ':hour') : key.replace(/:hour$/, ':burst');
        strictEqual(await slotOf(sibling), slot, `${key} and ${sibling} share a slot`);
      }
    }
    for (const [port, key] of chosen) {
      ok(
        (stored.get(port) as string[]).some((k) => k.includes(`{${key}}`)),
        `${key} lives on master ${port}`,
      );
    }
    await limiter.reset('a{b}c');
    strictEqual((await limiter.consume('a{b}c')).remaining, 2, 'reset reaches the right master');
  });
});

/** Script calls (EVALSHA and EVAL) each master has run, by port, and the calls it refused with a redirection. */
async function scriptCalls(): Promise<Map<number, { calls: number; rejected: number }>> {
  const counts = new Map<number, { calls: number; rejected: number }>();
  for (const [port, c] of direct) {
    let calls = 0;
    let rejected = 0;
    for (const m of (await c.info('commandstats')).matchAll(
      /cmdstat_eval(?:sha)?:calls=(\d+).*?rejected_calls=(\d+)/g,
    )) {
      calls += Number(m[1]);
      rejected += Number(m[2]);
    }
    counts.set(port, { calls, rejected });
  }
  return counts;
}

function total(counts: Map<number, { calls: number }>): number {
  return [...counts.values()].reduce((sum, { calls }) => sum + calls, 0);
}

describe('batches across slots', () => {
  const policies = () => ({
    burst: tokenBucket({ capacity: 3, refillPerSecond: 0.001 }),
    pair: slidingWindowLog({ limit: 2, windowMs: 3_600_000 }),
  });
  /**
   * `count` keys of a limiter of `prefix` whose slots are all different (on `master` only, when
   * given), with the slot of each; `policy` names one of the limiter's policies.
   */
  async function keysInSlots(
    prefix: string,
    policy: string,
    count: number,
    master?: number,
  ): Promise<{ key: string; slot: number }[]> {
    const keys: { key: string; slot: number }[] = [];
    for (let i = 0; keys.length < count; i++) {
      const slot = await slotOf(`${prefix}:{k${i}}:${policy}`);
      if (master !== undefined && owner.get(slot) !== master) continue;
      if (!keys.some((k) => k.slot === slot)) keys.push({ key: `k${i}`, slot });
    }
    return keys;
  }
  async function spreadKeys(prefix: string, count: number): Promise<string[]> {
    return (await keysInSlots(prefix, 'burst', count)).map((k) => k.key);
  }
  /**
   * A limiter of `policies` (one log of 2 by default) on the Cluster that throws on a store
   * error, and three keys of one master in three slots: calls on them made together go, the
   * first alone, the other two in one batch for that master.
   */
  async function onOneMaster(
    label: string,
    policies: Record<string, Algorithm> = { default: slidingWindowLog({ limit: 2, windowMs: 3_600_000 }) },
  ) {
    const prefix = randomPrefix(label);
    const limiter = createLimiter({
      policies,
      store: new RedisStore({ client: cluster, timeoutMs: PATIENT_MS }),
      prefix,
      onStoreError: 'throw',
    });
    const [from, to] = [...direct.keys()] as [number, number];
    const keys = await keysInSlots(prefix, Object.keys(policies)[0] as string, 3, from);
    return { prefix, limiter, from, to, keys: keys as [(typeof keys)[0], (typeof keys)[0], (typeof keys)[0]] };
  }
  /** Marks `slot` as being moved from the master `from` to the master `to`, keys not yet moved. */
  async function startMove(slot: number, from: number, to: number): Promise<void> {
    const [source, target] = [direct.get(from) as Redis, direct.get(to) as Redis];
    await target.cluster('SETSLOT', slot, 'IMPORTING', String(await source.cluster('MYID')));
    await source.cluster('SETSLOT', slot, 'MIGRATING', String(await target.cluster('MYID')));
  }

  test('calls waiting together share one script call per master, and decide as calls one at a time would', async () => {
    const runs = new Map<boolean, number>();
    for (const batchAcrossSlots of [true, false]) {
      const prefix = randomPrefix('across');
      const limiter = createLimiter({
        policies: policies(),
        store: new RedisStore({ client: cluster, timeoutMs: PATIENT_MS, batchAcrossSlots }),
        prefix,
        onStoreError: 'throw',
      });
      const keys = await spreadKeys(prefix, 150);
      const before = await scriptCalls();
      // Each key three times, in one burst: the third call of each is denied by the log.
      const got = await Promise.all([...keys, ...keys, ...keys].map((key) => limiter.consume(key)));
      runs.set(batchAcrossSlots, total(await scriptCalls()) - total(before));
      for (let i = 0; i < keys.length; i++) {
        const calls = [got[i], got[i + keys.length], got[i + 2 * keys.length]];
        deepStrictEqual(
          calls.map((d) => [d?.allowed, d?.policy, d?.remaining, d?.degraded]),
          [
            [true, 'pair', 1, undefined],
            [true, 'pair', 0, undefined],
            [false, 'pair', 0, undefined],
          ],
          keys[i],
        );
        strictEqual(calls[2]?.policies?.burst?.remaining, 1, `${keys[i]}: the denied call charged no policy`);
      }
    }
    const across = runs.get(true) as number;
    const perSlot = runs.get(false) as number;
    // 450 calls on 150 slots: per slot, one script call per slot (the first call alone); across
    // slots, at most 64 calls to a script call, per master.
    ok(perSlot >= 150, `one script call per slot: ${perSlot}`);
    ok(across <= 30, `one script call per master and 64 calls: ${across} (per slot: ${perSlot})`);
  });

  test('calls across slots decide exactly like the memory store calling one by one (property)', () => {
    const master = owner.get(0) as number;
    return batchesDecideLikeMemory({
      store: (clock) => new RedisStore({ client: cluster, timeoutMs: PATIENT_MS, clock, denyCache: false }),
      // Three keys of one master in three slots: the calls made together go in one batch.
      async keys(prefix) {
        const found = await keysInSlots(prefix, 'default', 3, master);
        return found.map((k) => k.key) as [string, string, string];
      },
      numRuns: 60,
    });
  });

  // ioredis puts its keyPrefix before the keys a command declares, not before its arguments.
  test('an ioredis keyPrefix applies to the keys passed as arguments too', { skip: NODE_REDIS }, async () => {
    const prefixed = new Cluster([...servers.startupNodes], { redisOptions: { keyPrefix: 'kp:' } });
    try {
      await whenReady(prefixed);
      const prefix = randomPrefix('kp');
      const limiter = createLimiter({
        algorithm: slidingWindowLog({ limit: 2, windowMs: 3_600_000 }),
        store: new RedisStore({ client: prefixed, timeoutMs: PATIENT_MS }),
        prefix,
        onStoreError: 'throw',
      });
      const keys = await spreadKeys(`kp:${prefix}`, 60);
      const before = total(await scriptCalls());
      const got = await Promise.all([...keys, ...keys, ...keys].map((key) => limiter.consume(key)));
      ok(total(await scriptCalls()) - before <= 20, 'the calls went in batches across slots');
      deepStrictEqual(
        got.map((d) => d.allowed),
        [...keys.map(() => true), ...keys.map(() => true), ...keys.map(() => false)],
      );
      const stored: string[] = [];
      for (const c of direct.values()) stored.push(...(await c.keys(`*${prefix}:*`)));
      strictEqual(stored.length, keys.length, 'one log per key');
      ok(
        stored.every((k) => k.startsWith(`kp:${prefix}:`)),
        `every key under the client's prefix: ${stored.slice(0, 5)}`,
      );
    } finally {
      prefixed.disconnect();
    }
  });

  test("a batch refused for its first call's slot, being moved, is sent again call by call", async () => {
    const { limiter, from, to, keys } = await onOneMaster('moving');
    const [lone, moving, other] = keys;
    strictEqual((await limiter.consume(moving.key)).remaining, 1);
    // The slot half moved: its log still where it was, its lock-out key nowhere. Redis sends a
    // command on both keys to the new master, which asks to try again until the move is done.
    const [source, target] = [direct.get(from) as Redis, direct.get(to) as Redis];
    await startMove(moving.slot, from, to);
    try {
      const got = await Promise.allSettled([lone, moving, other].map(({ key }) => limiter.consume(key)));
      deepStrictEqual(
        got.map((r) => (r.status === 'fulfilled' ? [r.value.allowed, r.value.remaining] : 'failed')),
        [[true, 1], 'failed', [true, 1]],
        'the call on the other slot was decided, alone, after its batch was refused',
      );
    } finally {
      await target.cluster('SETSLOT', moving.slot, 'STABLE');
      await source.cluster('SETSLOT', moving.slot, 'STABLE');
    }
    strictEqual((await limiter.consume(moving.key)).remaining, 0, 'the refused call charged nothing');
  });

  test('a call refused across slots has changed nothing: a refund on a blocked key half moved is not applied twice', async () => {
    const { prefix, limiter, from, to, keys } = await onOneMaster('half', {
      a: slidingWindowLog({ limit: 3, windowMs: 3_600_000 }),
      b: slidingWindowLog({ limit: 3, windowMs: 3_600_000 }),
    });
    const [lone, stays, half] = keys;
    await limiter.consume(half.key);
    await limiter.consume(half.key);
    await limiter.block(half.key, { durationMs: 60_000 });
    // Policy b's log moves to the other master; policy a's log and the lock-out stay. A refund
    // that ran where the batch went would give a unit back to a, then fail on b.
    const [source, target] = [direct.get(from) as Redis, direct.get(to) as Redis];
    await startMove(half.slot, from, to);
    await source.migrate('127.0.0.1', to, `${prefix}:{${half.key}}:b`, 0, 5000);
    const logA = `${prefix}:{${half.key}}:a`;
    try {
      const got = await Promise.allSettled([
        limiter.consume(lone.key),
        limiter.consume(stays.key),
        limiter.refund(half.key, { cost: 1 }),
      ]);
      deepStrictEqual(
        got.map((r) => r.status),
        ['fulfilled', 'fulfilled', 'rejected'],
        'the refund on the half-moved key cannot be decided until the move is done',
      );
      strictEqual(await source.llen(logA), 2, "policy a's log kept both entries: the refund ran nowhere");
    } finally {
      // The move undone: b's log back where it was, the slot stable on its master again.
      await source.cluster('SETSLOT', half.slot, 'STABLE');
      await target.migrate('127.0.0.1', from, `${prefix}:{${half.key}}:b`, 0, 5000);
      await target.cluster('SETSLOT', half.slot, 'STABLE');
    }
    deepStrictEqual(
      [await source.llen(logA), await source.llen(`${prefix}:{${half.key}}:b`)],
      [2, 2],
      'both logs back on their master, as they were',
    );
  });

  test('a call whose slot moved to another master is sent again alone, and finds its state there', async () => {
    const { prefix, limiter, from, to, keys } = await onOneMaster('moved');
    const [lone, stays, moves] = keys;
    strictEqual((await limiter.consume(moves.key)).remaining, 1);
    strictEqual((await limiter.consume(moves.key)).remaining, 0);
    // Move the third key's slot to another master, with its keys, behind the store's client.
    const source = direct.get(from) as Redis;
    const target = direct.get(to) as Redis;
    const ids = new Map<number, string>();
    for (const [port, c] of direct) ids.set(port, String(await c.cluster('MYID')));
    const move = async (slot: number, a: number, b: number) => {
      const ra = direct.get(a) as Redis;
      await startMove(slot, a, b);
      const moving = (await ra.cluster('GETKEYSINSLOT', slot, 100)) as string[];
      if (moving.length > 0) await ra.migrate('127.0.0.1', b, '', 0, 5000, 'KEYS', ...moving);
      for (const c of direct.values()) await c.cluster('SETSLOT', slot, 'NODE', ids.get(b) as string);
      owner.set(slot, b);
    };
    await move(moves.slot, from, to);
    // What the old master runs: the batch of the two waiting calls must reach it, as one.
    const monitor = await source.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args));
    try {
      strictEqual(await target.exists(`${prefix}:{${moves.key}}:default`), 1, 'the log moved');
      const got = await Promise.all([lone, stays, moves].map(({ key }) => limiter.consume(key)));
      deepStrictEqual(
        got.map((d) => [d.allowed, d.remaining, d.degraded]),
        [
          [true, 1, undefined],
          [true, 1, undefined],
          [false, 0, undefined],
        ],
        'the moved key was decided where its log went, with its two entries',
      );
      // EVALSHA sha numkeys keys… args…: the batch declares the first call's two keys and passes
      // the moved key's after a count of -2.
      const across = seen.filter((args) => /^evalsha$/i.test(args[0] ?? '') && args[2] === '2' && args[5] === '-2');
      strictEqual(across.length, 1, `one batch across slots reached the old master: ${JSON.stringify(seen)}`);
      ok(across[0]?.includes(`${prefix}:{${moves.key}}:default`), 'with the moved key among its arguments');
    } finally {
      monitor.disconnect();
      await move(moves.slot, to, from);
    }
  });
});
