import type { ContractScenario } from '../types.js';
import { blockScenarios } from './block.js';
import { fixedWindowScenarios } from './fixed-window.js';
import { multiPolicyScenarios } from './multi-policy.js';
import { refundScenarios } from './refund.js';
import { slidingWindowCounterScenarios } from './sliding-window-counter.js';
import { slidingWindowLogScenarios } from './sliding-window-log.js';
import { tokenBucketScenarios } from './token-bucket.js';

/** The store contract: every store, with every algorithm, must give these Decisions. */
export const storeContract: readonly ContractScenario[] = [
  ...slidingWindowLogScenarios,
  ...tokenBucketScenarios,
  ...fixedWindowScenarios,
  ...slidingWindowCounterScenarios,
  ...multiPolicyScenarios,
  ...refundScenarios,
  ...blockScenarios,
];
