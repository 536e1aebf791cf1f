// Loaded from the installed tarball by pack.sh: proves the CommonJS build and its exports map.
const { createLimiter, FloodgateError, tokenBucket } = require('floodgate');
const testing = require('floodgate/testing');
const { rateLimit } = require('floodgate/express');
const fastifyEntry = require('floodgate/fastify');

const resolved = require.resolve('floodgate');
if (!resolved.includes('node_modules') || !resolved.endsWith('.cjs'))
  throw new Error(`CJS: floodgate resolved to ${resolved}`);
for (const entry of ['floodgate/express', 'floodgate/fastify']) {
  const file = require.resolve(entry);
  if (!file.includes('node_modules') || !file.endsWith('.cjs')) throw new Error(`CJS: ${entry} resolved to ${file}`);
}
if (typeof rateLimit !== 'function') throw new Error('CJS: floodgate/express has no rateLimit');
// Resolvers that ignore the exports map (older bundlers and test runners) load a subpath as the
// folder of that name, through its package.json's main: the same file require() finds.
const path = require('node:path');
const packageDir = path.dirname(require.resolve('floodgate/package.json'));
for (const sub of ['express', 'fastify', 'testing']) {
  if (require(path.join(packageDir, sub)) !== require(`floodgate/${sub}`))
    throw new Error(`CJS: the ${sub} folder does not load floodgate/${sub}`);
}
try {
  rateLimit({ limiter: {} });
  throw new Error('CJS: rateLimit accepted a bad limiter');
} catch (error) {
  if (!(error instanceof FloodgateError) || error.code !== 'ERR_INVALID_OPTION') throw error;
}
if (
  fastifyEntry.default !== fastifyEntry.floodgate ||
  fastifyEntry.floodgate[Symbol.for('plugin-meta')]?.name !== 'floodgate'
)
  throw new Error('CJS: floodgate/fastify does not export the plugin as default and floodgate');
if (!Array.isArray(testing.storeContract) || testing.storeContract.length === 0) throw new Error('CJS: no contract');
const limiter = createLimiter({ algorithm: tokenBucket({ capacity: 1, refillPerSecond: 1 }) });
limiter
  .consume('smoke')
  .then(async (first) => {
    const second = await limiter.consume('smoke');
    if (!first.allowed || second.allowed)
      throw new Error(`CJS: unexpected decisions ${JSON.stringify([first, second])}`);
    if (!(new FloodgateError('ERR_STORE', 'x') instanceof Error)) throw new Error('CJS: FloodgateError');
    console.log('cjs ok');
  })
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });
