import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  sessionScopes,
  toolResultValue,
  type AuditEventInput,
  type Principal,
  type SessionRule,
  type ToolInvokeJob,
} from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { addToSession, type ExecutionRecordSink, type InvocationClient } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';
import { Redis } from 'ioredis';
import type { ToolCall, ToolCallDeps } from '../calls/call-types.ts';
import type { LoadedCatalog, LoadedTool } from '../state/catalogs.ts';
import { runCall } from './run.ts';

// The session stage (ADR 0078) through the whole pipeline, with the session store on the real Redis of
// tests/setup/global-setup.js (its own prefix); the queue is a fake of our own interface.
const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the session stage tests need Redis');
const prefix = `sst${randomUUID().slice(0, 8)}`;
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
afterAll(async () => {
  const left = await redis.keys(`${prefix}:*`);
  if (left.length) await redis.del(...left);
  redis.disconnect();
});

function fakes(sessions: ToolCallDeps['sessions'] = { redis: redis as unknown as RedisClient, prefix }) {
  const jobs: ToolInvokeJob[] = [];
  const records: { errorCode?: string; outcome: string }[] = [];
  const audit: AuditEventInput[] = [];
  const invocations = {
    edgeId: 'edge-test',
    invoke: async (job: ToolInvokeJob, _signal: unknown, onQueued?: (err?: unknown) => void) => {
      jobs.push(job);
      onQueued?.();
      return { v: 1 as const, invocationId: job.invocationId, ok: true as const, result: { content: [] } };
    },
  } as unknown as InvocationClient;
  const deps: ToolCallDeps = {
    invocations,
    records: { add: (r: (typeof records)[number]) => void records.push(r) } as unknown as ExecutionRecordSink,
    audit: { add: (e) => void audit.push(e) },
    timeoutMs: 1_000,
    log: { warn: () => undefined, info: () => undefined } as unknown as Logger,
    approvals: { redis: redis as unknown as RedisClient, prefix },
    sessions,
  };
  return { jobs, records, audit, deps };
}

const tool = (name: string, labels: LoadedTool['rules']['labels']): LoadedTool => ({
  def: { name, description: name, inputSchema: { type: 'object' } },
  validate: (() => true) as unknown as LoadedTool['validate'],
  rules: labels ? { labels } : {},
});
const readIssue = tool('get_issue', { results: [{ label: 'untrusted', source: 'declared' }], outbound: [] });
const createGist = tool('create_gist', { results: [], outbound: ['public_write'] });
const plain = tool('get_ticket', undefined);

const loaded = {
  catalog: { v: 1, serverId: 's1', workspaceId: 'w1', version: 1, name: 'srv', mode: 'NORMAL', tools: [] } as unknown,
  tools: new Map([readIssue, createGist, plain].map((t) => [t.def.name, t])),
  meta: new Map(),
  list: [],
} as unknown as LoadedCatalog;

const approval = { version: 'v1', approvers: { people: ['boss'] }, approvals: 1, expiresInSeconds: 600 };
const rule = (over: Partial<SessionRule> = {}): SessionRule => ({
  id: 'no-send-after-untrusted',
  name: 'No sending after untrusted content',
  after: ['private', 'untrusted'],
  toolLabels: ['external_write', 'public_write'],
  action: 'refuse',
  enforce: true,
  ...over,
});

function call(name: string, principal: Principal, rules: SessionRule[], countCalls = false): ToolCall {
  return {
    loaded,
    principal,
    name,
    arguments: {},
    requestId: 1,
    trace: { traceparent: undefined, tracestate: undefined, protocolVersion: undefined },
    request: {},
    facts: {
      session: { settings: { ttlSeconds: 600, rules }, scopes: sessionScopes(principal, 's1'), countCalls },
    },
  };
}

/** What the worker does when the read's result leaves: its labels into every scope of the session. */
async function workerLabels(job: ToolInvokeJob): Promise<void> {
  const session = job.rules!.session!;
  await addToSession(
    redis,
    { prefix, workspaceId: 'w1', session },
    {
      tool: job.tool,
      serverId: job.serverId,
      invocationId: job.invocationId,
      at: Date.now(),
      labels: session.labels ?? [],
      countCall: false,
    },
  );
}

const key = () => ({ workspaceId: 'w1', keyId: `k-${randomUUID()}` });
const text = (out: Awaited<ReturnType<typeof runCall>>) => {
  const c = toolResultValue(out).content[0];
  return c?.type === 'text' ? c.text : '';
};

describe('the session stage', () => {
  it('read untrusted, then a public write in the same session: refused, naming the read; a fresh session runs it', async () => {
    const f = fakes();
    const p = key();
    await runCall(f.deps, call('get_issue', p, [rule()]), readIssue);
    expect(f.jobs[0]!.rules!.session).toEqual({
      scopes: [`k:${p.keyId}`],
      ttlSeconds: 600,
      labels: [{ label: 'untrusted', source: 'declared' }],
    });
    await workerLabels(f.jobs[0]!);
    const out = await runCall(f.deps, call('create_gist', p, [rule()]), createGist);
    expect(toolResultValue(out).isError).toBe(true);
    expect(text(out)).toContain('"create_gist" sends data out');
    expect(text(out)).toContain(`the result of "get_issue" (record ${f.jobs[0]!.invocationId}`);
    expect(f.jobs).toHaveLength(1);
    expect(f.records).toEqual([expect.objectContaining({ outcome: 'rejected', errorCode: 'session.refused' })]);
    expect(f.audit).toEqual([
      expect.objectContaining({
        action: 'session.refused',
        resource: { type: 'session_rule', id: 'no-send-after-untrusted' },
        details: expect.objectContaining({
          label: expect.objectContaining({
            label: 'untrusted',
            tool: 'get_issue',
            invocationId: f.jobs[0]!.invocationId,
          }),
        }),
      }),
    ]);
    await runCall(f.deps, call('create_gist', key(), [rule()]), createGist);
    expect(f.jobs).toHaveLength(2);
    expect(f.jobs[1]!.tool).toBe('create_gist');
  });

  it('a caller that changes x-username keeps its key session; the person keeps theirs under another key', async () => {
    const f = fakes();
    const keyId = `k-${randomUUID()}`;
    await runCall(f.deps, call('get_issue', { workspaceId: 'w1', keyId, userId: 'alice' }, [rule()]), readIssue);
    await workerLabels(f.jobs[0]!);
    const asBob = await runCall(
      f.deps,
      call('create_gist', { workspaceId: 'w1', keyId, userId: 'bob' }, [rule()]),
      createGist,
    );
    expect(toolResultValue(asBob).isError).toBe(true);
    const alice = { workspaceId: 'w1', keyId: `k-${randomUUID()}`, userId: 'alice' };
    const aliceElsewhere = await runCall(f.deps, call('create_gist', alice, [rule()]), createGist);
    expect(toolResultValue(aliceElsewhere).isError).toBe(true);
    expect(f.jobs).toHaveLength(1);
  });

  it('require_approval: the approval stage asks for it, naming the session rule and the read; nothing is enqueued', async () => {
    const f = fakes();
    const p = key();
    const rules = [rule({ action: 'require_approval', approval })];
    await runCall(f.deps, call('get_issue', p, rules), readIssue);
    await workerLabels(f.jobs[0]!);
    const out = await runCall(f.deps, call('create_gist', p, rules), createGist);
    expect(toolResultValue(out).isError).toBe(true);
    expect(text(out)).toContain('needs someone else\'s approval: session rule "No sending after untrusted content"');
    expect(text(out)).toContain('Approval request ');
    expect(f.jobs).toHaveLength(1);
    expect(f.audit.map((e) => e.action)).toEqual(['session.held', 'approval.requested']);
    const requested = f.audit[1]!.details as { rule: { session: { origin: { tool: string } } } };
    expect(requested.rule.session.origin.tool).toBe('get_issue');
  });

  it('log-only: the call goes on, and the trail says it would have been held', async () => {
    const f = fakes();
    const p = key();
    const rules = [rule({ action: 'require_approval', approval, enforce: false })];
    await runCall(f.deps, call('get_issue', p, rules), readIssue);
    await workerLabels(f.jobs[0]!);
    const out = await runCall(f.deps, call('create_gist', p, rules), createGist);
    expect(toolResultValue(out).isError).toBeUndefined();
    expect(f.jobs.map((j) => j.tool)).toEqual(['get_issue', 'create_gist']);
    expect(f.audit.map((e) => e.action)).toEqual(['session.would_hold']);
  });

  it('the session store unreachable: an enforced rule refuses (never lets through), a log-only one lets the call go', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    const f = fakes({ redis: down as unknown as RedisClient, prefix });
    const out = await runCall(f.deps, call('create_gist', key(), [rule()]), createGist);
    expect(text(out)).toContain('could not be read or updated');
    expect(f.records).toEqual([expect.objectContaining({ errorCode: 'session.unavailable' })]);
    await runCall(f.deps, call('create_gist', key(), [rule({ enforce: false })]), createGist);
    expect(f.jobs).toHaveLength(1);
    down.disconnect();
  });

  it('a cached answer (no job, no worker) labels the session from the edge; unlabelled, it does not leave', async () => {
    const cached = {
      ...readIssue,
      rules: { ...readIssue.rules, cache: { ttlMs: 60_000, scope: 'principal' as const } },
    };
    const hit = { content: [{ type: 'text' as const, text: 'the issue, cached' }] };
    const f = fakes();
    f.deps.resultCache = { lookUp: async () => ({ hit }) } as unknown as ToolCallDeps['resultCache'];
    const p = key();
    const out = await runCall(f.deps, call('get_issue', p, [rule()]), cached);
    expect(text(out)).toBe('the issue, cached');
    expect(f.jobs).toHaveLength(0);
    const refused = await runCall(f.deps, call('create_gist', p, [rule()]), createGist);
    expect(text(refused)).toContain('the result of "get_issue"');
    const down = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    const g = fakes({ redis: down as unknown as RedisClient, prefix });
    g.deps.resultCache = f.deps.resultCache;
    const withheld = await runCall(g.deps, call('get_issue', key(), [rule()]), cached);
    expect(toolResultValue(withheld).isError).toBe(true);
    expect(text(withheld)).toContain('could not be read or updated');
    expect(text(withheld)).not.toContain('the issue, cached');
    down.disconnect();
  });

  it('a tool with no labels: its job carries no session, unless a condition of the workspace counts calls', async () => {
    const f = fakes();
    const p = key();
    await runCall(f.deps, call('get_ticket', p, [rule()]), plain);
    expect(f.jobs[0]!.rules?.session).toBeUndefined();
    await runCall(f.deps, call('get_ticket', p, [rule()], true), plain);
    expect(f.jobs[1]!.rules?.session).toEqual({ scopes: [`k:${p.keyId}`], ttlSeconds: 600, countCalls: true });
  });
});
