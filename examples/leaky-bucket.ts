/**
 * A custom algorithm written against floodgate's public contract: a leaky bucket "as a meter".
 * It runs on the memory store and, through its Lua twin, on the Redis store, deciding alike on
 * both. Run it with `npx tsx examples/leaky-bucket.ts` (set REDIS_URL to run it on Redis).
 *
 * Each key has a level, which drains continuously at `leakPerSecond` and never goes below 0. A
 * call of cost `c` is allowed iff `level + c <= capacity`, and then adds `c` to the level; a
 * denied call adds nothing. Nothing is queued: a denial says how long to wait (`retryAfterMs`),
 * and `limiter.acquire` waits that long for you if you want calls spaced out rather than refused.
 */
import { pathToFileURL } from 'node:url';
import {
  type Algorithm,
  checkOptionsObject,
  createLimiter,
  type Decision,
  invalidOption,
  type LuaPolicy,
  type LuaTwin,
  luaTtl,
  MemoryStore,
  RedisStore,
} from 'floodgate';
import { Redis } from 'ioredis';

/** Options of {@link leakyBucket}. */
export interface LeakyBucketOptions {
  /** Largest level the bucket holds: the largest burst. A positive integer. */
  capacity: number;
  /** Units that drain per second, continuously (fractions kept). From 1e-9 to 1,000,000. */
  leakPerSecond: number;
}

/**
 * A key's bucket: its level and the clock reading it was measured at. The level at a later time
 * `t` is `max(0, level - (t - at) * leakPerSecond / 1000)`.
 */
export type LeakyBucketState = [level: number, at: number];

const OWNER = 'leakyBucket';
/**
 * Most steps each correcting loop of a wait takes. The first estimate is off by float rounding
 * only; the bound keeps a Lua script from running long on absurd settings.
 */
const MAX_STEPS = 64;
/**
 * Relative margin that puts `expiresAt` after the instant the level reaches 0 despite the
 * rounding of the sums that compute it (a few units in the last place; this is 16).
 */
const EXPIRY_MARGIN = 2 ** -48;

/** Checks one option at construction, worded like floodgate's own option errors. */
function checkNumber(name: string, value: unknown, ok: (n: number) => boolean, expected: string): number {
  if (typeof value !== 'number' || !ok(value)) throw invalidOption(OWNER, name, expected, value);
  return value;
}

/**
 * A leaky bucket as a meter: starts empty, drains at `leakPerSecond` down to 0, and allows a call
 * of cost `c` iff its level plus `c` is at most `capacity`. It admits the calls a token bucket of
 * the same capacity and rate admits; its state is the textbook one, a level and a time.
 *
 * @example
 * ```ts
 * const limiter = createLimiter({ algorithm: leakyBucket({ capacity: 10, leakPerSecond: 2 }) });
 * ```
 */
export function leakyBucket(options: LeakyBucketOptions): Algorithm<LeakyBucketState> {
  const given = checkOptionsObject(OWNER, options, ['capacity', 'leakPerSecond']);
  const capacity = checkNumber(
    'capacity',
    given.capacity,
    (n) => Number.isSafeInteger(n) && n >= 1,
    'a positive integer',
  );
  // Slower leaks make waits longer than a double counts in whole milliseconds; for faster ones,
  // count in larger units (kB rather than bytes).
  const leakPerSecond = checkNumber(
    'leakPerSecond',
    given.leakPerSecond,
    (n) => n >= 1e-9 && n <= 1_000_000,
    'a number of units per second from 1e-9 to 1,000,000',
  );

  // The Lua twin repeats each of these float operations in the same order: that is what makes
  // both stores give the same Decision for the same `now`.
  function levelAt(level: number, at: number, t: number): number {
    return t > at ? level - ((t - at) * leakPerSecond) / 1000 : level;
  }

  // The smallest whole number of milliseconds r with levelAt(now + r) <= goal: the very test that
  // later allows the call, so waiting exactly r and retrying succeeds.
  function wait(level: number, at: number, now: number, goal: number): number {
    if (!(levelAt(level, at, now) > goal)) return 0;
    let r = Math.ceil(at + ((level - goal) * 1000) / leakPerSecond - now);
    if (r < 1) r = 1;
    for (let i = 0; i < MAX_STEPS; i++) {
      if (levelAt(level, at, now + r) > goal) r++;
      else break;
    }
    for (let i = 0; i < MAX_STEPS; i++) {
      if (r <= 1) break;
      if (levelAt(level, at, now + r - 1) <= goal) r--;
      else break;
    }
    return r;
  }

  function evaluate(state: LeakyBucketState | undefined, now: number, cost: number, charge: boolean): Decision {
    // No state reads as an empty bucket measured now.
    const level = state === undefined ? 0 : state[0];
    const at = state === undefined ? now : state[1];
    const left = levelAt(level, at, now);
    const current = Math.max(left, 0);
    const allowed = current <= capacity - cost;
    if (allowed && charge && cost > 0) {
      const after = current + cost;
      return {
        allowed,
        limit: capacity,
        remaining: Math.floor(capacity - after),
        resetMs: wait(after, Math.max(at, now), now, 0),
        retryAfterMs: 0,
      };
    }
    return {
      allowed,
      limit: capacity,
      remaining: Math.floor(capacity - current),
      resetMs: wait(level, at, now, 0),
      retryAfterMs: allowed ? 0 : wait(level, at, now, capacity - cost),
    };
  }

  // The level drained to `now`, then charged. A clock that stepped back (a wall clock set back;
  // on Redis, a failover to a replica whose clock is behind) keeps the later time, so the bucket
  // never drains twice over the same span.
  function charge(state: LeakyBucketState | undefined, now: number, cost: number): LeakyBucketState {
    if (state === undefined) return [cost, now];
    const left = levelAt(state[0], state[1], now);
    state[0] = Math.max(left, 0) + cost;
    if (now > state[1]) state[1] = now;
    return state;
  }

  // Units back, down to an empty bucket, which is no state at all.
  function refund(state: LeakyBucketState | undefined, now: number, cost: number): LeakyBucketState | undefined {
    if (state === undefined) return undefined;
    const left = levelAt(state[0], state[1], now);
    const after = Math.max(left, 0) - cost;
    if (!(after > 0)) return undefined;
    state[0] = after;
    if (now > state[1]) state[1] = now;
    return state;
  }

  // When the level reaches 0, with a margin far larger than the rounding of the sum, so that from
  // then on the state decides exactly as no state does.
  function expiresAt([level, at]: LeakyBucketState): number {
    const drain = (level * 1000) / leakPerSecond;
    const empty = at + drain;
    return empty + (Math.abs(at) + drain) * EXPIRY_MARGIN;
  }

  return {
    name: 'leaky-bucket',
    limit: capacity,
    windowMs: Math.ceil((capacity * 1000) / leakPerSecond),
    evaluate,
    charge,
    refund,
    expiresAt,
    // No `msPerUnit`: the Redis store's deny cache would bound a larger cost's wait by adding
    // whole milliseconds per unit to a denied call's wait, and with a level that is a float sum,
    // such a wait can be a millisecond short where a level lands on a whole number. Without it,
    // the cache answers a larger cost with `resetMs`, which is never short.
    redis: { lua: LEAKY_BUCKET_LUA, params: [capacity, leakPerSecond] },
  };
}

/** Lua setting `target` to the TS `wait(level, at, now, goal)`; the arguments are Lua expressions. */
function luaWait(p: LuaPolicy, target: string, level: string, at: string, goal: string): string {
  const rps = p.v('rps');
  const drained = (t: string): string => `l = level
      if ${t} > at then l = level - ((${t} - at) * ${rps}) / 1000 end`;
  return `do
  local level, at, goal = ${level}, ${at}, ${goal}
  local r, l = 0, level
  if now > at then l = level - ((now - at) * ${rps}) / 1000 end
  if l > goal then
    r = ceil(at + ((level - goal) * 1000) / ${rps} - now)
    if r < 1 then r = 1 end
    for i = 1, ${MAX_STEPS} do
      local t = now + r
      ${drained('t')}
      if l > goal then r = r + 1 else break end
    end
    for i = 1, ${MAX_STEPS} do
      if r <= 1 then break end
      local t = now + r - 1
      ${drained('t')}
      if l <= goal then r = r - 1 else break end
    end
  end
  ${target} = r
end
`;
}

/** Lua writing the bucket (`level`, `at`: locals) to the policy's key, expiring once it is empty. */
function luaStore(p: LuaPolicy, rps: string): string {
  return `do
  local drain = (level * 1000) / ${rps}
  local e = at + drain
  e = e + (abs(at) + drain) * ${EXPIRY_MARGIN}
  ${luaTtl('e')}  ${p.set("pack('<dd', level, at)", 'ttl')}
end
`;
}

/** Lua for the view of a call that charges nothing: the TS `remaining` and `resetMs`. */
function luaUncharged(p: LuaPolicy): string {
  const [, remaining, reset] = p.out;
  return `${remaining} = floor(${p.v('cap')} - ${p.v('cur')})
${luaWait(p, reset, p.v('level'), p.v('at'), '0')}`;
}

/**
 * The Lua twin of {@link leakyBucket}: the same float operations in the same order.
 *
 * Key: a STRING of 16 bytes, `struct.pack('<dd', level, at)`, exact and cheap to read. Its
 * PEXPIRE is the TS `expiresAt` (+1 ms): from then on it reads as an empty bucket anyway.
 * Parameters: `capacity`, `leakPerSecond`.
 * Locals kept for the whole call: `cap`, `rps`, `level`, `at`, `cur`; with the four reply slots,
 * nine, within the ten a policy may keep so that sixteen policies fit in Lua's 200.
 */
export const LEAKY_BUCKET_LUA: LuaTwin = {
  decide: (p) => {
    const [ok, remaining, reset, retry] = p.out;
    const [cap, rps, level, at, cur] = [p.v('cap'), p.v('rps'), p.v('level'), p.v('at'), p.v('cur')];
    return `
local ${cap}, ${rps} = ${p.num(0)}, ${p.num(1)}
local ${level}, ${at}, ${cur} = 0, now, 0
do
  local stored = ${p.get()}
  if stored then
    ${level}, ${at} = unpack('<dd', stored)
    ${cur} = ${level}
    if now > ${at} then ${cur} = ${level} - ((now - ${at}) * ${rps}) / 1000 end
    if ${cur} <= 0 then ${cur} = 0 end
  end
end
if ${cur} <= ${cap} - cost then
  ${ok} = 1
else
  all = false
${luaWait(p, retry, level, at, `${cap} - cost`)}end
if ${ok} == 1 and charging then
  ${remaining} = floor(${cap} - (${cur} + cost))
  do
    local since = now
    if ${at} > now then since = ${at} end
${luaWait(p, reset, `${cur} + cost`, 'since', '0')}  end
else
${luaUncharged(p)}end
`;
  },
  uncharged: luaUncharged,
  charge: (p) => `
do
  local level, at = ${p.v('cur')} + cost, now
  if ${p.v('at')} > now then at = ${p.v('at')} end
${luaStore(p, p.v('rps'))}end
`,
  // Runs on its own, before decide: it reads the key and its parameter itself.
  refund: (p) => `
do
  local rps = ${p.num(1)}
  local stored = ${p.get()}
  if stored then
    local level, at = unpack('<dd', stored)
    local left = level
    if now > at then left = level - ((now - at) * rps) / 1000 end
    if left <= 0 then left = 0 end
    level = left - cost
    if level > 0 then
      if now > at then at = now end
${luaStore(p, 'rps')}    else
      ${p.del()}
    end
  end
end
`,
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.env.REDIS_URL;
  const client = url === undefined ? undefined : new Redis(url);
  const limiter = createLimiter({
    algorithm: leakyBucket({ capacity: 3, leakPerSecond: 2 }),
    store: client === undefined ? new MemoryStore() : new RedisStore({ client }),
    onStoreError: 'throw',
  });
  for (let i = 0; i < 5; i++) {
    const d = await limiter.consume('user:42');
    console.log(`call ${i + 1}: ${d.allowed ? 'allowed' : `denied, retry in ${d.retryAfterMs} ms`}`);
  }
  client?.disconnect();
}
