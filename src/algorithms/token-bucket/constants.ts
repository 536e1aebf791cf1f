/**
 * Clock readings are floored onto a grid of 2^-20 tokens. Every state is then such a reading plus
 * whole tokens, and floats add and subtract numbers on that grid exactly (below 2^33 tokens; above
 * it a double's own spacing is coarser than the grid and still divides whole tokens), so charging
 * `c` unit calls lands exactly where one call of cost `c` does, and `remaining` is exact.
 */
export const GRID = 1_048_576;
/** Beyond this many milliseconds a whole millisecond no longer changes a double: stop counting. */
export const HUGE_MS = 2 ** 52;
/** Relative margin that puts `expiresAt` safely after the instant the bucket is full. */
export const EXPIRY_MARGIN = 2 ** -50;
