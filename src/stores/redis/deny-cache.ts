import { waitUntil } from '../../options.js';
import type { Decision } from '../../types.js';

interface Entry {
  /** The denied cost: calls of this cost or more are answered from the entry until `until`. */
  readonly cost: number;
  /** Local clock reading at the denial. */
  readonly at: number;
  /** Local clock reading when the first denying policy could allow again, or the key's block ends. */
  readonly until: number;
  /** The key was blocked: every answer says so, and none outlives the block. */
  readonly blocked: boolean;
  readonly decisions: readonly Decision[];
}

/**
 * A policy's answer to a call of `cost`, at least the `denied` cost its Decision `d` was given
 * for: whether it allows, and a wait in milliseconds from the denial that is never too short. The
 * denied cost itself gets `d`'s own figures; a larger one gets a bound.
 * Every policy is back to its full limit after `resetMs`, and no cost exceeds the smallest limit,
 * so `resetMs` bounds every wait. A token bucket refills `1 / msPerToken` tokens per millisecond,
 * which bounds it closer: within 2 ms of the exact wait when it denied the smaller cost, within
 * one token's refill when it allowed it (its `remaining` is rounded down).
 */
function widen(
  d: Decision,
  cost: number,
  denied: number,
  msPerToken: number | undefined,
): { allowed: boolean; retryAfterMs: number } {
  if (cost === denied) return d;
  // `remaining` is what is left, uncharged; a larger cost that still fits is still allowed.
  if (d.allowed && cost <= d.remaining) return { allowed: true, retryAfterMs: 0 };
  let wait = d.resetMs;
  if (msPerToken !== undefined) {
    // A bucket holds at least `remaining` tokens (it is floored), and a denial's wait is the
    // exact one rounded up: each bound below is at or after the instant the cost fits.
    const bound = d.allowed
      ? Math.ceil((cost - d.remaining) * msPerToken)
      : d.retryAfterMs + Math.ceil((cost - denied) * msPerToken);
    if (bound < wait) wait = bound;
  }
  return { allowed: false, retryAfterMs: wait };
}

/**
 * Keys remembered per cache (one per prefix and policy list on a store); past this, the oldest
 * denial is forgotten (it only costs a round trip).
 */
export const DENY_CACHE_MAX_KEYS = 10_000;

/**
 * Remembers recent denials per key so that a hot, denied key is answered without a round trip.
 *
 * A call of cost `c` denied with every denying policy waiting at least `w` stays denied for `w`,
 * and so does every larger cost, whatever other processes do (they can only add to the state);
 * only a `reset` or a `refund` elsewhere can end it early, and those this cache may not see (it
 * then denies too long, never admits too much).
 * The entry lives until the *first* denying policy could allow again (for a blocked key, until
 * the block ends, if sooner), so every Decision served from it is still a denial: `retryAfterMs`
 * and `resetMs` are counted down on the local clock, `remaining` is the value at the denial (it
 * can only have grown since, never enough for `c`).
 * A call of cost `c` gets the very figures Redis gave. A larger cost waits longer than `c` did
 * (and with several policies, one that allowed `c` may deny it), by an amount the reply does not
 * hold, so it gets a wait bounded from above (see {@link widen}): never too short, as a promised
 * wait must not be. A smaller cost goes to Redis; its denial replaces the entry, and the store
 * drops the entry whenever it sends a charge for the key (see {@link DenyCache.drop}).
 *
 * A `reset` bumps {@link DenyCache.generation}: a denial sent to Redis before the reset's DEL
 * describes state the DEL removed, so its reply must not be cached when it arrives after it.
 */
export class DenyCache {
  readonly #entries = new Map<string, Entry>();
  /** Per policy: milliseconds per token for a token bucket, `undefined` for another algorithm. */
  readonly #msPerToken: readonly (number | undefined)[];
  /**
   * Bumped by every {@link DenyCache.delete}. A call reads it before it is sent and hands it to
   * {@link DenyCache.set} with the reply; one number rather than one per key keeps the hot path
   * free of lookups, at the price of not caching the few denials in flight across a reset of
   * another key (each costs one more round trip later).
   */
  generation = 0;

  /** @param msPerToken per policy, `1000 / refillPerSecond` for a token bucket, else `undefined` */
  constructor(msPerToken: readonly (number | undefined)[] = []) {
    this.#msPerToken = msPerToken;
  }

  /**
   * Decisions for `key` at local time `now` (read from `clock` when not given, and only for a key
   * the cache holds), or `undefined` when the cache cannot answer. With `blockedOnly`, only a
   * blocked key's entry answers: a charge of a limiter with a lock-out must reach Redis to start
   * it, and a denial cached without one (a peek's, another limiter's) did not.
   */
  get(
    key: string,
    cost: number,
    now: number | undefined,
    clock: () => number,
    blockedOnly = false,
  ): readonly Decision[] | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || (blockedOnly && !entry.blocked)) return undefined;
    if (now === undefined) now = clock();
    if (now >= entry.until) {
      this.#entries.delete(key);
      return undefined;
    }
    if (cost < entry.cost) return undefined;
    const at = entry.at;
    const decisions: Decision[] = [];
    for (let i = 0; i < entry.decisions.length; i++) {
      const d = entry.decisions[i] as Decision;
      const widened = widen(d, cost, entry.cost, this.#msPerToken[i]);
      // Past its wait the cost fits this policy: it allows again (another one still denies).
      const retryAfterMs = widened.allowed ? 0 : waitUntil(at + widened.retryAfterMs, now);
      const served: Decision = {
        allowed: retryAfterMs === 0,
        limit: d.limit,
        remaining: d.remaining,
        resetMs: waitUntil(at + d.resetMs, now),
        retryAfterMs,
      };
      // A block denies every policy until it ends, and the entry ends no later.
      decisions.push(d.blocked === true ? { ...served, blocked: true } : served);
    }
    return decisions;
  }

  /**
   * Records a reply received at local time `now` (read from `clock` when not given, and only for
   * a reply that denied), if it denied and no `delete` came since the call read `generation`.
   * `blockMs` is the time the key's block had left in the reply (0 for none); a blocked key's entry
   * lives only as long as the block, since after it the policies' own answer may differ (not
   * blocked, more `remaining`). A live entry for a smaller cost is kept: it answers more calls,
   * unless only this one is blocked.
   */
  set(
    key: string,
    cost: number,
    generation: number,
    now: number | undefined,
    clock: () => number,
    decisions: readonly Decision[],
    blockMs = 0,
  ): void {
    const entries = this.#entries;
    let wait = Number.POSITIVE_INFINITY;
    for (const d of decisions) if (!d.allowed && d.retryAfterMs < wait) wait = d.retryAfterMs;
    if (wait === Number.POSITIVE_INFINITY || wait <= 0 || generation !== this.generation) return;
    const blocked = blockMs > 0;
    if (blocked && blockMs < wait) wait = blockMs;
    if (now === undefined) now = clock();
    const held = entries.get(key);
    if (held !== undefined && held.cost < cost && now < held.until && (held.blocked || !blocked)) return;
    entries.delete(key);
    if (entries.size >= DENY_CACHE_MAX_KEYS) {
      const oldest = entries.keys().next();
      if (oldest.done !== true) entries.delete(oldest.value);
    }
    entries.set(key, { cost, at: now, until: now + wait, blocked, decisions });
  }

  /** Forgets `key`'s entry, whose waits a charge of this process makes too short. */
  drop(key: string): void {
    if (this.#entries.size !== 0) this.#entries.delete(key);
  }

  /** Forgets every entry: the store failed a call, which may still have charged (see `Caller`). */
  clear(): void {
    this.#entries.clear();
  }

  /** Forgets `key` and any denial of it still in flight (see {@link DenyCache.generation}). */
  delete(key: string): void {
    this.generation++;
    this.#entries.delete(key);
  }
}

/**
 * The deny caches of one prefix on a store, one per policy list. Limiters of a prefix share state
 * in Redis whatever their policy lists, so a charge or a reset through any of them concerns every
 * cache. The caches are held weakly: a cache lives as long as a limiter using it (or a call of
 * one in flight).
 */
export class PrefixCaches {
  readonly caches = new Map<string, WeakRef<DenyCache>>();

  /**
   * A charge for `key` makes every cached wait for the key too short. The store calls this as the
   * charge is sent, and again as it is answered and allowed: a denial answered in between may
   * describe the state before it. (A charge that fails instead marks the store unhealthy, which
   * clears every cache: one that timed out may still run in Redis.) Until the charge is answered,
   * a denial recorded meanwhile may be served; its waits can fall short by that one charge, as an
   * answer Redis gave just before any charge can.
   */
  drop(key: string): void {
    for (const ref of this.caches.values()) ref.deref()?.drop(key);
  }

  /** Every cache forgets every entry. */
  clear(): void {
    for (const ref of this.caches.values()) ref.deref()?.clear();
  }

  /** `reset`: every cache forgets `key` and its denials in flight. */
  delete(key: string): void {
    for (const ref of this.caches.values()) ref.deref()?.delete(key);
  }
}
