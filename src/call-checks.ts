import { FloodgateError } from './errors.js';
import { MAX_BLOCK_MS } from './limiter-options.js';
import { checkOptionsObject, invalidOption, show } from './options.js';
import type { PolicySpec } from './types.js';

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

/** The checks of a limiter's per-call arguments, against its policies' smallest limit. */
export interface CallChecks {
  /** A call's cost, checked. */
  checkCost(cost: unknown): number;
  /** The cost of `consume`'s or `peek`'s options (1 when not given), checked. */
  callCost(owner: string, options: CallOptions | undefined): number;
  /** The cost of `refund`'s options, checked. */
  refundCost(options: CallOptions | undefined): number;
  /** The duration of `block`'s options, checked. */
  blockMs(options: BlockOptions | undefined): number;
}

/**
 * Checks each call's arguments once, on the way in: a bad one throws a coded error that names it,
 * before the store is asked anything.
 */
export function callChecks(policies: readonly PolicySpec[]): CallChecks {
  let smallest = policies[0] as PolicySpec;
  for (const p of policies) if (p.algorithm.limit < smallest.algorithm.limit) smallest = p;
  const maxCost = smallest.algorithm.limit;

  // The error is built apart: the check alone is small enough for V8 to inline into every call.
  function checkCost(cost: unknown): number {
    if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < 0 || cost > maxCost) throw costError(cost);
    return cost;
  }

  function costError(cost: unknown): FloodgateError {
    if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < 0) {
      return new FloodgateError('ERR_INVALID_COST', `cost must be a non-negative integer, got ${show(cost)}`);
    }
    return new FloodgateError(
      'ERR_COST_EXCEEDS_LIMIT',
      `cost ${cost} can never be allowed: policy ${show(smallest.name)} has a limit of ${maxCost}`,
    );
  }

  return {
    checkCost,
    callCost(owner, options) {
      if (options === undefined) return 1;
      checkOptionsObject(owner, options, ['cost']);
      // Only `undefined` means "not given": a null cost is a mistake to report, not a cost of 1.
      return checkCost(options.cost === undefined ? 1 : options.cost);
    },
    // A refund of more than the smallest limit could only be a mistake: no call charged that much.
    refundCost(options) {
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
    },
    blockMs(options) {
      const given = checkOptionsObject('block', options, ['durationMs']);
      const ms = given.durationMs;
      if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 1 || ms > MAX_BLOCK_MS) {
        throw invalidOption('block', 'durationMs', 'a positive integer number of milliseconds up to 1e15', ms);
      }
      return ms;
    },
  };
}
