/**
 * How an algorithm's Lua twin plugs into the Redis store's decide script. The script is generated
 * flat, one block of code per policy with its own locals, because Redis runs a script's whole body
 * on every call: closures and tables built per call (a table of algorithms, a state table per
 * policy) cost more server time than the decision itself.
 */

/** Names a twin's code may use for one policy. */
export interface LuaPolicy {
  /** The policy's Redis key, a Lua expression (`KEYS[i]`). */
  readonly key: string;
  /** The j-th (0-based) of the policy's `scriptArgs`, a Lua expression (`ARGV[n]`). */
  arg(j: number): string;
  /** A local name private to this policy: `v('base')` is `base_3` for the third policy. */
  v(name: string): string;
  /** The reply slots of this policy: `allowed`, `remaining`, `resetMs`, `retryAfterMs`. */
  readonly out: readonly [string, string, string, string];
}

/**
 * One algorithm's Lua twin. Besides its own helpers, its code may use the script's locals `now`
 * (milliseconds), `cost`, `charging` (`charge and cost > 0`), `all` (set it to false on a
 * denial), `floor`, `ceil`, `abs`, `pack`, `unpack` (`struct`), and the helpers
 * `wait_until(at, now)` (the TS `waitUntil`) and `ttl_until(at, now)` (the PEXPIRE for state that
 * stops mattering at `at`).
 */
export interface LuaTwin {
  /** Local functions, emitted once per script that uses the algorithm. */
  readonly helpers: string;
  /**
   * Reads the policy's arguments and state (dropping what has expired, which never changes a
   * decision) into locals, and fills its reply slots exactly as the TS `evaluate(state, now,
   * cost, charging)` does; sets `all = false` when it denies.
   */
  decide(p: LuaPolicy): string;
  /** Rewrites the reply slots of an allowing policy to its uncharged view (another policy denied). */
  uncharged(p: LuaPolicy): string;
  /** Writes the charged state and its PEXPIRE (every policy allowed). */
  charge(p: LuaPolicy): string;
}
