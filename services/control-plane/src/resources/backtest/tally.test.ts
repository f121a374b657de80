import { describe, expect, it } from '@jest/globals';
import { Counts, MIN_ARGUMENT_CALLS, Tally } from './tally.ts';

const values = (key: string) => ({ byKey: key, byPerson: '', byTool: 'search', byDay: '2026-11-27' });

describe('Tally: changes through arguments (ADR 0091)', () => {
  it('counts them without ids; fewer than the minimum read as none everywhere', () => {
    const one = new Tally();
    one.add('r1', values('k'), true);
    const none = new Tally();
    expect(one.toJSON()).toEqual(none.toJSON());
    expect(one.toJSON()).toMatchObject({ calls: 0, fromArguments: null, examples: [], byKey: [] });
    const many = new Tally();
    many.add('shown', values('j'));
    for (let i = 0; i < MIN_ARGUMENT_CALLS; i++) many.add(`r${i}`, values('k'), true);
    expect(many.toJSON()).toMatchObject({
      calls: MIN_ARGUMENT_CALLS + 1,
      fromArguments: MIN_ARGUMENT_CALLS,
      examples: ['shown'],
      byKey: [
        { value: 'k', calls: MIN_ARGUMENT_CALLS, examples: [] },
        { value: 'j', calls: 1, examples: ['shown'] },
      ],
    });
  });

  it('Counts leave out reasons with too few calls through arguments', () => {
    const c = new Counts<{ code: string }>();
    c.add({ code: 'access.condition' }, true);
    c.add({ code: 'quota.exceeded' });
    expect(c.toJSON()).toEqual([{ code: 'quota.exceeded', calls: 1 }]);
  });
});
