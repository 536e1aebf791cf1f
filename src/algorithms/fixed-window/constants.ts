/**
 * A key's count is kept with its window as one number, `window * (limit + 1) + count`, while that
 * stays an exact integer (in Redis an integer string, which costs the server no allocation of its
 * own). Past this, for windows counted from a large clock reading with a large limit, the two
 * are kept apart.
 */
export const MAX_PACKED = Number.MAX_SAFE_INTEGER;
/** The first byte of a Redis value that keeps window and count apart (`struct.pack('<dd')` after it). */
export const SPLIT_TAG = 's';
