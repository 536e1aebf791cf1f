/**
 * Type-level tests of the adapters' public surface, in a program of its own (see public-api.ts).
 */
import express from 'express';
import Fastify, { type preHandlerHookHandler } from 'fastify';
import { createLimiter, slidingWindowLog } from 'floodgate';
import { rateLimit } from 'floodgate/express';
import floodgate from 'floodgate/fastify';

const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }) });

export async function fastifyApp(): Promise<void> {
  const app = Fastify();
  await app.register(floodgate, { limiter, skipSuccessfulRequests: true });
  // A custom not-found handler limited by the plugin's decorator.
  app.setNotFoundHandler({ preHandler: app.rateLimit() }, (_request, reply) => reply.code(404).send('none'));
  app.get('/', async (request) => {
    const remaining: number | undefined = request.rateLimit?.remaining;
    const key: string | undefined = request.rateLimit?.key;
    // @ts-expect-error the decision is read-only
    if (request.rateLimit) request.rateLimit.remaining = 5;
    return { remaining, key };
  });
  const hook: preHandlerHookHandler = app.rateLimit({ limiter, cost: 2 });
  void hook;
  app.get('/on', { config: { rateLimit: true } }, async () => 'ok');
  app.get('/off', { config: { rateLimit: false } }, async () => 'ok');
  app.get('/own', { config: { rateLimit: { limiter, cost: 2 } } }, async () => 'ok');
  app.route({ method: 'GET', url: '/own2', config: { rateLimit: { limiter } }, handler: async () => 'ok' });
  // @ts-expect-error config.rateLimit is true, false or an options object, not a number
  app.get('/n', { config: { rateLimit: 5 } }, async () => 'ok');
  // @ts-expect-error not a string either
  app.get('/s', { config: { rateLimit: 'on' } }, async () => 'ok');
  // @ts-expect-error nor in the full route form
  app.route({ method: 'GET', url: '/r', config: { rateLimit: 100 }, handler: async () => 'ok' });
  // @ts-expect-error nor a bigint
  app.get('/b', { config: { rateLimit: 5n } }, async () => 'ok');
  // @ts-expect-error the decorator takes route options, not a limit number
  app.rateLimit(5);
  await app.register(floodgate, {
    limiter,
    requestWasSuccessful: async (_request, reply) => reply.statusCode < 500,
  });
}

export function expressApp(): void {
  const app = express();
  app.use(rateLimit({ limiter, skipFailedRequests: true, requestWasSuccessful: (_req, res) => res.statusCode < 400 }));
  app.get('/', (req, res) => {
    const allowed: boolean | undefined = req.rateLimit?.allowed;
    const key: string | undefined = req.rateLimit?.key;
    res.json({ allowed, key });
  });
  const perPlan = rateLimit({ limiter: (req) => (req.get('plan') === 'pro' ? limiter : limiter) });
  // A limiter picked per request: the middleware has none of its own.
  const none: undefined = perPlan.limiter;
  const fixed: typeof limiter = rateLimit({ limiter }).limiter;
  void [none, fixed];
  rateLimit({ limiter: async () => limiter });
  // @ts-expect-error a limiter function returns a limiter
  rateLimit({ limiter: () => 'free' });
  // @ts-expect-error requestPropertyName is a name or false
  rateLimit({ limiter, requestPropertyName: true });
  // @ts-expect-error skipFailedRequests is a boolean
  rateLimit({ limiter, skipFailedRequests: 'yes' });
  // @ts-expect-error requestWasSuccessful answers a boolean
  rateLimit({ limiter, requestWasSuccessful: () => 'yes' });
}
