import type { BenchContext } from '../lib/context.js';
import { type IpcWorker, startIpcWorker } from '../lib/ipc.js';
import type { QuietReport } from '../lib/machine.js';
import { CPU } from '../lib/proc.js';
import { median, range, round, roundOrder } from '../lib/stats.js';
import { CORE_IMPLS as IMPLS, type CoreImpl as Impl } from './core-impls.js';

const PEERS = ['rate-limiter-flexible', 'express-rate-limit'] as const;
type Peer = (typeof PEERS)[number];

interface Measurement {
  keys: number;
  opsPerSec: number;
  ops: number;
  denied: number;
}

export interface CoreRow {
  impl: Impl;
  keys: number;
  /** Per round. */
  opsPerSec: number[];
  medianOpsPerSec: number;
  /** Calls denied over all rounds: 0, since no limit is reached. */
  denied: number;
  /** For floodgate and reference rows: per-round ratio to each peer, and its median. */
  vs?: Record<Peer, { ratios: number[]; median: number; range: [number, number] }>;
}

export interface CoreResult {
  rounds: number;
  measureMs: number;
  keyCounts: number[];
  rows: CoreRow[];
  quiet: QuietReport[];
}

/**
 * Case 2, core ops/s: each implementation in its own long-lived process pinned to the load core;
 * many short rounds, in alternating order, so a burst of noise from elsewhere on the machine hits
 * one round of one contender rather than a whole comparison; ratios taken within a round.
 */
export async function runCoreCase(ctx: BenchContext): Promise<CoreResult> {
  const { profile, log } = ctx;
  const { measureMs, warmupMs, keyCounts } = profile.core;
  const rounds = profile.rounds.core;
  const perRound = new Map<string, number[]>();
  const denied = new Map<string, number>();
  const quiet: QuietReport[] = [];
  const id = (impl: Impl, keys: number): string => `${impl}@${keys}`;
  const workers = new Map<Impl, IpcWorker>();
  try {
    const started = await Promise.all(
      IMPLS.map((impl) => startIpcWorker('bench/cases/core-worker.ts', ['serve', impl], CPU.load)),
    );
    IMPLS.forEach((impl, i) => {
      workers.set(impl, started[i] as IpcWorker);
    });
    for (let r = 0; r < rounds; r++) {
      quiet.push(await ctx.quiet());
      for (const keys of keyCounts) {
        for (const impl of roundOrder(IMPLS, r)) {
          const m = await (workers.get(impl) as IpcWorker).request<Measurement>(
            { keys, measureMs, warmupMs },
            60_000 + measureMs * 4 + keys / 10,
          );
          perRound.set(id(impl, keys), [...(perRound.get(id(impl, keys)) ?? []), m.opsPerSec]);
          denied.set(id(impl, keys), (denied.get(id(impl, keys)) ?? 0) + m.denied);
        }
      }
      log(
        `core: round ${r + 1}/${rounds} at 1k keys: ` +
          IMPLS.map((impl) => `${impl} ${((perRound.get(id(impl, 1000))?.at(-1) ?? 0) / 1e6).toFixed(2)}M`).join(', '),
      );
    }
  } finally {
    await Promise.all([...workers.values()].map((w) => w.stop()));
  }
  const rows: CoreRow[] = [];
  for (const keys of keyCounts) {
    for (const impl of IMPLS) {
      const ops = perRound.get(id(impl, keys)) ?? [];
      const row: CoreRow = {
        impl,
        keys,
        opsPerSec: ops.map((x) => round(x, 0)),
        medianOpsPerSec: round(median(ops), 0),
        denied: denied.get(id(impl, keys)) ?? 0,
      };
      if (impl.startsWith('floodgate') || impl.startsWith('reference')) {
        const vs = {} as NonNullable<CoreRow['vs']>;
        for (const peer of PEERS) {
          const theirs = perRound.get(id(peer, keys)) ?? [];
          const ratios = ops.map((x, i) => x / (theirs[i] as number));
          vs[peer] = {
            ratios: ratios.map((x) => round(x, 3)),
            median: round(median(ratios), 3),
            range: range(ratios).map((x) => round(x, 3)) as [number, number],
          };
        }
        row.vs = vs;
      }
      rows.push(row);
    }
  }
  return { rounds, measureMs, keyCounts, rows, quiet };
}
