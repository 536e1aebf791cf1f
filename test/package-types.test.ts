import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * Type-checks a small app that imports every entry point (test/package-types/esm.ts, and
 * cjs.ts with `require`) against the package as it is published: built into a scratch
 * project's node_modules/floodgate with the `files` of package.json beside it, under each
 * `moduleResolution` a user may have. node10 (what `module: commonjs` implies, common in
 * Express apps) knows nothing of the `exports` map and finds the subpaths only through their
 * stub folders; node16 and bundler read the map's `import` and `require` conditions.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const ENTRIES = ['floodgate', 'floodgate/express', 'floodgate/fastify', 'floodgate/testing'];

interface Run {
  code: number | null;
  output: string;
}

function run(args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
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

const COMMON = {
  target: 'ES2022',
  lib: ['ES2023'],
  types: ['node'],
  strict: true,
  esModuleInterop: true,
  noEmit: true,
  // The user's own setting decides whether library files are checked; errors in ours would
  // still show, as the app's types would not be the ones it expects.
  skipLibCheck: true,
};

/** One project per resolver: its compiler options and which file extension each app gets. */
const RESOLVERS = {
  node10: { options: { module: 'commonjs', moduleResolution: 'node10' }, esm: 'app.ts', cjs: 'app-require.ts' },
  node16: { options: { module: 'node16', moduleResolution: 'node16' }, esm: 'app.mts', cjs: 'app.cts' },
  bundler: { options: { module: 'preserve', moduleResolution: 'bundler' }, esm: 'app.mts', cjs: 'app.cts' },
} as const;

let scratch = '';
let built: Run | undefined;
const checks = new Map<string, Promise<Run>>();
const tsc = join(require.resolve('typescript/package.json'), '..', 'bin', 'tsc');

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'floodgate-types-'));
  const pkg = join(scratch, 'node_modules', 'floodgate');
  mkdirSync(pkg, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] };
  copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
  for (const entry of manifest.files)
    if (entry !== 'dist') cpSync(join(root, entry), join(pkg, entry), { recursive: true });
  // Every other package the apps and our types import (express, fastify, ioredis, @types/*)
  // comes from this checkout's node_modules.
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name.startsWith('.')) continue;
    symlinkSync(join(root, 'node_modules', name), join(scratch, 'node_modules', name));
  }
  const tsup = join(require.resolve('tsup/package.json'), '..', 'dist', 'cli-default.js');
  built = await run([tsup, '--out-dir', join(pkg, 'dist'), '--silent'], root);
  for (const [name, resolver] of Object.entries(RESOLVERS)) {
    const dir = join(scratch, name);
    mkdirSync(dir);
    copyFileSync(join(root, 'test', 'package-types', 'esm.ts'), join(dir, resolver.esm));
    copyFileSync(join(root, 'test', 'package-types', 'cjs.ts'), join(dir, resolver.cjs));
    const compilerOptions = { ...COMMON, ...resolver.options };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: [resolver.esm, resolver.cjs] }));
    // The projects are independent: checked side by side, they take the time of the slowest.
    if (built.code === 0) checks.set(name, run([tsc, '--pretty', 'false', '-p', dir], scratch));
  }
});

after(() => {
  if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
});

test('the package builds into the scratch project', () => {
  assert.equal(built?.code, 0, `tsup reported:\n${built?.output}`);
});

test('each subpath has a stub folder for resolvers that ignore exports, listed in files and pointing at built files', () => {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] };
  for (const entry of ENTRIES.slice(1)) {
    const sub = entry.slice('floodgate/'.length);
    assert.ok(manifest.files.includes(sub), `${sub} is not in files`);
    const stub = join(scratch, 'node_modules', entry);
    const fields = JSON.parse(readFileSync(join(stub, 'package.json'), 'utf8')) as { main: string; types: string };
    assert.ok(existsSync(join(stub, fields.main)), `${entry}: main ${fields.main} was not built`);
    assert.ok(existsSync(join(stub, fields.types)), `${entry}: types ${fields.types} were not built`);
  }
});

for (const name of Object.keys(RESOLVERS)) {
  test(`an app importing ${ENTRIES.join(', ')} type-checks under moduleResolution ${name}, as ESM and CommonJS`, async () => {
    const check = checks.get(name);
    assert.ok(check !== undefined, 'not checked: the build failed');
    const result = await check;
    assert.equal(result.code, 0, `tsc (${name}) reported:\n${result.output}`);
  });
}
