import { describe, expect, it } from '@jest/globals';
import type { TaskGrant } from '@toolplane/contracts';
import { CallerFacets, judgePortable, ruleCallerOf, settingsFor, type RuleTool } from './portable-rule.ts';
import { ruleNamesOf } from './rules.ts';
import { overBudgetHold, taskGrant } from './task-grant.ts';

const refund: RuleTool = { name: 'refund_order', inputSchema: { type: 'object' } };
const grant: TaskGrant = {
  id: 'g1',
  purpose: 'Refund order 4411',
  person: 'ann',
  tools: ['refund_order'],
  bounds: [{ name: 'order 4411, at most 50', condition: 'args.order_id == "4411" && args.amount <= 50' }],
  calls: 3,
  expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  offGrant: 'refuse',
  mode: 'enforced',
};
const principal = (grantId?: string) => ({
  workspaceId: 'w',
  keyId: 'k1',
  ...(grantId ? { delegation: { tokenId: 't', actors: ['api_key:k1', 'agent'], grantId } } : {}),
});

/** The decision on a call whose arguments the client wrote as `json`, by a caller holding `g` (or none). */
function judge(json: string, g: TaskGrant | null = grant, tool: RuleTool = refund) {
  const settings = settingsFor(taskGrant, {});
  if (settings === undefined || settings === 'invalid') throw new Error('no settings');
  const caller = ruleCallerOf(principal(g ? g.id : undefined), g ? [g] : []);
  return judgePortable(taskGrant, settings, {
    args: JSON.parse(json) as Record<string, unknown>,
    tool,
    facets: new CallerFacets(caller),
  });
}
const outcome = (d: ReturnType<typeof judge>) =>
  d === undefined
    ? 'go on'
    : 'refuse' in d
      ? d.refuse.code
      : 'hold' in d
        ? `hold ${d.hold.code}`
        : `log only ${d.wouldRefuse.code}`;

describe('the task grant', () => {
  it('is a portable rule of calls, workflow steps and the backtest, right after the spending limit', () => {
    for (const path of ['call', 'workflowStep', 'backtest'] as const)
      expect(ruleNamesOf(path).indexOf('task-grant')).toBe(ruleNamesOf(path).indexOf('spending-limit') + 1);
  });

  it('meets every tool without a server setting, and lets a caller without a grant through', () => {
    expect(settingsFor(taskGrant, undefined)).toEqual({ settings: {} });
    expect(outcome(judge('{"order_id": "9999"}', null))).toBe('go on');
  });

  it('lets a call within the grant through', () => {
    expect(outcome(judge('{"order_id": "4411", "amount": 50}'))).toBe('go on');
    expect(outcome(judge('{"order_id": "4411", "amount": -0}'))).toBe('go on');
  });

  it('refuses an off-grant call naming the violated bound, the tool, the expiry or the revocation', () => {
    const d = judge('{"order_id": "4412", "amount": 10}');
    expect(d).toEqual({
      refuse: {
        code: 'task_grant.bound',
        violated: 'order 4411, at most 50',
        message:
          'Off-grant call of tool "refund_order": the bound "order 4411, at most 50" of the task grant g1 does not ' +
          'hold for these arguments. The call was not made, nothing was sent. Stay within the grant, or ask its ' +
          'person for another.',
      },
    });
    expect(outcome(judge('{"order_id": "4411", "amount": 51}'))).toBe('task_grant.bound');
    expect(outcome(judge('{}', grant, { name: 'delete_order', inputSchema: {} }))).toBe('task_grant.tool');
    const expired = { ...grant, expiresAt: new Date(Date.now() - 1000).toISOString() };
    expect(outcome(judge('{"order_id": "4411", "amount": 5}', expired))).toBe('task_grant.expired');
    const revoked = { ...grant, offGrant: 'hold' as const, revokedAt: new Date().toISOString() };
    expect(outcome(judge('{"order_id": "4411", "amount": 5}', revoked))).toBe('task_grant.revoked');
  });

  it('judges what a lying client sends closed: strings for numbers, 1e3, a number for a string, missing arguments', () => {
    expect(outcome(judge('{"order_id": "4411", "amount": "30"}'))).toBe('task_grant.bound');
    expect(outcome(judge('{"order_id": "4411", "amount": 1e3}'))).toBe('task_grant.bound');
    expect(outcome(judge('{"order_id": 4411, "amount": 30}'))).toBe('task_grant.bound');
    expect(outcome(judge('{"order_id": "4411"}'))).toBe('task_grant.bound');
  });

  it('holds an off-grant call for the grant’s person when the grant says so; log-only grants only say it', () => {
    const d = judge('{"order_id": "4411", "amount": 51}', { ...grant, offGrant: 'hold' });
    expect(outcome(d)).toBe('hold task_grant.bound');
    expect(d && 'hold' in d ? d.hold.approval.approvers : undefined).toEqual({ people: ['ann'] });
    // The request names the grant and the violated bound for its person.
    expect(d && 'hold' in d ? d.hold.approval.taskGrant : undefined).toEqual({
      id: 'g1',
      purpose: 'Refund order 4411',
      violated: 'order 4411, at most 50',
    });
    expect(outcome(judge('{"order_id": "4411", "amount": 51}', { ...grant, mode: 'log_only' }))).toBe(
      'log only task_grant.bound',
    );
  });

  it('holds a call past the budget only for an enforced, live grant that holds off-grant calls', () => {
    const hold = overBudgetHold({ ...grant, offGrant: 'hold' });
    expect(hold?.approvers).toEqual({ people: ['ann'] });
    expect(hold?.version).toBe('task-grant:g1');
    expect(hold?.taskGrant).toEqual({ id: 'g1', purpose: 'Refund order 4411', violated: 'calls' });
    expect(hold?.because).toBe('the budget of 3 calls of the task grant g1 is spent');
    const past = new Date(Date.now() - 1000).toISOString();
    for (const g of [
      grant,
      { ...grant, offGrant: 'hold' as const, mode: 'log_only' as const },
      { ...grant, offGrant: 'hold' as const, revokedAt: past },
      { ...grant, offGrant: 'hold' as const, expiresAt: past },
      undefined,
    ])
      expect(overBudgetHold(g)).toBeUndefined();
  });

  it('refuses a caller whose grant is not published', () => {
    const settings = settingsFor(taskGrant, {}) as { settings: unknown };
    const d = judgePortable(taskGrant, settings, {
      args: {},
      tool: refund,
      facets: new CallerFacets(ruleCallerOf(principal('gone'), [])),
    });
    expect(outcome(d)).toBe('task_grant.unknown');
  });
});
