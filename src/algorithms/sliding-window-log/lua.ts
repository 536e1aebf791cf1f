import { type LuaPolicy, type LuaTwin, luaTtl, luaWaitUntil } from '../lua.js';
import { PAGE } from './constants.js';

/** Lua reading an entry `e` into `expiry, cum, c` (its cost). */
function entry(expiry: string, cum: string, c: string, e: string): string {
  // '<dd' reads the first 16 bytes of either layout; only a 24-byte entry carries its cost.
  return `${expiry}, ${cum} = unpack('<dd', ${e})
    if #${e} == 16 then ${c} = 1 else ${c} = unpack('<d', ${e}, 17) end`;
}

/**
 * The Lua twin of {@link slidingWindowLog}. It must decide exactly like `sliding-window-log.ts`:
 * the same comparisons on the same numbers, in the same order.
 *
 * Key: a LIST of entries, newest at the head. Each entry is `struct.pack('<dd', expiry, cum)`, or
 * `struct.pack('<ddd', expiry, cum, cost)` when the cost is not 1 (8 bytes saved on the common
 * entry): the instant it leaves the window (`now + windowMs`, or the head's if the server's clock
 * stepped back, so the list stays sorted), the running total of costs pushed
 * onto this list up to and including it, and its cost. The sum of live costs (the TS state's
 * `used`) is then `cum(newest) - (cum(oldest) - cost(oldest))`, so no separate counter is needed.
 * Costs are at least 1, so a list holds at most `limit` entries; the key's PEXPIRE is the newest
 * expiry (+1 ms, so Redis's millisecond expiry never drops an entry still live at microsecond
 * precision).
 * Parameters: `limit`, `windowMs`, and `windowMs + 1` (the usual PEXPIRE, sent ready-made).
 */
/**
 * Lua for the log's view when this call charges nothing (a peek, a denial, or another policy
 * denied): the TS `remaining` and `resetMs` of an uncharged call.
 */
function unchargedView({ v, out: [, remaining, reset] }: LuaPolicy): string {
  const [limit, used] = [v('limit'), v('used')];
  return `if ${used} < ${limit} then ${remaining} = ${limit} - ${used} else ${remaining} = 0 end
${luaWaitUntil(reset, v('newest'))}`;
}

export const SLIDING_WINDOW_LOG_LUA: LuaTwin = {
  decide: (p) => {
    const { key, num, v } = p;
    const [ok, remaining, reset, retry] = p.out;
    const [limit, win, used, newest, cum] = [v('limit'), v('win'), v('used'), v('newest'), v('cum')];
    return `
local ${limit}, ${win} = ${num(0)}, ${num(1)}
local ${used}, ${newest}, ${cum} = 0, now, 0
do
  -- The oldest live entry (its expiry and cum) and the cum before it; nil for an empty log.
  local oldest, ocum, base
  local head = redis.call('LINDEX', ${key}, '0')
  if head then
    local hexp, hcum = unpack('<dd', head)
    if hexp <= now then
      redis.call('DEL', ${key})
    else
      local tail = redis.call('LINDEX', ${key}, '-1')
      local o, ou, oc
      ${entry('o', 'ou', 'oc', 'tail')}
      while o <= now do
        redis.call('RPOP', ${key})
        tail = redis.call('LINDEX', ${key}, '-1')
        ${entry('o', 'ou', 'oc', 'tail')}
      end
      ${newest}, ${cum}, oldest, ocum, base = hexp, hcum, o, ou, ou - oc
      ${used} = hcum - base
    end
  end
  if ${used} + cost <= ${limit} then
    ${ok} = 1
  else
    all = false
    -- Free the oldest entries until the call fits: the first, oldest first, whose cum reaches
    -- 'target' sets the wait (TS: freed += cost until freed >= need). Read ${PAGE} at a time.
    local at = ${newest}
    if base then
      local target = base + ${used} + cost - ${limit}
      if ocum >= target then
        at = oldest
      else
        local off = 0
        while true do
          local chunk = redis.call('LRANGE', ${key}, -(off + ${PAGE}), -(off + 1))
          local found = false
          for i = #chunk, 1, -1 do
            local expiry, c = unpack('<dd', chunk[i])
            if c >= target then
              at, found = expiry, true
              break
            end
          end
          if found or #chunk < ${PAGE} then break end
          off = off + ${PAGE}
        end
      end
    end
${luaWaitUntil(retry, 'at')}  end
end
if ${ok} == 1 and charging then
  ${remaining}, ${reset} = ${limit} - ${used} - cost, ${win}
  -- The new entry expires with the newest one when the clock has stepped back (see charge).
  if ${newest} > now + ${win} then
${luaWaitUntil(reset, newest)}  end
else
${unchargedView(p)}end
`;
  },
  uncharged: unchargedView,
  charge: ({ key, arg, v }) => `
do
  -- Never before the newest entry: were the server's TIME to step back (a failover to a replica
  -- whose clock is behind), an entry expiring first but pushed at the head would make the
  -- head-expired test DEL live entries. Under a clock that never goes back, it is now + windowMs.
  local expiry = now + ${v('win')}
  if ${v('newest')} > expiry then expiry = ${v('newest')} end
  local c = ${v('cum')} + cost
  if cost == 1 then
    redis.call('LPUSH', ${key}, pack('<dd', expiry, c))
  else
    redis.call('LPUSH', ${key}, pack('<ddd', expiry, c, cost))
  end
  ${luaTtl('expiry')}  -- The usual value, sent ready-made: the server formats a number on every call.
  if ttl == ${v('win')} + 1 then ttl = ${arg(2)} end
  redis.call('PEXPIRE', ${key}, ttl)
end
`,
  // The TS refund: the newest entries first, a partly refunded one keeping the rest of its cost.
  // Only live entries count: the head (newest) expired means the whole log has.
  refund: ({ key }) => `
do
  local left = cost
  while left > 0 do
    local head = redis.call('LINDEX', ${key}, '0')
    if not head then break end
    local expiry, cum, c
    ${entry('expiry', 'cum', 'c', 'head')}
    if expiry <= now then break end
    if c <= left then
      redis.call('LPOP', ${key})
      left = left - c
    else
      c, cum = c - left, cum - left
      if c == 1 then
        redis.call('LSET', ${key}, '0', pack('<dd', expiry, cum))
      else
        redis.call('LSET', ${key}, '0', pack('<ddd', expiry, cum, c))
      end
      left = 0
    end
  end
end
`,
};
