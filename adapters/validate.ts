import { FloodgateError } from 'floodgate';

// The adapters reach the core only through its public entry, so they carry their own copy of the
// few checks they need, worded exactly like the core's: `<owner>: <name> must be <allowed>, got <value>`.

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

export function invalidOption(owner: string, name: string, expected: string, value: unknown): FloodgateError {
  return new FloodgateError('ERR_INVALID_OPTION', `${owner}: ${name} must be ${expected}, got ${show(value)}`);
}

/** Checks that `options` is a plain object whose names are all in `known`, so a typo fails loudly. */
export function checkOptionsObject(owner: string, options: unknown, known: readonly string[]): Record<string, unknown> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new FloodgateError('ERR_INVALID_OPTION', `${owner}: options must be an object, got ${show(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) {
      throw new FloodgateError(
        'ERR_INVALID_OPTION',
        `${owner}: unknown option ${JSON.stringify(name)}; allowed options are ${known.join(', ')}`,
      );
    }
  }
  return options as Record<string, unknown>;
}

export function optionalFunction<F>(owner: string, name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidOption(owner, name, 'a function', value);
  return value as F;
}

export function optionalBoolean(owner: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(owner, name, 'true or false', value);
  return value;
}

/** True for a promise or any other thenable, which the adapters await; plain values skip that. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}
