import { describe } from 'node:test';
import { fastifyCountingApp } from './helpers/counting-apps.js';
import { countingFailureTests, countingTests } from './helpers/counting-suites.js';
import { fastifyVersions } from './helpers/http.js';

for (const { name, Fastify } of fastifyVersions) {
  describe(`${name}: counting only some requests`, () => {
    countingTests(fastifyCountingApp(Fastify));
    countingFailureTests(fastifyCountingApp(Fastify));
  });
}
