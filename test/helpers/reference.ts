import { Q, ZERO } from './exact.js';

/**
 * A reference model's answer to a yes/no question. `either` only when the model's exact answer
 * lies within the tolerance the caller grants for float rounding (zero in exact-clock runs).
 */
export type Verdict = 'yes' | 'no' | 'either';

/** `x >= y`, or `either` when `x` and `y` are within `eps` (never when `eps` is zero). */
export function atLeast(x: Q, y: Q, eps: Q): Verdict {
  if (eps.gt(ZERO) && x.sub(y).abs().le(eps)) return 'either';
  return x.ge(y) ? 'yes' : 'no';
}

const MS_PER_SECOND = Q.int(1000);

/**
 * The sliding-window log as the issue states it, recomputed from scratch on every question: a
 * plain array of the allowed calls; a call of cost c at t fits iff the costs allowed in
 * (t - windowMs, t] plus c are at most limit.
 */
export class LogReference {
  readonly allowed: { at: Q; cost: number }[] = [];
  readonly #window: Q;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {
    this.#window = Q.int(windowMs);
  }

  /**
   * Costs allowed in (now - windowMs, now]. With `slack` > 0, an entry whose edge `at + windowMs`
   * is within `slack` of `now` counts only for `side: 'max'`.
   */
  used(now: Q, slack: Q = ZERO, side: 'min' | 'max' = 'min'): number {
    let sum = 0;
    for (const { at, cost } of this.allowed) {
      const past = at.add(this.#window).sub(now);
      const live = past.gt(ZERO);
      const near = slack.gt(ZERO) && past.abs().le(slack);
      if (near ? side === 'max' : live) sum += cost;
    }
    return sum;
  }

  /** Whether a call of `cost` at `now` fits. */
  fits(now: Q, cost: number, slack: Q = ZERO): Verdict {
    if (this.used(now, slack, 'max') + cost <= this.limit) return 'yes';
    if (this.used(now, slack, 'min') + cost > this.limit) return 'no';
    return 'either';
  }

  /** Whether the key is back to its full limit at `now`. */
  empty(now: Q, slack: Q = ZERO): Verdict {
    if (this.used(now, slack, 'max') === 0) return 'yes';
    if (this.used(now, slack, 'min') > 0) return 'no';
    return 'either';
  }

  record(now: Q, cost: number): void {
    if (cost > 0) this.allowed.push({ at: now, cost });
  }
}

/**
 * The token bucket as the issue states it, with exact rationals instead of floats: `tokens` at
 * `last`, refilling continuously at `refillPerSecond` up to `capacity`; a fresh key is full.
 */
export class BucketReference {
  readonly capacity: Q;
  /** Tokens per millisecond, exactly the double the limiter was given, divided by 1000. */
  readonly rate: Q;
  #tokens: Q;
  #last: Q | undefined;
  /** The clock reading at which the last charge found the bucket full. */
  anchor: Q | undefined;

  constructor(capacity: number, refillPerSecond: number) {
    this.capacity = Q.int(capacity);
    this.rate = Q.of(refillPerSecond).div(MS_PER_SECOND);
    this.#tokens = this.capacity;
  }

  /** Whether the key has never been charged. */
  get fresh(): boolean {
    return this.#last === undefined;
  }

  /** Tokens at `now` before the cap applies: at or above `capacity` means full. */
  raw(now: Q): Q {
    if (this.#last === undefined) return this.capacity;
    return this.#tokens.add(now.sub(this.#last).mul(this.rate));
  }

  tokens(now: Q): Q {
    const t = this.raw(now);
    return t.gt(this.capacity) ? this.capacity : t;
  }

  charge(now: Q, cost: number): void {
    const before = this.tokens(now);
    if (before.cmp(this.capacity) === 0) this.anchor = now;
    this.#tokens = before.sub(Q.int(cost));
    this.#last = now;
  }
}

/**
 * Checks a reported wait `r` against a reference question asked at the instant `at(r)`: the
 * answer must not be "no" at `r` (the promise) and, unless `r` is 0, not "yes" at `r - 1` (it is
 * the smallest such wait). Returns why not, or undefined.
 */
export function checkWait(
  what: string,
  r: number,
  at: (wait: number) => Q,
  question: (now: Q) => Verdict,
): string | undefined {
  if (!Number.isSafeInteger(r) || r < 0) return `${what} ${r} is not a whole number >= 0`;
  if (question(at(r)) === 'no') return `${what} ${r}: the reference still says no after waiting it`;
  if (r > 0 && question(at(r - 1)) === 'yes') return `${what} ${r}: the reference already says yes at ${r - 1}`;
  return undefined;
}

/**
 * The sliding-window counter as its documentation states it, in whole numbers, written
 * independently of the implementation: a plain map of what each fixed window `[n × W, (n + 1) × W)`
 * admitted. A call of cost k at t, `e = t − n × W` into window n, is allowed iff
 * `previous × (W − e) / W + current + k ≤ limit`, tested as
 * `previous × (W − e) + (current + k) × W ≤ limit × W` so that no rounding enters. For
 * whole-millisecond clocks; the waits are found by trying every millisecond in turn.
 */
export class CounterReference {
  readonly counts = new Map<number, number>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** The estimate at `t`, times `windowMs`: a whole number. */
  scaled(t: number): number {
    const w = this.windowMs;
    const n = Math.floor(t / w);
    return (this.counts.get(n - 1) ?? 0) * (w - (t - n * w)) + (this.counts.get(n) ?? 0) * w;
  }

  fits(t: number, cost: number): boolean {
    return this.scaled(t) + cost * this.windowMs <= this.limit * this.windowMs;
  }

  /** What is left at `t`, rounded down. */
  remaining(t: number): number {
    return Math.floor((this.limit * this.windowMs - this.scaled(t)) / this.windowMs);
  }

  charge(t: number, cost: number): void {
    const n = Math.floor(t / this.windowMs);
    this.counts.set(n, (this.counts.get(n) ?? 0) + cost);
  }

  /** Up to `cost` back: the current window's count first, then the previous one's, never below 0. */
  refund(t: number, cost: number): void {
    const n = Math.floor(t / this.windowMs);
    const current = this.counts.get(n) ?? 0;
    const fromCurrent = Math.min(current, cost);
    this.counts.set(n, current - fromCurrent);
    this.counts.set(n - 1, Math.max(0, (this.counts.get(n - 1) ?? 0) - (cost - fromCurrent)));
  }

  /** The smallest whole wait r ≥ 1 after which a call of `cost` fits, nothing charged meanwhile. */
  retryAfter(t: number, cost: number): number {
    // Two windows on, the estimate is 0 and any cost up to the limit fits.
    for (let r = 1; r <= 2 * this.windowMs; r++) if (this.fits(t + r, cost)) return r;
    throw new Error(`no call of cost ${cost} fits within two windows of ${t}`);
  }

  /** The smallest whole wait r ≥ 0 after which the estimate is 0. */
  resetAfter(t: number): number {
    for (let r = 0; r <= 2 * this.windowMs; r++) if (this.scaled(t + r) === 0) return r;
    throw new Error(`the estimate is not 0 within two windows of ${t}`);
  }
}
