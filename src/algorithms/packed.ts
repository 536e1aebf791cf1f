/**
 * The whole window a packed window-counter state lies in: `floor(packed / size)`, where `size` is
 * the span of values one window's state takes. The division may round up to the next whole
 * window; corrected down here, a state is never read as a window later than its own. The Lua
 * twin is `luaPackedWindow`.
 */
export function packedWindow(packed: number, size: number): number {
  const window = Math.floor(packed / size);
  return window * size > packed ? window - 1 : window;
}
