import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { toolResultValue, type DelegatedToken, type QuotaRule, type ToolInvokeJob } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { QuotaMeter, type ExecutionRecordSink, type InvocationClient } from '@toolplane/queue';
import { Redis } from 'ioredis';
import type { ToolCall, ToolCallDeps } from '../calls/call-types.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';
import { readStages } from './order.ts';
import { readTool, runCall } from './run.ts';

/**
 * A read of an attached server's resource (or prompt, or completion) enters the call pipeline: the stages marked
 * `reads` (the quota) decide it before its job, which carries the `request`; a quota on every tool counts reads, a
 * quota naming tools does not. Real Redis (own prefix): the counters a tool call charges.
 */

const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the quota meter needs Redis');
const prefix = `tpr${randomUUID().slice(0, 8)}`;
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const quota = (id: string, tools?: string[]): QuotaRule => ({
  id,
  name: id,
  match: tools ? { tools } : {},
  counts: 'calls',
  limit: 1,
  window: 'hour',
  enforce: true,
});

function fakes(rules: QuotaRule[]) {
  const jobs: ToolInvokeJob[] = [];
  const invocations = {
    edgeId: 'edge-test',
    invoke: async (job: ToolInvokeJob, _signal: unknown, onQueued?: (err?: unknown) => void) => {
      jobs.push(job);
      onQueued?.();
      const mcpResult = { contents: [{ uri: 'file:///a', text: 'a' }] };
      return { v: 1 as const, invocationId: job.invocationId, ok: true as const, result: { content: [], mcpResult } };
    },
  } as unknown as InvocationClient;
  const deps: ToolCallDeps = {
    invocations,
    records: { add: () => undefined } as unknown as ExecutionRecordSink,
    timeoutMs: 1_000,
    log: { warn: () => undefined, info: () => undefined } as unknown as Logger,
    quotas: { meter: new QuotaMeter(redis, prefix, 60), failOpen: false },
  };
  const workspaceId = `w-${randomUUID()}`;
  const call: ToolCall = {
    loaded: { catalog: { serverId: 's1', workspaceId, version: 1, name: 'srv' } } as unknown as LoadedCatalog,
    principal: { workspaceId, keyId: 'k1' },
    name: 'file:///a',
    arguments: {},
    requestId: 1,
    trace: { traceparent: undefined, tracestate: undefined, protocolVersion: undefined },
    request: {},
    facts: { quota: { workspaceId, rules, caller: { keyId: 'k1' } } },
  };
  return { jobs, deps, call };
}

const read = { method: 'resources/read' as const, server: 'files', params: { uri: 'file:///a' } };
const readOnce = (f: ReturnType<typeof fakes>) =>
  runCall(f.deps, f.call, readTool(f.call.name), { stages: readStages, read }).then(toolResultValue);

describe('a read of an attached server in the call pipeline', () => {
  it('a quota on every tool counts it: the second read is refused and no job is queued for it', async () => {
    const f = fakes([quota('all-calls')]);
    const first = await readOnce(f);
    expect(first.mcpResult).toEqual({ contents: [{ uri: 'file:///a', text: 'a' }] });
    expect(f.jobs).toHaveLength(1);
    expect(f.jobs[0]).toMatchObject({ v: 2, request: read, tool: 'file:///a' });
    expect(f.jobs[0]).not.toHaveProperty('serializedResult');
    const second = await readOnce(f);
    expect(second.isError).toBe(true);
    expect(second._meta).toMatchObject({ 'toolplane/quota': { quota: 'all-calls', limit: 1 } });
    expect(f.jobs).toHaveLength(1);
  });

  it('a quota naming tools does not count it', async () => {
    const f = fakes([quota('refunds-only', ['refund'])]);
    await readOnce(f);
    await readOnce(f);
    expect(f.jobs).toHaveLength(2);
  });
});

/** A narrowed token (ADR 0084) with `calls` calls left, listing `tools`, under `conditions`. */
function narrowed(calls: number, extra: Partial<DelegatedToken> = {}) {
  const left = { calls };
  const token = {
    v: 1,
    jti: 't1',
    workspaceId: 'w1',
    sub: 'api_key:k1',
    parent: { kind: 'key', keyId: 'k1', keyHash: 'h' },
    chain: ['t1'],
    act: { sub: 'agent' },
    iat: 0,
    exp: 4_000_000_000,
    servers: null,
    tools: null,
    conditions: [],
    limits: [{ jti: 't1', calls }],
    ...extra,
  } as DelegatedToken;
  const delegation = {
    token,
    actors: ['api_key:k1', 'agent'],
    charge: () => Promise.resolve(left.calls-- > 0),
    refund: () => Promise.resolve(void left.calls++),
    spent: () => Promise.resolve(left.calls <= 0),
    chargeBeyondGrants: () => Promise.resolve(true),
    refundBeyondGrants: () => Promise.resolve(),
  };
  return { left, delegation };
}

describe('a read under a narrowed token (issue #89)', () => {
  it('spends one of its calls: once they are spent, a read is refused and no job is queued', async () => {
    const f = fakes([]);
    const { delegation } = narrowed(1);
    const call = { ...f.call, facts: { ...f.call.facts, delegation } };
    const run = () => runCall(f.deps, call, readTool(call.name), { stages: readStages, read }).then(toolResultValue);
    expect((await run()).mcpResult).toBeDefined();
    const spent = await run();
    expect(spent.isError).toBe(true);
    expect(JSON.stringify(spent.content)).toMatch(/has no calls left/);
    expect(f.jobs).toHaveLength(1);
  });

  it('meets its conditions: one on arguments is false for a read, which is refused unsent and uncharged', async () => {
    const f = fakes([]);
    const { left, delegation } = narrowed(5, { conditions: ['args.amount <= 100'] });
    const call = { ...f.call, facts: { ...f.call.facts, delegation } };
    const refused = await runCall(f.deps, call, readTool(call.name), { stages: readStages, read }).then(
      toolResultValue,
    );
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toMatch(/only when args.amount <= 100/);
    expect(f.jobs).toHaveLength(0);
    expect(left.calls).toBe(5);
  });
});
