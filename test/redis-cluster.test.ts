import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLimiter, type RedisClient, RedisStore, slidingWindowLog, tokenBucket } from 'floodgate';
import { runContractScenario, storeContract } from 'floodgate/testing';
import { closeClient, storeCluster, TEST_CLIENT_LABEL, whenReady } from './helpers/clients.js';
import { Redis } from './helpers/ioredis.js';
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
