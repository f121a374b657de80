import { describe, expect, it } from '@jest/globals';
import { budgetCaller, ShadowEventBudget } from './shadow-decisions.ts';

describe('ShadowEventBudget', () => {
  it('records the first would-be refusal of each rule, caller and tool in a minute', () => {
    let now = 120_000;
    const budget = new ShadowEventBudget({ now: () => now });
    const alice = budgetCaller({ keyId: 'k1' });
    const bob = budgetCaller({ keyId: 'k1', username: 'bob' });
    expect(budget.take('access', 'p1', alice, 'refund')).toBe(true);
    expect(budget.take('access', 'p1', alice, 'refund')).toBe(false);
    // Another caller, tool, rule or kind is recorded on its own.
    expect(budget.take('access', 'p1', bob, 'refund')).toBe(true);
    expect(budget.take('access', 'p1', alice, 'get')).toBe(true);
    expect(budget.take('access', 'p2', alice, 'refund')).toBe(true);
    expect(budget.take('quota', 'p1', alice, 'refund')).toBe(true);
    now += 59_999;
    expect(budget.take('access', 'p1', alice, 'refund')).toBe(false);
    // The next minute starts afresh.
    now += 1;
    expect(budget.take('access', 'p1', alice, 'refund')).toBe(true);
  });

  it('remembers a bounded number of triples per minute: past it, nothing more is recorded that minute', () => {
    const budget = new ShadowEventBudget({ maxPerMinute: 2, now: () => 0 });
    expect(['a', 'b', 'c'].map((tool) => budget.take('quota', 'q', 'k', tool))).toEqual([true, true, false]);
  });
});
