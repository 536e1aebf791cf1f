import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Decision } from 'floodgate';
import type { RequestEnd } from './counting.js';
import type { Engine } from './engine.js';
import { retryAfterSeconds } from './headers.js';
import { createLifecycle, isHeaderValue, type Port } from './lifecycle.js';
import type { Notices } from './notices.js';
import { invalidOption, isThenable } from './validate.js';

const OWNER = 'floodgate';

/**
 * The error a limited request fails with. It goes through the app's error handler like any
 * Fastify error; the default handler answers
 * `{ statusCode: 429, code: 'ERR_RATE_LIMITED', error: 'Too Many Requests', message }`.
 */
export class RateLimitedError extends Error {
  /** The response status (the `statusCode` option, 429 by default). */
  readonly statusCode: number;
  /** A stable code to match on in an error handler. */
  readonly code = 'ERR_RATE_LIMITED';
  /** The Decision that limited the request. */
  readonly decision: Decision;

  constructor(message: string, statusCode: number, decision: Decision) {
    super(message);
    this.name = 'RateLimitedError';
    this.statusCode = statusCode;
    this.decision = decision;
  }
}

/** The `message` option of the Fastify adapter. */
export type Message = string | ((request: FastifyRequest, decision: Decision) => string);
/** A callback-style request hook (onRequest or preHandler). */
export type Hook = (
  this: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
) => void;

/** What ends a request that should be given back. */
type End = RequestEnd<FastifyRequest, FastifyReply>;

/** The hooks one limit adds to a route: the request hook, and onResponse when requests are given back. */
export interface Hooks {
  readonly request: Hook;
  readonly onResponse: Hook | undefined;
}

/** Everything one route's hook needs, resolved once when the route is added. */
export interface RouteLimit {
  readonly engine: Engine<FastifyRequest, FastifyReply>;
  readonly message: Message | undefined;
}

/** The client IP as Fastify resolves it under its trustProxy option. */
export function clientIp(request: FastifyRequest): string | undefined {
  return request.ip;
}

function setHeader(reply: FastifyReply, name: string, value: string): void {
  reply.header(name, value);
}

export function resolveMessage(owner: string, value: unknown): Message | undefined {
  if (value === undefined || typeof value === 'string' || typeof value === 'function') return value as Message;
  throw invalidOption(owner, 'message', 'a string or a function returning one', value);
}

function messageOf(limit: RouteLimit, request: FastifyRequest, decision: Decision): string {
  const { message } = limit;
  if (message === undefined) {
    const seconds = retryAfterSeconds(decision);
    return `Rate limit exceeded, retry in ${seconds} second${seconds === '1' ? '' : 's'}`;
  }
  if (typeof message === 'string') return message;
  const text: unknown = message(request, decision);
  if (typeof text === 'string') return text;
  // The error's message is needed now, so the function is sync (an async body belongs in the
  // app's error handler); a promise would otherwise read "[object Promise]". Its rejection is
  // handled here, or Node would end the process on it as an unhandled one.
  if (isThenable(text)) text.then(undefined, () => {});
  throw invalidOption(limit.engine.owner, 'message', 'a string or a function returning one synchronously', text);
}

/** Applies a Decision: headers, hooks, then `done()` or `done(RateLimitedError)`. */
/** Once-only check, on the first request carrying X-Forwarded-For: did Fastify use it? */
function checkForwardedFor(request: FastifyRequest, notices: Notices): void {
  if (request.headers['x-forwarded-for'] === undefined) return;
  notices.forwardedForDone = true;
  // `request.ips` is the socket address followed by the X-Forwarded-For entries Fastify trusted,
  // and is missing when trustProxy is off: one entry or none means the header was ignored.
  const ips = request.ips;
  if (ips === undefined || ips.length <= 1) {
    notices.once(
      'FLOODGATE_UNTRUSTED_FORWARDED_FOR',
      `${OWNER}: a request carries X-Forwarded-For but Fastify ignored it (trustProxy is off, does not list this peer, or is a hop count, which recent Fastify releases no longer trust), so every client behind the proxy shares one rate-limit key, the proxy's; set trustProxy to your proxies' addresses`,
    );
  }
}

/**
 * The hooks for one route: the request hook runs the shared lifecycle (see createLifecycle),
 * ending in `done()` or `done(RateLimitedError)`; with `skipFailedRequests` or
 * `skipSuccessfulRequests`, an onResponse hook and the raw response's 'close' (a client that gave
 * up before the response) give the request back when it ends, once, whichever comes first.
 */
export function makeHooks(limit: RouteLimit, _notices: Notices): Hooks {
  const { engine } = limit;
  const { counting, statusCode } = engine;
  // The end of each watched request in flight, for the onResponse hook to find.
  const ends = new WeakMap<FastifyRequest, End>();

  const port: Port<FastifyRequest, FastifyReply, HookHandlerDoneFunction> = {
    checkProxy: checkForwardedFor,
    setHeader,
    getHeader: (reply, name) => reply.getHeader(name),
    answered: (reply) => reply.sent,
    stopWhenAnswered: false,
    // The status is left to the error handler, which reads the error's `statusCode`: setting it
    // here would stick (Fastify remembers a status once set), so a handler that redirects or
    // rewrites the response would send it with the limit's status.
    beginLimit: () => undefined,
    // The status was never set (see beginLimit); `Retry-After` goes back to what it was, if anything.
    undoLimit(reply, { retryAfter }) {
      if (isHeaderValue(retryAfter)) reply.header('retry-after', retryAfter);
      else reply.removeHeader('retry-after');
    },
    limit(request, _reply, done, decision) {
      done(new RateLimitedError(messageOf(limit, request, decision), statusCode, decision));
    },
    pass: (done) => done(),
    fail: (done, error) => done(error),
    watchEnd(request, reply, end) {
      const raw = reply.raw;
      // A client gone while the decision was pending: 'close' has fired already.
      if (raw.destroyed && !raw.writableFinished) {
        end.end(false, reply.statusCode);
        return;
      }
      ends.set(request, end);
      raw.on('close', () => end.end(raw.writableFinished, reply.statusCode));
    },
  };

  const onResponse: Hook | undefined =
    counting === undefined
      ? undefined
      : function floodgateOnResponse(request, reply, done) {
          const end = ends.get(request);
          if (end !== undefined) {
            ends.delete(request);
            end.end(true, reply.statusCode);
          }
          done();
        };

  return { request: createLifecycle(engine, port), onResponse };
}
