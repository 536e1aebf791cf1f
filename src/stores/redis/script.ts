import { createHash } from 'node:crypto';
import { SLIDING_WINDOW_LOG_LUA } from '../../algorithms/sliding-window-log.lua.js';
import { TOKEN_BUCKET_LUA } from '../../algorithms/token-bucket.lua.js';
import type { AlgorithmKind } from '../../types.js';

/**
 * Every algorithm's Lua twin, by kind. Adding an algorithm means adding its fragment here; the
 * `Record` type makes a missing one a compile error. A fragment defines
 * `ALGORITHMS[kind] = { load, evaluate, charge }`, and may call the script's helpers
 * `wait_until(at, now)` (the TS `waitUntil`) and `ttl_until(at, now)` (the PEXPIRE for state
 * that stops mattering at `at`):
 * - `load(key, now, args)` reads the key's state (`nil` when absent or expired);
 * - `evaluate(key, state, now, cost, charge, args)` returns `allowed, remaining, resetMs,
 *   retryAfterMs` exactly as the TS `evaluate` does;
 * - `charge(key, state, now, cost, args)` writes the charged state and its PEXPIRE.
 */
const FRAGMENTS: Readonly<Record<AlgorithmKind, string>> = {
  'sliding-window-log': SLIDING_WINDOW_LOG_LUA,
  'token-bucket': TOKEN_BUCKET_LUA,
};

/**
 * The one script behind every decision: all policies of one key read, decided and (all allowing)
 * charged atomically, in one round trip, on the Redis clock.
 *
 * KEYS: one key per policy, in the limiter's order (all in one hash slot).
 * ARGV: `now` (milliseconds; empty for the server's `TIME`, with its microseconds as a fraction;
 *   an injected clock has no relation to the real time in which Redis expires keys, so then every
 *   PEXPIRE is at least 60 s rather than risk dropping state the clock still considers live),
 *   `cost`, `charge` (`1` or `0`), then per policy: its kind, the count of its arguments, and
 *   the arguments (the algorithm's `scriptArgs`).
 * Reply: four integers per policy, in order: `allowed` (1/0), `remaining`, `resetMs`,
 *   `retryAfterMs`. When any policy denies a charging call, none is charged and the allowing
 *   ones report their uncharged view, exactly as the memory store does.
 */
function decideSource(fragments: string): string {
  return `
if redis.replicate_commands then redis.replicate_commands() end
local ALGORITHMS = {}
local ttl_floor = 0
local function ttl_until(at, now)
  local ttl = math.ceil(at - now)
  if ttl < 1 then ttl = 1 end
  ttl = ttl + 1
  if ttl < ttl_floor then return ttl_floor end
  return ttl
end
local function wait_until(at, now)
  if at <= now then return 0 end
  local r = math.ceil(at - now)
  if now + r < at then
    r = r + 1
  elseif r > 1 and now + (r - 1) >= at then
    r = r - 1
  end
  return r
end
${fragments}
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
else
  now = tonumber(ARGV[1])
  ttl_floor = 60000
end
local cost = tonumber(ARGV[2])
local charge = ARGV[3] == '1'
local algos, params, states, out = {}, {}, {}, {}
local pos, all = 4, true
for i = 1, #KEYS do
  local algo = ALGORITHMS[ARGV[pos]]
  if not algo then return redis.error_reply('floodgate: unknown algorithm ' .. tostring(ARGV[pos])) end
  local argc = tonumber(ARGV[pos + 1])
  local a = {}
  for j = 1, argc do a[j] = tonumber(ARGV[pos + 1 + j]) end
  pos = pos + 2 + argc
  local st = algo.load(KEYS[i], now, a)
  local ok, remaining, reset, retry = algo.evaluate(KEYS[i], st, now, cost, charge, a)
  if not ok then all = false end
  algos[i], params[i], states[i] = algo, a, st
  out[4 * i - 3], out[4 * i - 2], out[4 * i - 1], out[4 * i] = ok and 1 or 0, remaining, reset, retry
end
if charge and cost > 0 then
  for i = 1, #KEYS do
    if all then
      algos[i].charge(KEYS[i], states[i], now, cost, params[i])
    elseif out[4 * i - 3] == 1 then
      local _, remaining, reset, retry = algos[i].evaluate(KEYS[i], states[i], now, cost, false, params[i])
      out[4 * i - 2], out[4 * i - 1], out[4 * i] = remaining, reset, retry
    end
  end
end
return out
`;
}

/** One variant of the decide script and its SHA-1, for EVALSHA. */
export interface DecideScript {
  readonly source: string;
  readonly sha: string;
}

const variants = new Map<string, DecideScript>();

/**
 * The decide script carrying only the fragments of `kinds`: Redis runs a script's whole body on
 * every call, so every fragment it carries costs closures it would never call. One variant per
 * set of kinds, shared by every binding that needs it.
 */
export function decideScript(kinds: readonly AlgorithmKind[]): DecideScript {
  const used = [...new Set(kinds)].sort();
  const id = used.join(',');
  let script = variants.get(id);
  if (script === undefined) {
    const source = decideSource(used.map((kind) => FRAGMENTS[kind]).join('\n'));
    script = { source, sha: createHash('sha1').update(source).digest('hex') };
    variants.set(id, script);
  }
  return script;
}
