import { deepStrictEqual } from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { slidingWindowLog } from 'floodgate';
import floodgate, { type FloodgatePluginOptions } from 'floodgate/fastify';
import { socketTests } from './helpers/adapter-suites.js';
import { fastifyVersions, getOverUnixSocket, warnings } from './helpers/http.js';

for (const { name, Fastify } of fastifyVersions) {
  async function app(options: FloodgatePluginOptions): Promise<FastifyInstance> {
    const a = Fastify();
    await a.register(floodgate, { warn: false, ...options });
    a.get('/', async () => 'ok');
    return a;
  }

  describe(`${name}: real sockets`, () => {
    socketTests(async (limit) => {
      const a = await app(limit);
      await a.listen({ port: 0, host: '127.0.0.1' });
      return { port: (a.server.address() as AddressInfo).port, close: () => a.close() };
    });

    test('no client IP (a Unix socket): ERR_NO_CLIENT_IP to the error handler, warned once', async () => {
      const path = join(tmpdir(), `floodgate-fastify-${process.pid}-${Date.now()}.sock`);
      const sink = warnings();
      const a = await app({ algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }), warn: sink.warn });
      await a.listen({ path });
      try {
        for (let i = 0; i < 2; i++) {
          const res = await getOverUnixSocket(path);
          deepStrictEqual([res.status, JSON.parse(res.body).code], [500, 'ERR_NO_CLIENT_IP']);
        }
        deepStrictEqual(sink.codes, ['FLOODGATE_NO_CLIENT_IP']);
      } finally {
        await a.close();
        await rm(path, { force: true });
      }
    });
  });
}
