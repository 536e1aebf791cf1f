import type { Decision } from 'floodgate';
import { type Charge, charged, RequestEnd } from './counting.js';
import { decideRequest, type Outcome } from './decide.js';
import type { Engine } from './engine.js';
import { asError } from './errors.js';
import { longestRetryAfter, type SetHeader } from './headers.js';
import type { Notices } from './notices.js';
import { recordOnRequest } from './request-info.js';
import { isThenable, show } from './validate.js';

/**
 * What one framework contributes to the request lifecycle: how to read and write its response,
 * send or hand on a limited response, go on, and pass an error on. `Next` is what the framework
 * gives a middleware or hook to continue with (Express `next`, Fastify `done`).
 */
export interface Port<Req, Res, Next> {
  /** Once-only checks of the trust-proxy setup, on requests until `notices.forwardedForDone`. */
  checkProxy(req: Req, notices: Notices): void;
  /** Sets one response header; a module-level function, never a closure. */
  readonly setHeader: SetHeader<Res>;
  getHeader(res: Res, name: string): unknown;
  /** Whether the response has been answered already (by something else, or by `onLimited`). */
  answered(res: Res): boolean;
  /**
   * Whether a response answered while the decision was pending ends the lifecycle there (Express:
   * setting headers on it would throw into `next(err)`).
   */
  readonly stopWhenAnswered: boolean;
  /**
   * Marks the response limited before `onLimited` runs; returns the status before, for
   * {@link Port.undoLimit} (Express sets the status; Fastify leaves it to the error handler and
   * returns `undefined`).
   */
  beginLimit(res: Res): number | undefined;
  /**
   * Undoes the limit's marks when a hook of the app failed, that failure being no rate limit:
   * the status, and `Retry-After` as it was before (the app's own, an earlier limiter's, or none).
   */
  undoLimit(res: Res, prior: Prior): void;
  /** Answers a limited request, or hands it on; `prior` for {@link Port.undoLimit} if that fails. */
  limit(req: Req, res: Res, next: Next, decision: Decision, prior: Prior): void;
  /** Goes on to the next middleware or hook. */
  pass(next: Next): void;
  /** Passes an error on to the framework's error handling. */
  fail(next: Next, error: Error): void;
  /**
   * Calls `end.end(…)` when the response has finished or the connection has closed, at once when
   * either has happened already (a client that left while the decision was pending).
   */
  watchEnd(req: Req, res: Res, end: RequestEnd<Req, Res>): void;
}

/** What a limited response carried before the limit marked it, to put back if a hook fails. */
export interface Prior {
  /** The status {@link Port.beginLimit} returned. */
  readonly status: number | undefined;
  /** The `Retry-After` value the response had, `undefined` for none. */
  readonly retryAfter: unknown;
}

/** Whether a header's value, as a framework's `getHeader` returns it, is one to set back. */
export function isHeaderValue(value: unknown): value is string | number | string[] {
  return typeof value === 'string' || typeof value === 'number' || Array.isArray(value);
}

/**
 * An async `onDecision` or `onLimited` that rejects: its promise is not awaited (both run
 * synchronously, and the request has gone on or been answered by the time it settles), so there
 * is no error path left to take. Handled here, or Node would end the process on an unhandled
 * rejection; the app hears of it once, as of a failing `requestWasSuccessful`.
 */
function watchRejection(
  returned: PromiseLike<unknown>,
  notices: Notices,
  owner: string,
  hook: 'onDecision' | 'onLimited',
): void {
  returned.then(undefined, (error: unknown) => {
    const reason = error instanceof Error ? error.message : show(error);
    notices.once(
      hook === 'onDecision' ? 'FLOODGATE_ON_DECISION_REJECTED' : 'FLOODGATE_ON_LIMITED_REJECTED',
      `${owner}: ${hook} returned a promise that rejected (${reason}); it is not awaited, so the request it was called for went on as decided, and this failure reaches no error handler`,
    );
  });
}

/**
 * The request lifecycle both adapters share: decide (skip, limiter, key, cost), write the
 * headers (per limiter, adding to earlier limiters'), put the Decision on the request, call the
 * hooks, then go on or answer the limited request, and watch the end of a request that may be
 * given back. Each framework brings a {@link Port}.
 */
export function createLifecycle<Req extends object, Res, Next>(
  engine: Engine<Req, Res>,
  port: Port<Req, Res, Next>,
): (req: Req, res: Res, next: Next) => void {
  const { owner, writer, shadow, onDecision, onLimited, counting, requestProperty, notices } = engine;
  // The key and cost asked with are needed to refund a request, to put its key on it, or (with a
  // limiter picked per request) to know which limiter decided.
  const needsCharge = counting !== undefined || requestProperty !== undefined || engine.limiterOf !== undefined;

  /** Applies a Decision: headers, hooks, then going on or the limited response. */
  function respond(req: Req, res: Res, next: Next, decision: Decision, charge: Charge | undefined): void {
    // A charged request is watched before anything else runs: a hook that throws (the request
    // then fails), a response answered while the decision was pending, or a client gone by now
    // still end it, and it is given back as its end says.
    if (counting !== undefined && charge !== undefined && charged(decision, charge.cost)) {
      port.watchEnd(req, res, new RequestEnd(counting, notices, owner, charge, req, res));
    }
    if (port.stopWhenAnswered && port.answered(res)) return;
    // Which hook runs, to name it in the error, and (once the response is marked limited) what to
    // undo when it fails.
    let source = 'onDecision';
    let prior: Prior | undefined;
    try {
      const denies = !decision.allowed && !shadow;
      // A limiter picked per request has a writer of its own (made once per limiter).
      const w = engine.limiterOf === undefined ? writer : engine.writerFor(charge?.limiter);
      if (w !== undefined) w.write(res, port.setHeader, decision, w.needsWallClock ? Date.now() : 0, denies);
      if (requestProperty !== undefined && charge !== undefined) {
        recordOnRequest(req, requestProperty, decision, charge.key, denies);
      }
      if (onDecision !== undefined) {
        const returned: unknown = onDecision(req, decision);
        if (isThenable(returned)) watchRejection(returned, notices, owner, 'onDecision');
      }
      source = 'onLimited';
      if (!decision.allowed) {
        if (!shadow) {
          const retryAfter = port.getHeader(res, 'retry-after');
          port.setHeader(res, 'retry-after', longestRetryAfter(retryAfter, decision));
          prior = { status: port.beginLimit(res), retryAfter };
        }
        if (onLimited !== undefined) {
          const returned: unknown = onLimited(req, res, decision);
          if (isThenable(returned)) watchRejection(returned, notices, owner, 'onLimited');
        }
        // A hook that answered the request itself must not be followed by anything.
        if (port.answered(res)) return;
        if (prior !== undefined) {
          source = 'message';
          port.limit(req, res, next, decision, prior);
          return;
        }
      }
    } catch (thrown) {
      if (prior !== undefined && !port.answered(res)) port.undoLimit(res, prior);
      port.fail(next, asError(thrown, owner, source));
      return;
    }
    // Outside the try: an error thrown further down the chain is not this limiter's.
    port.pass(next);
  }

  async function settle(
    req: Req,
    res: Res,
    next: Next,
    pending: PromiseLike<Outcome>,
    charge: Charge | undefined,
  ): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await pending;
    } catch (error) {
      // The callbacks' failures are Errors already (decideRequest names them): what is left is the limiter's.
      port.fail(next, asError(error, owner, "the limiter's decide"));
      return;
    }
    if (outcome === undefined) port.pass(next);
    else respond(req, res, next, outcome, charge);
  }

  return function floodgateLifecycle(req: Req, res: Res, next: Next): void {
    if (!notices.forwardedForDone) port.checkProxy(req, notices);
    const charge: Charge | undefined = needsCharge ? { key: '', cost: 0, limiter: undefined } : undefined;
    let outcome: Outcome | PromiseLike<Outcome>;
    try {
      outcome = decideRequest(engine, req, res, charge);
    } catch (error) {
      port.fail(next, asError(error, owner, "the limiter's decide"));
      return;
    }
    if (outcome === undefined) port.pass(next);
    // Not `instanceof Promise`: a decide wrapped by the app may return another realm's promise or
    // any thenable. A Decision has no `then`, so the sync path pays one missed property read.
    else if (isThenable(outcome)) void settle(req, res, next, outcome, charge);
    else respond(req, res, next, outcome, charge);
  };
}
