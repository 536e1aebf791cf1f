import { invalidOption } from '../../options.js';
import { ignore } from '../../thenable.js';

/**
 * Sends one command, its name first, and resolves with the reply as the client gives it. The
 * eviction check needs nothing more of a client, so any Redis client can be asked.
 */
export type SendCommand = (command: readonly string[]) => Promise<unknown>;

/** A Redis server the eviction check asks: how to send it a command, and how to name it in the warning. */
export interface EvictionNode {
  readonly address: string;
  readonly send: SendCommand;
}

/** The warning code of the eviction check, stable for `--disable-warning` and for filtering. */
export const EVICTION_WARNING = 'FLOODGATE_REDIS_EVICTION';

/** Where the eviction warning goes: the store's `warn` option, by default `process.emitWarning`. */
export type EvictionWarn = (message: string, code: typeof EVICTION_WARNING) => void;

/** The default warning sink, as the adapters': Node's own channel, with a stable code. */
function emitFloodgateWarning(message: string, code: typeof EVICTION_WARNING): void {
  process.emitWarning(message, { type: 'FloodgateWarning', code });
}

/** Checks a store's `warn` option: `false` for none (and no check), a function, or the default. */
export function resolveEvictionWarn(owner: string, value: unknown): EvictionWarn | undefined {
  if (value === undefined) return emitFloodgateWarning;
  if (value === false) return undefined;
  if (typeof value !== 'function') throw invalidOption(owner, 'warn', 'a function or false', value);
  return value as EvictionWarn;
}

/** What a server said about its memory limit: `maxmemory` in bytes, 0 for none, when it said. */
export interface MemoryPolicy {
  readonly policy: string;
  readonly maxmemory: number | undefined;
  /** Which command told: `CONFIG GET`, or `INFO memory` where CONFIG is refused. */
  readonly via: 'CONFIG' | 'INFO';
}

/**
 * How long the check waits for one reply. Generous, because nothing waits on it: it runs beside
 * the decisions, never in front of them, and giving up on a connection busy with the first burst
 * of traffic would lose the only check the store makes.
 */
export const CHECK_TIMEOUT_MS = 2000;

/** The only policy that never evicts; any other (allkeys-*, volatile-*, and any added later) can. */
const NO_EVICTION = 'noeviction';

class Timeout extends Error {}

/** `send(command)` within `timeoutMs`; rejects with a {@link Timeout} past it. A late reply is dropped. */
function ask(send: SendCommand, command: readonly string[], timeoutMs: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout()), timeoutMs);
    // A process that is otherwise done must not stay up for a check nobody waits on.
    timer.unref();
  });
  let reply: Promise<unknown>;
  try {
    reply = Promise.resolve(send(command));
  } catch (error) {
    reply = Promise.reject(error);
  }
  // A rejection that comes after the timeout won is handled here, not reported as unhandled.
  reply.catch(ignore);
  return Promise.race([reply, timeout]).finally(() => clearTimeout(timer));
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString();
  return undefined;
}

/**
 * A `CONFIG GET` reply as names and values: a flat list of pairs (RESP2, what ioredis gives) or a
 * map (RESP3), with strings or Buffers in it.
 */
function configValues(reply: unknown): Map<string, string> {
  const values = new Map<string, string>();
  const entries: [unknown, unknown][] = [];
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) entries.push([reply[i], reply[i + 1]]);
  } else if (reply instanceof Map) {
    entries.push(...reply.entries());
  } else if (typeof reply === 'object' && reply !== null) {
    entries.push(...Object.entries(reply));
  }
  for (const [name, value] of entries) {
    const n = text(name);
    const v = text(value);
    if (n !== undefined && v !== undefined) values.set(n.toLowerCase(), v);
  }
  return values;
}

/** The `name:value` lines of an `INFO` reply. */
function infoValues(reply: unknown): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of (text(reply) ?? '').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) values.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return values;
}

function bytes(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/**
 * Reads the server's `maxmemory-policy`: by `CONFIG GET maxmemory*` (one glob, as every Redis
 * version takes one name only), and where CONFIG is refused (managed services rename or forbid
 * it, ACLs deny it) by `INFO memory`, which most of them still answer in full. Undefined when
 * neither tells; never rejects. A server silent past `timeoutMs` is not asked again: INFO would
 * only wait behind the same stall.
 */
export async function readMemoryPolicy(
  send: SendCommand,
  timeoutMs = CHECK_TIMEOUT_MS,
): Promise<MemoryPolicy | undefined> {
  try {
    const config = configValues(await ask(send, ['CONFIG', 'GET', 'maxmemory*'], timeoutMs));
    const policy = config.get('maxmemory-policy');
    if (policy !== undefined) return { policy, maxmemory: bytes(config.get('maxmemory')), via: 'CONFIG' };
  } catch (error) {
    if (error instanceof Timeout) return undefined;
  }
  try {
    const info = infoValues(await ask(send, ['INFO', 'memory'], timeoutMs));
    const policy = info.get('maxmemory_policy');
    if (policy !== undefined) return { policy, maxmemory: bytes(info.get('maxmemory')), via: 'INFO' };
  } catch {
    // Neither command answers: the check has nothing to say, and says nothing.
  }
  return undefined;
}

/** Whether a policy can evict floodgate's keys. Every one of them has a TTL, so volatile-* can too. */
export function evicts(policy: string): boolean {
  return policy !== NO_EVICTION;
}

function size(maxmemory: number): string {
  const mb = maxmemory / 2 ** 20;
  return mb >= 1 ? `${Number(mb.toFixed(1))} MB` : `${maxmemory} bytes`;
}

/** How many addresses a warning lists before it counts the rest. */
const LISTED = 3;

/**
 * The warning for the servers whose policy evicts, or undefined when none does. `maxmemory 0`
 * (no limit) still warns, in other words: nothing is evicted today, but the policy is armed, and a
 * limit set at run time (`CONFIG SET`, a managed service resizing) starts eviction with no restart
 * and no second check.
 */
export function evictionMessage(
  found: readonly { readonly node: EvictionNode; readonly memory: MemoryPolicy }[],
  asked: number,
): string | undefined {
  const evicting = found.filter((f) => evicts(f.memory.policy));
  if (evicting.length === 0) return undefined;
  const addresses = evicting.map((f) => f.node.address);
  const listed =
    addresses.length > LISTED
      ? `${addresses.slice(0, LISTED).join(', ')} and ${addresses.length - LISTED} more`
      : addresses.join(', ');
  const where =
    asked === 1 ? `Redis at ${listed} has` : `${evicting.length} of ${asked} Redis masters (${listed}) have`;
  const policies = [...new Set(evicting.map((f) => f.memory.policy))];
  const volatileOnly = policies.every((p) => p.startsWith('volatile-'));
  const victims = volatileOnly ? 'keys with a TTL, as every rate-limit key has' : 'any key, rate-limit keys included';
  const limits = evicting.map((f) => f.memory.maxmemory);
  const full = asked === 1 ? 'its memory reaches' : "a master's memory reaches its";
  const size1 = limits.length === 1 && limits[0] ? ` (${size(limits[0])})` : '';
  const when = limits.every((m) => m === 0)
    ? `maxmemory is 0 (no limit), so nothing is evicted yet; once a limit is set, it evicts ${victims}`
    : `when ${full} maxmemory${size1}, it evicts ${victims}`;
  return (
    `${where} maxmemory-policy ${policies.join(', ')}: ${when}. A key whose state is evicted starts again ` +
    'with its full limit, so limits stop holding, without an error or a degraded Decision. Set ' +
    `maxmemory-policy to ${NO_EVICTION}, or keep rate limits on a Redis of their own. See "Memory limits ` +
    `and eviction" in floodgate's docs/redis.md.`
  );
}

/**
 * Asks `nodes` for their memory policy, all at once, and warns once if any can evict. Never
 * throws and never rejects: a check that fails, times out or finds nothing says nothing, and a
 * throwing `warn` is swallowed, since the store must not fail for its own diagnostics.
 */
export async function checkEviction(
  nodes: () => readonly EvictionNode[],
  warn: EvictionWarn,
  timeoutMs = CHECK_TIMEOUT_MS,
): Promise<void> {
  try {
    const list = nodes();
    const answers = await Promise.all(list.map((node) => readMemoryPolicy(node.send, timeoutMs)));
    const found = list.flatMap((node, i) => {
      const memory = answers[i];
      return memory === undefined ? [] : [{ node, memory }];
    });
    const message = evictionMessage(found, list.length);
    if (message !== undefined) warn(message, EVICTION_WARNING);
  } catch {
    // The check is advice, off the decision path; its failure is nobody's failure.
  }
}

/**
 * Starts {@link checkEviction} once the current I/O callbacks are done, so the reply that
 * triggered it settles its decision first and no decision ever waits on the check.
 */
export function startEvictionCheck(nodes: () => readonly EvictionNode[], warn: EvictionWarn): void {
  setImmediate(() => {
    void checkEviction(nodes, warn);
  }).unref();
}
