import { type Decision, FloodgateError, type Limiter } from 'floodgate';
import type { Charge } from './counting.js';
import { type Engine, isLimiter } from './engine.js';
import { asError } from './errors.js';
import { isThenable, show } from './validate.js';

/** What deciding a request gives: a Decision, or `undefined` when `skip` said so. */
export type Outcome = Decision | undefined;

/**
 * Decides one request: skip, the limiter, the key, then the cost. Each step that returns a plain value
 * goes straight on; only a step that returns a promise moves the rest onto the async path, so
 * the memory store with sync options decides without a single `await`. A callback's throw or
 * rejection comes out as an Error naming the callback (see {@link asError}). When `charge` is
 * given, the key and cost the limiter was asked with are written to it.
 */
export function decideRequest<Req, Res>(
  engine: Engine<Req, Res>,
  req: Req,
  res: Res,
  charge?: Charge,
): Outcome | Promise<Outcome> {
  if (engine.skip !== undefined) {
    const skipped = callback(engine.owner, 'skip', engine.skip, req, res);
    if (isThenable(skipped)) return afterSkip(engine, req, res, skipped, charge);
    if (skipped) return undefined;
  }
  return fromLimiter(engine, req, res, charge);
}

/** Calls one of the app's request callbacks; a throw comes out as an Error naming it. */
function callback<Req, Res, T>(owner: string, source: string, run: (req: Req, res: Res) => T, req: Req, res: Res): T {
  try {
    return run(req, res);
  } catch (error) {
    throw asError(error, owner, source);
  }
}

/** Awaits what a callback returned; a rejection comes out as an Error naming the callback. */
async function settled<T>(owner: string, source: string, pending: PromiseLike<T>): Promise<T> {
  try {
    return await pending;
  } catch (error) {
    throw asError(error, owner, source);
  }
}

async function afterSkip<Req, Res>(
  engine: Engine<Req, Res>,
  req: Req,
  res: Res,
  skipped: PromiseLike<boolean>,
  charge: Charge | undefined,
): Promise<Outcome> {
  if (await settled(engine.owner, 'skip', skipped)) return undefined;
  return fromLimiter(engine, req, res, charge);
}

/** The limiter of this request: the one given, or the one the `limiter` function picks. */
function fromLimiter<Req, Res>(
  engine: Engine<Req, Res>,
  req: Req,
  res: Res,
  charge: Charge | undefined,
): Decision | Promise<Decision> {
  if (engine.limiterOf === undefined) return fromKey(engine, req, res, charge, engine.limiter as Limiter);
  const picked = callback(engine.owner, 'limiter', engine.limiterOf, req, res);
  // A limiter has no `then`: anything else thenable is a promise of one.
  if (!isLimiter(picked) && isThenable(picked)) return afterLimiter(engine, req, res, charge, picked);
  return fromKey(engine, req, res, charge, checkPicked(engine, picked));
}

async function afterLimiter<Req, Res>(
  engine: Engine<Req, Res>,
  req: Req,
  res: Res,
  charge: Charge | undefined,
  pending: PromiseLike<Limiter>,
): Promise<Decision> {
  return fromKey(engine, req, res, charge, checkPicked(engine, await settled(engine.owner, 'limiter', pending)));
}

function checkPicked<Req, Res>(engine: Engine<Req, Res>, picked: unknown): Limiter {
  if (!isLimiter(picked)) {
    throw new FloodgateError(
      'ERR_INVALID_OPTION',
      `${engine.owner}: the limiter function must return a limiter from createLimiter({...}), got ${show(picked)}`,
    );
  }
  engine.picks.saw(picked);
  return picked;
}

function fromKey<Req, Res>(
  engine: Engine<Req, Res>,
  req: Req,
  res: Res,
  charge: Charge | undefined,
  limiter: Limiter,
): Decision | Promise<Decision> {
  const key =
    engine.keyGenerator === undefined
      ? ipKeyOf(engine, req)
      : callback(engine.owner, 'keyGenerator', engine.keyGenerator, req, res);
  if (typeof key !== 'string' && isThenable(key)) return afterKey(engine, req, res, key, charge, limiter);
  // A non-string key goes to the limiter, which rejects it with ERR_INVALID_KEY.
  return fromCost(engine, req, res, key, charge, limiter);
}

async function afterKey<Req, Res>(
  engine: Engine<Req, Res>,
  req: Req,
  res: Res,
  pending: PromiseLike<string>,
  charge: Charge | undefined,
  limiter: Limiter,
): Promise<Decision> {
  return fromCost(engine, req, res, await settled(engine.owner, 'keyGenerator', pending), charge, limiter);
}

function fromCost<Req, Res>(
  engine: Engine<Req, Res>,
  req: Req,
  res: Res,
  key: string,
  charge: Charge | undefined,
  limiter: Limiter,
): Decision | Promise<Decision> {
  if (engine.cost === undefined) return charged(limiter, key, engine.fixedCost, charge);
  const cost = callback(engine.owner, 'cost', engine.cost, req, res);
  if (typeof cost !== 'number' && isThenable(cost)) return afterCost(engine, key, cost, charge, limiter);
  return charged(limiter, key, returnedCost(cost), charge);
}

async function afterCost<Req, Res>(
  engine: Engine<Req, Res>,
  key: string,
  pending: PromiseLike<number>,
  charge: Charge | undefined,
  limiter: Limiter,
): Promise<Decision> {
  return charged(limiter, key, returnedCost(await settled(engine.owner, 'cost', pending)), charge);
}

/**
 * Refuses a cost function's `undefined` (a branch that returns nothing, a lookup that found
 * nothing): passed on, it would read as `decide`'s "no cost given" and be charged 1. Every other
 * value is the limiter's to check, with the same error.
 */
function returnedCost(cost: number | undefined): number {
  if (cost === undefined)
    throw new FloodgateError('ERR_INVALID_COST', 'cost must be a non-negative integer, got undefined');
  return cost;
}

/** Asks the limiter, noting what it was asked with. */
function charged(
  limiter: Limiter,
  key: string,
  cost: number,
  charge: Charge | undefined,
): Decision | Promise<Decision> {
  if (charge !== undefined) {
    charge.key = key;
    charge.cost = cost;
    charge.limiter = limiter;
  }
  return limiter.decide(key, cost);
}

function ipKeyOf<Req, Res>(engine: Engine<Req, Res>, req: Req): string {
  const ip = engine.clientIp(req);
  if (typeof ip !== 'string' || ip === '') {
    const message =
      `${engine.owner}: the request has no client IP to key on (req.ip is ${show(ip)}); ` +
      'this happens behind a Unix socket or once the client has gone; give a keyGenerator';
    engine.notices.once('FLOODGATE_NO_CLIENT_IP', message);
    throw new FloodgateError('ERR_NO_CLIENT_IP', message);
  }
  return engine.ipKey(ip);
}
