import { BlockList, isIP, SocketAddress } from 'node:net';
import { invalidOption } from './validate.js';

/** The `ipv6Subnet` option: the prefix length IPv6 clients are grouped by, or `false` for none. */
export type Ipv6Subnet = number | false;

/** One IPv6 customer usually holds a /56 (RIPE-690), and can rotate freely inside it. */
export const DEFAULT_IPV6_SUBNET = 56;

const MAPPED = new BlockList();
MAPPED.addSubnet('::ffff:0:0', 96, 'ipv6');
/**
 * The well-known NAT64 prefix (RFC 6052, section 2.1). An IPv6-only server behind a NAT64 or
 * SIIT translator sees each IPv4 client as this /96 followed by the client's 32 bits: every IPv4
 * client of the translator lies in one /56, and grouping by prefix would give them one key.
 */
const NAT64 = new BlockList();
NAT64.addSubnet('64:ff9b::', 96, 'ipv6');

export function resolveIpv6Subnet(owner: string, value: unknown): Ipv6Subnet {
  if (value === undefined) return DEFAULT_IPV6_SUBNET;
  if (value === false) return false;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 128) {
    throw invalidOption(owner, 'ipv6Subnet', 'an integer prefix length from 1 to 128, or false', value);
  }
  return value;
}

/**
 * Turns a client address into a rate-limit key:
 * - IPv4 as it is (`203.0.113.7`);
 * - IPv4-mapped IPv6 (`::ffff:203.0.113.7`, how a dual-stack socket reports an IPv4 client) as
 *   the IPv4 address, so one client is one key whichever way it connected;
 * - an address in the well-known NAT64 prefix (`64:ff9b::203.0.113.7`, printed
 *   `64:ff9b::cb00:7107`: an IPv4 client seen through a translator) as the IPv4 address it
 *   embeds, so each IPv4 client has its own key, the one it has when it connects directly;
 * - other IPv6 as its canonical network prefix (`2001:db8:0:100::/56`), because one subscriber
 *   holds a whole prefix and would otherwise get a fresh limit per address; with `false`, as
 *   the canonical address itself, so `2001:DB8::1` and `2001:db8:0::1` are still one key;
 * - anything else (a value some proxy put in X-Forwarded-For that is no IP) unchanged.
 *
 * Parsing, canonical text and the prefix checks come from `node:net`; the only arithmetic here is
 * the mask and reading the 32 bits of an embedded IPv4 address.
 */
export function createIpKey(subnet: Ipv6Subnet): (ip: string) => string {
  return function ipKey(ip: string): string {
    // The common case, IPv4, never reaches the parser.
    if (!ip.includes(':') || isIP(ip) !== 6) return ip;
    const canonical = new SocketAddress({ address: ip, family: 'ipv6' }).address;
    if (MAPPED.check(canonical, 'ipv6')) return mappedIpv4(canonical);
    if (NAT64.check(canonical, 'ipv6')) return embeddedIpv4(canonical);
    if (subnet === false || subnet === 128) return canonical;
    return prefixOf(canonical, subnet);
  };
}

/** The IPv4 address inside a canonical IPv4-mapped address, which `node:net` prints dotted. */
function mappedIpv4(canonical: string): string {
  return canonical.slice(canonical.lastIndexOf(':') + 1);
}

/**
 * The IPv4 address in the last 32 bits of a canonical address. Outside `::ffff:0:0/96`,
 * `node:net` prints those bits as hex groups (a zero one folded into `::`), so they are read as
 * groups rather than cut out of the text.
 */
function embeddedIpv4(canonical: string): string {
  const groups = groupsOf(canonical);
  const high = groups[6] as number;
  const low = groups[7] as number;
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/** Appends the 16-bit groups of one side of `::` (a dotted IPv4 tail counts as two groups). */
function pushGroups(part: string, out: number[]): void {
  if (part === '') return;
  for (const piece of part.split(':')) {
    if (piece.includes('.')) {
      const [a = 0, b = 0, c = 0, d = 0] = piece.split('.').map(Number);
      out.push((a << 8) | b, (c << 8) | d);
    } else {
      out.push(Number.parseInt(piece, 16));
    }
  }
}

/** The eight 16-bit groups of a canonical IPv6 address. */
function groupsOf(canonical: string): number[] {
  const gap = canonical.indexOf('::');
  const groups: number[] = [];
  if (gap === -1) {
    pushGroups(canonical, groups);
    return groups;
  }
  pushGroups(canonical.slice(0, gap), groups);
  const tail: number[] = [];
  pushGroups(canonical.slice(gap + 2), tail);
  while (groups.length + tail.length < 8) groups.push(0);
  return groups.concat(tail);
}

function prefixOf(canonical: string, bits: number): string {
  const groups = groupsOf(canonical);
  for (let i = 0; i < 8; i++) {
    const keep = Math.min(16, Math.max(0, bits - 16 * i));
    groups[i] = (groups[i] as number) & ((0xffff << (16 - keep)) & 0xffff);
  }
  const network = new SocketAddress({ address: groups.map((g) => g.toString(16)).join(':'), family: 'ipv6' });
  return `${network.address}/${bits}`;
}

const ipKeys = new Map<Ipv6Subnet, (ip: string) => string>();

/**
 * The default key of a client address, for a `keyGenerator` that adds to it
 * (`` (req) => `${ipKeyGenerator(req.ip ?? '')}:${req.path}` ``): IPv4 as it is, IPv6 grouped by its
 * `ipv6Subnet` prefix (or alone with `false`), IPv4-mapped and NAT64 (`64:ff9b::/96`) addresses as
 * the IPv4 address inside. `ipv6Subnet` is checked like the option (an integer from 1 to 128, or
 * false); defaults to 56.
 *
 * @example
 * ```ts
 * ipKeyGenerator('2001:db8:1:2ff::9'); // '2001:db8:1:200::/56'
 * ipKeyGenerator('::ffff:203.0.113.7'); // '203.0.113.7'
 * ```
 */
export function ipKeyGenerator(ip: string, ipv6Subnet: number | false = DEFAULT_IPV6_SUBNET): string {
  let ipKey = ipKeys.get(ipv6Subnet);
  if (ipKey === undefined) {
    ipKey = createIpKey(resolveIpv6Subnet('ipKeyGenerator', ipv6Subnet));
    ipKeys.set(ipv6Subnet, ipKey);
  }
  if (typeof ip !== 'string') throw invalidOption('ipKeyGenerator', 'ip', 'a string', ip);
  return ipKey(ip);
}
