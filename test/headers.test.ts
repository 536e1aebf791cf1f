import { deepStrictEqual, ok, strictEqual, throws } from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createLimiter,
  type Decision,
  FloodgateError,
  type Limiter,
  MemoryStore,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import {
  createHeaderWriter,
  type HeaderFormat,
  headerInteger,
  MAX_HEADER_INTEGER,
  resetSeconds,
  resolveHeaderFormats,
  retryAfterSeconds,
} from '../adapters/headers.js';
import { manualClock, SwitchableStore } from './helpers/http.js';

function collect(target: Map<string, string>, name: string, value: string): void {
  ok(!target.has(name), `header ${name} set twice`);
  target.set(name, value);
}

/** The headers `formats` give for `decision`, with the wall clock fixed at `wallNow`. */
function headersOf(formats: readonly HeaderFormat[], limiter: Limiter, decision: Decision, wallNow = 0) {
  const writer = createHeaderWriter(formats, limiter.policies);
  const out = new Map<string, string>();
  writer?.write(out, collect, decision, wallNow);
  return Object.fromEntries(out);
}

function slidingLog(limit: number, windowMs: number) {
  const time = manualClock();
  const store = new MemoryStore({ clock: time.clock, sweepIntervalMs: false });
  return { time, limiter: createLimiter({ algorithm: slidingWindowLog({ limit, windowMs }), store }) };
}

describe('header formats, exact values (sliding log, limit 3 per 10 s, injected clock)', () => {
  test('draft-6: RateLimit-Limit/Remaining/Reset and RateLimit-Policy', async () => {
    const { time, limiter } = slidingLog(3, 10_000);
    const seen = [];
    for (const at of [0, 2_500, 4_000, 4_000, 9_999, 10_000]) {
      time.set(at);
      seen.push(headersOf(['draft-6'], limiter, await limiter.consume('k')));
    }
    const row = (remaining: number, reset: number) => ({
      'ratelimit-limit': '3',
      'ratelimit-remaining': `${remaining}`,
      'ratelimit-reset': `${reset}`,
      'ratelimit-policy': '3;w=10',
    });
    // Allowed: reset is the time until the key is full again (the whole window after a charge).
    // Denied: reset names the Retry-After instant (6 s at t=4 s, 1 ms → 1 s at t=9.999 s).
    deepStrictEqual(seen, [row(2, 10), row(1, 10), row(0, 10), row(0, 6), row(0, 1), row(0, 10)]);
  });

  test('draft-7: one RateLimit dictionary and RateLimit-Policy', async () => {
    const { time, limiter } = slidingLog(3, 10_000);
    const first = headersOf(['draft-7'], limiter, await limiter.consume('k'));
    deepStrictEqual(first, { ratelimit: 'limit=3, remaining=2, reset=10', 'ratelimit-policy': '3;w=10' });
    await limiter.consume('k');
    await limiter.consume('k');
    time.set(3_500);
    const denied = headersOf(['draft-7'], limiter, await limiter.consume('k'));
    deepStrictEqual(denied, { ratelimit: 'limit=3, remaining=0, reset=7', 'ratelimit-policy': '3;w=10' });
  });

  test('draft-8: structured fields, quoted policy name, q/w and r/t', async () => {
    const { time, limiter } = slidingLog(3, 10_000);
    deepStrictEqual(headersOf(['draft-8'], limiter, await limiter.consume('k')), {
      'ratelimit-policy': '"default";q=3;w=10',
      ratelimit: '"default";r=2;t=10',
    });
    await limiter.consume('k');
    await limiter.consume('k');
    time.set(1_200);
    deepStrictEqual(headersOf(['draft-8'], limiter, await limiter.consume('k')), {
      'ratelimit-policy': '"default";q=3;w=10',
      ratelimit: '"default";r=0;t=9',
    });
  });

  test('legacy: X-RateLimit-* with the reset as Unix epoch seconds, rounded up', async () => {
    const { time, limiter } = slidingLog(3, 10_000);
    const wallNow = 1_700_000_000_250;
    deepStrictEqual(headersOf(['legacy'], limiter, await limiter.consume('k'), wallNow), {
      'x-ratelimit-limit': '3',
      'x-ratelimit-remaining': '2',
      'x-ratelimit-reset': '1700000011',
    });
    await limiter.consume('k');
    await limiter.consume('k');
    time.set(2_000);
    const denied = await limiter.consume('k');
    strictEqual(denied.retryAfterMs, 8_000);
    strictEqual(headersOf(['legacy'], limiter, denied, wallNow)['x-ratelimit-reset'], '1700000009');
  });

  test('draft-6 with draft-7 sends RateLimit-Policy once; legacy adds its own three', async () => {
    const { limiter } = slidingLog(3, 10_000);
    const headers = headersOf(['draft-6', 'draft-7', 'legacy'], limiter, await limiter.consume('k'), 0);
    deepStrictEqual(Object.keys(headers).sort(), [
      'ratelimit',
      'ratelimit-limit',
      'ratelimit-policy',
      'ratelimit-remaining',
      'ratelimit-reset',
      'x-ratelimit-limit',
      'x-ratelimit-remaining',
      'x-ratelimit-reset',
    ]);
  });

  test('no formats: no writer at all', () => {
    const { limiter } = slidingLog(3, 10_000);
    strictEqual(createHeaderWriter([], limiter.policies), undefined);
  });
});

describe('header formats, exact values (token bucket, capacity 4, 2 per second)', () => {
  test('every format', async () => {
    const time = manualClock();
    const store = new MemoryStore({ clock: time.clock, sweepIntervalMs: false });
    const limiter = createLimiter({ algorithm: tokenBucket({ capacity: 4, refillPerSecond: 2 }), store });
    const first = await limiter.consume('k');
    // One token used: full again in 500 ms, which rounds up to 1 s. The bucket refills from
    // empty in 2 s, its window.
    deepStrictEqual(headersOf(['draft-6'], limiter, first), {
      'ratelimit-limit': '4',
      'ratelimit-remaining': '3',
      'ratelimit-reset': '1',
      'ratelimit-policy': '4;w=2',
    });
    for (let i = 0; i < 3; i++) await limiter.consume('k');
    const denied = await limiter.consume('k');
    strictEqual(denied.allowed, false);
    strictEqual(denied.retryAfterMs, 500);
    deepStrictEqual(headersOf(['draft-8'], limiter, denied), {
      'ratelimit-policy': '"default";q=4;w=2',
      ratelimit: '"default";r=0;t=1',
    });
    time.set(1_200);
    const later = await limiter.consume('k');
    // At 1.2 s, 2.4 tokens have come back: 2 whole ones, one taken now leaves 1; full at 2.5 s.
    deepStrictEqual(headersOf(['draft-7'], limiter, later), {
      ratelimit: 'limit=4, remaining=1, reset=2',
      'ratelimit-policy': '4;w=2',
    });
  });
});

describe('multi-policy limiters', () => {
  function twoPolicies() {
    const time = manualClock();
    const store = new MemoryStore({ clock: time.clock, sweepIntervalMs: false });
    const limiter = createLimiter({
      policies: {
        burst: slidingWindowLog({ limit: 2, windowMs: 1_000 }),
        hourly: slidingWindowLog({ limit: 100, windowMs: 3_600_000 }),
      },
      store,
    });
    return { time, limiter };
  }

  test('draft-8 lists every policy, in order, each with its own r and t', async () => {
    const { limiter } = twoPolicies();
    deepStrictEqual(headersOf(['draft-8'], limiter, await limiter.consume('k')), {
      'ratelimit-policy': '"burst";q=2;w=1, "hourly";q=100;w=3600',
      ratelimit: '"burst";r=1;t=1, "hourly";r=99;t=3600',
    });
    await limiter.consume('k');
    const denied = await limiter.consume('k');
    // burst denies (retry in 1 s); hourly shows its uncharged view.
    deepStrictEqual(headersOf(['draft-8'], limiter, denied), {
      'ratelimit-policy': '"burst";q=2;w=1, "hourly";q=100;w=3600',
      ratelimit: '"burst";r=0;t=1, "hourly";r=98;t=3600',
    });
  });

  test('draft-6 and draft-7 list every policy in RateLimit-Policy and describe the binding one', async () => {
    const { limiter } = twoPolicies();
    const first = await limiter.consume('k');
    strictEqual(first.policy, 'burst');
    deepStrictEqual(headersOf(['draft-6'], limiter, first), {
      'ratelimit-limit': '2',
      'ratelimit-remaining': '1',
      'ratelimit-reset': '1',
      'ratelimit-policy': '2;w=1, 100;w=3600',
    });
    deepStrictEqual(headersOf(['draft-7'], limiter, first), {
      ratelimit: 'limit=2, remaining=1, reset=1',
      'ratelimit-policy': '2;w=1, 100;w=3600',
    });
  });

  test('a degraded decision (store down, allow) names the policy with the smallest limit', async () => {
    const limiter = createLimiter({
      policies: {
        hourly: slidingWindowLog({ limit: 100, windowMs: 3_600_000 }),
        burst: slidingWindowLog({ limit: 2, windowMs: 1_000 }),
      },
      store: new SwitchableStore(),
      onOutage: () => {},
    });
    const degraded = await limiter.consume('k');
    strictEqual(degraded.degraded, true);
    deepStrictEqual(headersOf(['draft-8'], limiter, degraded), {
      'ratelimit-policy': '"hourly";q=100;w=3600, "burst";q=2;w=1',
      ratelimit: '"burst";r=2;t=0',
    });
  });
});

describe('Retry-After and reset rounding', () => {
  const decision = (allowed: boolean, retryAfterMs: number, resetMs: number): Decision => ({
    allowed,
    limit: 1,
    remaining: 0,
    resetMs,
    retryAfterMs,
  });

  test('Retry-After is whole seconds rounded up, never below 1', () => {
    strictEqual(retryAfterSeconds(decision(false, 1, 5)), '1');
    strictEqual(retryAfterSeconds(decision(false, 1_000, 5)), '1');
    strictEqual(retryAfterSeconds(decision(false, 1_001, 5)), '2');
    strictEqual(retryAfterSeconds(decision(false, 59_999, 5)), '60');
    strictEqual(retryAfterSeconds(decision(false, 0, 5)), '1');
  });

  test('reset follows resetMs when allowed and retryAfterMs when denied', () => {
    strictEqual(resetSeconds(decision(true, 0, 0)), 0);
    strictEqual(resetSeconds(decision(true, 0, 1)), 1);
    strictEqual(resetSeconds(decision(true, 0, 60_000)), 60);
    strictEqual(resetSeconds(decision(false, 1_500, 60_000)), 2);
  });

  test('policy windows are whole seconds, rounded up, at least 1', async () => {
    const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 1, windowMs: 1_500 }) });
    strictEqual(headersOf(['draft-6'], limiter, await limiter.consume('k'))['ratelimit-policy'], '1;w=2');
    const tiny = createLimiter({ algorithm: slidingWindowLog({ limit: 1, windowMs: 10 }) });
    strictEqual(headersOf(['draft-8'], tiny, await tiny.consume('k'))['ratelimit-policy'], '"default";q=1;w=1');
  });
});

describe('every header value is an integer of at most 15 plain digits, for every accepted setting', () => {
  const MAX = '999999999999999';
  const HUGE = 2 ** 53 - 1;

  test('headerInteger: rounds down, clamps to 0..999,999,999,999,999, reads NaN as 0', () => {
    strictEqual(MAX_HEADER_INTEGER, 999_999_999_999_999);
    const cases: [number, number][] = [
      [0, 0],
      [-0, 0],
      [7, 7],
      [7.9, 7],
      [0.5, 0],
      [-1, 0],
      [Number.NaN, 0],
      [Number.NEGATIVE_INFINITY, 0],
      [999_999_999_999_998.5, 999_999_999_999_998],
      [999_999_999_999_999, 999_999_999_999_999],
      [1e15, 999_999_999_999_999],
      [HUGE, 999_999_999_999_999],
      [9.007199254740991e24, 999_999_999_999_999],
      [Number.POSITIVE_INFINITY, 999_999_999_999_999],
    ];
    for (const [value, expected] of cases) strictEqual(headerInteger(value), expected, `${value}`);
  });

  test('Retry-After and reset are clamped too, Retry-After still at least 1', () => {
    const denied: Decision = { allowed: false, limit: 1, remaining: 0, resetMs: 9e27, retryAfterMs: 9e27 };
    strictEqual(retryAfterSeconds(denied), MAX);
    strictEqual(resetSeconds(denied), MAX_HEADER_INTEGER);
    strictEqual(resetSeconds({ ...denied, allowed: true }), MAX_HEADER_INTEGER);
    strictEqual(retryAfterSeconds({ ...denied, retryAfterMs: Number.NaN }), '1');
  });

  test('a bucket of capacity 2^53 - 1 refilling 1e-9 tokens a second, every format', async () => {
    const time = manualClock();
    const store = new MemoryStore({ clock: time.clock, sweepIntervalMs: false });
    const limiter = createLimiter({ algorithm: tokenBucket({ capacity: HUGE, refillPerSecond: 1e-9 }), store });
    // Its window is 9.007e24 s, which a template string prints in exponent notation.
    strictEqual(`${Math.ceil((limiter.policies[0]?.algorithm.windowMs ?? 0) / 1000)}`, '9.00719925474099e+24');
    const wallNow = 1_700_000_000_000;
    const one = await limiter.consume('k');
    // One token used: back in 1e12 ms (1e9 s); everything else is past 15 digits.
    deepStrictEqual(headersOf(['draft-6', 'draft-7', 'legacy'], limiter, one, wallNow), {
      'ratelimit-limit': MAX,
      'ratelimit-remaining': MAX,
      'ratelimit-reset': '1000000000',
      'ratelimit-policy': `${MAX};w=${MAX}`,
      ratelimit: `limit=${MAX}, remaining=${MAX}, reset=1000000000`,
      'x-ratelimit-limit': MAX,
      'x-ratelimit-remaining': MAX,
      'x-ratelimit-reset': '2700000000',
    });
    const all = await limiter.consume('k', { cost: HUGE - 1 });
    deepStrictEqual(headersOf(['draft-8', 'legacy'], limiter, all, wallNow), {
      'ratelimit-policy': `"default";q=${MAX};w=${MAX}`,
      ratelimit: `"default";r=0;t=${MAX}`,
      'x-ratelimit-limit': MAX,
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': MAX,
    });
    const denied = await limiter.consume('k', { cost: HUGE });
    strictEqual(denied.allowed, false);
    strictEqual(retryAfterSeconds(denied), MAX);
    strictEqual(headersOf(['draft-7'], limiter, denied).ratelimit, `limit=${MAX}, remaining=0, reset=${MAX}`);
  });

  test('several policies with huge limits and windows (draft-8)', async () => {
    const limiter = createLimiter({
      policies: {
        bucket: tokenBucket({ capacity: HUGE, refillPerSecond: 1e-9 }),
        log: slidingWindowLog({ limit: HUGE, windowMs: HUGE }),
      },
      store: new MemoryStore({ clock: () => 0, sweepIntervalMs: false }),
    });
    deepStrictEqual(headersOf(['draft-8'], limiter, await limiter.consume('k', { cost: HUGE })), {
      'ratelimit-policy': `"bucket";q=${MAX};w=${MAX}, "log";q=${MAX};w=9007199254741`,
      ratelimit: `"bucket";r=0;t=${MAX}, "log";r=0;t=9007199254741`,
    });
  });
});

describe('the headers option', () => {
  test('accepts one format, a list, or false; defaults to draft-6', () => {
    deepStrictEqual(resolveHeaderFormats('t', undefined), ['draft-6']);
    deepStrictEqual(resolveHeaderFormats('t', false), []);
    deepStrictEqual(resolveHeaderFormats('t', 'legacy'), ['legacy']);
    deepStrictEqual(resolveHeaderFormats('t', ['legacy', 'draft-8']), ['draft-8', 'legacy']);
  });

  test('rejects unknown formats, empty lists, duplicates and clashing drafts', () => {
    const rejects = (value: unknown, message: RegExp) =>
      throws(
        () => resolveHeaderFormats('rateLimit', value),
        (error: unknown) =>
          error instanceof FloodgateError && error.code === 'ERR_INVALID_OPTION' && message.test(error.message),
      );
    rejects('draft-9', /^rateLimit: headers must be 'draft-6', .*, got "draft-9"$/);
    rejects(true, /got true$/);
    rejects([], /got an array$/);
    rejects(['legacy', 'legacy'], /must not name a format twice/);
    rejects(['draft-6', 'draft-8'], /cannot combine 'draft-8'/);
    rejects(['draft-7', 'draft-8'], /cannot combine 'draft-8'/);
  });
});
