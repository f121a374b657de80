import { describe, expect, it } from '@jest/globals';
import { ruleNamesOf } from '@toolplane/access';
import { subscribeRuleNames } from '../events/event-types.ts';
import { callStages, readStages } from './order.ts';

// The edge's paths run the one list of rules (`rules` in @toolplane/access): a stage missing, out of order or under
// another rule's name fails here.
describe('the edge’s stages, in the one list’s order', () => {
  it('a call of a tool meets a stage for every rule of `call`, each under its rule’s name', () => {
    expect(callStages.map((stage) => stage.name)).toEqual(ruleNamesOf('call'));
    expect(new Set(callStages).size).toBe(callStages.length);
  });

  it('a read of an attached server meets the rules of `read`, the same stages', () => {
    expect(readStages.map((stage) => stage.name)).toEqual(ruleNamesOf('read'));
    expect(readStages.every((stage) => callStages.includes(stage))).toBe(true);
  });

  it('an event subscription meets the rules of `eventSubscribe`', () => {
    expect(subscribeRuleNames).toEqual(ruleNamesOf('eventSubscribe'));
  });
});
