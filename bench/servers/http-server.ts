/**
 * One hello-world app for the HTTP overhead case, in the variant named on the command line:
 *   node --import tsx bench/servers/http-server.ts <variant> <port> [redisPort]
 * Prints `READY <port>` once listening on 127.0.0.1, and exits on SIGTERM. Every variant of one
 * framework is the same app plus one limiter, keyed on one hot key whose limit is never reached.
 */
import fastifyRateLimit from '@fastify/rate-limit';
import express from 'express';
import { rateLimit as expressRateLimit } from 'express-rate-limit';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLimiter, type Limiter, type Store, tokenBucket } from 'floodgate';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { FLOOR_SCRIPT } from '../lib/floor-script.js';
import { loadExpressAdapter, loadFastifyPlugin, loadRedisStore } from '../lib/optional.js';

const HTTP_VARIANTS = [
  'express-bare',
  'express-noop',
  'express-headers',
  'express-floodgate',
  'express-floodgate-skipfailed',
  'express-erl',
  'fastify-bare',
  'fastify-noop',
  'fastify-headers',
  'fastify-floodgate',
  'fastify-floodgate-skipfailed',
  'fastify-frl',
  'fastify-redis-floor',
  'fastify-redis-floor-shared',
  'fastify-floodgate-redis',
  'fastify-floodgate-redis-node-redis',
  'fastify-frl-redis',
] as const;
type HttpVariant = (typeof HTTP_VARIANTS)[number];

const HOT = 'hot';
/**
 * The four draft-6 headers floodgate sends by default, as constants of the same length: what
 * sending them costs a response, with no decision made.
 */
const DRAFT6_HEADERS: readonly (readonly [string, string])[] = [
  ['ratelimit-limit', '1000000000'],
  ['ratelimit-remaining', '999999999'],
  ['ratelimit-reset', '1'],
  ['ratelimit-policy', '1000000000;w=1000000000'],
];
const hot = (): string => HOT;
const BODY = 'hello world';
/** Never reached: ~30 k req/s for a few minutes is far below a billion. */
const HUGE = 1_000_000_000;
const WINDOW_MS = 60_000;

function floodgateLimiter(store?: Store): Limiter {
  // The token bucket: one number per key, the natural pick for a large limit on a hot key. A
  // billion tokens at 1/s refill: never reached, and the key's state stays live (as a real one).
  const algorithm = tokenBucket({ capacity: HUGE, refillPerSecond: 1 });
  return store === undefined ? createLimiter({ algorithm }) : createLimiter({ algorithm, store });
}

/** An ioredis client of the app's own, disconnected when the app closes. */
function appClient(app: FastifyInstance, port: number | undefined): Redis {
  if (port === undefined) throw new Error('this variant needs a redis port');
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, connectTimeout: 1000 });
  app.addHook('onClose', async () => {
    client.disconnect();
  });
  return client;
}

/** An app client with the floor script loaded, and the one key the script is sent with. */
async function floorScript(
  app: FastifyInstance,
  port: number | undefined,
): Promise<{ client: Redis; sha: string; key: string }> {
  const client = appClient(app, port);
  const sha = String(await client.script('LOAD', FLOOR_SCRIPT));
  return { client, sha, key: `floor:{${HOT}}` };
}

/**
 * A node-redis client (the `redis` package) of the app's own, connected, with the error listener
 * node-redis wants (the store reports failures itself), closed when the app closes.
 */
async function appNodeRedisClient(
  app: FastifyInstance,
  port: number | undefined,
): Promise<ReturnType<typeof createClient>> {
  if (port === undefined) throw new Error('this variant needs a redis port');
  const client = createClient({ socket: { host: '127.0.0.1', port, connectTimeout: 1000 } });
  client.on('error', () => {});
  await client.connect();
  app.addHook('onClose', async () => {
    client.destroy();
  });
  return client;
}

async function expressApp(variant: HttpVariant): Promise<express.Express> {
  const app = express();
  if (variant === 'express-floodgate' || variant === 'express-floodgate-skipfailed') {
    const adapter = await loadExpressAdapter();
    if (!adapter.ok) throw new Error(`not available: ${adapter.reason}`);
    // skipFailedRequests charges on arrival and watches every response to its end, to refund one
    // that failed; the route answers 200, so what this variant adds is the watching alone.
    const skipFailedRequests = variant === 'express-floodgate-skipfailed';
    app.use(adapter.value.rateLimit({ limiter: floodgateLimiter(), keyGenerator: hot, skipFailedRequests }));
  } else if (variant === 'express-noop') {
    // The floor: what any middleware costs before it does anything.
    app.use((_req, _res, next) => next());
  } else if (variant === 'express-headers') {
    app.use((_req, res, next) => {
      for (const [name, value] of DRAFT6_HEADERS) res.setHeader(name, value);
      next();
    });
  } else if (variant === 'express-erl') {
    // express-rate-limit's defaults otherwise (MemoryStore, legacy X-RateLimit-* headers).
    app.use(expressRateLimit({ windowMs: WINDOW_MS, limit: HUGE, keyGenerator: hot }));
  }
  app.get('/', (_req, res) => {
    res.send(BODY);
  });
  return app;
}

async function fastifyApp(variant: HttpVariant, redisPort: number | undefined): Promise<ReturnType<typeof Fastify>> {
  const app = Fastify({ logger: false });
  if (
    variant === 'fastify-floodgate' ||
    variant === 'fastify-floodgate-skipfailed' ||
    variant === 'fastify-floodgate-redis' ||
    variant === 'fastify-floodgate-redis-node-redis'
  ) {
    const plugin = await loadFastifyPlugin();
    if (!plugin.ok) throw new Error(`not available: ${plugin.reason}`);
    let limiter: Limiter;
    if (variant === 'fastify-floodgate-redis') {
      const RedisStore = await loadRedisStore();
      if (!RedisStore.ok) throw new Error(`not available: ${RedisStore.reason}`);
      limiter = floodgateLimiter(new RedisStore.value({ client: appClient(app, redisPort), timeoutMs: 1000 }));
    } else if (variant === 'fastify-floodgate-redis-node-redis') {
      // The same limiter and store on a node-redis client in place of ioredis.
      const RedisStore = await loadRedisStore();
      if (!RedisStore.ok) throw new Error(`not available: ${RedisStore.reason}`);
      const client = await appNodeRedisClient(app, redisPort);
      limiter = floodgateLimiter(new RedisStore.value({ client, timeoutMs: 1000 }));
    } else {
      limiter = floodgateLimiter();
    }
    // As for Express: the onResponse hook that skipFailedRequests adds runs on every request.
    const skipFailedRequests = variant === 'fastify-floodgate-skipfailed';
    await app.register(plugin.value, { limiter, keyGenerator: hot, skipFailedRequests });
  } else if (variant === 'fastify-noop') {
    // The floor: what any onRequest hook costs before it does anything.
    app.addHook('onRequest', (_req, _reply, done) => done());
  } else if (variant === 'fastify-headers') {
    app.addHook('onRequest', (_req, reply, done) => {
      for (const [name, value] of DRAFT6_HEADERS) reply.header(name, value);
      done();
    });
  } else if (variant === 'fastify-redis-floor') {
    // The floor of any Redis-backed limiter: one script call per request through ioredis, awaited,
    // with no decision and no headers.
    const { client, sha, key } = await floorScript(app, redisPort);
    app.addHook('onRequest', async () => {
      await client.evalsha(sha, 1, key);
    });
  } else if (variant === 'fastify-redis-floor-shared') {
    // The floor of any Redis-backed limiter that shares script calls between requests, as
    // floodgate's store does: a request that finds no call out sends one at once; those that come
    // while one is out wait for the end of the loop's poll phase and share the next. One floor
    // script call per batch, with no decision and no headers: less than any limiter asks of Redis
    // or of this process.
    const { client, sha, key } = await floorScript(app, redisPort);
    let out = 0;
    let waiting: { resolve: () => void; reject: (error: unknown) => void }[] = [];
    const call = (): Promise<void> => {
      out++;
      return client.evalsha(sha, 1, key).then(
        () => {
          out--;
        },
        (error: unknown) => {
          out--;
          throw error;
        },
      );
    };
    const flush = (): void => {
      const batch = waiting;
      waiting = [];
      call().then(
        () => {
          for (const w of batch) w.resolve();
        },
        (error: unknown) => {
          for (const w of batch) w.reject(error);
        },
      );
    };
    app.addHook('onRequest', async () => {
      if (out === 0 && waiting.length === 0) return call();
      return new Promise<void>((resolve, reject) => {
        if (waiting.push({ resolve, reject }) === 1) setImmediate(flush);
      });
    });
  } else if (variant === 'fastify-frl' || variant === 'fastify-frl-redis') {
    const options: Parameters<typeof fastifyRateLimit>[1] = { max: HUGE, timeWindow: WINDOW_MS, keyGenerator: hot };
    if (variant === 'fastify-frl-redis') options.redis = appClient(app, redisPort);
    await app.register(fastifyRateLimit, options);
  }
  app.get('/', async () => BODY);
  return app;
}

async function main(): Promise<void> {
  const [variantArg, portArg, redisPortArg] = process.argv.slice(2);
  const variant = variantArg as HttpVariant;
  if (!HTTP_VARIANTS.includes(variant)) throw new Error(`unknown variant ${variantArg}`);
  const port = Number(portArg);
  const redisPort = redisPortArg === undefined ? undefined : Number(redisPortArg);
  if (variant.startsWith('express')) {
    const app = await expressApp(variant);
    const server = app.listen(port, '127.0.0.1', () => console.log(`READY ${port}`));
    process.once('SIGTERM', () => {
      server.close(() => process.exit(0));
      server.closeAllConnections();
    });
  } else {
    const app = await fastifyApp(variant, redisPort);
    await app.listen({ port, host: '127.0.0.1' });
    console.log(`READY ${port}`);
    process.once('SIGTERM', () => {
      app.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
