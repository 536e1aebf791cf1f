import { createHash } from 'node:crypto';
import type { LuaPolicy, LuaTwin } from '../../algorithms/lua.js';
import { SLIDING_WINDOW_LOG_LUA } from '../../algorithms/sliding-window-log/lua.js';
import { TOKEN_BUCKET_LUA } from '../../algorithms/token-bucket/lua.js';
import type { AlgorithmKind } from '../../types.js';

/**
 * Every algorithm's Lua twin, by kind. Adding an algorithm means adding its twin here; the
 * `Record` type makes a missing one a compile error.
 */
const TWINS: Readonly<Record<AlgorithmKind, LuaTwin>> = {
  'sliding-window-log': SLIDING_WINDOW_LOG_LUA,
  'token-bucket': TOKEN_BUCKET_LUA,
};

/** Arguments before the policies' own: `cost`, `charge`. */
const FIXED_ARGS = 2;

/**
 * Most policies one limiter may have on the Redis store: each policy's code keeps up to nine Lua
 * locals for the whole script, and a Lua function may hold 200.
 */
export const MAX_POLICIES = 16;

/**
 * The one script behind every decision of a limiter with these policies: all policies of one key
 * read, decided and (all allowing) charged atomically, in one round trip, on the Redis clock.
 *
 * KEYS: one key per policy, in the limiter's order (all in one hash slot).
 * ARGV: `cost`, `charge` (`1` or `0`), each policy's twin `args` in order, then `now` only when
 *   the store has an injected clock (milliseconds). Without it the script reads the server's
 *   `TIME`, with its microseconds as a fraction. An injected clock has no relation to the real
 *   time in which Redis expires keys, so then every PEXPIRE is at least 60 s rather than risk
 *   dropping state the clock still considers live.
 * Reply: one string of four little-endian doubles per policy, in order: `allowed` (1/0),
 *   `remaining`, `resetMs`, `retryAfterMs`. Packing them is cheaper for Redis than building a
 *   table and replying it element by element, and doubles carry every value exactly. When any
 *   policy denies a charging call, none is charged and the allowing ones report their uncharged
 *   view, exactly as the memory store does.
 *
 * Scripts are replicated by their effects (the default since Redis 5), so reading `TIME` before
 * writing is allowed.
 */
function decideSource(kinds: readonly AlgorithmKind[], argCounts: readonly number[]): string {
  const policies: LuaPolicy[] = [];
  let next = FIXED_ARGS + 1;
  for (let i = 0; i < kinds.length; i++) {
    const first = next;
    next += argCounts[i] as number;
    const n = i + 1;
    policies.push({
      key: `KEYS[${n}]`,
      arg: (j) => `ARGV[${first + j}]`,
      v: (name) => `${name}_${n}`,
      out: [`ok_${n}`, `remaining_${n}`, `reset_${n}`, `retry_${n}`],
    });
  }
  const twin = (i: number): LuaTwin => TWINS[kinds[i] as AlgorithmKind];
  const each = (code: (t: LuaTwin, p: LuaPolicy, i: number) => string): string =>
    policies.map((p, i) => code(twin(i), p, i)).join('');
  const slots = policies.flatMap((p) => p.out);
  return `local floor, ceil, abs = math.floor, math.ceil, math.abs
local pack, unpack = struct.pack, struct.unpack
local now, ttl_floor = ARGV[${next}], 60000
-- Arithmetic converts the strings exactly as tonumber would, for less than half its cost.
if now then
  now = now + 0
else
  local t = redis.call('TIME')
  now, ttl_floor = t[1] * 1000 + t[2] / 1000, 0
end
local cost = ARGV[1] + 0
local charging = ARGV[2] == '1' and cost > 0
local all = true
${each((t, p) => `local ${p.out.join(', ')} = 0, 0, 0, 0${t.decide(p)}`)}
if charging then
  if all then
${each((t, p) => t.charge(p))}  else
${each((t, p) => `if ${p.out[0]} == 1 then\n${t.uncharged(p)}end\n`)}  end
end
return pack('<${'d'.repeat(slots.length)}', ${slots.join(', ')})
`;
}

/** The ARGV a policy of this kind sends, from its algorithm's validated `scriptArgs`. */
export function policyArgs(kind: AlgorithmKind, scriptArgs: readonly number[]): string[] {
  return TWINS[kind].args(scriptArgs);
}

/** One variant of the decide script and its SHA-1, for EVALSHA. */
export interface DecideScript {
  readonly source: string;
  readonly sha: string;
}

const variants = new Map<string, DecideScript>();

/**
 * The decide script for policies of these kinds, in this order, with these argument counts: flat
 * code specialised to the policies, since Redis runs a script's whole body on every call. One
 * variant per shape, shared by every binding of that shape; the policies' numbers stay arguments,
 * so the count of scripts Redis caches stays as small as the count of limiter shapes.
 */
export function decideScript(policies: readonly { kind: AlgorithmKind; argc: number }[]): DecideScript {
  const id = policies.map((p) => `${p.kind}/${p.argc}`).join(',');
  let script = variants.get(id);
  if (script === undefined) {
    const source = decideSource(
      policies.map((p) => p.kind),
      policies.map((p) => p.argc),
    );
    script = { source, sha: createHash('sha1').update(source).digest('hex') };
    variants.set(id, script);
  }
  return script;
}
