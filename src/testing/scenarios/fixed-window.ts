import { fixedWindow } from 'floodgate';
import type { ContractScenario } from '../types.js';
import { no, ok } from './expect.js';

const fixed3 = () => ({ default: fixedWindow({ limit: 3, windowMs: 1000 }) });

/**
 * The fixed window: windows are `[n × windowMs, (n + 1) × windowMs)` on the store's clock, whatever
 * the time of a key's first call; a charged call's `resetMs` and a denial's wait run to the
 * window's end; an untouched window reports `resetMs` 0.
 */
export const fixedWindowScenarios: readonly ContractScenario[] = [
  {
    name: 'fixed window: windows are aligned to the clock, a denial waits for the window to end',
    policies: fixed3,
    steps: [
      { at: 200, expect: { ...ok(2, 800), limit: 3 } },
      { at: 300, expect: ok(1, 700) },
      { at: 400, expect: ok(0, 600) },
      { at: 450, expect: no(0, 550, 550) },
      { at: 999, expect: no(0, 1, 1) },
      // A window opened by the first call (at 200) would still deny until 1200.
      { at: 1000, expect: ok(2, 1000) },
      { at: 1500, cost: 2, expect: ok(0, 500) },
      { at: 1600, expect: no(0, 400, 400) },
    ],
  },
  {
    name: 'fixed window: aligned on an epoch-sized clock',
    policies: () => ({ default: fixedWindow({ limit: 2, windowMs: 60_000 }) }),
    steps: [
      // 1_700_000_000_000 is 20 s into the window [1_699_999_980_000, 1_700_000_040_000).
      { at: 1_700_000_000_000, expect: ok(1, 40_000) },
      { at: 1_700_000_030_000, expect: ok(0, 10_000) },
      { at: 1_700_000_039_999, expect: no(0, 1, 1) },
      { at: 1_700_000_040_000, expect: ok(1, 60_000) },
    ],
  },
  {
    name: 'fixed window: the boundary burst, twice the limit within a few milliseconds, is allowed',
    policies: fixed3,
    steps: [
      { at: 990, cost: 3, expect: ok(0, 10) },
      { at: 999, expect: no(0, 1, 1) },
      { at: 1000, cost: 3, expect: ok(0, 1000) },
      { at: 1001, expect: no(0, 999, 999) },
    ],
  },
  {
    name: 'fixed window: peek charges nothing, weighted costs, denied calls and cost 0 are not counted',
    policies: fixed3,
    steps: [
      { at: 0, op: 'peek', expect: ok(3, 0) },
      { at: 100, cost: 2, expect: ok(1, 900) },
      { at: 200, op: 'peek', expect: ok(1, 800) },
      { at: 200, op: 'peek', cost: 2, expect: no(1, 800, 800) },
      { at: 300, cost: 2, expect: no(1, 700, 700) },
      { at: 300, cost: 0, expect: ok(1, 700) },
      { at: 400, expect: ok(0, 600) },
      // Two windows later the old count is gone.
      { at: 2500, op: 'peek', expect: ok(3, 0) },
    ],
  },
  {
    name: 'fixed window: reset forgets the key, other keys are untouched',
    policies: fixed3,
    steps: [
      { at: 0, key: 'a', cost: 3, expect: ok(0, 1000) },
      { at: 0, key: 'b', expect: ok(2, 1000) },
      { at: 10, key: 'a', expect: no(0, 990, 990) },
      { at: 20, key: 'a', op: 'reset' },
      { at: 30, key: 'a', expect: ok(2, 970) },
      { at: 40, key: 'b', expect: ok(1, 960) },
    ],
  },
  {
    // A clock that steps back (on Redis, a failover to a replica whose clock is behind) into an
    // earlier window: the calls are counted in the key's window, the later one, until it ends.
    name: 'fixed window: a clock stepping back into an earlier window keeps the later window and its count',
    policies: fixed3,
    steps: [
      { at: 10_500, expect: ok(2, 500) },
      { at: 9400, expect: ok(1, 1600) },
      { at: 9400, expect: ok(0, 1600) },
      { at: 9400, expect: no(0, 1600, 1600) },
      { at: 9500, op: 'refund', expect: ok(1, 1500) },
      { at: 10_999, expect: ok(0, 1) },
      { at: 10_999, expect: no(0, 1, 1) },
      { at: 11_000, expect: ok(2, 1000) },
    ],
  },
  {
    // Further back than a minute is no failover's clock but a state of other settings (a rolling
    // deploy that changed `limit` or `windowMs`): the earlier window is read afresh.
    name: 'fixed window: a key more than a minute ahead of the clock counts nothing',
    policies: fixed3,
    steps: [
      { at: 70_500, cost: 3, expect: ok(0, 500) },
      // Its window starts 60.6 s after this reading.
      { at: 9400, expect: ok(2, 600) },
      { at: 9999, expect: ok(1, 1) },
    ],
  },
  {
    name: 'fixed window: concurrent calls on a fresh key admit exactly the limit',
    policies: () => ({ default: fixedWindow({ limit: 10, windowMs: 1000 }) }),
    steps: [
      { at: 0, concurrent: 20, allowedCount: 10 },
      { at: 1, expect: no(0, 999, 999) },
    ],
  },
];
