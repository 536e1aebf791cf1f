// Loaded from the installed tarball by pack.sh: proves the ESM build and its exports map.
import { fileURLToPath } from 'node:url';
import { createLimiter, FloodgateError, MemoryStore, slidingWindowLog, tokenBucket } from 'floodgate';
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
console.log(`esm ok: ${storeContract.length} contract scenarios passed from the packed build`);
