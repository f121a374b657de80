import { describe, expect, it } from '@jest/globals';
import {
  compileCondition,
  evaluate,
  explain,
  type Condition,
  type ConditionActivation,
  type ConditionCaller,
  type ConditionTool,
  type Explanation,
} from './index.ts';

// evaluate and explain: the examples of docs/governance.md ("Conditions") as truth tables, missing
// arguments, and what a refusal can say.

function compiled(text: string): Condition {
  const r = compileCondition(text);
  if (!r.ok) throw new Error(`${text}: ${JSON.stringify(r.problems)}`);
  return r.condition;
}

const supportKey: ConditionCaller = { key_id: 'k-1', key_name: 'support-eu' };
const refund: ConditionTool = { name: 'refund', server_id: 'srv-billing', server_name: 'billing-prod' };

function call(
  args: Record<string, unknown>,
  caller: ConditionCaller = supportKey,
  tool: ConditionTool = refund,
): ConditionActivation {
  return { caller, tool, args };
}

describe('the documented examples', () => {
  it('1. an amount limit on one tool', () => {
    const c = compiled('tool.name != "refund" || args.amount <= 100');
    expect(evaluate(c, call({ amount: 100 }))).toBe(true);
    expect(evaluate(c, call({ amount: 99.99 }))).toBe(true);
    expect(evaluate(c, call({ amount: 100.01 }))).toBe(false);
    expect(evaluate(c, call({ amount: 5000 }))).toBe(false);
    expect(evaluate(c, call({ amount: '50' }))).toBe(false); // not a number: an error, so false
    expect(evaluate(c, call({ amount: 5000 }, supportKey, { ...refund, name: 'get_ticket' }))).toBe(true);
  });

  it('2. tools by name prefix (and annotations)', () => {
    const c = compiled(
      'tool.name.startsWith("get_") || tool.name.startsWith("list_") || tool.annotations.readOnlyHint == true',
    );
    const tool = (name: string, annotations?: Record<string, unknown>): ConditionTool => ({
      name,
      server_id: 's',
      ...(annotations ? { annotations } : {}),
    });
    expect(evaluate(c, call({}, supportKey, tool('get_ticket')))).toBe(true);
    expect(evaluate(c, call({}, supportKey, tool('list_tickets')))).toBe(true);
    expect(evaluate(c, call({}, supportKey, tool('search', { readOnlyHint: true })))).toBe(true);
    expect(evaluate(c, call({}, supportKey, tool('delete_ticket', { readOnlyHint: false })))).toBe(false);
    // No annotations at all: that operand is an error, the others are false, so the condition is false.
    expect(evaluate(c, call({}, supportKey, tool('delete_ticket')))).toBe(false);
  });

  it("3. a user's tier claim", () => {
    const c = compiled(
      'caller.claims.tier == "gold" || (caller.claims.tier == "silver" && args.amount <= 500) || "refund-admins" in caller.claims.groups',
    );
    const token = (claims: Record<string, unknown>): ConditionCaller => ({ subject: 'u-1', claims });
    expect(evaluate(c, call({ amount: 9000 }, token({ tier: 'gold' })))).toBe(true);
    expect(evaluate(c, call({ amount: 400 }, token({ tier: 'silver' })))).toBe(true);
    expect(evaluate(c, call({ amount: 600 }, token({ tier: 'silver' })))).toBe(false);
    expect(evaluate(c, call({ amount: 600 }, token({ tier: 'silver', groups: ['refund-admins'] })))).toBe(true);
    expect(evaluate(c, call({ amount: 1 }, token({ tier: 'bronze', groups: [] })))).toBe(false);
    expect(evaluate(c, call({ amount: 1 }, supportKey))).toBe(false); // an API key has no claims
  });

  it('4. an argument matching a pattern', () => {
    const c = compiled('args.ticket_id.matches("^TCK-[0-9]{1,8}$") && args.email.endsWith("@example.com")');
    expect(evaluate(c, call({ ticket_id: 'TCK-42', email: 'ann@example.com' }))).toBe(true);
    expect(evaluate(c, call({ ticket_id: 'TCK-42x', email: 'ann@example.com' }))).toBe(false);
    expect(evaluate(c, call({ ticket_id: 'TCK-123456789', email: 'ann@example.com' }))).toBe(false);
    expect(evaluate(c, call({ ticket_id: 'TCK-42', email: 'ann@example.com.evil' }))).toBe(false);
    expect(evaluate(c, call({ ticket_id: 42, email: 'ann@example.com' }))).toBe(false);
  });

  it('5. a server, for some keys', () => {
    const c = compiled('tool.server_name == "billing-prod" && caller.key_name.startsWith("support-")');
    expect(evaluate(c, call({}))).toBe(true);
    expect(evaluate(c, call({}, { key_id: 'k-2', key_name: 'ops' }))).toBe(false);
    expect(
      evaluate(c, call({}, supportKey, { name: 'refund', server_id: 'srv-2', server_name: 'billing-staging' })),
    ).toBe(false);
    expect(evaluate(c, call({}, { subject: 'u-1' }))).toBe(false); // no key name: false
  });

  it('the issue example, and the ones that need no schema', () => {
    const c = compiled('tool.name == "refund" && args.amount <= 100 && caller.key_name.startsWith("support-")');
    const table: [Record<string, unknown>, ConditionCaller, boolean][] = [
      [{ amount: 50 }, supportKey, true],
      [{ amount: 150 }, supportKey, false],
      [{ amount: 50 }, { key_name: 'ops' }, false],
      [{ amount: 50 }, { user: 'ann' }, false],
    ];
    for (const [args, caller, want] of table) expect(evaluate(c, call(args, caller))).toBe(want);
    expect(
      evaluate(compiled('caller.user == "ann" && has(caller.key_id)'), call({}, { key_id: 'k', user: 'ann' })),
    ).toBe(true);
  });
});

describe('a missing argument makes the condition false, not an error', () => {
  const c = compiled('args.amount <= 100');
  it.each([
    ['absent', {}],
    ['null', { amount: null }],
    ['another type', { amount: [1] }],
  ])('%s', (_, args) => {
    expect(evaluate(c, call(args))).toBe(false);
  });

  it('so an optional argument is tested with has()', () => {
    const optional = compiled('!has(args.amount) || args.amount <= 100');
    expect(evaluate(optional, call({}))).toBe(true);
    expect(evaluate(optional, call({ amount: 50 }))).toBe(true);
    expect(evaluate(optional, call({ amount: 500 }))).toBe(false);
  });

  it('and CEL absorbs an error that the other side of || or && decides', () => {
    expect(evaluate(compiled('args.missing == 1 || tool.name == "refund"'), call({}))).toBe(true);
    expect(evaluate(compiled('args.missing == 1 && tool.name == "other"'), call({}))).toBe(false);
    // Negation does not turn an error into a grant.
    expect(evaluate(compiled('!(args.amount > 100)'), call({}))).toBe(false);
  });
});

describe('explain', () => {
  const c = compiled('tool.name == "refund" && args.amount <= 100 && caller.key_name.startsWith("support-")');

  it('is true when evaluate is', () => {
    const granted: Explanation = { value: true };
    expect(explain(c, call({ amount: 1 }))).toEqual(granted);
  });

  it('names the first top-level operand that is false', () => {
    expect(explain(c, call({ amount: 150 }))).toEqual({
      value: false,
      reason: 'args.amount <= 100 is false',
      failed: { text: 'args.amount <= 100', start: 25, end: 43 },
    });
    expect(explain(c, call({ amount: 1 }, { key_name: 'ops' })).failed?.text).toBe(
      'caller.key_name.startsWith("support-")',
    );
  });

  it('says which argument is missing', () => {
    const e = explain(c, call({}));
    expect(e.value).toBe(false);
    expect(e.reason).toContain('No such key: amount');
    expect(e.reason).toContain('has(args.x)');
    expect(e.failed?.text).toBe('args.amount <= 100');
    expect(e.error).toBe(true);
  });

  it('tells an error from a false value', () => {
    expect(explain(c, call({ amount: 150 })).error).toBeUndefined();
    expect(explain(compiled('args.id.matches("^[0-9]+$")'), call({ id: 7 })).error).toBe(true);
  });

  it('names the whole condition when it is not a conjunction, and speaks of matches as written', () => {
    const m = compiled('args.id.matches("^[0-9]+$") || args.id == "none"');
    expect(explain(m, call({ id: 'x' }))).toEqual({
      value: false,
      reason: 'the condition is false',
      failed: { text: m.text, start: 0, end: m.text.length },
    });
    expect(explain(compiled('args.id.matches("^[0-9]+$")'), call({ id: 7 })).reason).toContain('matches');
  });
});
