import { type AcquireOptions, acquireOptions, acquireSlot, type WaitQueues, wakeFirst } from './acquire.js';
import { type BlockOptions, type CallOptions, callChecks } from './call-checks.js';
import { combiner } from './combine.js';
import type { FloodgateError } from './errors.js';
import { storageKey } from './keys.js';
import { isStore, type LimiterOptions, resolveOptions } from './limiter-options.js';
import { outagePolicy, storeFailure } from './outage.js';
import { noteBinding } from './shared-prefix.js';
import { storeCalls } from './store-calls.js';
import type { Decision, PolicySpec, StoreBinding } from './types.js';

export type { BlockOptions, CallOptions } from './call-checks.js';
export type { LimiterOptions, StoreErrorPolicy } from './limiter-options.js';

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
   * Gives back up to `cost` (default 1) units of `key` to every policy, never beyond its limit
   * (a sliding log: its newest entries first; a bucket: tokens back, capped at its capacity; a
   * window: counted down, never below 0), atomically. Resolves with what `peek` gives after it.
   * Use it to count only some calls: charge on arrival, refund the ones that should not count.
   * A key's block stays.
   */
  refund(key: string, options?: CallOptions): Promise<Decision>;
  /**
   * Blocks `key` for `durationMs` from now on the store's clock (unless it is already blocked for
   * longer): every call is denied with `blocked: true` until then, whatever the policies would
   * allow, and `acquire` waits it out. `reset` lifts it. Resolves with what `peek` gives after it.
   */
  block(key: string, options: BlockOptions): Promise<Decision>;
  /**
   * Forgets `key` under every policy, and lifts its block, as if it had never been seen, in the fallback store too
   * (even when the store fails: the fallback may be what decides). A caller waiting for the key
   * in this limiter's `acquire` asks again at once. A failing store rejects, under every
   * `onStoreError`, with the store's own code (`ERR_STORE_TIMEOUT`, …) or `ERR_STORE`.
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
  const { policies, store, prefix, blockDurationMs, onStoreError, onOutage } = resolveOptions(options);
  const bindOptions = { prefix, policies, blockDurationMs };
  const binding: StoreBinding = store.bind(bindOptions);
  noteBinding(store, prefix);
  const fallback = isStore(onStoreError) ? onStoreError.bind(bindOptions) : undefined;
  const { checkCost, callCost, refundCost, blockMs } = callChecks(policies);
  const limit = Math.min(...policies.map((p) => p.algorithm.limit));
  const outage = outagePolicy(onStoreError, onOutage, fallback, combiner(policies), limit);
  const calls = storeCalls(binding, outage, policies.length);
  // The keys of `decide`, `consume` and `peek`: checked in full, or in part when the store
  // finishes the check itself (the in-memory one-policy path).
  const checkKey = calls.checkKey;
  const queues: WaitQueues = new Map();

  // Not `async`: an async wrapper costs a second promise per call. Invalid input still rejects
  // rather than throws.
  return {
    policies,
    prefix,
    decide: (key, cost = 1) => calls.decide(checkKey(key), checkCost(cost), true),
    // No options (the usual call) costs 1 without a call to `callCost`; any options are checked.
    consume(key, callOptions) {
      try {
        return settle(
          calls.decide(checkKey(key), callOptions === undefined ? 1 : callCost('consume', callOptions), true),
        );
      } catch (error) {
        return Promise.reject(error);
      }
    },
    peek(key, callOptions) {
      try {
        return settle(
          calls.decide(checkKey(key), callOptions === undefined ? 1 : callCost('peek', callOptions), false),
        );
      } catch (error) {
        return Promise.reject(error);
      }
    },
    // Not `async` either, for the same reason as `consume`.
    refund(key, callOptions) {
      try {
        const k = storageKey(key);
        const cost = refundCost(callOptions);
        // A waiter sleeping out a wait that the refund may have shortened asks again now.
        return settle(calls.call((b) => b.refund(k, cost))).finally(() => wakeFirst(queues, k));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    block(key, blockOptions) {
      try {
        const k = storageKey(key);
        const ms = blockMs(blockOptions);
        return settle(calls.call((b) => b.block(k, ms)));
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
      return acquireSlot(queues, k, maxWaitMs, signal, () => calls.decide(k, checked, true));
    },
  };
}

// A store's promise goes to `Promise.resolve`, which hands a native one back as it is (and adopts
// any other thenable); a Decision, told apart by its `allowed` (a promise has none), is wrapped.
// No `instanceof` test, which costs a prototype walk on every synchronous Decision.
function settle(result: Decision | Promise<Decision>): Promise<Decision> {
  return (result as Decision).allowed === undefined ? Promise.resolve(result) : fulfilled(result as Decision);
}

/**
 * A promise fulfilled with `decision`. Resolving a promise with an object looks up a `then` on it,
 * by spec: in V8 a generic property look-up, about a tenth of an in-memory `consume`, unless the
 * optimizing compiler knows the object's shape right there and that shape has no `then`. The read
 * of `allowed` below tells it the shape, from the shapes this read has met, and only Decisions come
 * here: the read in `settle` also meets the store's promises when a process uses a Redis limiter
 * too, and a promise's shape has a `then`, so it cannot stand in for this one.
 */
function fulfilled(decision: Decision): Promise<Decision> {
  void decision.allowed;
  return Promise.resolve(decision);
}
