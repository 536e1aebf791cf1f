import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** Runs tsc on one project of test/types/; resolves with its exit code and what it printed. */
function check(config: string): Promise<{ code: number | null; output: string }> {
  const project = fileURLToPath(new URL(`./types/${config}`, import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '--noEmit', '--pretty', 'false', '-p', project], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

// `npm test` runs TypeScript through tsx, which strips types without checking them; these tests
// run the compiler on the type-level tests so that a type regression fails `npm test` too. Both
// start at once: they are independent, and take the time of the slower one side by side.
const ioredis5 = check('tsconfig.json');
const ioredis6 = check('tsconfig.ioredis6.json');

test('the public API type-checks, and every misuse in test/types/public-api.ts is a type error', async () => {
  const run = await ioredis5;
  assert.equal(run.code, 0, `tsc reported:\n${run.output}`);
});

test('with ioredis 6 installed in place of 5, the source and the type tests still type-check', async () => {
  const run = await ioredis6;
  assert.equal(run.code, 0, `tsc reported:\n${run.output}`);
});
