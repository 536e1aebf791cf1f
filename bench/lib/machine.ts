import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** Jiffies spent busy and in total, summed over all CPUs, from /proc/stat. */
function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Fraction of all CPUs busy over a short sample (0–1), or undefined off Linux. */
export async function busyFraction(sampleMs: number): Promise<number | undefined> {
  const a = cpuTimes();
  await sleep(sampleMs);
  const b = cpuTimes();
  if (a === undefined || b === undefined || b.total === a.total) return undefined;
  return (b.busy - a.busy) / (b.total - a.total);
}

export interface QuietReport {
  /** CPU busy fraction (all cores) in the last sample before the round started. */
  busy: number | undefined;
  /** Milliseconds spent waiting. */
  waitedMs: number;
  /** False when the machine never got quiet within the bound and the round ran anyway. */
  quiet: boolean;
}

/**
 * Waits (bounded) until the machine is quiet: a 200 ms sample with at most `maxBusy` of all CPUs
 * busy. This machine is shared, so a round that starts while another job runs would measure that
 * job; the per-round ratios absorb slow drift, not a burst of noise in the middle of one round.
 */
export async function waitQuiet(maxWaitMs: number, maxBusy = 0.12): Promise<QuietReport> {
  const start = performance.now();
  let busy: number | undefined;
  for (let i = 0; i < 1000; i++) {
    busy = await busyFraction(200);
    if (busy === undefined || busy <= maxBusy) return { busy, waitedMs: performance.now() - start, quiet: true };
    if (performance.now() - start > maxWaitMs) break;
  }
  return { busy, waitedMs: performance.now() - start, quiet: false };
}

/** CPU time (user + system) of a process in microseconds, from /proc/<pid>/stat. */
export function processCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the numbers start after its closing paren.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1e6) / CLOCK_TICKS;
}

// USER_HZ is 100 on every Linux build Node supports (x86-64, arm64); /proc reports in it.
const CLOCK_TICKS = 100;

export interface MachineInfo {
  cpus: number;
  model: string;
  memoryGiB: number;
  node: string;
  kernel: string;
  loadavg: number[];
}

export function machineInfo(): MachineInfo {
  return {
    cpus: availableParallelism(),
    model: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: release(),
    loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
