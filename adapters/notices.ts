import type { Limiter } from 'floodgate';
import { invalidOption, isThenable } from './validate.js';

/** Codes of the once-only warnings the adapters give about a deployment's setup. */
export type WarningCode =
  /** X-Forwarded-For arrived but the app trusts no proxy, so every client behind the proxy shares one key. */
  | 'FLOODGATE_UNTRUSTED_FORWARDED_FOR'
  /** The app trusts every proxy, so any client can pick its own key by sending X-Forwarded-For. */
  | 'FLOODGATE_TRUST_ALL_PROXIES'
  /** A request had no client IP (a Unix socket, a closed socket); it failed with `ERR_NO_CLIENT_IP`. */
  | 'FLOODGATE_NO_CLIENT_IP'
  /** Fastify: the app became ready with no route added after the plugin, so no route is limited. */
  | 'FLOODGATE_NO_ROUTES'
  /** The `limiter` function returned a limiter it had never returned before, request after request. */
  | 'FLOODGATE_LIMITER_PER_REQUEST'
  /** The middleware (or a Fastify `app.rateLimit()` hook) was made while a request was being handled. */
  | 'FLOODGATE_CREATED_IN_REQUEST'
  /** `requestWasSuccessful` threw or rejected; the request it was asked about stays counted. */
  | 'FLOODGATE_REQUEST_WAS_SUCCESSFUL_FAILED'
  /** `onDecision` returned a promise that rejected, after the request had gone on. */
  | 'FLOODGATE_ON_DECISION_REJECTED'
  /** `onLimited` returned a promise that rejected; it is not awaited, the request is answered as decided. */
  | 'FLOODGATE_ON_LIMITED_REJECTED';

/** Receives each once-only setup warning. */
export type WarningHandler = (message: string, code: WarningCode) => void;

function emitFloodgateWarning(message: string, code: WarningCode): void {
  process.emitWarning(message, { type: 'FloodgateWarning', code });
}

export function resolveWarn(owner: string, value: unknown): WarningHandler | undefined {
  if (value === undefined) return emitFloodgateWarning;
  if (value === false) return undefined;
  if (typeof value !== 'function') throw invalidOption(owner, 'warn', 'a function or false', value);
  return value as WarningHandler;
}

/** A `limiter` function returning this many never-seen limiters in a row is making them per request. */
const FRESH_IN_A_ROW = 10;
/** The check looks at a function's first calls only: the mistake shows from the first requests. */
const PICKS_CHECKED = 1000;

/** Watches what a `limiter` function returns, for the once-only `FLOODGATE_LIMITER_PER_REQUEST`. */
export class LimiterPicks {
  #seen: WeakSet<Limiter> | undefined = new WeakSet();
  #fresh = 0;
  #calls = 0;

  constructor(
    private readonly owner: string,
    private readonly notices: Notices,
  ) {}

  saw(limiter: Limiter): void {
    const seen = this.#seen;
    if (seen === undefined) return;
    if (++this.#calls > PICKS_CHECKED) {
      this.#seen = undefined;
      return;
    }
    if (seen.has(limiter)) {
      this.#fresh = 0;
      return;
    }
    seen.add(limiter);
    if (++this.#fresh < FRESH_IN_A_ROW) return;
    this.#seen = undefined;
    this.notices.once(
      'FLOODGATE_LIMITER_PER_REQUEST',
      `${this.owner}: the limiter function returned a limiter it had never returned before on each of ${FRESH_IN_A_ROW} requests in a row; a limiter made per request starts with an empty count, so nothing is limited: make the limiters once, at startup, and return one of them`,
    );
  }
}

/**
 * Frames of a request being handled: Express 4's router layer, Express 5's (the `router`
 * package), and Fastify's request handling (4 and 5 name the file differently).
 */
const REQUEST_FRAMES =
  /[\\/](?:lib[\\/]router[\\/]layer|router[\\/]lib[\\/]layer|lib[\\/](?:handle-request|handleRequest))\.js:/;

/** The warning sinks already told: one per process with the default sink, `process.emitWarning`. */
const createdInRequestTold = new WeakSet<WarningHandler>();

/**
 * Warns, once per warning sink (so once per process by default), when a middleware or hook is being made while a request is handled
 * (`app.get('/', (req, res, next) => rateLimit({...})(req, res, next))`): each request would get a
 * new one, with a new limiter and an empty count, so nothing would be limited. Read from the
 * stack, once, at construction: it sees the synchronous part of a handler, where this is written.
 */
export function checkCreatedInRequest(owner: string, notices: Notices): void {
  const sink = notices.sink;
  if (sink === undefined || createdInRequestTold.has(sink)) return;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 60;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  if (!REQUEST_FRAMES.test(stack)) return;
  createdInRequestTold.add(sink);
  notices.once(
    'FLOODGATE_CREATED_IN_REQUEST',
    `${owner}: made while a request was being handled, so every request gets a new one with an empty count and nothing is limited; make it once, when the app starts, and use it in every request`,
  );
}

/** Once-only warnings about the deployment, one set per middleware or plugin registration. */
export class Notices {
  /** Set once the X-Forwarded-For check has nothing left to say, so requests skip it. */
  forwardedForDone = false;
  /** Set once the trust-every-proxy check has run. */
  trustAllDone = false;
  readonly #warn: WarningHandler | undefined;
  readonly #sent = new Set<WarningCode>();

  /** Where the warnings go; undefined when they are silenced. */
  get sink(): WarningHandler | undefined {
    return this.#warn;
  }

  constructor(warn: WarningHandler | undefined) {
    this.#warn = warn;
    if (warn === undefined) {
      this.forwardedForDone = true;
      this.trustAllDone = true;
    }
  }

  once(code: WarningCode, message: string): void {
    if (this.#warn === undefined || this.#sent.has(code)) return;
    this.#sent.add(code);
    try {
      const returned: unknown = this.#warn(message, code);
      // An async sink's rejection is dropped like a throw: left unhandled, it would end the process.
      if (isThenable(returned)) returned.then(undefined, ignore);
    } catch {
      // A throwing warning sink must not fail the request that happened to trigger it.
    }
  }
}

function ignore(): void {}
