import type { Decision } from 'floodgate';
import { headerInteger, resetSeconds } from './headers.js';
import { invalidOption } from './validate.js';

/** What the limiters so far decided for a request, as `req.rateLimit` holds it. */
export interface RateLimitInfo extends Decision {
  /** The key the binding limiter counted the request under. */
  readonly key: string;
}

/** The default name of the request property; see `requestPropertyName`. */
export const DEFAULT_REQUEST_PROPERTY = 'rateLimit';

export function resolveRequestProperty(owner: string, value: unknown): string | undefined {
  if (value === undefined) return DEFAULT_REQUEST_PROPERTY;
  if (value === false) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw invalidOption(owner, 'requestPropertyName', 'a non-empty string, or false for none', value);
  }
  return value;
}

/**
 * Whether `next` binds over `prior`: a limiter answering with its limited response always does;
 * otherwise the one with less remaining, then the longer wait until full again, as the headers
 * choose (see header-stack.ts).
 */
function binds(next: Decision, denies: boolean, prior: Decision): boolean {
  if (denies) return true;
  const r = headerInteger(next.remaining);
  const priorR = headerInteger(prior.remaining);
  return r < priorR || (r === priorR && resetSeconds(next) > resetSeconds(prior));
}

/**
 * Puts the Decision on the request under `name`, unless an earlier limiter on the same request
 * left a more binding one there: stacked limiters leave the one that binds.
 */
export function recordOnRequest(req: object, name: string, decision: Decision, key: string, denies: boolean): void {
  const target = req as Record<string, unknown>;
  const prior = target[name];
  if (typeof prior === 'object' && prior !== null && !binds(decision, denies, prior as Decision)) return;
  target[name] = withKey(decision, key);
}

/**
 * The Decision with its key, built field by field: one object shape for every request, where a
 * spread would copy whichever optional fields this Decision has (and costs several times more).
 */
function withKey(d: Decision, key: string): RateLimitInfo {
  const info: { -readonly [K in keyof RateLimitInfo]: RateLimitInfo[K] } = {
    allowed: d.allowed,
    limit: d.limit,
    remaining: d.remaining,
    resetMs: d.resetMs,
    retryAfterMs: d.retryAfterMs,
    key,
  };
  if (d.policy !== undefined) info.policy = d.policy;
  if (d.policies !== undefined) info.policies = d.policies;
  if (d.degraded !== undefined) info.degraded = d.degraded;
  if (d.cause !== undefined) info.cause = d.cause;
  if (d.blocked !== undefined) info.blocked = d.blocked;
  return info;
}
