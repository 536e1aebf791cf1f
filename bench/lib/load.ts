import { resolve } from 'node:path';
import { hasCommand, packageVersion, ROOT, run } from './proc.js';

export type LoadTool = 'wrk' | 'autocannon';

/**
 * Makes sure `wrk` is available, installing the Debian package when it is missing and this
 * machine allows it (root and apt-get); otherwise falls back to autocannon from devDependencies.
 */
export async function ensureLoadTool(log: (line: string) => void): Promise<{ tool: LoadTool; version: string }> {
  if (!hasCommand('wrk') && hasCommand('apt-get') && process.getuid?.() === 0) {
    log('wrk not found: installing it with apt-get (Debian package "wrk")');
    const r = await run(
      'sh',
      ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null'],
      300_000,
    );
    if (r.code !== 0) log(`could not install wrk (${r.stderr.trim().slice(-300)}); falling back to autocannon`);
  }
  if (hasCommand('wrk')) {
    const r = await run('wrk', ['--version'], 5000);
    const version = (r.stdout + r.stderr).match(/wrk\s+(\S+)/)?.[1] ?? 'unknown';
    return { tool: 'wrk', version };
  }
  return { tool: 'autocannon', version: packageVersion('autocannon') };
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  /** Responses other than 2xx/3xx; must be 0 for the overhead case (the limit is never reached). */
  non2xx: number;
  /** Socket errors and timeouts. */
  errors: number;
}

/** Drives `url` for `seconds` with `connections` keep-alive connections from `cpu`. */
export async function runLoad(
  tool: LoadTool,
  url: string,
  options: { connections: number; seconds: number; cpu: number | undefined },
): Promise<LoadResult> {
  const { connections, seconds, cpu } = options;
  const bound = (seconds + 15) * 1000;
  if (tool === 'wrk') {
    const r = await run(
      'wrk',
      ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '2s', '--latency', url],
      bound,
      cpu,
    );
    if (r.code !== 0) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
    const out = r.stdout;
    const requests = Number(out.match(/(\d+) requests in ([\d.]+)(m?s)/)?.[1] ?? Number.NaN);
    const durationMatch = out.match(/requests in ([\d.]+)(ms|s|m)\b/);
    const unit = durationMatch?.[2];
    const value = Number(durationMatch?.[1] ?? seconds);
    const secs = unit === 'ms' ? value / 1000 : unit === 'm' ? value * 60 : value;
    const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
    const sock = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
    const errors = sock === null ? 0 : sock.slice(1).reduce((a, b) => a + Number(b), 0);
    return { requests, seconds: secs, rps: requests / secs, non2xx, errors };
  }
  const bin = resolve(ROOT, 'node_modules', '.bin', 'autocannon');
  const r = await run(bin, ['-c', String(connections), '-d', String(seconds), '-j', url], bound, cpu);
  if (r.code !== 0) throw new Error(`autocannon failed: ${r.stderr}`);
  const json = JSON.parse(r.stdout) as {
    requests: { total: number };
    duration: number;
    non2xx: number;
    errors: number;
    timeouts: number;
  };
  return {
    requests: json.requests.total,
    seconds: json.duration,
    rps: json.requests.total / json.duration,
    non2xx: json.non2xx,
    errors: json.errors + json.timeouts,
  };
}
