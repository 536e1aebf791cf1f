import { type Algorithm, type Decision, type LuaPolicy, type LuaTwin, luaTtl } from 'floodgate';

/** A window's number and what it has counted. */
export type QuotaState = readonly [window: number, count: number];

/** Lua reading the policy's parameters and its count in the current window into `p.v` locals. */
function read({ key, arg, v }: LuaPolicy): string {
  const [limit, win, window, count] = ['limit', 'win', 'window', 'count'].map(v);
  return `local ${limit}, ${win} = ${arg(0)} + 0, ${arg(1)} + 0
local ${window} = floor(now / ${win})
local ${count} = 0
do
  local stored = redis.call('GET', ${key})
  if stored then
    local w, c = unpack('<dd', stored)
    if w == ${window} then ${count} = c end
  end
end
local ${v('stop')} = (${window} + 1) * ${win}
`;
}

/** Lua writing `c` (an expression) as the count of the current window. */
function write({ key, v }: LuaPolicy, c: string): string {
  return `do
  ${luaTtl(v('stop'))}  redis.call('SET', ${key}, pack('<dd', ${v('window')}, ${c}), 'PX', ttl)
end
`;
}

function unchargedView(p: LuaPolicy): string {
  const [, remaining, reset] = p.out;
  const [count, stop] = [p.v('count'), p.v('stop')];
  return `${remaining} = ${p.v('limit')} - ${count}
if ${count} > 0 then ${reset} = ceil(${stop} - now) else ${reset} = 0 end
`;
}

/** The Lua twin of {@link windowQuota}; keys hold `struct.pack('<dd', window, count)`. */
export const WINDOW_QUOTA_LUA: LuaTwin = {
  decide: (p) => {
    const [ok, remaining, reset, retry] = p.out;
    const [limit, count, stop] = [p.v('limit'), p.v('count'), p.v('stop')];
    return `
${read(p)}if ${count} + cost <= ${limit} then ${ok} = 1 else
  all = false
  ${retry} = ceil(${stop} - now)
end
if ${ok} == 1 and charging then
  ${remaining} = ${limit} - ${count} - cost
  ${reset} = ceil(${stop} - now)
else
${unchargedView(p)}end
`;
  },
  uncharged: unchargedView,
  charge: (p) => write(p, `${p.v('count')} + cost`),
  refund: (p) => `
do
${read(p)}  if ${p.v('count')} > cost then
${write(p, `${p.v('count')} - cost`)}  else
    redis.call('DEL', ${p.key})
  end
end
`,
};

/**
 * A hand-written algorithm, as a user would write one: at most `limit` units per aligned window of
 * `windowMs`, its state `[window, count]`. With `twin`, it brings {@link WINDOW_QUOTA_LUA} and
 * runs on the Redis store too. `name` lets a test give it a built-in's name.
 */
export function windowQuota(options: {
  limit: number;
  windowMs: number;
  twin: boolean;
  name?: string;
}): Algorithm<QuotaState> {
  const { limit, windowMs, twin, name = 'window-quota' } = options;
  const countIn = (state: QuotaState | undefined, window: number): number =>
    state !== undefined && state[0] === window ? state[1] : 0;
  return {
    name,
    limit,
    windowMs,
    evaluate(state, now, cost, charge): Decision {
      const window = Math.floor(now / windowMs);
      const count = countIn(state, window);
      const wait = Math.ceil((window + 1) * windowMs - now);
      const allowed = count + cost <= limit;
      if (allowed && charge && cost > 0) {
        return { allowed, limit, remaining: limit - count - cost, resetMs: wait, retryAfterMs: 0 };
      }
      return {
        allowed,
        limit,
        remaining: limit - count,
        resetMs: count > 0 ? wait : 0,
        retryAfterMs: allowed ? 0 : wait,
      };
    },
    charge(state, now, cost) {
      const window = Math.floor(now / windowMs);
      return [window, countIn(state, window) + cost];
    },
    refund(state, now, cost) {
      const window = Math.floor(now / windowMs);
      const count = countIn(state, window);
      return count > cost ? [window, count - cost] : undefined;
    },
    expiresAt: (state) => (state[0] + 1) * windowMs,
    ...(twin ? { redis: { lua: WINDOW_QUOTA_LUA, params: [limit, windowMs] } } : {}),
  };
}
