import { createHash } from 'node:crypto';
import { luaTtl, luaWaitUntil } from '../../algorithms/lua.js';
import type { LuaPolicy, LuaTwin } from '../../types.js';

/** Arguments before the policies' own: the count of calls, `blockDurationMs`, the clock flag. */
const FIXED_ARGS = 3;

/** What one call in a batch does. */
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
 * Most policies one limiter may have on the Redis store: each policy's code keeps up to ten Lua
 * locals (its four reply slots among them) for the whole of a call's function, and a Lua
 * function may hold 200.
 */
export const MAX_POLICIES = 16;

/**
 * Most calls one script call decides. A decision costs Redis a few microseconds (a log reading
 * far back for a large cost, more), so a batch of 64 holds the server well under a millisecond,
 * and other clients' commands wait no longer than that behind it.
 */
export const MAX_BATCH = 64;

/** The first byte of a call's part of the reply: its Decisions follow. */
export const REPLY_OK = 0x6b; // 'k'
/** The first byte of a call's part of the reply when its code raised an error: the message follows. */
export const REPLY_ERROR = 0x65; // 'e'
/**
 * The first byte of a call's part of the reply, in a batch across slots, when the master does not
 * serve its keys as they stand (see the decide script): the call ran nothing, and the message
 * follows.
 */
export const REPLY_ELSEWHERE = 0x6d; // 'm'

/** Bytes of one call's Decisions in the reply: four doubles per policy, and one for the block. */
export function decisionBytes(policies: number): number {
  return policies * 32 + 8;
}

/**
 * The one script behind every call of a limiter with these policies. One script call decides a
 * batch of calls, in order, each exactly as a script call of its own at that instant would: all
 * policies of a call's key read, decided and (all allowing) charged atomically, on the Redis
 * clock, read once for the batch.
 *
 * KEYS: per call, one key per policy in the limiter's order, then the key's block (all of one
 *   call in one hash slot). On a Cluster, a batch whose calls lie in several slots of one master
 *   declares only its first call's keys (Redis routes by them, and refuses declared keys of
 *   several slots); the other calls' keys follow the arguments, and the count is negative.
 * ARGV: the count of calls, the limiter's `blockDurationMs` (`0` for none), `1` when the store
 *   has an injected clock (else `0`), each policy's twin `params` in order; then per call its
 *   `cost` (for a block, its duration in ms), its {@link OP} and, with an injected clock, its
 *   `now` (milliseconds); then, for a negative count, the keys of every call but the first, as
 *   KEYS would hold them. Without an injected clock the script reads the server's `TIME`, with
 *   its microseconds as a fraction. An injected clock has no relation to the real time in which
 *   Redis expires keys, so then every PEXPIRE is at least 60 s rather than risk dropping state the
 *   clock still considers live.
 * Reply: one string; per call, {@link REPLY_OK} and its little-endian doubles: four per policy,
 *   in order (`allowed` 1/0, `remaining`, `resetMs`, `retryAfterMs`), then the milliseconds the
 *   key's block has left (0 for none); or {@link REPLY_ERROR}, the length of the error message
 *   (`struct.pack('<I')`) and the message; or, the same way, {@link REPLY_ELSEWHERE} and Redis's
 *   refusal of the call's keys. Each call runs under `pcall`, so one call's error (a key of the
 *   wrong type) fails that call alone. Packing is cheaper for Redis than building a table and
 *   replying it element by element, and doubles carry every value exactly. When any
 *   policy denies a charging call, none is charged and the allowing ones report their uncharged
 *   view, exactly as the memory store does; the store applies the block to the Decisions.
 *
 * The block is a STRING holding the instant it ends, `struct.pack('<d', until)`, expiring then. A
 * block key holding another type reads as no block (MGET reads it as nil), and a block replaces it.
 *
 * Scripts are replicated by their effects (the default since Redis 5), so reading `TIME` before
 * writing is allowed.
 */
function source(twins: readonly LuaTwin[], argCounts: readonly number[]): string {
  const policies: LuaPolicy[] = [];
  /**
   * Parameters a twin reads as numbers (`num`), by ARGV index, and the Lua expression each is
   * read by: converted once per script call, at the top, into a local (`locals`, the Lua that
   * declares each) or, past the budget for those, into one table (`tabled`, its items in order).
   */
  const numbers = new Map<number, string>();
  const locals: string[] = [];
  const tabled: string[] = [];
  /** Policies (1-based) whose twin reads its key with `get`: read for the whole batch by one MGET. */
  const prefetched = new Set<number>();
  /** Whether any twin writes its key with `set` or `del`, whose writes of a repeated key wait. */
  let defers = false;
  let next = FIXED_ARGS + 1;
  for (let i = 0; i < twins.length; i++) {
    const first = next;
    next += argCounts[i] as number;
    const n = i + 1;
    const key = `K[kb + ${n}]`;
    policies.push({
      key,
      arg: (j) => `ARGV[${first + j}]`,
      num: (j) => {
        const at = first + j;
        let name = numbers.get(at);
        if (name === undefined) {
          // Locals of the top of the script, up to a budget: the decision's function reads each as
          // an upvalue, of which Lua allows it 60, and the script's own take about 20.
          if (locals.length < NUMBER_LOCALS) {
            name = `num_${at}`;
            locals.push(`local ${name} = ARGV[${at}] + 0\n`);
          } else {
            tabled.push(`ARGV[${at}] + 0`);
            name = `nums[${tabled.length}]`;
          }
          numbers.set(at, name);
        }
        return name;
      },
      get: () => {
        prefetched.add(n);
        // The key as MGET read it; for a key that comes more than once in the batch, the last
        // write of this script call if there is one (false for a deletion). False from MGET is a
        // missing key, or one of another type, which GET refuses as before.
        return `(not again and (vals[kb + ${n}] or redis.call('GET', ${key})) or again and got(${key}, kb + ${n}) or nil)`;
      },
      set: (value, ttl) => {
        defers = true;
        return `if again then put(${key}, ${value}, ${ttl}) else redis.call('SET', ${key}, ${value}, 'PX', ${ttl}) end`;
      },
      del: () => {
        defers = true;
        return `if again then put(${key}, false, 0) else redis.call('DEL', ${key}) end`;
      },
      v: (name) => `${name}_${n}`,
      out: [`ok_${n}`, `remaining_${n}`, `reset_${n}`, `retry_${n}`],
    });
  }
  // Each step's code on lines of its own, whatever it starts and ends with.
  const each = (code: (t: LuaTwin, p: LuaPolicy) => string): string =>
    policies.map((p, i) => `\n${code(twins[i] as LuaTwin, p)}\n`).join('');
  const slots = policies.flatMap((p) => p.out);
  const keys = twins.length + 1;
  const setBlock = `${luaTtl('until_')}redis.call('SET', block_key, pack('<d', until_), 'PX', ttl)\nset_blocks[block_key] = until_\n`;
  // The twins' code first: which parameters they read as numbers, and which keys with `get`,
  // decides what the top of the script reads for them.
  const refund = each((t, p) => t.refund(p));
  const decide = each((t, p) => `local ${p.out.join(', ')} = 0, 0, 0, 0\n${t.decide(p)}`);
  const charge = each((t, p) => t.charge(p));
  const uncharged = each((t, p) => `if ${p.out[0]} == 1 then\n${t.uncharged(p)}end\n`);
  const gets = [...prefetched];
  // Drops what `get` read for the call at `kb`, so that it reads the key when it runs: after a
  // refund of its own has written it, or an earlier call of the batch may have.
  const reread = gets.map((n) => `vals[kb + ${n}] = false\n`).join('');
  // By block key, whether the key comes more than once in the batch (false while seen once), and
  // whether any does; `onRepeat` runs for each call whose key came before.
  const countKeys = (onRepeat: string): string => `local many, repeats = nil, false
if calls > 1 then
  many = {}
  for i = 1, calls do
    local b = K[${keys} * i]
    if many[b] ~= nil then
      many[b], repeats = true, true
${onRepeat}    else
      many[b] = false
    end
  end
end
`;
  const reads =
    gets.length === 0
      ? `-- Every call's block, read with one MGET for the whole batch rather than a GET per call; across
-- slots, where one MGET may not go, with each call's keys as it starts.
local blocks
if cross then
  blocks = {}
elseif calls == 1 then
  blocks = redis.call('MGET', K[${keys}])
else
  local names = {}
  for i = 1, calls do names[i] = K[${keys} * i] end
  blocks = redis.call('MGET', tunpack(names))
end
`
      : `-- Every key of the batch, the policies' and the blocks', read with one MGET rather than a GET
-- per key and call; across slots, where one MGET may not go, with each call's keys as it starts.
local vals = {}
if not cross then vals = redis.call('MGET', tunpack(K)) end
-- A key that comes again is read when its later call runs, after the earlier call's writes.
${countKeys(`      local kb = ${keys} * (i - 1)\n${reread}`)}`;
  // Across slots, read with the call's other keys as the call starts (`here`).
  const block = `(${gets.length === 0 ? `blocks[kb / ${keys} + 1]` : `vals[kb + ${keys}]`} or here and here[${keys}])`;
  // Across slots, the keys `get` reads, from that same read.
  const fill = gets.map((n) => `    vals[kb + ${n}] = here[${n}]\n`).join('');
  // A write through `set` or `del` of a call whose key comes more than once in the batch (one
  // client's burst) waits in `wr` (a string, or false for a deletion), where `get` finds it, and
  // the key's last write reaches Redis once every call has run: one SET for the burst rather than
  // a GET and a SET per call. Any other write goes to Redis at once, as it costs no more there.
  const tracks = gets.length > 0 || defers;
  // Made only for a batch in which a key repeats: a lone call, or a batch of distinct keys, pays
  // for none of it.
  const got = `  got = function(k, i)
    local w = wr[k]
    if w ~= nil then return w end
    return vals[i] or redis.call('GET', k)
  end
`;
  const putAndFlush = `  put = function(k, v, ttl)
    -- As GET would give it back: Redis formats a number handed to SET with %.17g.
    if type(v) == 'number' then v = string.format('%.17g', v) end
    if wr[k] == nil then wr_keys[#wr_keys + 1] = k end
    wr[k], wr_ttl[k] = v, ttl
  end
  flush = function()
    for i = 1, #wr_keys do
      local k = wr_keys[i]
      local v = wr[k]
      if v then redis.call('SET', k, v, 'PX', wr_ttl[k]) else redis.call('DEL', k) end
    end
  end
`;
  const writes = !tracks
    ? ''
    : `${gets.length > 0 ? '' : countKeys('')}-- Whether the key of the call being decided comes more than once in the batch.
local again = false
local wr, wr_ttl, wr_keys, got, put, flush
if repeats then
  wr, wr_ttl, wr_keys = {}, {}, {}
${gets.length > 0 ? got : ''}${defers ? putAndFlush : ''}end
`;
  const whetherAgain = tracks ? `  if repeats then again = many[block_key] end\n` : '';
  // Should the writes fail (a server out of memory), no call of the batch may report a charge
  // that was not kept: each answers with the error. A lone call writes at once.
  const flushBatch = defers
    ? `if repeats and #wr_keys > 0 then
  local ok, e = pcall(flush)
  if not ok then
    e = failed(e)
    for i = 1, calls do out[i] = e end
  end
end
`
    : '';
  return `local floor, ceil, abs = math.floor, math.ceil, math.abs
-- Lua's own unpack (of a table), before struct's takes the name.
local tunpack = unpack
local pack, unpack = struct.pack, struct.unpack
-- Arithmetic converts the strings exactly as tonumber would, for less than half its cost.
local calls, lockout, injected = ARGV[1] + 0, ARGV[2] + 0, ARGV[3] == '1'
local per = 2
if injected then per = 3 end
-- The calls' keys. A negative count: a batch of several slots of one Cluster master, whose keys
-- past the first call's come after the calls' arguments. Redis routes a script call by its
-- declared keys, which must share a slot; a script may still touch the keys of any slot its
-- master serves, and a key it does not serve fails the call that touches it alone.
local K, cross = KEYS, calls < 0
if cross then
  calls = -calls
  K = {}
  for i = 1, #KEYS do K[i] = KEYS[i] end
  for i = ${next} + per * calls, #ARGV do K[#K + 1] = ARGV[i] end
end
local ttl_floor, clock = 60000, 0
if not injected then
  local t = redis.call('TIME')
  clock, ttl_floor = t[1] * 1000 + t[2] / 1000, 0
end
-- The parameters the policies read as numbers, converted once for the batch rather than per call.
${locals.join('')}${tabled.length === 0 ? '' : `local nums = { ${tabled.join(', ')} }\n`}
${reads}${writes}
-- A block set by an earlier call of the batch is in set_blocks, by key, as a key may come more
-- than once.
local set_blocks = {}

local function one(kb, cost, op, now)
  local block_key = K[kb + ${keys}]
  -- Across slots, every key of the call in one command before anything else: it runs only if
  -- this master serves them all as they stand, where a key of another master, or one missing
  -- from a slot being moved, is refused (an ASK or a TRYAGAIN to a client). Refused, the call
  -- has run nothing, and says so, to be sent again alone, routed by its own keys.
  local here = nil
  if cross then
    here = redis.pcall('MGET', tunpack(K, kb + 1, kb + ${keys}))
    if here.err then return pack('<BI', ${REPLY_ELSEWHERE}, #here.err) .. here.err end
${fill}  end
${whetherAgain}  local until_ = set_blocks[block_key]
  if not until_ then
    local b = ${block}
    if b then until_ = unpack('<d', b) else until_ = 0 end
  end
  if op == '${OP.block}' then
    if now + cost > until_ then
      until_ = now + cost
      do
${setBlock}      end
    end
    cost, op = 1, '${OP.peek}'
  elseif op == '${OP.refund}' then
${refund}${reread}    cost, op = 1, '${OP.peek}'
  end
  local blocked = until_ > now
  local charging = op == '${OP.consume}' and cost > 0 and not blocked
  local all = true
${decide}
  if charging then
    if all then
${charge}    else
${uncharged}      if lockout > 0 then
        until_, blocked = now + lockout, true
        do
${setBlock}        end
      end
    end
  end
  local block_ms = 0
  if blocked then
${luaWaitUntil('block_ms', 'until_')}  end
  return pack('<B${'d'.repeat(slots.length + 1)}', ${REPLY_OK}, ${slots.join(', ')}, block_ms)
end

-- A call's part of the reply for an error raised while deciding it.
local function failed(res)
  if type(res) == 'table' then res = res.err end
  res = tostring(res)
  return pack('<BI', ${REPLY_ERROR}, #res) .. res
end
-- The i-th call's part of the reply (0-based).
local function part(i)
  local a = ${next} + per * i
  local now = clock
  if injected then now = ARGV[a + 2] + 0 end
  local ok, res = pcall(one, ${keys} * i, ARGV[a] + 0, ARGV[a + 1], now)
  if ok then return res end
  return failed(res)
end
-- A lone call builds no table.
if calls == 1 then return part(0) end
local out = {}
for i = 0, calls - 1 do out[i + 1] = part(i) end
${flushBatch}return table.concat(out)
`;
}

/** Parameters read as numbers that the script keeps in locals of its own; any more go in a table. */
const NUMBER_LOCALS = 32;

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
