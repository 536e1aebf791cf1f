import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import { describe, type TestContext, test } from 'node:test';
import {
  type Algorithm,
  createLimiter,
  type Decision,
  FloodgateError,
  MemoryStore,
  slidingWindowLog,
  tokenBucket,
} from 'floodgate';
import { CountingStore } from './helpers/stores.js';

/**
 * `setTimeout` and `clearTimeout` replaced, for one test, by a queue that only `tick` runs.
 * node:test's MockTimers does the same, but on Node 20 it is experimental and prints an
 * ExperimentalWarning into the test output, which reads like a problem; `acquire` needs no more
 * than this.
 */
function fakeTimeouts(t: TestContext): { tick(ms: number): void } {
  interface Timer {
    readonly at: number;
    readonly id: number;
    readonly callback: () => void;
  }
  let now = 0;
  let ids = 0;
  const due = new Set<Timer>();
  t.mock.method(globalThis, 'setTimeout', (callback: () => void, delay = 0) => {
    // As Node does: a delay below 1 ms is 1 ms.
    const timer: Timer = { at: now + Math.max(1, delay), id: ++ids, callback };
    due.add(timer);
    return timer;
  });
  t.mock.method(globalThis, 'clearTimeout', (timer: Timer | undefined) => {
    if (timer !== undefined) due.delete(timer);
  });
  return {
    tick(ms) {
      now += ms;
      // Due timers in the order they fall due, then the order they were set; a callback may set
      // another that is already due.
      for (;;) {
        let next: Timer | undefined;
        for (const timer of due) {
          if (
            timer.at <= now &&
            (next === undefined || timer.at < next.at || (timer.at === next.at && timer.id < next.id))
          )
            next = timer;
        }
        if (next === undefined) return;
        due.delete(next);
        next.callback();
      }
    },
  };
}

/**
 * One clock for everything, moved by the test: the memory store's injected clock, `acquire`'s own
 * deadline clock (`performance.now()`, mocked) and its sleeps (`setTimeout`, faked).
 */
function setup(t: TestContext, algorithm: Algorithm) {
  let now = 0;
  const timers = fakeTimeouts(t);
  t.mock.method(performance, 'now', () => now);
  const store = new CountingStore(new MemoryStore({ clock: () => now, sweepIntervalMs: false }));
  const limiter = createLimiter({ algorithm, store, onStoreError: 'throw' });
  // Lets promise callbacks (acquire's `await`s) run; setImmediate is left real for this.
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    limiter,
    store,
    get now() {
      return now;
    },
    settle,
    /** Moves time forward `ms` milliseconds, one at a time, running due timers at each. */
    async advance(ms: number) {
      // First let calls made at the current instant finish deciding and go to sleep.
      await settle();
      for (let i = 0; i < ms; i++) {
        now += 1;
        timers.tick(1);
        await settle();
      }
    },
  };
}

/** Tracks a promise: when it settled (on the test clock) and how. */
function watch<T>(promise: Promise<T>, clock: { readonly now: number }) {
  const state: { at?: number; value?: T; error?: unknown } = {};
  promise.then(
    (value) => {
      state.at = clock.now;
      state.value = value;
    },
    (error: unknown) => {
      state.at = clock.now;
      state.error = error;
    },
  );
  return state;
}

function code(error: unknown): string | undefined {
  return error instanceof FloodgateError ? error.code : undefined;
}

const oneAtATime = () => slidingWindowLog({ limit: 1, windowMs: 1_000 });

describe('acquire', () => {
  test('resolves with the allowing Decision the moment a slot frees, not before', async (t) => {
    const c = setup(t, slidingWindowLog({ limit: 2, windowMs: 1_000 }));
    await c.limiter.consume('k');
    await c.advance(500);
    await c.limiter.consume('k');
    const waiting = watch(c.limiter.acquire('k'), c);
    await c.advance(499);
    assert.equal(waiting.at, undefined, 'still waiting at 999 ms');
    await c.advance(1);
    assert.equal(waiting.at, 1_000);
    assert.deepEqual(pick(waiting.value), { allowed: true, remaining: 0, retryAfterMs: 0 });
    // It took the slot: the next call is denied.
    assert.equal((await c.limiter.consume('k')).allowed, false);
  });

  test('resolves at once when a slot is free', async (t) => {
    const c = setup(t, oneAtATime());
    const d = await c.limiter.acquire('k');
    assert.deepEqual(pick(d), { allowed: true, remaining: 0, retryAfterMs: 0 });
    assert.equal(c.store.decides, 1);
  });

  test('serves waiters on one key first in, first out; another key does not wait', async (t) => {
    const c = setup(t, oneAtATime());
    await c.limiter.consume('k');
    const order: string[] = [];
    const waiters = ['a', 'b', 'c'].map((name) =>
      watch(
        c.limiter.acquire('k').then((d) => {
          order.push(name);
          return d;
        }),
        c,
      ),
    );
    const other = watch(c.limiter.acquire('other'), c);
    await c.settle();
    assert.equal(other.at, 0, 'a different key is not queued behind k');
    await c.advance(3_000);
    assert.deepEqual(order, ['a', 'b', 'c']);
    assert.deepEqual(
      waiters.map((w) => w.at),
      [1_000, 2_000, 3_000],
    );
  });

  test('a later, cheaper waiter does not jump the line', async (t) => {
    const c = setup(t, tokenBucket({ capacity: 2, refillPerSecond: 1 }));
    await c.limiter.consume('k', { cost: 2 });
    const big = watch(c.limiter.acquire('k', { cost: 2 }), c);
    const small = watch(c.limiter.acquire('k', { cost: 1 }), c);
    await c.advance(2_000);
    assert.equal(big.at, 2_000);
    assert.equal(small.at, undefined, 'the cheap call waits behind the first in line');
    await c.advance(1_000);
    assert.equal(small.at, 3_000);
  });

  test('rejects with ERR_WAIT_EXCEEDED at once when the computed wait exceeds maxWaitMs', async (t) => {
    const c = setup(t, slidingWindowLog({ limit: 1, windowMs: 10_000 }));
    await c.limiter.consume('k');
    const waiting = watch(c.limiter.acquire('k', { maxWaitMs: 5_000 }), c);
    await c.settle();
    assert.equal(waiting.at, 0);
    assert.equal(code(waiting.error), 'ERR_WAIT_EXCEEDED');
    assert.match((waiting.error as Error).message, /maxWaitMs \(5000 ms\)/);
    // A wait of exactly maxWaitMs is within it.
    const exact = watch(c.limiter.acquire('k', { maxWaitMs: 10_000 }), c);
    await c.advance(10_000);
    assert.equal(exact.at, 10_000);
    assert.equal(exact.value?.allowed, true);
  });

  test('time spent in line counts against maxWaitMs', async (t) => {
    const c = setup(t, oneAtATime());
    await c.limiter.consume('k');
    const first = watch(c.limiter.acquire('k'), c);
    // Behind `first`, this one would get a slot at 2,000 ms: past its 1,500 ms budget.
    const second = watch(c.limiter.acquire('k', { maxWaitMs: 1_500 }), c);
    const third = watch(c.limiter.acquire('k', { maxWaitMs: 500 }), c);
    await c.advance(500);
    assert.deepEqual([third.at, code(third.error)], [500, 'ERR_WAIT_EXCEEDED'], 'gave up while still in line');
    await c.advance(500);
    assert.equal(first.at, 1_000);
    assert.deepEqual([second.at, code(second.error)], [1_000, 'ERR_WAIT_EXCEEDED'], 'gave up once its wait was known');
    // Neither took a slot.
    await c.advance(1_000);
    assert.equal((await c.limiter.consume('k')).allowed, true);
  });

  test('rejects with ERR_ABORTED when the signal aborted before the call, asking the store nothing', async (t) => {
    const c = setup(t, oneAtATime());
    const reason = new Error('client went away');
    await assert.rejects(
      c.limiter.acquire('k', { signal: AbortSignal.abort(reason) }),
      (e: unknown) => code(e) === 'ERR_ABORTED' && (e as Error).cause === reason,
    );
    assert.equal(c.store.decides, 0);
    assert.equal((await c.limiter.peek('k')).remaining, 1);
  });

  test('rejects with ERR_ABORTED when aborted while waiting; the aborted waiter takes no slot', async (t) => {
    const c = setup(t, oneAtATime());
    await c.limiter.consume('k');
    const controller = new AbortController();
    const aborted = watch(c.limiter.acquire('k', { signal: controller.signal }), c);
    const next = watch(c.limiter.acquire('k'), c);
    await c.advance(400);
    controller.abort();
    await c.settle();
    assert.deepEqual([aborted.at, code(aborted.error)], [400, 'ERR_ABORTED']);
    // The next in line takes over and gets the slot that frees at 1,000 ms.
    await c.advance(600);
    assert.equal(next.at, 1_000);
    assert.equal(next.value?.allowed, true);
    assert.equal((await c.limiter.peek('k')).remaining, 0, 'one slot taken, by the waiter that got it');
    await c.advance(1_000);
    assert.equal((await c.limiter.peek('k')).remaining, 1);
  });

  test('aborting a waiter still in line leaves the others in order', async (t) => {
    const c = setup(t, oneAtATime());
    await c.limiter.consume('k');
    const controller = new AbortController();
    const first = watch(c.limiter.acquire('k'), c);
    const middle = watch(c.limiter.acquire('k', { signal: controller.signal }), c);
    const last = watch(c.limiter.acquire('k'), c);
    await c.advance(10);
    controller.abort();
    await c.advance(2_000);
    assert.deepEqual([first.at, code(middle.error), last.at], [1_000, 'ERR_ABORTED', 2_000]);
  });

  test('never busy-polls: one store call per sleep of retryAfterMs', async (t) => {
    const c = setup(t, slidingWindowLog({ limit: 1, windowMs: 10_000 }));
    await c.limiter.consume('k');
    assert.equal(c.store.decides, 1);
    const waiting = watch(c.limiter.acquire('k', { maxWaitMs: 60_000 }), c);
    await c.settle();
    assert.equal(c.store.decides, 2, 'one call to learn the wait');
    await c.advance(9_999);
    assert.equal(c.store.decides, 2, 'no call while sleeping');
    await c.advance(1);
    assert.equal(waiting.value?.allowed, true);
    assert.equal(c.store.decides, 3, 'one call when the wait is over');
    await c.advance(20_000);
    assert.equal(c.store.decides, 3, 'nothing left running');
  });

  test('a waiter that loses its slot to a caller outside the line sleeps again, exactly the new wait', async (t) => {
    const c = setup(t, oneAtATime());
    // Another limiter on the same state, as in another process: its reset wakes nobody here.
    const other = createLimiter({ algorithm: oneAtATime(), store: c.store, onStoreError: 'throw' });
    await c.limiter.consume('k');
    const waiting = watch(c.limiter.acquire('k'), c);
    await c.settle();
    // The waiter sleeps until 1,000 ms; meanwhile the key is reset and taken again at 500 ms.
    await other.reset('k');
    await c.advance(500);
    assert.equal((await other.consume('k')).allowed, true);
    await c.advance(500);
    assert.equal(waiting.at, undefined, 'woke at 1,000 ms to find the slot taken');
    await c.advance(500);
    assert.equal(waiting.at, 1_500);
    // consume, acquire's first try, consume, the wake at 1,000 ms, the wake at 1,500 ms.
    assert.equal(c.store.decides, 5);
  });
});

test('reset wakes the first waiter at once: it takes the freed slot, and the line behind it moves up', async (t) => {
  const c = setup(t, oneAtATime());
  await c.limiter.consume('k');
  const first = watch(c.limiter.acquire('k'), c);
  const second = watch(c.limiter.acquire('k'), c);
  await c.advance(100);
  await c.limiter.reset('k');
  await c.settle();
  // Without the wake, the first would sleep on until 1,000 ms, though the key is free.
  assert.equal(first.at, 100);
  assert.equal(second.at, undefined, 'one slot, taken by the first in line');
  await c.advance(1_000);
  assert.equal(second.at, 1_100);
});

function pick(d: Decision | undefined) {
  return d === undefined ? undefined : { allowed: d.allowed, remaining: d.remaining, retryAfterMs: d.retryAfterMs };
}

test('regression: waits past 24.8 days overflowed setTimeout, which fired after 1 ms and polled the store', async (t) => {
  const delays: number[] = [];
  const realSetTimeout = globalThis.setTimeout;
  // Record each sleep and never run it: only what acquire asks of the timer matters here.
  t.mock.method(globalThis, 'setTimeout', (_callback: () => void, delay: number) => {
    delays.push(delay);
    return realSetTimeout(() => {}, 0);
  });
  const month = 30 * 24 * 3_600_000;
  const limiter = createLimiter({ algorithm: slidingWindowLog({ limit: 1, windowMs: month }) });
  await limiter.consume('k');
  const controller = new AbortController();
  const head = limiter.acquire('k', { maxWaitMs: Number.POSITIVE_INFINITY, signal: controller.signal });
  const queued = limiter.acquire('k', { maxWaitMs: 2 * month, signal: controller.signal });
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(delays.length, 2, 'the head sleeps and the queued waiter arms its deadline');
  for (const delay of delays) assert.ok(delay <= 2_147_483_647, `setTimeout asked for ${delay} ms`);
  controller.abort();
  await assert.rejects(head, { code: 'ERR_ABORTED' });
  await assert.rejects(queued, { code: 'ERR_ABORTED' });
});
