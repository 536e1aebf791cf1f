import { checkAlgorithm } from './algorithms/contract.js';
import type { FloodgateError } from './errors.js';
import { FloodgateError as Coded } from './errors.js';
import { checkLimiterOptions } from './migration-hints.js';
import { integerInRange, invalidOption, optionalFunction } from './options.js';
import { MemoryStore } from './stores/memory.js';
import type { Algorithm, PolicySpec, Store } from './types.js';

/**
 * What the limiter does when the store fails (an error, a timeout, a refused connection):
 * `'allow'` lets the call through, `'deny'` refuses it, `'throw'` rejects with the coded error,
 * and a {@link Store} decides in its place (when that store fails too, the call is denied).
 * Every decision made this way carries `degraded: true` and the error as `cause`.
 */
export type StoreErrorPolicy = 'allow' | 'deny' | 'throw' | Store;

/** Options of {@link createLimiter}: exactly one of `algorithm` and `policies`. */
export interface LimiterOptions {
  /** The one algorithm deciding every call (its policy is named `default`). */
  algorithm?: Algorithm;
  /**
   * Several named policies checked together, all-or-nothing: if any denies, none is charged.
   * Names must be non-empty and use only letters, digits, `_` and `-`.
   */
  policies?: Readonly<Record<string, Algorithm>>;
  /** Where state lives. Defaults to a new {@link MemoryStore} for this limiter alone. */
  store?: Store;
  /**
   * Namespaces this limiter's keys from other limiters sharing a store. Limiters in several
   * processes that should share a limit use the same prefix. Defaults to `"floodgate"`.
   */
  prefix?: string;
  /**
   * A lock-out: when a `consume` (or `decide`, or an attempt of `acquire`) is denied, the key stays
   * denied for this many milliseconds from the denial, whatever its policies would allow again.
   * Set atomically with the denial, on the store's clock. A non-negative integer; 0 (the
   * default) for none.
   */
  blockDurationMs?: number;
  /** The failure policy; see {@link StoreErrorPolicy}. Defaults to `'allow'`. */
  onStoreError?: StoreErrorPolicy;
  /**
   * Told once when the store starts failing, not once per call; told again only after a
   * success has ended that outage, and at most once per 10 s (one key that always fails amid
   * healthy traffic is not a new outage per call). Defaults to a `console.warn`.
   */
  onOutage?: (error: FloodgateError) => void;
}

/** {@link LimiterOptions} after checking, with every default filled in. */
export interface ResolvedOptions {
  readonly policies: readonly PolicySpec[];
  readonly store: Store;
  readonly prefix: string;
  readonly blockDurationMs: number;
  readonly onStoreError: StoreErrorPolicy;
  readonly onOutage: (error: FloodgateError) => void;
}

export const OWNER = 'createLimiter';
const POLICY_NAME = /^[A-Za-z0-9_-]+$/;
const DEFAULT_PREFIX = 'floodgate';
/** Longest block: Redis keeps a key at most this long (see `luaTtl`), about 31,700 years. */
export const MAX_BLOCK_MS = 1e15;

export function isStore(value: unknown): value is Store {
  return typeof value === 'object' && value !== null && typeof (value as Store).bind === 'function';
}

function defaultOutage(error: FloodgateError): void {
  console.warn(`floodgate: store failing (${error.code}): ${error.message}; applying onStoreError until it recovers`);
}

function resolvePolicies(given: Record<string, unknown>): PolicySpec[] {
  if (given.algorithm !== undefined && given.policies !== undefined) {
    throw new Coded('ERR_INVALID_OPTION', `${OWNER}: give either algorithm or policies, not both`);
  }
  if (given.algorithm !== undefined) {
    return [{ name: 'default', algorithm: checkAlgorithm(OWNER, 'algorithm', given.algorithm) }];
  }
  const policies = given.policies;
  if (policies === undefined) {
    throw new Coded('ERR_INVALID_OPTION', `${OWNER}: algorithm or policies is required, got neither`);
  }
  if (typeof policies !== 'object' || policies === null || Array.isArray(policies)) {
    throw invalidOption(OWNER, 'policies', 'an object of named algorithms', policies);
  }
  const specs: PolicySpec[] = [];
  for (const [name, algorithm] of Object.entries(policies)) {
    // `__proto__` fits the pattern but, as a property name, would set a Decision's
    // `policies` object's prototype instead of naming a policy in it.
    if (!POLICY_NAME.test(name) || name === '__proto__')
      throw invalidOption(OWNER, 'policies key', 'letters, digits, _ and - only, and not __proto__', name);
    specs.push({ name, algorithm: checkAlgorithm(OWNER, `policies.${name}`, algorithm) });
  }
  if (specs.length === 0) throw invalidOption(OWNER, 'policies', 'an object with at least one policy', policies);
  return specs;
}

/** Checks every option of {@link createLimiter} once and fills in the defaults. */
export function resolveOptions(options: LimiterOptions): ResolvedOptions {
  const given = checkLimiterOptions(OWNER, options, [
    'algorithm',
    'policies',
    'store',
    'prefix',
    'blockDurationMs',
    'onStoreError',
    'onOutage',
  ]);
  const policies = resolvePolicies(given);
  // Only `undefined` means "not given"; a null is reported, never swapped for the default.
  const store = given.store === undefined ? new MemoryStore() : given.store;
  if (!isStore(store))
    throw invalidOption(OWNER, 'store', 'a store such as new MemoryStore() or new RedisStore({...})', store);
  const prefix = given.prefix === undefined ? DEFAULT_PREFIX : given.prefix;
  if (typeof prefix !== 'string' || prefix.length === 0)
    throw invalidOption(OWNER, 'prefix', 'a non-empty string', prefix);
  const blockDurationMs = integerInRange(
    OWNER,
    'blockDurationMs',
    given.blockDurationMs === undefined ? 0 : given.blockDurationMs,
    0,
    MAX_BLOCK_MS,
    'a non-negative integer number of milliseconds up to 1e15 (0 for no lock-out)',
  );
  const onStoreError = given.onStoreError === undefined ? 'allow' : given.onStoreError;
  if (onStoreError !== 'allow' && onStoreError !== 'deny' && onStoreError !== 'throw' && !isStore(onStoreError)) {
    throw invalidOption(OWNER, 'onStoreError', "'allow', 'deny', 'throw' or a fallback store", onStoreError);
  }
  const onOutage =
    optionalFunction<(error: FloodgateError) => void>(OWNER, 'onOutage', given.onOutage) ?? defaultOutage;
  return { policies, store, prefix, blockDurationMs, onStoreError, onOutage };
}
