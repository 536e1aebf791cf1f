import type { Algorithm, Decision } from 'floodgate';

/** What a step expects; only the fields given are compared. */
export type ExpectedDecision = Partial<Omit<Decision, 'policies'>> & {
  policies?: Readonly<Record<string, ExpectedDecision>>;
};

/** One call of a scenario, at a time on the injected clock. */
export interface ContractStep {
  /** Clock reading for this step, in milliseconds. */
  readonly at: number;
  /** Defaults to `consume`. */
  readonly op?: 'consume' | 'peek' | 'reset';
  /** Defaults to `"k"`. */
  readonly key?: string;
  /** Defaults to 1. */
  readonly cost?: number;
  /** Run this many identical calls concurrently and expect exactly `allowedCount` allowed. */
  readonly concurrent?: number;
  readonly allowedCount?: number;
  readonly expect?: ExpectedDecision;
}

/** A table of calls and the Decisions every store must give for them. */
export interface ContractScenario {
  readonly name: string;
  /** The limiter's policies; a single one is passed as `algorithm`. */
  readonly policies: () => Readonly<Record<string, Algorithm>>;
  readonly steps: readonly ContractStep[];
}
