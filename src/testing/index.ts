import { deepStrictEqual, strictEqual } from 'node:assert/strict';
import { createLimiter, type Decision, type Store } from 'floodgate';
import { storeContract } from './scenarios/index.js';
import type { ContractScenario, ContractStep, ExpectedDecision } from './types.js';

export { type ContractScenario, type ContractStep, type ExpectedDecision, storeContract };

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
 * `AssertionError` naming the step at the first Decision that differs. Framework-agnostic: call
 * it from any test runner.
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
  const limiter =
    names.length === 1
      ? createLimiter({ algorithm: policies[names[0] as string], store, prefix, onStoreError: 'throw' })
      : createLimiter({ policies, store, prefix, onStoreError: 'throw' });
  for (const [index, step] of scenario.steps.entries()) {
    now = step.at;
    const where = `${scenario.name}, step ${index + 1} (${describe(step)})`;
    const key = step.key ?? 'k';
    const cost = step.cost ?? 1;
    if (step.concurrent !== undefined) {
      const all = await Promise.all(Array.from({ length: step.concurrent }, () => limiter.consume(key, { cost })));
      strictEqual(all.filter((d) => d.allowed).length, step.allowedCount, `${where}: allowed count`);
      continue;
    }
    if (step.op === 'reset') {
      await limiter.reset(key);
      continue;
    }
    const decision = step.op === 'peek' ? await limiter.peek(key, { cost }) : await limiter.consume(key, { cost });
    if (step.expect !== undefined) deepStrictEqual(pick(decision, step.expect), step.expect, where);
  }
}

function describe(step: ContractStep): string {
  return `${step.op ?? 'consume'} ${step.key ?? 'k'} cost ${step.cost ?? 1} at ${step.at} ms`;
}
