/**
 * A key's two counts are kept with their window as one number,
 * `window * (limit + 1)^2 + previous * (limit + 1) + current`, while that stays an exact integer
 * (in Redis an integer string, which costs the server no allocation of its own). Past this the
 * three are kept apart.
 */
export const MAX_PACKED = Number.MAX_SAFE_INTEGER;
/** The first byte of a Redis value that keeps them apart (`struct.pack('<ddd')` after it). */
export const SPLIT_TAG = 's';
/** Most steps the correcting loops of a wait take; the estimate is off by float rounding only. */
export const MAX_STEPS = 64;
