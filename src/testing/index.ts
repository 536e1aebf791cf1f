import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { createLimiter, type Decision, type Store } from 'floodgate';
import { storeContract } from './scenarios/index.js';
import type {
  ContractBlock,
  ContractBurst,
  ContractCall,
  ContractReset,
  ContractScenario,
  ContractStep,
  ExpectedDecision,
} from './types.js';

export {
  type ContractBlock,
  type ContractBurst,
  type ContractCall,
  type ContractReset,
  type ContractScenario,
  type ContractStep,
  type ExpectedDecision,
  storeContract,
};

/**
 * Makes a store for one scenario. The store must read time from `clock` (milliseconds), so the
 * scenario can move time without sleeping.
 */
export type StoreFactory = (clock: () => number) => Store | Promise<Store>;

function pick(actual: Decision, expected: ExpectedDecision): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(expected) as (keyof ExpectedDecision)[]) {
    if (name === 'policies') continue;
    out[name] = actual[name];
  }
  // A key that is not blocked may say `blocked: false` or leave it out: both match either.
  if ('blocked' in expected && expected.blocked !== true && actual.blocked !== true) out.blocked = expected.blocked;
  if (expected.policies !== undefined) {
    const policies: Record<string, unknown> = {};
    for (const [policy, want] of Object.entries(expected.policies)) {
      const got = actual.policies?.[policy];
      policies[policy] = got === undefined ? undefined : pick(got, want as ExpectedDecision);
    }
    out.policies = policies;
  }
  return out;
}

/**
 * Runs one scenario of the store contract against a fresh store from `createStore` and throws an
 * `AssertionError` naming the step at the first Decision that differs. The limiter it builds has
 * the scenario's policies and `blockDurationMs`, and `onStoreError: 'throw'`, so a failing store
 * fails the scenario rather than deciding in its place. Framework-agnostic: call it from any test
 * runner.
 *
 * @example
 * ```ts
 * import { test } from 'node:test';
 * import { storeContract, runContractScenario } from 'floodgate/testing';
 * for (const scenario of storeContract) {
 *   test(scenario.name, () => runContractScenario(scenario, (clock) => new MyStore({ clock })));
 * }
 * ```
 */
export async function runContractScenario(
  scenario: ContractScenario,
  createStore: StoreFactory,
  prefix = `contract-${Math.random().toString(36).slice(2)}`,
): Promise<void> {
  let now = 0;
  const store = await createStore(() => now);
  const policies = scenario.policies();
  const names = Object.keys(policies);
  const common = { store, prefix, blockDurationMs: scenario.blockDurationMs ?? 0, onStoreError: 'throw' as const };
  const limiter =
    names.length === 1
      ? createLimiter({ algorithm: policies[names[0] as string], ...common })
      : createLimiter({ policies, ...common });
  for (const [index, step] of scenario.steps.entries()) {
    now = step.at;
    const where = `${scenario.name}, step ${index + 1} (${describe(step)})`;
    const key = step.key ?? 'k';
    if ('concurrent' in step) {
      const cost = step.cost ?? 1;
      const all = await Promise.all(Array.from({ length: step.concurrent }, () => limiter.consume(key, { cost })));
      strictEqual(all.filter((d) => d.allowed).length, step.allowedCount, `${where}: allowed count`);
      continue;
    }
    if (step.op === 'reset') {
      await limiter.reset(key);
      continue;
    }
    let decision: Decision;
    if (step.op === 'block') decision = await limiter.block(key, { durationMs: step.durationMs });
    else {
      const options = { cost: step.cost ?? 1 };
      decision =
        step.op === 'peek'
          ? await limiter.peek(key, options)
          : step.op === 'refund'
            ? await limiter.refund(key, options)
            : await limiter.consume(key, options);
    }
    if (step.expect !== undefined) deepStrictEqual(pick(decision, step.expect), step.expect, where);
  }
}

function describe(step: ContractStep): string {
  const key = step.key ?? 'k';
  if (step.op === 'reset') return `reset ${key} at ${step.at} ms`;
  if (step.op === 'block') return `block ${key} for ${step.durationMs} ms at ${step.at} ms`;
  const times = 'concurrent' in step ? ` ×${step.concurrent}` : '';
  return `${step.op ?? 'consume'}${times} ${key} cost ${step.cost ?? 1} at ${step.at} ms`;
}
