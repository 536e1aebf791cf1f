import type { BindOptions, Decision, Store, StoreBinding } from 'floodgate';

/** How a {@link FlakyStore} fails while it is down. */
export type FailureMode = 'throw' | 'reject';

/**
 * A store that decides through an inner store until told to fail, then throws (synchronously) or
 * rejects (asynchronously) with `error` on every call, resets included, as a broken network store
 * would.
 */
export class FlakyStore implements Store {
  down: FailureMode | undefined;
  calls = 0;

  constructor(
    readonly inner: Store,
    public error: unknown = new Error('connection refused'),
  ) {}

  bind(options: BindOptions): StoreBinding {
    const binding = this.inner.bind(options);
    return {
      decide: (key, cost, charge) => {
        this.calls++;
        if (this.down === 'throw') throw this.error;
        if (this.down === 'reject') return Promise.reject(this.error);
        return binding.decide(key, cost, charge);
      },
      refund: (key, cost) => this.#failOr(() => binding.refund(key, cost)),
      block: (key, ms) => this.#failOr(() => binding.block(key, ms)),
      reset: (key) => this.#failOr(() => binding.reset(key)),
    };
  }

  /** Fails as the store is down, or runs `call`. */
  #failOr<T>(call: () => T | Promise<T>): T | Promise<T> {
    if (this.down === 'throw') throw this.error;
    if (this.down === 'reject') return Promise.reject(this.error);
    return call();
  }
}

/**
 * A store that answers through an inner store, counting calls and, with `async`, answering a
 * macrotask later (as a network store does) while still deciding atomically.
 */
export class CountingStore implements Store {
  decides = 0;

  constructor(
    readonly inner: Store,
    readonly async = false,
  ) {}

  bind(options: BindOptions): StoreBinding {
    const binding = this.inner.bind(options);
    return {
      decide: (key, cost, charge) => {
        this.decides++;
        const result = binding.decide(key, cost, charge);
        if (!this.async) return result;
        return new Promise<readonly Decision[]>((resolve, reject) => {
          setImmediate(() => Promise.resolve(result).then(resolve, reject));
        });
      },
      refund: (key, cost) => binding.refund(key, cost),
      block: (key, ms) => binding.block(key, ms),
      reset: (key) => binding.reset(key),
    };
  }
}
