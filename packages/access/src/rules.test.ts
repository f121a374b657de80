import { describe, expect, it } from '@jest/globals';
import { ruleNamesOf, rulePlan, rules } from './rules.ts';

describe('the one list of rules', () => {
  it('names each rule once and gives each at least one path', () => {
    expect(new Set(rules.map((r) => r.name)).size).toBe(rules.length);
    expect(rules.every((r) => r.paths.length > 0)).toBe(true);
  });

  it('keeps every rule that keeps something after every rule of the same path that only refuses', () => {
    for (const path of ['call', 'read', 'workflowStep', 'eventSubscribe', 'eventDelivery', 'backtest'] as const) {
      const kinds = rules.filter((r) => (r.paths as readonly string[]).includes(path)).map((r) => r.settle);
      const lastRefusing = kinds.lastIndexOf('none');
      expect(kinds.slice(0, lastRefusing).filter((k) => k === 'release' || k === 'answer')).toEqual([]);
    }
  });

  it('builds a path’s plan in the list’s order, and refuses to build one that leaves a rule out', () => {
    expect(rulePlan('read', { quota: 'q', session: 's', delegation: 'd', cache: 'c' })).toEqual(['d', 's', 'q']);
    expect(ruleNamesOf('read')).toEqual(['delegation', 'session', 'quota']);
    expect(() => rulePlan('read', { quota: 'q', session: 's' })).toThrow(
      'the rule "delegation" has no implementation on read',
    );
  });
});
