import { waitUntil } from '../../options.js';
import type { Decision } from '../../types.js';

interface Entry {
  /** The denied cost: calls of this very cost are answered from the entry until `until`. */
  readonly cost: number;
  /** Local clock reading at the denial. */
  readonly at: number;
  /** Local clock reading when the first denying policy could allow again. */
  readonly until: number;
  readonly decisions: readonly Decision[];
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
 * whatever other processes do (they can only add to the state); only a `reset` elsewhere can end
 * it early, and that is the one thing this cache may not see. Only calls of that same cost `c`
 * are answered from the entry: a larger cost waits longer (and with several policies, one that
 * allowed `c` may deny it), so its figures would be wrong; any other cost goes to Redis, and its
 * denial replaces the entry. The entry lives until the *first* denying policy could allow again,
 * so every Decision served from it is still true: `retryAfterMs` and `resetMs` are counted down
 * on the local clock, `remaining` is the value at the denial (it can only have grown since, never
 * enough for `c`).
 *
 * A `reset` bumps {@link DenyCache.generation}: a denial sent to Redis before the reset's DEL
 * describes state the DEL removed, so its reply must not be cached when it arrives after it.
 */
export class DenyCache {
  readonly #entries = new Map<string, Entry>();
  /**
   * Bumped by every {@link DenyCache.delete}. A call reads it before it is sent and hands it to
   * {@link DenyCache.set} with the reply; one number rather than one per key keeps the hot path
   * free of lookups, at the price of not caching the few denials in flight across a reset of
   * another key (each costs one more round trip later).
   */
  generation = 0;

  /**
   * Decisions for `key` at local time `now` (read from `clock` when not given, and only for a key
   * the cache holds), or `undefined` when the cache cannot answer.
   */
  get(key: string, cost: number, now: number | undefined, clock: () => number): readonly Decision[] | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (now === undefined) now = clock();
    if (now >= entry.until) {
      this.#entries.delete(key);
      return undefined;
    }
    if (cost !== entry.cost) return undefined;
    return entry.decisions.map((d) => ({
      allowed: d.allowed,
      limit: d.limit,
      remaining: d.remaining,
      resetMs: waitUntil(entry.at + d.resetMs, now),
      retryAfterMs: d.allowed ? 0 : waitUntil(entry.at + d.retryAfterMs, now),
    }));
  }

  /**
   * Records a reply received at local time `now` (read from `clock` when not given, and only for
   * a reply that denied), if it denied and no `delete` came since the call read `generation`.
   */
  set(
    key: string,
    cost: number,
    generation: number,
    now: number | undefined,
    clock: () => number,
    decisions: readonly Decision[],
  ): void {
    if (generation !== this.generation) return;
    let wait = Number.POSITIVE_INFINITY;
    for (const d of decisions) if (!d.allowed && d.retryAfterMs < wait) wait = d.retryAfterMs;
    if (wait === Number.POSITIVE_INFINITY || wait <= 0) return;
    if (now === undefined) now = clock();
    const entries = this.#entries;
    entries.delete(key);
    if (entries.size >= DENY_CACHE_MAX_KEYS) {
      const oldest = entries.keys().next();
      if (oldest.done !== true) entries.delete(oldest.value);
    }
    entries.set(key, { cost, at: now, until: now + wait, decisions });
  }

  /** Forgets `key` and any denial of it still in flight (see {@link DenyCache.generation}). */
  delete(key: string): void {
    this.generation++;
    this.#entries.delete(key);
  }
}
