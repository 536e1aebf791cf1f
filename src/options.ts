import { FloodgateError } from './errors.js';

/** Renders a bad value for an error message: strings quoted, objects named, numbers as written. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}

/**
 * The `ERR_INVALID_OPTION` error for one bad option, worded like every other floodgate option
 * error: `<owner>: <name> must be <expected>, got <value>`. Exported so stores and adapters
 * outside the core report bad options the same way.
 */
export function invalidOption(owner: string, name: string, expected: string, value: unknown): FloodgateError {
  return new FloodgateError('ERR_INVALID_OPTION', `${owner}: ${name} must be ${expected}, got ${show(value)}`);
}

/**
 * Checks that `options` is a plain object whose names are all in `known`, so a typo such as
 * `windowMS` fails loudly instead of silently falling back to a default. With `required` false,
 * `undefined` stands for "no options". `hint` may say more about an unknown name than the list
 * of allowed ones: where a limiter's options are taken, `migrationHint` says what another
 * rate limiter's option is called here.
 */
export function checkOptionsObject(
  owner: string,
  options: unknown,
  known: readonly string[],
  required = true,
  hint?: (name: string) => string | undefined,
): Record<string, unknown> {
  if (options === undefined && !required) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new FloodgateError('ERR_INVALID_OPTION', `${owner}: options must be an object, got ${show(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) {
      const more = hint?.(name) ?? `allowed options are ${known.join(', ')}`;
      throw new FloodgateError('ERR_INVALID_OPTION', `${owner}: unknown option ${JSON.stringify(name)}; ${more}`);
    }
  }
  return options as Record<string, unknown>;
}

export function positiveInteger(owner: string, name: string, value: unknown, unit = ''): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidOption(owner, name, `a positive integer${unit}`, value);
  }
  return value;
}

/** Checks an integer option that must lie in `[min, max]`; `expected` says so in words. */
export function integerInRange(
  owner: string,
  name: string,
  value: unknown,
  min: number,
  max: number,
  expected: string,
): number {
  if (!Number.isSafeInteger(value)) throw invalidOption(owner, name, expected, value);
  return numberInRange(owner, name, value, min, max, expected);
}

/** Checks a number option that must lie in `[min, max]`; `expected` says so in words. */
export function numberInRange(
  owner: string,
  name: string,
  value: unknown,
  min: number,
  max: number,
  expected: string,
): number {
  if (typeof value !== 'number' || !(value >= min && value <= max)) throw invalidOption(owner, name, expected, value);
  return value;
}

/** Checks an optional callback option: `undefined` (not given) or a function. */
export function optionalFunction<F>(owner: string, name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidOption(owner, name, 'a function', value);
  return value as F;
}

/**
 * The smallest whole number of milliseconds `r` such that `now + r >= at`. Comparing in the
 * same form the algorithms use keeps the Retry-After promise exact despite float rounding. The
 * TypeScript twin of `luaWaitUntil`, for algorithms of your own.
 */
export function waitUntil(at: number, now: number): number {
  if (at <= now) return 0;
  // `at - now` is rounded, so its ceiling can miss the smallest whole wait by one either way.
  let r = Math.ceil(at - now);
  if (now + r < at) r += 1;
  else if (r > 1 && now + (r - 1) >= at) r -= 1;
  return r;
}
