/**
 * The least any decision on the Redis clock asks of the server, with no decision in it: read
 * `TIME`, read one value, write it back with an expiry, reply four numbers. Replayed by
 * redis-benchmark as a reference: what an exact algorithm on the Redis clock cannot go below,
 * beside rate-limiter-flexible's fixed-window script replayed the same way (it reads no clock).
 * The HTTP case sends it once per request through ioredis: what any Redis-backed limiter costs a
 * request before it decides anything.
 */
export const FLOOR_SCRIPT = `local t = redis.call('TIME')
local v = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], '12345678', 'PX', 60000)
return {1, 2, 3, 4}`;
