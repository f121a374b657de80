import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { CatalogTool, ExecutionRecord, HttpOperationPlan, ToolInvokeJob } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { ExecutionRecordSink, ReceivedJob } from '@toolplane/queue';
import type { Authorizer } from './auth.ts';
import type { PlanCache } from './catalog-cache.ts';
import type { DebugSessions } from './debug-sessions.ts';
import type { ExecutionLeases } from './execution-lease.ts';
import { configureOutbound, parseOutboundAllow } from './outbound-guard.ts';
import { createToolInvocationProcessor } from './processor.ts';
import { RunningInvocations } from './invocation.ts';
import { createAbandonedJobHandler } from './abandoned-jobs.ts';
import type { RateLimits } from './rate-limits.ts';
import type { SecretResolver } from './secret-resolver.ts';

// The execution lease inside the processor: written before the request leaves (except for a call safe to
// send again, which writes none), read on re-delivery, and the decision it leads to (send, send again with
// the same idempotency key, or "outcome unknown").

let upstream: Server;
let base: string;
/** What reached the upstream, in order, with the lease's value at that moment. */
let sent: { method: string; headers: IncomingHttpHeaders; leaseAtArrival: number }[];
let leases: Map<string, number>;
let records: ExecutionRecord[];
/** The fake Redis refuses to write leases. */
let leaseWritesFail: boolean;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      sent.push({ method: req.method!, headers: req.headers, leaseAtArrival: leases.get('inv-1') ?? 0 });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  configureOutbound({ policy: parseOutboundAllow('127.0.0.1'), maxRedirects: 0, connectTimeoutMs: 2_000 });
});

afterAll(async () => {
  await new Promise<void>((r) => upstream.close(() => r()));
});

beforeEach(() => {
  sent = [];
  leases = new Map();
  records = [];
  leaseWritesFail = false;
});

function processorFor(
  plan: Partial<HttpOperationPlan>,
  leaseStore?: { graceMs: number; sends: (id: string) => Promise<number>; mark: () => Promise<void> },
  plans?: Pick<PlanCache, 'get'>,
) {
  const entry: CatalogTool = {
    tool: { name: 't', description: 'd', inputSchema: { type: 'object' } },
    plan: { kind: 'http', method: 'POST', url: `${base}/things`, params: [], authHeaders: {}, secrets: {}, ...plan },
  };
  const fakeLeases = {
    graceMs: 60_000,
    sends: async (id: string) => leases.get(id) ?? 0,
    mark: async (id: string, delivery: number) => {
      if (leaseWritesFail) throw new Error('Redis is gone');
      leases.set(id, delivery);
    },
  };
  const silent = () => undefined;
  const deps = {
    plans: { guardrails: async () => [], ...(plans ?? { get: async () => entry }) } as unknown as PlanCache,
    secrets: { resolve: async () => undefined } as unknown as SecretResolver,
    rateLimits: { take: async () => ({ ok: true }) } as unknown as RateLimits,
    authorizer: {} as Authorizer,
    limits: { timeoutMs: 5_000, maxResponseBytes: 1_000_000 },
    log: { debug: silent, info: silent, warn: silent, error: silent } as unknown as Logger,
    records: { add: (r: ExecutionRecord) => void records.push(r) } as unknown as ExecutionRecordSink,
    debug: { active: async () => undefined } as unknown as DebugSessions,
    running: new RunningInvocations(),
    leases: (leaseStore ?? fakeLeases) as unknown as ExecutionLeases,
  };
  return { process: createToolInvocationProcessor(deps), abandoned: createAbandonedJobHandler(deps) };
}

const job = (deadlineInMs = 10_000): ToolInvokeJob => ({
  v: 2,
  invocationId: 'inv-1',
  serverId: 's',
  catalogVersion: 1,
  tool: 't',
  arguments: {},
  principal: { workspaceId: 'w' },
  deadlineAt: Date.now() + deadlineInMs,
  replyTo: 'edge',
});
const delivery = (n: number): ReceivedJob => ({ timestamp: Date.now(), attemptsMade: 0, attemptsStarted: n });

describe('the execution lease in the processor', () => {
  it('first delivery: writes the lease before the request leaves, and sends', async () => {
    const { process } = processorFor({});
    const r = await process(job(), delivery(1));
    expect(r.ok && !r.result.isError).toBe(true);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.leaseAtArrival).toBe(1);
    expect(records[0]).toMatchObject({ outcome: 'success', steps: [{ attempt: 1 }] });
  });

  it('sends nothing when the lease cannot be written', async () => {
    leaseWritesFail = true;
    const r = await processorFor({}).process(job(), delivery(1));
    expect(sent).toHaveLength(0);
    expect(r.ok).toBe(false);
    expect(records[0]).toMatchObject({ outcome: 'failed' });
  });

  it('an operation safe to send again writes no lease: a GET, or a POST with an idempotency key, is sent without one', async () => {
    // Its re-delivery sends it again whatever a lease says (ADR 0015): a lease would only cost a Redis write.
    let marks = 0;
    const counted = {
      graceMs: 60_000,
      sends: async () => 0,
      mark: async () => void marks++,
    };
    for (const plan of [
      { method: 'GET' as const },
      { method: 'POST' as const, idempotencyKeyHeader: 'Idempotency-Key' },
    ]) {
      const r = await processorFor(plan, counted).process(job(), delivery(1));
      expect(r.ok && !r.result.isError).toBe(true);
    }
    expect(sent).toHaveLength(2);
    expect(marks).toBe(0);
    // Redis refusing writes does not hold such a call back either.
    leaseWritesFail = true;
    const refused = await processorFor({ method: 'GET' }).process(job(), delivery(1));
    expect(refused.ok && !refused.result.isError).toBe(true);
    expect(sent).toHaveLength(3);
    expect(leases.size).toBe(0);
    expect(records.map((r) => r.steps[0]?.attempt)).toEqual([1, 1, 1]);
  });

  it('re-delivery of a POST that may have been sent: not sent again, "outcome unknown" naming the invocation', async () => {
    leases.set('inv-1', 1);
    const { process } = processorFor({});
    const r = await process(job(), delivery(2));
    expect(sent).toHaveLength(0);
    expect(r).toMatchObject({ ok: false, error: { kind: 'transient', code: 'tool.outcome_unknown' } });
    expect(!r.ok && r.error.message).toContain('inv-1');
    expect(records[0]).toMatchObject({ outcome: 'unknown', errorCode: 'tool.outcome_unknown' });
  });

  it('re-delivery without a lease: nothing had left, so it is sent', async () => {
    const { process } = processorFor({});
    const r = await process(job(), delivery(2));
    expect(r.ok).toBe(true);
    expect(sent).toHaveLength(1);
  });

  it("re-delivery of an idempotent operation (by method, or declared): sent again, numbered by the queue's deliveries", async () => {
    for (const plan of [{ method: 'PUT' as const }, { method: 'POST' as const, idempotent: true }]) {
      sent = [];
      records = [];
      const r = await processorFor(plan).process(job(), delivery(2));
      expect(r.ok).toBe(true);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.leaseAtArrival).toBe(0);
      expect(records[0]).toMatchObject({ outcome: 'success', steps: [{ attempt: 2 }] });
    }
    // A lease left by an older worker (which wrote one for every call) changes nothing.
    leases.set('inv-1', 1);
    await processorFor({ method: 'GET' }).process(job(), delivery(3));
    expect(sent).toHaveLength(2);
    expect(records[1]).toMatchObject({ outcome: 'success', steps: [{ attempt: 3 }] });
  });

  it('a PUT declared not idempotent is not sent again', async () => {
    leases.set('inv-1', 1);
    const r = await processorFor({ method: 'PUT', idempotent: false }).process(job(), delivery(2));
    expect(sent).toHaveLength(0);
    expect(r).toMatchObject({ ok: false, error: { code: 'tool.outcome_unknown' } });
  });

  it('an operation with an idempotency key: the same key on the first delivery and the re-delivery', async () => {
    const { process } = processorFor({ idempotencyKeyHeader: 'Idempotency-Key' });
    await process(job(), delivery(1));
    await process(job(), delivery(2));
    expect(sent).toHaveLength(2);
    expect(sent[0]!.headers['idempotency-key']).toBe('inv-1');
    expect(sent[1]!.headers['idempotency-key']).toBe('inv-1');
  });

  it('re-delivery past the deadline: "unknown" when the lease exists, "expired in the queue" when not', async () => {
    leases.set('inv-1', 1);
    const { process } = processorFor({});
    await process(job(-1), delivery(2));
    leases.clear();
    await process(job(-1), delivery(2));
    expect(sent).toHaveLength(0);
    expect(records.map((r) => [r.outcome, r.message])).toEqual([
      ['unknown', expect.stringMatching(/timed out/)],
      ['rejected', 'expired in the queue'],
    ]);
  });

  it('re-delivery past the deadline of a call safe to send again: "unknown" (it writes no lease that could tell)', async () => {
    const { process } = processorFor({ method: 'GET' });
    await process(job(-1), delivery(2));
    // A first delivery that late sent nothing.
    await process(job(-1), delivery(1));
    // Its plan unreadable (the catalog unreachable): whether it left cannot be told either.
    const unreadable = { get: async () => Promise.reject(new Error('control plane away')) };
    await processorFor({ method: 'POST' }, undefined, unreadable).process(job(-1), delivery(2));
    expect(sent).toHaveLength(0);
    expect(records.map((r) => r.outcome)).toEqual(['unknown', 'rejected', 'unknown']);
  });

  it('a job the queue gave up on: "unknown" with a lease, "failed" (nothing sent) without', async () => {
    const { abandoned } = processorFor({});
    leases.set('inv-1', 2);
    expect(await abandoned(job())).toMatchObject({ ok: false, error: { code: 'tool.outcome_unknown' } });
    leases.clear();
    expect(await abandoned(job())).toMatchObject({ ok: false, error: { code: 'queue.unavailable' } });
    expect(records.map((r) => r.outcome)).toEqual(['unknown', 'failed']);
    expect(sent).toHaveLength(0);
  });

  it('a job the queue gave up on, safe to send again: "unknown" (no lease tells whether it left)', async () => {
    expect(await processorFor({ method: 'GET' }).abandoned(job())).toMatchObject({
      ok: false,
      error: { code: 'tool.outcome_unknown' },
    });
    // Its plan unreadable: unknown too; a tool its catalog version lacks was never sent.
    const unreadable = { get: async () => Promise.reject(new Error('control plane away')) };
    expect(await processorFor({}, undefined, unreadable).abandoned(job())).toMatchObject({
      error: { code: 'tool.outcome_unknown' },
    });
    const absent = { get: async () => undefined };
    expect(await processorFor({ method: 'GET' }, undefined, absent).abandoned(job())).toMatchObject({
      error: { code: 'queue.unavailable' },
    });
    expect(records.map((r) => r.outcome)).toEqual(['unknown', 'unknown', 'failed']);
  });
});
