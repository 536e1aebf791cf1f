/**
 * A small Fastify app limited by floodgate. Memory store by default; set REDIS_URL to share the
 * limits between processes through Redis. Run it with `npx tsx examples/fastify-app.ts`.
 */
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLimiter, MemoryStore, type Store, slidingWindowLog, tokenBucket } from 'floodgate';
import floodgate, { RateLimitedError } from 'floodgate/fastify';
import { redisStore } from './redis-store.js';

/** Builds the app on `store`; nothing listens until `listen` is called. */
export async function createApp(store: Store = new MemoryStore()): Promise<FastifyInstance> {
  // The reverse proxy in front, by address: request.ip (the default key) is the client it saw.
  const app = Fastify({ trustProxy: '127.0.0.1' });

  // Answer limited requests in the API's own error shape (the default is Fastify's usual one).
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof RateLimitedError) {
      return reply.code(error.statusCode).send({ error: 'rate_limited', retryAfterMs: error.decision.retryAfterMs });
    }
    return reply.send(error);
  });

  // Every route registered after this: 100 a minute per client IP, exact over every minute.
  await app.register(floodgate, {
    limiter: createLimiter({
      algorithm: slidingWindowLog({ limit: 100, windowMs: 60_000 }),
      store,
      prefix: 'api',
      onStoreError: new MemoryStore(),
    }),
    headers: 'draft-8',
  });

  // Opt out.
  app.get('/health', { config: { rateLimit: false } }, async () => 'ok');
  app.get('/', async () => ({ hello: 'world' }));
  // Uploads: their own token bucket, 5 units per upload.
  const uploads = createLimiter({
    algorithm: tokenBucket({ capacity: 50, refillPerSecond: 1 }),
    store,
    prefix: 'uploads',
  });
  app.post('/upload', { config: { rateLimit: { limiter: uploads, cost: () => 5 } } }, async () => ({ stored: true }));
  return app;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.env.REDIS_URL;
  const store = url === undefined ? new MemoryStore() : await redisStore(url);
  const app = await createApp(store);
  await app.listen({ port: Number(process.env.PORT ?? 3000) });
  console.log(`listening on ${app.listeningOrigin}`);
}
