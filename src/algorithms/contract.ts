import { FloodgateError } from '../errors.js';
import { invalidOption, show } from '../options.js';
import type { Algorithm } from '../types.js';

/** The members every algorithm has, and what each must be. */
const FUNCTIONS = ['evaluate', 'charge', 'refund', 'expiresAt'] as const;
const TWIN_STEPS = ['decide', 'uncharged', 'charge', 'refund'] as const;

/**
 * Checks that `value` is an {@link Algorithm}, member by member, so a hand-written algorithm with a
 * member missing or of the wrong type is refused where it is given (`ERR_INVALID_OPTION` naming
 * the member) rather than failing inside a store on its first call.
 */
export function checkAlgorithm(owner: string, option: string, value: unknown): Algorithm {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidOption(
      owner,
      option,
      'an algorithm such as slidingWindowLog({...}), tokenBucket({...}), fixedWindow({...}) or slidingWindowCounter({...})',
      value,
    );
  }
  const a = value as Record<string, unknown>;
  const member = (name: string, expected: string, ok: boolean): void => {
    if (!ok) throw invalidOption(owner, `${option}.${name}`, expected, a[name]);
  };
  member('name', 'a non-empty string', typeof a.name === 'string' && a.name.length > 0);
  member('limit', 'a positive integer', Number.isSafeInteger(a.limit) && (a.limit as number) >= 1);
  member('windowMs', 'a positive number of milliseconds', typeof a.windowMs === 'number' && a.windowMs > 0);
  for (const name of FUNCTIONS) member(name, 'a function', typeof a[name] === 'function');
  if (a.redis !== undefined) {
    const twin = a.redis;
    member('redis', 'an object { lua, params, msPerUnit? }', typeof twin === 'object' && twin !== null);
    const t = twin as Record<string, unknown>;
    const part = (name: string, expected: string, ok: boolean): void => {
      if (!ok) throw invalidOption(owner, `${option}.redis.${name}`, expected, t[name]);
    };
    part(
      'lua',
      'an object of Lua steps { decide, uncharged, charge, refund }',
      typeof t.lua === 'object' && t.lua !== null,
    );
    const lua = t.lua as Record<string, unknown>;
    for (const step of TWIN_STEPS) {
      if (typeof lua[step] !== 'function') {
        throw invalidOption(owner, `${option}.redis.lua.${step}`, 'a function returning Lua code', lua[step]);
      }
    }
    part(
      'params',
      'an array of finite numbers',
      Array.isArray(t.params) && t.params.every((n) => typeof n === 'number' && Number.isFinite(n)),
    );
    part(
      'msPerUnit',
      'a positive finite number, or undefined',
      t.msPerUnit === undefined || (typeof t.msPerUnit === 'number' && t.msPerUnit > 0 && Number.isFinite(t.msPerUnit)),
    );
  }
  return value as unknown as Algorithm;
}

/**
 * What identifies an algorithm's configuration in messages and in the stores' check that two
 * limiters binding one prefix and policy agree: its name and numbers.
 */
export function signature(algorithm: Algorithm): string {
  const numbers = algorithm.redis?.params ?? [algorithm.limit, algorithm.windowMs];
  return `${algorithm.name}(${numbers.join(', ')})`;
}

/** The error for two limiters that bind one prefix and policy name to different algorithms. */
export function conflictingPolicy(owner: string, prefix: string, policy: string, bound: string): FloodgateError {
  return new FloodgateError(
    'ERR_INVALID_OPTION',
    `${owner}: prefix ${show(prefix)} with policy ${show(policy)} is already bound to ${bound} on this store; give each limiter its own prefix`,
  );
}
