import { describe, expect, it } from '@jest/globals';
import type { ToolInvokeJob } from '@toolplane/contracts';
import { recordBase } from './invocation.ts';

const job: ToolInvokeJob = {
  v: 2,
  invocationId: '0b7c6f4e-2a51-4f8e-9d3b-6c1a2e4f5a6b',
  serverId: 's1',
  catalogVersion: 3,
  tool: 't',
  arguments: {},
  principal: { workspaceId: 'w1', keyId: 'k1' },
  replyTo: 'edge-1',
  deadlineAt: Date.UTC(2026, 10, 29),
};

/** The members a record's base always has, in the record's order. */
const recordOrder = [
  'v',
  'invocationId',
  'workspaceId',
  'serverId',
  'catalogVersion',
  'tool',
  'caller',
  'startedAt',
  'durationMs',
  'costUnits',
];

describe('recordBase', () => {
  it('gives the members in the order of the record, the optional ones only when the job has them', () => {
    const base = recordBase(job, Date.UTC(2026, 10, 28), 12);
    expect(Object.keys(base)).toEqual(recordOrder);
    expect(base).toStrictEqual({
      v: 1,
      invocationId: job.invocationId,
      workspaceId: 'w1',
      serverId: 's1',
      catalogVersion: 3,
      tool: 't',
      caller: { keyId: 'k1' },
      startedAt: '2026-11-28T00:00:00.000Z',
      durationMs: 12,
      costUnits: 1,
    });
  });

  it('links a call of a program, takes the cost and argument findings of the rules; a request is no tool call', () => {
    const findings = [{ guardrail: 'g', detector: 'secrets', action: 'flag', path: '/a' }];
    const full = {
      ...job,
      invocationId: 'task-1',
      parentInvocationId: 'p1',
      rules: { cost: 5, guardrails: { arguments: findings } },
    } as unknown as ToolInvokeJob;
    const base = recordBase(full, 0, 0);
    // The parent right after the call's own id, the argument findings last.
    expect(Object.keys(base)).toEqual([
      ...recordOrder.slice(0, 2),
      'parentInvocationId',
      ...recordOrder.slice(2),
      'guardrails',
    ]);
    // A task's invocation id is no UUID: the record's is derived from it (version 8).
    expect(base.invocationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(base).toMatchObject({ parentInvocationId: 'p1', costUnits: 5, guardrails: findings });
    const request = recordBase({ ...job, request: { method: 'resources/read' } } as unknown as ToolInvokeJob, 0, 0);
    expect('costUnits' in request).toBe(false);
  });
});
