import { slidingWindowLog, tokenBucket } from 'floodgate';
import type { ContractScenario } from '../types.js';
import { no, ok } from './expect.js';

export const multiPolicyScenarios: readonly ContractScenario[] = [
  {
    name: 'multi-policy: all-or-nothing, the binding policy reports',
    policies: () => ({
      burst: tokenBucket({ capacity: 2, refillPerSecond: 1 }),
      window: slidingWindowLog({ limit: 3, windowMs: 10_000 }),
    }),
    steps: [
      { at: 0, expect: { ...ok(1, 1000), policy: 'burst', policies: { burst: ok(1, 1000), window: ok(2, 10_000) } } },
      { at: 0, expect: { ...ok(0, 2000), policy: 'burst', policies: { window: ok(1, 10_000) } } },
      {
        at: 0,
        expect: {
          ...no(0, 2000, 1000),
          policy: 'burst',
          policies: { burst: no(0, 2000, 1000), window: ok(1, 10_000) },
        },
      },
      {
        at: 1000,
        expect: { ...ok(0, 10_000), policy: 'window', policies: { burst: ok(0, 2000), window: ok(0, 10_000) } },
      },
      {
        at: 5000,
        expect: { ...no(0, 6000, 5000), policy: 'window', policies: { burst: ok(2, 0), window: no(0, 6000, 5000) } },
      },
      {
        at: 10_000,
        expect: { ...ok(1, 10_000), policy: 'window', policies: { burst: ok(1, 1000), window: ok(1, 10_000) } },
      },
    ],
  },
];
