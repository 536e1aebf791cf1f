import { createLimiter } from 'floodgate';
import { Redis } from 'ioredis';
import { type FloodgateKind, fastAlgorithm, redisPrefix } from '../cases/redis-policies.js';
import { loadRedisStore } from './optional.js';

const MARK = 'bench-capture-key';
const SCRIPT_COMMANDS = new Set(['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall', 'fcall_ro']);

/**
 * The exact command floodgate's Redis store sends for one decision, seen through MONITOR, with
 * the user key replaced by redis-benchmark's `__rand_int__` placeholder: the same script (by its
 * SHA), the same KEYS and ARGV shape, so redis-benchmark replays precisely what the store asks.
 */
export async function captureScriptCall(port: number, kind: FloodgateKind): Promise<string[]> {
  const RedisStore = await loadRedisStore();
  if (!RedisStore.ok) throw new Error(`not available: ${RedisStore.reason}`);
  return captureCall(port, (client) => {
    const limiter = createLimiter({
      algorithm: fastAlgorithm(kind),
      store: new RedisStore.value({ client, timeoutMs: 1000 }),
      prefix: redisPrefix(kind),
    });
    return limiter.consume(MARK);
  });
}

/** The same for rate-limiter-flexible's Redis limiter, as the bench's workers configure it. */
export async function captureRateLimiterFlexibleCall(port: number): Promise<string[]> {
  const { RateLimiterRedis } = await import('rate-limiter-flexible');
  return captureCall(port, (client) => {
    const limiter = new RateLimiterRedis({ storeClient: client, points: 1_000_000_000, duration: 60 });
    return limiter.consume(MARK);
  });
}

/**
 * An argument as MONITOR printed it, back to its text: Redis quotes it as `sdscatrepr` does
 * (backslash escapes for the backslash, the double quote, newline, carriage return, tab, bell and
 * backspace, and `\\xHH` for any other unprintable byte).
 */
function unescapeMonitor(text: string): string {
  const named: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' };
  return text.replace(/\\(x[0-9a-fA-F]{2}|[\s\S])/g, (_, c: string) =>
    c.length === 3 ? String.fromCharCode(Number.parseInt(c.slice(1), 16)) : (named[c] ?? c),
  );
}

/** Makes `call` twice on a fresh client and returns the second script call MONITOR saw, as an EVALSHA. */
async function captureCall(port: number, call: (client: Redis) => Promise<unknown>): Promise<string[]> {
  const monitorClient = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  await monitorClient.connect();
  await client.connect();
  const monitor = await monitorClient.monitor();
  try {
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      // MONITOR also lists the commands a script runs (source "lua"); keep what the client sent.
      const name = args[0]?.toLowerCase() ?? '';
      if (source !== 'lua' && SCRIPT_COMMANDS.has(name) && args.some((a) => a.includes(MARK))) seen.push(args);
    });
    // Twice: the first call may be an EVALSHA answered NOSCRIPT and then an EVAL; the second is
    // the steady-state EVALSHA.
    await call(client);
    await call(client);
    // MONITOR's feed may lag on a busy machine: wait for both calls, up to 5 s.
    for (let i = 0; i < 250 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    // The second call's EVALSHA when there is one; a client that sends EVAL every time
    // (rate-limiter-flexible does) has only EVALs.
    const last = seen.findLast((a) => a[0]?.toLowerCase() === 'evalsha') ?? seen.at(-1);
    if (last === undefined) throw new Error('MONITOR saw no script call for the capture key');
    let args = last.map((a) => a.split(MARK).join('__rand_int__'));
    if (args[0]?.toLowerCase() === 'eval') {
      // Replay by SHA: that measures the script, not the sending of its source.
      const sha = (await client.script('LOAD', unescapeMonitor(args[1] as string))) as string;
      args = ['EVALSHA', sha, ...args.slice(2)];
    }
    return args;
  } finally {
    monitor.disconnect();
    monitorClient.disconnect();
    client.disconnect();
  }
}
