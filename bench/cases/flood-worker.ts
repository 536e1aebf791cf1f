/**
 * Case 6 worker: a flood of new keys at a full memory store, against the steady rate of the same
 * store, in one process:
 *   node --import tsx bench/cases/flood-worker.ts <token-bucket|sliding-log> <maxKeys> <rounds> <steadyMs>
 * Each round builds a store of `maxKeys`, fills it with one-call keys, then times `decide`
 * - steady: on the keys it holds, cycled in order (no new key, so no room is made);
 * - flood: on 2 × maxKeys new keys, one call each, so every call makes room for itself;
 * - room: the same flood into a store with room for it (3 × maxKeys), so none is made.
 * Key strings are made before the clock starts, fresh for each round: a flood's keys are strings
 * the process has never hashed, as a request's are. Prints one JSON line.
 */
import { createLimiter, type Limiter, MemoryStore } from 'floodgate';
import { type FloodgateKind, memoryAlgorithm } from './redis-policies.js';

export interface FloodRound {
  steadyPerSec: number;
  floodPerSec: number;
  roomPerSec: number;
}

/** Hard bound on calls per steady measurement, whatever the clock says. */
const MAX_STEADY_CALLS = 50_000_000;

function limiter(kind: FloodgateKind, maxKeys: number): { limiter: Limiter; store: MemoryStore } {
  const store = new MemoryStore({ maxKeys, sweepIntervalMs: false });
  return { limiter: createLimiter({ algorithm: memoryAlgorithm(kind), store }), store };
}

function keys(label: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${label}:${i}`);
}

/** Decides each key once; returns calls per second and fails on a call the store did not decide. */
function once(l: Limiter, batch: readonly string[]): number {
  const start = performance.now();
  let bad = 0;
  for (const key of batch) {
    const d = l.decide(key);
    if (d instanceof Promise || !d.allowed || d.degraded === true) bad++;
  }
  const seconds = (performance.now() - start) / 1000;
  if (bad > 0) throw new Error(`${bad} of ${batch.length} new keys were not allowed by the store itself`);
  return batch.length / seconds;
}

function steady(l: Limiter, held: readonly string[], ms: number): number {
  const n = held.length;
  let i = 0;
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms && calls < MAX_STEADY_CALLS) {
    for (let j = 0; j < 1000; j++) {
      l.decide(held[i] as string);
      i = i + 1 === n ? 0 : i + 1;
    }
    calls += 1000;
    now = performance.now();
  }
  return calls / ((now - start) / 1000);
}

function round(kind: FloodgateKind, maxKeys: number, r: number, steadyMs: number): FloodRound {
  const held = keys(`user:${r}`, maxKeys);
  const full = limiter(kind, maxKeys);
  once(full.limiter, held);
  const steadyPerSec = steady(full.limiter, held, steadyMs);
  const floodPerSec = once(full.limiter, keys(`flood:${r}`, 2 * maxKeys));
  if (full.store.size !== maxKeys) throw new Error(`the full store holds ${full.store.size} states`);
  const roomy = limiter(kind, 3 * maxKeys);
  once(roomy.limiter, keys(`user:${r}:room`, maxKeys));
  const roomPerSec = once(roomy.limiter, keys(`flood:${r}:room`, 2 * maxKeys));
  return { steadyPerSec, floodPerSec, roomPerSec };
}

function main(): void {
  const [kindArg, maxKeysArg, roundsArg, steadyArg] = process.argv.slice(2);
  const kind = kindArg as FloodgateKind;
  if (kind !== 'token-bucket' && kind !== 'sliding-log') throw new Error(`unknown algorithm ${kindArg}`);
  const maxKeys = Number(maxKeysArg);
  const rounds = Number(roundsArg);
  const steadyMs = Number(steadyArg);
  // A smaller round first, untimed, so that the JIT has seen every path before the clock starts.
  round(kind, Math.min(maxKeys, 20_000), -1, Math.min(steadyMs, 100));
  const results: FloodRound[] = [];
  for (let r = 0; r < rounds; r++) results.push(round(kind, maxKeys, r, steadyMs));
  console.log(JSON.stringify({ kind, maxKeys, rounds: results }));
}

main();
