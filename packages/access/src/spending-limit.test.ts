import { describe, expect, it } from '@jest/globals';
import {
  CallerFacets,
  judgePortable,
  ruleSettingsProblems,
  settingsFor,
  type RuleCaller,
  type RuleTool,
} from './portable-rule.ts';
import { portableRules, ruleNamesOf } from './rules.ts';
import { spendingLimit } from './spending-limit.ts';

const pay: RuleTool = { name: 'pay', inputSchema: { type: 'object', properties: { amount: { type: 'number' } } } };
const closed = { name: 'lookup', inputSchema: { type: 'object', properties: { id: {} }, additionalProperties: false } };
const open = { name: 'open', inputSchema: { type: 'object', properties: { id: {} } } };

const parsed = (raw: unknown) => {
  const s = settingsFor(spendingLimit, { 'spending-limit': raw });
  if (s === undefined || s === 'invalid') throw new Error('settings refused');
  return s;
};
const base = parsed({ argument: 'amount', limit: 100 });

/** The decision on a call whose arguments the client wrote as `json` (the edge reads them with JSON.parse). */
const judge = (json: string, o: { settings?: typeof base; caller?: RuleCaller; tool?: RuleTool } = {}) =>
  judgePortable(spendingLimit, o.settings ?? base, {
    args: JSON.parse(json) as Record<string, unknown>,
    tool: o.tool ?? pay,
    facets: new CallerFacets(o.caller ?? { keyId: 'k1' }),
  });
const code = (d: ReturnType<typeof judge>) => (d === undefined ? 'go on' : 'refuse' in d ? d.refuse.code : 'log only');

describe('the spending limit', () => {
  it('is a portable rule of calls and workflow steps, after access and before anything that keeps something', () => {
    expect(portableRules).toContain(spendingLimit);
    expect(ruleNamesOf('call').indexOf('spending-limit')).toBe(ruleNamesOf('call').indexOf('access') + 1);
    expect(ruleNamesOf('workflowStep')).toEqual([
      'delegation',
      'argument-guardrails',
      'access',
      'spending-limit',
      'task-grant',
      'session',
      'quota',
    ]);
  });

  it('refuses over the limit with a message the model can act on, lets the rest through', () => {
    expect(judge('{"amount": 100}')).toBeUndefined();
    expect(judge('{"amount": 250}')).toEqual({
      refuse: {
        code: 'spending_limit.exceeded',
        message:
          'The argument "amount" (250) is over the spending limit of 100 on tool "pay": the call was not made, ' +
          'nothing was sent. A call of at most 100 may go through; a larger one needs a caller whose limit allows it.',
      },
    });
  });

  it('judges what a lying client sends closed', () => {
    expect(code(judge('{"amount": "150"}'))).toBe('spending_limit.unreadable');
    expect(code(judge('{"amount": "50"}'))).toBe('spending_limit.unreadable');
    expect(code(judge('{"amount": null}'))).toBe('spending_limit.unreadable');
    expect(code(judge('{"amount": [50]}'))).toBe('spending_limit.unreadable');
    expect(code(judge('{"amount": 1e3}'))).toBe('spending_limit.exceeded');
    expect(code(judge('{"amount": 1e1}'))).toBe('go on');
    expect(code(judge('{"amount": -0}'))).toBe('go on');
    expect(code(judge('{"amount": 1.5e308}'))).toBe('spending_limit.exceeded');
    // Beyond 2^53 (read rounded, differently by different readers): over any limit, which stops below it.
    expect(code(judge('{"amount": 9007199254740993}'))).toBe('spending_limit.exceeded');
    expect(code(judge('{"amount": -9007199254740993}'))).toBe('spending_limit.exceeded');
    expect(code(judge('{"amount": 123456789012345678901234567890}'))).toBe('spending_limit.exceeded');
    expect(code(judge('{"amount": -500}'))).toBe('spending_limit.exceeded');
    expect(code(judge('{"amount": -100}'))).toBe('go on');
    expect(code(judge('{}'))).toBe('spending_limit.unreadable');
    // A duplicated key: JSON.parse keeps the last, and the worker sends the arguments as parsed.
    expect(code(judge('{"amount": 1, "amount": 500}'))).toBe('spending_limit.exceeded');
    expect(code(judge('{"__proto__": {"amount": 1}}'))).toBe('spending_limit.unreadable');
  });

  it('reads a nested path through objects only', () => {
    const nested = parsed({ argument: 'order.total', limit: 10 });
    const tool = { name: 'buy', inputSchema: { type: 'object', properties: { order: { type: 'object' } } } };
    expect(code(judge('{"order": {"total": 5}}', { settings: nested, tool }))).toBe('go on');
    expect(code(judge('{"order": {"total": 11}}', { settings: nested, tool }))).toBe('spending_limit.exceeded');
    expect(code(judge('{"order": [{"total": 11}]}', { settings: nested, tool }))).toBe('spending_limit.unreadable');
    expect(code(judge('{"order": "total"}', { settings: nested, tool }))).toBe('spending_limit.unreadable');
    expect(code(judge('{"order": {}}', { settings: nested, tool }))).toBe('spending_limit.unreadable');
  });

  it('covers the tools that declare the argument or may take it; a listed set of tools instead', () => {
    const s = base.settings as never;
    expect(spendingLimit.appliesTo(pay, s)).toBe(true);
    expect(spendingLimit.appliesTo(closed, s)).toBe(false);
    expect(spendingLimit.appliesTo(open, s)).toBe(true);
    // An undeclared argument is judged only when sent.
    expect(code(judge('{"id": 1}', { tool: open }))).toBe('go on');
    expect(code(judge('{"id": 1, "amount": 500}', { tool: open }))).toBe('spending_limit.exceeded');
    const listed = parsed({ argument: 'amount', limit: 100, tools: ['open'] });
    expect(spendingLimit.appliesTo(pay, listed.settings as never)).toBe(false);
    expect(code(judge('{"id": 1}', { tool: open, settings: listed }))).toBe('spending_limit.unreadable');
  });

  it('gives each caller its own limit: the lowest entry naming them, else the server’s', () => {
    const s = parsed({ argument: 'amount', limit: 100, per_caller: { 'key:fin': 5000, 'person:bob': 20 } });
    expect(code(judge('{"amount": 4000}', { settings: s, caller: { keyId: 'fin' } }))).toBe('go on');
    expect(code(judge('{"amount": 4000}', { settings: s, caller: { keyId: 'k1' } }))).toBe('spending_limit.exceeded');
    expect(code(judge('{"amount": 50}', { settings: s, caller: { keyId: 'fin', person: 'bob' } }))).toBe(
      'spending_limit.exceeded',
    );
  });

  it('log-only: the call goes on with what it would have refused', () => {
    const s = parsed({ argument: 'amount', limit: 100, mode: 'log_only' });
    expect(judge('{"amount": 250}', { settings: s })).toEqual({
      wouldRefuse: expect.objectContaining({ code: 'spending_limit.exceeded' }),
    });
    expect(judge('{"amount": 5}', { settings: s })).toBeUndefined();
  });

  it('checks its settings, every problem at its path', () => {
    expect(
      ruleSettingsProblems(portableRules, {
        'spending-limit': { argument: 'a..b', limit: -1, per_caller: { bob: 5 }, mode: 'maybe' },
      }).map((p) => p.path),
    ).toEqual([
      '/ruleSettings/spending-limit/argument',
      '/ruleSettings/spending-limit/limit',
      '/ruleSettings/spending-limit/per_caller/bob',
      '/ruleSettings/spending-limit/mode',
    ]);
    expect(ruleSettingsProblems(portableRules, { 'spending-limit': { argument: 'amount', limit: 1e300 } })).toEqual([
      { path: '/ruleSettings/spending-limit/limit', message: expect.any(String) },
    ]);
  });

  it('says what a change loosens: a limit raised or dropped, log-only, fewer tools, removed', () => {
    const prev = { argument: 'amount', limit: 100, per_caller: { 'key:a': 50 }, mode: 'enforced' as const };
    const l = (next: object | undefined) => spendingLimit.loosened(prev, next && { ...prev, ...next });
    expect(l({ limit: 50 })).toEqual([]);
    expect(l({ limit: 150 })).toEqual(['limit']);
    expect(l({ mode: 'log_only' })).toEqual(['mode']);
    expect(l({ per_caller: {} })).toEqual(['per_caller.key:a']);
    expect(l({ per_caller: { 'key:a': 50, 'key:b': 500 } })).toEqual(['per_caller.key:b']);
    expect(l({ per_caller: { 'key:a': 40, 'key:b': 90 } })).toEqual([]);
    expect(l({ tools: ['pay'] })).toEqual(['tools']);
    expect(l({ argument: 'total' })).toEqual(['argument']);
    expect(l(undefined)).toEqual(['(removed)']);
    expect(spendingLimit.loosened(undefined, prev)).toEqual([]);
  });
});
