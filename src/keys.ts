import { createHash } from 'node:crypto';
import { FloodgateError } from './errors.js';
import { show } from './options.js';

/** Keys longer than this are stored as a hash, so a huge key cannot cost huge memory. */
export const MAX_KEY_LENGTH = 128;

/**
 * Checks a key and bounds its size. Long keys become `#` + the base64url SHA-256 of the key
 * (44 characters); short keys are used as they are, so the common path never hashes.
 */
export function storageKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new FloodgateError('ERR_INVALID_KEY', `key must be a non-empty string, got ${show(key)}`);
  }
  if (key.length <= MAX_KEY_LENGTH) return key;
  return `#${createHash('sha256').update(key).digest('base64url')}`;
}
