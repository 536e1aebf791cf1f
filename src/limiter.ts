import { performance } from 'node:perf_hooks';
import { type AcquireOptions, acquireOptions, acquireSlot, type WaitQueues, wakeFirst } from './acquire.js';
import { FloodgateError, isStoreFailure } from './errors.js';
import { storageKey } from './keys.js';
import { checkOptionsObject, invalidOption, optionalFunction, show } from './options.js';
import { decideThenOf } from './stores/decide-then.js';
import { MemoryStore } from './stores/memory.js';
import type { Algorithm, Decision, PolicySpec, Store, StoreBinding } from './types.js';

/**
 * What the limiter does when the store fails (an error, a timeout, a refused connection, a
 * full memory store): `'allow'` lets the call through, `'deny'` refuses it, `'throw'` rejects
 * with the coded error, and a {@link Store} decides in its place. Every decision made this way
 * carries `degraded: true` and the error as `cause`.
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
  /** The failure policy; see {@link StoreErrorPolicy}. Defaults to `'allow'`. */
  onStoreError?: StoreErrorPolicy;
  /**
   * Told once when the store starts failing, not once per call; told again only after a
   * success has ended that outage, and at most once per 10 s (one key that always fails amid
   * healthy traffic is not a new outage per call). Defaults to a `console.warn`.
   */
  onOutage?: (error: FloodgateError) => void;
}

/** Options of a single call. */
export interface CallOptions {
  /** Units this call costs: a non-negative integer no larger than the smallest limit. Defaults to 1. */
  cost?: number;
}

/** A configured rate limiter. Create one with {@link createLimiter}. */
export interface Limiter {
  /** The limiter's policies, in order, as the store sees them. */
  readonly policies: readonly PolicySpec[];
  /** The prefix its keys live under. */
  readonly prefix: string;
  /** Charges `cost` (default 1) to `key` if every policy allows it, and tells what happened. */
  consume(key: string, options?: CallOptions): Promise<Decision>;
  /** Tells what a call of `cost` would get now, charging nothing; `remaining` is what is left now. */
  peek(key: string, options?: CallOptions): Promise<Decision>;
  /**
   * Forgets `key` under every policy, as if it had never been seen, in the fallback store too
   * (even when the store fails: the fallback may be what decides). A caller waiting for the key
   * in this limiter's `acquire` asks again at once. A failing store rejects with `ERR_STORE`.
   */
  reset(key: string): Promise<void>;
  /**
   * Waits for a slot and takes it: resolves with the allowing Decision, in FIFO order per key
   * within this process. Rejects with `ERR_WAIT_EXCEEDED` when the wait would pass `maxWaitMs`
   * (at once when the first computed wait already does) and with `ERR_ABORTED` when `signal`
   * aborts. It never polls: it sleeps exactly as long as the store says.
   */
  acquire(key: string, options?: AcquireOptions): Promise<Decision>;
  /**
   * `consume` for hot paths: returns the Decision itself when the store decides synchronously
   * (the memory store), a Promise otherwise. Invalid input throws synchronously.
   */
  decide(key: string, cost?: number): Decision | Promise<Decision>;
}

const OWNER = 'createLimiter';
const POLICY_NAME = /^[A-Za-z0-9_-]+$/;
const DEFAULT_PREFIX = 'floodgate';
/** Outage reports are at least this far apart, whatever the success/failure interleaving. */
const REPORT_INTERVAL_MS = 10_000;

function isAlgorithm(value: unknown): value is Algorithm {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Algorithm).evaluate === 'function' &&
    typeof (value as Algorithm).charge === 'function' &&
    typeof (value as Algorithm).limit === 'number'
  );
}

function isStore(value: unknown): value is Store {
  return typeof value === 'object' && value !== null && typeof (value as Store).bind === 'function';
}

/** A store's error as a store failure: as it is when coded, else wrapped with it as `cause`. */
function storeFailure(error: unknown, what: string): FloodgateError {
  if (isStoreFailure(error)) return error;
  return new FloodgateError('ERR_STORE', `store ${what}: ${error instanceof Error ? error.message : show(error)}`, {
    cause: error,
  });
}

function defaultOutage(error: FloodgateError): void {
  console.warn(`floodgate: store failing (${error.code}): ${error.message}; applying onStoreError until it recovers`);
}

function resolvePolicies(given: Record<string, unknown>): PolicySpec[] {
  if (given.algorithm !== undefined && given.policies !== undefined) {
    throw new FloodgateError('ERR_INVALID_OPTION', `${OWNER}: give either algorithm or policies, not both`);
  }
  if (given.algorithm !== undefined) {
    if (!isAlgorithm(given.algorithm)) {
      throw invalidOption(
        OWNER,
        'algorithm',
        'an algorithm such as slidingWindowLog({...}) or tokenBucket({...})',
        given.algorithm,
      );
    }
    return [{ name: 'default', algorithm: given.algorithm }];
  }
  const policies = given.policies;
  if (policies === undefined) {
    throw new FloodgateError('ERR_INVALID_OPTION', `${OWNER}: algorithm or policies is required, got neither`);
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
    if (!isAlgorithm(algorithm)) throw invalidOption(OWNER, `policies.${name}`, 'an algorithm', algorithm);
    specs.push({ name, algorithm });
  }
  if (specs.length === 0) throw invalidOption(OWNER, 'policies', 'an object with at least one policy', policies);
  return specs;
}

/**
 * Creates a limiter. Every option is checked here, once; a bad one throws `ERR_INVALID_OPTION`.
 *
 * @example
 * ```ts
 * const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 100, windowMs: 60_000 }), prefix: 'api' });
 * const d = await limiter.consume('user:42');
 * if (!d.allowed) console.log(`retry in ${d.retryAfterMs} ms`);
 * ```
 */
export function createLimiter(options: LimiterOptions): Limiter {
  const given = checkOptionsObject(OWNER, options, [
    'algorithm',
    'policies',
    'store',
    'prefix',
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
  const onStoreError = given.onStoreError === undefined ? 'allow' : given.onStoreError;
  if (onStoreError !== 'allow' && onStoreError !== 'deny' && onStoreError !== 'throw' && !isStore(onStoreError)) {
    throw invalidOption(OWNER, 'onStoreError', "'allow', 'deny', 'throw' or a fallback store", onStoreError);
  }
  const onOutage =
    optionalFunction<(error: FloodgateError) => void>(OWNER, 'onOutage', given.onOutage) ?? defaultOutage;

  const binding: StoreBinding = store.bind({ prefix, policies });
  const decideThen = decideThenOf(binding);
  const fallback: StoreBinding | undefined = isStore(onStoreError)
    ? onStoreError.bind({ prefix, policies })
    : undefined;
  const single = policies.length === 1;
  const names = policies.map((p) => p.name);
  let smallest = policies[0] as PolicySpec;
  for (const p of policies) if (p.algorithm.limit < smallest.algorithm.limit) smallest = p;
  const maxCost = smallest.algorithm.limit;
  let outage = false;
  let reportedAt = Number.NEGATIVE_INFINITY;

  function checkCost(cost: unknown): number {
    if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < 0) {
      throw new FloodgateError('ERR_INVALID_COST', `cost must be a non-negative integer, got ${show(cost)}`);
    }
    if (cost > maxCost) {
      throw new FloodgateError(
        'ERR_COST_EXCEEDS_LIMIT',
        `cost ${cost} can never be allowed: policy ${show(smallest.name)} has a limit of ${maxCost}`,
      );
    }
    return cost;
  }

  function combine(decisions: readonly Decision[]): Decision {
    if (single) return decisions[0] as Decision;
    let bound = 0;
    const byName: Record<string, Decision> = {};
    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i] as Decision;
      const b = decisions[bound] as Decision;
      byName[names[i] as string] = d;
      // Denied: the policy that makes the caller wait longest binds. Allowed: the one with the
      // least left (ties: the one furthest from reset).
      if (
        b.allowed
          ? !d.allowed || d.remaining < b.remaining || (d.remaining === b.remaining && d.resetMs > b.resetMs)
          : !d.allowed && d.retryAfterMs > b.retryAfterMs
      ) {
        bound = i;
      }
    }
    return { ...(decisions[bound] as Decision), policy: names[bound] as string, policies: byName };
  }

  function succeeded(decisions: readonly Decision[]): Decision {
    outage = false;
    return combine(decisions);
  }

  function degraded(error: FloodgateError, allowed: boolean): Decision {
    const limit = smallest.algorithm.limit;
    return allowed
      ? { allowed, limit, remaining: limit, resetMs: 0, retryAfterMs: 0, degraded: true, cause: error }
      : { allowed, limit, remaining: 0, resetMs: 1000, retryAfterMs: 1000, degraded: true, cause: error };
  }

  /** Reports the start of an outage unless one was reported too recently; tells whether it did. */
  function report(error: FloodgateError): boolean {
    const at = performance.now();
    if (at - reportedAt < REPORT_INTERVAL_MS) return false;
    reportedAt = at;
    try {
      onOutage(error);
    } catch {
      // A throwing reporter must not turn a handled outage into a crash.
    }
    return true;
  }

  function failed(error: unknown, key: string, cost: number, charge: boolean): Decision | Promise<Decision> {
    const storeError = storeFailure(error, 'failed');
    // An outage counts as reported only once it is: one that begins within the quiet interval
    // after an earlier report is reported when the interval ends, not never.
    if (!outage && report(storeError)) outage = true;
    if (onStoreError === 'throw') throw storeError;
    if (fallback === undefined) return degraded(storeError, onStoreError === 'allow');
    const mark = (decisions: readonly Decision[]): Decision => ({
      ...combine(decisions),
      degraded: true,
      cause: storeError,
    });
    const bothFailed = (fallbackError: unknown): never => {
      throw new FloodgateError('ERR_STORE', 'store and fallback store both failed', { cause: fallbackError });
    };
    try {
      const result = fallback.decide(key, cost, charge);
      return Array.isArray(result) ? mark(result) : Promise.resolve(result).then(mark, bothFailed);
    } catch (fallbackError) {
      return bothFailed(fallbackError);
    }
  }

  function run(key: string, cost: number, charge: boolean): Decision | Promise<Decision> {
    if (decideThen !== undefined) {
      try {
        return decideThen(key, cost, charge, succeeded, (error: unknown) => failed(error, key, cost, charge));
      } catch (error) {
        return failed(error, key, cost, charge);
      }
    }
    let result: readonly Decision[] | Promise<readonly Decision[]>;
    try {
      result = binding.decide(key, cost, charge);
    } catch (error) {
      return failed(error, key, cost, charge);
    }
    // A synchronous answer is an array. Anything else is awaited as a promise, which it may be
    // without being `instanceof Promise` (a store built in another realm, such as a test
    // runner's VM context); `Promise.resolve` returns a native promise as it is.
    if (Array.isArray(result)) return succeeded(result);
    return Promise.resolve(result).then(succeeded, (error: unknown) => failed(error, key, cost, charge));
  }

  function decide(key: string, cost = 1): Decision | Promise<Decision> {
    return run(storageKey(key), checkCost(cost), true);
  }

  function callCost(owner: 'consume' | 'peek', options: CallOptions | undefined): number {
    if (options === undefined) return 1;
    checkOptionsObject(owner, options, ['cost']);
    // Only `undefined` means "not given": a null cost is a mistake to report, not a cost of 1.
    return checkCost(options.cost === undefined ? 1 : options.cost);
  }

  function settle(result: Decision | Promise<Decision>): Promise<Decision> {
    return result instanceof Promise ? result : Promise.resolve(result);
  }

  const queues: WaitQueues = new Map();

  const limiter: Limiter = {
    policies,
    prefix,
    decide,
    // Not `async`: an async wrapper costs a second promise per call. Invalid input still
    // rejects rather than throws.
    consume(key, callOptions) {
      try {
        return settle(run(storageKey(key), callCost('consume', callOptions), true));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    peek(key, callOptions) {
      try {
        return settle(run(storageKey(key), callCost('peek', callOptions), false));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    async reset(key) {
      const k = storageKey(key);
      // The fallback is reset even when the store fails: during an outage it is what decides.
      let failure: FloodgateError | undefined;
      for (const b of fallback === undefined ? [binding] : [binding, fallback]) {
        try {
          await b.reset(k);
        } catch (error) {
          failure ??= storeFailure(error, 'failed to reset');
        }
      }
      // A waiter sleeping out a wait that the reset has cancelled asks again now.
      wakeFirst(queues, k);
      if (failure !== undefined) throw failure;
    },
    async acquire(key, options) {
      const k = storageKey(key);
      const { cost, maxWaitMs, signal } = acquireOptions(options);
      const checked = checkCost(cost === undefined ? 1 : cost);
      return acquireSlot(queues, k, maxWaitMs, signal, () => run(k, checked, true));
    },
  };
  return limiter;
}
