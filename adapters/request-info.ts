import { IncomingMessage } from 'node:http';
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

/**
 * The properties a request gets that Node's request prototype (see {@link requestHas}) does not
 * list: Node's per-request fields, Express's request methods and the fields its app, router and
 * body parsers set, and Fastify's request members (4 and 5; `ips` with trustProxy).
 */
const FRAMEWORK_PROPERTIES: ReadonlySet<string> = new Set([
  // Node: http.IncomingMessage's own fields.
  ...['socket', 'client', 'url', 'method', 'httpVersion', 'httpVersionMajor', 'httpVersionMinor'],
  ...['complete', 'aborted', 'upgrade', 'rawHeaders', 'rawTrailers', 'statusCode', 'statusMessage'],
  ...['joinDuplicateHeaders', '_readableState', '_consuming', '_dumped'],
  // Express 4 and 5: the request prototype, then what the app, the router and body parsers set.
  ...['header', 'get', 'accepts', 'acceptsEncodings', 'acceptsEncoding', 'acceptsCharsets', 'acceptsCharset'],
  ...['acceptsLanguages', 'acceptsLanguage', 'range', 'param', 'query', 'is', 'protocol', 'secure', 'ip', 'ips'],
  ...['subdomains', 'path', 'host', 'hostname', 'fresh', 'stale', 'xhr'],
  ...['app', 'res', 'next', 'params', 'baseUrl', 'originalUrl', 'route', '_parsedUrl', '_parsedOriginalUrl'],
  ...['body', '_body', 'length'],
  // Fastify 4 and 5.
  ...['id', 'raw', 'log', 'server', 'routeOptions', 'routeConfig', 'routeSchema', 'routerPath', 'routerMethod'],
  ...['context', 'is404', 'signal', 'port', 'mediaType', 'additionalHeaders', 'validationError'],
  ...['getValidationFunction', 'compileValidationSchema', 'validateInput', 'getDecorator', 'setDecorator'],
]);

/**
 * Whether a request already has `name`, so that putting the Decision there would replace what
 * the framework, Node or the app read: `__proto__` would swap the request's prototype for the
 * Decision (Express: the process dies in Node's HTTP code), a getter without a setter (`ip`)
 * would throw on every request, and the rest hide a field or method something calls. One list
 * for both adapters, so a name that works with one works with the other: every object's names
 * and Node's request's (its prototype chain, which ends at `Object.prototype`), and the
 * properties above. Names the app or another plugin adds (`user`, `session`) are the app's to
 * keep apart.
 */
function requestHas(name: string): boolean {
  return name in IncomingMessage.prototype || FRAMEWORK_PROPERTIES.has(name);
}

export function resolveRequestProperty(owner: string, value: unknown): string | undefined {
  if (value === undefined) return DEFAULT_REQUEST_PROPERTY;
  if (value === false) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw invalidOption(owner, 'requestPropertyName', 'a non-empty string, or false for none', value);
  }
  if (requestHas(value)) {
    throw invalidOption(
      owner,
      'requestPropertyName',
      'a name the request does not have already (not __proto__, nor a property Node, Express or Fastify give a request, such as ip, headers or body), or false for none',
      value,
    );
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
