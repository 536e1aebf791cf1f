import { MAX_STEP_BACK_MS } from '../../clock.js';
import { type LuaPolicy, type LuaTwin, luaPackedWindow, luaTtl, luaWaitUntil } from '../lua.js';
import { MAX_PACKED, SPLIT_TAG } from './constants.js';

/**
 * Lua reading the policy's parameters and its count in the current window into locals named with
 * `p.v`: `limit`, `win`, `window`, `count` and `stop` (the window's end). A key of a later window
 * (the server's clock stepped back) makes that window the current one, as the TS `laterWindow`,
 * unless it starts more than `MAX_STEP_BACK_MS` after `now`: then it counts nothing.
 */
function read(p: LuaPolicy): string {
  const { num, v } = p;
  const [limit, win, window, count] = ['limit', 'win', 'window', 'count'].map(v);
  return `local ${limit}, ${win} = ${num(0)}, ${num(1)}
local ${window} = floor(now / ${win})
local ${count} = 0
do
  local stored = ${p.get()}
  if stored then
    if stored:byte(1) == ${SPLIT_TAG.charCodeAt(0)} then
      local w, c = unpack('<dd', stored, 2)
      if w == ${window} or (w > ${window} and w * ${win} - now <= ${MAX_STEP_BACK_MS}) then ${window}, ${count} = w, c end
    else
      local span, s = ${limit} + 1, stored + 0
      local base = ${window} * span
      if s >= base then
        if s < base + span then
          ${count} = s - base
        else
          local w
          ${luaPackedWindow('w', 's', 'span')}          if w * ${win} - now <= ${MAX_STEP_BACK_MS} then ${window}, ${count} = w, s - w * span end
        end
      end
    end
  end
end
local ${v('stop')} = (${window} + 1) * ${win}
`;
}

/** Lua writing the count `c` (a Lua expression) for the current window, expiring at its end. */
function write(p: LuaPolicy, c: string): string {
  const { v } = p;
  const window = v('window');
  return `do
  local span = ${v('limit')} + 1
  local base = ${window} * span
  local value
  if abs(base) + span <= ${MAX_PACKED} then value = base + ${c} else value = '${SPLIT_TAG}' .. pack('<dd', ${window}, ${c}) end
  ${luaTtl(v('stop'))}  ${p.set('value', 'ttl')}
end
`;
}

/** Lua for the window's view when this call charges nothing: the TS `remaining` and `resetMs`. */
function unchargedView(p: LuaPolicy): string {
  const [, remaining, reset] = p.out;
  const count = p.v('count');
  return `if ${count} < ${p.v('limit')} then ${remaining} = ${p.v('limit')} - ${count} else ${remaining} = 0 end
if ${count} > 0 then
${luaWaitUntil(reset, p.v('stop'))}else ${reset} = 0 end
`;
}

/**
 * The Lua twin of {@link fixedWindow}: the same window (`floor(now / windowMs)`, or the key's own
 * when that is later) and the same comparisons as `fixed-window/index.ts`.
 *
 * Key: a STRING holding `window * (limit + 1) + count` as an integer while that is exact (Redis
 * then keeps it in the key's own object, with no allocation for the value), else `s` followed by
 * `struct.pack('<dd', window, count)`. Its PEXPIRE is the window's end (+1 ms).
 * Parameters: `limit`, `windowMs`.
 */
export const FIXED_WINDOW_LUA: LuaTwin = {
  decide: (p) => {
    const [ok, remaining, reset, retry] = p.out;
    const [limit, count, stop] = [p.v('limit'), p.v('count'), p.v('stop')];
    return `
${read(p)}if ${count} + cost <= ${limit} then
  ${ok} = 1
else
  all = false
${luaWaitUntil(retry, stop)}end
if ${ok} == 1 and charging then
  ${remaining} = ${limit} - ${count} - cost
${luaWaitUntil(reset, stop)}else
${unchargedView(p)}end
`;
  },
  uncharged: unchargedView,
  charge: (p) => write(p, `${p.v('count')} + cost`),
  refund: (p) => {
    const count = p.v('count');
    return `
do
${read(p)}  if ${count} > cost then
${write(p, `${count} - cost`)}  else
    ${p.del()}
  end
end
`;
  },
};
