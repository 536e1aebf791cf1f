/**
 * The Lua twin of {@link tokenBucket} (GCRA), registered with the Redis store's script as
 * `ALGORITHMS['token-bucket']`. It must decide exactly like `token-bucket.ts`: the same float
 * operations in the same order (`refilled`, `tokensAt` on the 2^-20 token grid, `msUntil` with its
 * two correcting loops, `expiresAt` with its margin), so both give the same Decision for the same
 * `now`.
 *
 * KEYS: the policy's key, a STRING holding the bucket's `fullAt` in tokens refilled since clock 0,
 *   written with `%.17g` so the double survives the round trip exactly (Lua's `tostring` keeps
 *   only 14 digits). Its PEXPIRE is the TS `expiresAt(fullAt)` (+1 ms for Redis's millisecond
 *   expiry): from then on the key would read as a full bucket anyway, as in the memory store.
 * ARGV (the algorithm's `scriptArgs`): `capacity`, `refillPerSecond`.
 * Reply (of `evaluate`): `allowed`, `remaining`, `resetMs`, `retryAfterMs`, all whole numbers.
 */
export const TOKEN_BUCKET_LUA = `
ALGORITHMS['token-bucket'] = (function()
  local floor, ceil, abs = math.floor, math.ceil, math.abs
  local GRID = 1048576
  local HUGE_MS = 2 ^ 52
  local EXPIRY_MARGIN = 2 ^ -50

  local function tokens_at(now, rps)
    return floor(((now * rps) / 1000) * GRID) / GRID
  end

  local function expires_at(state, rps)
    local at = (state * 1000) / rps
    return at + abs(at) * EXPIRY_MARGIN
  end

  local function ms_until(at, now, rps)
    local y = (now * rps) / 1000
    if y >= at then return 0 end
    local r = ceil(((at - y) * 1000) / rps)
    if not (r < HUGE_MS) then return r end
    if r < 1 then r = 1 end
    while ((now + r) * rps) / 1000 < at do r = r + 1 end
    while r > 1 and ((now + r - 1) * rps) / 1000 >= at do r = r - 1 end
    return r
  end

  local function load(key, now, a)
    local stored = redis.call('GET', key)
    if not stored then return nil end
    local state = tonumber(stored)
    if expires_at(state, a[2]) <= now then return nil end
    return state
  end

  local function evaluate(key, st, now, cost, charge, a)
    local capacity, rps = a[1], a[2]
    local n = tokens_at(now, rps)
    local base = n
    if st and not (st < n) then base = st end
    local debt = base - n
    local allowed = debt <= capacity - cost
    if allowed and charge and cost > 0 then
      local fullAt = base + cost
      return true, floor(capacity - (fullAt - n)), ms_until(fullAt, now, rps), 0
    end
    local retry = 0
    if not allowed then retry = ms_until(base - (capacity - cost), now, rps) end
    return allowed, floor(capacity - debt), ms_until(base, now, rps), retry
  end

  local function charge(key, st, now, cost, a)
    local rps = a[2]
    local n = tokens_at(now, rps)
    local base = n
    if st and not (st < n) then base = st end
    local fullAt = base + cost
    redis.call('SET', key, string.format('%.17g', fullAt), 'PX', ttl_until(expires_at(fullAt, rps), now))
  end

  return { load = load, evaluate = evaluate, charge = charge }
end)()
`;
