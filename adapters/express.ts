import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Decision, Limiter } from 'floodgate';
import { type CommonOptions, createEngine, ENGINE_OPTIONS, type Engine, type LimiterFunction } from './engine.js';
import { asError } from './errors.js';
import { createLifecycle, isHeaderValue, type Port, type Prior } from './lifecycle.js';
import { checkCreatedInRequest, Notices, resolveWarn, type WarningHandler } from './notices.js';
import type { RateLimitInfo } from './request-info.js';
import { checkOptionsObject, invalidOption, isThenable, migrationHint } from './validate.js';

export type { LimiterFunction } from './engine.js';
export type { HeaderFormat, HeadersOption } from './headers.js';
export { ipKeyGenerator } from './ip.js';
export type { WarningCode, WarningHandler } from './notices.js';
export type { RateLimitInfo } from './request-info.js';

declare global {
  // Express types its request through this global namespace; merging into it is how a
  // middleware adds a typed property (the module form would need express-serve-static-core).
  namespace Express {
    interface Request {
      /**
       * What the rate limiters so far decided for this request, with the key it was counted
       * under: the binding one when several ran. Set by `rateLimit` (under another name with
       * `requestPropertyName`); undefined before any did, or when `skip` let the request by.
       */
      rateLimit?: RateLimitInfo;
    }
  }
}

/** A response body: text (sent as `text/plain`) or an object (sent as JSON). */
export type MessageBody = string | Record<string, unknown> | readonly unknown[];

/** The middleware {@link rateLimit} returns, with its limiter. */
export interface RateLimitMiddleware<L extends Limiter | undefined = Limiter> extends RequestHandler {
  /**
   * The limiter the middleware counts with: to `reset`, `block` or `peek` a key from elsewhere.
   * Undefined when a `limiter` function picks one per request.
   */
  readonly limiter: L;
}

/** Options of {@link rateLimit}. */
export interface RateLimitOptions extends CommonOptions<Request, Response> {
  /**
   * The body of a limited response: text, an object sent as JSON, or a function of the request
   * and the Decision returning either (sync or async). Defaults to
   * `'Too many requests, please try again later.'`.
   */
  message?: MessageBody | ((req: Request, res: Response, decision: Decision) => MessageBody | PromiseLike<MessageBody>);
  /**
   * Where the once-only setup warnings go (trust-proxy mistakes, a request without a client IP),
   * or `false` to silence them. Defaults to `process.emitWarning`.
   */
  warn?: WarningHandler | false;
}

const OWNER = 'rateLimit';
const KNOWN: readonly string[] = [...ENGINE_OPTIONS, 'message', 'warn'];
const DEFAULT_MESSAGE = 'Too many requests, please try again later.';
const TEXT = 'text/plain; charset=utf-8';

type MessageFunction = (req: Request, res: Response, decision: Decision) => MessageBody | PromiseLike<MessageBody>;

/**
 * `req.ip`, without its cost when it could only be the socket address: with 'trust proxy' off,
 * Express's getter still parses X-Forwarded-For before returning `req.socket.remoteAddress`.
 */
function clientIp(req: Request): string | undefined {
  return req.app.settings['trust proxy'] === false ? req.socket.remoteAddress : req.ip;
}

function setHeader(res: Response, name: string, value: string): void {
  res.setHeader(name, value);
}

function send(res: Response, body: MessageBody): void {
  if (res.headersSent) return;
  if (typeof body === 'string') {
    if (res.getHeader('content-type') === undefined) res.setHeader('content-type', TEXT);
    res.send(body);
  } else {
    res.json(body);
  }
}

/**
 * Undoes a limited response's status and `Retry-After` when a hook of the app failed: the request
 * failed on a bug, not on the rate limit, so the app's error handler or Express's own should
 * answer it as any other error (500), not as a 429. A `Retry-After` the response carried before
 * (the app's own, an earlier limiter's) is put back.
 */
function undoLimit(res: Response, prior: Prior): void {
  if (res.headersSent) return;
  if (prior.status !== undefined) res.statusCode = prior.status;
  if (isHeaderValue(prior.retryAfter)) res.setHeader('retry-after', prior.retryAfter);
  else res.removeHeader('retry-after');
}

function checkBody(value: unknown): MessageBody {
  if (typeof value === 'string' || (typeof value === 'object' && value !== null)) return value as MessageBody;
  throw invalidOption(OWNER, 'message', 'a string, an object, or a function returning one', value);
}

/** Once-only checks of the app's trust-proxy setting, on the requests that can reveal a mistake. */
function checkProxySetup(req: Request, notices: Notices): void {
  if (!notices.trustAllDone) {
    notices.trustAllDone = true;
    if (req.app.get('trust proxy') === true) {
      notices.once(
        'FLOODGATE_TRUST_ALL_PROXIES',
        `${OWNER}: the app sets 'trust proxy' to true, so any client can choose its own rate-limit key by sending X-Forwarded-For; set it to the number of proxies in front of the app or to their addresses`,
      );
    }
  }
  if (req.headers['x-forwarded-for'] === undefined) return;
  notices.forwardedForDone = true;
  // `req.ips` lists the X-Forwarded-For entries Express trusted: none means the header was ignored.
  if (req.ips.length === 0) {
    notices.once(
      'FLOODGATE_UNTRUSTED_FORWARDED_FOR',
      `${OWNER}: a request carries X-Forwarded-For but Express ignored it (the app trusts no proxy, or not this peer), so every client behind the proxy shares one rate-limit key, the proxy's; set app.set('trust proxy', ...) to your proxies' addresses or hop count`,
    );
  }
}

/**
 * Express middleware (Express 4 and 5) that rate-limits requests with a floodgate limiter. Every
 * option is checked here, once; a bad one throws `ERR_INVALID_OPTION`.
 *
 * A limited request gets the status (429), `Retry-After` and the rate-limit headers, and the
 * `message` body. A store failure follows the limiter's `onStoreError`; in `'throw'` the error
 * goes to `next(err)`.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createLimiter, slidingWindowLog } from 'floodgate';
 * import { rateLimit } from 'floodgate/express';
 *
 * const app = express();
 * app.use(rateLimit({ limiter: createLimiter({ algorithm: slidingWindowLog({ limit: 100, windowMs: 60_000 }) }) }));
 * app.post('/login', rateLimit({ algorithm: slidingWindowLog({ limit: 5, windowMs: 60_000 }), prefix: 'login' }), (req, res) => {
 *   res.send('signed in');
 * });
 * ```
 */
export function rateLimit(
  options: RateLimitOptions & { limiter: LimiterFunction<Request, Response> },
): RateLimitMiddleware<undefined>;
export function rateLimit(options: RateLimitOptions): RateLimitMiddleware;
export function rateLimit(options: RateLimitOptions): RateLimitMiddleware<Limiter | undefined> {
  const given = checkOptionsObject(OWNER, options, KNOWN, true, migrationHint);
  const notices = new Notices(resolveWarn(OWNER, given.warn));
  checkCreatedInRequest(OWNER, notices);
  const engine: Engine<Request, Response> = createEngine(OWNER, given, notices, clientIp);
  let message: MessageBody | undefined;
  let messageFunction: MessageFunction | undefined;
  if (typeof given.message === 'function') messageFunction = given.message as MessageFunction;
  else message = given.message === undefined ? DEFAULT_MESSAGE : checkBody(given.message);
  const { statusCode } = engine;

  async function sendLater(
    res: Response,
    next: NextFunction,
    body: PromiseLike<MessageBody>,
    prior: Prior,
  ): Promise<void> {
    try {
      send(res, checkBody(await body));
    } catch (error) {
      undoLimit(res, prior);
      next(asError(error, OWNER, 'message'));
    }
  }

  const port: Port<Request, Response, NextFunction> = {
    checkProxy: checkProxySetup,
    setHeader,
    getHeader: (res, name) => res.getHeader(name),
    answered: (res) => res.headersSent,
    stopWhenAnswered: true,
    beginLimit(res) {
      const prior = res.statusCode;
      res.status(statusCode);
      return prior;
    },
    undoLimit,
    limit(req, res, next, decision, prior) {
      if (messageFunction === undefined) {
        send(res, message as MessageBody);
        return;
      }
      const body = messageFunction(req, res, decision);
      if (isThenable(body)) void sendLater(res, next, body, prior);
      else send(res, checkBody(body));
    },
    pass: (next) => next(),
    fail: (next, error) => next(error),
    watchEnd(_req, res, end) {
      // Ended before it was watched: its events have fired already.
      if (res.writableFinished || res.destroyed) {
        end.end(res.writableFinished, res.statusCode);
        return;
      }
      // 'finish' comes when the response is handed to the OS, 'close' when the connection goes
      // first (a client that gave up) and also after 'finish'; `res.writableFinished` tells the
      // two apart, and the end acts once, on whichever is first. One listener for both, with
      // `on`: `once` would wrap each in another closure.
      const listener = (): void => end.end(res.writableFinished, res.statusCode);
      res.on('finish', listener);
      res.on('close', listener);
    },
  };
  const floodgateMiddleware: RequestHandler = createLifecycle(engine, port);
  return Object.assign(floodgateMiddleware, { limiter: engine.limiter });
}
