import type { Decision, StoreBinding } from '../types.js';

/**
 * A store binding's `decide`, with the Decisions handed to `settled` (or the failure to `failed`)
 * as the store's own promise settles, resolving with what they return: the limiter then needs no
 * promise of its own on top of the store's, one fewer per call. It may still throw synchronously,
 * as `decide` may.
 */
export type DecideThen = <T>(
  key: string,
  cost: number,
  charge: boolean,
  settled: (decisions: readonly Decision[]) => T,
  failed: (error: unknown) => T | Promise<T>,
) => T | Promise<T>;

/**
 * Keyed by the very `decide` function it speeds up, not by the binding: a wrapper that replaces
 * `decide` (to log, to count, to change it) finds no fast path and is never bypassed, while one
 * that copies the binding unchanged keeps it.
 */
const paired = new WeakMap<StoreBinding['decide'], DecideThen>();

/** Registers `decideThen` as the faster form of exactly this `decide`. */
export function pairDecideThen(decide: StoreBinding['decide'], decideThen: DecideThen): void {
  paired.set(decide, decideThen);
}

/** The faster form of this binding's `decide`, if its store registered one. */
export function decideThenOf(binding: StoreBinding): DecideThen | undefined {
  return paired.get(binding.decide);
}

/**
 * A single-policy binding's `decide` for a store that answers synchronously: that policy's
 * Decision itself. The array `decide` must return is an allocation per call that the limiter
 * would only unwrap again (through `Array.isArray`, `succeeded` and `combine`). It may throw, as
 * `decide` may. A method, not a function made per binding (see `Calls` in `store-calls.ts`).
 */
export interface DecidesOne {
  /**
   * `key` may be a candidate key (see `candidateKey` in `keys.ts`): one that passed every check
   * but the test of well-formed UTF-16. The store makes that test where it matters, before it
   * stores anything under the key, and decides for `storageKey(key)` instead when it fails. A key
   * it already holds state for was stored as it is, so it passed then.
   */
  decideOne(key: string, cost: number, charge: boolean): Decision;
}

/** Keyed by the very `decide` function it speeds up, for the reason given for `paired`. */
const single = new WeakMap<StoreBinding['decide'], DecidesOne>();

/** Registers `one` as the faster form of exactly this single-policy, synchronous `decide`. */
export function pairDecideOne(decide: StoreBinding['decide'], one: DecidesOne): void {
  single.set(decide, one);
}

/** The faster form of this binding's `decide`, if its store registered one. */
export function decideOneOf(binding: StoreBinding): DecidesOne | undefined {
  return single.get(binding.decide);
}
