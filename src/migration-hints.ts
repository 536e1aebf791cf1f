/**
 * Options of the rate limiters people move from, and what they are called here. Someone who
 * writes `rateLimit({ windowMs, max })` from habit gets an unknown-option error that says what
 * to write instead, rather than only the list of names floodgate knows.
 *
 * express-rate-limit, @fastify/rate-limit and rate-limiter-flexible all count in fixed windows:
 * `fixedWindow` counts the same way, `slidingWindowLog` is exact over every window.
 */

import { checkOptionsObject } from './options.js';

/** The migration guide, and its section for each of those limiters. */
const GUIDE = 'docs/migrating.md';
const EXPRESS = `${GUIDE}#from-express-rate-limit`;
const FASTIFY = `${GUIDE}#from-fastifyrate-limit`;
const FLEXIBLE_GUIDE = `${GUIDE}#from-rate-limiter-flexible`;

const SAME = 'slidingWindowLog({ limit, windowMs }) here (or fixedWindow, for the same counting)';
const FLEXIBLE =
  "rate-limiter-flexible's { points, duration } is fixedWindow({ limit: points, windowMs: duration * 1000 }) here (or slidingWindowLog, exact over every window)";

/** Each name's hint and the page that says more. */
const HINTS: Readonly<Record<string, readonly [hint: string, guide: string]>> = {
  // Both express-rate-limit's and @fastify/rate-limit's: the guide's top covers both.
  max: [`express-rate-limit's { windowMs, max } and @fastify/rate-limit's { max, timeWindow } are ${SAME}`, GUIDE],
  windowMs: [`express-rate-limit's { windowMs, max } is ${SAME}`, EXPRESS],
  limit: [`express-rate-limit's { windowMs, limit } is ${SAME}`, EXPRESS],
  timeWindow: [`@fastify/rate-limit's { max, timeWindow } is ${SAME}; windowMs is a number of milliseconds`, FASTIFY],
  points: [FLEXIBLE, FLEXIBLE_GUIDE],
  duration: [FLEXIBLE, FLEXIBLE_GUIDE],
  blockDuration: [
    "rate-limiter-flexible's blockDuration is blockDurationMs here, in milliseconds rather than seconds",
    FLEXIBLE_GUIDE,
  ],
};

/**
 * What an option name of express-rate-limit, @fastify/rate-limit or rate-limiter-flexible is
 * called in floodgate, with a pointer to the migration guide's section, or `undefined` for any other
 * name. Meant for the `hint` argument of {@link checkOptionsObject} where a limiter's options
 * are taken (`createLimiter` and the adapters).
 *
 * @example
 * ```ts
 * migrationHint('max');
 * // "express-rate-limit's { windowMs, max } and @fastify/rate-limit's { max, timeWindow } are
 * //  slidingWindowLog({ limit, windowMs }) here (or fixedWindow, for the same counting); see docs/migrating.md"
 * ```
 */
export function migrationHint(name: string): string | undefined {
  const entry = Object.hasOwn(HINTS, name) ? HINTS[name] : undefined;
  return entry === undefined ? undefined : `${entry[0]}; see ${entry[1]}`;
}

/** {@link checkOptionsObject} for the options of a limiter, with {@link migrationHint} for unknown names. */
export function checkLimiterOptions(
  owner: string,
  options: unknown,
  known: readonly string[],
): Record<string, unknown> {
  return checkOptionsObject(owner, options, known, true, migrationHint);
}
