/**
 * The Lua twin of {@link slidingWindowLog}, registered with the Redis store's script as
 * `ALGORITHMS['sliding-window-log']`. It must decide exactly like `sliding-window-log.ts`: the same
 * comparisons on the same numbers, in the same order.
 *
 * KEYS: the policy's key, a LIST of entries, newest at the head. Each entry is
 *   `struct.pack('<dd', expiry, cum)`, or `struct.pack('<ddd', expiry, cum, cost)` when the cost is
 *   not 1 (8 bytes saved on the common entry): the instant it leaves the window (`now + windowMs`),
 *   the running total of costs pushed onto this list up to and including it, and its cost. The sum
 *   of live costs (the TS state's `used`) is then `cum(newest) - (cum(oldest) - cost(oldest))`, so
 *   no separate counter is needed. Costs are at least 1, so a list holds at most `limit` entries;
 *   the key's PEXPIRE is the newest expiry (+1 ms, so Redis's millisecond expiry never drops an
 *   entry still live at microsecond precision).
 * ARGV (the algorithm's `scriptArgs`): `limit`, `windowMs`.
 * Reply (of `evaluate`): `allowed`, `remaining`, `resetMs`, `retryAfterMs`, all whole numbers.
 *
 * `load` drops expired entries (oldest first), which never changes a decision.
 */
export const SLIDING_WINDOW_LOG_LUA = `
ALGORITHMS['sliding-window-log'] = (function()
  local pack, unpack = struct.pack, struct.unpack
  local CHUNK = 32

  -- expiry, cost, cum of one entry
  local function entry(s)
    if #s == 16 then
      local expiry, cum = unpack('<dd', s)
      return expiry, 1, cum
    end
    local expiry, cum, cost = unpack('<ddd', s)
    return expiry, cost, cum
  end

  local function load(key, now)
    local head = redis.call('LINDEX', key, 0)
    if not head then return nil end
    local newest, _, cum = entry(head)
    if newest <= now then
      redis.call('DEL', key)
      return nil
    end
    local oldest, ocost, ocum = entry(redis.call('LINDEX', key, -1))
    while oldest <= now do
      redis.call('RPOP', key)
      oldest, ocost, ocum = entry(redis.call('LINDEX', key, -1))
    end
    local base = ocum - ocost
    return { newest = newest, cum = cum, base = base, used = cum - base, oldest = oldest, ocum = ocum }
  end

  -- The instant at which the oldest entries free 'need' units: the first entry, oldest first,
  -- whose running total reaches base + need (TS: freed += cost until freed >= need).
  local function freed_at(key, st, need, fallback)
    local target = st.base + need
    if st.ocum >= target then return st.oldest end
    local off = 0
    while true do
      local chunk = redis.call('LRANGE', key, -(off + CHUNK), -(off + 1))
      for i = #chunk, 1, -1 do
        local expiry, _, cum = entry(chunk[i])
        if cum >= target then return expiry end
      end
      if #chunk < CHUNK then return fallback end
      off = off + CHUNK
    end
  end

  local function evaluate(key, st, now, cost, charge, a)
    local limit, windowMs = a[1], a[2]
    local used, newest = 0, now
    if st then used, newest = st.used, st.newest end
    if used + cost <= limit then
      if charge and cost > 0 then return true, limit - used - cost, windowMs, 0 end
      return true, limit - used, wait_until(newest, now), 0
    end
    local at = newest
    if st then at = freed_at(key, st, used + cost - limit, newest) end
    return false, limit - used, wait_until(newest, now), wait_until(at, now)
  end

  local function charge(key, st, now, cost, a)
    local expiry = now + a[2]
    local cum = cost
    if st then cum = st.cum + cost end
    if cost == 1 then
      redis.call('LPUSH', key, pack('<dd', expiry, cum))
    else
      redis.call('LPUSH', key, pack('<ddd', expiry, cum, cost))
    end
    redis.call('PEXPIRE', key, ttl_until(expiry, now))
  end

  return { load = load, evaluate = evaluate, charge = charge }
end)()
`;
