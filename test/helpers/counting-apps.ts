import type { AddressInfo } from 'node:net';
import type express from 'express';
import type Fastify from 'fastify';
import { rateLimit } from 'floodgate/express';
import floodgate from 'floodgate/fastify';
import type { ServeCounting } from './counting-suites.js';
import { listen } from './http.js';

/** The counting suites' app on one Express version. */
export function expressCountingApp(framework: typeof express): ServeCounting {
  return (options, hold) => {
    const { requestWasSuccessful, ...rest } = options;
    const app = framework();
    // Express's final handler prints every error it answers unless the env is 'test'.
    app.set('env', 'test');
    app.use(
      rateLimit({
        ...rest,
        warn: rest.warn ?? false,
        ...(requestWasSuccessful === undefined
          ? {}
          : { requestWasSuccessful: (_req, res) => requestWasSuccessful(res.statusCode) }),
      }),
    );
    app.get('/ok', (_req, res) => {
      res.send('ok');
    });
    app.get('/fail', (_req, res) => {
      res.status(500).send('failed');
    });
    app.get('/missing', (_req, res) => {
      res.status(404).send('missing');
    });
    app.get('/held', async (_req, res) => {
      await hold.enter(res);
      res.send('held');
      hold.markSent();
    });
    return listen(app);
  };
}

/** The counting suites' app on one Fastify version. */
export function fastifyCountingApp(framework: typeof Fastify): ServeCounting {
  return async (options, hold) => {
    const { requestWasSuccessful, ...rest } = options;
    const app = framework();
    await app.register(floodgate, {
      ...rest,
      warn: rest.warn ?? false,
      ...(requestWasSuccessful === undefined
        ? {}
        : { requestWasSuccessful: (_request, reply) => requestWasSuccessful(reply.statusCode) }),
    });
    app.get('/ok', async () => 'ok');
    app.get('/fail', async (_request, reply) => reply.code(500).send('failed'));
    app.get('/missing', async (_request, reply) => reply.code(404).send('missing'));
    app.get('/held', async (_request, reply) => {
      await hold.enter(reply.raw);
      await reply.send('held');
      hold.markSent();
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
  };
}
