import type { ContractScenario } from '../types.js';
import { multiPolicyScenarios } from './multi-policy.js';
import { slidingWindowLogScenarios } from './sliding-window-log.js';
import { tokenBucketScenarios } from './token-bucket.js';

/** The store contract: every store, with every algorithm, must give these Decisions. */
export const storeContract: readonly ContractScenario[] = [
  ...slidingWindowLogScenarios,
  ...tokenBucketScenarios,
  ...multiPolicyScenarios,
];
