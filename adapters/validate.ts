import { invalidOption } from 'floodgate';

// The adapters reach the core only through its public entry, which exports the option checks the
// core itself uses, so every option error reads alike: `<owner>: <name> must be <allowed>, got <value>`.
export { checkOptionsObject, describeValue as show, invalidOption, migrationHint, optionalFunction } from 'floodgate';

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
