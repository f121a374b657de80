import { describe, expect, it } from '@jest/globals';
import type { AccessPolicyRule, WorkspaceAccess } from '@toolplane/contracts';
import { conditionRefusal, type CallServer, type ConditionalTool } from './call-conditions.ts';
import { decideAccess } from './decide.ts';
import { explainAccess, type ExplainCall } from './explain.ts';
import { approvalInsteadOf } from './policy-approval.ts';

const access = (policies: AccessPolicyRule[]): WorkspaceAccess => ({ v: 1, workspaceId: 'w', policies });
const server: CallServer = { catalog: { serverId: 's1', name: 'billing' } };
const schema = { type: 'object', properties: { amount: { type: 'number' }, note: { type: 'string' } } };
const refund: ConditionalTool = { def: { name: 'refund', inputSchema: schema } };
const key = { type: 'api_key' as const, value: 'k' };
const ann = { type: 'external_user' as const, value: 'ann' };

const call = (args: Record<string, unknown>, over: Partial<ExplainCall> = {}): ExplainCall => ({
  identity: { keyId: 'k' },
  caller: { key_id: 'k', key_name: 'support-eu' },
  server,
  tool: refund,
  args,
  ...over,
});

const small: AccessPolicyRule = {
  id: 'p1',
  name: 'small-refunds',
  principals: [key],
  servers: ['s1'],
  tools: ['refund'],
  condition: 'args.amount <= 100',
};
const reads: AccessPolicyRule = { id: 'p2', name: 'reads', principals: [key], servers: ['s1'], tools: ['get'] };
const elsewhere: AccessPolicyRule = { id: 'p3', name: 'other', principals: [key], servers: ['s2'], tools: ['*'] };
const others: AccessPolicyRule = {
  id: 'p4',
  name: 'others',
  principals: [{ type: 'api_key', value: 'x' }],
  servers: ['*'],
  tools: ['*'],
};

describe('explainAccess', () => {
  const policies = access([small, reads, elsewhere, others]);

  it('allows a call whose condition holds, naming the policy, and reads every policy', () => {
    const e = explainAccess(policies, call({ amount: 50 }));
    expect(e.allowed).toBe(true);
    expect(e.reason).toBe(
      'Allowed: API key k may call tool "refund" on MCP server "billing"; API key k is granted it by ' +
        'access policy "small-refunds" (p1) (its condition holds).',
    );
    expect(e.policies.map((p) => [p.policy.id, p.why])).toEqual([
      ['p1', 'grants tool "refund" to API key k: its condition holds'],
      ['p2', 'names API key k on MCP server "billing", not tool "refund"'],
      ['p3', 'names API key k, not MCP server "billing"'],
      ['p4', 'does not name API key k'],
    ]);
    expect(e.policies[0]).toMatchObject({
      matchedPrincipals: [key],
      coversServer: true,
      coversTool: true,
      condition: { expression: 'args.amount <= 100', result: true, error: null, failed: null },
    });
    expect(e.policies[3]!.matchedPrincipals).toEqual([]);
  });

  it('refuses a call whose condition is false with the edge’s own refusal', () => {
    const e = explainAccess(policies, call({ amount: 500 }));
    const d = decideAccess(policies, { keyId: 'k' }, 's1');
    const edge = d.allowed && conditionRefusal({ rules: d.conditions!, caller: {} }, server, refund, { amount: 500 });
    expect(e).toMatchObject({ allowed: false, reason: edge });
    expect(e.reason).toContain('access policy "small-refunds" (p1): args.amount <= 100 is false');
    expect(e.policies[0]!.condition).toEqual({
      expression: 'args.amount <= 100',
      result: false,
      error: null,
      failed: 'args.amount <= 100',
    });
    expect(e.policies[0]!.why).toBe('its condition is false for this call (args.amount <= 100 is false)');
  });

  it('tells an evaluation error from a false condition', () => {
    const e = explainAccess(policies, call({ note: 'x' }));
    expect(e.allowed).toBe(false);
    expect(e.policies[0]!.condition).toMatchObject({ result: false, failed: 'amount' });
    expect(e.policies[0]!.condition!.error).toContain('No such key: amount');
    expect(e.policies[0]!.why).toMatch(/^its condition fails on this call: No such key: amount/);
  });

  it('refuses a tool no policy grants, and a server no policy covers, as the edge does', () => {
    const get = explainAccess(access([reads]), call({}, { tool: { def: { name: 'delete', inputSchema: schema } } }));
    expect(get).toMatchObject({
      allowed: false,
      reason: 'Access denied: API key k may not use tool "delete" on this MCP server (no access policy grants it).',
    });
    const none = explainAccess(access([elsewhere]), call({}));
    expect(none.reason).toBe('Access denied: no access policy grants API key k access to MCP server s1.');
  });

  it('says why a key no policy names may call anything', () => {
    const e = explainAccess(access([others]), call({}));
    expect(e.allowed).toBe(true);
    expect(e.reason).toContain('API key k is named by no access policy: it may use every tool of its workspace');
  });

  it('reads caller.key_name', () => {
    const named = { ...small, condition: 'caller.key_name.startsWith("support-")' };
    expect(explainAccess(access([named]), call({})).allowed).toBe(true);
    const ops = explainAccess(access([named]), call({}, { caller: { key_id: 'k', key_name: 'ops' } }));
    expect(ops.allowed).toBe(false);
    expect(ops.policies[0]!.condition!.failed).toBe('caller.key_name.startsWith("support-")');
  });

  it('explains an external user: the credential and the user must each be granted', () => {
    const keyAll: AccessPolicyRule = { id: 'p5', name: 'key-all', principals: [key], servers: ['*'], tools: ['*'] };
    // Lets the key act as ann (and grants both `get`).
    const keyAsAnn: AccessPolicyRule = {
      id: 'p6',
      name: 'as-ann',
      principals: [key, ann],
      servers: ['*'],
      tools: ['get'],
    };
    const annSmall: AccessPolicyRule = { ...small, id: 'p7', name: 'ann-small', principals: [ann] };
    const user = { identity: { keyId: 'k', username: 'ann' }, caller: { key_id: 'k', user: 'ann' } };
    const e = explainAccess(access([keyAll, keyAsAnn, annSmall]), call({ amount: 5 }, user));
    expect(e.allowed).toBe(true);
    expect(e.who).toBe('API key k for external user "ann"');
    expect(e.reason).toBe(
      'Allowed: API key k for external user "ann" may call tool "refund" on MCP server "billing"; API key k is ' +
        'granted it by access policy "key-all" (p5); external user "ann" is granted it by access policy "ann-small" ' +
        '(p7) (its condition holds).',
    );
    expect(e.policies.map((p) => p.why)).toEqual([
      'grants tool "refund" to API key k (no condition)',
      'names API key k and external user "ann" on MCP server "billing", not tool "refund"',
      'grants tool "refund" to external user "ann": its condition holds',
    ]);
    const over = explainAccess(access([keyAll, keyAsAnn, annSmall]), call({ amount: 500 }, user));
    expect(over.reason).toContain('access policy "ann-small" (p7): args.amount <= 100 is false');
  });

  it('names the credential as told (an external user alone: the workspace’s own key acting for them)', () => {
    const annOnly: AccessPolicyRule = { id: 'p7', name: 'ann', principals: [ann], servers: ['s1'], tools: ['get'] };
    const alone = {
      identity: { keyId: 'workspace-key', username: 'ann' },
      caller: { user: 'ann' },
      credentialName: 'an API key no access policy names',
    };
    const e = explainAccess(access([annOnly]), call({}, alone));
    expect(e).toMatchObject({
      allowed: false,
      who: 'an API key no access policy names for external user "ann"',
      reason:
        'Access denied: an API key no access policy names for external user "ann" may not use tool "refund" on this ' +
        'MCP server (no access policy grants it).',
    });
    expect(e.policies[0]!.why).toBe('names external user "ann" on MCP server "billing", not tool "refund"');
  });

  it('matches OAuth subjects and groups', () => {
    const group: AccessPolicyRule = {
      id: 'p8',
      name: 'support',
      principals: [{ type: 'oauth_group', value: 'support' }],
      servers: ['*'],
      tools: ['refund'],
      condition: 'caller.claims.tier == "gold"',
    };
    const token = (tier: string) => ({
      identity: { subject: 'alice', groups: ['support'] },
      caller: { subject: 'alice', claims: { sub: 'alice', groups: ['support'], tier } },
    });
    expect(explainAccess(access([group]), call({}, token('gold'))).allowed).toBe(true);
    const silver = explainAccess(access([group]), call({}, token('silver')));
    expect(silver.allowed).toBe(false);
    expect(silver.policies[0]!.matchedPrincipals).toEqual(group.principals);
  });
});

describe('explainAccess of a log-only policy', () => {
  it('allows the call, says the policy is shadowed and that it would refuse (log only)', () => {
    const shadow = { ...small, enforce: false };
    const e = explainAccess(access([shadow, reads]), call({ amount: 500 }));
    expect(e.allowed).toBe(true);
    expect(e.policies.map((p) => p.enforced)).toEqual([false, true]);
    expect(e.policies[0]!.why).toBe(
      'its condition is false for this call (args.amount <= 100 is false): would refuse (log only)',
    );
    expect(e.reason).toContain('access policy "small-refunds" (p1) (its condition is false: would refuse, log only)');
    // Where it holds, it grants as an enforced one does.
    const holds = explainAccess(access([shadow]), call({ amount: 50 }));
    expect(holds.policies[0]!.why).toBe('grants tool "refund" to API key k: its condition holds');
  });
});

describe('explainAccess of a policy whose false condition requires approval', () => {
  const rule = { version: 'v1', approvers: { apiKeys: ['boss'] }, approvals: 1, expiresInSeconds: 3600 };
  const asks: AccessPolicyRule = { ...small, approval: rule };

  it('allows a call its condition holds for, holds one it does not for, and is log only with enforce: false', () => {
    expect(explainAccess(access([asks]), call({ amount: 50 })).allowed).toBe(true);
    const held = explainAccess(access([asks]), call({ amount: 500 }));
    expect(held).toMatchObject({ allowed: false, approval: { ...rule, policy: { id: 'p1', name: 'small-refunds' } } });
    expect(held.reason).toBe(
      'Requires approval: API key k may call tool "refund" on MCP server "billing" once someone else approves ' +
        'exactly this call (approvers: API key boss; 1 approval needed); access policy "small-refunds" (p1) grants ' +
        'it only when its condition holds, and it does not for these arguments. Nothing is sent before then.',
    );
    expect(held.policies[0]!.why).toBe(
      'its condition is false for this call (args.amount <= 100 is false): requires approval (API key boss; 1 ' +
        'approval needed)',
    );
    const shadow = explainAccess(access([{ ...asks, enforce: false }]), call({ amount: 500 }));
    expect(shadow.allowed).toBe(true);
    expect(shadow.approval).toBeUndefined();
    expect(shadow.policies[0]!.why).toContain('would require approval (log only)');
  });

  it('holds a call its condition cannot be evaluated for, naming the real reason (issue #91)', () => {
    // The docs' pattern for an optional argument, granted on every tool, read for a tool with no `limit`.
    const limits: AccessPolicyRule = {
      ...asks,
      tools: ['*'],
      condition: '!has(args.limit) || args.limit <= 5',
    };
    const getPet: ConditionalTool = {
      def: { name: 'getPetById', inputSchema: { type: 'object', properties: { petId: { type: 'integer' } } } },
    };
    const held = explainAccess(access([limits]), call({ petId: 1 }, { tool: getPet }));
    expect(held.allowed).toBe(false);
    expect(held.approval).toEqual({ ...rule, policy: { id: 'p1', name: 'small-refunds' } });
    expect(held.reason).toContain(
      'access policy "small-refunds" (p1) grants it only when its condition holds, and its condition cannot be ' +
        'evaluated for this tool (unknown argument "limit": the tool\'s input schema has the arguments petId',
    );
    expect(held.reason).not.toContain('does not for these arguments');
    const edge = approvalInsteadOf([[limits]], getPet);
    expect(edge?.problem).toMatch(/^unknown argument "limit"/);
    expect(approvalInsteadOf([[asks]], refund)?.problem).toBeUndefined();
  });

  it('refuses when another failed clause has no such policy; the server’s rule holds every call of its tool', () => {
    const strict: AccessPolicyRule = { ...small, id: 'p5', name: 'strict', principals: [ann] };
    const both = explainAccess(
      access([asks, strict]),
      call({ amount: 500 }, { identity: { keyId: 'k', username: 'ann' } }),
    );
    expect(both.allowed).toBe(false);
    expect(both.approval).toBeUndefined();
    expect(both.reason).toMatch(/^Access denied/);
    const tool = { ...rule, version: 'server' };
    const e = explainAccess(access([small]), call({ amount: 50 }, { toolApproval: tool }));
    expect(e).toMatchObject({ allowed: false, approval: tool });
    expect(e.reason).toContain('its server requires approval for every call of it');
  });
});
