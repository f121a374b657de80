import { describe, expect, it } from '@jest/globals';
import type { CallRules, ToolStepPlan } from '@toolplane/contracts';
import type { DelegationCalls } from '@toolplane/queue';
import { stepDelegation } from './step-delegation.ts';

// A narrowed token's rights on a workflow's steps (ADR 0084): its tools and servers, its conditions on the step's
// arguments, its expiry and its chain's call limits, charged through the counter (a fake of our own interface here).

const step = (name: string, serverId = 'srv-1') =>
  ({ name, serverId, serverName: 'tickets', plan: { kind: 'http' } }) as unknown as ToolStepPlan;

const rules = (over: Partial<NonNullable<CallRules['delegation']>> = {}): CallRules => ({
  delegation: {
    tokenId: 'tok-1',
    servers: null,
    tools: null,
    conditions: [],
    limits: [],
    exp: Math.floor(Date.now() / 1000) + 600,
    ...over,
  },
});

function counter(room: boolean) {
  const calls: string[] = [];
  const fake = {
    charge: async () => (calls.push('charge'), room),
    refund: async () => void calls.push('refund'),
  } as unknown as DelegationCalls;
  return { fake, calls };
}

describe('stepDelegation', () => {
  it('lets a job without a narrowed token, and a step of no hosted server, through', async () => {
    expect(await stepDelegation(undefined, {}, step('get_ticket'), {})).toHaveProperty('refund');
    const noServer = { ...step('op'), serverId: undefined } as ToolStepPlan;
    expect(await stepDelegation(undefined, { rules: rules({ tools: [] }) }, noServer, {})).toHaveProperty('refund');
  });

  it('refuses a tool or a server the token does not name, and a false condition', async () => {
    const tools = await stepDelegation(undefined, { rules: rules({ tools: ['wf'] }) }, step('get_ticket'), {});
    expect(tools).toEqual({ refused: expect.stringContaining('may not call the step\'s tool "get_ticket"') });
    const servers = await stepDelegation(undefined, { rules: rules({ servers: ['srv-2'] }) }, step('get_ticket'), {});
    expect(servers).toEqual({ refused: expect.stringContaining('does not reach') });
    const condition = await stepDelegation(
      undefined,
      { rules: rules({ conditions: ['args.id != "2"'] }) },
      step('get_ticket'),
      { id: '2' },
    );
    expect(condition).toEqual({ refused: expect.stringContaining('only when args.id != "2"') });
  });

  it('refuses an expired token, and charges its limits: none left refuses, a later refusal gives it back', async () => {
    const expired = await stepDelegation(undefined, { rules: rules({ exp: 1 }) }, step('get_ticket'), {});
    expect(expired).toEqual({ refused: expect.stringContaining('expired') });
    const limits = [{ jti: 'tok-1', calls: 1 }];
    const full = counter(false);
    expect(await stepDelegation(full.fake, { rules: rules({ limits }) }, step('get_ticket'), {})).toEqual({
      refused: expect.stringContaining('no calls left'),
    });
    expect(await stepDelegation(undefined, { rules: rules({ limits }) }, step('get_ticket'), {})).toEqual({
      refused: expect.stringContaining('cannot be counted'),
    });
    const room = counter(true);
    const allowed = await stepDelegation(room.fake, { rules: rules({ limits }) }, step('get_ticket'), {});
    if (!('refund' in allowed)) throw new Error('refused');
    await allowed.refund();
    expect(room.calls).toEqual(['charge', 'refund']);
  });
});
