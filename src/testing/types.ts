import type { Algorithm, Decision } from 'floodgate';

/**
 * What a step expects; only the fields given are compared. `blocked: false` matches a Decision
 * with `blocked` false or absent.
 */
export type ExpectedDecision = Partial<Omit<Decision, 'policies'>> & {
  policies?: Readonly<Record<string, ExpectedDecision>>;
};

/** What every step has: when it runs and on which key. */
interface StepBase {
  /** Clock reading for this step, in milliseconds. */
  readonly at: number;
  /** The key the step calls with. Defaults to `"k"`. */
  readonly key?: string;
}

/** A `consume`, `peek` or `refund` of `cost` units, and the Decision it must resolve with. */
export interface ContractCall extends StepBase {
  /**
   * The limiter method to call. Defaults to `consume`. A `refund` gives back up to `cost` units
   * and resolves with what a peek of cost 1 gives after it.
   */
  readonly op?: 'consume' | 'peek' | 'refund';
  /** Units the call costs (for `refund`, units given back). Defaults to 1. */
  readonly cost?: number;
  /** The Decision the call must resolve with; only the fields given are compared. */
  readonly expect?: ExpectedDecision;
}

/** A `limiter.block` of the key for `durationMs`, and the Decision it must resolve with. */
export interface ContractBlock extends StepBase {
  readonly op: 'block';
  /** How long the key is blocked, in milliseconds from `at`. */
  readonly durationMs: number;
  /** The Decision a peek of cost 1 gives after the block; only the fields given are compared. */
  readonly expect?: ExpectedDecision;
}

/** A `limiter.reset` of the key. */
export interface ContractReset extends StepBase {
  readonly op: 'reset';
}

/** Identical consumes started together, of which exactly `allowedCount` must be allowed. */
export interface ContractBurst extends StepBase {
  /** Only `consume`. */
  readonly op?: 'consume';
  /** Units each call costs. Defaults to 1. */
  readonly cost?: number;
  /** How many calls run concurrently. */
  readonly concurrent: number;
  /** How many of them must be allowed. */
  readonly allowedCount: number;
}

/** One step of a scenario, at a time on the injected clock. */
export type ContractStep = ContractCall | ContractBlock | ContractReset | ContractBurst;

/** A table of calls and the Decisions every store must give for them. */
export interface ContractScenario {
  /** What the scenario shows; test names and assertion messages start with it. */
  readonly name: string;
  /** The limiter's policies; a single one is passed as `algorithm`. */
  readonly policies: () => Readonly<Record<string, Algorithm>>;
  /** The limiter's `blockDurationMs`: a denied consume locks the key out for that long. Defaults to 0 (none). */
  readonly blockDurationMs?: number;
  /** The steps, run in order; a step may set the clock back, as a clock stepping back would. */
  readonly steps: readonly ContractStep[];
}
