import { slidingWindowLog } from 'floodgate';
import type { ContractScenario, ContractStep } from '../types.js';
import { no, ok } from './expect.js';

const log3 = () => ({ default: slidingWindowLog({ limit: 3, windowMs: 1000 }) });

export const slidingWindowLogScenarios: readonly ContractScenario[] = [
  {
    name: 'sliding log: fills, denies with the exact wait, admits again as entries leave',
    policies: log3,
    steps: [
      { at: 0, expect: { ...ok(2, 1000), limit: 3 } },
      { at: 100, expect: ok(1, 1000) },
      { at: 200, expect: ok(0, 1000) },
      { at: 300, expect: no(0, 900, 700) },
      { at: 999, expect: no(0, 201, 1) },
      { at: 1000, expect: ok(0, 1000) },
      { at: 1050, expect: no(0, 950, 50) },
      { at: 1100, expect: ok(0, 1000) },
    ],
  },
  {
    name: 'sliding log: no boundary burst across the window edge',
    policies: log3,
    steps: [
      { at: 900, expect: ok(2, 1000) },
      { at: 950, expect: ok(1, 1000) },
      { at: 990, expect: ok(0, 1000) },
      { at: 1000, expect: no(0, 990, 900) },
      { at: 1100, expect: no(0, 890, 800) },
      { at: 1900, expect: ok(0, 1000) },
    ],
  },
  {
    name: 'sliding log: weighted costs, denied calls are not recorded',
    policies: () => ({ default: slidingWindowLog({ limit: 10, windowMs: 1000 }) }),
    steps: [
      { at: 0, cost: 4, expect: ok(6, 1000) },
      { at: 100, cost: 5, expect: ok(1, 1000) },
      { at: 200, cost: 3, expect: no(1, 900, 800) },
      { at: 300, cost: 1, expect: ok(0, 1000) },
      { at: 1000, cost: 4, expect: ok(0, 1000) },
      { at: 1000, cost: 0, expect: ok(0, 1000) },
      { at: 1100, cost: 6, expect: no(5, 900, 200) },
      { at: 1300, cost: 6, expect: ok(0, 1000) },
    ],
  },
  {
    // Enough entries that a store reading the log in pages must read past the first: the wait of
    // a large call is set by the entry where the freed costs first reach what it needs.
    name: 'sliding log: a large call waits for as many of the oldest entries as it needs',
    policies: () => ({ default: slidingWindowLog({ limit: 40, windowMs: 1000 }) }),
    steps: [
      { at: 0, cost: 3, expect: ok(37, 1000) },
      ...Array.from({ length: 37 }, (_, i): ContractStep => ({ at: i + 1, expect: ok(36 - i, 1000) })),
      // Full at 40, from the largest call down: 40 waits for the newest entry; 35 for 3 + 32 unit entries, the 33rd
      // oldest, past the first 32; 5 for the third oldest; 3 for the oldest alone (cost 3).
      { at: 100, cost: 40, op: 'peek', expect: no(0, 937, 937) },
      { at: 100, cost: 35, expect: no(0, 937, 932) },
      { at: 100, cost: 5, expect: no(0, 937, 902) },
      { at: 100, cost: 3, expect: no(0, 937, 900) },
      { at: 1000, cost: 3, expect: ok(0, 1000) },
      { at: 1000, cost: 1, expect: no(0, 1000, 1) },
    ],
  },
  {
    name: 'sliding log: peek charges nothing and reports what is left now',
    policies: log3,
    steps: [
      { at: 0, op: 'peek', expect: ok(3, 0) },
      { at: 0, expect: ok(2, 1000) },
      { at: 10, op: 'peek', expect: ok(2, 990) },
      { at: 10, op: 'peek', cost: 3, expect: no(2, 990, 990) },
      { at: 20, expect: ok(1, 1000) },
      { at: 30, expect: ok(0, 1000) },
      { at: 40, op: 'peek', expect: no(0, 990, 960) },
    ],
  },
  {
    name: 'sliding log: reset forgets the key, other keys are untouched',
    policies: log3,
    steps: [
      { at: 0, key: 'a', cost: 3, expect: ok(0, 1000) },
      { at: 0, key: 'b', expect: ok(2, 1000) },
      { at: 10, key: 'a', expect: no(0, 990, 990) },
      { at: 20, key: 'a', op: 'reset' },
      { at: 30, key: 'a', expect: ok(2, 1000) },
      { at: 40, key: 'b', expect: ok(1, 1000) },
    ],
  },
  {
    // A clock that steps back (on Redis, a failover to a replica whose clock is behind): the call
    // charged at 9500 leaves the window with the newest entry, at 11000, not at 10500, so the log
    // stays sorted and no live entry is ever dropped with an expired one.
    name: 'sliding log: a clock stepping back frees no live entry early',
    policies: () => ({ default: slidingWindowLog({ limit: 2, windowMs: 1000 }) }),
    steps: [
      { at: 10_000, expect: ok(1, 1000) },
      { at: 9500, expect: ok(0, 1500) },
      { at: 10_600, expect: no(0, 400, 400) },
      { at: 10_999, op: 'peek', expect: no(0, 1, 1) },
      { at: 11_000, expect: ok(1, 1000) },
    ],
  },
  {
    name: 'sliding log: concurrent calls on a fresh key admit exactly the limit',
    policies: () => ({ default: slidingWindowLog({ limit: 10, windowMs: 1000 }) }),
    steps: [
      { at: 0, concurrent: 20, allowedCount: 10 },
      { at: 1, expect: no(0, 999, 999) },
    ],
  },
];
