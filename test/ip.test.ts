import { deepStrictEqual, strictEqual, throws } from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FloodgateError } from 'floodgate';
import { createIpKey, resolveIpv6Subnet } from '../adapters/ip.js';

describe('client IP keys', () => {
  const key = createIpKey(56);

  test('IPv4 is used as it is', () => {
    strictEqual(key('203.0.113.7'), '203.0.113.7');
    strictEqual(key('127.0.0.1'), '127.0.0.1');
  });

  test('IPv4-mapped IPv6 counts as the IPv4 address, in every spelling', () => {
    strictEqual(key('::ffff:203.0.113.7'), '203.0.113.7');
    strictEqual(key('::FFFF:cb00:7107'), '203.0.113.7');
    strictEqual(key('0:0:0:0:0:ffff:cb00:7107'), '203.0.113.7');
    strictEqual(createIpKey(false)('::ffff:127.0.0.1'), '127.0.0.1');
  });

  test('NAT64 clients (64:ff9b::/96) count as the IPv4 address they embed, not as one /56', () => {
    const ipv4 = Array.from({ length: 20 }, (_, i) => `203.0.113.${i + 1}`);
    const nat64 = ipv4.map((v4) => `64:ff9b::${v4}`);
    const keys = nat64.map(key);
    deepStrictEqual(keys, ipv4.map(key));
    strictEqual(new Set(keys).size, 20);
    // Every spelling, and every ipv6Subnet: the /96 is the translator's, never the client's.
    strictEqual(key('64:ff9b::cb00:7107'), '203.0.113.7');
    strictEqual(key('64:FF9B:0:0:0:0:CB00:7107'), '203.0.113.7');
    strictEqual(key('64:ff9b::a00:1'), '10.0.0.1');
    strictEqual(key('64:ff9b::7'), '0.0.0.7');
    strictEqual(key('64:ff9b::'), '0.0.0.0');
    strictEqual(key('64:ff9b::ffff:ffff'), '255.255.255.255');
    strictEqual(createIpKey(false)('64:ff9b::203.0.113.7'), '203.0.113.7');
    strictEqual(createIpKey(128)('64:ff9b::203.0.113.7'), '203.0.113.7');
    strictEqual(createIpKey(96)('64:ff9b::203.0.113.7'), '203.0.113.7');
  });

  test('an address just outside 64:ff9b::/96 is still grouped by /56', () => {
    // The first address above the /96, and the last one below it.
    strictEqual(key('64:ff9b::1:0:0'), '64:ff9b::/56');
    strictEqual(key('64:ff9b::1:cb00:7107'), '64:ff9b::/56');
    strictEqual(key('64:ff9b::1:cb00:7108'), key('64:ff9b::1:cb00:7107'));
    strictEqual(key('64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff'), '64:ff9a:ffff:ff00::/56');
    // The local-use prefix of RFC 8215 embeds IPv4 where its operator chooses: not read as IPv4.
    strictEqual(key('64:ff9b:1::203.0.113.7'), '64:ff9b:1::/56');
    strictEqual(createIpKey(false)('64:ff9b::1:cb00:7107'), '64:ff9b::1:cb00:7107');
  });

  test('IPv6 is grouped by its /56 prefix', () => {
    strictEqual(key('2001:db8:1:2ff:aaaa:bbbb:cccc:dddd'), '2001:db8:1:200::/56');
    strictEqual(key('2001:db8:1:200::1'), '2001:db8:1:200::/56');
    strictEqual(key('2001:db8:1:300::1'), '2001:db8:1:300::/56');
    strictEqual(key('::1'), '::/56');
  });

  test('IPv6 spellings of one address give one key', () => {
    strictEqual(key('2001:DB8:0001:02FF::0001'), key('2001:db8:1:2ff::1'));
    strictEqual(key('fe80::1%eth0'), 'fe80::/56');
  });

  test('other prefix lengths, and false for one key per address', () => {
    strictEqual(createIpKey(64)('2001:db8:1:2ff:aaaa::1'), '2001:db8:1:2ff::/64');
    strictEqual(createIpKey(48)('2001:db8:1:2ff::1'), '2001:db8:1::/48');
    strictEqual(createIpKey(60)('2001:db8:1:2ff::1'), '2001:db8:1:2f0::/60');
    strictEqual(createIpKey(1)('ffff::1'), '8000::/1');
    strictEqual(createIpKey(128)('2001:DB8::1'), '2001:db8::1');
    strictEqual(createIpKey(false)('2001:0db8:0:0::1'), '2001:db8::1');
  });

  test('an IPv4-compatible tail inside the prefix is kept', () => {
    strictEqual(createIpKey(112)('::1.2.3.4'), '::1.2.0.0/112');
  });

  test('a value that is no IP address is kept as it is', () => {
    strictEqual(key('unknown'), 'unknown');
    strictEqual(key('not:an:ip'), 'not:an:ip');
  });

  test('ipv6Subnet must be 1..128 or false', () => {
    strictEqual(resolveIpv6Subnet('t', undefined), 56);
    strictEqual(resolveIpv6Subnet('t', false), false);
    strictEqual(resolveIpv6Subnet('t', 64), 64);
    for (const bad of [0, 129, 56.5, '56', true]) {
      throws(
        () => resolveIpv6Subnet('rateLimit', bad),
        (error: unknown) =>
          error instanceof FloodgateError &&
          error.code === 'ERR_INVALID_OPTION' &&
          error.message.startsWith(
            'rateLimit: ipv6Subnet must be an integer prefix length from 1 to 128, or false, got',
          ),
      );
    }
  });
});
