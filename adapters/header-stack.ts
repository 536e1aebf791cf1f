import type { Decision, PolicySpec } from 'floodgate';
import type { HeaderFormat, SetHeader } from './headers.js';
import { headerInteger, resetSeconds } from './headers.js';

/**
 * What one limiter wrote on a response, kept on the response so that a later limiter on the same
 * request adds to it. Entries are linked newest first; the first limiter pays one object.
 */
export interface StackEntry {
  readonly formats: readonly HeaderFormat[];
  readonly policies: readonly PolicySpec[];
  readonly decision: Decision;
  /** `Date.now()` at the decision, or 0 when this limiter sends no legacy headers. */
  readonly wallNow: number;
  /** Whether this limiter is answering the request with its limited response. */
  readonly denies: boolean;
  readonly previous: StackEntry | undefined;
}

/** Where a response keeps its {@link StackEntry}: a symbol, so it clashes with nothing of the app's. */
export const STACK: unique symbol = Symbol('floodgate.headers');

/** A response as the header writer sees it: any object, with floodgate's entry once written. */
export type Stacked = { [STACK]?: StackEntry };

/** drafts 6 and 7 share the field names of draft 8, with another syntax. */
function family(format: HeaderFormat): 'sf' | 'numeric' | 'legacy' {
  if (format === 'draft-8') return 'sf';
  return format === 'legacy' ? 'legacy' : 'numeric';
}

/**
 * The formats of a response several limiters wrote: every format any of them asked for, except
 * where draft-8 and drafts 6/7 meet (they give `RateLimit` and `RateLimit-Policy` different
 * syntaxes): the family the first limiter chose is kept, and a later limiter's numbers are written
 * in it instead.
 */
export function stackedFormats(entries: readonly StackEntry[]): readonly HeaderFormat[] {
  const out: HeaderFormat[] = [];
  let rateLimitFamily: 'sf' | 'numeric' | undefined;
  for (const entry of entries) {
    for (const format of entry.formats) {
      const f = family(format);
      if (f !== 'legacy') {
        rateLimitFamily ??= f;
        if (f !== rateLimitFamily) continue;
      }
      if (!out.includes(format)) out.push(format);
    }
  }
  return out;
}

/**
 * The entry whose numbers the single-valued fields show: the limiter answering with its limited
 * response if there is one; else the most restrictive view, least remaining, then the longest
 * wait until the key is full again.
 */
function binding(entries: readonly StackEntry[]): StackEntry {
  let best = entries[0] as StackEntry;
  for (const entry of entries) {
    if (entry.denies) return entry;
    const r = headerInteger(entry.decision.remaining);
    const bestR = headerInteger(best.decision.remaining);
    if (r < bestR || (r === bestR && resetSeconds(entry.decision) > resetSeconds(best.decision))) best = entry;
  }
  return best;
}

function windowSeconds(policy: PolicySpec): number {
  return Math.max(1, headerInteger(Math.ceil(policy.algorithm.windowMs / 1000)));
}

/** `name`, or `name-2`, `name-3`, … when an earlier limiter on the response already used it. */
function uniqueName(name: string, used: Set<string>): string {
  let unique = name;
  for (let i = 2; used.has(unique); i++) unique = `${name}-${i}`;
  used.add(unique);
  return unique;
}

/** The draft-8 items of every limiter, each policy under a name unique on the response. */
function draft8(entries: readonly StackEntry[]): { policy: string; limit: string } {
  const used = new Set<string>();
  const policy: string[] = [];
  const limit: string[] = [];
  for (const { policies, decision } of entries) {
    let smallest = policies[0] as PolicySpec;
    for (const p of policies) if (p.algorithm.limit < smallest.algorithm.limit) smallest = p;
    for (const p of policies) {
      const name = uniqueName(p.name, used);
      policy.push(`"${name}";q=${headerInteger(p.algorithm.limit)};w=${windowSeconds(p)}`);
      // One policy: the decision is its own. Several: each policy's own view, or for a degraded
      // decision (no per-policy view) the smallest policy's, as a single limiter writes it.
      const own =
        policies.length === 1
          ? decision
          : (decision.policies?.[p.name] ?? (decision.policies === undefined && p === smallest ? decision : undefined));
      if (own !== undefined) limit.push(`"${name}";r=${headerInteger(own.remaining)};t=${resetSeconds(own)}`);
    }
  }
  return { policy: policy.join(', '), limit: limit.join(', ') };
}

/** Every limiter's entries, oldest first. */
export function entriesOf(last: StackEntry): StackEntry[] {
  const entries: StackEntry[] = [];
  for (let e: StackEntry | undefined = last; e !== undefined; e = e.previous) entries.unshift(e);
  return entries;
}

/**
 * Writes the headers of every limiter that has decided on this response so far: draft-8 lists
 * each limiter's policies; the single-valued fields (drafts 6 and 7, legacy) show the
 * {@link binding} entry, and drafts 6/7's `RateLimit-Policy` lists every limiter's policies.
 */
export function writeStacked<T>(target: T, set: SetHeader<T>, entries: readonly StackEntry[]): void {
  const formats = stackedFormats(entries);
  const bound = binding(entries);
  const d = bound.decision;
  let numericPolicySent = false;
  const numericPolicy = (): string =>
    entries
      .flatMap((e) => e.policies.map((p) => `${headerInteger(p.algorithm.limit)};w=${windowSeconds(p)}`))
      .join(', ');
  for (const format of formats) {
    if (format === 'draft-6') {
      set(target, 'ratelimit-limit', `${headerInteger(d.limit)}`);
      set(target, 'ratelimit-remaining', `${headerInteger(d.remaining)}`);
      set(target, 'ratelimit-reset', `${resetSeconds(d)}`);
    } else if (format === 'draft-7') {
      set(
        target,
        'ratelimit',
        `limit=${headerInteger(d.limit)}, remaining=${headerInteger(d.remaining)}, reset=${resetSeconds(d)}`,
      );
    } else if (format === 'draft-8') {
      const { policy, limit } = draft8(entries);
      set(target, 'ratelimit-policy', policy);
      set(target, 'ratelimit', limit);
    } else {
      // An entry from a limiter without legacy headers did not read the wall clock; the
      // microseconds since its decision do not move a whole-second reset.
      const wallNow = bound.wallNow === 0 ? Date.now() : bound.wallNow;
      const ms = d.allowed ? d.resetMs : d.retryAfterMs;
      set(target, 'x-ratelimit-limit', `${headerInteger(d.limit)}`);
      set(target, 'x-ratelimit-remaining', `${headerInteger(d.remaining)}`);
      set(target, 'x-ratelimit-reset', `${headerInteger(Math.ceil((wallNow + ms) / 1000))}`);
    }
    if ((format === 'draft-6' || format === 'draft-7') && !numericPolicySent) {
      numericPolicySent = true;
      set(target, 'ratelimit-policy', numericPolicy());
    }
  }
}
