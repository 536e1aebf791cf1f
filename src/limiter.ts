import { type AcquireOptions, acquireOptions, acquireSlot, type WaitQueues, wakeFirst } from './acquire.js';
import { combiner } from './combine.js';
import { FloodgateError } from './errors.js';
import { storageKey } from './keys.js';
import { isStore, type LimiterOptions, MAX_BLOCK_MS, resolveOptions } from './limiter-options.js';
import { checkOptionsObject, invalidOption, show } from './options.js';
import { outagePolicy, storeFailure } from './outage.js';
import { noteBinding } from './shared-prefix.js';
import { decideThenOf } from './stores/decide-then.js';
import type { Decision, PolicySpec, StoreBinding } from './types.js';

export type { LimiterOptions, StoreErrorPolicy } from './limiter-options.js';

/** Options of a single call. */
export interface CallOptions {
  /** Units this call costs: a non-negative integer no larger than the smallest limit. Defaults to 1. */
  cost?: number;
}

/** Options of `limiter.block`. */
export interface BlockOptions {
  /** How long the key stays blocked, in milliseconds: a positive integer up to 1e15. */
  durationMs: number;
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
  const decideThen = decideThenOf(binding);
  const fallback = isStore(onStoreError) ? onStoreError.bind(bindOptions) : undefined;
  let smallest = policies[0] as PolicySpec;
  for (const p of policies) if (p.algorithm.limit < smallest.algorithm.limit) smallest = p;
  const maxCost = smallest.algorithm.limit;
  const combine = combiner(policies);
  const { succeeded, failed } = outagePolicy(onStoreError, onOutage, fallback, combine, maxCost);

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

  /** Runs one store call, answering under the failure policy when the store fails. */
  function call(
    run: (b: StoreBinding) => readonly Decision[] | Promise<readonly Decision[]>,
  ): Decision | Promise<Decision> {
    const onFailure = (error: unknown) => failed(error, run);
    let result: readonly Decision[] | Promise<readonly Decision[]>;
    try {
      result = run(binding);
    } catch (error) {
      return onFailure(error);
    }
    // A synchronous answer is an array. Anything else is awaited as a promise, which it may be
    // without being `instanceof Promise` (a store built in another realm, such as a test
    // runner's VM context); `Promise.resolve` returns a native promise as it is.
    if (Array.isArray(result)) return succeeded(result);
    return Promise.resolve(result).then(succeeded, onFailure);
  }

  function run(key: string, cost: number, charge: boolean): Decision | Promise<Decision> {
    if (decideThen !== undefined) {
      const onFailure = (error: unknown) => failed(error, (b) => b.decide(key, cost, charge));
      try {
        return decideThen(key, cost, charge, succeeded, onFailure);
      } catch (error) {
        return onFailure(error);
      }
    }
    return call((b) => b.decide(key, cost, charge));
  }

  function decide(key: string, cost = 1): Decision | Promise<Decision> {
    return run(storageKey(key), checkCost(cost), true);
  }

  function callCost(owner: string, options: CallOptions | undefined): number {
    if (options === undefined) return 1;
    checkOptionsObject(owner, options, ['cost']);
    // Only `undefined` means "not given": a null cost is a mistake to report, not a cost of 1.
    return checkCost(options.cost === undefined ? 1 : options.cost);
  }

  // A refund of more than the smallest limit could only be a mistake: no call charged that much.
  function refundCost(options: CallOptions | undefined): number {
    const given = checkOptionsObject('refund', options, ['cost'], false);
    const cost = given.cost === undefined ? 1 : given.cost;
    if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < 0 || cost > maxCost) {
      throw new FloodgateError(
        typeof cost === 'number' && Number.isSafeInteger(cost) && cost > maxCost
          ? 'ERR_COST_EXCEEDS_LIMIT'
          : 'ERR_INVALID_COST',
        `refund: cost must be a non-negative integer no larger than the smallest limit (${maxCost}, policy ${show(smallest.name)}), got ${show(cost)}`,
      );
    }
    return cost;
  }

  function blockMs(options: BlockOptions | undefined): number {
    const given = checkOptionsObject('block', options, ['durationMs']);
    const ms = given.durationMs;
    if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 1 || ms > MAX_BLOCK_MS) {
      throw invalidOption('block', 'durationMs', 'a positive integer number of milliseconds up to 1e15', ms);
    }
    return ms;
  }

  function settle(result: Decision | Promise<Decision>): Promise<Decision> {
    return result instanceof Promise ? result : Promise.resolve(result);
  }

  const queues: WaitQueues = new Map();

  // Not `async`: an async wrapper costs a second promise per call. Invalid input still rejects
  // rather than throws.
  const limiter: Limiter = {
    policies,
    prefix,
    decide,
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
    refund(key, callOptions) {
      try {
        const k = storageKey(key);
        const cost = refundCost(callOptions);
        // A waiter sleeping out a wait that the refund may have shortened asks again now.
        return settle(call((b) => b.refund(k, cost))).finally(() => wakeFirst(queues, k));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    block(key, blockOptions) {
      try {
        const k = storageKey(key);
        const ms = blockMs(blockOptions);
        return settle(call((b) => b.block(k, ms)));
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
