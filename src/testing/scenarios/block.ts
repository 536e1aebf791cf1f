import { slidingWindowLog, tokenBucket } from 'floodgate';
import type { ContractScenario } from '../types.js';
import { blocked, no, ok } from './expect.js';

const log3 = () => ({ default: slidingWindowLog({ limit: 3, windowMs: 1000 }) });

/**
 * A blocked key: every call is denied with `blocked: true`, `remaining` 0, and `retryAfterMs` and
 * `resetMs` each the larger of the policy's own and the time the block has left. Nothing is
 * charged while it lasts. `block` and `refund` resolve with what a peek of cost 1 gives after them.
 */
export const blockScenarios: readonly ContractScenario[] = [
  {
    name: 'block: every call is denied and charges nothing, peek and cost 0 included; a longer block is kept; it ends by itself',
    policies: log3,
    steps: [
      { at: 0, key: 'new', op: 'block', durationMs: 250, expect: blocked(250, 250) },
      { at: 0, expect: ok(2, 1000) },
      // The log allows a unit call, and would be clear at 1000; the block has 500 ms to go.
      { at: 100, op: 'block', durationMs: 500, expect: blocked(900, 500) },
      { at: 200, expect: blocked(800, 400) },
      { at: 200, op: 'peek', expect: blocked(800, 400) },
      { at: 200, cost: 0, expect: blocked(800, 400) },
      { at: 200, op: 'peek', cost: 0, expect: blocked(800, 400) },
      { at: 250, key: 'new', expect: ok(2, 1000) },
      // Blocked until 600 already: a block until 400 changes nothing.
      { at: 300, op: 'block', durationMs: 100, expect: blocked(700, 300) },
      { at: 300, key: 'other', expect: ok(2, 1000) },
      { at: 599, expect: blocked(401, 1) },
      // The calls made while blocked were not charged: one entry (of 0) before this one.
      { at: 600, expect: ok(1, 1000) },
      { at: 700, op: 'block', durationMs: 2000, expect: blocked(2000, 2000) },
      { at: 800, op: 'block', durationMs: 100, expect: blocked(1900, 1900) },
      // A refund gives back the entry of 600 and leaves the block.
      { at: 900, op: 'refund', expect: blocked(1800, 1800) },
      { at: 1000, op: 'peek', expect: blocked(1700, 1700) },
      { at: 2700, expect: ok(2, 1000) },
    ],
  },
  {
    name: 'block: reset lifts a block',
    policies: log3,
    steps: [
      { at: 0, expect: ok(2, 1000) },
      { at: 0, op: 'block', durationMs: 60_000, expect: blocked(60_000, 60_000) },
      { at: 100, op: 'reset' },
      { at: 100, op: 'peek', expect: ok(3, 0) },
      { at: 100, expect: ok(2, 1000) },
    ],
  },
  {
    name: "block: a block shorter than the policy's own wait; once it ends, the denial is the policy's own",
    policies: log3,
    steps: [
      { at: 0, cost: 3, expect: ok(0, 1000) },
      { at: 100, op: 'block', durationMs: 300, expect: blocked(900, 900) },
      { at: 200, expect: blocked(800, 800) },
      { at: 400, expect: { ...no(0, 600, 600), blocked: false } },
      { at: 400, op: 'peek', expect: { ...no(0, 600, 600), blocked: false } },
      { at: 1000, expect: ok(2, 1000) },
    ],
  },
  {
    name: 'blockDurationMs: a denied consume locks the key out, the denial itself says so; peek never starts a lock-out',
    policies: () => ({ default: slidingWindowLog({ limit: 2, windowMs: 1000 }) }),
    blockDurationMs: 5000,
    steps: [
      { at: 0, expect: ok(1, 1000) },
      { at: 100, expect: ok(0, 1000) },
      { at: 150, op: 'peek', expect: { ...no(0, 950, 850), blocked: false } },
      { at: 150, op: 'peek', cost: 2, expect: { ...no(0, 950, 950), blocked: false } },
      // The log alone would wait 800 ms; the lock-out is 5000 from this denial.
      { at: 200, expect: blocked(5000, 5000) },
      // The log is clear from 1100, the key still locked out; calls while locked out do not extend it.
      { at: 1500, expect: blocked(3700, 3700) },
      { at: 2000, op: 'peek', expect: blocked(3200, 3200) },
      { at: 2000, cost: 0, expect: blocked(3200, 3200) },
      { at: 5199, expect: blocked(1, 1) },
      { at: 5200, expect: ok(1, 1000) },
      { at: 5200, expect: ok(0, 1000) },
      { at: 5300, op: 'peek', expect: { ...no(0, 900, 900), blocked: false } },
      // A free call is never a denied charge.
      { at: 5300, cost: 0, expect: ok(0, 900) },
      { at: 5400, expect: blocked(5000, 5000) },
      { at: 5400, op: 'reset' },
      { at: 5400, expect: ok(1, 1000) },
    ],
  },
  {
    name: 'blockDurationMs, several policies: the lock-out blocks every policy; one denying for longer keeps its own wait',
    policies: () => ({
      burst: tokenBucket({ capacity: 2, refillPerSecond: 1 }),
      window: slidingWindowLog({ limit: 3, windowMs: 10_000 }),
    }),
    blockDurationMs: 3000,
    steps: [
      { at: 0, expect: { ...ok(1, 1000), policy: 'burst' } },
      { at: 0, expect: { ...ok(0, 2000), policy: 'burst' } },
      {
        at: 0,
        expect: {
          ...blocked(3000, 3000),
          policy: 'burst',
          policies: { burst: blocked(3000, 3000), window: blocked(10_000, 3000) },
        },
      },
      {
        at: 2999,
        expect: { ...blocked(1, 1), policy: 'burst', policies: { burst: blocked(1, 1), window: blocked(7001, 1) } },
      },
      {
        at: 3000,
        expect: { ...ok(0, 10_000), policy: 'window', policies: { burst: ok(1, 1000), window: ok(0, 10_000) } },
      },
      // The window denies (its oldest entry leaves at 10000); the burst would allow.
      {
        at: 3000,
        expect: {
          ...blocked(10_000, 7000),
          policy: 'window',
          policies: { burst: blocked(3000, 3000), window: blocked(10_000, 7000) },
        },
      },
      {
        at: 6000,
        op: 'peek',
        expect: {
          ...no(0, 7000, 4000),
          blocked: false,
          policy: 'window',
          policies: { burst: ok(2, 0), window: { ...no(0, 7000, 4000), blocked: false } },
        },
      },
    ],
  },
  {
    name: 'blockDurationMs: concurrent calls admit exactly the capacity, the denials lock the key out',
    policies: () => ({ default: tokenBucket({ capacity: 10, refillPerSecond: 10 }) }),
    blockDurationMs: 1000,
    steps: [
      { at: 0, concurrent: 20, allowedCount: 10 },
      // A token is back at 100, but the key is locked out until 1000.
      { at: 100, expect: blocked(900, 900) },
      { at: 999, expect: blocked(1, 1) },
      { at: 1000, expect: ok(9, 100) },
    ],
  },
];
