import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import {
  createLimiter,
  type Decision,
  type FloodgateError,
  type Limiter,
  MemoryStore,
  RedisStore,
  type StoreErrorPolicy,
  slidingWindowLog,
} from 'floodgate';
import { closeClient, storeClient, whenReady } from './clients.js';
import { pipeline, SwitchableStore } from './http.js';
import { randomPrefix, startRedis } from './redis.js';

/** The counting options both adapters take, as the suites pass them. */
export interface CountingOptions {
  limiter: Limiter;
  skipFailedRequests?: boolean;
  skipSuccessfulRequests?: boolean;
  requestWasSuccessful?: (status: number) => boolean | Promise<boolean>;
  warn?: (message: string, code: string) => void;
  /** Given the framework's request (Express `req`, Fastify `request`). */
  keyGenerator?: (req: unknown) => string | Promise<string>;
  onDecision?: () => void;
}

/**
 * A request the test holds in its handler: `arrived` resolves when the handler runs, the handler
 * answers 200 once `release()` is called, and `sent` resolves after it has.
 */
export class Hold {
  readonly arrived: Promise<void>;
  readonly sent: Promise<void>;
  readonly released: Promise<void>;
  /** Resolves when the server sees the held response close (sent, or its client gone). */
  readonly closed: Promise<void>;
  #arrive!: () => void;
  #close!: () => void;
  #send!: () => void;
  #release!: () => void;

  constructor() {
    this.arrived = new Promise((resolve) => {
      this.#arrive = resolve;
    });
    this.sent = new Promise((resolve) => {
      this.#send = resolve;
    });
    this.released = new Promise((resolve) => {
      this.#release = resolve;
    });
    this.closed = new Promise((resolve) => {
      this.#close = resolve;
    });
  }

  /** For the app's handler, given the raw response: marks the arrival, waits for the release. */
  async enter(raw: { once(event: 'close', listener: () => void): unknown }): Promise<void> {
    raw.once('close', () => this.#close());
    this.#arrive();
    await this.released;
  }

  /** For the app's handler, after sending. */
  markSent(): void {
    this.#send();
  }

  release(): void {
    this.#release();
  }
}

/**
 * An app serving, under the given counting options, the routes `/ok` (200), `/fail` (500),
 * `/missing` (404) and `/held` (see {@link Hold}).
 */
export type ServeCounting = (
  options: CountingOptions,
  hold: Hold,
) => Promise<{ readonly port: number; close(): Promise<void> }>;

/** A limiter whose refunds are counted, with a way to wait for the next one to settle. */
export function spyRefunds(limiter: Limiter): { limiter: Limiter; calls(): number; next(): Promise<void> } {
  let calls = 0;
  let waiters: (() => void)[] = [];
  const spied: Limiter = {
    ...limiter,
    refund(key, options) {
      calls++;
      const result = limiter.refund(key, options);
      const wake = () => {
        const woken = waiters;
        waiters = [];
        for (const w of woken) w();
      };
      result.then(wake, wake);
      return result;
    },
  };
  return {
    limiter: spied,
    calls: () => calls,
    next: () =>
      new Promise<void>((resolve) => {
        waiters.push(resolve);
      }),
  };
}

/** A few turns of the event loop: time for an event already queued (a second refund) to run. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** `promise`, or a failure naming `what` if it has not settled within `ms`: a missing refund fails rather than hangs. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function status(port: number, path: string): Promise<number> {
  return ((await pipeline(port, 1, path))[0] as { status: number }).status;
}

/** GETs `path`, then waits for the refund it causes to settle. */
async function refunded(port: number, path: string, spy: ReturnType<typeof spyRefunds>): Promise<number> {
  const settled = spy.next();
  const s = await status(port, path);
  await settled;
  return s;
}

function memoryLimiter(limit: number, store = new MemoryStore({ clock: () => 0, sweepIntervalMs: false })): Limiter {
  return createLimiter({ algorithm: slidingWindowLog({ limit, windowMs: 60_000 }), store });
}

async function remaining(limiter: Limiter, key = '127.0.0.1'): Promise<number> {
  return (await limiter.peek(key)).remaining;
}

/**
 * What both adapters must do with `skipFailedRequests`, `skipSuccessfulRequests` and
 * `requestWasSuccessful`. `makeLimiter(limit)` gives a fresh limiter on the store under test.
 */
export function countingTests(serve: ServeCounting, makeLimiter: (limit: number) => Limiter = memoryLimiter): void {
  async function withApp(
    options: CountingOptions,
    body: (port: number, hold: Hold) => Promise<void>,
    hold = new Hold(),
  ): Promise<void> {
    const served = await serve(options, hold);
    try {
      await body(served.port, hold);
    } finally {
      hold.release();
      await served.close();
    }
  }

  test('skipFailedRequests: failed responses are given back, successful ones count', async () => {
    const spy = spyRefunds(makeLimiter(2));
    await withApp({ limiter: spy.limiter, skipFailedRequests: true }, async (port) => {
      const seen = [
        await refunded(port, '/fail', spy),
        await refunded(port, '/missing', spy),
        await status(port, '/ok'),
        await refunded(port, '/fail', spy),
        await status(port, '/ok'),
        await status(port, '/ok'),
      ];
      deepStrictEqual(seen, [500, 404, 200, 500, 200, 429]);
      // Three failures refunded; the 429 charged nothing, so it is not refunded either.
      await turns();
      strictEqual(spy.calls(), 3);
      strictEqual(await remaining(spy.limiter), 0);
    });
  });

  test('skipSuccessfulRequests: only failed responses count (the login brute-force setup)', async () => {
    const spy = spyRefunds(makeLimiter(2));
    await withApp({ limiter: spy.limiter, skipSuccessfulRequests: true }, async (port) => {
      const seen = [
        await refunded(port, '/ok', spy),
        await refunded(port, '/ok', spy),
        await refunded(port, '/ok', spy),
        await status(port, '/fail'),
        await status(port, '/fail'),
        await status(port, '/ok'),
      ];
      deepStrictEqual(seen, [200, 200, 200, 500, 500, 429]);
      strictEqual(spy.calls(), 3);
    });
  });

  test('requestWasSuccessful decides what failed, sync or async', async () => {
    for (const wrap of [(v: boolean) => v, (v: boolean) => Promise.resolve(v)]) {
      const spy = spyRefunds(makeLimiter(3));
      // Only server errors are failures here: a 404 counts.
      const requestWasSuccessful = (s: number) => wrap(s < 500);
      await withApp({ limiter: spy.limiter, skipFailedRequests: true, requestWasSuccessful }, async (port) => {
        strictEqual(await refunded(port, '/fail', spy), 500);
        strictEqual(await status(port, '/missing'), 404);
        strictEqual(await status(port, '/ok'), 200);
        await turns();
        strictEqual(spy.calls(), 1);
        strictEqual(await remaining(spy.limiter), 1);
      });
    }
  });

  test('a throwing requestWasSuccessful leaves the request counted and warns once', async () => {
    for (const fail of [
      () => {
        throw new Error('bug');
      },
      () => Promise.reject(new Error('bug')),
    ]) {
      const spy = spyRefunds(makeLimiter(3));
      const codes: string[] = [];
      let warned!: () => void;
      const warning = new Promise<void>((resolve) => {
        warned = resolve;
      });
      const warn = (_message: string, code: string) => {
        codes.push(code);
        warned();
      };
      await withApp(
        { limiter: spy.limiter, skipFailedRequests: true, requestWasSuccessful: fail, warn },
        async (port) => {
          strictEqual(await status(port, '/fail'), 500);
          await warning;
          strictEqual(await status(port, '/fail'), 500);
          await turns();
          deepStrictEqual(codes, ['FLOODGATE_REQUEST_WAS_SUCCESSFUL_FAILED']);
          strictEqual(spy.calls(), 0);
          strictEqual(await remaining(spy.limiter), 1);
        },
      );
    }
  });

  test('both skips: a request counts while in flight, which limits concurrency exactly', async () => {
    const spy = spyRefunds(makeLimiter(1));
    await withApp(
      { limiter: spy.limiter, skipFailedRequests: true, skipSuccessfulRequests: true },
      async (port, hold) => {
        const held = pipeline(port, 1, '/held');
        await hold.arrived;
        // The held request is still charged: a second one at the same time is refused.
        strictEqual(await status(port, '/ok'), 429);
        const settled = spy.next();
        hold.release();
        strictEqual(((await held)[0] as { status: number }).status, 200);
        await settled;
        strictEqual(await refunded(port, '/ok', spy), 200);
        strictEqual(await remaining(spy.limiter), 1);
      },
    );
  });

  test('a request the client aborts before the response is given back once, never twice', async () => {
    const spy = spyRefunds(makeLimiter(3));
    await withApp({ limiter: spy.limiter, skipFailedRequests: true }, async (port, hold) => {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('GET /held HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await hold.arrived;
      strictEqual(await remaining(spy.limiter), 2, 'charged on arrival');
      const settled = spy.next();
      socket.destroy();
      await settled;
      strictEqual(spy.calls(), 1);
      strictEqual(await remaining(spy.limiter), 3);
      // The handler now answers into the closed connection: that end must not refund again.
      hold.release();
      await hold.sent;
      await turns(20);
      strictEqual(spy.calls(), 1);
      strictEqual(await remaining(spy.limiter), 3);
    });
  });

  test('a request whose client leaves while its decision is pending is given back', async () => {
    const spy = spyRefunds(makeLimiter(3));
    let asked!: () => void;
    const keyAsked = new Promise<void>((resolve) => {
      asked = resolve;
    });
    let given!: () => void;
    const keyGiven = new Promise<void>((resolve) => {
      given = resolve;
    });
    // The key is given only once the server has seen the connection close: the decision is
    // pending all the while the client leaves.
    const keyGenerator = (req: unknown): Promise<string> => {
      const r = req as { raw?: { socket: Socket }; socket?: Socket };
      const socket = (r.raw?.socket ?? r.socket) as Socket;
      asked();
      return new Promise((resolve) => {
        socket.once('close', () => {
          resolve('gated');
          given();
        });
      });
    };
    await withApp({ limiter: spy.limiter, skipFailedRequests: true, keyGenerator }, async (port) => {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await keyAsked;
      const settled = spy.next();
      socket.destroy();
      await keyGiven;
      await within(settled, 5000, 'the refund of the abandoned request');
      await turns(20);
      strictEqual(spy.calls(), 1, 'given back once');
      strictEqual(await remaining(spy.limiter, 'gated'), 3);
    });
  });

  test('a charged request failed by a throwing onDecision is given back with skipFailedRequests', async () => {
    const spy = spyRefunds(makeLimiter(3));
    const onDecision = (): void => {
      throw new Error('metrics are down');
    };
    await withApp({ limiter: spy.limiter, skipFailedRequests: true, onDecision }, async (port) => {
      for (let i = 0; i < 4; i++) {
        const settled = spy.next();
        strictEqual(await status(port, '/ok'), 500);
        await within(settled, 5000, `the refund of failed request ${i + 1}`);
      }
      strictEqual(spy.calls(), 4);
      strictEqual(await remaining(spy.limiter), 3);
    });
  });

  test('with skipSuccessfulRequests alone, an aborted request counts', async () => {
    const spy = spyRefunds(makeLimiter(3));
    await withApp({ limiter: spy.limiter, skipSuccessfulRequests: true }, async (port, hold) => {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('GET /held HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await hold.arrived;
      socket.destroy();
      await hold.closed;
      hold.release();
      await hold.sent;
      await turns(20);
      strictEqual(spy.calls(), 0);
      strictEqual(await remaining(spy.limiter), 2);
    });
  });
}

/** Refunds while the store is down (memory store made to fail), for both adapters. */
export function countingFailureTests(serve: ServeCounting): void {
  const policies: StoreErrorPolicy[] = ['allow', 'deny', 'throw'];
  for (const onStoreError of policies) {
    test(`a refund while the store is down (${onStoreError}): no crash, reported as a store failure`, async () => {
      const store = new SwitchableStore({ failing: false, async: true });
      const outages: FloodgateError[] = [];
      let reported!: () => void;
      const report = new Promise<void>((resolve) => {
        reported = resolve;
      });
      const limiter = createLimiter({
        algorithm: slidingWindowLog({ limit: 2, windowMs: 60_000 }),
        store,
        onStoreError,
        onOutage(error) {
          outages.push(error);
          reported();
        },
      });
      const hold = new Hold();
      const served = await serve({ limiter, skipSuccessfulRequests: true }, hold);
      try {
        const held = pipeline(served.port, 1, '/held');
        await hold.arrived;
        store.failing = true;
        hold.release();
        strictEqual(((await held)[0] as { status: number }).status, 200);
        await report;
        deepStrictEqual(
          outages.map((e) => e.code),
          ['ERR_STORE'],
        );
        // The store is back: the app still answers, and the failed refund left the charge standing.
        store.failing = false;
        strictEqual(await status(served.port, '/fail'), 500);
        const d: Decision = await limiter.peek('127.0.0.1');
        strictEqual(d.remaining, 0);
        ok(!d.degraded);
      } finally {
        await served.close();
      }
    });
  }
}

/** A refund when Redis has gone away between the charge and the end of the request. */
export function countingRedisDownTest(serve: ServeCounting): void {
  test('Redis killed while a request is in flight: its refund fails without a crash, reported once', async () => {
    const doomed = await startRedis();
    const client = storeClient(doomed.url);
    await whenReady(client);
    const outages: string[] = [];
    let reported!: () => void;
    const report = new Promise<void>((resolve) => {
      reported = resolve;
    });
    const limiter = createLimiter({
      algorithm: slidingWindowLog({ limit: 2, windowMs: 60_000 }),
      store: new RedisStore({ client, timeoutMs: 200 }),
      prefix: randomPrefix('refund'),
      onStoreError: 'throw',
      onOutage(error) {
        outages.push(error.code);
        reported();
      },
    });
    const hold = new Hold();
    const served = await serve({ limiter, skipSuccessfulRequests: true }, hold);
    try {
      const held = pipeline(served.port, 1, '/held');
      await hold.arrived;
      await doomed.stop();
      hold.release();
      strictEqual(((await held)[0] as { status: number }).status, 200);
      await report;
      strictEqual(outages.length, 1);
      ok(outages[0]?.startsWith('ERR_STORE'), outages[0]);
      // The app still answers: with 'throw', the next charge's failure goes to the error handler.
      strictEqual(await status(served.port, '/ok'), 500);
    } finally {
      hold.release();
      await served.close();
      closeClient(client);
      await doomed.stop();
    }
  });
}
