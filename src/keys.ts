import { createHash } from 'node:crypto';
import { FloodgateError } from './errors.js';
import { show } from './options.js';

/** Keys longer than this are stored as a hash, so a huge key cannot cost huge memory. */
export const MAX_KEY_LENGTH = 128;

/** `#`, the first character of every hashed key. */
const HASHED = 35;

/**
 * Starts the hashed bytes of a key with a lone surrogate. No UTF-8 text holds the byte 0xFF, so
 * these bytes can never equal a well-formed key's UTF-8 bytes, and the two kinds cannot collide.
 */
const ILL_FORMED = Buffer.from([0xff]);

/**
 * Checks a key and bounds its size. Short keys are used as they are, so the common path never
 * hashes. Other keys become `#` + the base64url SHA-256 of the key (44 characters): long keys,
 * and keys that start with `#`, so that no key given as it is can pose as another key's hash.
 * The hash covers the key's UTF-8 bytes, as it always has, so stored long keys keep their names.
 * A key with a lone surrogate is hashed whatever its length, over 0xFF and its UTF-16 code units:
 * UTF-8 (also the bytes Redis keys travel as) would turn the surrogate into U+FFFD and merge it
 * with other keys.
 */
export function storageKey(key: unknown): string {
  // The common key first: a plain key that is well-formed is used as it is. Everything else (the
  // error included) is apart, so that this stays small enough for V8 to inline into every call
  // together with the rest of the hot path.
  if (isPlain(key) && key.isWellFormed()) return key;
  return otherKey(key);
}

/**
 * {@link storageKey} but for the test of well-formed UTF-16, for a store that makes that test
 * itself where it matters (see `DecidesOne`): a plain key is returned as it is, lone surrogates
 * and all; any other key is checked and hashed as `storageKey` does. A key it returns is the
 * key's storage key exactly when `key.isWellFormed()`, and else the storage key is
 * `storageKey(key)`. The test costs a call V8 cannot inline, and for most calls it need not run.
 */
export function candidateKey(key: unknown): string {
  return isPlain(key) ? key : otherKey(key);
}

/** A short, non-empty string not starting with `#`: used as it is, if well-formed. */
function isPlain(key: unknown): key is string {
  return typeof key === 'string' && key.length !== 0 && key.length <= MAX_KEY_LENGTH && key.charCodeAt(0) !== HASHED;
}

/** Any key but a plain short one: refused, or hashed. */
function otherKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new FloodgateError('ERR_INVALID_KEY', `key must be a non-empty string, got ${show(key)}`);
  }
  return hashedKey(key, key.isWellFormed());
}

function hashedKey(key: string, wellFormed: boolean): string {
  const hash = createHash('sha256');
  if (wellFormed) hash.update(key);
  else hash.update(ILL_FORMED).update(key, 'utf16le');
  return `#${hash.digest('base64url')}`;
}
