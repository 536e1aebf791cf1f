import fc from 'fast-check';

/**
 * How a property's clock moves:
 * - `integer`: whole milliseconds, from 0 or from Redis-like epoch offsets (1.7e12);
 * - `dyadic`: multiples of 1/1024 ms, which doubles hold exactly, so sums stay exact too;
 * - `float`: arbitrary fractional readings, including 1.7e12 + fractions (Redis `TIME` in ms),
 *   with arbitrary waits and refill rates;
 * - `edge`: float readings that seek boundaries: tiny and integral starts, waits of exactly the
 *   last retryAfterMs or resetMs, and refill rates such as 1000/3 that no double holds.
 * In the first two every sum the algorithms form is exact and they must match the exact reference
 * to the last unit; in the float modes the reference may only be loosened at a boundary.
 */
export type ClockMode = 'integer' | 'dyadic' | 'float' | 'edge';

/** Whether every reading and every sum the algorithms form is exact in doubles. */
export function exactClock(mode: ClockMode): boolean {
  return mode === 'integer' || mode === 'dyadic';
}

/** A step's wait: a given span, or exactly the last Decision's retryAfterMs or resetMs. */
export type Wait = { readonly kind: 'ms'; readonly ms: number } | { readonly kind: 'retry' | 'reset' };

export const EPOCH = 1.7e12;

/**
 * A double spread evenly over [min, max). fast-check's own `double` favours boundaries and round
 * numbers (0, 1, max, tiny subnormals), which is what the `edge` mode wants and `float` does not.
 */
export function uniform(min: number, max: number): fc.Arbitrary<number> {
  return fc.integer({ min: 0, max: 2 ** 52 - 1 }).map((k) => min + ((max - min) * k) / 2 ** 52);
}

export function startArb(mode: ClockMode): fc.Arbitrary<number> {
  switch (mode) {
    case 'integer':
      return fc.oneof(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }).map((x) => EPOCH + x),
      );
    case 'dyadic':
      return fc.oneof(
        fc.integer({ min: 0, max: 1_000_000 * 1024 }).map((x) => x / 1024),
        fc.integer({ min: 0, max: 1_000_000 * 1024 }).map((x) => EPOCH + x / 1024),
      );
    case 'float':
      return fc.oneof(
        uniform(0, 1_000_000),
        uniform(0, 1_000_000).map((x) => EPOCH + x),
        // Redis TIME: seconds and microseconds, as milliseconds.
        fc.integer({ min: 0, max: 1_000_000_000 }).map((us) => EPOCH + us / 1000),
      );
    case 'edge':
      return fc.oneof(
        fc.double({ min: 0, max: 1_000_000, noNaN: true }),
        fc.double({ min: 0, max: 1_000_000, noNaN: true }).map((x) => EPOCH + x),
        fc.integer({ min: 0, max: 1_000_000 }).map((x) => EPOCH + x),
      );
  }
}

/**
 * Waits up to about `spanMs`, biased towards the boundaries where bugs live: except in `float`
 * mode, some steps wait exactly the last Decision's retryAfterMs or resetMs.
 */
export function waitArb(mode: ClockMode, spanMs: number): fc.Arbitrary<Wait> {
  const span = Math.max(1, Math.ceil(spanMs));
  const ms: fc.Arbitrary<number> =
    mode === 'integer'
      ? fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 2 * span }))
      : mode === 'dyadic'
        ? fc.oneof(
            fc.constant(0),
            fc.integer({ min: 1, max: 3 * 1024 }).map((x) => x / 1024),
            fc.integer({ min: 0, max: 2 * span * 1024 }).map((x) => x / 1024),
          )
        : mode === 'float'
          ? fc.oneof(fc.constant(0), uniform(0, 3), uniform(0, 2 * span))
          : fc.oneof(
              fc.constant(0),
              fc.double({ min: 0, max: 3, noNaN: true }),
              fc.double({ min: 0, max: 2 * span, noNaN: true }),
            );
  const given = ms.map((x): Wait => ({ kind: 'ms', ms: x }));
  if (mode === 'float') return given;
  return fc.oneof(
    { weight: 4, arbitrary: given },
    { weight: 1, arbitrary: fc.constant<Wait>({ kind: 'retry' }) },
    { weight: 1, arbitrary: fc.constant<Wait>({ kind: 'reset' }) },
  );
}

/** Costs 0..limit, biased towards 1 and the extremes. */
export function costArb(limit: number): fc.Arbitrary<number> {
  return fc.oneof(fc.constant(1), fc.constant(limit), fc.constant(0), fc.integer({ min: 0, max: limit }));
}
