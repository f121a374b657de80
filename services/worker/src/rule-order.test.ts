import { describe, expect, it } from '@jest/globals';
import { ruleNamesOf } from '@toolplane/access';
import { deliveryRuleNames } from './events/fan-out.ts';
import { stepRuleNames } from './step-checks.ts';

// The worker's paths run the one list of rules (`rules` in @toolplane/access), each the rules that declare it, in order.
describe('the worker’s rules, in the one list’s order', () => {
  it('a workflow step meets the rules of `workflowStep`: a narrowed token’s second, as at the edge', () => {
    expect(stepRuleNames).toEqual(ruleNamesOf('workflowStep'));
    expect(stepRuleNames.slice(0, 3)).toEqual(['delegation', 'argument-guardrails', 'access']);
    expect(stepRuleNames.at(-1)).toBe('quota');
  });

  it('an occurrence delivered to a subscription meets the rules of `eventDelivery`', () => {
    expect(deliveryRuleNames).toEqual(ruleNamesOf('eventDelivery'));
  });
});
