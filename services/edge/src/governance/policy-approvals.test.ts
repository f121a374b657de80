import { describe, expect, it } from '@jest/globals';
import { approvalInsteadOf, decideAccess, type CallConditions } from '@toolplane/access';
import type { AccessPolicyRule, ApprovalRule, Catalog } from '@toolplane/contracts';
import type { LoadedCatalog, LoadedTool } from '../state/catalogs.ts';
import { conditionCheck } from './policy-approvals.ts';

/**
 * Which access-policy rule a call its conditions refuse runs under instead (ADR 0049, `onFalse: "require_approval"`),
 * with the real access decision of `@toolplane/access`: a clause is met by a true condition, or governed by the first
 * of its policies that requires approval; every failed clause must be governed by the same rule.
 */

const ruleOf = (version: string, apiKeys = ['fraud-desk']): ApprovalRule => ({
  version,
  approvers: { apiKeys },
  approvals: 1,
  expiresInSeconds: 60,
});
const key = [{ type: 'api_key' as const, value: 'k' }];
const ann = [{ type: 'external_user' as const, value: 'ann' }];
const policy = (id: string, extra: Partial<AccessPolicyRule> = {}): AccessPolicyRule => ({
  id,
  name: id,
  principals: key,
  servers: ['s1'],
  tools: ['refund'],
  condition: 'args.amount <= 100',
  ...extra,
});

const refund: LoadedTool = {
  def: {
    name: 'refund',
    description: 'refund',
    inputSchema: { type: 'object', properties: { amount: { type: 'number' } } },
  },
  validate: (() => true) as unknown as LoadedTool['validate'],
  rules: {},
};
const loaded = {
  catalog: {
    serverId: 's1',
    name: 'billing',
    tools: [{ tool: refund.def, plan: { kind: 'mcp' } }],
  } as unknown as Catalog,
  tools: new Map([['refund', refund]]),
  meta: new Map(),
  list: [],
} as LoadedCatalog;

/** A call of `refund` by key k (acting as `username`, if given) under these policies. */
function callOf(policies: AccessPolicyRule[], amount: number, username?: string) {
  const d = decideAccess({ v: 1, workspaceId: 'w', policies }, { keyId: 'k', ...(username ? { username } : {}) }, 's1');
  if (!d.allowed) throw new Error(d.reason);
  const conditions: CallConditions | undefined = d.conditions && {
    rules: d.conditions,
    caller: { key_id: 'k', ...(username ? { user: username } : {}) },
  };
  return { conditions, loaded, arguments: { amount } };
}

/** What the access stage decides: a refusal, or the rule the call must be approved under. */
function decided(policies: AccessPolicyRule[], amount: number, username?: string) {
  const call = callOf(policies, amount, username);
  const checked = call.conditions ? conditionCheck(call.conditions, loaded, refund, call.arguments) : {};
  return { refused: checked.refused, rule: checked.approval };
}

describe('the rule of a refused call (approvalInsteadOf)', () => {
  const asks = policy('asks', { approval: ruleOf('v1') });
  const refuses = policy('refuses');

  it('each failed clause needs a policy requiring approval: the first such, named with its rule', () => {
    const other = policy('other', { approval: ruleOf('v2') });
    expect(approvalInsteadOf([[refuses, asks, other]])).toEqual({
      ...ruleOf('v1'),
      policy: { id: 'asks', name: 'asks' },
    });
    expect(approvalInsteadOf([[refuses]])).toBeUndefined();
    expect(approvalInsteadOf([[asks], [refuses]])).toBeUndefined();
  });

  it('failed clauses under one rule share it; under different rules the call stays refused', () => {
    const same = policy('same', { approval: ruleOf('v1') });
    expect(approvalInsteadOf([[asks], [same]])?.version).toBe('v1');
    expect(approvalInsteadOf([[asks], [policy('b', { approval: ruleOf('v2') })]])).toBeUndefined();
  });
});

describe('conditionCheck', () => {
  it('a true condition runs without approval; a false one that requires approval is governed by its rule', () => {
    const policies = [policy('big-refunds', { approval: ruleOf('v1') })];
    expect(decided(policies, 50)).toEqual({ refused: undefined, rule: undefined });
    expect(decided(policies, 500)).toEqual({
      refused: undefined,
      rule: { ...ruleOf('v1'), policy: { id: 'big-refunds', name: 'big-refunds' } },
    });
  });

  it('a false condition that refuses stays a refusal (any other grant of the clause holding allows)', () => {
    const refused = decided([policy('small-refunds')], 500);
    expect(refused.rule).toBeUndefined();
    expect(refused.refused).toContain('access policy "small-refunds" (small-refunds): args.amount <= 100 is false');
    const either = [policy('asks', { approval: ruleOf('v1') }), policy('any', { condition: 'args.amount > 0' })];
    expect(decided(either, 500)).toEqual({ refused: undefined, rule: undefined });
  });

  it('the credential’s clause and the person’s: both must be governed, by the same rule', () => {
    // Names both, for another tool: the key may act as ann, and each has a clause of its own for refund.
    const acting = policy('acting', { principals: [...key, ...ann], tools: ['get'], condition: undefined });
    const person = (id: string, version?: string) =>
      policy(id, { principals: ann, ...(version ? { approval: ruleOf(version) } : {}) });
    const keyAsks = policy('key-asks', { approval: ruleOf('v1') });
    expect(decided([acting, keyAsks, person('ann-asks', 'v1')], 500, 'ann').rule?.version).toBe('v1');
    expect(decided([acting, keyAsks, person('ann-asks', 'v2')], 500, 'ann').refused).toContain('Access denied');
    expect(decided([acting, keyAsks, person('ann-refuses')], 500, 'ann')).toEqual({
      refused: expect.stringContaining('Access denied'),
      rule: undefined,
    });
    // The person's grant without a condition: only the key's clause counts.
    const annAlways = policy('ann-always', { principals: ann, condition: undefined });
    expect(decided([acting, keyAsks, annAlways], 500, 'ann').rule?.version).toBe('v1');
  });
});
