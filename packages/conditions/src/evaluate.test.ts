import { describe, expect, it } from '@jest/globals';
import {
  compileCondition,
  conditionLimits,
  conditionSession,
  evaluate,
  explain,
  type Condition,
  type ConditionActivation,
  type ConditionCaller,
  type ConditionSession,
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

describe('session', () => {
  const readIssue = { tool: 'get_issue', server_id: 'srv-gh', count: 3, first_at: 1_000, last_at: 61_000 };
  const session = (over: Partial<ConditionSession> = {}): ConditionSession => ({
    labels: ['untrusted'],
    tools_called: ['get_issue', 'list_repos'],
    calls: [
      { ...readIssue, since_seconds: 120 },
      { tool: 'list_repos', server_id: 'srv-gh', count: 1, first_at: 500, last_at: 500, since_seconds: 180 },
    ],
    ...over,
  });
  const inSession = (s: unknown): ConditionActivation =>
    ({ caller: supportKey, tool: refund, args: {}, session: s }) as ConditionActivation;

  it('session.labels', () => {
    const c = compiled('session.labels.exists(l, l == "private")');
    expect(evaluate(c, inSession(session({ labels: ['private', 'untrusted'] })))).toBe(true);
    expect(evaluate(c, inSession(session()))).toBe(false);
    const clean = compiled('!("private" in session.labels) && !("untrusted" in session.labels)');
    expect(evaluate(clean, inSession(session({ labels: [] })))).toBe(true);
    expect(evaluate(clean, inSession(session()))).toBe(false);
  });

  it('session.tools_called', () => {
    expect(evaluate(compiled('"get_issue" in session.tools_called'), inSession(session()))).toBe(true);
    expect(evaluate(compiled('"create_gist" in session.tools_called'), inSession(session()))).toBe(false);
    const many = compiled('size(session.tools_called) > 1');
    expect(evaluate(many, inSession(session()))).toBe(true);
    expect(evaluate(many, inSession(session({ tools_called: ['get_issue'] })))).toBe(false);
  });

  it('session.calls: tool, server, counts and time since', () => {
    const recent = compiled('session.calls.exists(c, c.tool == "get_issue" && c.since_seconds < 600)');
    expect(evaluate(recent, inSession(session()))).toBe(true);
    const later = session({ calls: [{ ...readIssue, since_seconds: 600 }] });
    expect(evaluate(recent, inSession(later))).toBe(false);
    const counted = compiled(
      'session.calls.exists(c, c.server_id == "srv-gh" && c.count >= 3 && c.first_at < c.last_at)',
    );
    expect(evaluate(counted, inSession(session()))).toBe(true);
    expect(evaluate(counted, inSession(session({ calls: [] })))).toBe(false);
  });

  it('absent (the session was not read): false, negated too, and explain says why', () => {
    for (const text of [
      'session.labels.exists(l, l == "private")',
      '!("private" in session.labels)',
      'size(session.calls) == 0',
    ])
      expect(evaluate(compiled(text), call({}))).toBe(false);
    expect(explain(compiled('!("private" in session.labels)'), call({}))).toEqual({
      value: false,
      reason: 'the session of this call was not read, so a condition on it is false',
      error: true,
    });
    // A condition that does not read it is evaluated as before.
    expect(evaluate(compiled('tool.name == "refund"'), call({}))).toBe(true);
  });

  it('a session that lies (other types, other shapes, over the bounds) grants nothing, and nothing throws', () => {
    const negative = [
      '!("private" in session.labels)',
      'session.labels.all(l, l != "private")',
      'session.calls.exists(c, c.count != 5)',
      'session.calls.exists(c, c.count > 2)',
      'session.calls.all(c, c.since_seconds >= 0)',
      '!("create_gist" in session.tools_called)',
      'size(session.tools_called) < 100',
    ].map((t) => compiled(t));
    for (const c of negative) expect(evaluate(c, inSession(session()))).toBe(true);
    const name = 'x'.repeat(conditionLimits.maxSessionNameLength + 1);
    const call = (over: Record<string, unknown>) => [{ ...readIssue, since_seconds: 1, ...over }];
    const lies: unknown[] = [
      session({ labels: [1] as unknown as string[] }),
      session({ labels: ['a', 'b', 'c'] }),
      session({ labels: ['x'.repeat(conditionLimits.maxSessionLabelLength + 1)] }),
      session({ tools_called: [null] as unknown as string[] }),
      session({ tools_called: Array.from({ length: conditionLimits.maxSessionCalls + 1 }, (_, i) => `t${i}`) }),
      session({ tools_called: [name] }),
      session({ calls: call({ count: '3' }) as never }),
      session({ calls: call({ count: 1e308 }) as never }),
      session({ calls: call({ count: -1 }) as never }),
      session({ calls: call({ count: 2.5 }) as never }),
      session({ calls: call({ since_seconds: Number.NaN }) as never }),
      session({ calls: call({ tool: 7 }) as never }),
      session({ calls: call({ tool: name }) as never }),
      session({ calls: call({ extra: true }) as never }),
      session({ calls: [null, 'x'] as never }),
      session({ calls: Array.from({ length: conditionLimits.maxSessionCalls + 1 }, () => call({})[0]!) }),
      { ...session(), more: [] },
      { labels: [], tools_called: [] },
      Object.assign(Object.create({ calls: [] }) as object, { labels: [], tools_called: [] }),
      new Map(Object.entries(session())),
      [],
      null,
      'session',
      1e308,
      Object.defineProperty({ tools_called: [], calls: [] }, 'labels', {
        enumerable: true,
        get() {
          throw new Error('boom');
        },
      }),
    ];
    for (const lie of lies)
      for (const c of negative) {
        expect(evaluate(c, inSession(lie))).toBe(false);
        expect(explain(c, inSession(lie)).value).toBe(false);
      }
    expect(explain(negative[0]!, inSession(lies[0])).reason).toBe('session.labels is not a list of at most 2 labels');
  });

  it('conditionSession: what the session store read, within the bounds, at the time of the call', () => {
    const now = 1_000_000;
    const calls = Array.from({ length: conditionLimits.maxSessionCalls + 5 }, (_, i) => ({
      tool: i === 1 ? 'get_issue' : `tool_${i}`,
      serverId: i % 2 === 0 ? 'srv-a' : 'srv-b',
      count: 1,
      firstAt: i,
      lastAt: i * 1000,
    }));
    calls.push({ tool: 'get_issue', serverId: 'srv-c', count: 2, firstAt: 5, lastAt: now - 30_500 });
    const s = conditionSession({ labels: new Map([['private', {}]]), calls }, now);
    expect(s.labels).toEqual(['private']);
    expect(s.calls).toHaveLength(conditionLimits.maxSessionCalls);
    expect(s.calls[0]).toEqual({
      tool: 'get_issue',
      server_id: 'srv-c',
      count: 2,
      first_at: 5,
      last_at: now - 30_500,
      since_seconds: 30,
    });
    // The least recently called are left out; a tool called on two servers is named once.
    expect(s.calls.some((c) => c.tool === 'tool_0')).toBe(false);
    expect(s.tools_called.filter((t) => t === 'get_issue')).toHaveLength(1);
    const c = compiled(
      '"private" in session.labels && session.calls.exists(c, c.tool == "get_issue" && c.since_seconds < 60)',
    );
    expect(evaluate(c, inSession(s))).toBe(true);
    expect(evaluate(c, inSession(conditionSession({ labels: new Map(), calls: [] }, now)))).toBe(false);
  });
});
