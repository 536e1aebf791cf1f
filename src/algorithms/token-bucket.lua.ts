import type { LuaTwin } from '../stores/redis/twin.js';

/**
 * The Lua twin of {@link tokenBucket} (GCRA). It must decide exactly like `token-bucket.ts`: the
 * same float operations in the same order (`refilled`, `tokensAt` on the 2^-20 token grid,
 * `msUntil` with its two correcting loops, `expiresAt` with its margin), so both give the same
 * Decision for the same `now`.
 *
 * Key: a STRING holding the bucket's `fullAt` in tokens refilled since clock 0, as the 8 bytes of
 * `struct.pack('<d', fullAt)`: exact, and far cheaper for Redis than formatting and parsing 17
 * digits. Its PEXPIRE is the TS `expiresAt(fullAt)` (+1 ms for Redis's millisecond expiry): from
 * then on the key would read as a full bucket anyway, as in the memory store.
 * Arguments (the algorithm's `scriptArgs`): `capacity`, `refillPerSecond`.
 */
export const TOKEN_BUCKET_LUA: LuaTwin = {
  helpers: `
local function tb_ms_until(at, now, rps)
  local y = (now * rps) / 1000
  if y >= at then return 0 end
  local r = ceil(((at - y) * 1000) / rps)
  if not (r < 2 ^ 52) then return r end
  if r < 1 then r = 1 end
  while ((now + r) * rps) / 1000 < at do r = r + 1 end
  while r > 1 and ((now + r - 1) * rps) / 1000 >= at do r = r - 1 end
  return r
end
local function tb_expires_at(state, rps)
  local at = (state * 1000) / rps
  return at + abs(at) * 2 ^ -50
end
`,
  decide: ({ key, arg, v, out: [ok, remaining, reset, retry] }) => {
    const [cap, rps, n, base] = [v('cap'), v('rps'), v('n'), v('base')];
    return `
local ${cap}, ${rps} = ${arg(0)} + 0, ${arg(1)} + 0
local ${n} = floor(((now * ${rps}) / 1000) * 1048576) / 1048576
local ${base} = ${n}
do
  local stored = redis.call('GET', ${key})
  if stored then
    local state = unpack('<d', stored)
    if tb_expires_at(state, ${rps}) > now and not (state < ${n}) then ${base} = state end
  end
  local debt = ${base} - ${n}
  if debt <= ${cap} - cost then
    if charging then
      local fullAt = ${base} + cost
      ${ok}, ${remaining}, ${reset}, ${retry} = 1, floor(${cap} - (fullAt - ${n})), tb_ms_until(fullAt, now, ${rps}), 0
    else
      ${ok}, ${remaining}, ${reset}, ${retry} = 1, floor(${cap} - debt), tb_ms_until(${base}, now, ${rps}), 0
    end
  else
    all = false
    ${ok}, ${remaining}, ${reset} = 0, floor(${cap} - debt), tb_ms_until(${base}, now, ${rps})
    ${retry} = tb_ms_until(${base} - (${cap} - cost), now, ${rps})
  end
end
`;
  },
  uncharged: ({ v, out: [, remaining, reset] }) =>
    `${remaining}, ${reset} = floor(${v('cap')} - (${v('base')} - ${v('n')})), tb_ms_until(${v('base')}, now, ${v('rps')})\n`,
  charge: ({ key, v }) => `
do
  local fullAt = ${v('base')} + cost
  redis.call('SET', ${key}, pack('<d', fullAt), 'PX', ttl_until(tb_expires_at(fullAt, ${v('rps')}), now))
end
`,
};
