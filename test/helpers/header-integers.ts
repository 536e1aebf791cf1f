import { ok, strictEqual } from 'node:assert/strict';
import { createLimiter, type Limiter, slidingWindowLog, tokenBucket } from 'floodgate';
import type { HeadersOption } from 'floodgate/express';
import { parseRateLimit } from 'ratelimit-header-parser';

/** The largest Integer of HTTP structured fields: 15 digits (RFC 9651 section 3.3.1). */
const MAX = 999_999_999_999_999;
const HUGE = 2 ** 53 - 1;

/** Every format, in the two sets an app can send at once (draft-8 combines with legacy only). */
export const HEADER_SETS: readonly HeadersOption[] = [['draft-6', 'draft-7', 'legacy'], ['draft-8']];

/** One app's setting at the edge of what the limiter accepts, and the statuses of two requests. */
export interface ExtremeSetting {
  readonly label: string;
  readonly limiter: Limiter;
  readonly cost: number;
  readonly statuses: readonly [number, number];
}

/**
 * Settings the limiter accepts whose raw numbers overflow a header: a capacity of 2^53 - 1, a
 * refill rate of 1e-9 a second (a window of about 9e24 seconds), a window of 2^53 - 1 ms, costs
 * as large as the limit. Fresh limiters on each call.
 */
export function extremeSettings(): ExtremeSetting[] {
  const hugeBucket = () => tokenBucket({ capacity: HUGE, refillPerSecond: 1e-9 });
  const hugeLog = () => slidingWindowLog({ limit: HUGE, windowMs: HUGE });
  return [
    {
      label: 'huge capacity, tiny refill rate, cost 1',
      limiter: createLimiter({ algorithm: hugeBucket() }),
      cost: 1,
      statuses: [200, 200],
    },
    {
      label: 'huge capacity, tiny refill rate, huge cost',
      limiter: createLimiter({ algorithm: hugeBucket() }),
      cost: HUGE,
      statuses: [200, 429],
    },
    {
      label: 'one token refilled in 31 years',
      limiter: createLimiter({ algorithm: tokenBucket({ capacity: 1, refillPerSecond: 1e-9 }) }),
      cost: 1,
      statuses: [200, 429],
    },
    {
      label: 'huge limit and window, huge cost',
      limiter: createLimiter({ algorithm: hugeLog() }),
      cost: HUGE,
      statuses: [200, 429],
    },
    {
      label: 'two huge policies, huge cost',
      limiter: createLimiter({ policies: { bucket: hugeBucket(), log: hugeLog() } }),
      cost: HUGE,
      statuses: [200, 429],
    },
  ];
}

/**
 * How many rate-limit fields a response of `status` carries with `headers`, so that a check
 * cannot pass on a response that lost some: draft-6 sends 4, draft-7 adds 1 (sharing the
 * policy), draft-8 sends 2, legacy 3, and a limited response adds Retry-After.
 */
export function expectedFieldCount(headers: HeadersOption, status: number): number {
  const formats = headers === false ? [] : typeof headers === 'string' ? [headers] : headers;
  const count = { 'draft-6': 4, 'draft-7': formats.includes('draft-6') ? 1 : 2, 'draft-8': 2, legacy: 3 };
  let total = status === 429 ? 1 : 0;
  for (const format of formats) total += count[format];
  return total;
}

const RATE_LIMIT_FIELDS = [
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'retry-after',
];

/** A number in a header: plain digits, no sign, point or exponent, and within 15 digits. */
function checkDigits(value: string, where: string): void {
  ok(/^\d{1,15}$/.test(value), `${where}: ${JSON.stringify(value)} is not an integer of at most 15 plain digits`);
  ok(Number(value) <= MAX, `${where}: ${value} is above ${MAX}`);
}

/**
 * Checks that every number in every rate-limit header of a response is a non-negative integer in
 * plain digits, at most 15 of them: each value is split into its list members and parameters
 * (`;`, `,`), and every part that is not a quoted policy name must be digits, after `key=` if it
 * has one. The formats `ratelimit-header-parser` knows (draft-6, draft-7, legacy) are also read
 * by it, and must give the very numbers in the header: it reads `9.007e+24` as 9. Returns the
 * names of the fields seen.
 */
export function assertIntegerHeaders(raw: Record<string, unknown>, label: string): string[] {
  const headers: Record<string, string> = {};
  for (const name of RATE_LIMIT_FIELDS) if (raw[name] !== undefined) headers[name] = String(raw[name]);
  for (const [name, value] of Object.entries(headers)) {
    for (const part of value.split(/[;,]/)) {
      const item = part.trim();
      if (/^"[A-Za-z0-9_-]+"$/.test(item)) continue;
      const equals = item.indexOf('=');
      checkDigits(equals === -1 ? item : item.slice(equals + 1), `${label}: ${name}`);
    }
  }
  const views: [string, Record<string, string>, string][] = [];
  if (headers['ratelimit-remaining'] !== undefined) {
    views.push(['draft-6', pick(headers, 'ratelimit-'), 'ratelimit-']);
  }
  if (headers.ratelimit?.startsWith('limit=')) views.push(['draft-7', { ratelimit: headers.ratelimit }, '']);
  if (headers['x-ratelimit-remaining'] !== undefined) {
    views.push(['legacy', pick(headers, 'x-ratelimit-'), 'x-ratelimit-']);
  }
  for (const [format, view, prefix] of views) {
    const parsed = parseRateLimit(view);
    ok(parsed !== undefined, `${label}: ratelimit-header-parser read nothing from ${format}`);
    const expected =
      prefix === ''
        ? Object.fromEntries((view.ratelimit ?? '').split(', ').map((kv) => kv.split('=') as [string, string]))
        : { limit: view[`${prefix}limit`], remaining: view[`${prefix}remaining`] };
    strictEqual(parsed.limit, Number(expected.limit), `${label}: ${format} limit`);
    strictEqual(parsed.remaining, Number(expected.remaining), `${label}: ${format} remaining`);
    ok(Number.isSafeInteger(parsed.limit) && Number.isSafeInteger(parsed.remaining), `${label}: ${format}`);
  }
  return Object.keys(headers);
}

function pick(headers: Record<string, string>, prefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (name.startsWith(prefix)) out[name] = value;
  return out;
}
