/**
 * The Redis store both example apps use when REDIS_URL is set: an ioredis client with a short
 * reconnect wait, and a bounded wait for the connection at start-up.
 */
import type { RedisStore } from 'floodgate';

/**
 * A Redis store on `url`, after waiting at most 2 s for the connection: with Redis down the app
 * still starts, answers under its onStoreError policy, and limits through Redis as soon as the
 * client connects. ioredis is loaded only here, so the in-memory app runs without it installed.
 */
export async function redisStore(url: string): Promise<RedisStore> {
  const [{ Redis }, { RedisStore }] = await Promise.all([import('ioredis'), import('floodgate')]);
  const client = new Redis(url, {
    // Retries 50, 100, 150 ms… apart, at most 1 s (plus jitter, so many processes do not retry
    // in step): limits are back within about a second of Redis, on ioredis 5 and 6 alike.
    retryStrategy: (attempt) => Math.min(attempt * 50, 1_000) + Math.random() * 100,
  });
  // Without a listener, ioredis prints every failed reconnect as an unhandled 'error' event;
  // the limiter reports an outage once, through onOutage.
  client.on('error', () => {});
  if (client.status !== 'ready') {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2_000);
      client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  return new RedisStore({ client, timeoutMs: 50 });
}
