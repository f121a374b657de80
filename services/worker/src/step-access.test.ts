import { describe, expect, it } from '@jest/globals';
import type { ToolStepPlan, WorkspaceAccess } from '@toolplane/contracts';
import { stepAccessRefusal } from './step-access.ts';

const principal = { workspaceId: 'w', keyId: 'k' };
const stepCaller = { identity: { keyId: 'k' }, condition: { key_id: 'k' } };
const http = { kind: 'http', method: 'GET' } as unknown as ToolStepPlan['plan'];
const hosted: ToolStepPlan = {
  plan: http,
  name: 'delete_order',
  serverId: 's1',
  serverName: 'orders',
  inputSchema: { type: 'object', properties: { amount: { type: 'number' } } },
};
const policies = (condition?: string): WorkspaceAccess => ({
  v: 1,
  workspaceId: 'w',
  policies: [
    {
      id: 'p1',
      name: 'small-orders',
      principals: [{ type: 'api_key', value: 'k' }],
      servers: ['s1'],
      tools: ['delete_order'],
      ...(condition ? { condition } : {}),
    },
  ],
});
const reader = (doc: WorkspaceAccess | undefined) => () => Promise.resolve(doc);

describe('stepAccessRefusal (ADR 0045)', () => {
  it('evaluates a conditional grant on the step’s arguments, naming the policy', async () => {
    const read = reader(policies('args.amount <= 100'));
    expect(await stepAccessRefusal(read, { principal, stepCaller }, hosted, { amount: 50 })).toBeUndefined();
    expect(await stepAccessRefusal(read, { principal, stepCaller }, hosted, { amount: 500 })).toContain(
      'access policy "small-orders" (p1)',
    );
  });

  it('refuses a tool the caller is not granted, and a server its key is not limited to', async () => {
    const other = { ...hosted, name: 'refund' };
    expect(await stepAccessRefusal(reader(policies()), { principal, stepCaller }, other, {})).toContain(
      'may not use tool "refund"',
    );
    const limited = { identity: { keyId: 'x', keyServerIds: ['s2'] }, condition: { key_id: 'x' } };
    expect(await stepAccessRefusal(reader(policies()), { principal, stepCaller: limited }, hosted, {})).toContain(
      'limited to other MCP servers',
    );
  });

  it('fails closed: a job without its caller, a workspace whose policies cannot be read', async () => {
    expect(await stepAccessRefusal(reader(policies()), { principal }, hosted, {})).toContain('does not say who calls');
    expect(await stepAccessRefusal(reader(undefined), { principal, stepCaller }, hosted, {})).toContain(
      'could not be read',
    );
    expect(await stepAccessRefusal(undefined, { principal, stepCaller }, hosted, {})).toContain('could not be read');
  });

  it('decides nothing for a connector operation or an external server registered alone', async () => {
    const operation: ToolStepPlan = { plan: http, name: 'get_note', instanceId: 'i1' };
    expect(await stepAccessRefusal(reader(undefined), { principal }, operation, {})).toBeUndefined();
  });
});
