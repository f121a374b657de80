import { describe, expect, it } from '@jest/globals';
import { decideAccess } from '@toolplane/access';
import { toolResultValue, type AuditEventInput, type Catalog, type ToolInvokeJob } from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import type { ExecutionRecordSink, InvocationClient } from '@toolplane/queue';
import type { LoadedCatalog, LoadedTool } from '../state/catalogs.ts';
import type { Caller } from '../identity/authenticate.ts';
import { configHeaders, edgeCallContext, requestFacts, type TraceFacts } from './call-context.ts';
import { MASKED, type Confirmation, type ConfirmationPrompt } from '../confirmation/confirmation.ts';
import { ShadowEventBudget } from '../governance/shadow-decisions.ts';
import { callTool as callToolOutcome } from './tool-calls.ts';
import { toolCall, type ToolCall, type ToolCallDeps } from './call-types.ts';

/** `callTool`'s result as a value. */
const callTool = async (...args: Parameters<typeof callToolOutcome>) => toolResultValue(await callToolOutcome(...args));

/**
 * What a job carries from the caller's HTTP request: `Config-*` headers for workflow tools only, the
 * OAuth token only for workflow tools whose server opted in; nothing for other tools.
 */

function fakes() {
  const jobs: ToolInvokeJob[] = [];
  const invocations = {
    edgeId: 'edge-test',
    invoke: async (job: ToolInvokeJob) => {
      jobs.push(job);
      return { v: 1 as const, invocationId: job.invocationId, ok: true as const, result: { content: [] } };
    },
  } as unknown as InvocationClient;
  const deps: ToolCallDeps = {
    invocations,
    records: { add: () => undefined } as unknown as ExecutionRecordSink,
    timeoutMs: 1_000,
    log: { warn: () => undefined } as unknown as Logger,
  };
  return { jobs, deps };
}

const tool = (name: string, workflow?: LoadedTool['workflow']): [string, LoadedTool] => [
  name,
  {
    def: { name, description: name, inputSchema: { type: 'object' } },
    validate: (() => true) as unknown as LoadedTool['validate'],
    rules: {},
    ...(workflow ? { workflow } : {}),
  },
];

function loaded(mode: 'NORMAL' | 'SMART'): LoadedCatalog {
  const tools = new Map([
    tool('http_tool'),
    tool('wf_tool', { callerToken: false }),
    tool('wf_token', { callerToken: true }),
  ]);
  const catalog = {
    v: 1,
    serverId: 's1',
    workspaceId: 'w1',
    version: 3,
    name: 'srv',
    isPublic: false,
    mode,
    tools: [],
  } as unknown as Catalog;
  const meta = mode === 'SMART' ? new Map([tool('execute_tool')]) : new Map<string, LoadedTool>();
  return { catalog, tools, meta, list: [] };
}

const principal = { workspaceId: 'w1', subject: 'alice' };
const request = requestFacts(
  {
    'config-tenant': 'acme',
    'config-org_id': 'o-1',
    'x-config-not': 'no',
    config: 'no',
    'config-': 'no',
    authorization: 'Bearer tok-1',
  },
  'tok-1',
);

const untraced: TraceFacts = { traceparent: undefined, tracestate: undefined, protocolVersion: undefined };

/** A call as the MCP layer builds it (`loaded('NORMAL')`, alice, no request facts unless given). */
const call = (name: string, extra: Partial<ToolCall> = {}): ToolCall => ({
  loaded: loaded('NORMAL'),
  principal,
  name,
  arguments: {},
  requestId: 1,
  trace: untraced,
  request: {},
  facts: {},
  ...extra,
});

describe('callTool: what goes from the caller request into the job', () => {
  it('Config-* headers (name without the prefix) for workflow tools; nothing for HTTP tools', async () => {
    const { jobs, deps } = fakes();
    await callTool(deps, call('http_tool', { request }));
    await callTool(deps, call('wf_tool', { request }));
    expect(jobs[0]).not.toHaveProperty('config');
    expect(jobs[0]).not.toHaveProperty('callerToken');
    expect(jobs[1]!.config).toEqual({ tenant: 'acme', org_id: 'o-1' });
    expect(jobs[1]).not.toHaveProperty('callerToken'); // the server did not opt in
  });

  it('the OAuth token only for an opted-in workflow tool, and only when the caller used one', async () => {
    const { jobs, deps } = fakes();
    await callTool(deps, call('wf_token', { request }));
    await callTool(
      deps,
      call('wf_token', {
        principal: { workspaceId: 'w1', keyId: 'k1' },
        request: requestFacts({ 'x-api-key': 'tp_secret' }),
      }),
    );
    expect(jobs[0]!.callerToken).toBe('tok-1');
    expect(jobs[1]).not.toHaveProperty('callerToken');
    expect(jobs[1]).not.toHaveProperty('config');
    expect(JSON.stringify(jobs[1])).not.toContain('tp_secret');
  });

  it('SMART execute_tool passes them on to the workflow it runs', async () => {
    const { jobs, deps } = fakes();
    await callTool(
      deps,
      call('execute_tool', { loaded: loaded('SMART'), arguments: { name: 'wf_tool', arguments: {} }, request }),
    );
    expect(jobs[0]).toMatchObject({ tool: 'wf_tool', config: { tenant: 'acme', org_id: 'o-1' } });
  });

  it('configHeaders: undefined when there are none; repeated headers joined', () => {
    expect(configHeaders({ 'x-api-key': 'k' })).toBeUndefined();
    expect(configHeaders(undefined)).toBeUndefined();
    expect(configHeaders({ 'config-a': ['1', '2'] })).toEqual({ a: '1, 2' });
  });

  it('requestFacts: read once from the headers; nothing but Config-*, the OAuth token and X-Upstream-Authorization', () => {
    expect(requestFacts({ 'x-api-key': 'k', authorization: 'Bearer t' })).toEqual({});
    expect(requestFacts({ 'config-a': 'x', 'x-upstream-authorization': 'Bearer u' }, 'tok')).toEqual({
      config: { a: 'x' },
      accessToken: 'tok',
      upstreamAuthorization: 'Bearer u',
    });
    expect(requestFacts({ 'x-upstream-authorization': '  ' })).toEqual({});
  });
});

describe('toolCall: one value per call, made whole from the request context', () => {
  const caller: Caller = {
    principal,
    loaded: loaded('NORMAL'),
    clientId: 'oauth:alice',
    credential: { kind: 'token' },
    accessToken: 'tok-1',
    facts: {},
  };
  const headers: Record<string, string> = { 'config-tenant': 'acme', traceparent: 'ignored-while-tracing-is-off' };
  const ctx = edgeCallContext({ headers, header: (name) => headers[name] }, caller, 'session-1');

  it('takes the caller, the catalog and the request facts of its context', () => {
    const signal = new AbortController().signal;
    const made = toolCall(ctx, { id: 7, name: 'wf_tool', args: undefined }, signal);
    expect(made).toEqual({
      loaded: caller.loaded,
      principal,
      name: 'wf_tool',
      arguments: {},
      requestId: 7,
      trace: ctx,
      signal,
      live: undefined,
      request: { config: { tenant: 'acme' }, accessToken: 'tok-1' },
      multiRound: undefined,
      urlElicitation: undefined,
      confirmation: undefined,
      source: ctx.source,
      // Who calls, as code-mode inner calls judge it again before each one.
      credential: caller.credential,
      facts: {},
    });
    expect(made.loaded).toBe(caller.loaded);
    // Each rule's facts about the caller are the caller's own, not a copy per call.
    expect(made.facts).toBe(caller.facts);
    expect(ctx).toMatchObject({ sessionId: 'session-1', logLevel: undefined, traceparent: undefined });
  });

  it("the message's own trace context wins over the HTTP request's", () => {
    const trace = { traceparent: '00-1-2-01', tracestate: undefined, protocolVersion: undefined };
    expect(toolCall(ctx, { id: 'a', name: 'http_tool', args: { x: 1 } }, undefined, { trace })).toMatchObject({
      arguments: { x: 1 },
      requestId: 'a',
      trace,
    });
  });
});

describe('callTool: a call without an answer by its deadline', () => {
  it('answers "outcome unknown" naming the invocation id (the request may have reached the API)', async () => {
    const { jobs, deps } = fakes();
    deps.invocations = {
      edgeId: 'edge-test',
      invoke: async (job: ToolInvokeJob) => {
        jobs.push(job);
        throw new TransientError('tool.timeout', 'no answer within 1000 ms');
      },
    } as unknown as InvocationClient;
    const result = await callTool(deps, call('http_tool'));
    expect(result.isError).toBe(true);
    const text = String(result.content[0]!.text);
    expect(text).toContain(`the outcome of invocation ${jobs[0]!.invocationId} is unknown`);
    expect(text).toContain('1000 ms');
  });

  it('a cancelled call keeps its cancellation message', async () => {
    const { deps } = fakes();
    deps.invocations = {
      edgeId: 'edge-test',
      invoke: async () => {
        throw new TransientError('tool.timeout', 'the caller cancelled the request');
      },
    } as unknown as InvocationClient;
    const aborted = AbortSignal.abort();
    const result = await callTool(deps, call('http_tool', { signal: aborted }));
    expect(String(result.content[0]!.text)).toBe('the caller cancelled the request');
  });
});

describe('callTool: a call under a quota (ADR 0048)', () => {
  const rule = { id: 'q1', name: 'q', match: {}, counts: 'calls' as const, limit: 10, window: 'day' as const };
  const quotas = { workspaceId: 'w1', rules: [{ ...rule, enforce: true }], caller: {} };
  // A calls quota (counter `k`) and a calls-in-flight one (counter `f`).
  const charge = { keys: ['k', 'f'], amounts: [1, 1], inFlight: ['f'] };
  /**
   * A call whose job the queue takes (`added`) or not, then answers with `answer`; each release of its charge. `more`
   * changes the deps and gives the call's other fields.
   */
  async function released(added: boolean, answer: () => never, more?: (deps: ToolCallDeps) => Partial<ToolCall>) {
    const { deps } = fakes();
    const releases: unknown[] = [];
    const jobs: ToolInvokeJob[] = [];
    deps.quotas = {
      failOpen: false,
      meter: {
        charge: async () => {
          const inFlight = { ...quotas.rules[0]!, id: 'q2', counts: 'in_flight' as const, window: undefined };
          const uses = [
            { rule: quotas.rules[0], fraction: 0.1 },
            { rule: inFlight, fraction: 1 },
          ];
          return { charge, shadow: [], alerts: [], uses };
        },
        release: async (_: unknown, what: unknown) => void releases.push(what),
      } as unknown as NonNullable<ToolCallDeps['quotas']>['meter'],
    };
    deps.invocations = {
      edgeId: 'edge-test',
      invoke: async (job: ToolInvokeJob, _signal: unknown, onEnqueued?: (err?: unknown) => void) => {
        jobs.push(job);
        onEnqueued?.(added ? undefined : new Error('Connection is closed.'));
        answer();
      },
    } as unknown as InvocationClient;
    const result = await callTool(deps, call('http_tool', { facts: { quota: quotas }, ...more?.(deps) }));
    await new Promise(setImmediate);
    return { isError: result.isError, releases, quotaCharge: jobs[0]?.rules?.quota, jobs: jobs.length };
  }

  it('gives the units back, the call in flight too, when the job could not be added to the queue', async () => {
    const r = await released(false, () => {
      throw new TransientError('queue.unavailable', 'The call was not run: the queue (Redis) is unavailable.');
    });
    expect(r.isError).toBe(true);
    expect(r.releases).toEqual([{ windowed: true, inFlight: true }]);
  });

  it('gives them back when the job cannot even be made (the caller’s own credential not sealed)', async () => {
    const r = await released(
      true,
      () => {
        throw new Error('not reached');
      },
      (deps) => {
        deps.sealUpstreamCredential = async () => {
          throw new Error('the sealing key cannot be read');
        };
        const l = loaded('NORMAL');
        (l.catalog as { perRequestAuth?: boolean }).perRequestAuth = true;
        l.tools.get('http_tool')!.rules.upstreamCredential = true;
        return { loaded: l, request: { upstreamAuthorization: 'Bearer own' } };
      },
    );
    expect(r.isError).toBe(true);
    expect(r.jobs).toBe(0);
    expect(r.releases).toEqual([{ windowed: true, inFlight: true }]);
  });

  it('keeps them when the job was added and its outcome is unknown; its worker ends the call in flight', async () => {
    const r = await released(true, () => {
      throw new TransientError('tool.timeout', 'no answer within 1000 ms');
    });
    expect(r.isError).toBe(true);
    expect(r.releases).toEqual([{ windowed: false, inFlight: false }]);
    expect(r.quotaCharge).toEqual({ keys: ['k'], amounts: [1], inFlight: ['f'] });
  });
});

describe('callTool: log-only rules (enforce: false)', () => {
  /** Deps whose audit events are kept, with a budget of one event per rule, caller and tool per minute. */
  function audited() {
    const { jobs, deps } = fakes();
    const events: AuditEventInput[] = [];
    deps.audit = { add: (e: AuditEventInput) => void events.push(e) };
    deps.shadowEvents = new ShadowEventBudget({ now: () => 60_000 });
    return { jobs, deps, events };
  }

  it('a log-only condition refuses nothing: the call runs, one access.would_refuse per minute names it', async () => {
    const { jobs, deps, events } = audited();
    const policy = {
      id: 'p1',
      name: 'bob-only',
      principals: [{ type: 'oauth_subject' as const, value: 'alice' }],
      servers: ['s1'],
      tools: ['http_tool'],
      condition: 'caller.subject == "bob"',
      enforce: false,
    };
    const d = decideAccess({ v: 1, workspaceId: 'w1', policies: [policy] }, { subject: 'alice' }, 's1');
    if (!d.allowed || !d.conditions) throw new Error('expected a conditional grant');
    const conditions = { rules: d.conditions, caller: { subject: 'alice' } };
    for (let i = 0; i < 3; i++)
      expect((await callTool(deps, call('http_tool', { facts: { access: conditions } }))).isError).toBeFalsy();
    expect(jobs).toHaveLength(3);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'access.would_refuse',
      outcome: 'success',
      resource: { type: 'access_policy', id: 'p1' },
      details: {
        policy: { id: 'p1', name: 'bob-only' },
        would: 'refuse',
        condition: { expression: 'caller.subject == "bob"', failed: 'caller.subject == "bob"', error: false },
        tool: 'http_tool',
        invocationId: jobs[0]!.invocationId,
      },
    });
  });

  it('a log-only quota past its limit refuses nothing: the call runs, quota.would_refuse with its limit and use', async () => {
    const { jobs, deps, events } = audited();
    const rule = { id: 'q1', name: 'q', match: {}, counts: 'calls' as const, limit: 1, window: 'day' as const };
    const quotas = { workspaceId: 'w1', rules: [{ ...rule, enforce: false }], caller: {} };
    const charge = { keys: ['k'], amounts: [1], inFlight: [] };
    const shadow = [{ rule: quotas.rules[0]!, used: 1, retryAfterSeconds: 60 }];
    deps.quotas = {
      failOpen: false,
      meter: {
        charge: async () => ({ charge, shadow, alerts: [], uses: [{ rule: quotas.rules[0], fraction: 2 }] }),
        release: async () => undefined,
      } as unknown as NonNullable<ToolCallDeps['quotas']>['meter'],
    };
    for (let i = 0; i < 2; i++)
      expect((await callTool(deps, call('http_tool', { facts: { quota: quotas } }))).isError).toBeFalsy();
    expect(jobs).toHaveLength(2);
    expect(events).toEqual([
      expect.objectContaining({
        action: 'quota.would_refuse',
        outcome: 'success',
        resource: { type: 'quota', id: 'q1' },
        details: expect.objectContaining({
          quota: expect.objectContaining({ id: 'q1', limit: 1, enforce: false }),
          used: 1,
          invocationId: jobs[0]!.invocationId,
        }),
      }),
    ]);
  });
});

describe('callTool: a person who has to connect, for callers that declared URL-mode elicitation', () => {
  const link = 'https://api.example.com/connect/tok';
  const message = `User "alice" has not connected their own account for this tool's API. Give them this link: ${link}`;
  function needsLink(connectUrl: string | undefined = link) {
    const { deps } = fakes();
    deps.invocations = {
      edgeId: 'edge-test',
      invoke: async (job: ToolInvokeJob) => ({
        v: 1 as const,
        invocationId: job.invocationId,
        ok: false as const,
        error: { kind: 'user', code: 'connection.required', message, ...(connectUrl ? { connectUrl } : {}) },
      }),
    } as unknown as InvocationClient;
    return deps;
  }
  const as = (urlElicitation: ToolCall['urlElicitation']) =>
    call('http_tool', { principal: { workspaceId: 'w1', userId: 'u1', username: 'alice' }, urlElicitation });

  it('2025-11-25: the URL-elicitation-required error (-32042) naming the link', async () => {
    const result = await callTool(
      needsLink(),
      as(() => Promise.resolve('error')),
    );
    expect(result.content).toEqual([]);
    expect(result.protocolError).toMatchObject({
      code: -32042,
      data: { elicitations: [{ mode: 'url', url: link, elicitationId: expect.any(String) }] },
    });
    const [elicitation] = (result.protocolError!.data as { elicitations: { message: string }[] }).elicitations;
    expect(elicitation!.message).toContain("alice's own account");
    expect(result.protocolError!.message).toBe(elicitation!.message);
  });

  it('2026-07-28: an input_required result with one URL elicitation', async () => {
    const result = await callTool(
      needsLink(),
      as(() => Promise.resolve('input_required')),
    );
    expect(result).toMatchObject({
      content: [],
      resultType: 'input_required',
      inputRequests: { connect: { method: 'elicitation/create', params: { mode: 'url', url: link } } },
    });
    expect(result).not.toHaveProperty('protocolError');
  });

  it('the tool error carrying the link otherwise: not declared, the lookup failing, or no link made', async () => {
    const toolError = { content: [{ type: 'text', text: message }], isError: true };
    expect(await callTool(needsLink(), as(undefined))).toEqual(toolError);
    expect(
      await callTool(
        needsLink(),
        as(() => Promise.resolve(undefined)),
      ),
    ).toEqual(toolError);
    expect(
      await callTool(
        needsLink(),
        as(() => Promise.reject(new Error('Redis down'))),
      ),
    ).toEqual(toolError);
    let asked = false;
    const lookup = () => ((asked = true), Promise.resolve('error' as const));
    expect(await callTool(needsLink(''), as(lookup))).toEqual(toolError);
    expect(asked).toBe(false); // read only when a link came back
  });
});

describe('callTool: a tool marked confirm waits for a person (nothing is enqueued before "accept")', () => {
  const SECRET = 'sk-live-5f1c9a';
  function confirmFakes() {
    const { jobs, deps } = fakes();
    const audit: AuditEventInput[] = [];
    const records: { outcome: string; errorCode?: string }[] = [];
    deps.audit = { add: (e: AuditEventInput) => void audit.push(e) };
    deps.records = { add: (r: { outcome: string }) => void records.push(r) } as unknown as ExecutionRecordSink;
    const confirmed = loaded('NORMAL');
    const marked: LoadedTool = {
      def: {
        name: 'delete_order',
        description: 'Deletes an order',
        inputSchema: { type: 'object', properties: { token: { type: 'string', writeOnly: true } } },
      },
      validate: (() => true) as unknown as LoadedTool['validate'],
      rules: { confirm: true },
    };
    confirmed.tools.set('delete_order', marked);
    return { jobs, deps, audit, records, confirmed };
  }
  const args = { id: '42', token: SECRET };
  const asking = (answer: Confirmation, asked: ConfirmationPrompt[] = []) => ({
    confirmation: (prompt: ConfirmationPrompt) => {
      asked.push(prompt);
      return Promise.resolve(answer);
    },
  });

  it('accepted: one job, and an audit event with the arguments masked', async () => {
    const { jobs, deps, audit, confirmed } = confirmFakes();
    const asked: ConfirmationPrompt[] = [];
    const result = await callTool(
      deps,
      call('delete_order', {
        loaded: confirmed,
        arguments: args,
        ...asking({ kind: 'answered', action: 'accept' }, asked),
      }),
    );
    expect(result.isError).toBeFalsy();
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.arguments).toEqual(args); // the call itself is sent as it was asked
    expect(asked[0]!.message).toContain('delete_order');
    expect(asked[0]!.message).not.toContain(SECRET);
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'tool.confirmation',
        outcome: 'accepted',
        actor: { type: 'oauth_subject', id: 'alice', name: null },
        resource: { type: 'tool', id: 's1/delete_order' },
        details: { server: 'srv', tool: 'delete_order', arguments: { id: '42', token: MASKED } },
      }),
    ]);
    expect(JSON.stringify(audit)).not.toContain(SECRET);
  });

  it('declined or cancelled: a tool error, no job, a rejected record and the audit event', async () => {
    for (const [action, outcome, text] of [
      ['decline', 'declined', 'The person declined this call of "delete_order"'],
      ['cancel', 'cancelled', 'The confirmation of this call of "delete_order" was cancelled'],
    ] as const) {
      const { jobs, deps, audit, records, confirmed } = confirmFakes();
      const result = await callTool(
        deps,
        call('delete_order', { loaded: confirmed, arguments: args, ...asking({ kind: 'answered', action }) }),
      );
      expect(result.isError).toBe(true);
      expect(String(result.content[0]!.text)).toContain(text);
      expect(jobs).toEqual([]);
      expect(records).toEqual([expect.objectContaining({ outcome: 'rejected', errorCode: `confirmation.${outcome}` })]);
      expect(audit.map((e) => e.outcome)).toEqual([outcome]);
    }
  });

  it('a client that cannot ask: the tool error explaining why, refused (no_elicitation) in the audit trail', async () => {
    for (const extra of [{}, asking({ kind: 'unavailable' })]) {
      const { jobs, deps, audit, confirmed } = confirmFakes();
      const result = await callTool(deps, call('delete_order', { loaded: confirmed, arguments: args, ...extra }));
      expect(result.isError).toBe(true);
      expect(String(result.content[0]!.text)).toContain('this client cannot ask its user');
      expect(jobs).toEqual([]);
      expect(audit).toEqual([
        expect.objectContaining({ outcome: 'refused', details: expect.objectContaining({ reason: 'no_elicitation' }) }),
      ]);
    }
  });

  it('2026-07-28 first round: the input_required result as it is, nothing recorded yet', async () => {
    const { jobs, deps, audit, records, confirmed } = confirmFakes();
    const ask = { content: [], resultType: 'input_required' as const, requestState: 'tp-confirm.asked.x' };
    const result = await callTool(
      deps,
      call('delete_order', { loaded: confirmed, arguments: args, ...asking({ kind: 'ask', result: ask }) }),
    );
    expect(result).toEqual(ask);
    expect([jobs, audit, records]).toEqual([[], [], []]);
  });

  it('asking that fails: a tool error, nothing sent; a tool not marked confirm is never asked about', async () => {
    const { jobs, deps, audit, confirmed } = confirmFakes();
    const failing = { confirmation: () => Promise.reject(new Error('Redis down')) };
    const result = await callTool(deps, call('delete_order', { loaded: confirmed, arguments: args, ...failing }));
    expect(String(result.content[0]!.text)).toContain('could not be asked');
    expect([jobs, audit]).toEqual([[], []]);
    const asked: ConfirmationPrompt[] = [];
    await callTool(deps, call('http_tool', { loaded: confirmed, ...asking({ kind: 'unavailable' }, asked) }));
    expect(asked).toEqual([]);
    expect(jobs).toHaveLength(1);
  });
});

describe('callTool: a call an access policy condition refuses is an audit event', () => {
  it('tool.call_refused naming the policy, the server and the tool, without argument values', async () => {
    const { jobs, deps } = fakes();
    const audit: AuditEventInput[] = [];
    deps.audit = { add: (e: AuditEventInput) => void audit.push(e) };
    const rule = { id: 'p-small', name: 'small refunds', principals: [], servers: ['*'], tools: ['http_tool'] };
    const conditions = {
      rules: { clauses: () => [[{ ...rule, condition: 'args.amount < 100' }]] },
      caller: {},
    } as unknown as ToolCall['facts']['access'];
    const result = await callTool(
      deps,
      call('http_tool', { arguments: { amount: 31337 }, facts: { access: conditions } }),
    );
    expect(result.isError).toBe(true);
    expect(jobs).toEqual([]);
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'tool.call_refused',
        outcome: 'refused',
        resource: { type: 'tool', id: 's1/http_tool' },
        details: { policy: { id: 'p-small', name: 'small refunds' }, server: 'srv', tool: 'http_tool' },
      }),
    ]);
    expect(JSON.stringify(audit)).not.toContain('31337');
  });
});

describe('callTool: a tool needing approval fails closed (ADR 0049)', () => {
  const rule = { version: 'v1', approvers: { apiKeys: ['k2'] }, approvals: 1, expiresInSeconds: 60 };
  const approvalCatalog = (): LoadedCatalog => {
    const l = loaded('NORMAL');
    l.tools.get('http_tool')!.rules.approval = rule;
    return l;
  };
  const keyCaller = { workspaceId: 'w1', keyId: 'k1' };

  it('Redis unreachable: a tool error saying so, nothing enqueued, a rejected record', async () => {
    const { jobs, deps } = fakes();
    const records: { errorCode?: string }[] = [];
    deps.records = { add: (r: { errorCode?: string }) => void records.push(r) } as unknown as ExecutionRecordSink;
    const down = () => Promise.reject(new Error('Connection is closed.'));
    deps.approvals = { redis: { evalsha: down, eval: down } as never, prefix: 'tp' };
    const result = await callTool(deps, call('http_tool', { loaded: approvalCatalog(), principal: keyCaller }));
    expect(result.isError).toBe(true);
    expect((result.content as unknown as { text: string }[])[0]!.text).toContain(
      'could not be checked (the edge cannot reach Redis)',
    );
    expect(jobs).toEqual([]);
    expect(records).toEqual([expect.objectContaining({ errorCode: 'approval.unavailable' })]);
  });

  it('an edge without the store, and anonymous callers, are refused too; other tools run', async () => {
    const { jobs, deps } = fakes();
    const refused = await callTool(deps, call('http_tool', { loaded: approvalCatalog(), principal: keyCaller }));
    expect(refused.isError).toBe(true);
    deps.approvals = { redis: {} as never, prefix: 'tp' };
    const anonymous = { workspaceId: 'w1', subject: 'anonymous' };
    const anon = await callTool(deps, call('http_tool', { loaded: approvalCatalog(), principal: anonymous }));
    expect((anon.content as unknown as { text: string }[])[0]!.text).toContain('an anonymous call cannot be bound');
    expect(jobs).toEqual([]);
    await callTool(deps, call('wf_tool', { loaded: approvalCatalog(), principal: keyCaller }));
    expect(jobs).toHaveLength(1);
  });

  it('an access policy requiring approval when its condition is false holds that call; the tool’s own rule comes first', async () => {
    const { jobs, deps } = fakes();
    const policy = {
      id: 'p-big',
      name: 'big refunds',
      principals: [],
      servers: ['*'],
      tools: ['http_tool'],
      condition: 'args.amount <= 100',
      approval: { ...rule, version: 'p1' },
    };
    const conditions = { rules: { clauses: () => [[policy]] }, caller: {} } as unknown as ToolCall['facts']['access'];
    const text = (r: Awaited<ReturnType<typeof callTool>>) => (r.content as unknown as { text: string }[])[0]!.text;
    const held = await callTool(
      deps,
      call('http_tool', { arguments: { amount: 500 }, facts: { access: conditions }, principal: keyCaller }),
    );
    expect(text(held)).toContain('could not be checked (the edge cannot reach Redis)');
    expect(jobs).toEqual([]);
    await callTool(
      deps,
      call('http_tool', { arguments: { amount: 50 }, facts: { access: conditions }, principal: keyCaller }),
    );
    expect(jobs).toHaveLength(1);
    deps.approvals = { redis: {} as never, prefix: 'tp' };
    const anonymous = { workspaceId: 'w1', subject: 'anonymous' };
    const byPolicy = await callTool(
      deps,
      call('http_tool', { arguments: { amount: 500 }, facts: { access: conditions }, principal: anonymous }),
    );
    expect(text(byPolicy)).toContain('access policy "big refunds" (p-big) grants it only when its condition holds');
    const byTool = await callTool(
      deps,
      call('http_tool', {
        loaded: approvalCatalog(),
        arguments: { amount: 500 },
        facts: { access: conditions },
        principal: anonymous,
      }),
    );
    expect(text(byTool)).toContain('Tool "http_tool" needs someone else\'s approval before each call');
    expect(jobs).toHaveLength(1);
  });
});
