import type {
  ContextConfigDefault,
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  FastifySchema,
  preHandlerHookHandler,
  RouteGenericInterface,
  RouteOptions,
} from 'fastify';
import fp from 'fastify-plugin';
import { type Decision, FloodgateError, type Limiter } from 'floodgate';
import {
  type CommonOptions,
  checkEngineOptions,
  createEngine,
  ENGINE_OPTIONS,
  hasOwnLimiter,
  LIMITER_OPTIONS,
  type LimiterFunction,
  resolveLimiter,
} from './engine.js';
import {
  clientIp,
  type Hook as FloodgateHook,
  type Hook,
  type Hooks,
  makeHooks,
  type RouteLimit,
  resolveMessage,
} from './fastify-hook.js';
import { checkCreatedInRequest, Notices, resolveWarn, type WarningHandler } from './notices.js';
import type { RateLimitInfo } from './request-info.js';
import { checkOptionsObject, invalidOption, migrationHint, optionalBoolean } from './validate.js';

export type { LimiterFunction } from './engine.js';
export { type Hook as FloodgateHook, RateLimitedError } from './fastify-hook.js';
export type { HeaderFormat, HeadersOption } from './headers.js';
export { ipKeyGenerator } from './ip.js';
export type { WarningCode, WarningHandler } from './notices.js';
export type { RateLimitInfo } from './request-info.js';

/** Options a route can set under `config.rateLimit`; each overrides the plugin's for that route. */
export interface FloodgateRouteOptions extends CommonOptions<FastifyRequest, FastifyReply> {
  /**
   * The `message` of the error a limited request is answered with (through the app's error
   * handler), or a function of the request and the Decision returning it. Defaults to
   * `Rate limit exceeded, retry in N seconds`.
   */
  message?: string | ((request: FastifyRequest, decision: Decision) => string);
}

/**
 * A route's `config.rateLimit` object. Fastify intersects the route config type with one it
 * infers from the literal, which lets a number or a string through an object type whose options
 * are all optional (`rateLimit: 5` would type-check). A member each primitive has and no options
 * object does, declared never, makes `tsc` refuse them: `toFixed` (numbers), `charAt` (strings),
 * `Symbol.toStringTag` (bigints and symbols).
 */
export type FloodgateRouteConfig = FloodgateRouteOptions & {
  toFixed?: never;
  charAt?: never;
  [Symbol.toStringTag]?: never;
};

/** Options of the {@link floodgate} plugin. */
export interface FloodgatePluginOptions extends FloodgateRouteOptions {
  /**
   * Limit every route registered after the plugin (in its context and below), unless its
   * `config.rateLimit` is `false`. With `false`, only routes whose `config.rateLimit` is set are
   * limited. Defaults to true.
   */
  global?: boolean;
  /**
   * The request hook the limiter runs in: `'onRequest'` (before the body is read: cheapest) or
   * `'preHandler'` (after validation and the route's own preHandlers, for keys built from an
   * authenticated user). Defaults to `'onRequest'`.
   */
  hook?: 'onRequest' | 'preHandler';
  /**
   * Where the once-only setup warnings go (trust-proxy mistakes, a request without a client IP),
   * or `false` to silence them. Defaults to `process.emitWarning`.
   */
  warn?: WarningHandler | false;
}

declare module 'fastify' {
  interface FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider> {
    /**
     * The plugin's own limiter (undefined when it has none: `global: false` without one, or a
     * `limiter` function picking one per request), to
     * `reset`, `block` or `peek` a key from a handler. With the plugin registered more than once
     * in a context and its parents, the outermost registration's.
     */
    readonly floodgate: { readonly limiter: Limiter | undefined };
    /**
     * A request hook that limits with the plugin's options, or with them overridden by `options`
     * as a route's `config.rateLimit` object would, for handlers the plugin does not reach: a
     * not-found handler set in another context, or any handler with `global: false`.
     *
     * @example
     * ```ts
     * app.setNotFoundHandler({ preHandler: app.rateLimit() }, (request, reply) => reply.code(404).send());
     * ```
     */
    rateLimit<
      RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
      ContextConfig = ContextConfigDefault,
      SchemaCompiler extends FastifySchema = FastifySchema,
    >(
      options?: FloodgateRouteOptions,
    ): preHandlerHookHandler<
      RawServer,
      RawRequest,
      RawReply,
      RouteGeneric,
      ContextConfig,
      SchemaCompiler,
      TypeProvider,
      Logger
    >;
  }
  interface FastifyRequest {
    /**
     * What the rate limits so far decided for this request, with the key it was counted under:
     * the binding one when several ran. Set by the plugin (under another name with
     * `requestPropertyName`); undefined on a route it does not limit, or when `skip` let the
     * request by.
     */
    rateLimit?: RateLimitInfo;
  }
  interface FastifyContextConfig {
    /**
     * floodgate for this route: `false` opts it out, `true` opts it in (with `global: false`),
     * an object overrides the plugin's options for it.
     */
    rateLimit?: FloodgateRouteConfig | boolean;
  }
}

const OWNER = 'floodgate';
const ROUTE_KNOWN: readonly string[] = [...ENGINE_OPTIONS, 'message'];
const PLUGIN_KNOWN: readonly string[] = [...ROUTE_KNOWN, 'global', 'hook', 'warn'];
const PLUGIN_ONLY = new Set(['global', 'hook', 'warn']);

/**
 * Whether the server was created with `trustProxy: true`. Fastify does not expose its options,
 * so this reads them where Fastify keeps them; only a warning depends on it, and an unknown
 * layout simply means no warning.
 */
function trustsEveryProxy(instance: FastifyInstance): boolean {
  for (let o: object | null = instance; o !== null; o = Object.getPrototypeOf(o)) {
    for (const symbol of Object.getOwnPropertySymbols(o)) {
      if (symbol.description === 'fastify.options') {
        const options = (o as Record<symbol, unknown>)[symbol];
        return (
          typeof options === 'object' && options !== null && (options as { trustProxy?: unknown }).trustProxy === true
        );
      }
    }
  }
  return false;
}

/** Every request hook floodgate adds, from any registration, to keep stacked ones in order. */
const ours = new WeakSet<Hook>();

/**
 * Routes given the limiter their own config names, by any registration. A route that names its
 * own limiter gets only that one, once: with the plugin registered more than once (at the root
 * and again in a plugin), every registration sees the route, and the first to see it (the
 * outermost) attaches the limit; the others leave the route alone.
 */
const ownLimitAttached = new WeakSet<object>();

function addHook(route: RouteOptions, name: 'onRequest' | 'preHandler' | 'onResponse', hook: Hook): void {
  const existing = route[name];
  const list: Hook[] = existing === undefined ? [] : Array.isArray(existing) ? [...existing] : [existing];
  ours.add(hook);
  // onRequest: before the route's own hooks, so a limited request costs the route nothing, but
  // after the limits of outer registrations (their onRoute ran first): stacked limits run outer
  // first, as Express middleware does. preHandler and onResponse: last, after the route's own
  // preHandlers (authentication) that a keyGenerator may rely on.
  if (name === 'onRequest') {
    let at = 0;
    while (at < list.length && ours.has(list[at] as Hook)) at++;
    list.splice(at, 0, hook);
  } else {
    list.push(hook);
  }
  (route as unknown as Record<string, unknown>)[name] = list;
}

function floodgatePlugin(
  fastify: FastifyInstance,
  options: FloodgatePluginOptions,
  done: (error?: Error) => void,
): void {
  try {
    const given = checkOptionsObject(OWNER, options ?? {}, PLUGIN_KNOWN, true, migrationHint);
    const global = optionalBoolean(OWNER, 'global', given.global, true);
    // Only `undefined` means "not given": a null hook is a mistake to report, like a null global.
    const hookName = given.hook === undefined ? 'onRequest' : given.hook;
    if (hookName !== 'onRequest' && hookName !== 'preHandler') {
      throw invalidOption(OWNER, 'hook', "'onRequest' or 'preHandler'", hookName);
    }
    const notices = new Notices(resolveWarn(OWNER, given.warn));
    // The options a route config inherits: everything but the plugin-only ones.
    const inherited: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(given)) if (!PLUGIN_ONLY.has(name)) inherited[name] = value;
    let base: RouteLimit | undefined;
    // The plugin's limiter, or the function picking one per request.
    let baseLimiter: Limiter | LimiterFunction<unknown, unknown> | undefined;
    if (hasOwnLimiter(given)) {
      baseLimiter = resolveLimiter(OWNER, given);
      base = {
        engine: createEngine(OWNER, inherited, notices, clientIp, baseLimiter),
        message: resolveMessage(OWNER, given.message),
      };
    } else if (global) {
      throw new FloodgateError(
        'ERR_INVALID_OPTION',
        `${OWNER}: limiter or algorithm/policies is required unless global is false, got neither`,
      );
    } else {
      // No limiter of its own: still check the rest now rather than at the first route, all but
      // a fixed cost's bound, which each route checks against its own limiter.
      checkEngineOptions(OWNER, inherited, undefined);
      resolveMessage(OWNER, given.message);
    }
    if (!notices.trustAllDone) {
      notices.trustAllDone = true;
      if (trustsEveryProxy(fastify)) {
        notices.once(
          'FLOODGATE_TRUST_ALL_PROXIES',
          // Not "a hop count": Fastify 5 releases treat a number as trusting no proxy at all
          // (it cannot check the peer), so that advice would silently give every client one key.
          `${OWNER}: Fastify's trustProxy is true, so any client can choose its own rate-limit key by sending X-Forwarded-For; set it to your proxies' addresses or ranges (trustProxy: '10.0.0.0/8'), not to a hop count, which recent Fastify releases ignore`,
        );
      }
    }
    const baseHooks = base === undefined ? undefined : makeHooks(base, notices);
    // One hook per config object: a GET route and its automatic HEAD twin, or routes sharing a
    // config on purpose, share one limiter.
    const hooks = new WeakMap<object, Hooks>();

    // The plugin sees only routes added after it has loaded. Routes declared before, or after an
    // `app.register(floodgate, …)` that was not awaited, are silently unlimited; an app that gets
    // ready with the plugin having seen no route at all has almost surely done that.
    let routesSeen = 0;
    if (global) {
      fastify.addHook('onReady', function floodgateOnReady(ready) {
        if (routesSeen === 0) {
          notices.once(
            'FLOODGATE_NO_ROUTES',
            `${OWNER}: the app is ready but no route was added after the plugin, so none is limited; await app.register(floodgate, …) before declaring routes`,
          );
        }
        ready();
      });
    }

    /**
     * Declares the request property a limit writes, once, so every request has it from the start
     * (Fastify's advice: objects keep one shape, which keeps property access fast).
     */
    function declareProperty(name: string | undefined): void {
      if (name !== undefined && !fastify.hasRequestDecorator(name)) fastify.decorateRequest(name, undefined);
    }
    declareProperty(base?.engine.requestProperty);

    /** The hooks of a limit whose options are the plugin's overridden by `config`. */
    function hooksFor(owner: string, config: unknown): Hooks {
      const own = checkOptionsObject(owner, config, ROUTE_KNOWN, true, migrationHint);
      const merged: Record<string, unknown> = { ...inherited };
      if (hasOwnLimiter(own)) for (const name of ['limiter', ...LIMITER_OPTIONS]) delete merged[name];
      // Only `undefined` means "not given", here as for `limiter`: a config spread from a defaults
      // object (`{ ...routeDefaults, cost: 2 }`) with `keyGenerator: undefined` keeps the plugin's.
      for (const [name, value] of Object.entries(own)) if (value !== undefined) merged[name] = value;
      const limiter = hasOwnLimiter(own) ? resolveLimiter(owner, own) : baseLimiter;
      if (limiter === undefined) {
        throw new FloodgateError(
          'ERR_INVALID_OPTION',
          `${owner}: limiter or algorithm/policies is required (the plugin has none), got neither`,
        );
      }
      const limit = {
        engine: createEngine(owner, merged, notices, clientIp, limiter),
        message: resolveMessage(owner, merged.message),
      };
      declareProperty(limit.engine.requestProperty);
      return makeHooks(limit, notices);
    }

    // Requests no route matched end in a not-found handler, which onRoute never sees. With
    // `global`, they are limited too, by the plugin's own limit: otherwise a scan of unknown URLs
    // would never be limited at all. A hook on the context runs for every request, so it only
    // acts on the not-found ones.
    const limitedNotFound = new WeakSet<FastifyRequest>();
    if (global && baseHooks !== undefined) {
      const request404 = baseHooks.request;
      const hook: Hook = function floodgateNotFound(request, reply, done) {
        if (!request.is404) {
          done();
          return;
        }
        limitedNotFound.add(request);
        request404.call(this, request, reply, done);
      };
      fastify.addHook(hookName, hook);
    }

    if (!fastify.hasDecorator('floodgate')) {
      fastify.decorate('floodgate', { limiter: typeof baseLimiter === 'function' ? undefined : baseLimiter });
    }
    if (!fastify.hasDecorator('rateLimit')) {
      // Cast: the declaration merges with any other plugin's `rateLimit` (an app migrating from
      // @fastify/rate-limit may still have its types loaded) into an overload set `decorate`
      // cannot match.
      const decorator = function rateLimit(options?: FloodgateRouteOptions): FloodgateHook {
        checkCreatedInRequest(`${OWNER} (rateLimit())`, notices);
        if (options === undefined) {
          if (baseHooks === undefined) {
            throw new FloodgateError(
              'ERR_INVALID_OPTION',
              `${OWNER}: rateLimit() needs options with a limiter: the plugin has none`,
            );
          }
          const base = baseHooks.request;
          // A not-found request the plugin's own hook already limited is not charged twice.
          return function floodgateRateLimit(request, reply, done) {
            if (limitedNotFound.has(request)) done();
            else base.call(this, request, reply, done);
          };
        }
        return hooksFor(`${OWNER} (rateLimit())`, options).request;
      };
      (fastify as unknown as { decorate(name: string, value: unknown): void }).decorate('rateLimit', decorator);
    }

    fastify.addHook('onRoute', function floodgateOnRoute(route) {
      routesSeen++;
      const config = route.config?.rateLimit;
      if (config === false) return;
      let hook: Hooks | undefined;
      if (config === undefined || config === true) {
        if (config === undefined && !global) return;
        if (baseHooks === undefined) {
          throw new FloodgateError(
            'ERR_INVALID_OPTION',
            `${OWNER} (route ${route.method} ${route.url}): config.rateLimit is true but the plugin has no limiter; give the route its own`,
          );
        }
        hook = baseHooks;
      } else {
        if (typeof config !== 'object' || config === null) {
          throw invalidOption(
            `${OWNER} (route ${route.method} ${route.url})`,
            'config.rateLimit',
            'true, false, or an object of route options (limiter, algorithm, cost, keyGenerator, …)',
            config,
          );
        }
        const own = hasOwnLimiter(config as Record<string, unknown>);
        if (own) {
          if (ownLimitAttached.has(route)) return;
          ownLimitAttached.add(route);
        }
        hook = hooks.get(config);
        if (hook === undefined) {
          hook = hooksFor(`${OWNER} (route ${route.method} ${route.url})`, config);
          hooks.set(config, hook);
        }
      }
      addHook(route, hookName, hook.request);
      if (hook.onResponse !== undefined) addHook(route, 'onResponse', hook.onResponse);
    });
    done();
  } catch (error) {
    done(error as Error);
  }
}

/**
 * The Fastify plugin (Fastify 4 and 5), named `'floodgate'`. It is not encapsulated: registered
 * at the root it limits every route registered after it; registered inside a plugin, only that
 * plugin's routes. Routes opt out with `config: { rateLimit: false }` and override options with
 * `config: { rateLimit: { ... } }`. Every option is checked at registration and every route config
 * when the route is added; a bad one throws `ERR_INVALID_OPTION` (from `register`/`ready()`, or
 * from the route call itself once the plugin has loaded).
 *
 * A limited request fails with a {@link RateLimitedError} (`statusCode` 429, `Retry-After` and
 * the rate-limit headers set) through the app's error handler, which sets the status. With
 * `global`, requests that end in a not-found handler are limited too; `app.rateLimit(options?)`
 * returns the hook for handlers the plugin does not reach. A store failure follows the
 * limiter's `onStoreError`; in `'throw'` the error goes to the error handler.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { createLimiter, tokenBucket } from 'floodgate';
 * import floodgate from 'floodgate/fastify';
 *
 * const app = Fastify();
 * await app.register(floodgate, { limiter: createLimiter({ algorithm: tokenBucket({ capacity: 20, refillPerSecond: 5 }) }) });
 * app.get('/health', { config: { rateLimit: false } }, async () => 'ok');
 * ```
 */
export const floodgate: FastifyPluginCallback<FloodgatePluginOptions> = fp(floodgatePlugin, {
  fastify: '4.x || 5.x',
  name: 'floodgate',
});

export default floodgate;
