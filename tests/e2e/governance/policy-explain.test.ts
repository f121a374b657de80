import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { ApiError, type components, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';

// Explaining an access decision (`POST /access_policies/explain`) on the real stack: policies with and without
// conditions; each explanation is checked against what the edge does with the same call (an MCP SDK client's
// `tools/call`, or the 403 of a caller with no access to the server): the same decision, and a denial's reason is
// the edge's refusal word for word.

type Explanation = components['schemas']['AccessExplanation'];
type ExplainCaller = components['schemas']['AccessExplanationRequest']['caller'];
type Key = { id: string; key: string };

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let tickets: RegisteredExample;
const keys = {} as Record<'support' | 'ops' | 'free' | 'nowhere', Key>;
const policyIds: Record<string, string> = {};

const newKey = async (name: string): Promise<Key> =>
  unwrap(api.POST('/api_keys', { body: { name, scopes: ['runtime'] } }));

async function policy(body: components['schemas']['AccessPolicyBody']): Promise<void> {
  policyIds[body.name] = (await unwrap(api.POST('/access_policies', { body }))).id;
}

function explain(caller: ExplainCaller, tool: string, args?: Record<string, unknown>): Promise<Explanation> {
  return unwrap(
    api.POST('/access_policies/explain', {
      body: { caller, server: tickets.serverId, tool, ...(args ? { arguments: args } : {}) },
    }),
  );
}

/** What the edge does with the call: allowed (whatever the tool answered), or the text of its access refusal. */
async function callThroughEdge(
  headers: Record<string, string>,
  tool: string,
  args: Record<string, unknown>,
): Promise<{ denied: false } | { denied: true; text: string }> {
  const client = new Client({ name: 'policy-explain-e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(tickets.mcpUrl), { requestInit: { headers } }));
  try {
    const result = await client.callTool({ name: tool, arguments: args });
    const text = (result.content as { type: string; text?: string }[])[0]?.text ?? '';
    return result.isError && text.startsWith('Access denied') ? { denied: true, text } : { denied: false };
  } finally {
    await client.close();
  }
}

/** Explains the call, makes it through the edge, and checks that both decide alike (a denial: the same words). */
async function explainedAndCalled(
  caller: ExplainCaller,
  headers: Record<string, string>,
  call: { tool: string; args: Record<string, unknown> },
): Promise<Explanation> {
  const explained = await explain(caller, call.tool, call.args);
  const edge = await callThroughEdge(headers, call.tool, call.args);
  expect(explained.decision).toBe(edge.denied ? 'deny' : 'allow');
  if (edge.denied) expect(explained.reason).toBe(edge.text);
  return explained;
}

const byName = (e: Explanation, name: string) => e.policies.find((p) => p.name === name)!;

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  ({ stack, api } = await startTestStack('policy-explain'));
  tickets = await registerTicketExample(api, upstream.url, 'k', 'tickets');
  const other = await unwrap(api.POST('/mcp_manager', { body: { name: 'other' } }));
  keys.support = await newKey('support-eu');
  keys.ops = await newKey('ops');
  keys.free = await newKey('free');
  keys.nowhere = await newKey('nowhere');
  await unwrap(api.POST('/external_users', { body: { name: 'ann' } }));
  const key = (k: Key) => ({ type: 'api_key' as const, value: k.id });
  const server = [tickets.serverId];
  await policy({
    name: 'reads',
    principals: [key(keys.support), key(keys.ops)],
    servers: server,
    tools: ['get_ticket'],
  });
  await policy({
    name: 'small-searches',
    principals: [key(keys.support)],
    servers: server,
    tools: ['search_tickets'],
    condition: 'args.limit <= 10 && caller.key_name.startsWith("support-")',
  });
  await policy({
    name: 'open-searches',
    principals: [key(keys.ops)],
    servers: server,
    tools: ['search_tickets'],
    condition: 'args.status == "open"',
  });
  await policy({ name: 'elsewhere', principals: [key(keys.nowhere)], servers: [other.id], tools: ['*'] });
  await policy({
    name: 'ann-reads',
    principals: [{ type: 'external_user', value: 'ann' }],
    servers: server,
    tools: ['get_ticket'],
  });
  // The policies reached the edge: the support key sees exactly the two tools granted to it.
  await waitFor(
    'the policies on the edge',
    async () => {
      const client = new Client({ name: 'policy-explain-e2e', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(tickets.mcpUrl), {
          requestInit: { headers: { 'x-api-key': keys.support.key } },
        }),
      );
      const names = (await client.listTools()).tools.map((t) => t.name);
      await client.close();
      return names.length === 2;
    },
    PROPAGATION_DEADLINE_MS,
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

describe('POST /access_policies/explain', () => {
  it('allow: a conditional grant whose condition holds (caller.key_name included), as the edge allows it', async () => {
    const e = await explainedAndCalled(
      { api_key: keys.support.id },
      { 'x-api-key': keys.support.key },
      {
        tool: 'search_tickets',
        args: { limit: 5 },
      },
    );
    expect(e).toMatchObject({
      decision: 'allow',
      caller: `API key ${keys.support.id}`,
      server: { id: tickets.serverId, name: 'tickets' },
      tool: 'search_tickets',
    });
    expect(e.reason).toContain(`access policy "small-searches" (${policyIds['small-searches']}) (its condition holds)`);
    expect(byName(e, 'small-searches')).toEqual({
      id: policyIds['small-searches'],
      name: 'small-searches',
      principals_match: true,
      matched_principals: [{ type: 'api_key', value: keys.support.id }],
      covers_server: true,
      covers_tool: true,
      condition: {
        expression: 'args.limit <= 10 && caller.key_name.startsWith("support-")',
        result: true,
        error: null,
        failed: null,
      },
      enforce: true,
      why: `grants tool "search_tickets" to API key ${keys.support.id}: its condition holds`,
    });
    expect(byName(e, 'reads')).toMatchObject({ principals_match: true, covers_tool: false, condition: null });
    expect(byName(e, 'open-searches')).toMatchObject({
      principals_match: false,
      matched_principals: [],
      condition: { expression: 'args.status == "open"', result: null, error: null, failed: null },
      why: `does not name API key ${keys.support.id}`,
    });
  });

  it('deny: a condition that is false, in the edge’s words', async () => {
    const e = await explainedAndCalled(
      { api_key: keys.support.id },
      { 'x-api-key': keys.support.key },
      {
        tool: 'search_tickets',
        args: { limit: 50 },
      },
    );
    expect(e.decision).toBe('deny');
    expect(e.reason).toContain('args.limit <= 10 is false');
    expect(byName(e, 'small-searches').condition).toMatchObject({
      result: false,
      error: null,
      failed: 'args.limit <= 10',
    });
  });

  it('require_approval: a false condition holds the call for the policy’s approvers, as the edge does', async () => {
    const [asker, boss] = [await newKey('asker'), await newKey('boss')];
    const asks = await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'big-searches',
          principals: [{ type: 'api_key', value: asker.id }],
          servers: [tickets.serverId],
          tools: ['search_tickets'],
          condition: 'args.limit <= 10',
          onFalse: 'require_approval',
          approval: { approvers: { apiKeys: [boss.id] } },
        },
      }),
    );
    const client = new Client({ name: 'policy-explain-e2e', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(tickets.mcpUrl), {
        requestInit: { headers: { 'x-api-key': asker.key } },
      }),
    );
    const search = async (limit: number) => {
      const r = await client.callTool({ name: 'search_tickets', arguments: { limit } });
      const held = (r._meta as Record<string, { state: string }> | undefined)?.['toolplane/approval'];
      return { isError: r.isError === true, held: held?.state, text: (r.content as { text: string }[])[0]?.text };
    };
    await waitFor(
      'the policy on the edge',
      async () => (await client.listTools()).tools.map((t) => t.name).join() === 'search_tickets',
      PROPAGATION_DEADLINE_MS,
    );
    const caller = { api_key: asker.id };
    expect(await search(5)).toMatchObject({ isError: false });
    expect((await explain(caller, 'search_tickets', { limit: 5 })).decision).toBe('allow');

    const edge = await search(50);
    expect(edge).toMatchObject({ isError: true, held: 'pending' });
    expect(edge.text).toContain(`approvers: API key ${boss.id}; 1 approval needed`);
    const held = await explain(caller, 'search_tickets', { limit: 50 });
    expect(held).toMatchObject({
      decision: 'require_approval',
      approval: {
        policy: { id: asks.id, name: 'big-searches' },
        approvers: { apiKeys: [boss.id] },
        approvals: 1,
        expires_in_seconds: 86_400,
      },
    });
    expect(held.reason).toMatch(/^Requires approval: /);
    expect(held.reason).toContain(`(approvers: API key ${boss.id}; 1 approval needed)`);
    expect(byName(held, 'big-searches').why).toContain('requires approval');

    // Log only: the false condition neither refuses nor holds; the explanation says what it would do.
    await unwrap(api.PATCH('/access_policies/{id}', { params: { path: { id: asks.id } }, body: { enforce: false } }));
    await waitFor('the log-only policy on the edge', async () => !(await search(50)).isError, PROPAGATION_DEADLINE_MS);
    await client.close();
    const logOnly = await explain(caller, 'search_tickets', { limit: 50 });
    expect(logOnly).toMatchObject({ decision: 'allow', approval: null });
    expect(byName(logOnly, 'big-searches').why).toContain('would require approval (log only)');
  });

  it('deny: a condition that fails on the call (a missing argument) is told apart from a false one', async () => {
    const e = await explainedAndCalled(
      { api_key: keys.ops.id },
      { 'x-api-key': keys.ops.key },
      {
        tool: 'search_tickets',
        args: { limit: 5 },
      },
    );
    expect(e.decision).toBe('deny');
    const open = byName(e, 'open-searches');
    expect(open.condition!.result).toBe(false);
    expect(open.condition!.error).toContain('No such key: status');
    expect(open.why).toMatch(/^its condition fails on this call: No such key: status/);
    const allowed = await explainedAndCalled(
      { api_key: keys.ops.id },
      { 'x-api-key': keys.ops.key },
      {
        tool: 'search_tickets',
        args: { status: 'open' },
      },
    );
    expect(allowed.decision).toBe('allow');
  });

  it('deny: no grant of the tool, and no grant on the server at all', async () => {
    const hidden = await explainedAndCalled(
      { api_key: keys.support.id },
      { 'x-api-key': keys.support.key },
      {
        tool: 'create_ticket',
        args: { title: 'x' },
      },
    );
    expect(hidden.reason).toBe(
      `Access denied: API key ${keys.support.id} may not use tool "create_ticket" on this MCP server (no access ` +
        'policy grants it).',
    );
    expect(hidden.policies.every((p) => !p.covers_tool || !p.principals_match)).toBe(true);

    const e = await explain({ api_key: keys.nowhere.id }, 'get_ticket', { ticket_id: 'TCK-1' });
    expect(e.decision).toBe('deny');
    expect(byName(e, 'elsewhere')).toMatchObject({ principals_match: true, covers_server: false });
    // The edge refuses this caller before any tool: a 403 whose JSON-RPC error is the same sentence.
    const res = await postMcp(
      tickets.mcpUrl,
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } },
      },
      { 'x-api-key': keys.nowhere.key, 'mcp-protocol-version': '2025-11-25' },
    );
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(e.reason);
  });

  it('a key no policy names, an external user, an OAuth subject with claims', async () => {
    const free = await explainedAndCalled(
      { api_key: keys.free.id },
      { 'x-api-key': keys.free.key },
      {
        tool: 'create_ticket',
        args: { title: 'x' },
      },
    );
    expect(free.reason).toContain(`API key ${keys.free.id} is named by no access policy`);
    // An external user alone: as the workspace's own key (one no policy names) acting for them.
    const ann = { 'x-api-key': keys.free.key, 'x-username': 'ann' };
    const read = await explainedAndCalled({ external_user: 'ann' }, ann, {
      tool: 'get_ticket',
      args: { ticket_id: 'TCK-1' },
    });
    expect(read.decision).toBe('allow');
    expect(read.caller).toBe('an API key no access policy names for external user "ann"');
    expect(byName(read, 'ann-reads').why).toBe('grants tool "get_ticket" to external user "ann" (no condition)');
    const search = await explain({ external_user: 'ann' }, 'search_tickets', { limit: 1 });
    expect(search.decision).toBe('deny');
    expect((await callThroughEdge(ann, 'search_tickets', { limit: 1 })).denied).toBe(true);

    const token = await explain({ oauth_subject: 'alice', claims: { groups: ['support'] } }, 'get_ticket');
    expect(token).toMatchObject({ decision: 'deny', caller: 'OAuth subject "alice" (groups: support)' });
  });

  it('a caller, server or tool the workspace does not have: a 422 naming each', async () => {
    const failure = await api.POST('/access_policies/explain', {
      body: { caller: { api_key: '00000000-0000-4000-8000-000000000000' }, server: 'nope', tool: 'x' },
    });
    expect(failure.response.status).toBe(422);
    const problem = failure.error as unknown as { errors: { path: string; message: string }[] };
    expect(problem.errors).toEqual([
      { path: '/caller/api_key', message: 'no API key "00000000-0000-4000-8000-000000000000" in this workspace' },
      { path: '/server', message: 'no MCP server "nope" in this workspace' },
    ]);
    const tool = await api.POST('/access_policies/explain', {
      body: { caller: { external_user: 'bob' }, server: 'tickets', tool: 'delete_ticket' },
    });
    expect((tool.error as unknown as { errors: { path: string; message: string }[] }).errors).toEqual([
      { path: '/caller/external_user', message: 'no external user "bob" in this workspace' },
      {
        path: '/tool',
        message:
          'MCP server "tickets" has no tool "delete_ticket" (its tools: search_tickets, get_ticket, create_ticket)',
      },
    ]);
    await expect(
      unwrap(api.POST('/access_policies/explain', { body: { caller: {}, server: 'tickets', tool: 'x' } })),
    ).rejects.toBeInstanceOf(ApiError);
  });

  it('lists the guardrails the call passes through, each enforced or log only, without changing the decision', async () => {
    const before = await explain({ api_key: keys.support.id }, 'get_ticket', { ticket_id: 'TCK-1' });
    expect(before.guardrails).toEqual([]);
    const everywhere = await unwrap(
      api.POST('/guardrails', {
        body: { name: 'keys-shadow', detectors: [{ kind: 'secrets' }], action: 'redact', enforce: false },
      }),
    );
    const reads = await unwrap(
      api.POST('/guardrails', {
        body: {
          name: 'read-cards',
          serverId: tickets.serverId,
          tools: ['get_ticket'],
          detectors: [
            { kind: 'pii', types: ['card'] },
            { kind: 'custom', patterns: ['ORD-[0-9]+'] },
          ],
          action: 'block',
          on: ['results', 'arguments'],
        },
      }),
    );
    const e = await explain({ api_key: keys.support.id }, 'get_ticket', { ticket_id: 'TCK-1' });
    expect(e.decision).toBe(before.decision);
    expect(e.guardrails).toEqual([
      {
        id: everywhere.id,
        name: 'keys-shadow',
        action: 'redact',
        on: ['results'],
        enforce: false,
        why: 'would redact what secrets find in the results (log only: the caller sees no change)',
      },
      {
        id: reads.id,
        name: 'read-cards',
        action: 'block',
        on: ['results', 'arguments'],
        enforce: true,
        why: 'blocks what pii, custom find in the results and arguments',
      },
    ]);
    // Another tool of the server: only the workspace's guardrail covers it.
    const search = await explain({ api_key: keys.support.id }, 'search_tickets', { limit: 1 });
    expect(search.guardrails.map((g) => g.name)).toEqual(['keys-shadow']);
  });

  it('lists the quotas the call counts against, each enforced or log only, as the edge matches them', async () => {
    const before = await explain({ api_key: keys.support.id }, 'get_ticket', { ticket_id: 'TCK-1' });
    expect(before.quotas).toEqual([]);
    const reads = await unwrap(
      api.POST('/quotas', {
        body: {
          name: 'reads',
          match: { tools: ['get_*'] },
          counts: 'calls',
          limit: 100,
          window: 'day',
          per: 'api_key',
        },
      }),
    );
    const trial = await unwrap(
      api.POST('/quotas', {
        body: {
          name: 'trial',
          match: { apiKeys: [keys.support.id] },
          counts: 'cost',
          limit: 10,
          window: 'hour',
          enforce: false,
        },
      }),
    );
    await unwrap(
      api.POST('/quotas', {
        body: { name: 'someone-else', match: { subjects: ['bob'] }, counts: 'in_flight', limit: 2 },
      }),
    );
    const e = await explain({ api_key: keys.support.id }, 'get_ticket', { ticket_id: 'TCK-1' });
    expect(e.decision).toBe(before.decision);
    expect(e.quotas).toEqual([
      {
        id: reads.id,
        name: 'reads',
        enforce: true,
        why: 'counts this call against 100 calls a day per api key; refused past it',
      },
      {
        id: trial.id,
        name: 'trial',
        enforce: false,
        why: 'counts this call against 10 cost units an hour; would refuse past it (log only: the caller sees no change)',
      },
    ]);
    // Another tool: `get_*` does not take it.
    const search = await explain({ api_key: keys.support.id }, 'search_tickets', { limit: 1 });
    expect(search.quotas.map((q) => q.name)).toEqual(['trial']);
  });
});
