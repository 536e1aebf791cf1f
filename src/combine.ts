import type { Decision, PolicySpec } from './types.js';

/**
 * The rule that turns each policy's Decision into the limiter's: with one policy, its own; with
 * several, the binding one, with every policy's by name. Denied: the policy that makes the caller
 * wait longest binds. Allowed: the one with the least left (ties: the one furthest from reset).
 */
export function combiner(policies: readonly PolicySpec[]): (decisions: readonly Decision[]) => Decision {
  if (policies.length === 1) return (decisions) => decisions[0] as Decision;
  const names = policies.map((p) => p.name);
  return function combine(decisions) {
    let bound = 0;
    const byName: Record<string, Decision> = {};
    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i] as Decision;
      const b = decisions[bound] as Decision;
      byName[names[i] as string] = d;
      if (
        b.allowed
          ? !d.allowed || d.remaining < b.remaining || (d.remaining === b.remaining && d.resetMs > b.resetMs)
          : !d.allowed && d.retryAfterMs > b.retryAfterMs
      ) {
        bound = i;
      }
    }
    return { ...(decisions[bound] as Decision), policy: names[bound] as string, policies: byName };
  };
}
