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

/**
 * Sends one command with a bounded wait. `send` runs only when the client is `ready`: ioredis
 * would otherwise park the command in its offline queue for the whole outage, so an unready
 * client is answered at once with `ERR_STORE_UNAVAILABLE` (thrown synchronously, the cheapest
 * answer). A reply after the timeout is swallowed, as is its rejection.
 */
export class Caller {
  readonly #client: ScriptClient;
  readonly #timeoutMs: number;
  /** False from a failed call until the next successful one: the deny cache trusts only a healthy store. */
  healthy = true;

  constructor(client: ScriptClient, timeoutMs: number) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
  }

  /** Runs the decide script: EVALSHA, and EVAL when the server has no copy (a restart, a new node). */
  script(script: DecideScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const client = this.#client;
    return this.#run('script', () =>
      client.evalsha(script.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
        if (!isNoScript(error)) throw error;
        // Nothing is cached on our side, so a server that restarted empty (or was down when the
        // app started) just gets the script with the next call.
        return client.eval(script.source, keys.length, ...keys, ...args);
      }),
    );
  }

  /** Deletes `keys` (all in one slot). */
  del(keys: readonly string[]): Promise<unknown> {
    return this.#run('reset', () => this.#client.del(...keys));
  }

  #run(what: string, send: () => Promise<unknown>): Promise<unknown> {
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
    const timeoutMs = this.#timeoutMs;
    let reply: Promise<unknown>;
    try {
      reply = send();
    } catch (error) {
      reply = Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        this.healthy = false;
        reject(new FloodgateError('ERR_STORE_TIMEOUT', `RedisStore: no reply to ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      reply.then(
        (value) => {
          if (done) return;
          clearTimeout(timer);
          this.healthy = true;
          resolve(value);
        },
        (error: unknown) => {
          if (done) return;
          clearTimeout(timer);
          this.healthy = false;
          const message = error instanceof Error ? error.message : String(error);
          reject(new FloodgateError('ERR_STORE', `RedisStore: ${what} failed: ${message}`, { cause: error }));
        },
      );
    });
  }
}
