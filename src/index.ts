export type { AcquireOptions } from './acquire.js';
export { type FixedWindowOptions, type FixedWindowState, fixedWindow } from './algorithms/fixed-window/index.js';
export { luaTtl, luaWaitUntil } from './algorithms/lua.js';
export {
  type SlidingWindowCounterOptions,
  type SlidingWindowCounterState,
  slidingWindowCounter,
} from './algorithms/sliding-window-counter/index.js';
export {
  type SlidingWindowLogOptions,
  type SlidingWindowLogState,
  slidingWindowLog,
} from './algorithms/sliding-window-log/index.js';
export { type TokenBucketOptions, type TokenBucketState, tokenBucket } from './algorithms/token-bucket/index.js';
export { type Clock, monotonicClock } from './clock.js';
export { FloodgateError, type FloodgateErrorCode, isFloodgateError } from './errors.js';
export { MAX_KEY_LENGTH } from './keys.js';
export {
  type BlockOptions,
  type CallOptions,
  createLimiter,
  type Limiter,
  type LimiterOptions,
  type StoreErrorPolicy,
} from './limiter.js';
export { migrationHint } from './migration-hints.js';
export {
  checkOptionsObject,
  invalidOption,
  optionalFunction,
  show as describeValue,
  waitUntil,
} from './options.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export type { IoredisClient, NodeRedisClient, RedisClient } from './stores/redis/port.js';
export { RedisStore, type RedisStoreOptions } from './stores/redis/store.js';
export type {
  Algorithm,
  BindOptions,
  Decision,
  LuaPolicy,
  LuaTwin,
  PolicySpec,
  RedisTwin,
  Store,
  StoreBinding,
} from './types.js';
