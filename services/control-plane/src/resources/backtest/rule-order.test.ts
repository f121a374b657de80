import { describe, expect, it } from '@jest/globals';
import { ruleNamesOf } from '@toolplane/access';
import { backtestRuleNames } from './judge.ts';

describe('the backtest’s judgement', () => {
  it('judges a recorded call by the rules of `backtest`, in the one list’s order', () => {
    expect(backtestRuleNames).toEqual(ruleNamesOf('backtest'));
  });
});
