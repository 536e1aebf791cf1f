import { ok, rejects, strictEqual, throws } from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import {
  checkOptionsObject,
  createLimiter,
  FloodgateError,
  type LimiterOptions,
  migrationHint,
  slidingWindowLog,
} from 'floodgate';
import { type RateLimitOptions, rateLimit } from 'floodgate/express';
import floodgate, { type FloodgatePluginOptions } from 'floodgate/fastify';

/**
 * The option names of express-rate-limit, @fastify/rate-limit and rate-limiter-flexible are
 * refused where a limiter's options are taken, with floodgate's name for them. Written out in
 * full: these messages are what a user moving from those libraries reads first.
 */
const SAME = 'slidingWindowLog({ limit, windowMs }) here (or fixedWindow, for the same counting)';
const FLEXIBLE =
  "rate-limiter-flexible's { points, duration } is fixedWindow({ limit: points, windowMs: duration * 1000 }) here (or slidingWindowLog, exact over every window)";
const GUIDE = 'docs/migrating.md';
const EXPRESS = `${GUIDE}#from-express-rate-limit`;
const FLEXIBLE_GUIDE = `${GUIDE}#from-rate-limiter-flexible`;
const HINTS: readonly (readonly [name: string, value: unknown, hint: string])[] = [
  [
    'max',
    100,
    `express-rate-limit's { windowMs, max } and @fastify/rate-limit's { max, timeWindow } are ${SAME}; see ${GUIDE}`,
  ],
  ['windowMs', 60_000, `express-rate-limit's { windowMs, max } is ${SAME}; see ${EXPRESS}`],
  ['limit', 100, `express-rate-limit's { windowMs, limit } is ${SAME}; see ${EXPRESS}`],
  [
    'timeWindow',
    '1 minute',
    `@fastify/rate-limit's { max, timeWindow } is ${SAME}; windowMs is a number of milliseconds; see ${GUIDE}#from-fastifyrate-limit`,
  ],
  ['points', 100, `${FLEXIBLE}; see ${FLEXIBLE_GUIDE}`],
  ['duration', 60, `${FLEXIBLE}; see ${FLEXIBLE_GUIDE}`],
  [
    'blockDuration',
    60,
    `rate-limiter-flexible's blockDuration is blockDurationMs here, in milliseconds rather than seconds; see ${FLEXIBLE_GUIDE}`,
  ],
];

function isOptionError(message: string) {
  return (error: unknown): boolean => {
    ok(error instanceof FloodgateError, `a FloodgateError, got ${String(error)}`);
    strictEqual(error.code, 'ERR_INVALID_OPTION');
    strictEqual(error.message, message);
    return true;
  };
}

const algorithm = slidingWindowLog({ limit: 10, windowMs: 60_000 });
const limiter = createLimiter({ algorithm });

describe("another rate limiter's option names", () => {
  for (const [name, value, hint] of HINTS) {
    test(`createLimiter: "${name}" is refused with floodgate's name for it`, () => {
      throws(
        () => createLimiter({ algorithm, [name]: value } as LimiterOptions),
        isOptionError(`createLimiter: unknown option "${name}"; ${hint}`),
      );
    });

    test(`rateLimit (Express): "${name}" is refused with floodgate's name for it`, () => {
      throws(
        () => rateLimit({ limiter, [name]: value } as RateLimitOptions),
        isOptionError(`rateLimit: unknown option "${name}"; ${hint}`),
      );
      // Given alone, as in the other library, where no limiter option is given at all.
      throws(
        () => rateLimit({ [name]: value } as RateLimitOptions),
        isOptionError(`rateLimit: unknown option "${name}"; ${hint}`),
      );
    });

    test(`the Fastify plugin: "${name}" is refused with floodgate's name for it, in its options and a route's`, async () => {
      const plugin = Fastify();
      plugin.register(floodgate, { limiter, [name]: value } as FloodgatePluginOptions);
      await rejects(
        async () => {
          await plugin.ready();
        },
        isOptionError(`floodgate: unknown option "${name}"; ${hint}`),
      );

      const route = Fastify();
      await route.register(floodgate, { limiter });
      throws(
        () => route.get('/', { config: { rateLimit: { [name]: value } } }, async () => 'ok'),
        isOptionError(`floodgate (route GET /): unknown option "${name}"; ${hint}`),
      );
    });
  }

  test('any other unknown name still gets the list of allowed ones', () => {
    throws(
      () => createLimiter({ algorithm, windowMS: 1_000 } as LimiterOptions),
      isOptionError(
        'createLimiter: unknown option "windowMS"; allowed options are algorithm, policies, store, prefix, blockDurationMs, onStoreError, onOutage',
      ),
    );
    strictEqual(migrationHint('windowMS'), undefined);
    // Names inherited from Object.prototype are not hints.
    strictEqual(migrationHint('toString'), undefined);
  });

  test('checkOptionsObject takes the hint for stores and adapters of your own', () => {
    throws(
      () => checkOptionsObject('myAdapter', { max: 5 }, ['limiter'], true, migrationHint),
      isOptionError(`myAdapter: unknown option "max"; ${HINTS[0]?.[2]}`),
    );
    throws(
      () => checkOptionsObject('myAdapter', { max: 5 }, ['limiter']),
      isOptionError('myAdapter: unknown option "max"; allowed options are limiter'),
    );
  });

  test("each hint's link is a page and section of the docs", () => {
    const root = new URL('../', import.meta.url);
    for (const [name] of HINTS) {
      const link = /; see (\S+)$/.exec(migrationHint(name) ?? '')?.[1];
      ok(link !== undefined, name);
      const [page, section] = link.split('#') as [string, string | undefined];
      const text = readFileSync(new URL(page, root), 'utf8');
      if (section === undefined) continue;
      // GitHub's anchors: headings lowercased, punctuation dropped, spaces turned into hyphens.
      const anchors = [...text.matchAll(/^#+ (.+)$/gm)].map((m) =>
        (m[1] as string)
          .toLowerCase()
          .replace(/[^\w\s-]/g, '')
          .replace(/\s/g, '-'),
      );
      ok(anchors.includes(section), `${name}: no heading for #${section} in ${page}`);
    }
  });

  test('the algorithms keep limit and windowMs: only a limiter refuses them', () => {
    strictEqual(slidingWindowLog({ limit: 5, windowMs: 1_000 }).limit, 5);
  });
});
