import { describe, expect, it } from '@jest/globals';
import { generatedName, instanceSlug, isGeneratedName } from './instance-servers.ts';

/** The name rule of the servers generated for connector instances (ADR 0024); the database side is in tests/e2e/connectors/server-per-instance.test.ts. */
describe('the name rule', () => {
  const staging = { name: 'Staging EU', id: '6f1c2d3e-0000-4000-8000-000000000000' };

  it('tries server_name, then server_name-<instance>, then numbered names', () => {
    expect([0, 1, 2, 3].map((i) => generatedName('ticket-system', staging, i))).toEqual([
      'ticket-system',
      'ticket-system-staging-eu',
      'ticket-system-staging-eu-2',
      'ticket-system-staging-eu-3',
    ]);
    // server_name as its slug, as the first instance's server has always been named from mcp_config.
    expect(generatedName('Ticket System', staging, 1)).toBe('ticket_system-staging-eu');
  });

  it('keeps every name a slug of at most 100 characters, shortening server_name, never the instance part', () => {
    const long = 'x'.repeat(100);
    const inst = { name: `${'Région '.repeat(20)}!`, id: staging.id };
    expect(instanceSlug(inst.name, inst.id)).toMatch(/^[a-z0-9-]{1,50}$/);
    for (const i of [0, 1, 2, 999]) {
      const name = generatedName(long, inst, i);
      expect(name.length).toBeLessThanOrEqual(100);
      expect(name).toMatch(/^[a-z0-9][a-z0-9_-]*$/);
      if (i > 0) expect(name).toContain(instanceSlug(inst.name, inst.id));
    }
    // An instance name with no letter or digit: the id's first characters stand for it.
    expect(instanceSlug('***', staging.id)).toBe('6f1c2d3e');
  });

  it('recognises the names it gives (for a server_name change), and no other', () => {
    expect(isGeneratedName('ticket-system', 'ticket-system', staging)).toBe(true);
    expect(isGeneratedName('ticket-system-staging-eu-7', 'ticket-system', staging)).toBe(true);
    expect(isGeneratedName('ticket-system-prod', 'ticket-system', staging)).toBe(false);
    expect(isGeneratedName('my-own-name', 'ticket-system', staging)).toBe(false);
  });
});
