import type { RedisStore } from 'floodgate';
import type { rateLimit } from 'floodgate/express';
import type floodgatePlugin from 'floodgate/fastify';

/**
 * The parts of floodgate that other issues build (the Redis store, the adapters). The bench
 * loads them lazily, one by one, and reports a case as "not available" when its part is missing
 * or fails to load, rather than crashing the whole run.
 */
export type RedisStoreCtor = typeof RedisStore;
export interface ExpressAdapter {
  rateLimit: typeof rateLimit;
}
export type FastifyPlugin = typeof floodgatePlugin;

export type Optional<T> = { ok: true; value: T } | { ok: false; reason: string };

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]?.slice(0, 200) ?? 'unknown error';
}

export async function loadRedisStore(): Promise<Optional<RedisStoreCtor>> {
  try {
    const mod = await import('floodgate');
    if (typeof mod.RedisStore !== 'function') return { ok: false, reason: 'floodgate does not export RedisStore' };
    return { ok: true, value: mod.RedisStore };
  } catch (error) {
    return { ok: false, reason: reasonOf(error) };
  }
}

export async function loadExpressAdapter(): Promise<Optional<ExpressAdapter>> {
  try {
    const mod = await import('floodgate/express');
    if (typeof mod.rateLimit !== 'function') return { ok: false, reason: 'floodgate/express has no rateLimit export' };
    return { ok: true, value: mod };
  } catch (error) {
    return { ok: false, reason: reasonOf(error) };
  }
}

export async function loadFastifyPlugin(): Promise<Optional<FastifyPlugin>> {
  try {
    const mod = await import('floodgate/fastify');
    if (mod.default === undefined) return { ok: false, reason: 'floodgate/fastify has no default export' };
    return { ok: true, value: mod.default };
  } catch (error) {
    return { ok: false, reason: reasonOf(error) };
  }
}
