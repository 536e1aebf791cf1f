import { FloodgateError } from '../../errors.js';
import { show } from '../../options.js';
import { ignore, isThenable } from '../../thenable.js';
import type { Corkable, RedisPort } from './port.js';
import type { DecideScript } from './script.js';

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/** A call in flight: settled by its reply or, past `deadline`, by the timeout. */
class Pending<T> {
  settled = false;
  /** Sent before a reload barrier went up, and not yet answered or sent again (see `Caller.#reload`). */
  beforeReload = false;
  resolve: (value: T) => void = ignore;
  reject: (error: unknown) => void = ignore;

  constructor(
    /** When the call times out; moved later only when a stall held its write (see `#cork`). */
    public deadline: number,
    readonly what: string,
    /** The decide script for a script call (kept to send it again with EVAL); none for a delete. */
    public script: DecideScript | undefined,
    public keys: readonly string[],
    public args: readonly string[],
    /** Turns the reply into the call's result; a throw fails the call. */
    public onReply: (reply: unknown) => T,
    /** Turns a failure (error reply, timeout, a throw of `onReply`) into the result; a throw rejects. */
    public onError: (error: unknown) => T | Promise<T>,
  ) {}

  /**
   * Lets go of all a settled call held but its place in the queue. A settled call may stay queued
   * for a while (see `Caller.#enqueue`), and what it holds (a batch's calls, their keys, closures
   * and promises) would stay alive with it: under load, long enough to be moved to the old
   * generation and kept there until a full collection.
   */
  release(): void {
    this.script = undefined;
    this.keys = NONE;
    this.args = NONE;
    this.onReply = ignore as () => T;
    this.onError = ignore as () => T;
    this.resolve = ignore;
    this.reject = ignore;
  }
}
const NONE: readonly string[] = [];

/**
 * How far past its due time the timeout timer may fire before the loop counts as having stalled:
 * the millisecond timers are rounded to. Erring low costs only a `setImmediate` before a timeout.
 */
const LATE_MS = 1;

/** A call's `onReply` that keeps the reply as it is. */
export function same<T>(value: T): T {
  return value;
}

/** A call's `onError` that fails the call with the error itself. */
export function rethrow(error: unknown): never {
  throw error;
}

/**
 * Sends one command with a bounded wait. A command is sent only when the client is ready: the
 * client would otherwise park it in its offline queue for the whole outage, so an unready
 * client is answered at once with `ERR_STORE_UNAVAILABLE` (thrown synchronously, the cheapest
 * answer). A reply after the timeout is swallowed, as is its rejection.
 *
 * Timeouts share one timer: every call waits the same `timeoutMs`, so deadlines arrive in the
 * order calls were sent, and one queue with a timer armed for its oldest deadline does what a
 * timer per call would, without creating and clearing a timer on every decision.
 *
 * A call costs one promise of its own and three closures: the reply is turned into the result
 * (`onReply`, and a failure by `onError`) while the call settles, rather than by a further `then`
 * in the caller.
 */
export class Caller {
  readonly #client: RedisPort;
  readonly #timeoutMs: number;
  /** Calls in send order; settled ones are dropped when the timer next runs. */
  #pending: Pending<unknown>[] = [];
  #head = 0;
  /** The timeout timer, or the re-check it deferred to (see {@link Caller.#expire}); one at a time. */
  #timer: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;
  /** When the timer is due, on `performance.now()`. */
  #due = 0;
  readonly #batchWrites: boolean;
  /** The socket corked for the rest of this tick, if any. */
  #corked: Corkable | undefined;
  /** Whether an immediate is waiting for the client's write of calls sent (see {@link Caller.#written}). */
  #writing = false;
  /**
   * Calls sent before the script went missing and not yet answered or sent again, while a reload
   * barrier is up (see {@link Caller.#reload}); 0 when none is.
   */
  #reloading = 0;
  /** Calls made while the reload barrier is up, in order, sent when it comes down. */
  readonly #held: Pending<unknown>[] = [];
  /** False from a failed call until the next successful one: the deny cache trusts only a healthy store. */
  healthy = true;
  /** Told when a healthy store sees a call fail (see {@link Caller.#failing}). */
  readonly #onFailing: () => void;
  /** Told of the first reply, then dropped: the store's once-only look at the server goes there. */
  #onFirstReply: (() => void) | undefined;

  constructor(
    client: RedisPort,
    timeoutMs: number,
    batchWrites: boolean,
    onFailing: () => void,
    onFirstReply?: () => void,
  ) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
    this.#batchWrites = batchWrites;
    this.#onFailing = onFailing;
    this.#onFirstReply = onFirstReply;
  }

  /**
   * Marks the store unhealthy, telling `onFailing` when it was healthy. Answers recorded while it
   * was healthy may be stale now: a call that timed out may still run in Redis, and charge.
   * Nothing is recorded while unhealthy, as a successful reply makes it healthy before it is read.
   */
  #failing(): void {
    if (!this.healthy) return;
    this.healthy = false;
    this.#onFailing();
  }

  /** Whether the client writes a command in a later phase of the loop than the call that sends it (see {@link RedisPort.writesLater}). */
  get writesLater(): boolean {
    return this.#client.writesLater;
  }

  /**
   * Runs the decide script and resolves with `onReply(reply)`, or on failure with
   * `onError(error)`: EVALSHA, and EVAL when the server has no copy (a restart, a new node).
   * Nothing is cached on our side, so a server that restarted empty (or was down when the app
   * started) just gets the script with the next call. With `writeNow`, the call is written at
   * once even while an earlier one is unanswered, rather than with the rest of the tick's writes
   * (see {@link Caller.#cork}): for a call that is a full batch already.
   */
  script<T>(
    script: DecideScript,
    keys: readonly string[],
    args: readonly string[],
    onReply: (reply: unknown) => T,
    onError: (error: unknown) => T | Promise<T>,
    writeNow = false,
  ): Promise<T> {
    return this.#call(new Pending(this.#deadline('script'), 'script', script, keys, args, onReply, onError), writeNow);
  }

  /** Deletes `keys` (all in one slot). */
  del(keys: readonly string[]): Promise<unknown> {
    return this.#call(new Pending(this.#deadline('reset'), 'reset', undefined, keys, [], same, rethrow));
  }

  /**
   * The deadline of a call sent now, if the client is ready; else throws
   * `ERR_STORE_UNAVAILABLE` without sending anything.
   */
  #deadline(what: string): number {
    const unready = this.#client.unready();
    if (unready !== undefined) {
      this.#failing();
      throw new FloodgateError('ERR_STORE_UNAVAILABLE', `RedisStore: ${unready}, so the ${what} was not sent`);
    }
    return performance.now() + this.#timeoutMs;
  }

  /** Sends the call's command: EVALSHA, or with `full` the script's whole source by EVAL; DEL for a delete. */
  #send(pending: Pending<unknown>, full: boolean): Promise<unknown> {
    const client = this.#client;
    const { script, keys, args } = pending;
    try {
      const sent: unknown =
        script === undefined
          ? client.del(keys)
          : full
            ? client.eval(script.source, keys, args)
            : client.evalsha(script.sha, keys, args);
      // A client that answers some other way (callbacks) fails the call here, not the process
      // when `then` is called on nothing.
      if (!isThenable(sent)) {
        return Promise.reject(new TypeError(`the client returned ${show(sent)} for a command, not a promise`));
      }
      return sent as Promise<unknown>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #call<T>(pending: Pending<T>, writeNow = false): Promise<T> {
    const result = new Promise<T>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
    });
    const queued = pending as Pending<unknown>;
    const busy = this.#enqueue(queued);
    // A delete (a reset) waits for every call sent before it to be answered: one answered NOSCRIPT
    // is sent again with the whole script, and would charge after the delete it was made before.
    if (busy && pending.script === undefined && this.#reloading === 0) this.#reload(this.#pending.length - 1);
    if (this.#reloading > 0) {
      this.#held.push(queued);
      return result;
    }
    if (busy && this.#batchWrites && !writeNow) this.#cork();
    this.#dispatch(queued);
    return result;
  }

  #dispatch(pending: Pending<unknown>): void {
    this.#send(pending, false).then(
      (value: unknown) => this.#succeed(pending, value),
      (error: unknown) => this.#failed(pending, error),
    );
    if (this.#client.writesLater) this.#written();
  }

  /**
   * Puts up the reload barrier when a script call finds the script missing (NOSCRIPT: a restart,
   * a SCRIPT FLUSH, a failover). Each call so answered is sent again with the whole source as its
   * reply is read, and replies come in send order; but a call made after one of those EVALs loaded
   * the script again would succeed at once, ahead of calls sent before it that are still to be
   * answered NOSCRIPT and sent again. So from the first NOSCRIPT until every call sent before it
   * has been answered or sent again, new calls wait, and then go in the order they were made:
   * Redis decides every call in the order it was made, as it does when the script is there. A
   * delete puts the same barrier up over the calls before it (`end` excludes the delete itself).
   */
  #reload(end = this.#pending.length): void {
    const queue = this.#pending;
    for (let i = this.#head; i < end; i++) {
      const pending = queue[i] as Pending<unknown>;
      if (pending.settled) continue;
      pending.beforeReload = true;
      this.#reloading++;
    }
  }

  /** A call sent before the barrier went up is answered, or sent again: the barrier comes down after the last. */
  #passed(pending: Pending<unknown>): void {
    if (!pending.beforeReload) return;
    pending.beforeReload = false;
    if (--this.#reloading > 0) return;
    const held = this.#held.splice(0);
    for (const call of held) if (!call.settled) this.#dispatch(call);
  }

  #succeed(pending: Pending<unknown>, value: unknown): void {
    if (pending.settled) return;
    pending.settled = true;
    this.#passed(pending);
    this.healthy = true;
    const first = this.#onFirstReply;
    if (first !== undefined) {
      this.#onFirstReply = undefined;
      first();
    }
    let result: unknown;
    try {
      result = pending.onReply(value);
    } catch (error) {
      Caller.#settleError(pending, error);
      return;
    }
    pending.resolve(result);
    pending.release();
  }

  /** Settles a failed call with what its `onError` makes of `error`. */
  static #settleError(pending: Pending<unknown>, error: unknown): void {
    let result: unknown;
    try {
      result = pending.onError(error);
    } catch (thrown) {
      pending.reject(thrown);
      pending.release();
      return;
    }
    pending.resolve(result);
    pending.release();
  }

  #failed(pending: Pending<unknown>, error: unknown): void {
    if (pending.settled) return;
    if (pending.script !== undefined && isNoScript(error)) {
      if (this.#reloading === 0) this.#reload();
      // Sent again in full, once: whatever that answers settles the call.
      this.#send(pending, true).then(
        (value: unknown) => this.#succeed(pending, value),
        (thrown: unknown) => this.#fail(pending, thrown),
      );
      this.#passed(pending);
      return;
    }
    this.#fail(pending, error);
  }

  #fail(pending: Pending<unknown>, error: unknown): void {
    if (pending.settled) return;
    pending.settled = true;
    this.#passed(pending);
    this.#failing();
    const message = error instanceof Error ? error.message : String(error);
    Caller.#settleError(
      pending,
      new FloodgateError('ERR_STORE', `RedisStore: ${pending.what} failed: ${message}`, { cause: error }),
    );
  }

  /**
   * Queues a call, first dropping the settled calls at the head: replies come back in send order
   * on one connection, so the head keeps up with them, and a long `timeoutMs` does not keep every
   * answered call of the last `timeoutMs` in memory. Tells whether an earlier call is unanswered.
   */
  #enqueue(pending: Pending<unknown>): boolean {
    let queue = this.#pending;
    let head = this.#head;
    while (head < queue.length && (queue[head] as Pending<unknown>).settled) head++;
    const busy = head < queue.length;
    if (!busy) {
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
    if (this.#timer === undefined) this.#arm(this.#timeoutMs, pending.deadline);
    return busy;
  }

  /**
   * Holds this tick's writes to a single-node client's socket and writes them together on the
   * next tick: one system call for a burst of commands rather than one each, the largest cost
   * on the client side under load (node-redis does the same to its own socket). Done only while
   * an earlier call is unanswered, so a lone call is written at once. A Cluster's sockets belong
   * to its nodes and are left alone.
   */
  #cork(): void {
    if (this.#corked !== undefined) return;
    const stream = this.#client.socket();
    if (stream === undefined) return;
    this.#corked = stream;
    stream.cork();
    // The calls this cork holds: the one just queued and any queued before the next tick. No
    // timer can run until then, so the queue only grows meanwhile.
    const queue = this.#pending;
    const from = queue.length - 1;
    const corkedAt = performance.now();
    process.nextTick(() => {
      this.#corked = undefined;
      const now = performance.now();
      // Synchronous work (or a GC pause) kept these writes from Redis until now: their wait for
      // a reply starts now, or a stall of our own would count against Redis and time them out.
      // Later calls have later deadlines still, so the queue stays in deadline order.
      if (now - corkedAt > LATE_MS && queue === this.#pending) {
        for (let i = from; i < queue.length; i++) (queue[i] as Pending<unknown>).deadline = now + this.#timeoutMs;
      }
      stream.uncork();
    });
  }

  /**
   * For a client that writes a command in a later phase of the loop than the call that sends it
   * (node-redis, in an immediate): when synchronous work (or a GC pause) held the loop past the
   * calls' deadline before they were even written, their wait for a reply starts once they are,
   * as for a corked socket (see {@link Caller.#cork}). Without it, the timeout timer, late for
   * the same stall, would time them out right after the write, before any reply could be read,
   * and report an outage of a healthy Redis (the calls were charged). This immediate runs in the
   * same check phase as the client's write, and before the late timer's re-check, which is queued
   * only when the timer runs. A write merely some milliseconds late, as on a busy loop, leaves
   * the deadlines alone: the reply still has until then, and timeouts keep to `timeoutMs`.
   */
  #written(): void {
    if (this.#writing) return;
    this.#writing = true;
    // The calls it covers: the one just queued and any queued before it runs, in deadline order.
    const queue = this.#pending;
    const from = queue.length - 1;
    setImmediate(() => {
      this.#writing = false;
      const now = performance.now();
      if (queue === this.#pending && (queue[from] as Pending<unknown>).deadline <= now) {
        for (let i = from; i < queue.length; i++) (queue[i] as Pending<unknown>).deadline = now + this.#timeoutMs;
      }
    });
  }

  /** Runs {@link Caller.#expire} again after the next poll phase, for calls overdue at `since`. */
  #recheck(since: number): void {
    // Not unref'ed: an unref'ed immediate lets the poll phase block until I/O arrives, and with
    // Redis silent none does; the re-check would wait out the outage it is there to report.
    this.#timer = setImmediate(() => this.#expire(since));
  }

  /** Arms the timeout timer for `ms` from now, which is `due` (a deadline read on the same clock). */
  #arm(ms: number, due: number): void {
    this.#due = due;
    // Not holding the process open: a call in flight already has the client's socket doing so.
    this.#timer = setTimeout(() => this.#expire(undefined), ms);
    this.#timer.unref();
  }

  /**
   * Times out every call past its deadline and re-arms for the oldest one still waiting. The
   * queue and the timer are put in order before any call is settled: settling runs the limiter's
   * `onStoreError` at once (`onOutage`, a fallback store), which may send a new call on this
   * store, and that call must find a queue it can join.
   *
   * A timer that fires late means the event loop was busy (synchronous work, a GC pause) when it
   * was due, and Node runs due timers before it reads the sockets: replies Redis sent in time may
   * be waiting unread. Timing those calls out would report an outage for a healthy Redis (and the
   * calls were charged), so a late timer first lets one poll phase deliver them: the re-check runs
   * in a `setImmediate`, which comes after it. It stands in for the timer meanwhile, so a call
   * queued in between arms nothing, and it times out only what is still unanswered.
   *
   * `since` is when a re-check was scheduled: only calls already past their deadline then have
   * had their poll phase. A call whose deadline passed later (the loop stalled again, in the very
   * poll phase the re-check waited for) gets one more re-check of its own, not a timeout, so each
   * call is timed out only after a poll phase that followed its deadline.
   */
  #expire(since: number | undefined): void {
    const now = performance.now();
    if (since === undefined && now - this.#due > LATE_MS) {
      this.#recheck(now);
      return;
    }
    this.#timer = undefined;
    const queue = this.#pending;
    const expired: Pending<unknown>[] = [];
    let again = false;
    let i = this.#head;
    for (; i < queue.length; i++) {
      const pending = queue[i] as Pending<unknown>;
      if (pending.settled) continue;
      if (pending.deadline > now) break;
      if (since !== undefined && pending.deadline > since) {
        again = true;
        break;
      }
      pending.settled = true;
      expired.push(pending);
      this.#passed(pending);
    }
    if (i === queue.length) {
      this.#pending = [];
      this.#head = 0;
    } else {
      this.#head = i;
      if (again) this.#recheck(now);
      else {
        const due = (queue[i] as Pending<unknown>).deadline;
        this.#arm(Math.max(1, Math.ceil(due - now)), due);
      }
    }
    if (expired.length === 0) return;
    this.#failing();
    for (const pending of expired) {
      Caller.#settleError(
        pending,
        new FloodgateError('ERR_STORE_TIMEOUT', `RedisStore: no reply to ${pending.what} within ${this.#timeoutMs} ms`),
      );
    }
  }
}
