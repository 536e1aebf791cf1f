import { type Clock, checkedClock, MAX_TIMER_MS, monotonicClock } from '../clock.js';
import { FloodgateError } from '../errors.js';
import { storageKey } from '../keys.js';
import { checkOptionsObject, integerInRange, invalidOption, optionalFunction, show, waitUntil } from '../options.js';
import type { Algorithm, BindOptions, Decision, Store, StoreBinding } from '../types.js';
import { applyBlock, blockedDecision } from './block.js';
import { type DecidesOne, pairDecideOne } from './decide-then.js';
import { Room, type Table } from './memory-room.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Milliseconds from any fixed origin. Defaults to a monotonic clock (`performance.now()`);
   * inject one in tests to move time without sleeping.
   */
  clock?: () => number;
  /**
   * Most states held at once, across every limiter bound to this store: one per key and policy,
   * and one per blocked key. A new state at `maxKeys` takes the room of one held, the one that
   * counts the fewest units among a few weighed: the oldest of the last 1,024 new states, then
   * states in turn. A flood of new keys thus makes room among its own keys and cannot reset a key
   * that has used more than they have; a key whose state is dropped can be allowed at most the
   * units that state counted, again. A blocked key is dropped only when every state weighed is a
   * blocked key's: then the block ending soonest is cut short first, and the key's own limit still
   * holds, so a full store never stops limiting. Defaults to 1,000,000.
   */
  maxKeys?: number;
  /**
   * How often a background pass drops expired state, in milliseconds, or `false` for none (the
   * incremental sweep on every new key still runs). The timer is `unref`ed. A pass runs in slices
   * on timers, so it finishes in an idle process too (well under a second for a million states),
   * and holds on to nothing of what it dropped: once every state has expired, the memory they took
   * is free within `sweepIntervalMs` plus a second. Defaults to 60,000.
   */
  sweepIntervalMs?: number | false;
}

const OWNER = 'MemoryStore';
const DEFAULT_MAX_KEYS = 1_000_000;

/**
 * The in-memory store, the default: exact within one process, synchronous, bounded.
 *
 * It keeps one entry per live key, with no timer per key: state that can no longer change a
 * decision (an emptied log, a full bucket) is dropped lazily, by a small sweep on every new key
 * and by a periodic background pass. When full, it drops the state whose loss gives away the
 * least (see {@link MemoryStoreOptions.maxKeys}). Use {@link RedisStore} to share limits across
 * processes.
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
  readonly #room: Room;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options?: MemoryStoreOptions) {
    const given = checkOptionsObject(OWNER, options, ['clock', 'maxKeys', 'sweepIntervalMs'], false);
    const clock = optionalFunction<Clock>(OWNER, 'clock', given.clock);
    this.#clock = clock === undefined ? monotonicClock : checkedClock(OWNER, clock);
    const maxKeys = given.maxKeys === undefined ? DEFAULT_MAX_KEYS : given.maxKeys;
    if (typeof maxKeys !== 'number' || !Number.isSafeInteger(maxKeys) || maxKeys < 1) {
      throw invalidOption(OWNER, 'maxKeys', 'a positive integer', maxKeys);
    }
    this.#maxKeys = maxKeys;
    this.#room = new Room(maxKeys);
    const sweepIntervalMs = given.sweepIntervalMs === undefined ? 60_000 : given.sweepIntervalMs;
    if (sweepIntervalMs !== false) {
      // Node fires a longer interval every millisecond instead, which would spin the sweep.
      const every = integerInRange(
        OWNER,
        'sweepIntervalMs',
        sweepIntervalMs,
        1,
        MAX_TIMER_MS,
        'a positive integer number of milliseconds up to 2147483647 (24.8 days), or false',
      );
      this.#timer = setInterval(() => this.#room.startPass(this.#clock), every);
      this.#timer.unref();
    }
  }

  /** Number of states held, across all limiters bound to this store (see `maxKeys`). */
  get size(): number {
    return this.#room.size;
  }

  /** @internal Binds a limiter's policies; see {@link Store.bind}. */
  bind(options: BindOptions): StoreBinding {
    const { prefix, policies, blockDurationMs: lockout } = options;
    if (policies.length > this.#maxKeys) {
      // A key holds one state per policy: not one key of this limiter could ever be held.
      throw new FloodgateError(
        'ERR_INVALID_OPTION',
        `${OWNER}: maxKeys must be at least the number of policies of each limiter bound to the store (a key holds one state per policy), got ${this.#maxKeys} for prefix ${show(prefix)} with ${policies.length} policies`,
      );
    }
    const room = this.#room;
    const tables = policies.map((policy) => room.table(prefix, policy.name, policy.algorithm));
    // A key's block, shared by every limiter of the prefix as its policies' state is.
    const blockTable = room.blockTable(prefix);
    const blocks = blockTable.states as Map<string, number>;
    const onlyBlocks = [blockTable];
    const clock = this.#clock;

    /** Blocks `key` until `until`, unless it is blocked for longer already. */
    function setBlock(key: string, until: number, now: number): void {
      const held = blocks.get(key);
      if (held === undefined) {
        // A new state that spends nothing: it takes the room of a state that counts nothing if
        // the look finds one, and else of the least used it weighed.
        room.admit(onlyBlocks, onlyBlocks, key, 0, now);
        blocks.set(key, until);
      } else if (held < until) blocks.set(key, until);
    }

    /**
     * Starts a lock-out after a denial; false when the store can make no room for it (a store so
     * small that every state weighed is the key's own). The denial stands without the lock-out
     * then: the key's limit still holds, where a store failure would let the policy answer.
     */
    function lockOut(key: string, until: number, now: number): boolean {
      try {
        setBlock(key, until, now);
        return true;
      } catch (error) {
        if (error instanceof FloodgateError && error.code === 'ERR_STORE_FULL') return false;
        throw error;
      }
    }

    /** Each policy's view of a call of `cost` that charges nothing, with the block applied. */
    function view(key: string, now: number, cost: number): Decision[] {
      const decisions: Decision[] = [];
      for (const { algorithm, states } of tables) {
        let state = states.get(key);
        if (state !== undefined && algorithm.expiresAt(state) <= now) state = undefined;
        decisions.push(algorithm.evaluate(state, now, cost, false));
      }
      const left = blockLeft(blocks, key, now);
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
            room.size--;
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
        for (const { states } of tables) if (states.delete(key)) room.size--;
        if (blocks.delete(key)) room.size--;
      },
    };

    if (tables.length === 1) {
      const one = new OnePolicy(clock, tables[0] as Table, room, lockout, lockOut);
      const decide = (key: string, cost: number, charge: boolean): readonly Decision[] => [
        one.decideOne(key, cost, charge),
      ];
      pairDecideOne(decide, one);
      return { decide, ...rest };
    }
    return {
      decide(key: string, cost: number, charge: boolean): readonly Decision[] {
        const now = clock();
        const left = blockLeft(blocks, key, now);
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
          if (lockout > 0 && lockOut(key, now + lockout, now)) return applyBlock(decisions, lockout);
          return decisions;
        }
        // Make room for every new state first, so that a store that cannot charges no policy.
        // This key's expired states go first and count as new: were the sweep to drop one, the
        // room made would fall short and the store would pass maxKeys.
        let entering: Table[] | undefined;
        for (let i = 0; i < tables.length; i++) {
          const table = tables[i] as Table;
          if (current[i] === undefined && table.states.delete(key)) room.size--;
          if (!table.states.has(key)) {
            // Made only for a new state: a key that holds all of its states allocates nothing.
            if (entering === undefined) entering = [];
            entering.push(table);
          }
        }
        if (entering !== undefined) room.admit(tables, entering, key, cost, now);
        for (let i = 0; i < tables.length; i++) {
          const { algorithm, states } = tables[i] as Table;
          states.set(key, algorithm.charge(current[i], now, cost));
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
    return this.#room.sweep(this.#clock());
  }

  /** Stops the background sweep, a pass under way included. The store keeps working. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#room.stopPass();
  }
}

/** Milliseconds the key's block has left at `now`; 0 when it has none. */
function blockLeft(blocks: Map<string, number>, key: string, now: number): number {
  if (blocks.size === 0) return 0;
  const until = blocks.get(key);
  return until === undefined ? 0 : waitUntil(until, now);
}

/**
 * A one-policy binding's decision. A class, not a closure per binding, so that every binding's
 * `decideOne` is one function that V8 inlines into the limiter (see `Calls` in `store-calls.ts`).
 */
class OnePolicy implements DecidesOne {
  readonly #clock: Clock;
  readonly #algorithm: Algorithm;
  readonly #states: Map<string, unknown>;
  readonly #only: readonly Table[];
  readonly #room: Room;
  readonly #lockout: number;
  readonly #blocks: Map<string, number>;
  readonly #lockOut: (key: string, until: number, now: number) => boolean;

  constructor(
    clock: Clock,
    table: Table,
    room: Room,
    lockout: number,
    lockOut: (key: string, until: number, now: number) => boolean,
  ) {
    this.#clock = clock;
    this.#algorithm = table.algorithm;
    this.#states = table.states;
    this.#only = [table];
    this.#room = room;
    this.#lockout = lockout;
    this.#blocks = table.blocks;
    this.#lockOut = lockOut;
  }

  decideOne(key: string, cost: number, charge: boolean): Decision {
    const clock = this.#clock;
    const now = clock();
    const algorithm = this.#algorithm;
    const states = this.#states;
    // A prefix with no block at all (the usual case) goes straight on; the block's look-up
    // and its Decision are apart, so that this hot path stays small enough to inline.
    if (this.#blocks.size !== 0) {
      const left = blockLeft(this.#blocks, key, now);
      if (left > 0) return blockedDecision(algorithm.evaluate(states.get(key), now, cost, false), left);
    }
    // An expired state decides like no state (the Algorithm contract), so the hot path
    // needs no expiry check; the sweeps reclaim expired keys.
    const state = states.get(key);
    // The key may be unchecked for lone surrogates (see DecidesOne). Held state means it was
    // stored, so checked, before; a new key is checked before anything is stored under it, and
    // an ill-formed one decides under its hashed name, block included.
    if (state === undefined && !key.isWellFormed()) return this.decideOne(storageKey(key), cost, charge);
    const decision = algorithm.evaluate(state, now, cost, charge);
    if (charge && cost > 0) {
      if (decision.allowed) {
        if (state === undefined) this.#room.admit(this.#only, this.#only, key, cost, now);
        // Algorithms charge in place where they can; then the map needs no second write.
        const next = algorithm.charge(state, now, cost);
        if (next !== state) states.set(key, next);
      } else if (this.#lockout > 0 && this.#lockOut(key, now + this.#lockout, now)) {
        return blockedDecision(decision, this.#lockout);
      }
    }
    return decision;
  }
}
