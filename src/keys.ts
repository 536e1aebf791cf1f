import { createHash } from 'node:crypto';
import { FloodgateError } from './errors.js';
import { show } from './options.js';

/** Keys longer than this are stored as a hash, so a huge key cannot cost huge memory. */
export const MAX_KEY_LENGTH = 128;

/** `#`, the first character of every hashed key. */
const HASHED = 35;

/**
 * Checks a key and bounds its size. Short keys are used as they are, so the common path never
 * hashes. Other keys become `#` + the base64url SHA-256 of the key's UTF-16 code units (44
 * characters): long keys; keys that start with `#`, so that no key given as it is can pose as
 * another key's hash; and keys with a lone surrogate, which UTF-8 (Redis's key bytes) would turn
 * into U+FFFD and so merge with other keys.
 */
export function storageKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new FloodgateError('ERR_INVALID_KEY', `key must be a non-empty string, got ${show(key)}`);
  }
  if (key.length <= MAX_KEY_LENGTH && key.charCodeAt(0) !== HASHED && key.isWellFormed()) return key;
  // UTF-16 code units, unlike UTF-8, keep lone surrogates apart: distinct keys, distinct input.
  return `#${createHash('sha256').update(key, 'utf16le').digest('base64url')}`;
}
