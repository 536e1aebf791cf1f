/**
 * Exact rational arithmetic on BigInt, for reference models that must not share the float
 * rounding of the code they check. Every double is a dyadic rational, so `Q.of(x)` is exact.
 */
export class Q {
  readonly n: bigint;
  readonly d: bigint;

  private constructor(n: bigint, d: bigint) {
    if (d < 0n) {
      n = -n;
      d = -d;
    }
    const g = gcd(n < 0n ? -n : n, d);
    this.n = g > 1n ? n / g : n;
    this.d = g > 1n ? d / g : d;
  }

  static of(x: number): Q {
    if (!Number.isFinite(x)) throw new RangeError(`Q.of: ${x} is not finite`);
    let scaled = x;
    let d = 1n;
    // Doubling a double is exact, and at most 1074 doublings make any double an integer.
    while (!Number.isInteger(scaled)) {
      scaled *= 2;
      d *= 2n;
    }
    return new Q(BigInt(scaled), d);
  }

  static int(x: number | bigint): Q {
    return new Q(BigInt(x), 1n);
  }

  static ratio(n: number | bigint, d: number | bigint): Q {
    return new Q(BigInt(n), BigInt(d));
  }

  add(o: Q): Q {
    return new Q(this.n * o.d + o.n * this.d, this.d * o.d);
  }

  sub(o: Q): Q {
    return new Q(this.n * o.d - o.n * this.d, this.d * o.d);
  }

  mul(o: Q): Q {
    return new Q(this.n * o.n, this.d * o.d);
  }

  div(o: Q): Q {
    if (o.n === 0n) throw new RangeError('Q.div: division by zero');
    return new Q(this.n * o.d, this.d * o.n);
  }

  cmp(o: Q): number {
    const l = this.n * o.d;
    const r = o.n * this.d;
    return l < r ? -1 : l > r ? 1 : 0;
  }

  lt(o: Q): boolean {
    return this.cmp(o) < 0;
  }

  le(o: Q): boolean {
    return this.cmp(o) <= 0;
  }

  gt(o: Q): boolean {
    return this.cmp(o) > 0;
  }

  ge(o: Q): boolean {
    return this.cmp(o) >= 0;
  }

  abs(): Q {
    return this.n < 0n ? new Q(-this.n, this.d) : this;
  }

  floor(): bigint {
    const q = this.n / this.d;
    return this.n < 0n && q * this.d !== this.n ? q - 1n : q;
  }

  ceil(): bigint {
    return -new Q(-this.n, this.d).floor();
  }

  /** The nearest double (ties to even): what a perfect float clock reads at this instant. */
  round(): number {
    if (this.n === 0n) return 0;
    const sign = this.n < 0n ? -1 : 1;
    const n = this.n < 0n ? -this.n : this.n;
    // Pick e so that q = n / (d * 2^e) has 53 bits, then round q to a whole number.
    let e = bitLength(n) - bitLength(this.d) - 53;
    for (;;) {
      const [num, den] = e >= 0 ? [n, this.d << BigInt(e)] : [n << BigInt(-e), this.d];
      let q = num / den;
      if (q >= 1n << 53n) {
        e++;
        continue;
      }
      if (q < 1n << 52n) {
        e--;
        continue;
      }
      const twice = 2n * (num - q * den);
      if (twice > den || (twice === den && (q & 1n) === 1n)) q++;
      return sign * Number(q) * 2 ** e;
    }
  }

  /** The nearest double, about; enough for sizing tolerances and for messages. */
  toNumber(): number {
    // Scale both down first: a tiny double's denominator alone overflows a double.
    const bits = Math.max(bitLength(this.n < 0n ? -this.n : this.n), bitLength(this.d));
    const shift = BigInt(Math.max(0, bits - 1000));
    return Number(this.n >> shift) / Number(this.d >> shift);
  }
}

function bitLength(x: bigint): number {
  return x.toString(2).length;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

export const ZERO = Q.int(0);

/** The spacing of doubles around `x` (its unit in the last place). */
export function ulp(x: number): number {
  const a = Math.abs(x);
  if (a === 0) return Number.MIN_VALUE;
  const e = Math.floor(Math.log2(a));
  // log2 can be off by one near powers of two; fix it so 2^e <= a < 2^(e+1).
  const exp = 2 ** e > a ? e - 1 : 2 ** (e + 1) <= a ? e + 1 : e;
  return Math.max(2 ** (exp - 52), Number.MIN_VALUE);
}
