import { ok, strictEqual } from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from './helpers/ioredis.js';
import { freePort, type RedisServer, startRedis } from './helpers/redis.js';

/**
 * The example apps, run as a user runs them, with REDIS_URL naming a Redis that is not up yet:
 * the start-up recipe of docs/redis.md ("Start-up and outages") at work.
 */
const children = new Set<ChildProcess>();
const servers = new Set<RedisServer>();
after(async () => {
  for (const child of children) if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid);
  await Promise.all([...servers].map((s) => s.stop()));
});

/**
 * Starts an example and resolves once it prints that it listens, with how long that took and a
 * reader of everything it has printed so far.
 */
function startExample(file: string, env: Record<string, string>): Promise<{ ms: number; output: () => string }> {
  const began = performance.now();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL(`../examples/${file}`, import.meta.url))],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not listen within 20 s:\n${output}`)), 20_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('listening on')) {
        clearTimeout(timer);
        resolve({ ms: performance.now() - began, output: () => output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${code}:\n${output}`));
    });
  });
}

for (const file of ['express-app.ts', 'fastify-app.ts']) {
  test(`${file} with Redis down starts, answers under onStoreError, and limits through Redis once it is up`, async (t) => {
    const redisPort = await freePort();
    const httpPort = await freePort();
    const { ms, output } = await startExample(file, {
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      PORT: String(httpPort),
    });
    // Loading TypeScript through tsx takes part of this; the wait for Redis is at most 2 s of it.
    t.diagnostic(`listening ${ms.toFixed(0)} ms after start`);
    const down = await fetch(`http://127.0.0.1:${httpPort}/`);
    strictEqual(down.status, 200, 'answered under onStoreError (a per-process memory store) while Redis is down');

    const server = await startRedis({ port: redisPort });
    servers.add(server);
    const upAt = performance.now();
    const admin = new Redis(server.port, '127.0.0.1');
    try {
      // The example's retryStrategy waits at most 1.1 s between attempts.
      let keys = 0;
      while (keys === 0 && performance.now() - upAt < 5_000) {
        strictEqual((await fetch(`http://127.0.0.1:${httpPort}/`)).status, 200);
        keys = await admin.dbsize();
        if (keys === 0) await new Promise((r) => setTimeout(r, 50));
      }
      ok(keys > 0, 'the limiter wrote its keys to Redis within 5 s of Redis starting');
      t.diagnostic(`limiting through Redis ${(performance.now() - upAt).toFixed(0)} ms after Redis started`);
    } finally {
      admin.disconnect();
    }
    // The example listens for the client's errors: ioredis prints nothing of the failed attempts.
    ok(!output().includes('Unhandled error event'), output());
  });
}
