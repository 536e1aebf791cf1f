import type { FloodgateError } from './errors.js';

/**
 * The answer to one call: a plain value, never a thrown rejection for "denied".
 * Every time is in milliseconds relative to the moment of the decision.
 */
export interface Decision {
  /** Whether the call may go ahead (and, for `consume`, was charged). */
  readonly allowed: boolean;
  /** The binding policy's limit: a window's `limit` or a bucket's `capacity`. */
  readonly limit: number;
  /** Units that can still be consumed right now, after this call's charge. */
  readonly remaining: number;
  /** Milliseconds until the key is back to its full `limit`; 0 when it already is. */
  readonly resetMs: number;
  /**
   * 0 when allowed. When denied, the smallest wait in milliseconds after which the same call
   * is allowed if nothing else happens: waiting exactly this long and retrying succeeds.
   */
  readonly retryAfterMs: number;
  /** Name of the binding policy; set by limiters with more than one policy. */
  readonly policy?: string;
  /** Each policy's own decision, by name; set by limiters with more than one policy. */
  readonly policies?: Readonly<Record<string, Decision>>;
  /** True when the store failed and the limiter's `onStoreError` policy decided instead. */
  readonly degraded?: boolean;
  /** The store failure behind a degraded decision. */
  readonly cause?: FloodgateError;
}

/** The algorithm families floodgate ships; each store registers one script per kind. */
export type AlgorithmKind = 'sliding-window-log' | 'token-bucket';

/**
 * A rate-limiting algorithm: a pure state transition that every store runs unchanged.
 *
 * `State` is the algorithm's own; stores only keep it, hand it back, and drop it once
 * {@link Algorithm.expiresAt} has passed. The Redis store runs the same rules as a Lua twin.
 */
export interface Algorithm<State = unknown> {
  /** Which family this is; stores use it to pick the matching script. */
  readonly kind: AlgorithmKind;
  /** Largest total cost the policy allows at once (a window's `limit`, a bucket's `capacity`). */
  readonly limit: number;
  /**
   * The span in milliseconds over which `limit` applies: the window, or the time a bucket takes
   * to refill from empty (rounded up). Used by the HTTP headers that describe the policy.
   */
  readonly windowMs: number;
  /** The validated options, in the order the Lua twin takes them as ARGV. */
  readonly scriptArgs: readonly number[];
  /**
   * Decides a call of `cost` at `now` against `state` (`undefined` for a key with no state).
   * Pure: reads `state`, never changes it. A state past {@link Algorithm.expiresAt} must decide
   * exactly as no state does, so stores need not check expiry before every call. With `charge`, `remaining` and `resetMs` describe the
   * state after charging an allowed call; without, the state as it is (a peek).
   */
  evaluate(state: State | undefined, now: number, cost: number, charge: boolean): Decision;
  /**
   * The state after charging an allowed call of `cost` at `now` (an expired `state` counts as
   * none). May reuse the storage of `state`
   * (stores keep one state per key and replace it), so the caller must not read `state` after.
   */
  charge(state: State | undefined, now: number, cost: number): State;
  /**
   * The time (on the clock `now` comes from) from which `state` can no longer change a
   * decision: an emptied log, a full bucket. A store may forget the key from then on.
   */
  expiresAt(state: State): number;
}

/** One named policy of a limiter. */
export interface PolicySpec {
  /** The policy's name: `default` for a single-algorithm limiter, else the key in `policies`. */
  readonly name: string;
  /** The algorithm that decides for this policy. */
  readonly algorithm: Algorithm;
}

/** What a limiter tells a store once, at construction. */
export interface BindOptions {
  /** Namespaces this limiter's keys from other limiters sharing the store. */
  readonly prefix: string;
  /** The policies every call is checked against, all-or-nothing, in this order. */
  readonly policies: readonly PolicySpec[];
}

/**
 * Where state lives. A store is bound once per limiter, and the binding makes the decisions.
 * Implement this to bring your own backend; `floodgate/testing` has the contract suite it must pass.
 */
export interface Store {
  /** Prepares whatever the store needs for these policies (tables, key layout, scripts). */
  bind(options: BindOptions): StoreBinding;
}

/** A store bound to one limiter's prefix and policies. */
export interface StoreBinding {
  /**
   * Evaluates `cost` for `key` against every policy and, when all allow and `charge` is set,
   * charges all of them; atomically, so concurrent calls never over-admit. Returns one Decision
   * per policy, in order. When any policy denies, none is charged and the others report their
   * uncharged view (as a peek would). May answer synchronously. A store failure throws or
   * rejects with a {@link FloodgateError} whose code is `ERR_STORE*`.
   */
  decide(key: string, cost: number, charge: boolean): readonly Decision[] | Promise<readonly Decision[]>;
  /** Forgets all state of `key` under every policy of this binding. */
  reset(key: string): void | Promise<void>;
}
