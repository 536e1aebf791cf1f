import { type LuaPolicy, type LuaTwin, luaTtl } from '../lua.js';
import { EXPIRY_MARGIN, GRID, HUGE_MS } from './constants.js';

/**
 * Lua setting `target` to the TS `msUntil(at, now)` of the policy's bucket, with `y_i` its
 * `refilled(now)`: the estimate, then the two correcting loops, as in `token-bucket.ts`.
 */
function msUntil(p: LuaPolicy, target: string, at: string): string {
  const [rps, y] = [p.v('rps'), p.v('y')];
  return `do
  local at = ${at}
  if ${y} >= at then ${target} = 0 else
    local r = ceil(((at - ${y}) * 1000) / ${rps})
    if r < ${HUGE_MS} then
      if r < 1 then r = 1 end
      while ((now + r) * ${rps}) / 1000 < at do r = r + 1 end
      while r > 1 and ((now + r - 1) * ${rps}) / 1000 >= at do r = r - 1 end
    end
    ${target} = r
  end
end
`;
}

/**
 * The Lua twin of {@link tokenBucket} (GCRA). It must decide exactly like `token-bucket.ts`: the
 * same float operations in the same order (`refilled`, `tokensAt` on the 2^-20 token grid,
 * `msUntil` with its two correcting loops, `expiresAt` with its margin), so both give the same
 * Decision for the same `now`.
 *
 * Key: a STRING holding the bucket's `fullAt` in tokens refilled since clock 0 and the
 * `refillPerSecond` it was counted at, as the 16 bytes of `struct.pack('<dd', fullAt, rate)`:
 * exact, and far cheaper for Redis than formatting and parsing 17 digits. Its PEXPIRE is the TS
 * `expiresAt(fullAt)` (+1 ms for Redis's millisecond expiry): from then on the key would read as
 * a full bucket anyway, as in the memory store.
 *
 * The rate is kept because processes sharing a bucket may disagree on it for a while (a rolling
 * deploy that changes it), and a count of tokens at one rate read at another is meaningless: a
 * debt of years, or a full bucket. A bucket written at another rate is read as the same number of
 * missing tokens, now refilling at this rate, and written back so at once (even by a peek), so
 * that a wait promised at this rate holds. The memory store never meets this case (one process
 * binds one algorithm per policy), so this is the one step with no TS twin; at equal rates it
 * changes nothing. An 8-byte value (no rate) is read as counted at this rate.
 * Parameters: `capacity`, `refillPerSecond`.
 */
/** Lua declaring the local `name`: the TS `expiresAt(state)` of the policy's bucket. */
function expiresAt(p: LuaPolicy, name: string, state: string): string {
  return `local ${name} = (${state} * 1000) / ${p.v('rps')}
${name} = ${name} + abs(${name}) * ${EXPIRY_MARGIN}
`;
}

/** Lua writing the bucket `state` (a local) at this policy's rate, expiring at its `expiresAt`. */
function store(p: LuaPolicy, state: string): string {
  return `${expiresAt(p, 'e', state)}${luaTtl('e')}${p.set(`pack('<dd', ${state}, ${p.v('rps')})`, 'ttl')}
`;
}

/**
 * Lua for the bucket's view when this call charges nothing (a peek, a denial, or another policy
 * denied): the TS `remaining` and `resetMs` of an uncharged call.
 */
function unchargedView(p: LuaPolicy): string {
  const [cap, n, base] = [p.v('cap'), p.v('n'), p.v('base')];
  const remaining = p.out[1];
  return `if ${base} - ${n} < ${cap} then ${remaining} = floor(${cap} - (${base} - ${n})) else ${remaining} = 0 end
${msUntil(p, p.out[2], base)}`;
}

/**
 * The bucket as it stands, read into the local `state` at this policy's rate (with `y` and `n` as
 * in `decide`): a bucket written at another rate is read as the same number of missing tokens,
 * now refilling at this rate.
 */
function readAtThisRate(rps: string, n: string): string {
  return `local state = unpack('<d', stored)
    if #stored > 8 then
      local rate = unpack('<d', stored, 9)
      if rate ~= ${rps} then state = ${n} + (state - floor((now * rate) / 1000 * ${GRID}) / ${GRID}) end
    end`;
}

export const TOKEN_BUCKET_LUA: LuaTwin = {
  decide: (p) => {
    const { num } = p;
    const [ok, remaining, reset, retry] = p.out;
    const [cap, rps, y, n, base] = [p.v('cap'), p.v('rps'), p.v('y'), p.v('n'), p.v('base')];
    return `
local ${cap}, ${rps} = ${num(0)}, ${num(1)}
local ${y} = (now * ${rps}) / 1000
local ${n} = floor(${y} * ${GRID}) / ${GRID}
local ${base} = ${n}
do
  local stored = ${p.get()}
  if stored then
    local state = unpack('<d', stored)
    if #stored > 8 then
      local rate = unpack('<d', stored, 9)
      if rate ~= ${rps} then
        -- Missing tokens at the writer's rate, on its grid, become missing tokens at this rate,
        -- written back at once: read again at the writer's rate, they would refill at that rate,
        -- and a wait promised here at this one would not hold.
        local debt = state - floor((now * rate) / 1000 * ${GRID}) / ${GRID}
        if debt > 0 then
          state = ${n} + debt
          ${store(p, 'state')}
        else
          state = ${n}
          ${p.del()}
        end
      end
    end
    -- The TS expiresAt(state) > now, tested last: it costs the most.
    if not (state < ${n}) then
      ${expiresAt(p, 'e', 'state')}      if e > now then ${base} = state end
    end
  end
end
-- ${base} - ${n} is the TS debt: tokens missing from a full bucket.
if ${base} - ${n} <= ${cap} - cost then ${ok} = 1 end
if ${ok} == 1 and charging then
  ${remaining} = floor(${cap} - ((${base} + cost) - ${n}))
${msUntil(p, reset, `${base} + cost`)}else
${unchargedView(p)}  if ${ok} == 0 then
    all = false
${msUntil(p, retry, `${base} - (${cap} - cost)`)}  end
end
`;
  },
  uncharged: unchargedView,
  charge: (p) => `
do
  local fullAt = ${p.v('base')} + cost
  ${store(p, 'fullAt')}
end
`,
  // The TS refund: tokens back, capped at a full bucket, which is no state at all.
  refund: (p) => {
    const [rps, n] = [p.v('rps'), p.v('n')];
    return `
do
  local ${rps} = ${p.num(1)}
  local ${n} = floor(((now * ${rps}) / 1000) * ${GRID}) / ${GRID}
  local stored = ${p.get()}
  if stored then
    ${readAtThisRate(rps, n)}
    local after = state - cost
    if after > ${n} then
      ${store(p, 'after')}
    else
      ${p.del()}
    end
  end
end
`;
  },
};
