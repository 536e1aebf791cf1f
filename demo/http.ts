/**
 * The HTTP part of `npm run demo`: an Express app and a Fastify app on loopback ports, each hit
 * with a burst of requests, printing the status and the rate-limit headers each answer carried.
 */
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import express from 'express';
import Fastify from 'fastify';
import { createLimiter, slidingWindowLog, tokenBucket } from 'floodgate';
import { rateLimit } from 'floodgate/express';
import floodgate from 'floodgate/fastify';

const BURST = 8;
const SHOWN = [
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'ratelimit-policy',
  'ratelimit',
  'retry-after',
];

/** Fires `BURST` requests one after another and prints one line per answer. */
async function burst(title: string, url: string): Promise<void> {
  console.log(`\n${title}`);
  for (let i = 1; i <= BURST; i++) {
    const res = await fetch(url);
    await res.arrayBuffer();
    const headers = SHOWN.flatMap((name) => {
      const value = res.headers.get(name);
      return value === null ? [] : [`${name}: ${value}`];
    });
    console.log(`  #${i}  ${res.status}  ${headers.join('  ·  ')}`);
  }
}

/**
 * Starts an Express app (sliding-window log, 5 per 10 s, draft-6 headers) and a Fastify app
 * (token bucket of 5 refilled at 1 per second, draft-8 headers) on ephemeral loopback ports,
 * bursts each, prints what came back, and closes both.
 */
export async function runHttpDemo(): Promise<void> {
  const app = express();
  app.use(rateLimit({ algorithm: slidingWindowLog({ limit: 5, windowMs: 10_000 }) }));
  app.get('/', (_req, res) => {
    res.send('hello');
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  try {
    const { port } = server.address() as AddressInfo;
    await burst(
      `Express: sliding-window log, 5 per 10 s, headers 'draft-6' (the default), ${BURST} requests`,
      `http://127.0.0.1:${port}/`,
    );
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  const fastify = Fastify();
  await fastify.register(floodgate, {
    limiter: createLimiter({ algorithm: tokenBucket({ capacity: 5, refillPerSecond: 1 }) }),
    headers: 'draft-8',
  });
  fastify.get('/', async () => 'hello');
  try {
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    const { port } = fastify.server.address() as AddressInfo;
    await burst(
      `Fastify: token bucket of 5, refilled at 1 per second, headers 'draft-8', ${BURST} requests`,
      `http://127.0.0.1:${port}/`,
    );
  } finally {
    await fastify.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await runHttpDemo();
