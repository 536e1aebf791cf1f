/**
 * ioredis and node-redis sending floodgate's own batched script call, with no floodgate code on
 * the path: what each client gets for the very commands the Redis store sends under load. The
 * call is captured from the store (one decision, through MONITOR) and widened to `--batch` calls
 * on random keys of a 10,000-key space, as the store's batches are; each client keeps
 * `--in-flight` such calls out, sending the next as soon as one is answered, in its own process
 * pinned to the load core, against one private redis-server on the server core, in alternating
 * order each round. Reported: each client's median decisions/s and the median over rounds of
 * node-redis ÷ ioredis. Not part of `npm run bench`.
 *
 *   node --import tsx bench/clients-batched.ts [--rounds=6] [--measure=1500] [--batch=64] [--in-flight=4,8]
 *   node --import tsx bench/clients-batched.ts drive <ioredis|node-redis> <port> <batch> <inFlight> <ms> <call JSON>
 *     (one measurement; prints one JSON line)
 */

import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { captureScriptCall } from './lib/capture.js';
import { waitQuiet } from './lib/machine.js';
import { CPU, nodeScript, run, runScript } from './lib/proc.js';
import { startRedis } from './lib/redis-server.js';
import { median, range, roundOrder } from './lib/stats.js';

const CLIENTS = ['ioredis', 'node-redis'] as const;
type ClientName = (typeof CLIENTS)[number];
const KINDS = ['token-bucket', 'sliding-log'] as const;
const KEYSPACE = 10_000;
/** Hard bound on script calls per measurement, whatever the clock says. */
const MAX_CALLS = 1_000_000;

/** `EVALSHA sha numkeys key… arg…` of one decision, its user key as `__rand_int__`, widened to `batch` decisions. */
function batchOf(lone: readonly string[], batch: number): () => string[] {
  const [, sha, numKeys, ...rest] = lone;
  const n = Number(numKeys);
  const keys = rest.slice(0, n);
  // ARGV: the count of calls, the limiter's shared arguments, then each call's own two (cost, op).
  const args = rest.slice(n);
  const head = args.slice(1, -2);
  const own = args.slice(-2);
  return () => {
    const k: string[] = [];
    const a: string[] = [String(batch), ...head];
    for (let i = 0; i < batch; i++) {
      const tag = String(Math.floor(Math.random() * KEYSPACE)).padStart(12, '0');
      for (const key of keys) k.push(key.replaceAll('__rand_int__', tag));
      a.push(...own);
    }
    return ['EVALSHA', sha as string, String(k.length), ...k, ...a];
  };
}

/** One measurement in this process: decisions/s of `client` keeping `inFlight` batched calls out. */
async function drive(args: string[]): Promise<void> {
  const [name, port, batchArg, inFlightArg, msArg, callJson] = args;
  const batch = Number(batchArg);
  const next = batchOf(JSON.parse(callJson as string) as string[], batch);
  let send: (command: string[]) => Promise<unknown>;
  let close: () => Promise<unknown>;
  if (name === 'ioredis') {
    const client = new Redis({ host: '127.0.0.1', port: Number(port), lazyConnect: true });
    await client.connect();
    // The store reads the reply as bytes (packed doubles), so both clients are asked for bytes.
    const buffered = client as unknown as { callBuffer(...a: string[]): Promise<unknown> };
    send = (command) => buffered.callBuffer(...command);
    close = async () => client.disconnect();
  } else if (name === 'node-redis') {
    const client = createClient({ socket: { host: '127.0.0.1', port: Number(port) } });
    client.on('error', () => undefined);
    await client.connect();
    const options = { typeMapping: { 36: Buffer } };
    send = (command) => client.sendCommand(command, options as never);
    close = () => client.quit();
  } else {
    throw new Error(`unknown client ${name}; one of ${CLIENTS.join(', ')}`);
  }
  const measure = async (ms: number): Promise<number> => {
    let calls = 0;
    const start = performance.now();
    const deadline = start + ms;
    const lane = async (): Promise<void> => {
      while (calls < MAX_CALLS && performance.now() < deadline) {
        const reply = await send(next());
        if (!Buffer.isBuffer(reply) || reply.length === 0) throw new Error('unexpected script reply');
        calls++;
      }
    };
    await Promise.all(Array.from({ length: Number(inFlightArg) }, lane));
    return (calls * batch) / ((performance.now() - start) / 1000);
  };
  await measure(500);
  const decisionsPerSec = await measure(Number(msArg));
  await close();
  console.log(JSON.stringify({ client: name, decisionsPerSec }));
}

function option(name: string, fallback: string): string {
  const given = process.argv.find((a) => a.startsWith(`--${name}=`));
  return given === undefined ? fallback : given.slice(name.length + 3);
}

async function main(): Promise<void> {
  if (process.argv[2] === 'drive') {
    await drive(process.argv.slice(3));
    return;
  }
  const rounds = Number(option('rounds', '6'));
  const measureMs = Number(option('measure', '1500'));
  const batch = Number(option('batch', '64'));
  const inFlights = option('in-flight', '4,8').split(',').map(Number);
  const redis = await startRedis(CPU.server);
  try {
    for (const kind of KINDS) {
      const lone = await captureScriptCall(redis.port, kind);
      for (const inFlight of inFlights) {
        const rates = new Map<ClientName, number[]>(CLIENTS.map((c) => [c, []]));
        const ratios: number[] = [];
        for (let r = 0; r < rounds; r++) {
          await waitQuiet(5000);
          const round = new Map<ClientName, number>();
          for (const client of roundOrder(CLIENTS, r)) {
            const [command, args] = nodeScript('bench/clients-batched.ts', [
              'drive',
              client,
              String(redis.port),
              String(batch),
              String(inFlight),
              String(measureMs),
              JSON.stringify(lone),
            ]);
            const out = await run(command, args, 60_000 + measureMs * 2, CPU.load);
            if (out.code !== 0) throw new Error(`${client} failed: ${out.stderr.slice(0, 500)}`);
            const { decisionsPerSec } = JSON.parse(out.stdout.trim().split('\n').at(-1) as string) as {
              decisionsPerSec: number;
            };
            round.set(client, decisionsPerSec);
            rates.get(client)?.push(decisionsPerSec);
          }
          ratios.push((round.get('node-redis') as number) / (round.get('ioredis') as number));
        }
        const [lo, hi] = range(ratios);
        console.log(
          `${kind}, ${inFlight} calls of ${batch} in flight: ioredis ${(median(rates.get('ioredis') ?? []) / 1000).toFixed(1)} k/s, ` +
            `node-redis ${(median(rates.get('node-redis') ?? []) / 1000).toFixed(1)} k/s, ` +
            `node-redis ÷ ioredis ${median(ratios).toFixed(2)} (${lo.toFixed(2)}–${hi.toFixed(2)})`,
        );
      }
    }
  } finally {
    await redis.stop();
  }
}

runScript(main);
