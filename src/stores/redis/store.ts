import { conflictingPolicy, signature } from '../../algorithms/contract.js';
import { type Clock, checkedClock, MAX_TIMER_MS, monotonicClock } from '../../clock.js';
import { FloodgateError } from '../../errors.js';
import { checkOptionsObject, integerInRange, invalidOption, optionalFunction, show } from '../../options.js';
import type { BindOptions, Decision, LuaTwin, PolicySpec, Store, StoreBinding } from '../../types.js';
import { applyBlock } from '../block.js';
import { pairDecideThen } from '../decide-then.js';
import { Batcher } from './batch.js';
import { Caller, rethrow, same } from './call.js';
import { ACCEPTED_CLIENTS, portOf } from './clients.js';
import { DenyCache, PrefixCaches } from './deny-cache.js';
import { resolveEvictionWarn, startEvictionCheck } from './eviction.js';
import { hashTag, redisKey } from './keys.js';
import type { RedisClient } from './port.js';
import { isLegacyMode } from './port-node-redis.js';
import { decideScript, decisionBytes, MAX_POLICIES, OP } from './script.js';
import { slotOf } from './slot.js';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /**
   * The Redis client: an ioredis `Redis` or `Cluster` (ioredis 5 or 6), or a node-redis client
   * from `createClient` or `createCluster` (node-redis 4, 5 or 6). You create it, configure its
   * reconnection, connect it (node-redis) and close it; the store only sends commands while it
   * is ready. Required.
   */
  client: RedisClient;
  /**
   * Longest wait for Redis on one call, in milliseconds; past it the call fails with
   * `ERR_STORE_TIMEOUT` and the limiter's `onStoreError` decides. Defaults to 100: far above a
   * healthy round trip (well under 1 ms on a LAN), small enough that a stalled Redis never
   * stalls a request for long.
   */
  timeoutMs?: number;
  /**
   * Answer calls for a key that Redis just denied locally, without a round trip, until the wait
   * it gave has passed: calls of the denied cost with Redis's own figures, larger costs with a
   * wait that is never too short. Keeps a hot abusive key from saturating Redis. A `reset`
   * through this store clears it, from any limiter with the same prefix; one in another process
   * cannot.
   * Defaults to `true`.
   */
  denyCache?: boolean;
  /**
   * While a call is waiting for Redis, hold further commands written to the client's socket in
   * the same tick and write them together on the next (`cork`/`uncork`, as node-redis does to its
   * own socket): one system call per burst instead of one per command, which under load is most
   * of what a call costs the client. Commands you send on the same client in that tick go out
   * with them, in order. Applies to a single-node ioredis client; a Cluster's sockets are left
   * alone, and node-redis already does this itself.
   * Defaults to `true`.
   */
  batchWrites?: boolean;
  /**
   * On a Cluster, let one script call decide the calls waiting together for every slot that one
   * master serves, rather than one script call per slot. Calls spread over many keys then share
   * script calls as they do on a single server, which about halves what a decision costs the
   * masters. Redis routes a script call by the keys it declares, which must share one
   * slot, so such a call declares its first call's keys and passes the others as arguments: a
   * script may touch any key its master serves. Should the Cluster move a slot meanwhile (a
   * resharding, a failover), the calls whose keys the master no longer serves run nothing there
   * and are sent again, each alone, to where the client's redirection takes them, and wait up to
   * `timeoutMs` again. An ioredis `keyPrefix` applies to the keys passed as arguments too; with a
   * prefix of bytes (a `Buffer`), calls are grouped by slot. Set it to `false` where something
   * between your app and the Cluster requires every key a script touches to be declared. Ignored
   * on a single server.
   * Defaults to `true`.
   */
  batchAcrossSlots?: boolean;
  /**
   * For tests and the contract suite only: milliseconds to decide at, passed to the script
   * instead of the Redis server's `TIME`. Keys still expire on Redis's own clock, which has no
   * relation to this one, so every PEXPIRE is then at least 60 s. Defaults to the Redis server's
   * clock, which every process shares.
   */
  clock?: () => number;
  /**
   * Where the store's once-only warning goes, or `false` for none (then it does not look). After
   * its first successful call, the store reads the server's `maxmemory-policy` (on a Cluster, its
   * masters'), and if that policy can evict rate-limit keys, which would silently reset limits,
   * warns with the code `FLOODGATE_REDIS_EVICTION`. Defaults to `process.emitWarning`, with the
   * type `FloodgateWarning`.
   */
  warn?: ((message: string, code: 'FLOODGATE_REDIS_EVICTION') => void) | false;
}

const OWNER = 'RedisStore';
/** The name of a key's block after its policies' names; no policy name can hold `!`. */
const BLOCK = '!block';
const DEFAULT_TIMEOUT_MS = 100;

function noMaster(): undefined {
  return undefined;
}

function isAllowed(decision: Decision): boolean {
  return decision.allowed;
}

/**
 * The Redis store: one shared state for every process, decided by one atomic Lua script per call
 * (all policies of a key checked and, if all allow, charged together) on the Redis server's clock,
 * so hosts with skewed clocks share one timeline. Works with a single Redis and with Redis Cluster.
 *
 * Keys are `${prefix}:{${key}}:${policy}`: the braces are a Cluster hash tag, so all policies of a
 * key share a slot (braces inside a key are escaped). Every key carries a PEXPIRE at the moment its
 * state stops mattering.
 *
 * When Redis is slow, down or not yet connected, calls fail fast with a coded error
 * (`ERR_STORE_TIMEOUT`, `ERR_STORE_UNAVAILABLE`, `ERR_STORE`) that the limiter's `onStoreError`
 * turns into a `degraded` Decision.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * const limiter = createLimiter({
 *   algorithm: slidingWindowLog({ limit: 100, windowMs: 60_000 }),
 *   store: new RedisStore({ client: new Redis(), timeoutMs: 50 }),
 *   onStoreError: new MemoryStore(),
 * });
 *
 * // or with node-redis, connected before use:
 * import { createClient } from 'redis';
 * const client = createClient({ url: 'redis://127.0.0.1:6379' });
 * client.on('error', () => {}); // the store reports failures through onStoreError
 * await client.connect();
 * const store = new RedisStore({ client });
 * ```
 */
export class RedisStore implements Store {
  readonly #caller: Caller;
  readonly #clock: Clock | undefined;
  readonly #denyCache: boolean;
  /** A Cluster client: batches then form by the hash slot of each call's keys, or by its master. */
  readonly #cluster: boolean;
  /** The master serving a slot, by which batches form on a Cluster; none when they form per slot. */
  readonly #masterOf: (slot: number) => unknown;
  /** What the client puts before a key it sends as a key. */
  readonly #keyPrefix: string;
  readonly #bound = new Map<string, string>();
  /**
   * Deny caches by prefix (see {@link PrefixCaches}), then by policy list. Limiters with the same
   * prefix and policies run the same script on the same keys, so they share one cache, and
   * limiters created over and over add none. A cache is held weakly, so limiters created and
   * dropped (one per tenant, say) leave nothing behind; a collected cache's entry is removed by
   * {@link RedisStore.#collected}, in time proportional to nothing but that entry.
   */
  readonly #denyCaches = new Map<string, PrefixCaches>();
  readonly #collected = new FinalizationRegistry<{ prefix: string; id: string }>(({ prefix, id }) => {
    const group = this.#denyCaches.get(prefix);
    // The entry may already hold a newer cache, bound after this one was collected.
    if (group === undefined || group.caches.get(id)?.deref() !== undefined) return;
    group.caches.delete(id);
    if (group.caches.size === 0) this.#denyCaches.delete(prefix);
  });

  constructor(options: RedisStoreOptions) {
    const given = checkOptionsObject(OWNER, options, [
      'client',
      'timeoutMs',
      'denyCache',
      'batchWrites',
      'batchAcrossSlots',
      'clock',
      'warn',
    ]);
    const port = portOf(given.client);
    if (port === undefined) {
      const legacy = isLegacyMode(given.client)
        ? ' (a node-redis client made with legacyMode: true answers through callbacks; make it without legacyMode)'
        : '';
      throw invalidOption(OWNER, 'client', `${ACCEPTED_CLIENTS}${legacy}`, given.client);
    }
    // Only `undefined` means "not given": a null is reported, never swapped for the default.
    const timeoutMs = integerInRange(
      OWNER,
      'timeoutMs',
      given.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : given.timeoutMs,
      1,
      MAX_TIMER_MS,
      `a positive integer number of milliseconds up to ${MAX_TIMER_MS}`,
    );
    const denyCache = given.denyCache === undefined ? true : given.denyCache;
    if (typeof denyCache !== 'boolean') throw invalidOption(OWNER, 'denyCache', 'true or false', denyCache);
    this.#cluster = port.cluster;
    this.#denyCache = denyCache;
    const batchWrites = given.batchWrites === undefined ? true : given.batchWrites;
    if (typeof batchWrites !== 'boolean') throw invalidOption(OWNER, 'batchWrites', 'true or false', batchWrites);
    const acrossSlots = given.batchAcrossSlots === undefined ? true : given.batchAcrossSlots;
    if (typeof acrossSlots !== 'boolean') {
      throw invalidOption(OWNER, 'batchAcrossSlots', 'true or false', acrossSlots);
    }
    this.#masterOf = port.cluster && acrossSlots ? (slot) => port.masterOf(slot) : noMaster;
    this.#keyPrefix = port.keyPrefix;
    const clock = optionalFunction<Clock>(OWNER, 'clock', given.clock);
    this.#clock = clock === undefined ? undefined : checkedClock(OWNER, clock);
    const warn = resolveEvictionWarn(OWNER, given.warn);
    this.#caller = new Caller(
      port,
      timeoutMs,
      batchWrites,
      () => {
        for (const group of this.#denyCaches.values()) group.clear();
      },
      // Once, after the first reply: the server answers by then, and no decision waits on it.
      warn === undefined ? undefined : () => startEvictionCheck(() => port.nodes(), warn),
    );
  }

  /** The deny caches of `prefix` on this store, made on first use. */
  #prefixCaches(prefix: string): PrefixCaches {
    let group = this.#denyCaches.get(prefix);
    if (group === undefined) {
      group = new PrefixCaches();
      this.#denyCaches.set(prefix, group);
    }
    return group;
  }

  /** The deny cache of these policies in `group`: the one already there, or a new one. */
  #cacheFor(group: PrefixCaches, prefix: string, policies: readonly PolicySpec[]): DenyCache {
    // Each name's algorithm is fixed per prefix by #bound, so the names identify the policies.
    const id = JSON.stringify(policies.map((p) => p.name));
    let cache = group.caches.get(id)?.deref();
    if (cache === undefined) {
      cache = new DenyCache(policies.map(({ algorithm }) => algorithm.redis?.msPerUnit));
      group.caches.set(id, new WeakRef(cache));
      this.#collected.register(cache, { prefix, id });
    }
    return cache;
  }

  /** @internal Binds a limiter's policies; see {@link Store.bind}. */
  bind(options: BindOptions): StoreBinding {
    const { prefix, policies } = options;
    if (prefix.includes('{') || prefix.includes('}')) {
      throw invalidOption(OWNER, 'prefix', 'a string without { or } (they would break the Cluster hash tag)', prefix);
    }
    // Sent as UTF-8, a lone surrogate becomes U+FFFD: prefixes that differ only there would share
    // keys. A key is hashed instead (see `storageKey`); a prefix, given once, is refused.
    if (!prefix.isWellFormed()) {
      throw invalidOption(
        OWNER,
        'prefix',
        'well-formed UTF-16, with no lone surrogate (Redis would read it as U+FFFD)',
        prefix,
      );
    }
    if (policies.length > MAX_POLICIES) {
      throw new FloodgateError(
        'ERR_INVALID_OPTION',
        `${OWNER}: a limiter on the Redis store may have at most ${MAX_POLICIES} policies, got ${policies.length}`,
      );
    }
    const tail: string[] = [];
    const shape: { lua: LuaTwin; argc: number }[] = [];
    for (const { name, algorithm } of policies) {
      const twin = algorithm.redis;
      if (twin === undefined) {
        throw new FloodgateError(
          'ERR_INVALID_OPTION',
          `${OWNER}: policy ${show(name)} uses the algorithm ${show(algorithm.name)}, which has no Redis twin (its redis member), so it cannot run on the Redis store; give it one, or use the MemoryStore`,
        );
      }
      const bound = signature(algorithm);
      const id = `${prefix}\u0000${name}`;
      const existing = this.#bound.get(id);
      if (existing !== undefined && existing !== bound) throw conflictingPolicy(OWNER, prefix, name, existing);
      this.#bound.set(id, bound);
      // Strings, because a number handed to redis.call is formatted by the server on every call.
      for (const param of twin.params) tail.push(String(param));
      shape.push({ lua: twin.lua, argc: twin.params.length });
    }
    const lockout = String(options.blockDurationMs);
    const locksOut = options.blockDurationMs > 0;
    const names = policies.map((p) => p.name);
    const limits = policies.map((p) => p.algorithm.limit);
    const count = policies.length;
    const caller = this.#caller;
    const clock = this.#clock;
    const localClock = clock ?? monotonicClock;
    const group = this.#denyCache ? this.#prefixCaches(prefix) : undefined;
    const cache = group === undefined ? undefined : this.#cacheFor(group, prefix, policies);
    const script = decideScript(shape);
    /** The Redis keys of a user key whose hash tag is `tag`: its policies', then its block's. */
    const keysOf = (tag: string): string[] => {
      const keys = names.map((name) => redisKey(prefix, tag, name));
      keys.push(redisKey(prefix, tag, BLOCK));
      return keys;
    };
    const bytes = decisionBytes(count);
    const batcher = new Batcher(
      caller,
      script,
      [lockout, clock === undefined ? '0' : '1', ...tail],
      bytes,
      this.#masterOf,
      this.#keyPrefix,
    );
    const cluster = this.#cluster;
    const argsOf = (cost: number, op: string, now: number | undefined): string[] =>
      now === undefined ? [String(cost), op] : [String(cost), op, String(now)];
    /** Milliseconds the key's block has left, from a call's Decisions at `at` in a reply. */
    const blockMsOf = (reply: Buffer, at: number): number => reply.readDoubleLE(at + 32 * count);
    function parse(reply: Buffer, at: number): Decision[] {
      const decisions: Decision[] = [];
      for (let i = 0; i < count; i++) {
        const o = at + 32 * i;
        decisions.push({
          allowed: reply.readDoubleLE(o) === 1,
          limit: limits[i] as number,
          remaining: reply.readDoubleLE(o + 8),
          resetMs: reply.readDoubleLE(o + 16),
          retryAfterMs: reply.readDoubleLE(o + 24),
        });
      }
      const blockMs = blockMsOf(reply, at);
      return blockMs > 0 ? applyBlock(decisions, blockMs) : decisions;
    }
    /** Sends one call through the batcher. */
    function send<T>(
      key: string,
      cost: number,
      op: string,
      now: number | undefined,
      onReply: (reply: Buffer, at: number) => T,
      onError: (error: unknown) => T | Promise<T>,
    ): Promise<T> {
      const tag = hashTag(key);
      return batcher.send(keysOf(tag), argsOf(cost, op, now), cluster ? slotOf(tag) : 0, onReply, onError);
    }

    function decideThen<T>(
      key: string,
      cost: number,
      charge: boolean,
      settled: (decisions: readonly Decision[]) => T,
      failed: (error: unknown) => T | Promise<T>,
    ): T | Promise<T> {
      const now = clock?.();
      // Only a healthy store serves denials locally: during an outage every call goes through
      // onStoreError, so a cached answer never passes for a recovery and re-reports the outage.
      if (cache !== undefined && caller.healthy) {
        const hit = cache.get(key, cost, now, localClock, locksOut && charge && cost > 0);
        if (hit !== undefined) return settled(hit);
      }
      const op = charge ? OP.consume : OP.peek;
      if (cache === undefined || group === undefined) {
        return send(key, cost, op, now, (reply, at) => settled(parse(reply, at)), failed);
      }
      const charging = charge && cost > 0;
      if (charging) group.drop(key);
      // Read before the call is sent: a reset after this point may have deleted what it denies.
      const generation = cache.generation;
      return send(
        key,
        cost,
        op,
        now,
        (reply, at) => {
          const decisions = parse(reply, at);
          if (charging && decisions.every(isAllowed)) group.drop(key);
          // Counting down from the reply's arrival (not the send) can only make a cached wait longer.
          else cache.set(key, cost, generation, now, localClock, decisions, blockMsOf(reply, at));
          return settled(decisions);
        },
        failed,
      );
    }

    const decide = (key: string, cost: number, charge: boolean) =>
      decideThen<readonly Decision[]>(key, cost, charge, same, rethrow);
    pairDecideThen(decide, decideThen);
    // A refund or a block changes what the deny caches hold for the key (a refunded key may be
    // allowed again; a blocked one waits longer), so they forget it as a reset makes them.
    const rewrite = (key: string, cost: number, op: string): Promise<readonly Decision[]> => {
      group?.delete(key);
      return send(key, cost, op, clock?.(), parse, rethrow);
    };
    return {
      decide,
      refund: (key, cost) => rewrite(key, cost, OP.refund),
      block: (key, durationMs) => rewrite(key, durationMs, OP.block),
      async reset(key: string): Promise<void> {
        // Every cache of the prefix, before the DEL is sent: their calls in flight are then older.
        group?.delete(key);
        // The calls made before the reset and still waiting for a batch go first: the DEL would
        // otherwise overtake them, and a consume made before the reset would charge after it.
        batcher.sendWaiting();
        await caller.del(keysOf(hashTag(key)));
      },
    };
  }
}
