import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// `npm test` runs TypeScript through tsx, which strips types without checking them; this test
// runs the compiler on the type-level tests so that a type regression fails `npm test` too.
test('the public API type-checks, and every misuse in test/types/public-api.ts is a type error', () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const project = fileURLToPath(new URL('./types/tsconfig.json', import.meta.url));
  const run = spawnSync(process.execPath, [tsc, '--noEmit', '--pretty', 'false', '-p', project], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(run.error, undefined);
  assert.equal(run.status, 0, `tsc reported:\n${run.stdout}${run.stderr}`);
});
