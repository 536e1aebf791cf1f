/**
 * The Redis Cluster hash slot of a hash tag: CRC16 (XMODEM, as the Cluster specification gives
 * it) of its UTF-8 bytes, modulo 16384. A table of the 256 byte steps makes it one lookup a byte.
 */
const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** The slot of the keys whose hash tag is `tag`. */
export function slotOf(tag: string): number {
  const bytes = Buffer.from(tag, 'utf8');
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number)) & 0xffff;
  return crc & 16383;
}
