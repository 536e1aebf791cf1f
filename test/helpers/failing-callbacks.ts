import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';
import type { Decision } from 'floodgate';

/** Values the frameworks read as "no error" (falsy), and Express's routing commands, as error messages show them. */
export const NON_ERRORS: readonly [unknown, string][] = [
  [undefined, 'undefined'],
  [null, 'null'],
  [false, 'false'],
  [0, '0'],
  ['', '""'],
  ['route', '"route"'],
  ['router', '"router"'],
];

/** The adapter options that install one failing callback. */
export interface FailingOptions {
  keyGenerator?: () => never;
  skip?: () => never;
  cost?: () => never;
  onDecision?: (request: unknown, decision: Decision) => void;
  onLimited?: () => never;
  message?: () => never;
}

/**
 * Each callback throwing or rejecting with `value`: its name, whether it runs only on a denied
 * request, and the options that install it. A sync-only `message` (Fastify's) only throws.
 */
export function failingCallbacks(value: unknown, asyncMessage: boolean): [string, boolean, FailingOptions][] {
  const thrower = (): never => {
    throw value;
  };
  // Typed as a thrower: the adapters accept a promise wherever these callbacks may return one.
  const rejecter = (() => Promise.reject(value)) as unknown as () => never;
  return [
    ['keyGenerator', false, { keyGenerator: thrower }],
    ['keyGenerator', false, { keyGenerator: rejecter }],
    ['skip', false, { skip: thrower }],
    ['skip', false, { skip: rejecter }],
    ['cost', false, { cost: thrower }],
    ['cost', false, { cost: rejecter }],
    [
      'onDecision',
      true,
      {
        onDecision: (_request, decision) => {
          if (!decision.allowed) throw value;
        },
      },
    ],
    ['onLimited', true, { onLimited: thrower }],
    ['message', true, { message: thrower }],
    ...(asyncMessage ? [['message', true, { message: rejecter }] as [string, boolean, FailingOptions]] : []),
  ];
}

/**
 * Checks an app's answers to two requests (limit 1) with one failing callback: a callback that
 * runs on every request fails both, one that runs only when denied fails the second; the error
 * the app's handler saw names the callback and keeps the value as its cause.
 */
export function assertFailed(
  run: { label: string; owner: string; callback: string; denied: boolean; value: unknown; shown: string },
  seen: { statuses: number[]; handled: number; errors: unknown[] },
): void {
  const { label, denied } = run;
  deepStrictEqual(
    [seen.statuses, seen.handled, seen.errors.length],
    denied ? [[200, 500], 1, 1] : [[500, 500], 0, 2],
    label,
  );
  const error = seen.errors[0];
  ok(error instanceof Error, label);
  strictEqual(error.message, `${run.owner}: ${run.callback} failed with a non-Error value: ${run.shown}`);
  strictEqual(error.cause, run.value, label);
}

/**
 * Runs `run`, lets the promises it left behind settle, and returns the rejections nothing handled
 * meanwhile: each one would end a process running under Node's default `--unhandled-rejections`.
 */
export async function unhandledRejections(run: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown): void => {
    seen.push(reason);
  };
  process.on('unhandledRejection', listener);
  try {
    await run();
    await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    process.off('unhandledRejection', listener);
  }
  return seen;
}
