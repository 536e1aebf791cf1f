import type { OutagePolicy } from './outage.js';
import { decideOneOf, decideThenOf } from './stores/decide-then.js';
import type { Decision, StoreBinding } from './types.js';

/** How a limiter asks its store, answering under its failure policy when the store fails. */
export interface StoreCalls {
  /** Runs one store call on the binding (or, failing, on the fallback) and combines the answer. */
  call(run: (b: StoreBinding) => readonly Decision[] | Promise<readonly Decision[]>): Decision | Promise<Decision>;
  /** Decides `cost` for `key`, charging it with `charge`. */
  decide(key: string, cost: number, charge: boolean): Decision | Promise<Decision>;
}

export function storeCalls(
  binding: StoreBinding,
  { succeeded, answered, failed }: OutagePolicy,
  policyCount: number,
): StoreCalls {
  const decideOne = policyCount === 1 ? decideOneOf(binding) : undefined;
  const decideThen = decideOne === undefined ? decideThenOf(binding) : undefined;

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

  if (decideOne !== undefined) {
    return {
      call,
      // The in-memory hot path: no array to unwrap, and no closure made unless the store fails.
      // A function of its own, chosen once here rather than tested per call: the smaller the
      // hot path's code, the more of it V8 inlines into the caller, and `consume` then makes
      // fewer real calls.
      decide(key, cost, charge) {
        try {
          return answered(decideOne(key, cost, charge));
        } catch (error) {
          return failed(error, (b) => b.decide(key, cost, charge));
        }
      },
    };
  }

  return {
    call,
    decide(key, cost, charge) {
      if (decideThen !== undefined) {
        const onFailure = (error: unknown) => failed(error, (b) => b.decide(key, cost, charge));
        try {
          return decideThen(key, cost, charge, succeeded, onFailure);
        } catch (error) {
          return onFailure(error);
        }
      }
      return call((b) => b.decide(key, cost, charge));
    },
  };
}
