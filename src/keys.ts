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
  if (typeof key !== 'string' || key.length === 0) {
    throw new FloodgateError('ERR_INVALID_KEY', `key must be a non-empty string, got ${show(key)}`);
  }
  const wellFormed = key.isWellFormed();
  if (key.length <= MAX_KEY_LENGTH && key.charCodeAt(0) !== HASHED && wellFormed) return key;
  return hashedKey(key, wellFormed);
}

// Apart from `storageKey`, so that the check every call makes stays small enough to inline.
function hashedKey(key: string, wellFormed: boolean): string {
  const hash = createHash('sha256');
  if (wellFormed) hash.update(key);
  else hash.update(ILL_FORMED).update(key, 'utf16le');
  return `#${hash.digest('base64url')}`;
}
