import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand, run, startChild, stopChild, waitForLine } from './proc.js';

/** A redis-server this run started on a free loopback port, and owns until `stop()`. */
export interface BenchRedis {
  readonly port: number;
  readonly pid: number;
  readonly version: string;
  /** Runs one redis-cli command against this server and returns its raw reply. */
  cli(...args: string[]): Promise<string>;
  /** Stops the server by pid (SIGTERM, then SIGKILL) and removes its working directory. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1, never 6379 (the shared Redis on this machine). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((done, fail) => {
      const server = createServer();
      server.once('error', fail);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const p = typeof address === 'object' && address !== null ? address.port : 0;
        server.close(() => done(p));
      });
    });
    if (port !== 6379 && port > 0) return port;
  }
  throw new Error('no free loopback port found');
}

/**
 * Starts a private redis-server (no persistence) on a free loopback port, pinned to `cpu`, with
 * `extraArgs` (`--name value` pairs) after the bench's own. Throws with a clear message when
 * redis-server is not installed.
 */
export async function startRedis(cpu?: number, extraArgs: readonly string[] = []): Promise<BenchRedis> {
  if (!hasCommand('redis-server') || !hasCommand('redis-cli')) {
    throw new Error('redis-server and redis-cli must be on PATH (Debian/Ubuntu: apt-get install -y redis-server)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'floodgate-bench-redis-'));
  let child: ChildProcess | undefined;
  for (let attempt = 0; attempt < 5 && child === undefined; attempt++) {
    const port = await freePort();
    const candidate = startChild(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs],
      cpu,
    );
    try {
      await waitForLine(candidate, /Ready to accept connections/, 10_000);
      child = candidate;
      const server = child;
      const versionLine = await run('redis-server', ['--version'], 5000);
      const version = versionLine.stdout.match(/v=(\S+)/)?.[1] ?? 'unknown';
      const cli = async (...args: string[]): Promise<string> => {
        const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], 30_000);
        if (r.code !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr}`);
        return r.stdout.trim();
      };
      return {
        port,
        pid: server.pid as number,
        version,
        cli,
        async stop() {
          await stopChild(server);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch {
      // Most likely the port was taken between the probe and the bind: try another.
      await stopChild(candidate);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error('could not start redis-server on a free loopback port');
}
