import { show } from './validate.js';

/**
 * The value a user callback threw, or its promise rejected with, as an Error to hand to
 * `next(err)` or `done(err)`. Both frameworks read a falsy error (`undefined`, `null`, `false`,
 * `0`, `''`) as "no error" and run the route's handler, and Express reads `'route'` and
 * `'router'` as routing commands: passing such a value on would let through a request that
 * failed, even one the limiter had denied. The original value stays reachable as `cause`.
 */
export function asError(thrown: unknown, owner: string, source: string): Error {
  // The tag check keeps an Error made in another realm (a vm context) as it is.
  if (thrown instanceof Error || Object.prototype.toString.call(thrown) === '[object Error]') return thrown as Error;
  return new Error(`${owner}: ${source} failed with a non-Error value: ${show(thrown)}`, { cause: thrown });
}
