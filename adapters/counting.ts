import type { Decision, Limiter } from 'floodgate';
import type { Notices } from './notices.js';
import { isThenable, optionalBoolean, optionalFunction } from './validate.js';

/** Tells whether a finished request succeeded, sync or async. */
export type RequestWasSuccessful<Req, Res> = (req: Req, res: Res) => boolean | PromiseLike<boolean>;

/** Which finished requests are given back to the limiter; resolved once from the options. */
export interface Counting<Req, Res> {
  readonly skipFailed: boolean;
  readonly skipSuccessful: boolean;
  /** The app's `requestWasSuccessful`, or undefined for the default (status below 400). */
  readonly wasSuccessful: RequestWasSuccessful<Req, Res> | undefined;
}

/** What a request was charged, and by which limiter, to give back once it has finished. */
export interface Charge {
  key: string;
  cost: number;
  limiter: Limiter | undefined;
}

/**
 * Checks `skipFailedRequests`, `skipSuccessfulRequests` and `requestWasSuccessful`; undefined
 * when neither skip is on, so the request path does not even look.
 */
export function resolveCounting<Req, Res>(
  owner: string,
  given: Record<string, unknown>,
): Counting<Req, Res> | undefined {
  const skipFailed = optionalBoolean(owner, 'skipFailedRequests', given.skipFailedRequests, false);
  const skipSuccessful = optionalBoolean(owner, 'skipSuccessfulRequests', given.skipSuccessfulRequests, false);
  const wasSuccessful = optionalFunction<RequestWasSuccessful<Req, Res>>(
    owner,
    'requestWasSuccessful',
    given.requestWasSuccessful,
  );
  // Both together are allowed: every request is given back when it ends, which limits the
  // requests in flight rather than the requests per window.
  if (!skipFailed && !skipSuccessful) return undefined;
  return { skipFailed, skipSuccessful, wasSuccessful };
}

/** Whether `decision` charged the store, so that giving the charge back is right. */
export function charged(decision: Decision, cost: number): boolean {
  // A denial charges nothing; a degraded decision charged nothing in the store (or charged a
  // fallback store the refund would not reach), and a free request cost nothing.
  return decision.allowed && decision.degraded !== true && cost > 0;
}

function ignore(): void {}

/**
 * The end of one charged request: {@link RequestEnd.end} is called when the response has
 * finished (`finished: true`, with its status) or the connection closed before it did
 * (`finished: false`). It acts on the first call only, so a request is given back at most once
 * whichever events fire, and in whichever order. One object per request, with no closures, as
 * this runs on every request of a limiter that gives some back.
 *
 * A refund that fails is a store failure like any other: the limiter reports it to `onOutage`
 * and answers under `onStoreError`; with `'throw'` its rejection is dropped here, because the
 * response is gone and there is no error path left to take.
 */
export class RequestEnd<Req, Res> {
  #ended = false;

  constructor(
    private readonly counting: Counting<Req, Res>,
    private readonly notices: Notices,
    private readonly owner: string,
    private readonly charge: Charge,
    private readonly req: Req,
    private readonly res: Res,
  ) {}

  end(finished: boolean, status: number): void {
    if (this.#ended) return;
    this.#ended = true;
    const { counting } = this;
    // A request the client abandoned never succeeded.
    if (!finished) {
      this.settle(false);
      return;
    }
    if (counting.wasSuccessful === undefined) {
      this.settle(status < 400);
      return;
    }
    let success: boolean | PromiseLike<boolean>;
    try {
      success = counting.wasSuccessful(this.req, this.res);
    } catch (error) {
      callbackFailed(this.notices, this.owner, error);
      return;
    }
    if (isThenable(success)) {
      success.then(
        (value) => this.settle(value === true),
        (error: unknown) => callbackFailed(this.notices, this.owner, error),
      );
    } else {
      this.settle(success === true);
    }
  }

  private settle(success: boolean): void {
    if (success ? this.counting.skipSuccessful : this.counting.skipFailed) {
      this.charge.limiter?.refund(this.charge.key, { cost: this.charge.cost }).then(ignore, ignore);
    }
  }
}

/**
 * A throwing `requestWasSuccessful` leaves its request counted: the response is gone, so there is
 * no error path to take, and the limit errs on the safe side. The app hears of it once.
 */
function callbackFailed(notices: Notices, owner: string, error: unknown): void {
  const reason = error instanceof Error ? error.message : String(error);
  notices.once(
    'FLOODGATE_REQUEST_WAS_SUCCESSFUL_FAILED',
    `${owner}: requestWasSuccessful failed (${reason}), so the request stays counted; it runs after the response, where no error handler can answer`,
  );
}
