import type { LuaTwin } from '../stores/redis/twin.js';

/**
 * The Lua twin of {@link slidingWindowLog}. It must decide exactly like `sliding-window-log.ts`:
 * the same comparisons on the same numbers, in the same order.
 *
 * Key: a LIST of entries, newest at the head. Each entry is `struct.pack('<dd', expiry, cum)`, or
 * `struct.pack('<ddd', expiry, cum, cost)` when the cost is not 1 (8 bytes saved on the common
 * entry): the instant it leaves the window (`now + windowMs`), the running total of costs pushed
 * onto this list up to and including it, and its cost. The sum of live costs (the TS state's
 * `used`) is then `cum(newest) - (cum(oldest) - cost(oldest))`, so no separate counter is needed.
 * Costs are at least 1, so a list holds at most `limit` entries; the key's PEXPIRE is the newest
 * expiry (+1 ms, so Redis's millisecond expiry never drops an entry still live at microsecond
 * precision).
 * Arguments (the algorithm's `scriptArgs`): `limit`, `windowMs`.
 */
export const SLIDING_WINDOW_LOG_LUA: LuaTwin = {
  helpers: `
-- expiry, cost, cum of one entry
local function swl_entry(s)
  if #s == 16 then
    local expiry, cum = unpack('<dd', s)
    return expiry, 1, cum
  end
  local expiry, cum, c = unpack('<ddd', s)
  return expiry, c, cum
end
-- The instant at which the oldest entries reach the running total 'target': the first entry,
-- oldest first, whose cum reaches it (TS: freed += cost until freed >= need).
local function swl_freed_at(key, target, oldest, ocum, fallback)
  if ocum >= target then return oldest end
  local off = 0
  while true do
    local chunk = redis.call('LRANGE', key, -(off + 32), -(off + 1))
    for i = #chunk, 1, -1 do
      local expiry, _, cum = swl_entry(chunk[i])
      if cum >= target then return expiry end
    end
    if #chunk < 32 then return fallback end
    off = off + 32
  end
end
`,
  decide: ({ key, arg, v, out: [ok, remaining, reset, retry] }) => {
    const [limit, win, used, newest, cum, base, oldest, ocum] = [
      v('limit'),
      v('win'),
      v('used'),
      v('newest'),
      v('cum'),
      v('base'),
      v('oldest'),
      v('ocum'),
    ];
    return `
local ${limit}, ${win} = ${arg(0)} + 0, ${arg(1)} + 0
local ${used}, ${newest}, ${cum}, ${base}, ${oldest}, ${ocum} = 0, now, 0, nil, nil, nil
do
  local head = redis.call('LINDEX', ${key}, 0)
  if head then
    local newest, _, cum = swl_entry(head)
    if newest <= now then
      redis.call('DEL', ${key})
    else
      local o, ocost, ou = swl_entry(redis.call('LINDEX', ${key}, -1))
      while o <= now do
        redis.call('RPOP', ${key})
        o, ocost, ou = swl_entry(redis.call('LINDEX', ${key}, -1))
      end
      ${newest}, ${cum}, ${oldest}, ${ocum}, ${base} = newest, cum, o, ou, ou - ocost
      ${used} = cum - ${base}
    end
  end
end
if ${used} + cost <= ${limit} then
  if charging then
    ${ok}, ${remaining}, ${reset}, ${retry} = 1, ${limit} - ${used} - cost, ${win}, 0
  else
    ${ok}, ${remaining}, ${reset}, ${retry} = 1, ${limit} - ${used}, wait_until(${newest}, now), 0
  end
else
  all = false
  local at = ${newest}
  if ${base} then at = swl_freed_at(${key}, ${base} + ${used} + cost - ${limit}, ${oldest}, ${ocum}, ${newest}) end
  ${ok}, ${remaining}, ${reset}, ${retry} = 0, ${limit} - ${used}, wait_until(${newest}, now), wait_until(at, now)
end
`;
  },
  uncharged: ({ v, out: [, remaining, reset] }) =>
    `${remaining}, ${reset} = ${v('limit')} - ${v('used')}, wait_until(${v('newest')}, now)\n`,
  charge: ({ key, v }) => `
do
  local expiry = now + ${v('win')}
  local cum = ${v('cum')} + cost
  if cost == 1 then
    redis.call('LPUSH', ${key}, pack('<dd', expiry, cum))
  else
    redis.call('LPUSH', ${key}, pack('<ddd', expiry, cum, cost))
  end
  redis.call('PEXPIRE', ${key}, ttl_until(expiry, now))
end
`,
};
