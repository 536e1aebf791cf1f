import { type Decision, FloodgateError } from 'floodgate';
import type { Engine } from './engine.js';
import { asError } from './errors.js';
import { isThenable, show } from './validate.js';

/** What deciding a request gives: a Decision, or `undefined` when `skip` said so. */
export type Outcome = Decision | undefined;

/**
 * Decides one request: skip, key, cost, then the limiter. Each step that returns a plain value
 * goes straight on; only a step that returns a promise moves the rest onto the async path, so
 * the memory store with sync options decides without a single `await`. A callback's throw or
 * rejection comes out as an Error naming the callback (see {@link asError}).
 */
export function decideRequest<Req, Res>(engine: Engine<Req, Res>, req: Req, res: Res): Outcome | Promise<Outcome> {
  if (engine.skip !== undefined) {
    let skipped: boolean | PromiseLike<boolean>;
    try {
      skipped = engine.skip(req, res);
    } catch (error) {
      throw asError(error, engine.owner, 'skip');
    }
    if (isThenable(skipped)) return afterSkip(engine, req, res, skipped);
    if (skipped) return undefined;
  }
  return fromKey(engine, req, res);
}

async function afterSkip<Req, Res>(
  engine: Engine<Req, Res>,
  req: Req,
  res: Res,
  skipped: PromiseLike<boolean>,
): Promise<Outcome> {
  let skip: boolean;
  try {
    skip = await skipped;
  } catch (error) {
    throw asError(error, engine.owner, 'skip');
  }
  if (skip) return undefined;
  return fromKey(engine, req, res);
}

function fromKey<Req, Res>(engine: Engine<Req, Res>, req: Req, res: Res): Decision | Promise<Decision> {
  let key: string | PromiseLike<string>;
  if (engine.keyGenerator === undefined) key = ipKeyOf(engine, req);
  else {
    try {
      key = engine.keyGenerator(req, res);
    } catch (error) {
      throw asError(error, engine.owner, 'keyGenerator');
    }
  }
  if (typeof key !== 'string' && isThenable(key)) return afterKey(engine, req, res, key);
  // A non-string key goes to the limiter, which rejects it with ERR_INVALID_KEY.
  return fromCost(engine, req, res, key);
}

async function afterKey<Req, Res>(
  engine: Engine<Req, Res>,
  req: Req,
  res: Res,
  pending: PromiseLike<string>,
): Promise<Decision> {
  let key: string;
  try {
    key = await pending;
  } catch (error) {
    throw asError(error, engine.owner, 'keyGenerator');
  }
  return fromCost(engine, req, res, key);
}

function fromCost<Req, Res>(engine: Engine<Req, Res>, req: Req, res: Res, key: string): Decision | Promise<Decision> {
  if (engine.cost === undefined) return engine.limiter.decide(key, engine.fixedCost);
  let cost: number | PromiseLike<number>;
  try {
    cost = engine.cost(req, res);
  } catch (error) {
    throw asError(error, engine.owner, 'cost');
  }
  if (typeof cost !== 'number' && isThenable(cost)) return afterCost(engine, key, cost);
  return engine.limiter.decide(key, cost);
}

async function afterCost<Req, Res>(
  engine: Engine<Req, Res>,
  key: string,
  pending: PromiseLike<number>,
): Promise<Decision> {
  let cost: number;
  try {
    cost = await pending;
  } catch (error) {
    throw asError(error, engine.owner, 'cost');
  }
  return engine.limiter.decide(key, cost);
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
