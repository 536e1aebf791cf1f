import { deepStrictEqual } from 'node:assert/strict';
import { test } from 'node:test';
import { createLimiter, MemoryStore, slidingWindowLog } from 'floodgate';

/** The FloodgateWarnings this process emits while `body` runs, and a turn after. */
async function warningsDuring(body: () => void): Promise<string[]> {
  const codes: string[] = [];
  const listener = (warning: Error & { code?: string }) => {
    if (warning.name === 'FloodgateWarning') codes.push(`${warning.code}: ${warning.message}`);
  };
  process.on('warning', listener);
  try {
    body();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return codes;
}

// One test: the warning is once per process, and each test file runs in a process of its own.
test('two limiters binding one store under one prefix: one warning, once per process', async () => {
  const algorithm = slidingWindowLog({ limit: 1, windowMs: 1_000 });
  const store = new MemoryStore({ sweepIntervalMs: false });
  deepStrictEqual(
    await warningsDuring(() => {
      createLimiter({ algorithm, store, prefix: 'login' });
      createLimiter({ algorithm, store, prefix: 'api' });
      // Another store, or a store of its own: nothing shared.
      createLimiter({ algorithm, store: new MemoryStore({ sweepIntervalMs: false }), prefix: 'login' });
      createLimiter({ algorithm });
      createLimiter({ algorithm });
    }),
    [],
  );
  deepStrictEqual(
    await warningsDuring(() => {
      createLimiter({ algorithm, store, prefix: 'login' });
      createLimiter({ algorithm, store });
      createLimiter({ algorithm, store });
    }),
    [
      'FLOODGATE_SHARED_PREFIX: createLimiter: a second limiter binds one store under the prefix "login", so the two count the same keys together; give each limiter its own prefix, or use one limiter in both places',
    ],
  );
});
