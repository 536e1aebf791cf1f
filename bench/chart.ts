/**
 * The boundary-burst chart: a client bursts at a fixed window's boundary against five limiters
 * with the same limit (10 per second), in one real run, and the allowed requests are drawn per
 * 100 ms with the total allowed over the last second.
 *
 *   node --import tsx bench/chart.ts [outDir]      (default bench/results)
 *
 * Writes boundary-burst.svg and boundary-burst.json. Time: the schedule runs in real time (about
 * 4 s). express-rate-limit's MemoryStore reads the real clock (Date.now) as it always does;
 * floodgate's stores get an injected clock that returns the same real instant at which each
 * request is sent, so all three see one timeline.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MemoryStore as ErlMemoryStore, type Options as ErlOptions } from 'express-rate-limit';
import {
  createLimiter,
  fixedWindow,
  MemoryStore,
  slidingWindowCounter,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { ROOT } from './lib/proc.js';

const LIMIT = 10;
const WINDOW_MS = 1000;
const END_MS = 4000;
const BIN_MS = 100;

/** When the client sends, in ms from the start. */
export function schedule(): number[] {
  const times = [0]; // the first request opens the fixed window at 0
  for (let i = 0; i < 10; i++) times.push(850 + i * 10); // 10 just before the boundary at 1 s
  for (let i = 0; i < 10; i++) times.push(1010 + i * 10); // 10 just after it
  for (let t = 1200; t < END_MS; t += 50) times.push(t); // then steady, at twice the limit
  return times;
}

/** `fixed-window` is express-rate-limit's; floodgate's own is `floodgate-fixed-window`. */
type LimiterId = 'sliding-log' | 'token-bucket' | 'fixed-window' | 'floodgate-fixed-window' | 'sliding-window-counter';

interface Sent {
  at: number;
  allowed: Record<LimiterId, boolean>;
}

export interface ChartResult {
  sent: Sent[];
  /** Most requests each limiter allowed within any 1 s span. */
  maxPerSecond: Record<LimiterId, number>;
  /** Instants (ms) at which express-rate-limit started a new window (its first hit after expiry). */
  fixedWindowStarts: number[];
  /** Largest lateness of a send behind its schedule, in ms. */
  maxLatenessMs: number;
}

async function waitUntil(start: number, at: number): Promise<void> {
  // Sleep most of the way, then spin the last ~2 ms: timers alone are only ms-accurate.
  const left = at - (performance.now() - start);
  if (left > 3) await new Promise((r) => setTimeout(r, left - 2));
  for (let i = 0; i < 1e8 && performance.now() - start < at; i++) {
    // spin (bounded)
  }
}

export async function burstRun(): Promise<ChartResult> {
  let now = 0;
  const clock = (): number => now;
  const log = createLimiter({
    algorithm: slidingWindowLog({ limit: LIMIT, windowMs: WINDOW_MS }),
    store: new MemoryStore({ clock, sweepIntervalMs: false }),
  });
  const bucket = createLimiter({
    algorithm: tokenBucket({ capacity: LIMIT, refillPerSecond: LIMIT }),
    store: new MemoryStore({ clock, sweepIntervalMs: false }),
  });
  // Its windows are aligned to whole seconds of the injected clock, which starts at 0 with the run.
  const window = createLimiter({
    algorithm: fixedWindow({ limit: LIMIT, windowMs: WINDOW_MS }),
    store: new MemoryStore({ clock, sweepIntervalMs: false }),
  });
  const counter = createLimiter({
    algorithm: slidingWindowCounter({ limit: LIMIT, windowMs: WINDOW_MS }),
    store: new MemoryStore({ clock, sweepIntervalMs: false }),
  });
  const fixed = new ErlMemoryStore();
  fixed.init({ windowMs: WINDOW_MS } as ErlOptions);
  const sent: Sent[] = [];
  const fixedWindowStarts: number[] = [];
  let maxLatenessMs = 0;
  const start = performance.now();
  try {
    for (const at of schedule()) {
      await waitUntil(start, at);
      now = performance.now() - start;
      maxLatenessMs = Math.max(maxLatenessMs, now - at);
      const a = await log.consume('client');
      const b = await bucket.consume('client');
      const w = await window.consume('client');
      const c = await counter.consume('client');
      // express-rate-limit's middleware allows while totalHits <= limit.
      const info = await fixed.increment('client');
      if (info.totalHits === 1) fixedWindowStarts.push(now);
      sent.push({
        at: now,
        allowed: {
          'sliding-log': a.allowed,
          'token-bucket': b.allowed,
          'fixed-window': info.totalHits <= LIMIT,
          'floodgate-fixed-window': w.allowed,
          'sliding-window-counter': c.allowed,
        },
      });
    }
  } finally {
    fixed.shutdown();
  }
  const maxPerSecond = {
    'sliding-log': 0,
    'token-bucket': 0,
    'fixed-window': 0,
    'floodgate-fixed-window': 0,
    'sliding-window-counter': 0,
  };
  for (const id of Object.keys(maxPerSecond) as LimiterId[]) {
    for (const s of sent) {
      const n = sent.filter((x) => x.allowed[id] && x.at > s.at - WINDOW_MS && x.at <= s.at).length;
      maxPerSecond[id] = Math.max(maxPerSecond[id], n);
    }
  }
  return { sent, maxPerSecond, fixedWindowStarts, maxLatenessMs };
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const PANELS: { id: LimiterId; title: string; note: string; color: string }[] = [
  {
    id: 'fixed-window',
    title: 'Fixed window: express-rate-limit MemoryStore (limit 10, windowMs 1000)',
    note: 'each window opens at the first request after the last one ended; bursts on both sides of a boundary both pass',
    color: '#d1495b',
  },
  {
    id: 'floodgate-fixed-window',
    title: 'floodgate fixedWindow({ limit: 10, windowMs: 1000 })',
    note: 'windows aligned to whole seconds of the clock: the same double burst across a boundary passes',
    color: '#b5533c',
  },
  {
    id: 'sliding-window-counter',
    title: 'floodgate slidingWindowCounter({ limit: 10, windowMs: 1000 })',
    note: "the last window's count, weighted by how much of it the last 1 s still covers, plus this window's",
    color: '#6a4c93',
  },
  {
    id: 'sliding-log',
    title: 'floodgate slidingWindowLog({ limit: 10, windowMs: 1000 })',
    note: 'every request is checked against the 1 s before it: never more than 10 in any 1 s span',
    color: '#00798c',
  },
  {
    id: 'token-bucket',
    title: 'floodgate tokenBucket({ capacity: 10, refillPerSecond: 10 })',
    note: 'a full bucket bursts 10, then a steady 1 per 100 ms; at most 10 + 10 refilled in any 1 s',
    color: '#30638e',
  },
];

/** Renders the chart as a standalone SVG (no fonts or scripts needed). */
export function renderSvg(result: ChartResult): string {
  const W = 960;
  const left = 64;
  const right = 24;
  const top = 128;
  const panelH = 190;
  const gap = 84;
  const plotW = W - left - right;
  const H = top + PANELS.length * (panelH + gap) - gap + 34;
  const yMax = 22;
  const x = (t: number): number => left + (t / END_MS) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${left}" y="30" font-size="19" font-weight="bold" fill="#222">Requests allowed around a window boundary, limit 10 per second</text>`,
    `<text x="${left}" y="52" font-size="12.5" fill="#444">Client: 1 request at 0 s, 10 at 0.85–0.94 s, 10 at 1.01–1.10 s, then 20 per second. One real run; all five limiters see the same requests.</text>`,
    `<text x="${left}" y="70" font-size="12.5" fill="#444">Bars: allowed per 100 ms (grey: sent). Line: allowed in the last 1 s. Dashed: the limit.</text>`,
  );
  PANELS.forEach((panel, index) => {
    const y0 = top + index * (panelH + gap);
    const y = (v: number): number => y0 + panelH - (v / yMax) * panelH;
    const max = result.maxPerSecond[panel.id];
    out.push(
      `<text x="${left}" y="${y0 - 26}" font-size="14" font-weight="bold" fill="#222">${escapeXml(panel.title)}</text>`,
      `<text x="${left}" y="${y0 - 9}" font-size="12" fill="#444">${escapeXml(panel.note)}</text>`,
      `<text x="${left + plotW}" y="${y0 - 26}" font-size="14" text-anchor="end" font-weight="bold" fill="${max > LIMIT ? '#b3202f' : '#1b6e3a'}">most allowed in any 1 s: ${max}</text>`,
    );
    out.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${panelH}" fill="#fafafa" stroke="#ccc"/>`);
    for (const v of [0, 5, 10, 15, 20]) {
      out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e6e6e6"/>`);
      out.push(`<text x="${left - 8}" y="${y(v) + 4}" font-size="11" text-anchor="end" fill="#555">${v}</text>`);
    }
    for (let t = 0; t <= END_MS; t += 500) {
      out.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${y0 + panelH}" y2="${y0 + panelH + 4}" stroke="#888"/>`);
      out.push(
        `<text x="${x(t)}" y="${y0 + panelH + 17}" font-size="11" text-anchor="middle" fill="#555">${(t / 1000).toFixed(1)} s</text>`,
      );
    }
    if (panel.id === 'fixed-window') {
      for (const s of result.fixedWindowStarts) {
        out.push(
          `<line x1="${x(s)}" x2="${x(s)}" y1="${y0}" y2="${y0 + panelH}" stroke="#d1495b" stroke-dasharray="2,3" opacity="0.7"/>`,
        );
      }
      out.push(
        `<text x="${x(result.fixedWindowStarts[1] ?? 1000) + 4}" y="${y0 + 14}" font-size="11" fill="#d1495b">window starts</text>`,
      );
    }
    for (let b = 0; b < END_MS / BIN_MS; b++) {
      const inBin = result.sent.filter((s) => s.at >= b * BIN_MS && s.at < (b + 1) * BIN_MS);
      const allowed = inBin.filter((s) => s.allowed[panel.id]).length;
      const bx = x(b * BIN_MS) + 2;
      const bw = plotW / (END_MS / BIN_MS) - 4;
      if (inBin.length > 0) {
        out.push(
          `<rect x="${bx}" y="${y(inBin.length)}" width="${bw}" height="${y(0) - y(inBin.length)}" fill="#d9d9d9"/>`,
        );
      }
      if (allowed > 0) {
        out.push(
          `<rect x="${bx}" y="${y(allowed)}" width="${bw}" height="${y(0) - y(allowed)}" fill="${panel.color}" opacity="0.85"/>`,
        );
      }
    }
    // The rolling count, as a step line evaluated every 5 ms.
    const points: string[] = [];
    for (let t = 0; t <= END_MS; t += 5) {
      const n = result.sent.filter((s) => s.allowed[panel.id] && s.at > t - WINDOW_MS && s.at <= t).length;
      points.push(`${x(t).toFixed(1)},${y(n).toFixed(1)}`);
    }
    out.push(`<polyline points="${points.join(' ')}" fill="none" stroke="#222" stroke-width="1.8"/>`);
    out.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(LIMIT)}" y2="${y(LIMIT)}" stroke="#e07a1f" stroke-width="1.5" stroke-dasharray="6,4"/>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Runs the scenario and writes the SVG and the raw data to `outDir`. */
export async function writeChart(outDir: string): Promise<ChartResult> {
  const result = await burstRun();
  writeFileSync(resolve(outDir, 'boundary-burst.svg'), renderSvg(result));
  writeFileSync(resolve(outDir, 'boundary-burst.json'), `${JSON.stringify(result, null, 1)}\n`);
  return result;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outDir = resolve(process.argv[2] ?? resolve(ROOT, 'bench', 'results'));
  writeChart(outDir).then(
    (r) =>
      console.log(`wrote ${outDir}/boundary-burst.svg; most allowed in any 1 s: ${JSON.stringify(r.maxPerSecond)}`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
