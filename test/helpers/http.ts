import { once } from 'node:events';
import { createServer, request as httpRequest, type RequestListener, type Server } from 'node:http';
import { connect } from 'node:net';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import Fastify4 from 'fastify4';
import {
  type BindOptions,
  createLimiter,
  FloodgateError,
  MemoryStore,
  type Store,
  type StoreBinding,
  slidingWindowLog,
} from 'floodgate';

/** Both supported Express majors. Express 4 is cast to 5's types: the adapter uses only what both share. */
export const expressVersions: readonly { name: string; express: typeof express }[] = [
  { name: 'Express 5', express },
  { name: 'Express 4', express: express4 as unknown as typeof express },
];

/** Both supported Fastify majors, cast to one type for the same reason. */
export const fastifyVersions: readonly { name: string; Fastify: typeof Fastify }[] = [
  { name: 'Fastify 5', Fastify },
  { name: 'Fastify 4', Fastify: Fastify4 as unknown as typeof Fastify },
];

/** A clock the test moves by hand, for MemoryStore({ clock }). */
export function manualClock(start = 0): { clock: () => number; advance(ms: number): void; set(ms: number): void } {
  let now = start;
  return {
    clock: () => now,
    advance(ms) {
      now += ms;
    },
    set(ms) {
      now = ms;
    },
  };
}

export interface Listening {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `listener` on a free loopback port (or a Unix socket at `path`). */
export async function listen(listener: RequestListener, path?: string): Promise<Listening> {
  const server = createServer(listener);
  if (path === undefined) server.listen(0, '127.0.0.1');
  else server.listen(path);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    server,
    port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Splits complete HTTP/1.1 responses (Content-Length framed) off the front of `buffer`. */
function parseResponses(buffer: Buffer, out: RawResponse[]): Buffer {
  for (;;) {
    const end = buffer.indexOf('\r\n\r\n');
    if (end === -1) return buffer;
    const lines = buffer.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number((lines[0] ?? '').split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    if (headers['transfer-encoding'] !== undefined) throw new Error('pipeline: chunked responses are not parsed');
    const length = Number(headers['content-length'] ?? 0);
    if (buffer.length < end + 4 + length) return buffer;
    out.push({ status, headers, body: buffer.subarray(end + 4, end + 4 + length).toString('utf8') });
    buffer = buffer.subarray(end + 4 + length);
  }
}

/**
 * Writes `count` GET requests to `path` on one keep-alive connection in a single write (HTTP/1.1
 * pipelining) and collects the responses in order. Fails after `timeoutMs`.
 */
export function pipeline(
  port: number,
  count: number,
  path = '/',
  extraHeaders = '',
  timeoutMs = 5000,
): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    const responses: RawResponse[] = [];
    let buffer: Buffer = Buffer.alloc(0);
    let settled = false;
    const socket = connect(port, '127.0.0.1');
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error === undefined) resolve(responses);
      else reject(error);
    };
    const timer = setTimeout(
      () => finish(new Error(`pipeline: ${responses.length} of ${count} responses within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('connect', () => {
      const one = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n${extraHeaders}\r\n`;
      socket.write(one.repeat(count));
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        buffer = parseResponses(Buffer.concat([buffer, chunk]), responses);
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (responses.length >= count) finish();
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(`pipeline: connection closed after ${responses.length} responses`)));
  });
}

/** One GET over a Unix socket, where the server sees no client IP. */
export function getOverUnixSocket(socketPath: string, path = '/'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') headers[name] = value;
        resolve({ status: res.statusCode ?? 0, headers, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('unix socket request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Collects once-only warnings given to an adapter's `warn` option. */
export function warnings(): { warn: (message: string, code: string) => void; codes: string[]; messages: string[] } {
  const codes: string[] = [];
  const messages: string[] = [];
  return {
    warn(message, code) {
      codes.push(code);
      messages.push(message);
    },
    codes,
    messages,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A store that can be switched between failing (every call throws or rejects `ERR_STORE`) and
 * working (a MemoryStore underneath); `async` makes it answer with promises, like a network store.
 */
export class SwitchableStore implements Store {
  failing: boolean;
  readonly #async: boolean;
  readonly #inner: MemoryStore;

  constructor(options: { failing?: boolean; async?: boolean; clock?: () => number } = {}) {
    this.failing = options.failing ?? true;
    this.#async = options.async ?? false;
    this.#inner = new MemoryStore({ sweepIntervalMs: false, ...(options.clock ? { clock: options.clock } : {}) });
  }

  bind(options: BindOptions): StoreBinding {
    const inner = this.#inner.bind(options);
    const store = this;
    return {
      decide(key, cost, charge) {
        if (store.failing) {
          const error = new FloodgateError('ERR_STORE', 'switchable store: down');
          if (store.#async) return Promise.reject(error);
          throw error;
        }
        const result = inner.decide(key, cost, charge);
        return store.#async ? Promise.resolve(result) : result;
      },
      refund(key, cost) {
        if (store.failing) {
          const error = new FloodgateError('ERR_STORE', 'switchable store: down');
          if (store.#async) return Promise.reject(error);
          throw error;
        }
        const result = inner.refund(key, cost);
        return store.#async ? Promise.resolve(result) : result;
      },
      block: (key, ms) => inner.block(key, ms),
      reset(key) {
        return inner.reset(key);
      },
    };
  }
}

/** A sliding-log limiter on a memory store driven by a manual clock, as both adapter suites use. */
export function slidingLimiter(limit: number, windowMs: number, clock = manualClock()) {
  const store = new MemoryStore({ clock: clock.clock, sweepIntervalMs: false });
  return { clock, limiter: createLimiter({ algorithm: slidingWindowLog({ limit, windowMs }), store }) };
}

/** The rate-limit fields of a response (all `RateLimit*`, `X-RateLimit-*` and `Retry-After`). */
export function rateLimitHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('ratelimit') || name.startsWith('x-ratelimit') || name === 'retry-after') out[name] = value;
  }
  return out;
}

/**
 * The draft-6 timeline both adapters must answer exactly, for `slidingLimiter(2, 10_000)`: the
 * clock readings of four requests, then each one's status and rate-limit fields.
 */
export const DRAFT6_TIMELINE: {
  readonly at: readonly number[];
  readonly expected: [number, Record<string, string>][];
} = (() => {
  const row = (remaining: number, reset: number) => ({
    'ratelimit-limit': '2',
    'ratelimit-remaining': `${remaining}`,
    'ratelimit-reset': `${reset}`,
    'ratelimit-policy': '2;w=10',
  });
  return {
    at: [0, 3_000, 3_000, 9_999],
    expected: [
      [200, row(1, 10)],
      [200, row(0, 10)],
      [429, { ...row(0, 7), 'retry-after': '7' }],
      [429, { ...row(0, 1), 'retry-after': '1' }],
    ],
  };
})();

/** The first request's fields under each other format, for `slidingLimiter(2, 10_000)`. */
export const FORMAT_CASES: readonly ['draft-7' | 'draft-8' | false, Record<string, string>][] = [
  ['draft-7', { ratelimit: 'limit=2, remaining=1, reset=10', 'ratelimit-policy': '2;w=10' }],
  ['draft-8', { ratelimit: '"default";r=1;t=10', 'ratelimit-policy': '"default";q=2;w=10' }],
  [false, {}],
];

/** 20 pipelined requests against a limit of 10: exactly 10 allowed, in order, then 10 refused. */
export const PIPELINED_STATUSES: readonly number[] = [...new Array(10).fill(200), ...new Array(10).fill(429)];
/** The draft-6 `RateLimit-Remaining` of those 20 answers. */
export const PIPELINED_REMAINING: readonly string[] = [
  '9',
  '8',
  '7',
  '6',
  '5',
  '4',
  '3',
  '2',
  '1',
  '0',
  ...new Array(10).fill('0'),
];

/** How many answers were 200 and how many 429, for checks where order is not the point. */
export function allowedAndLimited(statuses: readonly number[]): [number, number] {
  return [statuses.filter((s) => s === 200).length, statuses.filter((s) => s === 429).length];
}
