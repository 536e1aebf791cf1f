import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  // Every entry but the core reaches the core through the package's own name, so a program that
  // loads the core and an adapter shares one copy of it (one FloodgateError class, one store).
  external: ['floodgate', 'floodgate/testing'],
});
