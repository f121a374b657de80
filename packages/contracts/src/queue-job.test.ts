import { describe, expect, it } from '@jest/globals';
import { ToolInvokeJob, type ToolInvokeJobV1 } from './queue.ts';

/**
 * The tool job's versions during a rolling upgrade (ADR 0077): a worker reads a version 1 job an edge of the previous
 * release queued (its rules as loose fields) as version 2 (the rules under `rules`, a key per capability), and reads
 * version 2 as it is.
 */

const common = {
  invocationId: 'inv-1',
  serverId: 's1',
  catalogVersion: 3,
  tool: 'get_order',
  arguments: { id: 7 },
  principal: { workspaceId: 'w1', keyId: 'k1' },
  deadlineAt: 1_900_000_000_000,
  replyTo: 'edge-1',
};

const finding = { guardrail: 'cards', detector: 'pii:card', path: '$.note', action: 'redact', on: 'arguments' };

describe('ToolInvokeJob', () => {
  it('reads a version 1 job with every rule field as version 2, the rules under their keys', () => {
    const v1: ToolInvokeJobV1 = {
      v: 1,
      ...common,
      quotaCharge: { keys: ['q:a'], amounts: [2], inFlight: ['q:f'] },
      cost: 2,
      approval: { key: 'ap:1', id: 'req-1', timeoutMs: 30_000 },
      argumentFindings: [finding as never],
      cache: { key: 'c:1', ttlMs: 60_000, epoch: 'e1', scope: 'principal' },
      task: { id: 'task-1' },
    };
    expect(ToolInvokeJob.parse(v1)).toEqual({
      v: 2,
      ...common,
      task: { id: 'task-1' },
      rules: {
        quota: { keys: ['q:a'], amounts: [2], inFlight: ['q:f'] },
        cost: 2,
        approval: { key: 'ap:1', id: 'req-1', timeoutMs: 30_000 },
        guardrails: { arguments: [finding] },
        cache: { key: 'c:1', ttlMs: 60_000, epoch: 'e1', scope: 'principal' },
      },
    });
  });

  it('a version 1 job under no rule has no rules; version 2 is read as it is; an unknown version is refused', () => {
    expect(ToolInvokeJob.parse({ v: 1, ...common })).toEqual({ v: 2, ...common });
    const v2 = { v: 2, ...common, rules: { cost: 5, quota: { keys: [], amounts: [], inFlight: ['q:f'] } } };
    expect(ToolInvokeJob.parse(v2)).toEqual(v2);
    expect(ToolInvokeJob.safeParse({ v: 3, ...common }).success).toBe(false);
    // A version 2 job with a rule field of version 1 keeps only what version 2 names (the loose field is not read).
    expect(ToolInvokeJob.parse({ v: 2, ...common, quotaCharge: { keys: ['x'], amounts: [1] } })).toEqual({
      v: 2,
      ...common,
    });
  });
});
