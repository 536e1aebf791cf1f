import { MAX_STEP_BACK_MS } from '../../clock.js';
import { type LuaPolicy, type LuaTwin, luaPackedWindow, luaTtl, luaWaitUntil } from '../lua.js';
import { MAX_PACKED, MAX_STEPS, SPLIT_TAG } from './constants.js';

/**
 * Lua reading the policy's parameters and counts into locals named with `p.v`: `limit`, `win`,
 * `window`, `prev` and `cur` as the TS `read` and `evaluate` leave them (a key of a later window,
 * the server's clock having stepped back by at most `MAX_STEP_BACK_MS`, makes that window the
 * current one), and `used`.
 */
function read(p: LuaPolicy): string {
  const { num, v } = p;
  const [limit, win, window, prev, cur, used] = ['limit', 'win', 'window', 'prev', 'cur', 'used'].map(v);
  return `local ${limit}, ${win} = ${num(0)}, ${num(1)}
local ${window} = floor(now / ${win})
local ${prev}, ${cur} = 0, 0
local ${used}
do
  local stored = ${p.get()}
  if stored then
    local at, p, c
    if stored:byte(1) == ${SPLIT_TAG.charCodeAt(0)} then
      at, p, c = unpack('<ddd', stored, 2)
    else
      local span, s = ${limit} + 1, stored + 0
      local square = span * span
      if s >= ${window} * square then at = ${window} else at = ${window} - 1 end
      local rest = s - at * square
      if rest >= square then
        ${luaPackedWindow('at', 's', 'square')}        rest = s - at * square
      elseif rest < 0 then
        at = nil
      end
      if at then
        p = floor(rest / span)
        c = rest - p * span
      end
    end
    if at == ${window} then
      ${prev}, ${cur} = p, c
    elseif at == ${window} - 1 then
      ${prev} = c
    elseif at and at > ${window} and at * ${win} - now <= ${MAX_STEP_BACK_MS} then
      ${window}, ${prev}, ${cur}, ${used} = at, p, c, p + c
    end
  end
end
if not ${used} then ${used} = ${prev} * ((${win} - (now - ${window} * ${win})) / ${win}) + ${cur} end
`;
}

/** Lua setting the local `u` to the TS `usedAt(t)`, with `t` a Lua expression. */
function usedAt({ v }: LuaPolicy, t: string): string {
  const [win, window, prev, cur] = [v('win'), v('window'), v('prev'), v('cur')];
  return `local t = ${t}
      local w = floor(t / ${win})
      local u = 0
      if w == ${window} then
        u = ${prev} * ((${win} - (t - ${window} * ${win})) / ${win}) + ${cur}
      elseif w == ${window} + 1 then
        u = ${cur} * ((${win} - (t - w * ${win})) / ${win})
      elseif w < ${window} then
        u = ${prev} + ${cur}
      end`;
}

/** Lua setting `target` to the TS `waitFor`: the estimate, then the two correcting loops. */
function waitFor(p: LuaPolicy, target: string): string {
  const [limit, win, window, prev, cur] = [p.v('limit'), p.v('win'), p.v('window'), p.v('prev'), p.v('cur')];
  return `do
  local room = ${limit} - cost
  local at
  if ${cur} <= room then
    at = ${window} * ${win} + ${win} - (room - ${cur}) * (${win} / ${prev})
  else
    at = (${window} + 1) * ${win} + ${win} - room * (${win} / ${cur})
  end
  local r = ceil(at - now)
  if r < 1 then r = 1 end
  for i = 1, ${MAX_STEPS} do
    do
      ${usedAt(p, 'now + r')}
      if u + cost > ${limit} then r = r + 1 else break end
    end
  end
  for i = 1, ${MAX_STEPS} do
    if r <= 1 then break end
    do
      ${usedAt(p, 'now + r - 1')}
      if u + cost <= ${limit} then r = r - 1 else break end
    end
  end
  ${target} = r
end
`;
}

/** Lua writing counts `pc` and `cc` (Lua expressions) for the current window, with their expiry. */
function write(p: LuaPolicy, pc: string, cc: string): string {
  const { v } = p;
  const [win, window] = [v('win'), v('window')];
  return `do
  local pc, cc = ${pc}, ${cc}
  local span = ${v('limit')} + 1
  local square = span * span
  local base = ${window} * square
  local value
  if abs(base) + square <= ${MAX_PACKED} then value = base + pc * span + cc else value = '${SPLIT_TAG}' .. pack('<ddd', ${window}, pc, cc) end
  local stop = (${window} + 1) * ${win}
  if cc > 0 then stop = stop + ${win} end
  ${luaTtl('stop')}  ${p.set('value', 'ttl')}
end
`;
}

/** Lua for the view when this call charges nothing: the TS `remaining` and `resetMs`. */
function unchargedView(p: LuaPolicy): string {
  const [, remaining, reset] = p.out;
  const [limit, win, window, prev, cur] = [p.v('limit'), p.v('win'), p.v('window'), p.v('prev'), p.v('cur')];
  const used = p.v('used');
  return `if ${used} < ${limit} then ${remaining} = floor(${limit} - ${used}) else ${remaining} = 0 end
if ${cur} > 0 then
${luaWaitUntil(reset, `(${window} + 2) * ${win}`)}elseif ${prev} > 0 then
${luaWaitUntil(reset, `(${window} + 1) * ${win}`)}else ${reset} = 0 end
`;
}

/**
 * The Lua twin of {@link slidingWindowCounter}: the same windows (the key's own when it is later
 * than `floor(now / windowMs)`), the same weighted estimate and the same correcting loops as
 * `sliding-window-counter/index.ts`, float for float.
 *
 * Key: a STRING holding `window * (limit + 1)^2 + previous * (limit + 1) + current` as an integer
 * while that is exact, else `s` followed by `struct.pack('<ddd', window, previous, current)`. Its
 * PEXPIRE is the end of the next window while the current one counts anything, else the end of
 * this one (+1 ms).
 * Parameters: `limit`, `windowMs`.
 */
export const SLIDING_WINDOW_COUNTER_LUA: LuaTwin = {
  decide: (p) => {
    const [ok, remaining, reset, retry] = p.out;
    const [limit, win, window, used] = [p.v('limit'), p.v('win'), p.v('window'), p.v('used')];
    return `
${read(p)}if ${used} + cost <= ${limit} then
  ${ok} = 1
else
  all = false
${waitFor(p, retry)}end
if ${ok} == 1 and charging then
  ${remaining} = floor(${limit} - (${used} + cost))
${luaWaitUntil(reset, `(${window} + 2) * ${win}`)}else
${unchargedView(p)}end
`;
  },
  uncharged: unchargedView,
  charge: (p) => write(p, p.v('prev'), `${p.v('cur')} + cost`),
  refund: (p) => {
    const [prev, cur] = [p.v('prev'), p.v('cur')];
    return `
do
${read(p)}  local take = ${cur}
  if take > cost then take = cost end
  local cc, left = ${cur} - take, cost - take
  local pc = 0
  if ${prev} > left then pc = ${prev} - left end
  if pc == 0 and cc == 0 then
    ${p.del()}
  else
${write(p, 'pc', 'cc')}  end
end
`;
  },
};
