import { performance } from 'node:perf_hooks';
import { MAX_TIMER_MS } from './clock.js';
import { FloodgateError } from './errors.js';
import { checkOptionsObject, invalidOption } from './options.js';
import type { Decision } from './types.js';

/** Options of `limiter.acquire`. */
export interface AcquireOptions {
  /** Units to take. Defaults to 1. */
  cost?: number;
  /**
   * Longest time to wait for a slot, in milliseconds; `Infinity` waits as long as it takes.
   * Defaults to 30,000, so a forgotten wait cannot hang forever.
   */
  maxWaitMs?: number;
  /**
   * Aborts the wait: the promise rejects with `ERR_ABORTED` and no slot is taken. A decision
   * already on its way to the store when the signal fires is let land; if it took a slot, the
   * promise resolves with it rather than leave a charged slot unused.
   */
  signal?: AbortSignal;
}

/** Per key, the callers waiting in this process, first in line at index 0. */
export type WaitQueues = Map<string, Waiter[]>;

const DEFAULT_MAX_WAIT_MS = 30_000;

/** Reads and checks `acquire`'s own options (the cost is the limiter's business). */
export function acquireOptions(options: unknown): {
  cost: unknown;
  maxWaitMs: number;
  signal: AbortSignal | undefined;
} {
  const given = checkOptionsObject('acquire', options, ['cost', 'maxWaitMs', 'signal'], false);
  const maxWaitMs = given.maxWaitMs === undefined ? DEFAULT_MAX_WAIT_MS : given.maxWaitMs;
  if (typeof maxWaitMs !== 'number' || Number.isNaN(maxWaitMs) || maxWaitMs < 0) {
    throw invalidOption('acquire', 'maxWaitMs', 'a non-negative number of milliseconds or Infinity', maxWaitMs);
  }
  const signal = given.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw invalidOption('acquire', 'signal', 'an AbortSignal', signal);
  return { cost: given.cost, maxWaitMs, signal };
}

/**
 * One caller of `acquire`. Only the first in line asks the store; it sleeps exactly the
 * `retryAfterMs` it is told (no polling), and the next in line starts only once the first has
 * its slot or has given up, so callers are served in arrival order.
 */
class Waiter {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight = false;
  #aborted = false;
  #settled = false;
  readonly #deadline: number;
  readonly #onAbort = (): void => {
    // A decision in flight may charge a slot; let it land and hand that slot to the caller
    // rather than reject and leave a charged slot unused.
    if (this.#inFlight) this.#aborted = true;
    else
      this.#settle(
        undefined,
        new FloodgateError('ERR_ABORTED', 'acquire: aborted while waiting', { cause: this.signal?.reason }),
      );
  };

  constructor(
    readonly line: Waiter[],
    readonly queues: WaitQueues,
    readonly key: string,
    readonly attempt: () => Decision | Promise<Decision>,
    readonly maxWaitMs: number,
    readonly signal: AbortSignal | undefined,
    readonly resolve: (decision: Decision) => void,
    readonly reject: (error: unknown) => void,
  ) {
    this.#deadline = performance.now() + maxWaitMs;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Waits behind others; that time spends the budget too. */
  queue(delay = this.maxWaitMs): void {
    if (!Number.isFinite(delay)) return;
    if (delay > MAX_TIMER_MS) {
      this.#timer = setTimeout(() => this.queue(delay - MAX_TIMER_MS), MAX_TIMER_MS);
      return;
    }
    this.#timer = setTimeout(() => this.#settle(undefined, this.#exceeded()), delay);
  }

  /** Asks the store again now if this waiter is sleeping out a wait (first in line, nothing in flight). */
  wake(): void {
    if (!this.#inFlight && !this.#settled) void this.run();
  }

  async run(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    let decision: Decision;
    this.#inFlight = true;
    try {
      decision = await this.attempt();
    } catch (error) {
      this.#inFlight = false;
      this.#settle(undefined, error);
      return;
    }
    this.#inFlight = false;
    if (decision.allowed) return this.#settle(decision, undefined);
    if (this.#aborted)
      return this.#settle(
        undefined,
        new FloodgateError('ERR_ABORTED', 'acquire: aborted while waiting', { cause: this.signal?.reason }),
      );
    const wait = Math.max(1, decision.retryAfterMs);
    if (Number.isNaN(wait)) {
      // No wait to sleep: asking again at once, every millisecond, would never settle.
      return this.#settle(
        undefined,
        new FloodgateError(
          'ERR_STORE',
          `acquire: the store denied with retryAfterMs ${decision.retryAfterMs}, no wait`,
        ),
      );
    }
    if (performance.now() + wait > this.#deadline) return this.#settle(undefined, this.#exceeded());
    // Past the longest timer, wake early and ask again: one store call per 24.8 days.
    this.#timer = setTimeout(() => void this.run(), Math.min(wait, MAX_TIMER_MS));
  }

  #exceeded(): FloodgateError {
    return new FloodgateError('ERR_WAIT_EXCEEDED', `acquire: no slot within maxWaitMs (${this.maxWaitMs} ms)`);
  }

  #settle(decision: Decision | undefined, error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.signal?.removeEventListener('abort', this.#onAbort);
    const line = this.line;
    const at = line.indexOf(this);
    if (at >= 0) line.splice(at, 1);
    if (line.length === 0) {
      if (this.queues.get(this.key) === line) this.queues.delete(this.key);
    } else if (at === 0) {
      void (line[0] as Waiter).run();
    }
    if (decision !== undefined) this.resolve(decision);
    else this.reject(error);
  }
}

/** Queues a caller for `key` and resolves once it holds a slot. */
export function acquireSlot(
  queues: WaitQueues,
  key: string,
  maxWaitMs: number,
  signal: AbortSignal | undefined,
  attempt: () => Decision | Promise<Decision>,
): Promise<Decision> {
  if (signal?.aborted === true) {
    return Promise.reject(
      new FloodgateError('ERR_ABORTED', 'acquire: aborted before it started', { cause: signal.reason }),
    );
  }
  return new Promise<Decision>((resolve, reject) => {
    let line = queues.get(key);
    if (line === undefined) {
      line = [];
      queues.set(key, line);
    }
    const waiter = new Waiter(line, queues, key, attempt, maxWaitMs, signal, resolve, reject);
    line.push(waiter);
    if (line.length === 1) void waiter.run();
    else waiter.queue();
  });
}

/**
 * Has the first caller waiting for `key` ask the store again now, rather than sleep out a wait
 * that a `reset` has just cancelled. The rest stay in line behind it.
 */
export function wakeFirst(queues: WaitQueues, key: string): void {
  queues.get(key)?.[0]?.wake();
}
