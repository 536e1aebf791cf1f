/**
 * Script calls (EVALSHA and EVAL) and the server's time in them, in µs, from the text of
 * `INFO commandstats`: one call per round trip, however many decisions it made.
 */
export function scriptStatsOf(info: string): { calls: number; usec: number } {
  let calls = 0;
  let usec = 0;
  for (const m of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/g)) {
    calls += Number(m[1]);
    usec += Number(m[2]);
  }
  return { calls, usec };
}
