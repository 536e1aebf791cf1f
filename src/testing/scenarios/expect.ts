import type { ExpectedDecision } from '../types.js';

/** An allowed call: `retryAfterMs` 0. */
export const ok = (remaining: number, resetMs: number): ExpectedDecision => ({
  allowed: true,
  remaining,
  resetMs,
  retryAfterMs: 0,
});

/** A denied call. */
export const no = (remaining: number, resetMs: number, retryAfterMs: number): ExpectedDecision => ({
  allowed: false,
  remaining,
  resetMs,
  retryAfterMs,
});

/** A call denied because the key is blocked: nothing left now, waits at least the block's. */
export const blocked = (resetMs: number, retryAfterMs: number): ExpectedDecision => ({
  allowed: false,
  remaining: 0,
  resetMs,
  retryAfterMs,
  blocked: true,
});
