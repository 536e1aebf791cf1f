/**
 * Type-level tests of the public surface. This file is never run: it must type-check (under
 * `npm run typecheck`, and under `test/types.test.ts`, which `npm test` runs), and every
 * `@ts-expect-error` below must still be an error, or tsc fails with "Unused '@ts-expect-error'".
 */
import {
  type AcquireOptions,
  type Algorithm,
  type BindOptions,
  type CallOptions,
  type Clock,
  createLimiter,
  type Decision,
  type FloodgateError,
  type FloodgateErrorCode,
  isFloodgateError,
  type Limiter,
  type LimiterOptions,
  type MAX_KEY_LENGTH,
  MemoryStore,
  type MemoryStoreOptions,
  type migrationHint,
  type monotonicClock,
  type PolicySpec,
  type SlidingWindowLogState,
  type Store,
  type StoreBinding,
  type StoreErrorPolicy,
  slidingWindowLog,
  type TokenBucketState,
  tokenBucket,
} from 'floodgate';
import {
  type ContractBlock,
  type ContractBurst,
  type ContractCall,
  type ContractReset,
  type ContractScenario,
  type ContractStep,
  runContractScenario,
  type StoreFactory,
  storeContract,
} from 'floodgate/testing';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_proof: T): void {}

// The API sketch of issue 3, as written there.
export async function sketch(signal: AbortSignal): Promise<void> {
  const limiter = createLimiter({
    algorithm: slidingWindowLog({ limit: 100, windowMs: 60_000 }), // or tokenBucket({ capacity: 20, refillPerSecond: 5 })
    store: new MemoryStore(), // the default when omitted
    prefix: 'api', // namespaces keys in shared stores
  });
  const d = await limiter.consume('user:42'); // cost 1
  await limiter.consume('user:42', { cost: 5 }); // weighted call
  await limiter.peek('user:42'); // a Decision, nothing consumed
  await limiter.reset('user:42'); // forget the key
  await limiter.acquire('user:42', { cost: 1, maxWaitMs: 2_000, signal }); // wait for a slot
  const { allowed, limit, remaining, resetMs, retryAfterMs } = d;
  expectType<
    Equal<
      [typeof allowed, typeof limit, typeof remaining, typeof resetMs, typeof retryAfterMs],
      [boolean, number, number, number, number]
    >
  >(true);

  const multi = createLimiter({
    policies: {
      burst: tokenBucket({ capacity: 20, refillPerSecond: 5 }),
      hourly: slidingWindowLog({ limit: 1_000, windowMs: 3_600_000 }),
    },
  });
  const m = await multi.consume('user:42');
  expectType<Equal<typeof m.policies, Readonly<Record<string, Decision>> | undefined>>(true);
  expectType<Equal<typeof m.policy, string | undefined>>(true);
  expectType<Equal<typeof m.degraded, boolean | undefined>>(true);
  expectType<Equal<typeof m.cause, FloodgateError | undefined>>(true);
}

// Return types.
declare const limiter: Limiter;
expectType<Equal<ReturnType<Limiter['consume']>, Promise<Decision>>>(true);
expectType<Equal<ReturnType<Limiter['peek']>, Promise<Decision>>>(true);
expectType<Equal<ReturnType<Limiter['reset']>, Promise<void>>>(true);
expectType<Equal<ReturnType<Limiter['acquire']>, Promise<Decision>>>(true);
expectType<Equal<ReturnType<Limiter['decide']>, Decision | Promise<Decision>>>(true);
expectType<Equal<ReturnType<typeof slidingWindowLog>, Algorithm<SlidingWindowLogState>>>(true);
expectType<Equal<ReturnType<typeof tokenBucket>, Algorithm<TokenBucketState>>>(true);
expectType<Equal<Algorithm['name'], string>>(true);
expectType<Equal<StoreErrorPolicy, 'allow' | 'deny' | 'throw' | Store>>(true);
expectType<Equal<typeof limiter.policies, readonly PolicySpec[]>>(true);
expectType<Equal<Clock, () => number>>(true);
expectType<Equal<typeof migrationHint, (name: string) => string | undefined>>(true);
expectType<Equal<typeof monotonicClock, Clock>>(true);
expectType<Equal<typeof MAX_KEY_LENGTH, 128>>(true);
expectType<Equal<FloodgateError['code'], FloodgateErrorCode>>(true);
expectType<Equal<CallOptions, { cost?: number }>>(true);
expectType<Equal<AcquireOptions['signal'], AbortSignal | undefined>>(true);
expectType<Equal<MemoryStoreOptions['sweepIntervalMs'], number | false | undefined>>(true);
expectType<
  Equal<ContractScenario['steps'][number]['op'], 'consume' | 'peek' | 'refund' | 'block' | 'reset' | undefined>
>(true);
expectType<Equal<ContractScenario['blockDurationMs'], number | undefined>>(true);
expectType<Equal<ContractStep, ContractCall | ContractBlock | ContractReset | ContractBurst>>(true);
expectType<Equal<StoreFactory, (clock: () => number) => Store | Promise<Store>>>(true);
export const contract: readonly ContractScenario[] = storeContract;
export const runOne: (scenario: ContractScenario, createStore: StoreFactory) => Promise<void> = runContractScenario;

// A store of one's own implements the interface with no casts.
export class NullStore implements Store {
  bind(options: BindOptions): StoreBinding {
    const n = options.policies.length;
    return {
      decide: (): readonly Decision[] =>
        Array.from({ length: n }, () => ({ allowed: true, limit: 1, remaining: 1, resetMs: 0, retryAfterMs: 0 })),
      refund: (): readonly Decision[] => [],
      block: (): readonly Decision[] => [],
      reset: async () => {},
    };
  }
}
createLimiter({ algorithm: tokenBucket({ capacity: 1, refillPerSecond: 1 }), store: new NullStore() });
createLimiter({ algorithm: tokenBucket({ capacity: 1, refillPerSecond: 1 }), onStoreError: new NullStore() });

// Narrowing errors.
export function codeOf(error: unknown): FloodgateErrorCode | undefined {
  return isFloodgateError(error) ? error.code : undefined;
}

// Misuse the types catch.
export async function misuse(d: Decision): Promise<void> {
  // @ts-expect-error a cost is a number, not a string
  await limiter.consume('k', { cost: '5' });
  // @ts-expect-error decide takes the cost itself, not an options object
  limiter.decide('k', { cost: 5 });
  // @ts-expect-error a key is a string
  await limiter.consume(42);
  // @ts-expect-error options are named, with units: windowMS is a typo
  slidingWindowLog({ limit: 10, windowMS: 1_000 });
  // @ts-expect-error windowMs is required
  slidingWindowLog({ limit: 10 });
  // @ts-expect-error refillPerSecond is required
  tokenBucket({ capacity: 10 });
  // @ts-expect-error options objects, never positional numbers
  tokenBucket(10, 5);
  // @ts-expect-error an algorithm is made by a factory
  createLimiter({ algorithm: 'token-bucket' });
  // @ts-expect-error the failure policies are 'allow', 'deny', 'throw' or a store
  createLimiter({ algorithm: tokenBucket({ capacity: 1, refillPerSecond: 1 }), onStoreError: 'ignore' });
  // @ts-expect-error a clock returns milliseconds
  new MemoryStore({ clock: () => new Date() });
  // @ts-expect-error acquire takes an AbortSignal
  await limiter.acquire('k', { signal: 'abort' });
  // @ts-expect-error a Decision is a value to read, not to change
  d.allowed = true;
  // @ts-expect-error a contract block step needs its duration
  const noDuration: ContractStep = { at: 0, op: 'block' };
  // @ts-expect-error a block step has a duration, not a cost
  const blockCost: ContractStep = { at: 0, op: 'block', durationMs: 5, cost: 1 };
  // @ts-expect-error only consumes run concurrently
  const peekBurst: ContractStep = { at: 0, op: 'peek', concurrent: 5, allowedCount: 5 };
  void [noDuration, blockCost, peekBurst];
  // @ts-expect-error codes are a closed set
  const code: FloodgateErrorCode = 'ERR_SOMETHING';
  void code;
  // Not caught by the types (both are optional in LimiterOptions): a limiter with neither an
  // algorithm nor policies. It throws ERR_INVALID_OPTION at construction (test/validation.test.ts).
  const options: LimiterOptions = {};
  void options;
}
