import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
    express: 'adapters/express.ts',
    fastify: 'adapters/fastify.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  // Every entry but the core reaches the core through the package's own name, so a program that
  // loads the core and an adapter shares one copy of it (one FloodgateError class, one store).
  // The frameworks are the user's (optional peers); fastify-plugin is the Fastify adapter's dependency.
  external: ['floodgate', 'floodgate/testing', 'express', 'fastify', 'fastify-plugin'],
});
