import { type Decision, FloodgateError, type PolicySpec } from 'floodgate';
import { entriesOf, STACK, type StackEntry, type Stacked, writeStacked } from './header-stack.js';
import { invalidOption } from './validate.js';

/**
 * A rate-limit header format:
 * - `'draft-6'`: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`
 *   (draft-ietf-httpapi-ratelimit-headers-06).
 * - `'draft-7'`: `RateLimit: limit=…, remaining=…, reset=…` and `RateLimit-Policy` (draft 07).
 * - `'draft-8'`: the structured-field form of drafts 08 to 10, `RateLimit-Policy: "name";q=…;w=…`
 *   and `RateLimit: "name";r=…;t=…`, one item per policy.
 * - `'legacy'`: `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (Unix epoch
 *   seconds, as GitHub and express-rate-limit send it).
 *
 * In every format, and in `Retry-After`, each number is a non-negative integer in plain digits, at
 * most 999,999,999,999,999: larger values (a huge capacity, a very slow refill) are sent as that.
 */
export type HeaderFormat = 'draft-6' | 'draft-7' | 'draft-8' | 'legacy';

/** The `headers` option: one format, several that do not clash, or `false` for none. */
export type HeadersOption = HeaderFormat | readonly HeaderFormat[] | false;

/** Sets one response header; each adapter passes one module-level function, never a closure. */
export type SetHeader<T> = (target: T, name: string, value: string) => void;

/** Writes a Decision as headers; built once per limiter, with every constant part precomputed. */
export interface HeaderWriter {
  /**
   * Sets the headers for `decision` on `target`. `wallNow` is `Date.now()` at the decision, read
   * only by the legacy format, whose reset is an absolute time. `denies` says whether this limiter
   * answers the request with its limited response (not so in shadow mode); it defaults to
   * `!decision.allowed`.
   *
   * When an earlier limiter has written on the same `target` (stacked middleware, or several
   * Fastify limits on a route), the headers of both are written together: see
   * {@link writeStacked}. `target` keeps a small record of what was written for that.
   */
  write<T>(target: T, set: SetHeader<T>, decision: Decision, wallNow: number, denies?: boolean): void;
  /** Whether some format needs `wallNow`, so callers read the wall clock only then. */
  readonly needsWallClock: boolean;
}

const FORMATS: readonly HeaderFormat[] = ['draft-6', 'draft-7', 'draft-8', 'legacy'];

/**
 * The largest number any header carries: 999,999,999,999,999, the largest Integer of HTTP
 * structured fields (RFC 9651 section 3.3.1, at most 15 digits), the syntax drafts 06 to 10 give
 * every rate-limit field. Settings the limiter accepts reach far past it: a capacity of 2^53 - 1,
 * or a bucket refilling at 1e-9 tokens a second, whose window (about 9e24 seconds) JavaScript
 * prints in exponent notation. As seconds it is about 31.7 million years, so a clamped wait still
 * tells a client not to come back soon.
 */
export const MAX_HEADER_INTEGER = 999_999_999_999_999;

/**
 * `value` as a header number: an integer from 0 to {@link MAX_HEADER_INTEGER}, which a template
 * string prints in plain digits. A fraction is rounded down (callers round waits up before), and
 * anything not above 0, NaN included (from an algorithm of the app's own), is 0.
 */
export function headerInteger(value: number): number {
  if (!(value > 0)) return 0;
  return value < MAX_HEADER_INTEGER ? Math.floor(value) : MAX_HEADER_INTEGER;
}

const EXPECTED = "'draft-6', 'draft-7', 'draft-8', 'legacy', a list of these, or false";

/**
 * Seconds a client should wait for the quota a header describes, in whole seconds rounded up.
 * Allowed: until the key is back to its full limit (`resetMs`). Denied: until this very call
 * would be allowed (`retryAfterMs`), because every draft says that when a response carries both
 * `Retry-After` and a reset value they SHOULD name the same instant.
 */
export function resetSeconds(decision: Decision): number {
  return headerInteger(Math.ceil((decision.allowed ? decision.resetMs : decision.retryAfterMs) / 1000));
}

/**
 * The `Retry-After` value of a denied Decision: whole seconds, rounded up so that waiting that
 * long suffices, at least 1 (a `Retry-After: 0` invites an immediate retry storm), and at most
 * {@link MAX_HEADER_INTEGER}, like the reset it should agree with (only a wait past 31.7 million
 * years is cut short).
 */
export function retryAfterSeconds(decision: Decision): string {
  const seconds = headerInteger(Math.ceil(decision.retryAfterMs / 1000));
  return seconds < 1 ? '1' : `${seconds}`;
}

/**
 * The `Retry-After` a limited response sends when the response may already carry one (`existing`,
 * set by an earlier limiter or the app): the longer of the two, so a client told to wait is never
 * told a shorter wait by a later limiter. A value that is not whole seconds (an HTTP date) is replaced.
 */
export function longestRetryAfter(existing: unknown, decision: Decision): string {
  const mine = retryAfterSeconds(decision);
  const prior = typeof existing === 'string' && /^\d{1,15}$/.test(existing) ? Number(existing) : existing;
  return typeof prior === 'number' && Number.isSafeInteger(prior) && prior > Number(mine) ? `${prior}` : mine;
}

/** A policy's window in whole seconds, as the drafts require: rounded up, at least 1. */
function windowSeconds(policy: PolicySpec): number {
  return Math.max(1, headerInteger(Math.ceil(policy.algorithm.windowMs / 1000)));
}

/** Checks the `headers` option and returns its formats, in a fixed order, without duplicates. */
export function resolveHeaderFormats(owner: string, value: unknown): readonly HeaderFormat[] {
  if (value === undefined) return ['draft-6'];
  if (value === false) return [];
  const list: unknown[] = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw invalidOption(owner, 'headers', EXPECTED, value);
  for (const item of list) {
    if (!FORMATS.includes(item as HeaderFormat)) throw invalidOption(owner, 'headers', EXPECTED, item);
  }
  const formats = FORMATS.filter((f) => list.includes(f));
  if (formats.length !== list.length) {
    throw new FloodgateError('ERR_INVALID_OPTION', `${owner}: headers must not name a format twice, got ${list}`);
  }
  // draft-8 gives RateLimit and RateLimit-Policy a different syntax than drafts 6 and 7: sending
  // both would put two incompatible values under one field name.
  if (formats.includes('draft-8') && (formats.includes('draft-6') || formats.includes('draft-7'))) {
    throw new FloodgateError(
      'ERR_INVALID_OPTION',
      `${owner}: headers cannot combine 'draft-8' with 'draft-6' or 'draft-7' (they give RateLimit-Policy different syntaxes), got ${formats.join(', ')}`,
    );
  }
  return formats;
}

type Emit = <T>(target: T, set: SetHeader<T>, d: Decision, wallNow: number) => void;

// Header names are written in lower case: field names are case-insensitive (RFC 9110), HTTP/2
// and HTTP/3 require lower case, Fastify lowercases them anyway, and Node's setHeader skips a
// string allocation for a name that already is (it halves its cost).

/**
 * Builds the writer for a limiter's `policies` in the given formats. Policy strings, item
 * prefixes and header names are computed here, once; a request only formats its own numbers.
 */
export function createHeaderWriter(
  formats: readonly HeaderFormat[],
  policies: readonly PolicySpec[],
): HeaderWriter | undefined {
  if (formats.length === 0) return undefined;
  const emits: Emit[] = [];
  // A policy list for drafts 6 and 7: `limit;w=seconds`, comma-separated.
  const numericPolicy = policies.map((p) => `${headerInteger(p.algorithm.limit)};w=${windowSeconds(p)}`).join(', ');
  let policySent = false;
  for (const format of formats) {
    if (format === 'draft-6') {
      const sendPolicy = !policySent;
      policySent = true;
      emits.push((target, set, d) => {
        set(target, 'ratelimit-limit', `${headerInteger(d.limit)}`);
        set(target, 'ratelimit-remaining', `${headerInteger(d.remaining)}`);
        set(target, 'ratelimit-reset', `${resetSeconds(d)}`);
        if (sendPolicy) set(target, 'ratelimit-policy', numericPolicy);
      });
    } else if (format === 'draft-7') {
      const sendPolicy = !policySent;
      policySent = true;
      emits.push((target, set, d) => {
        set(
          target,
          'ratelimit',
          `limit=${headerInteger(d.limit)}, remaining=${headerInteger(d.remaining)}, reset=${resetSeconds(d)}`,
        );
        if (sendPolicy) set(target, 'ratelimit-policy', numericPolicy);
      });
    } else if (format === 'draft-8') {
      emits.push(draft8(policies));
    } else {
      emits.push((target, set, d, wallNow) => {
        set(target, 'x-ratelimit-limit', `${headerInteger(d.limit)}`);
        set(target, 'x-ratelimit-remaining', `${headerInteger(d.remaining)}`);
        // Epoch seconds, rounded up so the instant is never earlier than the real one.
        const ms = d.allowed ? d.resetMs : d.retryAfterMs;
        set(target, 'x-ratelimit-reset', `${headerInteger(Math.ceil((wallNow + ms) / 1000))}`);
      });
    }
  }
  const needsWallClock = formats.includes('legacy');
  const emit: Emit =
    emits.length === 1
      ? (emits[0] as Emit)
      : (target, set, decision, wallNow) => {
          for (let i = 0; i < emits.length; i++) (emits[i] as Emit)(target, set, decision, wallNow);
        };
  return {
    needsWallClock,
    write(target, set, decision, wallNow, denies = !decision.allowed) {
      const stacked = target as Stacked;
      const previous = stacked[STACK];
      const entry: StackEntry = { formats, policies, decision, wallNow, denies, previous };
      stacked[STACK] = entry;
      // The usual case, one limiter: its own precomputed writer.
      if (previous === undefined) emit(target, set, decision, wallNow);
      else writeStacked(target, set, entriesOf(entry));
    },
  };
}

/** The structured-field form (drafts 08–10): one item per policy, in the limiter's order. */
function draft8(policies: readonly PolicySpec[]): Emit {
  // Policy names are letters, digits, `_` and `-` (the core checks), so they need no escaping
  // inside a structured-field String.
  const policy = policies
    .map((p) => `"${p.name}";q=${headerInteger(p.algorithm.limit)};w=${windowSeconds(p)}`)
    .join(', ');
  const first = policies[0] as PolicySpec;
  if (policies.length === 1) {
    const item = `"${first.name}";r=`;
    return (target, set, d) => {
      set(target, 'ratelimit-policy', policy);
      set(target, 'ratelimit', `${item}${headerInteger(d.remaining)};t=${resetSeconds(d)}`);
    };
  }
  const names = policies.map((p) => p.name);
  const items = names.map((name) => `"${name}";r=`);
  // A degraded decision (the store failed) carries no per-policy view: it describes the policy
  // with the smallest limit, as the limiter does (first on ties).
  let smallest = first;
  for (const p of policies) if (p.algorithm.limit < smallest.algorithm.limit) smallest = p;
  const degradedItem = `"${smallest.name}";r=`;
  return (target, set, d) => {
    set(target, 'ratelimit-policy', policy);
    const each = d.policies;
    if (each === undefined) {
      set(target, 'ratelimit', `${degradedItem}${headerInteger(d.remaining)};t=${resetSeconds(d)}`);
      return;
    }
    let value = '';
    for (let i = 0; i < names.length; i++) {
      const p = each[names[i] as string];
      if (p === undefined) continue;
      value += `${value === '' ? '' : ', '}${items[i]}${headerInteger(p.remaining)};t=${resetSeconds(p)}`;
    }
    set(target, 'ratelimit', value);
  };
}
