import { createHash } from 'node:crypto';
import { luaTtl, luaWaitUntil } from '../../algorithms/lua.js';
import type { LuaPolicy, LuaTwin } from '../../types.js';

/** Arguments before the policies' own: `cost`, `op`, `blockDurationMs`. */
const FIXED_ARGS = 3;

/** What one call of the script does; ARGV[2]. */
export const OP = {
  /** Decide and, all allowing, charge; a denial starts the lock-out, if the limiter has one. */
  consume: '1',
  /** Decide, charging nothing. */
  peek: '0',
  /** Give back up to `cost` units to every policy, then peek at cost 1. */
  refund: 'r',
  /** Block the key for `cost` milliseconds (unless blocked for longer), then peek at cost 1. */
  block: 'b',
} as const;

/**
 * Most policies one limiter may have on the Redis store: each policy's code keeps up to nine Lua
 * locals for the whole script, and a Lua function may hold 200.
 */
export const MAX_POLICIES = 16;

/** Bytes of the reply: four doubles per policy, and one for the block. */
export function replyBytes(policies: number): number {
  return policies * 32 + 8;
}

/**
 * The one script behind every call of a limiter with these policies: all policies of one key
 * read, decided and (all allowing) charged atomically, in one round trip, on the Redis clock.
 *
 * KEYS: one key per policy, in the limiter's order, then the key's block (all in one hash slot).
 * ARGV: `cost` (for a block, its duration in ms), the {@link OP}, the limiter's `blockDurationMs`
 *   (`0` for none), each policy's twin `params` in order, then `now` only when the store has an
 *   injected clock (milliseconds). Without it the script reads the server's `TIME`, with its
 *   microseconds as a fraction. An injected clock has no relation to the real time in which Redis
 *   expires keys, so then every PEXPIRE is at least 60 s rather than risk dropping state the clock
 *   still considers live.
 * Reply: one string of little-endian doubles: four per policy, in order (`allowed` 1/0,
 *   `remaining`, `resetMs`, `retryAfterMs`), then the milliseconds the key's block has left (0 for
 *   none). Packing them is cheaper for Redis than building a table and replying it element by
 *   element, and doubles carry every value exactly. When any policy denies a charging call, none is
 *   charged and the allowing ones report their uncharged view, exactly as the memory store does;
 *   the store applies the block to the Decisions.
 *
 * The block is a STRING holding the instant it ends, `struct.pack('<d', until)`, expiring then.
 *
 * Scripts are replicated by their effects (the default since Redis 5), so reading `TIME` before
 * writing is allowed.
 */
function source(twins: readonly LuaTwin[], argCounts: readonly number[]): string {
  const policies: LuaPolicy[] = [];
  let next = FIXED_ARGS + 1;
  for (let i = 0; i < twins.length; i++) {
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
  const each = (code: (t: LuaTwin, p: LuaPolicy) => string): string =>
    policies.map((p, i) => code(twins[i] as LuaTwin, p)).join('');
  const slots = policies.flatMap((p) => p.out);
  const blockKey = `KEYS[${twins.length + 1}]`;
  const setBlock = `${luaTtl('until_')}redis.call('SET', ${blockKey}, pack('<d', until_), 'PX', ttl)\n`;
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
local cost, op = ARGV[1] + 0, ARGV[2]
local until_ = 0
do
  local b = redis.call('GET', ${blockKey})
  if b then until_ = unpack('<d', b) end
end
if op == '${OP.block}' then
  if now + cost > until_ then
    until_ = now + cost
    do
${setBlock}    end
  end
  cost, op = 1, '${OP.peek}'
elseif op == '${OP.refund}' then
${each((t, p) => t.refund(p))}  cost, op = 1, '${OP.peek}'
end
local blocked = until_ > now
local charging = op == '${OP.consume}' and cost > 0 and not blocked
local all = true
${each((t, p) => `local ${p.out.join(', ')} = 0, 0, 0, 0${t.decide(p)}`)}
if charging then
  if all then
${each((t, p) => t.charge(p))}  else
${each((t, p) => `if ${p.out[0]} == 1 then\n${t.uncharged(p)}end\n`)}    local lockout = ARGV[3] + 0
    if lockout > 0 then
      until_, blocked = now + lockout, true
      do
${setBlock}      end
    end
  end
end
local block_ms = 0
if blocked then
${luaWaitUntil('block_ms', 'until_')}end
return pack('<${'d'.repeat(slots.length + 1)}', ${slots.join(', ')}, block_ms)
`;
}

/** One variant of the decide script and its SHA-1, for EVALSHA. */
export interface DecideScript {
  readonly source: string;
  readonly sha: string;
}

/** Scripts by source: limiters of one shape (the same twins, in order) share one. */
const variants = new Map<string, DecideScript>();

/**
 * The script for policies with these twins, in this order, with these parameter counts: flat code
 * specialised to the policies, since Redis runs a script's whole body on every call. One variant
 * per shape, shared by every binding of that shape; the policies' numbers stay arguments, so the
 * count of scripts Redis caches stays as small as the count of limiter shapes.
 */
export function decideScript(policies: readonly { lua: LuaTwin; argc: number }[]): DecideScript {
  const text = source(
    policies.map((p) => p.lua),
    policies.map((p) => p.argc),
  );
  let script = variants.get(text);
  if (script === undefined) {
    script = { source: text, sha: createHash('sha1').update(text).digest('hex') };
    variants.set(text, script);
  }
  return script;
}
