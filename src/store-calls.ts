import { candidateKey, storageKey } from './keys.js';
import type { OutagePolicy } from './outage.js';
import { type DecidesOne, type DecideThen, decideOneOf, decideThenOf } from './stores/decide-then.js';
import type { Decision, StoreBinding } from './types.js';

/** How a limiter asks its store, answering under its failure policy when the store fails. */
export interface StoreCalls {
  /** Runs one store call on the binding (or, failing, on the fallback) and combines the answer. */
  call(run: (b: StoreBinding) => readonly Decision[] | Promise<readonly Decision[]>): Decision | Promise<Decision>;
  /** Decides `cost` for `key`, charging it with `charge`. */
  decide(key: string, cost: number, charge: boolean): Decision | Promise<Decision>;
  /**
   * Checks a key given to `decide`: `storageKey`, or `candidateKey` when the store makes the rest
   * of the check itself (see `DecidesOne`). A module function either way, never a closure.
   */
  readonly checkKey: (key: unknown) => string;
}

/** A limiter's store calls: the in-memory one-policy path when its store registered one. */
export function storeCalls(binding: StoreBinding, outage: OutagePolicy, policyCount: number): StoreCalls {
  const one = policyCount === 1 ? decideOneOf(binding) : undefined;
  return one === undefined
    ? new Calls(binding, outage, decideThenOf(binding))
    : new OneSyncPolicy(binding, outage, one);
}

/**
 * Classes rather than closures made per limiter: V8 may not inline a call whose site has met
 * several functions made from one source (its inlining trace reports "many closures", not
 * considered), so with closures, in a process that used several limiters, steps of a decision
 * could call each other for real. A method is one function for every limiter.
 */
class Calls implements StoreCalls {
  protected readonly binding: StoreBinding;
  protected readonly outage: OutagePolicy;
  readonly checkKey: (key: unknown) => string = storageKey;
  readonly #decideThen: DecideThen | undefined;
  /** `outage.succeeded`, made once: it is handed to the store and to `then` as it is. */
  readonly #succeeded: (decisions: readonly Decision[]) => Decision;

  constructor(binding: StoreBinding, outage: OutagePolicy, decideThen: DecideThen | undefined) {
    this.binding = binding;
    this.outage = outage;
    this.#decideThen = decideThen;
    this.#succeeded = (decisions) => outage.succeeded(decisions);
  }

  call(run: (b: StoreBinding) => readonly Decision[] | Promise<readonly Decision[]>): Decision | Promise<Decision> {
    const onFailure = (error: unknown) => this.outage.failed(error, run);
    let result: readonly Decision[] | Promise<readonly Decision[]>;
    try {
      result = run(this.binding);
    } catch (error) {
      return onFailure(error);
    }
    // A synchronous answer is an array. Anything else is awaited as a promise, which it may be
    // without being `instanceof Promise` (a store built in another realm, such as a test
    // runner's VM context); `Promise.resolve` returns a native promise as it is.
    if (Array.isArray(result)) return this.outage.succeeded(result);
    return Promise.resolve(result).then(this.#succeeded, onFailure);
  }

  decide(key: string, cost: number, charge: boolean): Decision | Promise<Decision> {
    const decideThen = this.#decideThen;
    if (decideThen !== undefined) {
      const onFailure = (error: unknown) => this.outage.failed(error, (b) => b.decide(key, cost, charge));
      try {
        return decideThen(key, cost, charge, this.#succeeded, onFailure);
      } catch (error) {
        return onFailure(error);
      }
    }
    return this.call((b) => b.decide(key, cost, charge));
  }
}

/**
 * The in-memory hot path: no array to unwrap, and no closure made unless the store fails. A class
 * of its own, chosen once in `storeCalls` rather than tested per call: the smaller the hot path's
 * code, the more of it V8 inlines into the caller, and `consume` then makes fewer real calls.
 */
class OneSyncPolicy extends Calls {
  readonly #one: DecidesOne;
  // The store tests a key's UTF-16 where it matters (see DecidesOne).
  override readonly checkKey: (key: unknown) => string = candidateKey;

  constructor(binding: StoreBinding, outage: OutagePolicy, one: DecidesOne) {
    super(binding, outage, undefined);
    this.#one = one;
  }

  override decide(key: string, cost: number, charge: boolean): Decision | Promise<Decision> {
    try {
      return this.outage.answered(this.#one.decideOne(key, cost, charge));
    } catch (error) {
      // A fallback store is asked with the key fully checked: it may store it as it is.
      const k = storageKey(key);
      return this.outage.failed(error, (b) => b.decide(k, cost, charge));
    }
  }
}
