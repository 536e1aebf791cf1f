import type { FloodgateError } from './errors.js';

/**
 * The answer to one call: a plain value, never a thrown rejection for "denied".
 * Every time is in milliseconds relative to the moment of the decision.
 */
export interface Decision {
  /** Whether the call may go ahead (and, for `consume`, was charged). */
  readonly allowed: boolean;
  /** The binding policy's limit: a window's `limit` or a bucket's `capacity`. */
  readonly limit: number;
  /** Units that can still be consumed right now, after this call's charge. */
  readonly remaining: number;
  /** Milliseconds until the key is back to its full `limit`; 0 when it already is. */
  readonly resetMs: number;
  /**
   * 0 when allowed. When denied, the smallest wait in milliseconds after which the same call
   * is allowed if nothing else happens: waiting exactly this long and retrying succeeds.
   */
  readonly retryAfterMs: number;
  /** Name of the binding policy; set by limiters with more than one policy. */
  readonly policy?: string;
  /** Each policy's own decision, by name; set by limiters with more than one policy. */
  readonly policies?: Readonly<Record<string, Decision>>;
  /** True when the store failed and the limiter's `onStoreError` policy decided instead. */
  readonly degraded?: boolean;
  /** The store failure behind a degraded decision. */
  readonly cause?: FloodgateError;
  /**
   * True while the key is blocked (a lock-out after a denial, or `limiter.block`): the call is
   * denied whatever the policies would allow, until `retryAfterMs` has passed.
   */
  readonly blocked?: boolean;
}

/**
 * A rate-limiting algorithm: a pure state transition that every store runs unchanged.
 *
 * `State` is the algorithm's own; stores only keep it, hand it back, and drop it once
 * {@link Algorithm.expiresAt} has passed. The built-ins and your own algorithms use this one
 * contract: the memory store runs any algorithm, and the Redis store runs any algorithm that
 * brings its Lua twin ({@link Algorithm.redis}). `floodgate/testing` has the suite that holds a
 * store, and so an algorithm on it, to the contract.
 */
export interface Algorithm<State = unknown> {
  /**
   * The algorithm's name, a free string (`'token-bucket'`, `'leaky-bucket'`). Errors name it, and
   * two limiters binding one prefix and policy name must use the same name and parameters.
   */
  readonly name: string;
  /** Largest total cost the policy allows at once (a window's `limit`, a bucket's `capacity`). */
  readonly limit: number;
  /**
   * The span in milliseconds over which `limit` applies: the window, or the time a bucket takes
   * to refill from empty (rounded up). Used by the HTTP headers that describe the policy.
   */
  readonly windowMs: number;
  /**
   * Decides a call of `cost` at `now` against `state` (`undefined` for a key with no state).
   * Pure: reads `state`, never changes it. A state past {@link Algorithm.expiresAt} must decide
   * exactly as no state does, so stores need not check expiry before every call. With `charge`,
   * `remaining` and `resetMs` describe the state after charging an allowed call; without, the
   * state as it is (a peek).
   */
  evaluate(state: State | undefined, now: number, cost: number, charge: boolean): Decision;
  /**
   * The state after charging an allowed call of `cost` at `now` (an expired `state` counts as
   * none). May reuse the storage of `state` (stores keep one state per key and replace it), so
   * the caller must not read `state` after.
   */
  charge(state: State | undefined, now: number, cost: number): State;
  /**
   * The state after giving back up to `cost` units at `now`, never beyond the full limit: the
   * newest charges first, where the algorithm remembers charges one by one. `undefined` (no state)
   * stays `undefined`. May reuse the storage of `state`, as {@link Algorithm.charge} may.
   */
  refund(state: State | undefined, now: number, cost: number): State | undefined;
  /**
   * The time (on the clock `now` comes from) from which `state` can no longer change a
   * decision: an emptied log, a full bucket. A store may forget the key from then on.
   */
  expiresAt(state: State): number;
  /**
   * The algorithm's Lua twin, for the Redis store: the same rules, written to run inside Redis.
   * Without one, the algorithm runs on the memory store (and on stores of your own) only.
   */
  readonly redis?: RedisTwin;
}

/**
 * An algorithm's Redis twin, as data: the Lua of its step and the numbers it is configured with.
 * The Redis store composes the twins of a limiter's policies into one script, so all policies of
 * a key are decided, and charged, atomically on the Redis server's clock.
 */
export interface RedisTwin {
  /**
   * The Lua code of each step, written once per algorithm (not per instance); see {@link LuaTwin}.
   */
  readonly lua: LuaTwin;
  /**
   * The numbers this instance is configured with, sent to the script with every call and read by
   * the Lua code as `p.arg(0)`, `p.arg(1)`, … in this order. Finite numbers.
   */
  readonly params: readonly number[];
  /**
   * Milliseconds in which one unit comes back, for an algorithm that gives units back one at a
   * time at a steady rate (a bucket's refill). Optional: it only lets the Redis store's deny cache
   * answer a larger cost with a closer wait than the policy's `resetMs`. It must be a bound: if a
   * call of cost `c` fits after a wait `w`, one of cost `c + k` must fit after `w + ceil(k ×
   * msPerUnit)`, with the algorithm's own rounding. Leave it out when float sums in the state can
   * make that a millisecond short.
   */
  readonly msPerUnit?: number;
}

/** Names a twin's code may use for one policy; the script passes them to each {@link LuaTwin} step. */
export interface LuaPolicy {
  /** The policy's Redis key, a Lua expression (`KEYS[i]`). */
  readonly key: string;
  /** The j-th (0-based) of the twin's {@link RedisTwin.params}, a Lua string expression (`ARGV[n]`). */
  arg(j: number): string;
  /**
   * The j-th (0-based) of the twin's {@link RedisTwin.params} as a Lua number, converted once per
   * script call rather than once per decision: an expression for a parameter the twin does
   * arithmetic with. A parameter that is not a number fails the script call.
   */
  num(j: number): string;
  /**
   * A Lua expression for the policy key's value as `redis.call('GET', key)` gives it: read for
   * the whole batch by one `MGET`, which costs Redis less than a `GET` per decision. Its value is
   * the key as the call found it, or as {@link LuaPolicy.set} or {@link LuaPolicy.del} of this
   * script call left it; after a write of its own with `redis.call`, a twin reads the key with
   * `redis.call`. A key that does not hold a string is read with `GET`, which refuses it as it
   * always has.
   */
  get(): string;
  /**
   * A Lua statement that writes `value` (a Lua expression: a string, or a number, stored as Redis
   * formats it) to the policy key with a PX of `ttl` (a Lua expression, in whole milliseconds,
   * such as the `ttl` that `luaTtl` declares). When the key comes more than once in the script
   * call (one client's burst), the write waits in the script, where `get` finds it, and the key's
   * last value reaches Redis once every call has run, which costs Redis far less than a `SET` per
   * call; otherwise it is written at once. A twin that writes its key with `set` or
   * {@link LuaPolicy.del} reads it only with `get`, never with `redis.call`.
   */
  set(value: string, ttl: string): string;
  /** A Lua statement that deletes the policy key, at once or later, as {@link LuaPolicy.set} writes it. */
  del(): string;
  /** A local name private to this policy: `v('base')` is `base_3` for the third policy. */
  v(name: string): string;
  /**
   * The reply slots of this policy, locals holding 0 on entry: `allowed` (1/0), `remaining`,
   * `resetMs`, `retryAfterMs`.
   */
  readonly out: readonly [string, string, string, string];
}

/**
 * The Lua of one algorithm's twin, as functions that return the code for one policy. The store
 * generates one flat script per limiter shape, with each policy's code inline and its own locals,
 * because Redis runs a script's whole body on every call: closures and tables built per call cost
 * more server time than the decision itself.
 *
 * Each step's code may use the script's locals `now` (milliseconds, with a fraction), `cost`,
 * `charging` (a consume of `cost > 0` that nothing blocks), `all` (set it to false on a denial),
 * `ttl_floor`, `floor`, `ceil`, `abs`, `pack`, `unpack` (`struct`), and the code of the helpers
 * `luaWaitUntil` and `luaTtl` exported by `floodgate`. Declare only `local`s inside `do … end`
 * or named with `p.v(…)`: every policy's code shares one Lua function, which may hold 200 locals.
 * A policy may keep at most six locals of its own at the top level of its code (besides its four
 * reply slots), so that the most policies a limiter may have (16) fit; keep the rest inside
 * `do … end`. Past that budget Redis refuses the script on the limiter's first call, with an
 * `ERR_STORE` naming "more than 200 local variables".
 */
export interface LuaTwin {
  /**
   * Reads the policy's parameters and state (dropping what has expired, which never changes a
   * decision) into locals named with `p.v`, and fills its reply slots exactly as the TypeScript
   * `evaluate(state, now, cost, charging)` does; sets `all = false` when it denies.
   */
  decide(p: LuaPolicy): string;
  /** Rewrites the reply slots of an allowing policy to its uncharged view (another policy denied). */
  uncharged(p: LuaPolicy): string;
  /** Writes the charged state and its expiry (every policy allowed); runs after `decide`. */
  charge(p: LuaPolicy): string;
  /**
   * Gives back up to `cost` units as the TypeScript `refund(state, now, cost)` does, reading and
   * writing the key itself; runs on its own, before a `decide` that reports the state after it.
   */
  refund(p: LuaPolicy): string;
}

/** One named policy of a limiter. */
export interface PolicySpec {
  /** The policy's name: `default` for a single-algorithm limiter, else the key in `policies`. */
  readonly name: string;
  /** The algorithm that decides for this policy. */
  readonly algorithm: Algorithm;
}

/** What a limiter tells a store once, at construction. */
export interface BindOptions {
  /** Namespaces this limiter's keys from other limiters sharing the store. */
  readonly prefix: string;
  /** The policies every call is checked against, all-or-nothing, in this order. */
  readonly policies: readonly PolicySpec[];
  /**
   * When a charging call is denied, the key is blocked for this many milliseconds from the
   * denial (see {@link StoreBinding.block}); 0 for no lock-out.
   */
  readonly blockDurationMs: number;
}

/**
 * Where state lives. A store is bound once per limiter, and the binding makes the decisions.
 * Implement this to bring your own backend; `floodgate/testing` has the contract suite it must pass.
 */
export interface Store {
  /** Prepares whatever the store needs for these policies (tables, key layout, scripts). */
  bind(options: BindOptions): StoreBinding;
}

/** A store bound to one limiter's prefix and policies. */
export interface StoreBinding {
  /**
   * Evaluates `cost` for `key` against every policy and, when all allow and `charge` is set,
   * charges all of them; atomically, so concurrent calls never over-admit. Returns one Decision
   * per policy, in order. When any policy denies, none is charged and the others report their
   * uncharged view (as a peek would). May answer synchronously. A store failure throws or
   * rejects with a {@link FloodgateError} whose code is `ERR_STORE*`.
   */
  decide(key: string, cost: number, charge: boolean): readonly Decision[] | Promise<readonly Decision[]>;
  /**
   * Gives back up to `cost` units of `key` to every policy (see {@link Algorithm.refund}),
   * atomically, and returns what a peek of cost 1 gives after it.
   */
  refund(key: string, cost: number): readonly Decision[] | Promise<readonly Decision[]>;
  /**
   * Blocks `key` for `durationMs` from now on the store's clock, unless it is already blocked for
   * longer, and returns what a peek of cost 1 gives after it. While a key is blocked, every call
   * (a cost of 0 too) is denied, nothing is charged, and each policy's Decision has
   * `blocked: true`, `remaining: 0`, and `retryAfterMs` and `resetMs` at least the time the block
   * has left. A charging call that the policies deny blocks the key for the binding's
   * `blockDurationMs`, in the same atomic step. `reset` lifts a block.
   */
  block(key: string, durationMs: number): readonly Decision[] | Promise<readonly Decision[]>;
  /** Forgets all state of `key` under every policy of this binding, and lifts its block. */
  reset(key: string): void | Promise<void>;
}
