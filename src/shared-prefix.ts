import type { Store } from './types.js';

/** The prefixes each store has been bound under in this process, to notice a second binding. */
const bound = new WeakMap<Store, Set<string>>();
let told = false;

/**
 * Notes that a limiter bound `store` under `prefix`. A second limiter binding the same store
 * under the same prefix counts the same keys as the first, whatever its own policies: almost
 * always two routes or two middleware given one store and no prefix. Limiters meant to share a
 * budget share one limiter object instead, so this warns, once per process.
 */
export function noteBinding(store: Store, prefix: string): void {
  let prefixes = bound.get(store);
  if (prefixes === undefined) {
    prefixes = new Set();
    bound.set(store, prefixes);
  }
  if (!prefixes.has(prefix)) {
    prefixes.add(prefix);
    return;
  }
  if (told) return;
  told = true;
  process.emitWarning(
    `createLimiter: a second limiter binds one store under the prefix ${JSON.stringify(prefix)}, so the two count the same keys together; give each limiter its own prefix, or use one limiter in both places`,
    { type: 'FloodgateWarning', code: 'FLOODGATE_SHARED_PREFIX' },
  );
}
