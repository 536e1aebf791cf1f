import type { Cluster, Redis } from 'ioredis';

/**
 * What each ioredis client status means for a call, as the end of a sentence: the status words
 * themselves (`wait`, `end`) read badly in an error message. Every status of `Redis` and
 * `Cluster` is here (the type says so), and `monitoring`, which a client enters after MONITOR.
 */
const NOT_READY: { readonly [S in Redis['status'] | Cluster['status'] | 'monitoring']: string } = {
  wait: 'has not connected yet (it was created with lazyConnect) and is connecting now',
  connecting: 'is still connecting to Redis',
  connect: 'is connected but not ready yet (still authenticating, selecting the database or waiting for Redis to load)',
  ready: 'is ready',
  reconnecting: 'lost its connection to Redis and is waiting to reconnect',
  close: 'lost its connection to Redis',
  end: 'is closed and will not reconnect (quit() or disconnect() was called, or its retryStrategy stopped reconnecting)',
  disconnecting: 'is disconnecting',
  monitoring: 'is in MONITOR mode, where it can send no other command (give the store a client of its own)',
};

/** Why a client whose status is `status` was not sent a call, as a sentence starting "the client". */
export function notReadyReason(status: string): string {
  const words = Object.hasOwn(NOT_READY, status) ? NOT_READY[status as keyof typeof NOT_READY] : undefined;
  return `the client ${words ?? `is ${JSON.stringify(status)}, not ready`}`;
}
