/**
 * How an algorithm's Lua twin plugs into the Redis store's decide script. The script is generated
 * flat, one block of code per policy with its own locals, because Redis runs a script's whole body
 * on every call: closures and tables built per call (a helper function, a table of algorithms, a
 * state table per policy, a reply table) cost more server time than the decision itself. Helpers
 * are therefore TypeScript functions that emit their Lua inline where it is needed.
 */

/** Names a twin's code may use for one policy. */
export interface LuaPolicy {
  /** The policy's Redis key, a Lua expression (`KEYS[i]`). */
  readonly key: string;
  /** The j-th (0-based) of the twin's {@link LuaTwin.args}, a Lua expression (`ARGV[n]`). */
  arg(j: number): string;
  /** A local name private to this policy: `v('base')` is `base_3` for the third policy. */
  v(name: string): string;
  /**
   * The reply slots of this policy, locals holding 0 on entry: `allowed` (1/0), `remaining`,
   * `resetMs`, `retryAfterMs`.
   */
  readonly out: readonly [string, string, string, string];
}

/**
 * One algorithm's Lua twin. Its code may use the script's locals `now` (milliseconds), `cost`,
 * `charging` (`charge and cost > 0`), `all` (set it to false on a denial), `ttl_floor`, `floor`,
 * `ceil`, `abs`, `pack`, `unpack` (`struct`), and emit {@link luaWaitUntil} and {@link luaTtl}.
 */
export interface LuaTwin {
  /**
   * The policy's ARGV, as strings, from the algorithm's validated `scriptArgs`. Strings, because a
   * number handed to `redis.call` is formatted by the server with `%.17g` on every call: a twin
   * that passes a value to a command on the common path sends it ready-made here.
   */
  args(scriptArgs: readonly number[]): string[];
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

/** Lua setting `target` to the TS `waitUntil(at, now)`: whole milliseconds until `now` reaches `at`. */
export function luaWaitUntil(target: string, at: string): string {
  return `do
  local at = ${at}
  if at <= now then ${target} = 0 else
    local r = ceil(at - now)
    if now + r < at then
      r = r + 1
    elseif r > 1 and now + (r - 1) >= at then
      r = r - 1
    end
    ${target} = r
  end
end
`;
}

/**
 * Longest PEXPIRE the store sets, in milliseconds (about 31,700 years). Redis formats a number
 * handed to `redis.call` with `%.17g`, so from 1e17 on a TTL reaches the command as `1e+17`, which
 * `SET PX` and `PEXPIRE` reject as not an integer; absurd settings (a bucket refilling a token in
 * decades) get there. Below 1e17 every whole number is written out in digits, and this one leaves
 * Redis ample room under its own limit (the expiry plus its clock must fit in 64 bits). State kept
 * for 31,700 years instead of longer changes no decision anyone will see.
 */
const MAX_TTL_MS = 1e15;

/**
 * Lua declaring the local `ttl`: the PEXPIRE, in whole milliseconds, of state that stops mattering
 * at `at`. One millisecond over, so Redis's millisecond expiry never drops state still live at the
 * microsecond precision of `now`; at least `ttl_floor` (60 s under an injected clock, which has no
 * relation to the time in which Redis expires keys); at most {@link MAX_TTL_MS}.
 */
export function luaTtl(at: string): string {
  return `local ttl = ceil((${at}) - now)
if ttl < 1 then ttl = 1 end
ttl = ttl + 1
if ttl < ttl_floor then ttl = ttl_floor end
if ttl > ${MAX_TTL_MS} then ttl = ${MAX_TTL_MS} end
`;
}
