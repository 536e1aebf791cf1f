/**
 * The property both Lua-twin suites check: one random sequence of calls, replayed on a memory
 * store and on a Redis store on the same injected clock, gives the same Decision at every step.
 */
import { deepStrictEqual } from 'node:assert/strict';
import fc from 'fast-check';
import {
  type Algorithm,
  createLimiter,
  type Decision,
  type Limiter,
  MemoryStore,
  type RedisClient,
  RedisStore,
} from 'floodgate';
import { randomPrefix } from './redis.js';

/** One call of a replayed sequence. */
export interface TwinStep {
  readonly op: string;
  readonly cost: number;
  readonly key: string;
}

/** A step's calls: mostly consumes, and every other call a limiter has. */
export const twinOps = fc.constantFrom('consume', 'consume', 'consume', 'peek', 'reset', 'refund', 'block');

/**
 * Start times: epoch-sized (the server clock), small and fractional (injected clocks), and whole.
 */
export const twinStarts = fc.oneof(
  fc.double({ min: 1.7e12, max: 1.8e12, noNaN: true }),
  fc.double({ min: 0, max: 2000, noNaN: true }),
  fc.integer({ min: 0, max: 1_000_000 }),
);

/** Lock-outs: none, mostly, or 250 ms after a denial. */
export const twinLockouts = fc.constantFrom(0, 0, 250);

export interface TwinReplay<S extends TwinStep> {
  readonly policies: Record<string, Algorithm>;
  readonly steps: readonly S[];
  readonly start: number;
  readonly blockDurationMs: number;
  /** The Redis store's client. */
  readonly client: RedisClient;
  readonly timeoutMs: number;
  /**
   * Milliseconds the clock moves before `step`; a negative number steps it back, never below
   * `start` (a clock reading below 0 is no time any server keeps).
   */
  readonly advance: (step: S) => number;
}

/** Replays `steps` on both stores, failing at the first step whose Decisions differ. */
export async function replayOnBothStores<S extends TwinStep>(replay: TwinReplay<S>): Promise<void> {
  const { policies, blockDurationMs } = replay;
  let now = replay.start;
  const clock = (): number => now;
  const prefix = randomPrefix('prop');
  const names = Object.keys(policies);
  const make = (store: MemoryStore | RedisStore): Limiter =>
    names.length === 1
      ? createLimiter({
          algorithm: policies[names[0] as string] as Algorithm,
          store,
          prefix,
          blockDurationMs,
          onStoreError: 'throw',
        })
      : createLimiter({ policies, store, prefix, blockDurationMs, onStoreError: 'throw' });
  const memory = make(new MemoryStore({ clock, sweepIntervalMs: false }));
  const redis = make(new RedisStore({ client: replay.client, timeoutMs: replay.timeoutMs, clock, denyCache: false }));
  const smallest = Math.min(...Object.values(policies).map((a) => a.limit));
  for (const [i, s] of replay.steps.entries()) {
    now = Math.max(replay.start, now + replay.advance(s));
    const cost = Math.min(s.cost, smallest);
    if (s.op === 'reset') {
      await memory.reset(s.key);
      await redis.reset(s.key);
      continue;
    }
    const call = (l: Limiter): Promise<Decision> =>
      s.op === 'peek'
        ? l.peek(s.key, { cost })
        : s.op === 'refund'
          ? l.refund(s.key, { cost })
          : s.op === 'block'
            ? l.block(s.key, { durationMs: 1 + cost * 100 })
            : l.consume(s.key, { cost });
    const [m, r] = [await call(memory), await call(redis)];
    deepStrictEqual(r, m, `step ${i + 1}: ${s.op} ${s.key} cost ${cost} at ${now}`);
  }
}
