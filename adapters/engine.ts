import { createLimiter, type Decision, FloodgateError, type Limiter, type LimiterOptions } from 'floodgate';
import { type Counting, type RequestWasSuccessful, resolveCounting } from './counting.js';
import {
  createHeaderWriter,
  type HeaderFormat,
  type HeadersOption,
  type HeaderWriter,
  resolveHeaderFormats,
} from './headers.js';
import { createIpKey, type Ipv6Subnet, resolveIpv6Subnet } from './ip.js';
import { LimiterPicks, type Notices } from './notices.js';
import { resolveRequestProperty } from './request-info.js';
import { invalidOption, optionalBoolean, optionalFunction } from './validate.js';

/**
 * Picks the limiter of a request (sync or async) among limiters the app made once, at startup:
 * a plan's limiter for the user's plan, a route group's. A limiter made inside it, per request,
 * would start every request with an empty count (see `FLOODGATE_LIMITER_PER_REQUEST`).
 */
export type LimiterFunction<Req, Res> = (req: Req, res: Res) => Limiter | PromiseLike<Limiter>;

/**
 * Options both adapters share. `Req` and `Res` are the framework's request and response (Express
 * `Request`/`Response`, Fastify `FastifyRequest`/`FastifyReply`).
 */
export interface CommonOptions<Req, Res> extends LimiterOptions {
  /**
   * A ready limiter, or a function of the request picking one of the app's limiters (see
   * {@link LimiterFunction}). Give either this or the {@link LimiterOptions} (`algorithm` or
   * `policies`, with `store`, `prefix`, `blockDurationMs`, `onStoreError`, `onOutage`) to have one
   * made here.
   */
  limiter?: Limiter | LimiterFunction<Req, Res>;
  /** Which rate-limit headers to send; see {@link HeadersOption}. Defaults to `'draft-6'`. */
  headers?: HeadersOption;
  /** Status of a limited response, 400 to 599. Defaults to 429. */
  statusCode?: number;
  /** Returns true for requests the limiter should not see at all (no headers, no charge). Sync or async. */
  skip?: (req: Req, res: Res) => boolean | PromiseLike<boolean>;
  /**
   * What a request costs: a positive integer no larger than the smallest limit, or a function
   * returning a non-negative one (sync or async). Defaults to 1.
   *
   * A function's 0 makes that request free: it is never charged, and it is let through even when
   * the key has nothing left. A free request is allowed unless the key is blocked (`limiter.block`,
   * a `blockDurationMs` lock-out) or the store fails under `onStoreError: 'deny'`. A fixed
   * `cost: 0` is refused with `ERR_INVALID_OPTION`: it would make every request free, so nothing
   * would ever be limited.
   */
  cost?: number | ((req: Req, res: Res) => number | PromiseLike<number>);
  /**
   * The key a request is counted under, sync or async. Defaults to the client IP as the framework
   * resolves it under its trust-proxy setting (`req.ip`), grouped per {@link CommonOptions.ipv6Subnet}.
   */
  keyGenerator?: (req: Req, res: Res) => string | PromiseLike<string>;
  /**
   * Prefix length IPv6 clients are grouped by for the default key, or `false` to count each
   * address alone. IPv4-mapped addresses (`::ffff:203.0.113.7`) and addresses in the well-known
   * NAT64 prefix (`64:ff9b::203.0.113.7`) always count as the IPv4 address inside. Defaults to 56.
   */
  ipv6Subnet?: number | false;
  /**
   * Decide, send the headers and call the hooks, but never block: for rolling out a new limit
   * and watching `onLimited` before enforcing it. Defaults to false.
   */
  shadow?: boolean;
  /**
   * Called with every Decision (allowed, limited or shadowed), for metrics. A throw goes to the
   * error path. A returned promise is not awaited: if it rejects, the once-only warning
   * `FLOODGATE_ON_DECISION_REJECTED` says so.
   */
  onDecision?: (req: Req, decision: Decision) => void;
  /**
   * Called when a request is limited (or would be, in shadow mode), after the headers are set and
   * before the body is sent; on Express the status is set too, on Fastify it is left to the error
   * handler. Sending a response from here replaces the default one.
   * It runs synchronously: to build a body asynchronously use Express's `message` function or
   * Fastify's error handler. A throw goes to the error path; a returned promise is not awaited,
   * and if it rejects, the once-only warning `FLOODGATE_ON_LIMITED_REJECTED` says so.
   */
  onLimited?: (req: Req, res: Res, decision: Decision) => void;
  /**
   * Give a request back to the limiter once its response has failed ({@link
   * CommonOptions.requestWasSuccessful} says no) or its client has gone before the response:
   * only successful requests count. The request is charged on arrival, so the limit holds for
   * requests still in flight, and refunded (`limiter.refund`) once it has ended. Defaults to false.
   */
  skipFailedRequests?: boolean;
  /**
   * Give a request back to the limiter once its response has succeeded: only failed requests
   * count (failed logins, for a brute-force limit). With {@link CommonOptions.skipFailedRequests}
   * too, every request is given back when it ends, which limits requests in flight. Defaults to false.
   */
  skipSuccessfulRequests?: boolean;
  /**
   * Whether a finished request succeeded, sync or async, for the two skip options. Runs after the
   * response is sent; a throw leaves the request counted (and gives the once-only warning
   * `FLOODGATE_REQUEST_WAS_SUCCESSFUL_FAILED`). Defaults to a status below 400.
   */
  requestWasSuccessful?: RequestWasSuccessful<Req, Res>;
  /**
   * The request property the Decision is put on, with the `key` (`req.rateLimit` on Express,
   * `request.rateLimit` on Fastify), for handlers to read; `false` for none. With several limiters
   * on a request it holds the one that binds: the limiting one, else the one with least remaining.
   * Only the default name is typed. A name the request already has (`__proto__`, or a property Node,
   * Express or Fastify give it: `ip`, `headers`, `body`, …) is refused. Defaults to `'rateLimit'`.
   */
  requestPropertyName?: string | false;
}

/** Reads the client IP of a request as the framework resolves it (`req.ip`), or undefined. */
export type ClientIp<Req> = (req: Req) => string | undefined;

/** Options resolved once; the hot path reads only these fields. */
export interface Engine<Req, Res> {
  readonly owner: string;
  /** The limiter, when one was given or made; undefined when a function picks it per request. */
  readonly limiter: Limiter | undefined;
  readonly limiterOf: LimiterFunction<Req, Res> | undefined;
  /** The header writer of the fixed limiter. */
  readonly writer: HeaderWriter | undefined;
  /** The header writer of a limiter the function picked, made once per limiter. */
  writerFor(limiter: Limiter | undefined): HeaderWriter | undefined;
  readonly picks: LimiterPicks;
  readonly statusCode: number;
  readonly shadow: boolean;
  readonly skip: ((req: Req, res: Res) => boolean | PromiseLike<boolean>) | undefined;
  readonly cost: ((req: Req, res: Res) => number | PromiseLike<number>) | undefined;
  readonly fixedCost: number;
  readonly keyGenerator: ((req: Req, res: Res) => string | PromiseLike<string>) | undefined;
  readonly clientIp: ClientIp<Req>;
  readonly ipKey: (ip: string) => string;
  readonly onDecision: ((req: Req, decision: Decision) => void) | undefined;
  readonly onLimited: ((req: Req, res: Res, decision: Decision) => void) | undefined;
  readonly notices: Notices;
  /** Which requests are refunded when they end; undefined when none are. */
  readonly counting: Counting<Req, Res> | undefined;
  /** The request property the Decision goes on; undefined for none. */
  readonly requestProperty: string | undefined;
}

export const LIMITER_OPTIONS = [
  'algorithm',
  'policies',
  'store',
  'prefix',
  'blockDurationMs',
  'onStoreError',
  'onOutage',
] as const;
export const ENGINE_OPTIONS = [
  'limiter',
  ...LIMITER_OPTIONS,
  'headers',
  'statusCode',
  'skip',
  'cost',
  'keyGenerator',
  'ipv6Subnet',
  'shadow',
  'onDecision',
  'onLimited',
  'skipFailedRequests',
  'skipSuccessfulRequests',
  'requestWasSuccessful',
  'requestPropertyName',
] as const;

export function isLimiter(value: unknown): value is Limiter {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Limiter).decide === 'function' &&
    Array.isArray((value as Limiter).policies)
  );
}

/** Whether `given` names a limiter of its own (`limiter`, or any createLimiter option). */
export function hasOwnLimiter(given: Record<string, unknown>): boolean {
  if (given.limiter !== undefined) return true;
  for (const name of LIMITER_OPTIONS) if (given[name] !== undefined) return true;
  return false;
}

/** The limiter `given` names: the ready one, one made from the createLimiter options, or the function picking one. */
export function resolveLimiter(
  owner: string,
  given: Record<string, unknown>,
): Limiter | LimiterFunction<unknown, unknown> {
  const inline = LIMITER_OPTIONS.filter((name) => given[name] !== undefined);
  if (given.limiter !== undefined) {
    if (inline.length > 0) {
      throw new FloodgateError(
        'ERR_INVALID_OPTION',
        `${owner}: give either limiter or the createLimiter options, not both; got limiter and ${inline.join(', ')}`,
      );
    }
    if (typeof given.limiter === 'function') return given.limiter as LimiterFunction<unknown, unknown>;
    if (!isLimiter(given.limiter)) {
      throw invalidOption(
        owner,
        'limiter',
        'a limiter from createLimiter({...}) or a function of the request returning one',
        given.limiter,
      );
    }
    return given.limiter;
  }
  if (inline.length === 0) {
    throw new FloodgateError('ERR_INVALID_OPTION', `${owner}: limiter or algorithm/policies is required, got neither`);
  }
  // Said here, naming the adapter: createLimiter's own error would name a function never called.
  if (given.algorithm === undefined && given.policies === undefined) {
    throw new FloodgateError(
      'ERR_INVALID_OPTION',
      `${owner}: ${inline.join(', ')} given without algorithm or policies; give algorithm or policies with ${inline.length === 1 ? 'it' : 'them'}, or a limiter`,
    );
  }
  const options: Record<string, unknown> = {};
  for (const name of inline) options[name] = given[name];
  try {
    return createLimiter(options as LimiterOptions);
  } catch (error) {
    // The options were given to the adapter: its name leads the message, not that of a function
    // the application never called. createLimiter's own error stays as the cause.
    const from = 'createLimiter: ';
    if (error instanceof FloodgateError && error.code === 'ERR_INVALID_OPTION' && error.message.startsWith(from)) {
      throw new FloodgateError('ERR_INVALID_OPTION', `${owner}: ${error.message.slice(from.length)}`, { cause: error });
    }
    throw error;
  }
}

function resolveStatusCode(owner: string, value: unknown): number {
  if (value === undefined) return 429;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 400 || value > 599) {
    throw invalidOption(owner, 'statusCode', 'an integer HTTP status from 400 to 599', value);
  }
  return value;
}

/**
 * Checks a fixed `cost`. Its bound, the smallest limit, depends on the limiter: without one (the
 * Fastify plugin with `global: false` and no limiter of its own) only the rest is checked, and
 * each route checks the bound against its own limiter.
 *
 * A fixed cost of 0 is refused though the limiter takes it: every request would be free, let
 * through even on a spent key, so the middleware would never limit anything. A cost function may
 * still return 0 for the requests it means to be free.
 */
function resolveFixedCost(owner: string, value: unknown, limiter: Limiter | undefined): number {
  let smallest = Number.POSITIVE_INFINITY;
  if (limiter !== undefined) for (const p of limiter.policies) smallest = Math.min(smallest, p.algorithm.limit);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > smallest) {
    const bound = limiter === undefined ? '' : ` (${smallest})`;
    const expected = `a function or a positive integer no larger than the smallest limit${bound}`;
    if (value === 0) {
      throw new FloodgateError(
        'ERR_INVALID_OPTION',
        `${owner}: cost must be ${expected}, got 0: a fixed cost of 0 charges nothing, so it would never limit; ` +
          'use skip to leave requests unlimited, or a cost function returning 0 for the ones that are free',
      );
    }
    throw invalidOption(owner, 'cost', expected, value);
  }
  return value;
}

/** The shared options that do not depend on the limiter, checked by {@link checkEngineOptions}. */
export interface EngineSettings<Req, Res> {
  readonly formats: readonly HeaderFormat[];
  readonly statusCode: number;
  readonly shadow: boolean;
  readonly skip: Engine<Req, Res>['skip'];
  readonly cost: Engine<Req, Res>['cost'];
  readonly fixedCost: number;
  readonly keyGenerator: Engine<Req, Res>['keyGenerator'];
  readonly ipKey: (ip: string) => string;
  readonly onDecision: Engine<Req, Res>['onDecision'];
  readonly onLimited: Engine<Req, Res>['onLimited'];
  readonly counting: Engine<Req, Res>['counting'];
  readonly requestProperty: Engine<Req, Res>['requestProperty'];
}

/**
 * Checks every shared option but the createLimiter ones. With `limiter`, a fixed `cost` is also
 * checked against its smallest limit; without, that part waits for the limiter (see
 * {@link resolveFixedCost}). `given` has been checked for unknown names by the caller.
 */
export function checkEngineOptions<Req, Res>(
  owner: string,
  given: Record<string, unknown>,
  limiter: Limiter | undefined,
): EngineSettings<Req, Res> {
  const formats = resolveHeaderFormats(owner, given.headers);
  let cost: Engine<Req, Res>['cost'];
  let fixedCost = 1;
  if (typeof given.cost === 'function') cost = given.cost as Engine<Req, Res>['cost'];
  else if (given.cost !== undefined) fixedCost = resolveFixedCost(owner, given.cost, limiter);
  const ipv6Subnet: Ipv6Subnet = resolveIpv6Subnet(owner, given.ipv6Subnet);
  return {
    formats,
    statusCode: resolveStatusCode(owner, given.statusCode),
    shadow: optionalBoolean(owner, 'shadow', given.shadow, false),
    skip: optionalFunction(owner, 'skip', given.skip),
    cost,
    fixedCost,
    keyGenerator: optionalFunction(owner, 'keyGenerator', given.keyGenerator),
    ipKey: createIpKey(ipv6Subnet),
    onDecision: optionalFunction(owner, 'onDecision', given.onDecision),
    onLimited: optionalFunction(owner, 'onLimited', given.onLimited),
    counting: resolveCounting<Req, Res>(owner, given),
    requestProperty: resolveRequestProperty(owner, given.requestPropertyName),
  };
}

/**
 * Resolves the shared options into an {@link Engine}. `given` has been checked for unknown names
 * by the caller; `limiter` is passed when the caller already resolved it (Fastify route configs).
 */
export function createEngine<Req, Res>(
  owner: string,
  given: Record<string, unknown>,
  notices: Notices,
  clientIp: ClientIp<Req>,
  source: Limiter | LimiterFunction<unknown, unknown> = resolveLimiter(owner, given),
): Engine<Req, Res> {
  const limiter = typeof source === 'function' ? undefined : source;
  const limiterOf = typeof source === 'function' ? (source as LimiterFunction<Req, Res>) : undefined;
  // A fixed cost's bound is the fixed limiter's smallest limit; a picked limiter checks it itself
  // (a cost past its limit fails that request with ERR_COST_EXCEEDS_LIMIT).
  const { formats, ...settings } = checkEngineOptions<Req, Res>(owner, given, limiter);
  const writer = limiter === undefined ? undefined : createHeaderWriter(formats, limiter.policies);
  const writers = new WeakMap<Limiter, HeaderWriter | undefined>();
  return {
    ...settings,
    owner,
    limiter,
    limiterOf,
    writer,
    writerFor(picked) {
      if (picked === undefined) return undefined;
      if (picked === limiter) return writer;
      if (!writers.has(picked)) writers.set(picked, createHeaderWriter(formats, picked.policies));
      return writers.get(picked);
    },
    picks: new LimiterPicks(owner, notices),
    clientIp,
    notices,
  };
}
