import { conflictingPolicy, signature } from '../algorithms/contract.js';
import { FloodgateError } from '../errors.js';
import type { Algorithm } from '../types.js';

/** One policy's keys within a memory store, or a prefix's blocks. */
export interface Table {
  readonly algorithm: Algorithm;
  readonly states: Map<string, unknown>;
  /** The blocks of the table's prefix: key to the instant its block ends. */
  readonly blocks: Map<string, number>;
  /**
   * Where the small sweeps and the search for room resume. A Map iterator keeps the table it was
   * made on alive, every entry in it, until it next moves (V8 moves an iterator onto the new
   * table only then), so one is dropped as soon as it reaches the end or a full pass has covered
   * the table, never kept at rest.
   */
  cursor: MapIterator<[string, unknown]> | undefined;
}

const OWNER = 'MemoryStore';

/**
 * The table of a prefix's blocks holds, per key, the instant its block ends; to the sweeps it is
 * one more table whose states expire then, and what it counts is whether the key is blocked.
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
/** Entries the small sweep looks at per new key: enough to outpace any churn. */
const SWEEP_PER_INSERT = 4;
/**
 * Scores of a block, and of a state of a blocked key, above every state's units (at most 2^53):
 * they go only when everything else weighed is blocked too, blocks first (see `#score`).
 */
const BLOCK_ENTRY = 2 ** 54;
const BLOCKED_STATE = 2 ** 56;
/** Entries looked at per slice of a background pass, so a pass never blocks the loop for long. */
const SWEEP_SLICE = 10_000;
/**
 * How many new states back the one weighed first when room is needed (the last this many are
 * "on probation"): a flood of new keys then makes room among its own, oldest first.
 */
const PROBATION = 1_024;
/**
 * States looked at in turn when the one on probation counts more than the new state will (or is
 * gone), before settling for the least used of them: at most this many in all, and at most
 * `LOOK_PER_TABLE` of one table before the next table's turn, so that a table of spent keys does
 * not hide the cheap states of another.
 */
const LOOK = 32;
const LOOK_PER_TABLE = 8;

/**
 * The states of one memory store and the room they take: every policy's table, the count of
 * states held, the sweeps that drop expired state and the choice of what to drop when the store
 * is full.
 */
export class Room {
  /** States held, across every table. */
  size = 0;
  readonly #maxKeys: number;
  readonly #tables = new Map<string, Table>();
  /** The tables in the order the search for room goes through them. */
  readonly #turns: Table[] = [];
  #turn = 0;
  /** The last new states, as a ring: table and key of each, the oldest at `#next`. */
  readonly #probationTables: (Table | undefined)[];
  readonly #probationKeys: (string | undefined)[];
  #next = 0;
  #pass: ReturnType<typeof setTimeout> | undefined;

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
    const ring = Math.min(PROBATION, maxKeys);
    this.#probationTables = new Array<Table | undefined>(ring).fill(undefined);
    this.#probationKeys = new Array<string | undefined>(ring).fill(undefined);
  }

  /** The table of one prefix and policy, made on first use. */
  table(prefix: string, name: string, algorithm: Algorithm): Table {
    const existing = this.#tables.get(`${prefix}\u0000${name}`);
    if (existing !== undefined) {
      // The same configuration given twice is two objects with the same signature; the check
      // cannot see inside a custom algorithm's closures, so one signature means one algorithm.
      const bound = signature(existing.algorithm);
      if (existing.algorithm !== algorithm && bound !== signature(algorithm)) {
        throw conflictingPolicy(OWNER, prefix, name, bound);
      }
      return existing;
    }
    return this.#add(prefix, name, algorithm, this.blockTable(prefix).states as Map<string, number>);
  }

  /** The table of a prefix's blocks, shared by every limiter of the prefix, made on first use. */
  blockTable(prefix: string): Table {
    const existing = this.#tables.get(`${prefix}\u0000!block`);
    if (existing !== undefined) return existing;
    const blocks = new Map<string, number>();
    return this.#add(prefix, '!block', BLOCKS, blocks, blocks);
  }

  #add(
    prefix: string,
    name: string,
    algorithm: Algorithm,
    blocks: Map<string, number>,
    states: Map<string, unknown> = new Map(),
  ): Table {
    const table: Table = { algorithm, states, blocks, cursor: undefined };
    this.#tables.set(`${prefix}\u0000${name}`, table);
    this.#turns.push(table);
    return table;
  }

  /**
   * Makes room for `key` in each table of `entering` (where it holds no state) and counts it
   * there; the caller then stores the states. The small sweep runs first, on every table of
   * `tables`, and keeps the store near its live size under any key churn; past `maxKeys`, one
   * state is dropped per state to come. `cost` is what the new states will count.
   */
  admit(tables: readonly Table[], entering: readonly Table[], key: string, cost: number, now: number): void {
    const count = entering.length;
    for (const table of tables) this.#sweepSome(table, SWEEP_PER_INSERT * count, now);
    if (this.size + count > this.#maxKeys) {
      // Expired state goes first, wherever it is: the table whose turn it is is swept as well.
      const turn = this.#turns[this.#turn] as Table;
      if (!tables.includes(turn)) this.#sweepSome(turn, SWEEP_PER_INSERT * count, now);
      if (turn.cursor === undefined) this.#turn = (this.#turn + 1) % this.#turns.length;
      const ring = this.#probationKeys.length;
      // Every table of a prefix shares the prefix's blocks: they tell the key's own states.
      const own = (entering[0] as Table).blocks;
      for (let i = 0; this.size + count > this.#maxKeys; i++) {
        this.#dropOne((this.#next + i) % ring, key, own, cost, now);
      }
    }
    this.size += count;
    for (const table of entering) {
      this.#probationTables[this.#next] = table;
      this.#probationKeys[this.#next] = key;
      this.#next = (this.#next + 1) % this.#probationKeys.length;
    }
  }

  /**
   * What dropping `key`'s `state` in `table` would give away: the units it counts now, which the
   * key could use again at once were the state forgotten; `Infinity` for a state that must be
   * kept. Told by the Algorithm contract alone (a free peek says what is left of the limit), so a
   * user's algorithm is weighed as ours are. The one place a state is judged.
   */
  #score(table: Table, key: string, state: unknown, now: number): number {
    // A blocked key keeps its block and every state it has while anything else can go: dropping
    // one would cut the block short, or let the key start over once it ends. Only a store full of
    // blocked keys gives up blocks, the one ending soonest first, before their keys' states: the
    // key's own limit still holds, so the store never stops limiting.
    if (table.blocks.size > 0) {
      const until = table.blocks.get(key);
      if (until !== undefined && until > now) {
        return (table.states === table.blocks ? BLOCK_ENTRY : BLOCKED_STATE) + Math.min(until - now, 2 ** 52);
      }
    }
    const { limit } = table.algorithm;
    const peek = table.algorithm.evaluate(state, now, 0, false);
    // Refusing even a free call holds the key back as a spent limit does.
    if (!peek.allowed) return limit;
    const used = limit - peek.remaining;
    // A user's algorithm may report more than its limit left (nothing used) or NaN (all used).
    return used >= 0 ? used : used < 0 ? 0 : limit;
  }

  /**
   * Drops one state to make room for `keep`, whose new states will count `cost` units each. The
   * state that entered `slot` of the probation ring, the oldest of the last new ones, goes if it
   * counts no more than `cost`. Otherwise (or if it is gone) states are looked at in turn across
   * the tables, from where the last look stopped, until one counts no more than `cost`, and at
   * most `LOOK` of them; the least used of all those weighed goes (ties: the first weighed, the
   * one on probation first). So a flood of new keys charged `cost` each makes room among its own
   * keys, and a state that counts more than `cost` goes only when none of the others weighed
   * counts that few. `keep`'s own states under its prefix (the tables whose blocks are `own`) are
   * never taken: they are about to be charged, or the key is being blocked for what they count.
   * The same key string under another prefix is another limiter's key, weighed as any other.
   */
  #dropOne(slot: number, keep: string, own: Map<string, number>, cost: number, now: number): void {
    let best = Number.POSITIVE_INFINITY;
    let bestTable: Table | undefined;
    let bestKey = '';
    const onProbation = this.#probationTables[slot];
    const probationKey = this.#probationKeys[slot];
    if (
      onProbation !== undefined &&
      probationKey !== undefined &&
      (probationKey !== keep || onProbation.blocks !== own)
    ) {
      const state = onProbation.states.get(probationKey);
      if (state !== undefined) {
        const score = this.#score(onProbation, probationKey, state, now);
        if (score < best) {
          best = score;
          bestTable = onProbation;
          bestKey = probationKey;
        }
      }
    }
    // Table switches are bounded too: the tables on the way may all be empty.
    const turns = this.#turns;
    for (let looked = 0, here = 0, switched = 0; best > cost && looked < LOOK && switched <= 2 * turns.length; ) {
      const table = turns[this.#turn] as Table;
      const cursor = here < LOOK_PER_TABLE ? (table.cursor ?? table.states.entries()) : undefined;
      const next = cursor?.next();
      if (cursor === undefined || next === undefined || next.done === true) {
        if (cursor !== undefined) table.cursor = undefined;
        this.#turn = (this.#turn + 1) % turns.length;
        here = 0;
        switched++;
        continue;
      }
      table.cursor = cursor;
      looked++;
      here++;
      const [key, state] = next.value;
      if (key === keep && table.blocks === own) continue;
      const score = this.#score(table, key, state, now);
      if (score < best) {
        best = score;
        bestTable = table;
        bestKey = key;
      }
    }
    if (bestTable === undefined) {
      throw new FloodgateError(
        'ERR_STORE_FULL',
        `${OWNER}: holding maxKeys (${this.#maxKeys}) states, and every one weighed to make room belongs to the key being stored, under its own prefix`,
      );
    }
    bestTable.states.delete(bestKey);
    this.size--;
  }

  /** Drops every expired state now and returns how many it dropped. */
  sweep(now: number): number {
    let dropped = 0;
    for (const table of this.#turns) {
      for (const [key, state] of table.states) {
        if (table.algorithm.expiresAt(state) <= now) {
          table.states.delete(key);
          dropped++;
        }
      }
      table.cursor = undefined;
    }
    this.size -= dropped;
    this.#forgetDropped();
    return dropped;
  }

  /** Looks at up to `budget` entries of `table`, resuming where the last look stopped. */
  #sweepSome(table: Table, budget: number, now: number): void {
    let cursor = table.cursor ?? table.states.entries();
    let seen = this.#dropExpired(table, cursor, budget, now);
    if (seen === 0) {
      // At the end already: start over now rather than at the next new key.
      cursor = table.states.entries();
      seen = this.#dropExpired(table, cursor, budget, now);
    }
    table.cursor = seen === budget ? cursor : undefined;
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
        this.size--;
      }
    }
    return budget;
  }

  /**
   * One pass over every table, from the start of each, in bounded slices so that a pass over a
   * million keys never stalls requests; one pass at a time. Keys added during the pass may be
   * visited too; the count of entries held when a table's turn came bounds the visits. Each slice
   * runs on a timer, not `setImmediate`: an unref'd immediate runs only once something else wakes
   * the event loop, so in an idle process a pass took one slice per sweep interval, and the
   * memory of expired state stayed held for hours.
   */
  startPass(clock: () => number): void {
    if (this.#pass !== undefined) return;
    const tables = [...this.#turns];
    let t = 0;
    let table = tables[0];
    let entries = table?.states.entries();
    let left = table?.states.size ?? 0;
    const slice = (): void => {
      this.#pass = undefined;
      let now: number;
      try {
        now = clock();
      } catch {
        // A clock that fails (an injected one) ends the pass: thrown from a timer, its error
        // would end the process. Calls report it; the next pass tries again.
        entries = undefined;
        return;
      }
      let budget = SWEEP_SLICE;
      while (table !== undefined && entries !== undefined && budget > 0) {
        const want = Math.min(budget, left);
        const seen = this.#dropExpired(table, entries, want, now);
        budget -= seen;
        left -= seen;
        if (seen < want || left === 0) {
          // The pass has covered this table: a cursor left standing in it would hold the table as
          // it was (emptied, the table shrinks into a new one).
          table.cursor = undefined;
          table = tables[++t];
          entries = table?.states.entries();
          left = table?.states.size ?? 0;
        }
      }
      if (table !== undefined) {
        this.#pass = setTimeout(slice, 0);
        this.#pass.unref();
      } else {
        entries = undefined;
        this.#forgetDropped();
      }
    };
    slice();
  }

  /** Stops a background pass under way. */
  stopPass(): void {
    if (this.#pass !== undefined) clearTimeout(this.#pass);
    this.#pass = undefined;
  }

  /** Empties the probation slots of states no longer held, so no forgotten key is kept alive. */
  #forgetDropped(): void {
    const tables = this.#probationTables;
    const keys = this.#probationKeys;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (key !== undefined && !(tables[i] as Table).states.has(key)) {
        tables[i] = undefined;
        keys[i] = undefined;
      }
    }
  }
}
