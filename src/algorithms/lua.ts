/**
 * Lua helpers that algorithms' twins share (see {@link LuaTwin}). Each returns Lua code to put
 * inline: the decide script is flat, since Redis runs a script's whole body on every call.
 */
export type { LuaPolicy, LuaTwin } from '../types.js';

/**
 * Lua setting `target` to the TypeScript `waitUntil(at, now)`: the smallest whole number of
 * milliseconds `r` with `now + r >= at`, so a promised wait is never short by float rounding.
 * `target` and `at` are Lua expressions.
 */
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

/**
 * Lua setting the declared local `target` to the TypeScript `packedWindow(packed, size)`: the
 * whole window a packed state lies in, the division's rounding up corrected down.
 */
export function luaPackedWindow(target: string, packed: string, size: string): string {
  return `${target} = floor(${packed} / ${size})
if ${target} * ${size} > ${packed} then ${target} = ${target} - 1 end
`;
}
