// Loaded from the installed tarball by pack.sh: proves the ESM build and its exports map.
import { fileURLToPath } from 'node:url';
import { createLimiter, FloodgateError, MemoryStore, slidingWindowLog, tokenBucket } from 'floodgate';
import { rateLimit } from 'floodgate/express';
import floodgatePlugin, { floodgate as namedPlugin, RateLimitedError } from 'floodgate/fastify';
import { runContractScenario, storeContract } from 'floodgate/testing';

const resolved = fileURLToPath(import.meta.resolve('floodgate'));
if (!resolved.includes('node_modules') || !resolved.endsWith('.js'))
  throw new Error(`ESM: floodgate resolved to ${resolved}`);

const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 2, windowMs: 1000 }), store: new MemoryStore() });
const seen = [];
for (let i = 0; i < 3; i++) seen.push((await limiter.consume('smoke')).allowed);
if (seen.join() !== 'true,true,false') throw new Error(`ESM: unexpected decisions ${seen}`);
try {
  tokenBucket({ capacity: 0, refillPerSecond: 1 });
  throw new Error('ESM: invalid option accepted');
} catch (error) {
  if (!(error instanceof FloodgateError) || error.code !== 'ERR_INVALID_OPTION') throw error;
}
for (const scenario of storeContract)
  await runContractScenario(scenario, (clock) => new MemoryStore({ clock, sweepIntervalMs: false }));

// The adapters reach the core through the package name, so their errors are the core's class.
for (const entry of ['floodgate/express', 'floodgate/fastify']) {
  const file = fileURLToPath(import.meta.resolve(entry));
  if (!file.includes('node_modules') || !file.endsWith('.js')) throw new Error(`ESM: ${entry} resolved to ${file}`);
}
try {
  rateLimit({});
  throw new Error('ESM: rateLimit accepted no limiter');
} catch (error) {
  if (!(error instanceof FloodgateError) || error.code !== 'ERR_INVALID_OPTION') throw error;
}
// Express is an optional peer and is not installed here: drive the middleware with the few
// request and response members it touches.
const middleware = rateLimit({ algorithm: slidingWindowLog({ limit: 1, windowMs: 60_000 }), warn: false });
const statuses = [];
for (let i = 0; i < 2; i++) {
  const headers = {};
  const res = {
    statusCode: 200,
    headersSent: false,
    setHeader: (name, value) => {
      headers[name] = value;
    },
    getHeader: (name) => headers[name],
    status(code) {
      this.statusCode = code;
      return this;
    },
    send() {
      this.headersSent = true;
    },
  };
  middleware({ ip: '203.0.113.7', headers: {}, app: { settings: {} } }, res, () => statuses.push(200));
  if (res.headersSent) statuses.push(`${res.statusCode} retry-after=${headers['retry-after']}`);
}
if (statuses.join() !== '200,429 retry-after=60') throw new Error(`ESM: express middleware gave ${statuses}`);
const meta = floodgatePlugin[Symbol.for('plugin-meta')];
if (
  floodgatePlugin !== namedPlugin ||
  meta?.name !== 'floodgate' ||
  floodgatePlugin[Symbol.for('skip-override')] !== true
)
  throw new Error('ESM: floodgate/fastify is not the fastify-plugin plugin named floodgate');
if (!(new RateLimitedError('x', 429, {}) instanceof Error)) throw new Error('ESM: RateLimitedError');
console.log(`esm ok: ${storeContract.length} contract scenarios passed from the packed build; adapters load`);
