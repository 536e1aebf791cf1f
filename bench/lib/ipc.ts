import type { ChildProcess } from 'node:child_process';
import { nodeScript, startChild, stopChild } from './proc.js';

/** A long-lived worker process that answers requests over Node's IPC channel, one at a time. */
export interface IpcWorker {
  readonly pid: number;
  request<T>(message: Record<string, unknown>, timeoutMs: number): Promise<T>;
  stop(): Promise<void>;
}

interface Reply {
  id?: number;
  ready?: boolean;
  ok?: boolean;
  result?: unknown;
  error?: string;
}

/**
 * Starts `node --import tsx <script> <args>` pinned to `cpu` with an IPC channel, and resolves
 * once it says it is ready. Workers stay up across rounds, so short alternating rounds cost no
 * process start-up and each contender keeps its own warm JIT.
 */
export async function startIpcWorker(
  script: string,
  args: readonly string[],
  cpu: number | undefined,
  options: { nodeFlags?: readonly string[]; readyTimeoutMs?: number } = {},
): Promise<IpcWorker> {
  const [cmd, argv] = nodeScript(script, args, options.nodeFlags);
  const child: ChildProcess = startChild(cmd, argv, cpu, true);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let nextId = 1;
  const pending = new Map<number, { done(value: unknown): void; fail(error: Error): void }>();
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.on('message', (raw: unknown) => {
    const reply = raw as Reply;
    if (reply.id === undefined) return;
    const waiter = pending.get(reply.id);
    if (waiter === undefined) return;
    pending.delete(reply.id);
    if (reply.ok === true) waiter.done(reply.result);
    else waiter.fail(new Error(reply.error ?? 'worker failed'));
  });
  child.once('exit', (code, signal) => {
    for (const waiter of pending.values()) {
      waiter.fail(new Error(`${script} exited (${code ?? signal}): ${stderr.trim().slice(-1500)}`));
    }
    pending.clear();
  });
  await new Promise<void>((done, fail) => {
    const timer = setTimeout(
      () =>
        fail(
          new Error(`${script} not ready after ${options.readyTimeoutMs ?? 30_000} ms: ${stderr.trim().slice(-1500)}`),
        ),
      options.readyTimeoutMs ?? 30_000,
    );
    const onMessage = (raw: unknown): void => {
      if ((raw as Reply).ready === true) {
        clearTimeout(timer);
        child.off('message', onMessage);
        done();
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${script} ${args.join(' ')} exited (${code}) before ready: ${stderr.trim().slice(-1500)}`));
    });
  }).catch(async (error: unknown) => {
    await stopChild(child);
    throw error;
  });
  return {
    pid: child.pid as number,
    request<T>(message: Record<string, unknown>, timeoutMs: number): Promise<T> {
      const id = nextId++;
      return new Promise<T>((done, fail) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          fail(new Error(`${script}: no reply to ${JSON.stringify(message)} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          done: (value) => {
            clearTimeout(timer);
            done(value as T);
          },
          fail: (error) => {
            clearTimeout(timer);
            fail(error);
          },
        });
        child.send({ ...message, id });
      });
    },
    async stop() {
      if (child.connected) child.disconnect();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      await stopChild(child);
    },
  };
}

/**
 * The worker side: answers each request with `handler`'s result (or its error), says it is ready
 * once listening, and exits when the parent goes away, so no worker outlives a run.
 */
export function serve(handler: (message: Record<string, unknown>) => Promise<unknown>): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('serve() needs an IPC channel (start the worker with startIpcWorker)');
  let queue = Promise.resolve();
  process.on('message', (raw: unknown) => {
    const message = raw as Record<string, unknown> & { id: number };
    // One request at a time, in arrival order: a measurement must never overlap another.
    queue = queue.then(async () => {
      try {
        send({ id: message.id, ok: true, result: await handler(message) });
      } catch (error) {
        send({
          id: message.id,
          ok: false,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
      }
    });
  });
  process.once('disconnect', () => process.exit(0));
  send({ ready: true });
}
