import { describe, expect, it } from '@jest/globals';
import type { AccessPolicyRule, WorkspaceAccess } from '@toolplane/contracts';
import {
  conditionProblem,
  conditionRefusal,
  conditionsReadSession,
  failedClauses,
  shadowRefusals,
  type CallConditions,
  type CallServer,
  type ConditionalTool,
} from './call-conditions.ts';
import { conditionRefusalEvent, type CallEventBase } from './call-events.ts';
import { decideAccess } from './decide.ts';
import { taskRefusal } from './step-access.ts';

const access = (policies: AccessPolicyRule[]): WorkspaceAccess => ({ v: 1, workspaceId: 'w', policies });
const key = [{ type: 'api_key' as const, value: 'k' }];
const user = [{ type: 'external_user' as const, value: 'ann' }];

const loaded: CallServer = { catalog: { serverId: 's1', name: 'billing' } };
const tools = new Map<string, ConditionalTool>(
  ['refund', 'get'].map((name) => [
    name,
    { def: { name, inputSchema: { type: 'object', properties: { amount: { type: 'number' } } } } },
  ]),
);
const tool = (name: string) => tools.get(name)!;

function conditionsOf(policies: AccessPolicyRule[], username?: string): CallConditions | undefined {
  const d = decideAccess(access(policies), { keyId: 'k', ...(username ? { username } : {}) }, 's1');
  if (!d.allowed) throw new Error(d.reason);
  return d.conditions && { rules: d.conditions, caller: { key_id: 'k', ...(username ? { user: username } : {}) } };
}

describe('conditional grants', () => {
  const small: AccessPolicyRule = {
    id: 'p1',
    name: 'small-refunds',
    principals: key,
    servers: ['s1'],
    tools: ['refund'],
    condition: 'args.amount <= 100',
  };

  it('leaves decisions without conditions as they were: no conditions, the same grant', () => {
    const d = decideAccess(access([{ id: 'p0', principals: key, servers: ['*'], tools: ['*'] }]), { keyId: 'k' }, 's1');
    expect(d).toEqual({ allowed: true, grant: 'all', who: 'API key k' });
    expect(conditionsOf([{ ...small, condition: undefined } as AccessPolicyRule])).toBeUndefined();
  });

  it('shows a conditionally granted tool, and allows a call only when the condition holds', () => {
    const d = decideAccess(access([small]), { keyId: 'k' }, 's1');
    expect(d.allowed && [...(d.grant as Set<string>)]).toEqual(['refund']);
    const c = conditionsOf([small])!;
    expect(conditionRefusal(c, loaded, tool('refund'), { amount: 50 })).toBeUndefined();
    expect(conditionRefusal(c, loaded, tool('refund'), { amount: 500 })).toMatch(
      /^Access denied: tool "refund" .*access policy "small-refunds" \(p1\): args\.amount <= 100 is false/,
    );
    expect(conditionRefusal(c, loaded, tool('refund'), {})).toContain('has(args.x)');
  });

  it('an unconditional grant of the tool wins: nothing is evaluated for it', () => {
    const c = conditionsOf([small, { id: 'p2', principals: key, servers: ['s1'], tools: ['refund', 'get'] }])!;
    expect(c.rules.clauses('refund')).toEqual([]);
    expect(conditionRefusal(c, loaded, tool('refund'), { amount: 500 })).toBeUndefined();
  });

  it('any one conditional grant suffices; "*" covers every tool', () => {
    const reads = { ...small, id: 'p3', name: 'reads', tools: ['*'], condition: 'tool.name == "get"' };
    const c = conditionsOf([small, reads])!;
    expect(conditionRefusal(c, loaded, tool('refund'), { amount: 50 })).toBeUndefined();
    expect(conditionRefusal(c, loaded, tool('get'), {})).toBeUndefined();
    const refused = conditionRefusal(c, loaded, tool('refund'), { amount: 500 })!;
    expect(refused).toContain('"small-refunds"');
    expect(refused).toContain('"reads"');
  });

  it('with an external user, the caller and the user must each be granted (both conditions hold)', () => {
    const both: AccessPolicyRule[] = [
      // Lets the key act as ann (and grants both `get`, unconditionally).
      { id: 'p5', principals: [...key, ...user], servers: ['s1'], tools: ['get'] },
      small,
      {
        id: 'p4',
        name: 'ann-small',
        principals: user,
        servers: ['s1'],
        tools: ['refund'],
        condition: 'args.amount <= 10',
      },
    ];
    const c = conditionsOf(both, 'ann')!;
    expect(c.rules.clauses('refund')).toHaveLength(2);
    expect(conditionRefusal(c, loaded, tool('refund'), { amount: 5 })).toBeUndefined();
    expect(conditionRefusal(c, loaded, tool('refund'), { amount: 50 })).toContain('"ann-small"');
    expect(conditionRefusal(c, loaded, tool('refund'), { amount: 500 })).toContain('"small-refunds"');
    expect(c.rules.clauses('get')).toEqual([]);
  });

  it('sees the caller and the tool', () => {
    const c = conditionsOf([
      { ...small, condition: 'caller.key_id == "k" && tool.server_name == "billing" && tool.server_id == "s1"' },
    ])!;
    expect(conditionRefusal(c, loaded, tool('refund'), {})).toBeUndefined();
  });

  it('sees the session the conditions carry, and says which conditions read it', () => {
    const clean = { ...small, condition: 'session.labels.all(l, l != "private") && args.amount <= 100' };
    const c = conditionsOf([clean, { ...small, id: 'p6', tools: ['get'] }])!;
    expect(conditionsReadSession(c, tool('refund'))).toBe(true);
    expect(conditionsReadSession(c, tool('get'))).toBe(false);
    expect(conditionsReadSession(conditionsOf([small])!, tool('refund'))).toBe(false);
    const session = { labels: [], tools_called: ['get'], calls: [] };
    expect(conditionRefusal({ ...c, session }, loaded, tool('refund'), { amount: 50 })).toBeUndefined();
    const held = { ...session, labels: ['private'] };
    expect(conditionRefusal({ ...c, session: held }, loaded, tool('refund'), { amount: 50 })).toContain(
      'session.labels.all(l, l != "private") is false',
    );
    expect(failedClauses({ ...c, session: held }, loaded, tool('refund'), { amount: 50 })).toHaveLength(1);
    // Not read for this call: a condition on it is false.
    expect(conditionRefusal(c, loaded, tool('refund'), { amount: 50 })).toContain(
      'the session of this call was not read',
    );
  });
});

describe('the caller conditions see', () => {
  it('reads caller.key_name', () => {
    const c: CallConditions = {
      ...conditionsOf([
        {
          id: 'p9',
          name: 'support',
          principals: key,
          servers: ['s1'],
          tools: ['refund'],
          condition: 'caller.key_name.startsWith("support-")',
        },
      ])!,
    };
    const as = (key_name: string | undefined) => ({ ...c, caller: { key_id: 'k', ...(key_name ? { key_name } : {}) } });
    expect(conditionRefusal(as('support-eu'), loaded, tool('refund'), {})).toBeUndefined();
    expect(conditionRefusal(as('ops'), loaded, tool('refund'), {})).toContain(
      'caller.key_name.startsWith("support-") is false',
    );
    // Absent (a record published without the name): false, never granted.
    expect(conditionRefusal(as(undefined), loaded, tool('refund'), {})).toContain('key_name');
  });
});

describe('log-only conditions (enforce: false)', () => {
  const small: AccessPolicyRule = {
    id: 'p1',
    name: 'small-refunds',
    principals: key,
    servers: ['s1'],
    tools: ['refund'],
    condition: 'args.amount <= 100',
    enforce: false,
  };
  const approval = { version: 'v1', approvers: { apiKeys: ['a'] }, approvals: 1, expiresInSeconds: 600 };

  it('refuses nothing: a false condition lets the call through and says what it would have refused', () => {
    const c = conditionsOf([small])!;
    expect(conditionRefusal(c, loaded, tool('refund'), { amount: 500 })).toBeUndefined();
    expect(failedClauses(c, loaded, tool('refund'), { amount: 500 })).toEqual([]);
    expect(shadowRefusals(c, loaded, tool('refund'), { amount: 500 })).toEqual([
      { policy: small, would: 'refuse', failed: 'args.amount <= 100', error: false },
    ]);
    expect(shadowRefusals(c, loaded, tool('refund'), {})).toEqual([
      expect.objectContaining({ policy: small, error: true }),
    ]);
    // Where it holds, nothing would have been refused.
    expect(shadowRefusals(c, loaded, tool('refund'), { amount: 50 })).toEqual([]);
  });

  it('asks no approval: a log-only policy requiring one lets the call through, saying it would have held it', () => {
    const c = conditionsOf([{ ...small, approval }])!;
    expect(failedClauses(c, loaded, tool('refund'), { amount: 500 })).toEqual([]);
    expect(shadowRefusals(c, loaded, tool('refund'), { amount: 500 })[0]!.would).toBe('require_approval');
  });

  it('another grant whose condition holds decides: nothing would have been refused', () => {
    const reads = { ...small, id: 'p2', name: 'reads', tools: ['*'], condition: 'tool.name == "get"' };
    delete (reads as Partial<AccessPolicyRule>).enforce;
    const c = conditionsOf([small, { ...reads, condition: 'args.amount < 1000' }])!;
    expect(shadowRefusals(c, loaded, tool('refund'), { amount: 500 })).toEqual([]);
    // An enforced clause still refuses, whatever a log-only policy of another clause says.
    const enforced = conditionsOf([reads])!;
    expect(conditionRefusal(enforced, loaded, tool('refund'), { amount: 500 })).toContain('reads');
  });

  it('costs nothing where no policy is log only', () => {
    const c = conditionsOf([{ ...small, enforce: undefined }])!;
    expect(c.rules.logOnly).toBe(false);
    expect(shadowRefusals(c, loaded, tool('refund'), { amount: 500 })).toEqual([]);
    expect(conditionRefusal(c, loaded, tool('refund'), { amount: 500 })).toContain('small-refunds');
  });
});

describe("a task's call decided again when its job starts (issue #89)", () => {
  const approval = { version: 'v1', approvers: { apiKeys: ['a'] }, approvals: 1, expiresInSeconds: 600 };
  const refunds = (extra: Partial<AccessPolicyRule> = {}): AccessPolicyRule => ({
    id: 'p1',
    name: 'refunds',
    principals: key,
    servers: ['s1'],
    tools: ['refund'],
    condition: 'args.amount <= 100',
    ...extra,
  });
  const caller = { identity: { keyId: 'k' }, condition: { key_id: 'k' } };
  const call = { serverId: 's1', serverName: 'billing', tool: tool('refund') };
  const decide = (policies: AccessPolicyRule[], amount: number, approved: boolean) =>
    taskRefusal(access(policies), caller, call, { args: { amount }, approved });

  it('runs while the policies still grant it with these arguments', () => {
    expect(decide([refunds()], 50, false)).toBeUndefined();
  });

  it('is refused once the tool is no longer granted, or a condition is false for its arguments', () => {
    expect(decide([refunds({ tools: ['get'] })], 50, true)).toMatch(/refund/);
    expect(decide([refunds()], 500, false)).toContain('access policy "refunds"');
  });

  it('approved: the conditions an approval stands in for do not refuse it; another false condition does', () => {
    expect(decide([refunds({ approval })], 500, true)).toBeUndefined();
    expect(decide([refunds({ approval })], 500, false)).toContain('access policy "refunds"');
    expect(decide([refunds()], 500, true)).toContain('access policy "refunds"');
  });
});

describe('a condition that cannot be evaluated for a tool (issue #91)', () => {
  const limits: AccessPolicyRule = {
    id: 'p9',
    name: 'limits',
    principals: key,
    servers: ['s1'],
    tools: ['*'],
    condition: '!has(args.limit) || args.limit <= 5',
  };

  it('is refused naming the real reason, never as false for these arguments; its event says the problem', () => {
    expect(conditionProblem(limits, tool('get'))).toMatch(/^unknown argument "limit"/);
    const refused = conditionRefusal(conditionsOf([limits])!, loaded, tool('get'), { amount: 1 });
    expect(refused).toContain(
      'access policy "limits" (p9): its condition cannot be evaluated for this tool (unknown argument "limit"',
    );
    const base: CallEventBase = {
      workspaceId: 'w',
      serverId: 's1',
      serverName: 'billing',
      tool: 'get',
      actor: { type: 'api_key', id: 'k' } as CallEventBase['actor'],
      source: {} as CallEventBase['source'],
    };
    const problem = conditionProblem(limits, tool('get'));
    const event = conditionRefusalEvent(base, { id: 'p9', name: 'limits', problem });
    expect(event.details).toMatchObject({ policy: { id: 'p9', name: 'limits', problem } });
  });

  it('names no problem for a tool that has the argument', () => {
    const withLimit: ConditionalTool = {
      def: { name: 'list', inputSchema: { type: 'object', properties: { limit: { type: 'integer' } } } },
    };
    expect(conditionProblem(limits, withLimit)).toBeUndefined();
  });
});
