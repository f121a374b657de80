import { describe, expect, it } from '@jest/globals';
import type { AuditEventInput, CatalogTool, ToolInvokeJob, WorkspaceAccess } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { taskAccessCheck } from './task-access.ts';

// A task's call decided again when its job starts, with fakes of the worker's own readers: refused when
// the published policies no longer grant it (audited, its windowed quota units given back), let through when they do,
// refused when a held job does not say who called (one that was not held was queued by an older edge: its decision
// stands).

const entry = {
  tool: { name: 'refund', inputSchema: { type: 'object', properties: { amount: { type: 'number' } } } },
  plan: { kind: 'http', params: [] },
} as unknown as CatalogTool;

const job = (extra: Partial<ToolInvokeJob> = {}): ToolInvokeJob =>
  ({
    v: 2,
    invocationId: 'inv-1',
    serverId: 's1',
    catalogVersion: 1,
    tool: 'refund',
    arguments: { amount: 500 },
    principal: { workspaceId: 'w1', keyId: 'k' },
    deadlineAt: Date.now() + 60_000,
    replyTo: 'edge',
    task: { id: 'task-1' },
    stepCaller: { identity: { keyId: 'k' }, condition: { key_id: 'k' } },
    rules: { quota: { keys: ['q:day'], amounts: [1] } },
    ...extra,
  }) as ToolInvokeJob;

function fakes(
  policies: WorkspaceAccess['policies'],
  ruleSettings?: () => Promise<Record<string, unknown> | undefined>,
) {
  const audit: AuditEventInput[] = [];
  const refunds: unknown[] = [];
  const check = taskAccessCheck({
    ruleSettings,
    plans: {
      get: (_s, _v, name) => Promise.resolve(name === 'refund' ? entry : undefined),
      serverName: () => Promise.resolve('billing'),
    },
    workspaceAccess: () => Promise.resolve({ v: 1, workspaceId: 'w1', policies }),
    audit: { add: (e) => void audit.push(e) },
    quotaRefunds: (charge) => Promise.resolve(void refunds.push(charge)),
    log: { warn: () => undefined } as unknown as Logger,
  });
  return { check, audit, refunds };
}

const policy = (condition?: string) => ({
  id: 'p1',
  name: 'refunds',
  principals: [{ type: 'api_key' as const, value: 'k' }],
  servers: ['s1'],
  tools: ['refund'],
  ...(condition ? { condition } : {}),
});

describe("a task's call decided again when its job starts", () => {
  it('runs while the policies grant it with its arguments: nothing written', async () => {
    const f = fakes([policy('args.amount <= 1000')]);
    expect(await f.check(job())).toBeUndefined();
    expect(f.audit).toEqual([]);
    expect(f.refunds).toEqual([]);
  });

  it('refused by a condition now false: a tool.call_refused event, the quota units given back', async () => {
    const f = fakes([policy('args.amount <= 100')]);
    expect(await f.check(job())).toContain('access policy "refunds"');
    expect(f.audit).toEqual([
      expect.objectContaining({
        action: 'tool.call_refused',
        outcome: 'refused',
        resource: { type: 'tool', id: 's1/refund' },
        details: expect.objectContaining({ refusedBy: 'access', task: 'task-1', server: 'billing', tool: 'refund' }),
      }),
    ]);
    expect(f.refunds).toEqual([{ keys: ['q:day'], amounts: [1] }]);
  });

  it('a held job that does not say who called is refused (fails closed); one queued straight by an older edge runs', async () => {
    const f = fakes([]);
    const { stepCaller: _none, ...older } = job();
    const held = { ...older, rules: { ...older.rules, approval: { key: 'a', id: 'r1', timeoutMs: 1 } } };
    // No policy grants the tool now: the older edge's decision at the enqueue stands, nothing is refunded.
    expect(await f.check(older as ToolInvokeJob)).toBeUndefined();
    expect(f.refunds).toEqual([]);
    expect(await f.check(held as ToolInvokeJob)).toMatch(/does not say who called/);
    expect(f.refunds).toEqual([{ keys: ['q:day'], amounts: [1] }]);
  });
});

describe("a task's call judged again by the portable rules when its job starts (ADR 0101)", () => {
  const limit = (settings: Record<string, unknown>) => () => Promise.resolve({ 'spending-limit': settings });

  it('a spending limit lowered while the task waited refuses it: the rule and its code audited, the units given back', async () => {
    const f = fakes([policy()], limit({ argument: 'amount', limit: 100 }));
    expect(await f.check(job())).toMatch(/over the spending limit of 100 on tool "refund"/);
    expect(f.audit).toEqual([
      expect.objectContaining({
        action: 'tool.call_refused',
        outcome: 'refused',
        details: expect.objectContaining({ refusedBy: 'spending-limit', code: 'spending_limit.exceeded' }),
      }),
    ]);
    // The event names the rule's code, never its message (which quotes the argument).
    expect(JSON.stringify(f.audit)).not.toContain('500');
    expect(f.refunds).toEqual([{ keys: ['q:day'], amounts: [1] }]);
  });

  it('within the limit published now, log-only, or no setting: it runs, nothing written', async () => {
    for (const settings of [
      limit({ argument: 'amount', limit: 1000 }),
      limit({ argument: 'amount', limit: 100, mode: 'log_only' }),
      () => Promise.resolve(undefined),
    ]) {
      const f = fakes([policy()], settings);
      expect(await f.check(job())).toBeUndefined();
      expect(f.audit).toEqual([]);
      expect(f.refunds).toEqual([]);
    }
  });

  it('settings that cannot be read, or a catalog that cannot be read: refused (a rule never lets a call through unread)', async () => {
    for (const settings of [limit({ argument: 'amount' }), () => Promise.reject(new Error('redis down'))]) {
      const f = fakes([policy()], settings);
      expect(await f.check(job())).toMatch(/settings of the rule "spending-limit" on this server could not be read/);
      expect(f.audit).toEqual([
        expect.objectContaining({ details: expect.objectContaining({ code: 'spending-limit.unavailable' }) }),
      ]);
    }
  });

  it('access refused first: the access refusal, the portable rules not asked', async () => {
    let asked = 0;
    const f = fakes([policy('args.amount <= 100')], () => Promise.resolve(void asked++));
    expect(await f.check(job())).toContain('access policy "refunds"');
    expect(asked).toBe(0);
  });
});
