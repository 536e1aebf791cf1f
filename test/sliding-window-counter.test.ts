/**
 * The sliding-window counter against two references, on whole-millisecond clocks (where its
 * doubles give exactly the rational answer: its estimate differs from a whole number of units by
 * at least 1 / windowMs whenever it differs at all, far above any rounding).
 *
 * The bound it keeps, whose proof the docs quote. Windows are `[n × W, (n + 1) × W)` on the
 * store's clock, `L` the limit, and `C_n` what window n admitted, in units (no refunds, a clock
 * that never steps back). A call of cost k at `(n + 1) × W + e′`, with B′ units already admitted
 * in window n + 1, is admitted only if
 *
 *     C_n × (W − e′) / W + B′ + k ≤ L.                                          (1)
 *
 * Every window admits at most L (the first term is never negative). Take any span `[s, s + W)`,
 * with s in window n and `e = s − n × W` (0 ≤ e < W). It holds the end of window n, at most C_n
 * units, and the start of window n + 1, `[(n + 1) × W, (n + 1) × W + e)`. If that start admitted
 * anything, B units in all, its last admission (cost k, at e′ < e) had B′ = B − k before it, so
 * by (1), and as `W − e′ > W − e`,
 *
 *     B ≤ L − C_n × (W − e′) / W ≤ L − C_n × (W − e) / W,
 *
 * and the span admits at most `C_n + B ≤ L + C_n × e / W`; a whole number of units, so at most
 * `L + floor(C_n × e / W)`. (If the start admitted nothing, the span holds at most C_n ≤ L.) As
 * C_n ≤ L and e < W, `C_n × e / W < L`, so no span of W admits more than `2 × L − 1`. The bound is
 * reached, for W ≥ 2 × L on a whole-millisecond clock: L units in the last millisecond of a
 * window, then L − 1 more before the next one ends (see the last test). An exact sliding log
 * admits at most L in every span.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type Algorithm, createLimiter, type Decision, MemoryStore, slidingWindowCounter } from 'floodgate';
import { costArb, startArb } from './helpers/clocks.js';
import { Q } from './helpers/exact.js';
import { CounterReference, LogReference } from './helpers/reference.js';

const RUNS = 150;

/** A limiter on a memory store whose clock the test drives, one key `k`. */
function harness(algorithm: Algorithm, start: number) {
  const clock = { now: start };
  const store = new MemoryStore({ clock: () => clock.now, sweepIntervalMs: false });
  const limiter = createLimiter({ algorithm, store, onStoreError: 'throw' });
  return {
    clock,
    consume(cost: number): Decision {
      const d = limiter.decide('k', cost);
      assert.ok(!(d instanceof Promise), 'the memory store decides synchronously');
      return d;
    },
    peek: (cost: number) => limiter.peek('k', { cost }),
    refund: (cost: number) => limiter.refund('k', { cost }),
  };
}

/** How far a step moves the clock: whole milliseconds, or to the last millisecond of the window. */
type Move = { readonly kind: 'ms'; readonly ms: number } | { readonly kind: 'retry' | 'reset' | 'window-end' };

interface Step {
  readonly move: Move;
  readonly op: 'consume' | 'peek' | 'refund';
  readonly cost: number;
}

interface Case {
  readonly limit: number;
  readonly windowMs: number;
  readonly start: number;
  readonly steps: readonly Step[];
}

/**
 * Random cases; `greedy` ones mostly retry the moment the last denial said (so every admission
 * comes as early as the counter allows) after bursts at a window's end: its worst case.
 */
function caseArb(ops: readonly Step['op'][], greedy = false): fc.Arbitrary<Case> {
  return fc
    .record({
      limit: fc.integer({ min: 1, max: 12 }),
      windowMs: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 2000 })),
      start: startArb('integer'),
    })
    .chain((c) => {
      const move: fc.Arbitrary<Move> = fc.oneof(
        { weight: 2, arbitrary: fc.constant<Move>({ kind: 'ms', ms: 0 }) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 }).map((ms): Move => ({ kind: 'ms', ms })) },
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 2 * c.windowMs }).map((ms): Move => ({ kind: 'ms', ms })) },
        // Bursts at a window's end, the counter's worst case.
        { weight: greedy ? 3 : 2, arbitrary: fc.constant<Move>({ kind: 'window-end' }) },
        { weight: greedy ? 12 : 1, arbitrary: fc.constant<Move>({ kind: 'retry' }) },
        { weight: 1, arbitrary: fc.constant<Move>({ kind: 'reset' }) },
      );
      const cost = greedy
        ? fc.oneof(
            { weight: 6, arbitrary: fc.constant(1) },
            { weight: 1, arbitrary: fc.constant(c.limit) },
            { weight: 1, arbitrary: fc.integer({ min: 1, max: c.limit }) },
          )
        : costArb(c.limit);
      const step = fc.record({ move, op: fc.constantFrom(...ops), cost });
      // Greedy cases need many calls to fill two windows; fast-check otherwise favours short arrays.
      return fc
        .array(step, { minLength: 1, maxLength: greedy ? 60 : 40, size: greedy ? 'max' : 'small' })
        .map((steps) => ({ ...c, steps }));
    });
}

function moveClock(now: number, move: Move, windowMs: number, last: Decision | undefined): number {
  switch (move.kind) {
    case 'ms':
      return now + move.ms;
    case 'window-end': {
      const end = (Math.floor(now / windowMs) + 1) * windowMs - 1;
      return Math.max(now, end);
    }
    default:
      return last === undefined ? now : now + (move.kind === 'retry' ? last.retryAfterMs : last.resetMs);
  }
}

/** What the reference says a peek of `cost` at `t` gives. */
function view(ref: CounterReference, t: number, cost: number): Omit<Decision, 'limit'> {
  const allowed = ref.fits(t, cost);
  return {
    allowed,
    remaining: ref.remaining(t),
    resetMs: ref.resetAfter(t),
    retryAfterMs: allowed ? 0 : ref.retryAfter(t, cost),
  };
}

describe('sliding-window counter', () => {
  test('every Decision equals that of a plain per-window count computed in whole numbers', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb(['consume', 'consume', 'consume', 'peek', 'refund']), async (c) => {
        const h = harness(slidingWindowCounter({ limit: c.limit, windowMs: c.windowMs }), c.start);
        const ref = new CounterReference(c.limit, c.windowMs);
        let last: Decision | undefined;
        for (const [i, step] of c.steps.entries()) {
          const now = moveClock(h.clock.now, step.move, c.windowMs, last);
          h.clock.now = now;
          let d: Decision;
          let want: Omit<Decision, 'limit'>;
          if (step.op === 'refund') {
            d = await h.refund(step.cost);
            ref.refund(now, step.cost);
            want = view(ref, now, 1);
          } else if (step.op === 'peek') {
            d = await h.peek(step.cost);
            want = view(ref, now, step.cost);
          } else {
            d = h.consume(step.cost);
            want = view(ref, now, step.cost);
            if (want.allowed && step.cost > 0) {
              ref.charge(now, step.cost);
              want = { ...view(ref, now, 0), allowed: true, retryAfterMs: 0 };
            }
          }
          assert.deepEqual(d, { limit: c.limit, ...want }, `step ${i} at ${now}: ${step.op} cost ${step.cost}`);
          last = d;
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('every span of windowMs admits at most limit + floor(C × e / windowMs) ≤ 2 × limit − 1 units; the exact log at most limit', async (t) => {
    let over = 0;
    let worstRatio = 0;
    await fc.assert(
      fc.asyncProperty(caseArb(['consume'], true), async (c) => {
        const { limit, windowMs } = c;
        const h = harness(slidingWindowCounter({ limit, windowMs }), c.start);
        const log = new LogReference(limit, windowMs);
        const counted: Admission[] = [];
        const logged: Admission[] = [];
        let last: Decision | undefined;
        for (const step of c.steps) {
          const now = moveClock(h.clock.now, step.move, windowMs, last);
          h.clock.now = now;
          last = h.consume(step.cost);
          if (last.allowed && step.cost > 0) counted.push({ at: now, cost: step.cost });
          // The same attempts, through an exact sliding log.
          if (step.cost > 0 && log.fits(Q.int(now), step.cost) === 'yes') {
            log.record(Q.int(now), step.cost);
            logged.push({ at: now, cost: step.cost });
          }
        }
        const worst = checkSpans(counted, limit, windowMs);
        assert.ok(worst <= 2 * limit - 1, `${worst} units in one span of ${windowMs} ms, limit ${limit}`);
        const worstLog = checkSpans(logged, limit, windowMs);
        assert.ok(worstLog <= limit, `the log admitted ${worstLog} units in one span, limit ${limit}`);
        if (worst > limit) over++;
        worstRatio = Math.max(worstRatio, worst / limit);
      }),
      { numRuns: RUNS },
    );
    t.diagnostic(`${over} of ${RUNS} runs admitted more than the limit in some span; worst ${worstRatio} × limit`);
  });

  test('the bound is reached: 2 × limit − 1 units in one span of windowMs, where the log admits limit', () => {
    for (const [limit, windowMs] of [
      [2, 4],
      [3, 1000],
      [5, 10],
      [12, 2000],
    ] as const) {
      const h = harness(slidingWindowCounter({ limit, windowMs }), windowMs - 1);
      const log = new LogReference(limit, windowMs);
      const counted: Admission[] = [];
      // All of the limit in the last millisecond of window 0, then a unit call every millisecond of window 1.
      const attempts: Admission[] = [{ at: windowMs - 1, cost: limit }];
      for (let at = windowMs; at < 2 * windowMs; at++) attempts.push({ at, cost: 1 });
      let logged = 0;
      for (const { at, cost } of attempts) {
        h.clock.now = at;
        if (h.consume(cost).allowed) counted.push({ at, cost });
        if (at < 2 * windowMs - 1 && log.fits(Q.int(at), cost) === 'yes') {
          log.record(Q.int(at), cost);
          logged += cost;
        }
      }
      const inSpan = counted.filter((a) => a.at < 2 * windowMs - 1).reduce((sum, a) => sum + a.cost, 0);
      assert.equal(
        inSpan,
        2 * limit - 1,
        `limit ${limit}, windowMs ${windowMs}: [${windowMs - 1}, ${2 * windowMs - 1})`,
      );
      assert.equal(logged, limit, 'the log, over the same span');
      assert.equal(checkSpans(counted, limit, windowMs), 2 * limit - 1, 'the span check finds it');
    }
  });
});

interface Admission {
  readonly at: number;
  readonly cost: number;
}

/**
 * Checks the bound on every span of `windowMs` and returns the most units one span admitted.
 * On a whole-millisecond clock, a span `[s, s + W)` with `a < s < a + 1` (a whole) holds exactly
 * the admissions at `a + 1 … a + W`, and as s comes down to a its bound comes down to
 * `L + floor(C × (a − n × W) / W)`, with n the window of a and C what it admitted (floor is
 * continuous from the right). So checking each whole a against that bound checks every span.
 */
function checkSpans(admitted: readonly Admission[], limit: number, windowMs: number): number {
  if (admitted.length === 0) return 0;
  const first = (admitted[0] as Admission).at;
  const lastAt = (admitted.at(-1) as Admission).at;
  const origin = first - windowMs;
  // units[i]: admitted at origin + i; prefix[i]: admitted before origin + i.
  const prefix = new Float64Array(lastAt - origin + windowMs + 2);
  const perWindow = new Map<number, number>();
  for (const { at, cost } of admitted) {
    prefix[at - origin + 1] = (prefix[at - origin + 1] as number) + cost;
    const n = Math.floor(at / windowMs);
    perWindow.set(n, (perWindow.get(n) ?? 0) + cost);
  }
  for (let i = 1; i < prefix.length; i++) prefix[i] = (prefix[i] as number) + (prefix[i - 1] as number);
  let worst = 0;
  for (let a = origin; a <= lastAt; a++) {
    const i = a - origin;
    const units = (prefix[i + windowMs + 1] as number) - (prefix[i + 1] as number);
    const n = Math.floor(a / windowMs);
    const bound = limit + Math.floor(((perWindow.get(n) ?? 0) * (a - n * windowMs)) / windowMs);
    if (units > bound) {
      assert.fail(`${units} units admitted in (${a}, ${a + windowMs}], more than ${bound}`);
    }
    if (units > worst) worst = units;
  }
  return worst;
}
