import type { BenchContext } from '../lib/context.js';
import { CPU, runWorker } from '../lib/proc.js';
import { median, range, round } from '../lib/stats.js';
import type { FloodRound } from './flood-worker.js';
import type { FloodgateKind } from './redis-policies.js';

const KINDS: readonly FloodgateKind[] = ['token-bucket', 'sliding-log'];

export interface FloodRow {
  kind: FloodgateKind;
  maxKeys: number;
  available: boolean;
  reason?: string;
  /** Per round. */
  rounds?: FloodRound[];
  medianSteadyPerSec?: number;
  medianFloodPerSec?: number;
  medianRoomPerSec?: number;
  /** Flood ÷ steady, per round: the target's ratio. */
  vsSteady?: { median: number; range: [number, number] };
  /** Flood ÷ the same flood into a store with room: what making room costs. */
  vsRoom?: { median: number; range: [number, number] };
}

export interface FloodResult {
  /** The stores' sizes, in the order run; the target is judged at the last. */
  maxKeys: number[];
  rounds: number;
  steadyMs: number;
  rows: FloodRow[];
}

function ratios(
  rounds: readonly FloodRound[],
  of: (r: FloodRound) => number,
): { median: number; range: [number, number] } {
  const xs = rounds.map((r) => r.floodPerSec / of(r));
  return { median: round(median(xs), 3), range: range(xs).map((x) => round(x, 3)) as [number, number] };
}

/**
 * Case 6, a flood of new keys at a full memory store: 2 × maxKeys one-call keys decided against a
 * store of maxKeys, each making room for itself, beside the steady rate of that store on the keys
 * it holds; one fresh process per algorithm and size, pinned to the load core, a few rounds each.
 */
export async function runFloodCase(ctx: BenchContext): Promise<FloodResult> {
  const { profile, log } = ctx;
  const { maxKeys, steadyMs } = profile.flood;
  const rounds = profile.rounds.flood;
  const rows: FloodRow[] = [];
  for (const size of maxKeys) {
    for (const kind of KINDS) {
      await ctx.quiet();
      try {
        const out = await runWorker<{ rounds: FloodRound[] }>(
          'bench/cases/flood-worker.ts',
          [kind, String(size), String(rounds), String(steadyMs)],
          { cpu: CPU.load, timeoutMs: 600_000 },
        );
        const row: FloodRow = {
          kind,
          maxKeys: size,
          available: true,
          rounds: out.rounds.map((r) => ({
            steadyPerSec: round(r.steadyPerSec, 0),
            floodPerSec: round(r.floodPerSec, 0),
            roomPerSec: round(r.roomPerSec, 0),
          })),
          medianSteadyPerSec: round(median(out.rounds.map((r) => r.steadyPerSec)), 0),
          medianFloodPerSec: round(median(out.rounds.map((r) => r.floodPerSec)), 0),
          medianRoomPerSec: round(median(out.rounds.map((r) => r.roomPerSec)), 0),
          vsSteady: ratios(out.rounds, (r) => r.steadyPerSec),
          vsRoom: ratios(out.rounds, (r) => r.roomPerSec),
        };
        rows.push(row);
        log(`flood: ${kind} at ${size}: flood ÷ steady ${row.vsSteady?.median}, flood ÷ room ${row.vsRoom?.median}`);
      } catch (error) {
        rows.push({
          kind,
          maxKeys: size,
          available: false,
          reason: error instanceof Error ? error.message.slice(0, 400) : String(error),
        });
      }
    }
  }
  return { maxKeys, rounds, steadyMs, rows };
}
