import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  defaultSessionRule,
  redisKeys,
  sessionKey,
  type AuditEventInput,
  type CatalogTool,
  type ExecutionRecord,
  type GuardrailRule,
  type HttpOperationPlan,
  type SessionOfJob,
  type SessionRule,
  type ToolInvokeJob,
  type ToolStepPlan,
  type WorkspaceAccess,
} from '@toolplane/contracts';
import { compileGuardrails } from '@toolplane/guardrails';
import type { Logger } from '@toolplane/logger';
import { executionRecordId, readSession, type ExecutionRecordSink } from '@toolplane/queue';
import { compileWorkflowDocument } from '@toolplane/workflow';
import { Redis } from 'ioredis';
import type { Authorizer } from './auth.ts';
import type { PlanCache } from './catalog-cache.ts';
import type { DebugSessions } from './debug-sessions.ts';
import type { ExecutionLeases } from './execution-lease.ts';
import { RunningInvocations, type ProcessorDeps } from './invocation.ts';
import { configureOutbound, parseOutboundAllow } from './outbound-guard.ts';
import { createToolInvocationProcessor } from './processor.ts';
import type { RateLimits } from './rate-limits.ts';
import type { SecretResolver } from './secret-resolver.ts';
import { redisSessionStore, type SessionStore } from './session-labels.ts';
import { argumentGuardrailsReader } from './step-checks.ts';

// What a result brings into its caller's session (ADR 0078), through the real processor: a real upstream on 127.0.0.1,
// real Redis (its own prefix) for the sessions and the live catalogs the workflow steps read their tools' labels from.

const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: the sessions need Redis');
const prefix = `tsl${randomUUID().slice(0, 8)}`;
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
const silent = () => undefined;
const log = { debug: silent, info: silent, warn: silent, error: silent } as unknown as Logger;
const card = '4111111111111111';

let upstream: Server;
let base: string;
/** Requests that reached the upstream, by path. */
let reached: Record<string, number>;
let records: ExecutionRecord[];
let audit: AuditEventInput[];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = req.url ?? '/';
      reached[path] = (reached[path] ?? 0) + 1;
      const body = path === '/card' ? { owner: 'jane', card } : { page: 'written by someone outside' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  configureOutbound({ policy: parseOutboundAllow('127.0.0.1'), maxRedirects: 0, connectTimeoutMs: 2_000 });
});

afterAll(async () => {
  await new Promise<void>((r) => upstream.close(() => r()));
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

beforeEach(() => {
  reached = {};
  records = [];
  audit = [];
});

const httpPlan = (path: string): HttpOperationPlan => ({
  kind: 'http',
  method: 'POST',
  url: `${base}${path}`,
  params: [],
  authHeaders: {},
  secrets: {},
});

interface Setup {
  entry: CatalogTool;
  guardrails?: GuardrailRule[];
  sessions?: SessionStore;
  access?: WorkspaceAccess;
}

function processorFor({ entry, guardrails = [], sessions, access }: Setup) {
  const compiled = compileGuardrails(guardrails);
  const deps: ProcessorDeps = {
    plans: { get: async () => entry, guardrails: () => compiled } as unknown as PlanCache,
    secrets: { resolve: async () => undefined } as unknown as SecretResolver,
    rateLimits: { take: async () => ({ ok: true }) } as unknown as RateLimits,
    authorizer: {} as Authorizer,
    limits: { timeoutMs: 5_000, maxResponseBytes: 1_000_000 },
    log,
    records: { add: (r: ExecutionRecord) => void records.push(r) } as unknown as ExecutionRecordSink,
    debug: { active: async () => undefined } as unknown as DebugSessions,
    running: new RunningInvocations(),
    leases: { graceMs: 60_000, sends: async () => 0, mark: async () => undefined } as unknown as ExecutionLeases,
    ...(sessions ? { sessions } : {}),
    workspaceAccess: async () => access,
    argumentGuardrails: argumentGuardrailsReader(redis, prefix),
    audit: { add: (e) => void audit.push(e) },
  };
  return createToolInvocationProcessor(deps);
}

const tool = (name: string, plan: CatalogTool['plan']): CatalogTool => ({
  tool: { name, description: name, inputSchema: { type: 'object' } },
  plan,
});

function jobOf(tool: string, session?: Partial<SessionOfJob>): ToolInvokeJob {
  const workspaceId = `w-${randomUUID()}`;
  return {
    v: 2,
    invocationId: randomUUID(),
    serverId: 'srv-docs',
    catalogVersion: 1,
    tool,
    arguments: {},
    principal: { workspaceId, keyId: 'k1' },
    stepCaller: { identity: { keyId: 'k1' }, condition: { key_id: 'k1' } },
    deadlineAt: Date.now() + 30_000,
    replyTo: 'edge',
    ...(session ? { rules: { session: { scopes: ['k:k1'], ttlSeconds: 600, ...session } } } : {}),
  };
}

const sessionOf = (job: ToolInvokeJob) =>
  readSession(redis, { prefix, workspaceId: job.principal.workspaceId, scopes: ['k:k1'] });
const sessionKeys = (job: ToolInvokeJob) => redis.keys(sessionKey(prefix, job.principal.workspaceId, '*'));

const store = () => redisSessionStore(redis, prefix);

const piiRule = (action: GuardrailRule['action'], enforce: boolean): GuardrailRule => ({
  id: `pii-${action}`,
  name: `cards-${action}`,
  detectors: [{ kind: 'pii', types: ['card'] }],
  action,
  enforce,
});

describe('what a result brings into its session', () => {
  it('the declared labels, with their origin, are in the session before the result is returned', async () => {
    const order: string[] = [];
    const real = store();
    const sessions: SessionStore = {
      ...real,
      add: async (...args) => {
        await real.add(...args);
        order.push('written');
      },
    };
    const job = jobOf('read_page', { labels: [{ label: 'untrusted', source: 'declared' }], via: 'mcp-1' });
    const r = await processorFor({ entry: tool('read_page', httpPlan('/page')), sessions })(job);
    order.push('returned');
    expect(r.ok && !r.result.isError).toBe(true);
    expect(order).toEqual(['written', 'returned']);
    const view = await sessionOf(job);
    expect(view.labels.get('untrusted')).toEqual({
      label: 'untrusted',
      source: 'declared',
      tool: 'read_page',
      serverId: 'srv-docs',
      invocationId: executionRecordId(job.invocationId),
      at: expect.any(Number),
      via: 'mcp-1',
    });
    expect(view.labels.has('private')).toBe(false);
    // The call's record lists what it brought.
    expect(records).toMatchObject([{ outcome: 'success', labels: [{ label: 'untrusted', source: 'declared' }] }]);
  });

  it('a card number a pii guardrail found (log-only, or redacted) brings `private`, from the guardrail, with its detector', async () => {
    for (const rule of [piiRule('block', false), piiRule('redact', true)]) {
      const job = jobOf('get_account', {});
      const run = processorFor({
        entry: tool('get_account', httpPlan('/card')),
        guardrails: [rule],
        sessions: store(),
      });
      const r = await run(job);
      expect(r.ok && !r.result.isError).toBe(true);
      expect((await sessionOf(job)).labels.get('private')).toMatchObject({
        label: 'private',
        source: 'guardrail',
        detector: 'pii:card',
        tool: 'get_account',
      });
    }
    // Found twice (structured content, text): listed once.
    expect(records.map((r) => r.labels)).toEqual([
      [{ label: 'private', source: 'guardrail', detector: 'pii:card' }],
      [{ label: 'private', source: 'guardrail', detector: 'pii:card' }],
    ]);
  });

  it('a call without `rules.session` writes no session key (and touches no store)', async () => {
    let writes = 0;
    const sessions: SessionStore = { ...store(), add: async () => void writes++ };
    const job = jobOf('get_account');
    const run = processorFor({
      entry: tool('get_account', httpPlan('/card')),
      guardrails: [piiRule('block', false)],
      sessions,
    });
    expect(await run(job)).toMatchObject({ ok: true });
    expect(writes).toBe(0);
    expect(await sessionKeys(job)).toEqual([]);
    expect(records[0]!.labels).toBeUndefined();
  });

  it('a withheld result brings nothing of its content: no declared label, no finding', async () => {
    const job = jobOf('get_account', { labels: [{ label: 'untrusted', source: 'classification' }] });
    const run = processorFor({
      entry: tool('get_account', httpPlan('/card')),
      guardrails: [piiRule('block', true)],
      sessions: store(),
    });
    const r = await run(job);
    expect(r.ok && r.result.isError).toBe(true);
    expect(reached['/card']).toBe(1);
    expect(await sessionKeys(job)).toEqual([]);
  });

  it('a call no upstream answered brings nothing', async () => {
    const job = jobOf('read_page', { labels: [{ label: 'untrusted', source: 'declared' }], countCalls: true });
    const plan = { ...httpPlan('/page'), url: 'http://127.0.0.1:1/page' };
    const r = await processorFor({ entry: tool('read_page', plan), sessions: store() })(job);
    expect(r.ok && r.result.isError).toBe(true);
    expect(await sessionKeys(job)).toEqual([]);
  });

  it('Redis unreachable: fails closed, nothing of the result returned, the record says why', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    down.on('error', silent);
    const job = jobOf('get_account', { labels: [{ label: 'untrusted', source: 'declared' }] });
    const run = processorFor({
      entry: tool('get_account', httpPlan('/card')),
      guardrails: [piiRule('flag', false)],
      sessions: redisSessionStore(down, prefix),
    });
    const r = await run(job);
    expect(r).toEqual({
      v: 1,
      invocationId: job.invocationId,
      ok: false,
      error: {
        kind: 'transient',
        code: 'state.unavailable',
        message: 'The session could not be updated; nothing about this result was returned; retry.',
      },
    });
    expect(JSON.stringify(r)).not.toContain(card);
    expect(reached['/card']).toBe(1);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      outcome: 'failed',
      errorCode: 'state.unavailable',
      message: expect.stringContaining("the caller's session could not be updated"),
      guardrails: expect.arrayContaining([expect.objectContaining({ detector: 'pii:card', action: 'would_flag' })]),
    });
    down.disconnect();
  });
});

/** A workflow reading a page of outsiders, then sending mail: two steps on two hosted servers' tools. */
function workflowEntry(): CatalogTool {
  const doc = {
    flower: '0.1',
    id: 'doc',
    flows: [
      {
        id: 'relay',
        inputs: { type: 'object', properties: {} },
        steps: [
          { id: 'read', request: { method: 'POST', url: 'toolplane:mcp_servers/docs/tools/read_page', body: {} } },
          { id: 'send', request: { method: 'POST', url: 'toolplane:mcp_servers/mail/tools/send_mail', body: {} } },
        ],
      },
    ],
  };
  const { ir } = compileWorkflowDocument(doc);
  const step = (server: string, name: string, path: string): ToolStepPlan => ({
    plan: httpPlan(path),
    name,
    serverId: `srv-${server}`,
    serverName: server,
  });
  return tool('relay', {
    kind: 'workflow',
    deploymentId: 'dep-1',
    workflowId: 'relay',
    ir: ir as unknown as Record<string, unknown>,
    secretNames: {},
    tools: {
      'toolplane:mcp_servers/docs/tools/read_page': step('docs', 'read_page', '/page'),
      'toolplane:mcp_servers/mail/tools/send_mail': step('mail', 'send_mail', '/send'),
    },
  });
}

/** The hosted servers' live catalogs, their tools labelled (as the control plane publishes them). */
async function publishCatalogs() {
  const keys = redisKeys(prefix);
  const catalog = (serverId: string, name: string, labels: CatalogTool['labels']) =>
    JSON.stringify({ v: 1, serverId, version: 1, tools: [{ ...tool(name, httpPlan('/x')), labels }] });
  await redis.set(
    keys.catalog('srv-docs'),
    catalog('srv-docs', 'read_page', [{ label: 'untrusted', source: 'declared' }]),
  );
  await redis.set(
    keys.catalog('srv-mail'),
    catalog('srv-mail', 'send_mail', [{ label: 'external_write', source: 'classification' }]),
  );
}

function accessWith(job: ToolInvokeJob, rule: SessionRule): WorkspaceAccess {
  const grant = { id: 'p1', name: 'all', principals: [{ type: 'api_key' as const, value: 'k1' }], servers: ['*'] };
  return {
    v: 1,
    workspaceId: job.principal.workspaceId,
    policies: [{ ...grant, tools: ['*'] }],
    session: { ttlSeconds: 600, rules: [rule] },
  };
}

describe('a workflow in its caller’s session', () => {
  it('step 1 reads untrusted content; step 2 on an external_write tool is refused by an enforced rule, nothing sent', async () => {
    await publishCatalogs();
    const job = { ...jobOf('relay', {}), serverId: 'srv-flows' };
    const rule: SessionRule = {
      id: 'no-send-after-untrusted',
      after: ['untrusted'],
      toolLabels: ['external_write'],
      action: 'refuse',
      enforce: true,
    };
    const run = processorFor({ entry: workflowEntry(), sessions: store(), access: accessWith(job, rule) });
    const r = await run(job);
    expect(reached).toEqual({ '/page': 1 });
    expect(r.ok && r.result.isError).toBe(true);
    const text = r.ok ? String(r.result.content[0]?.text) : '';
    expect(text).toContain('Refused by session rule no-send-after-untrusted: "send_mail" sends data out');
    expect(text).toContain('from the result of "read_page"');
    expect((await sessionOf(job)).labels.get('untrusted')).toMatchObject({
      source: 'declared',
      tool: 'read_page',
      serverId: 'srv-docs',
      invocationId: executionRecordId(job.invocationId),
    });
    expect(audit.map((e) => [e.action, e.resource, e.details?.tool])).toEqual([
      ['session.refused', { type: 'session_rule', id: 'no-send-after-untrusted' }, 'send_mail'],
    ]);
    expect(audit[0]!.details).toMatchObject({ label: { label: 'untrusted', tool: 'read_page' } });
  });

  it('a rule asking for approval refuses the step (a workflow cannot wait), saying to call the tool directly', async () => {
    await publishCatalogs();
    const job = { ...jobOf('relay', {}), serverId: 'srv-flows' };
    const rule = { ...defaultSessionRule({ apiKeys: ['k-admin'] }, 'v1'), enforce: true };
    const r = await processorFor({ entry: workflowEntry(), sessions: store(), access: accessWith(job, rule) })(job);
    expect(reached).toEqual({ '/page': 1 });
    expect(r.ok ? String(r.result.content[0]?.text) : '').toContain(
      'A workflow step cannot wait for an approval: call the tool directly to ask for it.',
    );
    expect(audit.map((e) => e.action)).toEqual(['session.refused']);
  });

  it('log only: step 2 runs, `session.would_hold` recorded', async () => {
    await publishCatalogs();
    const job = { ...jobOf('relay', {}), serverId: 'srv-flows' };
    const rule = defaultSessionRule({ apiKeys: ['k-admin'] }, 'v1');
    const r = await processorFor({ entry: workflowEntry(), sessions: store(), access: accessWith(job, rule) })(job);
    expect(r.ok && !r.result.isError).toBe(true);
    expect(reached).toEqual({ '/page': 1, '/send': 1 });
    // The workflow's record lists what its steps brought (their origin names that record).
    expect(records.map((rec) => rec.labels)).toEqual([[{ label: 'untrusted', source: 'declared' }]]);
    expect(audit.map((e) => [e.action, e.resource.id, e.details?.tool])).toEqual([
      ['session.would_hold', 'private-or-untrusted-then-send', 'send_mail'],
    ]);
  });

  it('what a step brought cannot be written (Redis down): the run stops there, its result unused, nothing more sent', async () => {
    await publishCatalogs();
    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    down.on('error', silent);
    const job = { ...jobOf('relay', {}), serverId: 'srv-flows' };
    const rule = defaultSessionRule({ apiKeys: ['k-admin'] }, 'v1');
    const sessions = redisSessionStore(down, prefix);
    const r = await processorFor({ entry: workflowEntry(), sessions, access: accessWith(job, rule) })(job);
    expect(reached).toEqual({ '/page': 1 });
    expect(r.ok ? String(r.result.content[0]?.text) : '').toContain(
      'the caller\'s session could not be updated with what the step\'s tool "read_page" brought',
    );
    expect(r.ok ? JSON.stringify(r.result) : '').not.toContain('written by someone outside');
    down.disconnect();
  });
});
