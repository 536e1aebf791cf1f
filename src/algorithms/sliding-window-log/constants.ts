/** Index of a log's first entry in the memory state: after `used` and `head`. */
export const FIRST = 2;
/** Entries the Lua twin reads per LRANGE when it looks for the entry that sets a long wait. */
export const PAGE = 32;
