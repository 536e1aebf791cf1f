import type { Cluster, Redis } from 'ioredis';
import { FloodgateError } from '../../errors.js';
import type { DecideScript } from './script.js';

/** An ioredis client, single node or Cluster; the user creates and owns it. */
export type RedisClient = Redis | Cluster;

/** The slice of an ioredis client the store uses, so a duck-typed check can find it. */
export interface ScriptClient {
  readonly status: string;
  evalsha(sha: string, numKeys: number, ...args: string[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  del(...keys: string[]): Promise<number>;
  connect(): Promise<void>;
}

/** Whether `value` looks like an ioredis `Redis` or `Cluster`. */
export function isScriptClient(value: unknown): value is ScriptClient {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    typeof c.status === 'string' &&
    typeof c.evalsha === 'function' &&
    typeof c.eval === 'function' &&
    typeof c.del === 'function' &&
    typeof c.connect === 'function'
  );
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/** A call in flight: settled by its reply or, past `deadline`, by the timeout. */
interface Pending {
  readonly deadline: number;
  readonly what: string;
  settled: boolean;
  reject(error: unknown): void;
}

/**
 * Sends one command with a bounded wait. `send` runs only when the client is `ready`: ioredis
 * would otherwise park the command in its offline queue for the whole outage, so an unready
 * client is answered at once with `ERR_STORE_UNAVAILABLE` (thrown synchronously, the cheapest
 * answer). A reply after the timeout is swallowed, as is its rejection.
 *
 * Timeouts share one timer: every call waits the same `timeoutMs`, so deadlines arrive in the
 * order calls were sent, and one queue with a timer armed for its oldest deadline does what a
 * timer per call would, without creating and clearing a timer on every decision.
 */
export class Caller {
  readonly #client: ScriptClient;
  readonly #timeoutMs: number;
  /** Calls in send order; settled ones are dropped when the timer next runs. */
  #pending: Pending[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** False from a failed call until the next successful one: the deny cache trusts only a healthy store. */
  healthy = true;

  constructor(client: ScriptClient, timeoutMs: number) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
  }

  /** Runs the decide script: EVALSHA, and EVAL when the server has no copy (a restart, a new node). */
  script(script: DecideScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const client = this.#client;
    return this.#run(
      'script',
      () => client.evalsha(script.sha, keys.length, ...keys, ...args),
      // Nothing is cached on our side, so a server that restarted empty (or was down when the
      // app started) just gets the script with the next call.
      (error) => (isNoScript(error) ? client.eval(script.source, keys.length, ...keys, ...args) : undefined),
    );
  }

  /** Deletes `keys` (all in one slot). */
  del(keys: readonly string[]): Promise<unknown> {
    return this.#run('reset', () => this.#client.del(...keys));
  }

  #run(
    what: string,
    send: () => Promise<unknown>,
    retry?: (error: unknown) => Promise<unknown> | undefined,
  ): Promise<unknown> {
    const client = this.#client;
    const status = client.status;
    if (status !== 'ready') {
      // A lazyConnect client waits for its first command, which we would never send.
      if (status === 'wait') client.connect().catch(() => undefined);
      this.healthy = false;
      throw new FloodgateError(
        'ERR_STORE_UNAVAILABLE',
        `RedisStore: client is ${status}, not ready; ${what} not attempted`,
      );
    }
    let reply: Promise<unknown>;
    try {
      reply = send();
    } catch (error) {
      reply = Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      const pending: Pending = { deadline: performance.now() + this.#timeoutMs, what, settled: false, reject };
      this.#enqueue(pending);
      const succeed = (value: unknown): void => {
        if (pending.settled) return;
        pending.settled = true;
        this.healthy = true;
        resolve(value);
      };
      const fail = (error: unknown): void => {
        if (pending.settled) return;
        pending.settled = true;
        this.healthy = false;
        const message = error instanceof Error ? error.message : String(error);
        reject(new FloodgateError('ERR_STORE', `RedisStore: ${what} failed: ${message}`, { cause: error }));
      };
      reply.then(succeed, (error: unknown) => {
        const again = pending.settled || retry === undefined ? undefined : retry(error);
        if (again === undefined) fail(error);
        else again.then(succeed, fail);
      });
    });
  }

  /**
   * Queues a call, first dropping the settled calls at the head: replies come back in send order
   * on one connection, so the head keeps up with them, and a long `timeoutMs` does not keep every
   * answered call of the last `timeoutMs` in memory.
   */
  #enqueue(pending: Pending): void {
    let queue = this.#pending;
    let head = this.#head;
    while (head < queue.length && (queue[head] as Pending).settled) head++;
    if (head === queue.length) {
      queue = [];
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      // Shifting is O(length): do it only once the dead prefix outweighs the rest.
      queue = queue.slice(head);
      head = 0;
    }
    queue.push(pending);
    this.#pending = queue;
    this.#head = head;
    if (this.#timer === undefined) this.#arm(this.#timeoutMs);
  }

  #arm(ms: number): void {
    // Not holding the process open: a call in flight already has the client's socket doing so.
    this.#timer = setTimeout(() => this.#expire(), ms);
    this.#timer.unref();
  }

  /** Times out every call past its deadline, then re-arms for the oldest one still waiting. */
  #expire(): void {
    this.#timer = undefined;
    const queue = this.#pending;
    const now = performance.now();
    let i = this.#head;
    for (; i < queue.length; i++) {
      const pending = queue[i] as Pending;
      if (pending.settled) continue;
      if (pending.deadline > now) break;
      pending.settled = true;
      this.healthy = false;
      pending.reject(
        new FloodgateError('ERR_STORE_TIMEOUT', `RedisStore: no reply to ${pending.what} within ${this.#timeoutMs} ms`),
      );
    }
    if (i === queue.length) {
      this.#pending = [];
      this.#head = 0;
      return;
    }
    this.#head = i;
    this.#arm(Math.max(1, Math.ceil((this.#pending[this.#head] as Pending).deadline - now)));
  }
}
