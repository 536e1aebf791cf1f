import { test } from 'node:test';
import { MemoryStore } from 'floodgate';
import { runContractScenario, storeContract } from 'floodgate/testing';

for (const scenario of storeContract) {
  test(`memory store contract: ${scenario.name}`, () =>
    runContractScenario(scenario, (clock) => new MemoryStore({ clock, sweepIntervalMs: false })));
}
