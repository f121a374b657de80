import { describe, expect, it } from '@jest/globals';
import { clientKey, trustProxy } from '@toolplane/config';
import { UnauthenticatedLimiter } from './rate-limit.ts';

describe('clientKey', () => {
  it('keeps IPv4 addresses (also IPv4-mapped IPv6) and groups IPv6 by /64', () => {
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('2001:db8:1:2::5')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:ffff::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey(undefined)).toBe('unknown');
  });
});

describe('trustProxy', () => {
  it('reads express trust proxy values', () => {
    expect(trustProxy('false')).toBe(false);
    expect(trustProxy('true')).toBe(true);
    expect(trustProxy('2')).toBe(2);
    expect(trustProxy('loopback, 10.0.0.0/8')).toBe('loopback, 10.0.0.0/8');
  });
});

describe('UnauthenticatedLimiter', () => {
  it('blocks an address once it used its budget, not the others', async () => {
    const limiter = new UnauthenticatedLimiter(3, 60);
    for (let i = 0; i < 3; i++) {
      expect(await limiter.blockedFor('a')).toBe(0);
      limiter.count('a');
    }
    await new Promise((r) => setImmediate(r));
    expect(await limiter.blockedFor('a')).toBeGreaterThan(0);
    expect(await limiter.blockedFor('a')).toBeLessThanOrEqual(60_000);
    expect(await limiter.blockedFor('b')).toBe(0);
  });

  it('limits nothing with a budget of 0', async () => {
    const limiter = new UnauthenticatedLimiter(0, 60);
    for (let i = 0; i < 100; i++) limiter.count('a');
    expect(await limiter.blockedFor('a')).toBe(0);
  });
});
