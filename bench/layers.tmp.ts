import { MemoryStore as Erl, type Options } from 'express-rate-limit';
import { createLimiter, fixedWindow, MemoryStore } from 'floodgate';

const KEYS = Array.from({ length: 1000 }, (_, k) => `user:${k}`);
const CALLS = 2_000_000;
const RUNS = 9;
const results = new Map<string, number[]>();
function timeOnce(name: string, part: (key: string) => unknown): void {
  let sink = 0;
  const c0 = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) if (part(KEYS[i % 1000] as string) === sink) sink++;
  const c = process.cpuUsage(c0);
  results.set(name, [...(results.get(name) ?? []), ((c.user + c.system) * 1000) / CALLS]);
}
async function timeOnceAsync(name: string, part: (key: string) => Promise<unknown>): Promise<void> {
  const c0 = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) await part(KEYS[i % 1000] as string);
  const c = process.cpuUsage(c0);
  results.set(name, [...(results.get(name) ?? []), ((c.user + c.system) * 1000) / CALLS]);
}
const HUGE = 1e9;
const map1 = new Map<string, number>();
const floor = (key: string) => {
  const now = performance.now();
  const used = map1.get(key) ?? 0;
  map1.set(key, used + 1);
  return { allowed: now >= 0 && used < HUGE, limit: HUGE, remaining: HUGE - used - 1, resetMs: 0, retryAfterMs: 0 };
};
const map2 = new Map<string, number>();
const floorArray = (key: string) => {
  const now = performance.now();
  const used = map2.get(key) ?? 0;
  map2.set(key, used + 1);
  const r = [
    { allowed: now >= 0 && used < HUGE, limit: HUGE, remaining: HUGE - used - 1, resetMs: 0, retryAfterMs: 0 },
  ];
  return r[0];
};
const fwA = fixedWindow({ limit: HUGE, windowMs: 3_600_000 });
const map3 = new Map<string, unknown>();
const algoOnly = (key: string) => {
  const now = performance.now();
  const s = map3.get(key) as number | undefined;
  const d = fwA.evaluate(s, now, 1, true);
  const n = fwA.charge(s, now, 1);
  if (n !== s) map3.set(key, n);
  return d;
};
const fwB = fixedWindow({ limit: HUGE, windowMs: 3_600_000 });
const binding = new MemoryStore().bind({
  prefix: 'p',
  policies: [{ name: 'default', algorithm: fwB }],
  blockDurationMs: 0,
} as never);
const storeOnly = (key: string) => (binding.decide(key, 1, true) as readonly unknown[])[0];
const lim = createLimiter({ algorithm: fixedWindow({ limit: HUGE, windowMs: 3_600_000 }) });
const limDecide = (key: string) => lim.decide(key, 1);
const keyCheck = (key: string) =>
  typeof key === 'string' && key.length > 0 && key.length <= 128 && key.charCodeAt(0) !== 35 && key.isWellFormed();
const erl = new Erl();
erl.init({ windowMs: 60_000 } as Options);
async function main() {
  for (let r = 0; r < RUNS; r++) {
    const order: [string, (k: string) => unknown][] = [
      ['floor: clock, Map get+set, answer', floor],
      ['floor + a one-element array', floorArray],
      ['clock, Map get+set, fixedWindow evaluate+charge', algoOnly],
      ['MemoryStore binding.decide (fixed window)', storeOnly],
      ['limiter.decide (fixed window)', limDecide],
      ['key check alone (storageKey fast path)', keyCheck],
    ];
    for (const [name, f] of r % 2 ? order.reverse() : order) timeOnce(name, f);
    await timeOnceAsync('express-rate-limit increment, awaited', (k) => erl.increment(k));
  }
  erl.shutdown();
  for (const [name, xs] of results) {
    const s = [...xs].sort((a, b) => a - b);
    console.log(`| ${name} | ${s[(s.length / 2) | 0]?.toFixed(1)} | ${s[0]?.toFixed(1)} |`);
  }
}
main();
