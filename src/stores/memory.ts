import { conflictingPolicy, signature } from '../algorithms/contract.js';
import { type Clock, MAX_TIMER_MS, monotonicClock } from '../clock.js';
import { FloodgateError } from '../errors.js';
import { checkOptionsObject, invalidOption, optionalFunction, waitUntil } from '../options.js';
import type { Algorithm, BindOptions, Decision, Store, StoreBinding } from '../types.js';
import { applyBlock, blockedDecision } from './block.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Milliseconds from any fixed origin. Defaults to a monotonic clock (`performance.now()`);
   * inject one in tests to move time without sleeping.
   */
  clock?: () => number;
  /**
   * Most keys held at once, across every limiter bound to this store. When the store is full of
   * live state it refuses new keys with `ERR_STORE_FULL` (handled by the limiter's
   * `onStoreError`) rather than evict a live key. Defaults to 1,000,000.
   */
  maxKeys?: number;
  /**
   * How often a background pass drops expired state, in milliseconds, or `false` for none (the
   * incremental sweep on every new key still runs). The timer is `unref`ed. Defaults to 60,000.
   */
  sweepIntervalMs?: number | false;
}

/** One policy's keys within the store. */
interface Table {
  readonly algorithm: Algorithm;
  readonly states: Map<string, unknown>;
  cursor: MapIterator<[string, unknown]> | undefined;
}

const OWNER = 'MemoryStore';

/**
 * The table of a prefix's blocks holds, per key, the instant its block ends; to the sweeps it is
 * one more table whose states expire then. Only `expiresAt` is ever called on it.
 */
const BLOCKS: Algorithm<number> = {
  name: 'block',
  limit: 1,
  windowMs: 1,
  evaluate: (until, now) => {
    const blocked = until !== undefined && until > now;
    return { allowed: !blocked, limit: 1, remaining: blocked ? 0 : 1, resetMs: 0, retryAfterMs: 0 };
  },
  charge: (until) => until ?? 0,
  refund: (until) => until,
  expiresAt: (until) => until,
};
const DEFAULT_MAX_KEYS = 1_000_000;
/** Entries the incremental sweep looks at per new key: enough to outpace any churn. */
const SWEEP_PER_INSERT = 4;
/** Entries looked at per slice of a background pass, so a pass never blocks the loop for long. */
const SWEEP_SLICE = 10_000;

/**
 * The in-memory store, the default: exact within one process, synchronous, bounded.
 *
 * It keeps one entry per live key, with no timer per key: state that can no longer change a
 * decision (an emptied log, a full bucket) is dropped lazily, by a small sweep on every new key
 * and by a periodic background pass. Use {@link RedisStore} to share limits across processes.
 *
 * @example
 * ```ts
 * const store = new MemoryStore({ maxKeys: 100_000 });
 * const limiter = createLimiter({ algorithm: tokenBucket({ capacity: 20, refillPerSecond: 5 }), store });
 * ```
 */
export class MemoryStore implements Store {
  readonly #clock: Clock;
  readonly #maxKeys: number;
  readonly #tables = new Map<string, Table>();
  #size = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** When full: no state expires before this, so a full pass before then would be wasted. */
  #fullUntil = Number.NEGATIVE_INFINITY;

  constructor(options?: MemoryStoreOptions) {
    const given = checkOptionsObject(OWNER, options, ['clock', 'maxKeys', 'sweepIntervalMs'], false);
    this.#clock = optionalFunction<Clock>(OWNER, 'clock', given.clock) ?? monotonicClock;
    const maxKeys = given.maxKeys === undefined ? DEFAULT_MAX_KEYS : given.maxKeys;
    if (typeof maxKeys !== 'number' || !Number.isSafeInteger(maxKeys) || maxKeys < 1) {
      throw invalidOption(OWNER, 'maxKeys', 'a positive integer', maxKeys);
    }
    this.#maxKeys = maxKeys;
    const sweepIntervalMs = given.sweepIntervalMs === undefined ? 60_000 : given.sweepIntervalMs;
    if (sweepIntervalMs !== false) {
      // Node fires a longer interval every millisecond instead, which would spin the sweep.
      if (
        typeof sweepIntervalMs !== 'number' ||
        !Number.isSafeInteger(sweepIntervalMs) ||
        sweepIntervalMs < 1 ||
        sweepIntervalMs > MAX_TIMER_MS
      ) {
        throw invalidOption(
          OWNER,
          'sweepIntervalMs',
          'a positive integer number of milliseconds up to 2147483647 (24.8 days), or false',
          sweepIntervalMs,
        );
      }
      this.#timer = setInterval(() => this.#backgroundSweep(), sweepIntervalMs);
      this.#timer.unref();
    }
  }

  /** Number of keys held, across all limiters bound to this store. */
  get size(): number {
    return this.#size;
  }

  /** @internal Binds a limiter's policies; see {@link Store.bind}. */
  bind(options: BindOptions): StoreBinding {
    const { prefix, blockDurationMs: lockout } = options;
    const tables = options.policies.map((policy) =>
      this.#table(`${prefix}\u0000${policy.name}`, policy.algorithm, prefix, policy.name),
    );
    // A key's block, shared by every limiter of the prefix as its policies' state is.
    const blockTable = this.#table(`${prefix}\u0000!block`, BLOCKS, prefix, '!block');
    const blocks = blockTable.states as Map<string, number>;
    const clock = this.#clock;
    const store = this;

    /** Milliseconds the key's block has left at `now`; 0 when it has none. */
    function blockLeft(key: string, now: number): number {
      if (blocks.size === 0) return 0;
      const until = blocks.get(key);
      return until === undefined ? 0 : waitUntil(until, now);
    }

    /** Blocks `key` until `until`, unless it is blocked for longer already. */
    function setBlock(key: string, until: number, now: number): void {
      const held = blocks.get(key);
      if (held === undefined) {
        store.#admit([blockTable], 1, now);
        blocks.set(key, until);
        store.#admitted(until);
      } else if (held < until) blocks.set(key, until);
    }

    /** Each policy's view of a call of `cost` that charges nothing, with the block applied. */
    function view(key: string, now: number, cost: number): Decision[] {
      const decisions: Decision[] = [];
      for (const { algorithm, states } of tables) {
        let state = states.get(key);
        if (state !== undefined && algorithm.expiresAt(state) <= now) state = undefined;
        decisions.push(algorithm.evaluate(state, now, cost, false));
      }
      const left = blockLeft(key, now);
      return left > 0 ? applyBlock(decisions, left) : decisions;
    }

    const rest = {
      refund(key: string, cost: number): readonly Decision[] {
        const now = clock();
        for (const { algorithm, states } of tables) {
          const state = states.get(key);
          if (state === undefined) continue;
          const next = algorithm.expiresAt(state) <= now ? undefined : algorithm.refund(state, now, cost);
          if (next === undefined || algorithm.expiresAt(next) <= now) {
            states.delete(key);
            store.#size--;
          } else if (next !== state) states.set(key, next);
        }
        return view(key, now, 1);
      },
      block(key: string, durationMs: number): readonly Decision[] {
        const now = clock();
        setBlock(key, now + durationMs, now);
        return view(key, now, 1);
      },
      reset(key: string): void {
        for (const { states } of tables) if (states.delete(key)) store.#size--;
        if (blocks.delete(key)) store.#size--;
      },
    };

    if (tables.length === 1) {
      const table = tables[0] as Table;
      const { algorithm, states } = table;
      const only = [table];
      return {
        decide(key: string, cost: number, charge: boolean): readonly Decision[] {
          const now = clock();
          const left = blockLeft(key, now);
          // An expired state decides like no state (the Algorithm contract), so the hot path
          // needs no expiry check; the sweeps reclaim expired keys.
          const state = states.get(key);
          if (left > 0) return [blockedDecision(algorithm.evaluate(state, now, cost, false), left)];
          const decision = algorithm.evaluate(state, now, cost, charge);
          if (charge && cost > 0) {
            if (decision.allowed) {
              if (state === undefined) store.#admit(only, 1, now);
              // Algorithms charge in place where they can; then the map needs no second write.
              const next = algorithm.charge(state, now, cost);
              if (next !== state) states.set(key, next);
              if (state === undefined) store.#admitted(algorithm.expiresAt(next));
            } else if (lockout > 0) {
              setBlock(key, now + lockout, now);
              return [blockedDecision(decision, lockout)];
            }
          }
          return [decision];
        },
        ...rest,
      };
    }
    return {
      decide(key: string, cost: number, charge: boolean): readonly Decision[] {
        const now = clock();
        const left = blockLeft(key, now);
        // The view applies the block: nothing is charged, and no lock-out starts, while one runs.
        if (left > 0) return view(key, now, cost);
        const current: unknown[] = [];
        const decisions: Decision[] = [];
        let allAllowed = true;
        for (const { algorithm, states } of tables) {
          let state = states.get(key);
          if (state !== undefined && algorithm.expiresAt(state) <= now) state = undefined;
          const decision = algorithm.evaluate(state, now, cost, charge);
          if (!decision.allowed) allAllowed = false;
          current.push(state);
          decisions.push(decision);
        }
        if (!charge || cost === 0) return decisions;
        if (!allAllowed) {
          // All-or-nothing: policies that would have allowed report their uncharged view.
          for (let i = 0; i < tables.length; i++) {
            if ((decisions[i] as Decision).allowed) {
              decisions[i] = (tables[i] as Table).algorithm.evaluate(current[i], now, cost, false);
            }
          }
          if (lockout > 0) {
            setBlock(key, now + lockout, now);
            return applyBlock(decisions, lockout);
          }
          return decisions;
        }
        // Make room for every new key first, so a full store refuses before charging any policy.
        // This key's expired states go first and count as new: were the sweep to drop one, the
        // room made would fall short and the store would pass maxKeys.
        let absent = 0;
        for (let i = 0; i < tables.length; i++) {
          const { states } = tables[i] as Table;
          if (current[i] === undefined && states.delete(key)) store.#size--;
          if (!states.has(key)) absent++;
        }
        if (absent > 0) store.#admit(tables, absent, now);
        for (let i = 0; i < tables.length; i++) {
          const { algorithm, states } = tables[i] as Table;
          const next = algorithm.charge(current[i], now, cost);
          states.set(key, next);
          if (current[i] === undefined) store.#admitted(algorithm.expiresAt(next));
        }
        return decisions;
      },
      ...rest,
    };
  }

  /**
   * Drops every expired state now and returns how many keys it dropped. The store does this by
   * itself; call it to reclaim memory at a moment of your choosing.
   */
  sweep(): number {
    const now = this.#clock();
    let dropped = 0;
    for (const table of this.#tables.values()) {
      for (const [key, state] of table.states) {
        if (table.algorithm.expiresAt(state) <= now) {
          table.states.delete(key);
          dropped++;
        }
      }
      table.cursor = undefined;
    }
    this.#size -= dropped;
    return dropped;
  }

  /** Stops the background sweep. The store keeps working; only the timer goes. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #table(id: string, algorithm: Algorithm, prefix: string, name: string): Table {
    const existing = this.#tables.get(id);
    if (existing !== undefined) {
      // The same configuration given twice is two objects with the same signature; the check
      // cannot see inside a custom algorithm's closures, so one signature means one algorithm.
      const bound = signature(existing.algorithm);
      if (existing.algorithm !== algorithm && bound !== signature(algorithm)) {
        throw conflictingPolicy(OWNER, prefix, name, bound);
      }
      return existing;
    }
    const table: Table = { algorithm, states: new Map(), cursor: undefined };
    this.#tables.set(id, table);
    return table;
  }

  /**
   * Makes room for `count` new keys and counts them, or refuses; never evicts live state. The
   * small sweep on every admission, in every table the new keys go into, keeps the store near
   * its live size under any key churn.
   */
  #admit(tables: readonly Table[], count: number, now: number): void {
    for (const table of tables) this.#sweepSome(table, SWEEP_PER_INSERT * count, now);
    if (this.#size + count > this.#maxKeys) {
      // A full pass costs O(maxKeys): make one only once some state may have expired since the
      // last, or a flood of new keys at a full store would stall the event loop on every call.
      if (now >= this.#fullUntil) this.#fullUntil = this.#sweepAll(now);
      if (this.#size + count > this.#maxKeys) {
        throw new FloodgateError(
          'ERR_STORE_FULL',
          `${OWNER}: holding maxKeys (${this.#maxKeys}) keys of live state; refusing a new key rather than evicting a live one`,
        );
      }
    }
    this.#size += count;
  }

  /**
   * Notes the expiry of a state just admitted. Room made by `reset` or by the small sweeps lets
   * in states that may expire before the instant the last full pass found, and a full store must
   * then look again when they do, not refuse new keys until that later instant.
   */
  #admitted(expiresAt: number): void {
    if (expiresAt < this.#fullUntil) this.#fullUntil = expiresAt;
  }

  /**
   * Drops every expired state and returns the earliest expiry among the states kept. Charging
   * only ever moves a state's expiry later, so nothing expires before that instant.
   */
  #sweepAll(now: number): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const { algorithm, states } of this.#tables.values()) {
      for (const [key, state] of states) {
        const at = algorithm.expiresAt(state);
        if (at <= now) {
          states.delete(key);
          this.#size--;
        } else if (at < earliest) earliest = at;
      }
    }
    return earliest;
  }

  /** Looks at up to `budget` entries of `table`, resuming where the last look stopped. */
  #sweepSome(table: Table, budget: number, now: number): void {
    let cursor = table.cursor ?? table.states.entries();
    const seen = this.#dropExpired(table, cursor, budget, now);
    if (seen < budget) {
      // At the end of the table: start over, and go on from the start only if nothing was seen.
      cursor = table.states.entries();
      if (seen === 0 && this.#dropExpired(table, cursor, budget, now) < budget) cursor = table.states.entries();
    }
    table.cursor = cursor;
  }

  /**
   * Drops the expired states among the next `budget` entries of `entries`, an iterator over
   * `table`; returns how many it looked at (fewer than `budget` once the iterator ends).
   */
  #dropExpired(table: Table, entries: MapIterator<[string, unknown]>, budget: number, now: number): number {
    const { algorithm, states } = table;
    for (let i = 0; i < budget; i++) {
      const next = entries.next();
      if (next.done === true) return i;
      const [key, state] = next.value;
      if (algorithm.expiresAt(state) <= now) {
        states.delete(key);
        this.#size--;
      }
    }
    return budget;
  }

  /**
   * One pass over every table, from the start of each (the small sweeps' cursors may stand
   * anywhere), in bounded slices so that a pass over a million keys never stalls requests. Keys
   * added during the pass may be visited too; the count of entries held when a table's turn came
   * bounds the visits.
   */
  #backgroundSweep(): void {
    const tables = [...this.#tables.values()];
    let t = 0;
    let table = tables[0];
    let entries = table?.states.entries();
    let left = table?.states.size ?? 0;
    const slice = (): void => {
      const now = this.#clock();
      let budget = SWEEP_SLICE;
      while (table !== undefined && entries !== undefined && budget > 0) {
        const want = Math.min(budget, left);
        const seen = this.#dropExpired(table, entries, want, now);
        budget -= seen;
        left -= seen;
        if (seen < want || left === 0) {
          table = tables[++t];
          entries = table?.states.entries();
          left = table?.states.size ?? 0;
        }
      }
      if (table !== undefined) setImmediate(slice).unref();
    };
    slice();
  }
}
