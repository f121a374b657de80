import { describe, expect, it } from '@jest/globals';
import { toolResultValue, type Catalog, type ToolInvokeJob } from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import type { ExecutionRecordSink, InvocationClient } from '@toolplane/queue';
import type { LoadedCatalog, LoadedTool } from './catalogs.ts';
import type { Caller } from './authenticate.ts';
import { configHeaders, edgeCallContext, requestFacts, type TraceFacts } from './call-context.ts';
import { callTool as callToolOutcome, toolCall, type ToolCall, type ToolCallDeps } from './tool-calls.ts';

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
    });
    expect(made.loaded).toBe(caller.loaded);
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
