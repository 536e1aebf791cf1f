import type { Decision } from '../types.js';

/**
 * A policy's Decision while its key is blocked for `blockMs` more milliseconds: denied whatever
 * the policy allows, nothing left to use now, and no wait shorter than the block's. Both stores
 * give blocked Decisions this one shape.
 */
export function blockedDecision(d: Decision, blockMs: number): Decision {
  return {
    allowed: false,
    limit: d.limit,
    remaining: 0,
    resetMs: Math.max(d.resetMs, blockMs),
    retryAfterMs: Math.max(d.retryAfterMs, blockMs),
    blocked: true,
  };
}

/** Every policy's Decision as {@link blockedDecision}, in place. */
export function applyBlock(decisions: Decision[], blockMs: number): Decision[] {
  for (let i = 0; i < decisions.length; i++) decisions[i] = blockedDecision(decisions[i] as Decision, blockMs);
  return decisions;
}
