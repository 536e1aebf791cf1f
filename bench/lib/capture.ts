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
    const limiter = createLimiter({
      algorithm: fastAlgorithm(kind),
      store: new RedisStore.value({ client, timeoutMs: 1000 }),
      prefix: redisPrefix(kind),
    });
    // Twice: the first call may be an EVAL or a SCRIPT LOAD; the second is the steady-state call.
    await limiter.consume(MARK);
    await limiter.consume(MARK);
    // MONITOR's feed may lag on a busy machine: wait for the second call's EVALSHA, up to 5 s. (The
    // first call is EVALSHA, then EVAL when the server lacks the script.)
    const steady = (): string[] | undefined =>
      seen.length >= 2 ? seen.findLast((a) => a[0]?.toLowerCase() === 'evalsha') : undefined;
    for (let i = 0; i < 250 && steady() === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    const last = steady() ?? seen.at(-1);
    if (last === undefined) throw new Error('MONITOR saw no command for the capture key');
    let args = last.map((a) => a.split(MARK).join('__rand_int__'));
    if (args[0]?.toLowerCase() === 'eval') {
      // Replay by SHA, as the store does in steady state.
      const sha = (await client.script('LOAD', args[1] as string)) as string;
      args = ['EVALSHA', sha, ...args.slice(2)];
    }
    return args;
  } finally {
    monitor.disconnect();
    monitorClient.disconnect();
    client.disconnect();
  }
}
