const ESCAPES: Readonly<Record<string, string>> = { '%': '%25', '{': '%7B', '}': '%7D' };
const NEEDS_ESCAPE = /[%{}]/;
const ESCAPED = /[%{}]/g;

/**
 * The user key as it goes inside the hash tag. Braces would end the tag early (an empty tag even
 * makes Redis hash the whole key, scattering one decision's keys over several slots), so `{`,
 * `}` and the escape character `%` itself are percent-encoded: injective, and readable in
 * `redis-cli`. Most keys have none of the three and are used as they are.
 */
export function hashTag(key: string): string {
  return NEEDS_ESCAPE.test(key) ? key.replace(ESCAPED, (c) => ESCAPES[c] as string) : key;
}

/**
 * The Redis key of one policy's state: `${prefix}:{${key}}:${policy}`. Everything between the
 * braces is the Cluster hash tag, so all policies of one user key share a slot and one script
 * can decide them together.
 */
export function redisKey(prefix: string, tag: string, policy: string): string {
  return `${prefix}:{${tag}}:${policy}`;
}
