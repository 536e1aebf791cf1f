/**
 * A small Express app limited by floodgate. Memory store by default; set REDIS_URL to share the
 * limits between processes through Redis. Run it with `npx tsx examples/express-app.ts`.
 */
import { pathToFileURL } from 'node:url';
import express, { type Express } from 'express';
import { createLimiter, MemoryStore, type Store, slidingWindowLog, tokenBucket } from 'floodgate';
import { rateLimit } from 'floodgate/express';
import { redisStore } from './redis-store.js';

/** Builds the app on `store`; nothing listens until `listen` is called. */
export function createApp(store: Store = new MemoryStore()): Express {
  const app = express();
  // One reverse proxy in front: req.ip (the default key) is the client it saw, not the proxy.
  app.set('trust proxy', 1);

  // Every route: bursts of 20, 5 per second sustained, and at most 600 a minute per client IP.
  const api = createLimiter({
    policies: {
      burst: tokenBucket({ capacity: 20, refillPerSecond: 5 }),
      minute: slidingWindowLog({ limit: 600, windowMs: 60_000 }),
    },
    store,
    prefix: 'api',
    // If Redis fails, keep limiting per process rather than letting everything through.
    onStoreError: new MemoryStore(),
  });
  app.use(
    rateLimit({
      limiter: api,
      skip: (req) => req.path === '/health',
      // Exports are heavy: each costs 10 units of the same budget.
      cost: (req) => (req.path === '/export' ? 10 : 1),
    }),
  );

  app.get('/health', (_req, res) => {
    res.send('ok');
  });
  app.get('/', (_req, res) => {
    res.json({ hello: 'world' });
  });
  // Logins: 5 a minute per IP, exact over every minute, with its own limiter created inline.
  app.post(
    '/login',
    rateLimit({
      algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }),
      store,
      prefix: 'login',
      headers: 'draft-8',
      message: { error: 'too many login attempts, try again later' },
    }),
    (_req, res) => {
      res.json({ welcome: true });
    },
  );
  app.get('/export', (_req, res) => {
    res.json({ rows: [] });
  });
  return app;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.env.REDIS_URL;
  const store = url === undefined ? new MemoryStore() : await redisStore(url);
  const port = Number(process.env.PORT ?? 3000);
  createApp(store).listen(port, () => console.log(`listening on http://localhost:${port}`));
}
