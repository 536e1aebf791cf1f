import { FloodgateError } from '../../errors.js';
import type { Caller } from './call.js';
import { type DecideScript, MAX_BATCH, REPLY_ELSEWHERE, REPLY_ERROR, REPLY_OK } from './script.js';

/**
 * One call waiting in a batch: what to send, and how its part of the reply settles it. Made with
 * `new`, never as an object literal: V8 gives each object literal a site of its own, and a site
 * whose recent objects were nearly all still alive at a young collection (a burst of calls, every
 * one of them in flight) has its objects made in the old generation from then on, for the life of
 * the process. A waiting call made there keeps its keys, callbacks and promise alive until the
 * next full collection; on a busy store that is most of what each call allocates, collected twice
 * (see bench/README.md, "Garbage collection in the Redis workers"). `new` has no such site.
 */
class Waiting<T> {
  constructor(
    readonly keys: readonly string[],
    readonly args: readonly string[],
    /** The hash slot of its keys (0 on a single server). */
    readonly slot: number,
    /** Turns the call's Decisions, at `at` in the reply, into its result; a throw fails the call. */
    readonly onReply: (reply: Buffer, at: number) => T,
    readonly onError: (error: unknown) => T | Promise<T>,
    readonly resolve: (value: T | Promise<T>) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

/** Settles `call` with what its `onError` makes of `error`. */
function settleError<T>(call: Waiting<T>, error: unknown): void {
  try {
    call.resolve(call.onError(error));
  } catch (thrown) {
    call.reject(thrown);
  }
}

/**
 * Whether a batch's script call was refused before it ran, for the slot of the keys it declares
 * (its first call's): Redis sends the client elsewhere, or asks it to try again, while the
 * Cluster moves that slot, and a client may pass that on rather than follow it (node-redis does
 * not retry a TRYAGAIN; ioredis gives up after its `maxRedirections`). Nothing ran, so the calls
 * of a batch across slots, whose other calls' slots are not concerned, go again alone.
 */
function refusedUnrun(error: unknown): boolean {
  const cause = error instanceof FloodgateError ? error.cause : error;
  return (
    cause instanceof Error && /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN)\b|^Too many Cluster redirections/.test(cause.message)
  );
}

function unexpected(): FloodgateError {
  return new FloodgateError('ERR_STORE', 'RedisStore: unexpected script reply');
}

/**
 * Sends one limiter's calls to Redis, coalescing the calls that wait at the same moment into one
 * script call, which decides them in order (see the decide script). A call made while none of
 * this limiter's calls is queued or unanswered is sent at once, alone: no timer and no added
 * latency at low load. Calls made while earlier ones are unanswered, or while others are queued,
 * wait for the end of the loop's poll phase (`setImmediate`, not a timer) and go together, at
 * most {@link MAX_BATCH} to a script call; a batch that fills up goes at once. Not the end of the
 * tick: a server handles each request in an I/O callback of its own, and Node ends a tick after
 * every one, so a batch per tick would hold one request's call; the requests read in one poll
 * phase go together instead. On a Cluster, one batch per hash slot, since a script may touch one
 * slot only, unless `masterOf` tells the master that serves a slot: then one batch per master,
 * whose script touches the keys of each slot it serves (see the decide script). Each call keeps its
 * own answer: a failed batch fails each of its calls, through its own `onError`, and a call whose
 * code raised an error in Redis fails alone; a call of a batch across slots whose keys that master
 * does not serve as they stand (see the decide script) is sent again, alone.
 */
export class Batcher {
  readonly #caller: Caller;
  readonly #script: DecideScript;
  /** The arguments every call shares (after the count of calls): lock-out, clock flag, params. */
  readonly #head: readonly string[];
  /** Bytes of one call's Decisions in the reply. */
  readonly #bytes: number;
  /** The master serving a slot, or `undefined` (see {@link RedisPort.masterOf}). */
  readonly #masterOf: (slot: number) => unknown;
  /** What the client puts before a key it sends as a key (see {@link RedisPort.keyPrefix}). */
  readonly #keyPrefix: string;
  /**
   * Waiting calls by master, or by hash slot where its master is not known (all in one for a
   * single node); a new map each flush (see `#flush`).
   */
  #queues = new Map<unknown, Waiting<unknown>[]>();
  #scheduled = false;
  /** Script calls sent and not yet settled. */
  #inFlight = 0;
  /** Replies that may still be handed out before the next write of a client that writes later. */
  #left = 0;
  /** Whether the hop to after the client's next write is under way (see {@link Batcher.#replied}). */
  #hopping = false;
  /** Batch replies read and held for after the client's write, oldest first. */
  readonly #held: [calls: readonly Waiting<unknown>[], reply: unknown, across: boolean][] = [];

  constructor(
    caller: Caller,
    script: DecideScript,
    head: readonly string[],
    bytes: number,
    masterOf: (slot: number) => unknown,
    keyPrefix: string,
  ) {
    this.#caller = caller;
    this.#masterOf = masterOf;
    this.#keyPrefix = keyPrefix;
    this.#script = script;
    this.#head = head;
    this.#bytes = bytes;
  }

  /**
   * Decides one call: `keys` its keys, `args` its own arguments (cost, op and, with an injected
   * clock, now), `slot` its hash slot (0 on a single node). Resolves with `onReply` of its part of
   * the reply, or on failure with `onError`; may throw synchronously (a client not ready).
   */
  send<T>(
    keys: readonly string[],
    args: readonly string[],
    slot: number,
    onReply: (reply: Buffer, at: number) => T,
    onError: (error: unknown) => T | Promise<T>,
  ): Promise<T> {
    if (!this.#scheduled && this.#inFlight === 0) return this.#sendAlone(keys, args, onReply, onError);
    return new Promise<T>((resolve, reject) => {
      const call = new Waiting<T>(keys, args, slot, onReply, onError, resolve, reject);
      const group = this.#masterOf(slot) ?? slot;
      let queue = this.#queues.get(group);
      if (queue === undefined) {
        queue = [];
        this.#queues.set(group, queue);
      }
      queue.push(call as Waiting<unknown>);
      if (queue.length >= MAX_BATCH) {
        // Full: nothing is gained by waiting. Sent now, and written now, Redis decides it while
        // this process goes on with the rest of its work (the other replies it read, say), which
        // would otherwise end with every batch written at once and Redis idle until then.
        this.#queues.delete(group);
        this.#sendBatch(queue, true);
        return;
      }
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /**
   * Sends one call as a script call of its own, routed by its own keys. Throws synchronously when
   * nothing was sent (a client not ready).
   */
  #sendAlone<T>(
    keys: readonly string[],
    args: readonly string[],
    onReply: (reply: Buffer, at: number) => T,
    onError: (error: unknown) => T | Promise<T>,
  ): Promise<T> {
    this.#inFlight++;
    try {
      return this.#caller.script(
        this.#script,
        keys,
        ['1', ...this.#head, ...args],
        (reply) => {
          // Counted down after the result is made: a throw goes to onError, which counts it.
          const result = this.#one(reply, onReply);
          this.#inFlight--;
          return result;
        },
        (error) => {
          this.#inFlight--;
          return onError(error);
        },
      );
    } catch (error) {
      // Nothing was sent: counted, it would keep every later call from going alone, and
      // waiting for a flush, for good.
      this.#inFlight--;
      throw error;
    }
  }

  /** The result of a lone call's reply. */
  #one<T>(reply: unknown, onReply: (reply: Buffer, at: number) => T): T {
    if (!Buffer.isBuffer(reply) || reply.length < 1) throw unexpected();
    if (reply[0] === REPLY_OK && reply.length === 1 + this.#bytes) return onReply(reply, 1);
    if (reply[0] === REPLY_ERROR && reply.length >= 5)
      throw scriptError(reply.toString('utf8', 5, 5 + reply.readUInt32LE(1)));
    throw unexpected();
  }

  /**
   * Sends every waiting call now, ahead of a command about to be sent outside the batches (a
   * reset's DEL), so that it reaches Redis after the calls made before it, as separate calls would.
   */
  sendWaiting(): void {
    if (this.#queues.size > 0) this.#flush();
  }

  #flush(): void {
    this.#scheduled = false;
    const queues = this.#queues;
    // A new map rather than `clear()`: V8 clears a Map by giving it a new table and linking the
    // old table, entries and all, to it. Once one of those tables has lived long enough to move
    // to the old generation, each links the next, and every batch's calls (their closures,
    // promises, keys) stay alive through the chain until a full collection: under load, a third
    // of all this process allocated, with collections taking several times as long.
    this.#queues = new Map();
    for (const queue of queues.values()) {
      for (let from = 0; from < queue.length; from += MAX_BATCH) this.#sendBatch(queue.slice(from, from + MAX_BATCH));
    }
  }

  /** Sends `calls` as one script call; with `writeNow`, written at once rather than with the tick's other writes. */
  #sendBatch(calls: readonly Waiting<unknown>[], writeNow = false): void {
    const first = calls[0] as Waiting<unknown>;
    const across = calls.some((call) => call.slot !== first.slot);
    // Across slots, only the first call's keys are declared (see the decide script).
    const keys: string[] = across ? [...first.keys] : [];
    const args: string[] = [String(across ? -calls.length : calls.length), ...this.#head];
    for (const call of calls) {
      if (!across) for (const key of call.keys) keys.push(key);
      for (const arg of call.args) args.push(arg);
    }
    if (across) {
      // As Redis is to see them: the client prefixes the keys it declares, not these.
      const prefix = this.#keyPrefix;
      for (let i = 1; i < calls.length; i++) {
        for (const key of (calls[i] as Waiting<unknown>).keys) args.push(prefix + key);
      }
    }
    this.#inFlight++;
    let sent: Promise<void>;
    try {
      sent = this.#caller.script(
        this.#script,
        keys,
        args,
        (reply) => {
          this.#inFlight--;
          this.#replied(calls, reply, across);
        },
        (error) => {
          this.#inFlight--;
          if (across && refusedUnrun(error)) for (const call of calls) this.#alone(call);
          else for (const call of calls) settleError(call, error);
        },
        writeNow,
      );
    } catch (error) {
      this.#inFlight--;
      for (const call of calls) settleError(call, error);
      return;
    }
    // Every outcome is handed to the calls above; nothing is left to reject here.
    sent.catch(() => undefined);
  }

  /**
   * Hands a batch's reply out: at once, or for a client that writes later, after the client's
   * next write when half of the batches out have been handed theirs since its last one.
   *
   * Under load, one read brings the replies of several batches, and handing one out makes its
   * callers' next calls, which fill the next batch. ioredis writes a full batch at once, so Redis
   * decides it while this process hands out the rest of the read: Redis and this process work at
   * the same time, on alternate halves. node-redis writes in an immediate, after every reply of
   * the read is handed out; every batch then goes out together, and Redis and this process take
   * turns, each idle while the other works. Holding the second half of the replies for two turns
   * of the loop lets the client write the first half's calls in between (its immediate, queued
   * while those callers ran, comes after the first of the two turns'), and the halves alternate
   * as they do on ioredis. A reply that comes alone (every reply at low load) is handed out at
   * once.
   */
  #replied(calls: readonly Waiting<unknown>[], reply: unknown, across: boolean): void {
    if (!this.#caller.writesLater) {
      this.#distribute(calls, reply, across);
      return;
    }
    if (!this.#hopping) this.#open(0);
    if (this.#left > 0 && this.#held.length === 0) {
      this.#left--;
      this.#distribute(calls, reply, across);
    } else {
      this.#held.push([calls, reply, across]);
    }
  }

  /**
   * Starts a round of hand-outs: half of the batches with a reply to come (this one, `more` held
   * ones and those still out) may go before the client's next write, which comes two turns of the
   * loop from now (its immediate, queued while the callers run, comes after the first turn's).
   */
  #open(more: number): void {
    this.#hopping = true;
    this.#left = Math.ceil((this.#inFlight + 1 + more) / 2);
    setImmediate(() => {
      setImmediate(() => {
        this.#hopping = false;
        const held = this.#held.splice(0);
        if (held.length === 0) return;
        this.#open(held.length - 1);
        for (const [calls, reply, across] of held) this.#replied(calls, reply, across);
      });
    });
  }

  /**
   * Sends a call of a batch across slots again as a script call of its own, routed by its own
   * keys: it ran nothing where the batch went. Calls of one key go again in their batch's order.
   */
  #alone(call: Waiting<unknown>): void {
    try {
      call.resolve(this.#sendAlone(call.keys, call.args, call.onReply, call.onError));
    } catch (error) {
      settleError(call, error);
    }
  }

  /** Hands each call its part of the batch's reply; `across`: a batch of several slots. */
  #distribute(calls: readonly Waiting<unknown>[], reply: unknown, across: boolean): void {
    if (!Buffer.isBuffer(reply)) {
      for (const call of calls) settleError(call, unexpected());
      return;
    }
    let at = 0;
    for (const call of calls) {
      const kind = at < reply.length ? reply[at] : undefined;
      if (kind === REPLY_OK && at + 1 + this.#bytes <= reply.length) {
        try {
          call.resolve(call.onReply(reply, at + 1));
        } catch (error) {
          settleError(call, error);
        }
        at += 1 + this.#bytes;
      } else if ((kind === REPLY_ERROR || kind === REPLY_ELSEWHERE) && at + 5 <= reply.length) {
        const length = reply.readUInt32LE(at + 1);
        const message = reply.toString('utf8', at + 5, at + 5 + length);
        if (kind === REPLY_ELSEWHERE && across) this.#alone(call);
        else settleError(call, scriptError(message));
        at += 5 + length;
      } else {
        settleError(call, unexpected());
        at = reply.length;
      }
    }
  }
}

/** A call whose code raised an error in Redis (a key of another type, say): it fails alone. */
function scriptError(message: string): FloodgateError {
  return new FloodgateError('ERR_STORE', `RedisStore: script failed: ${message}`, { cause: new Error(message) });
}
