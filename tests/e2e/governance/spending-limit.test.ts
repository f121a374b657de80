import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type Stack } from '@toolplane/cli';
import { ApiError, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * The spending limit (ADR 0101) on one stack: a server's `ruleSettings` bound the ticket system's `search_tickets`
 * `limit` argument (an integer). Settings its schema refuses are a 422 listing every problem; enforced, a call over the
 * limit is refused with a message the model can act on and the upstream receives nothing, while a call within it, and
 * a caller with a higher limit of its own, go through; log-only, the call goes through and the audit trail holds the
 * would-be refusal; with four eyes on, raising the limit waits for another approver and lowering it applies at once.
 */

let stack: Stack;
let api: ManagementClient;
let approver: ManagementClient;
let approverKeyId: string;
let upstream: TicketSystem;
let serverId: string;
let agent: Client;
let agentKeyId: string;
let finance: Client;
let financeKeyId: string;
const since = new Date().toISOString();
const TOOL = 'search_tickets';

type Result = { isError?: boolean; content: { type: string; text?: string }[] };
const textOf = (r: Result) => r.content.map((c) => c.text ?? '').join('');

async function connect(key: string): Promise<Client> {
  const client = new Client({ name: 'spending-limit-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${serverId}`), {
      requestInit: { headers: { 'x-api-key': key } },
    }),
  );
  return client;
}

const search = async (client: Client, limit: number) =>
  (await client.callTool({ name: TOOL, arguments: { limit } })) as Result;

const settings = (s: Record<string, unknown>) => ({ 'spending-limit': { argument: 'limit', ...s } });

const patch = (ruleSettings: unknown) =>
  api.PATCH('/mcp_manager/{id}', { params: { path: { id: serverId } }, body: { ruleSettings } as never });

const stored = async () =>
  (await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: serverId } } }))).ruleSettings;

/** Waits until the edge applies `limit` to the agent's calls: one over it refused. */
const refusedOver = (limit: number) =>
  waitFor(`a limit of ${limit} on the edge`, async () => {
    const r = await search(agent, limit + 1);
    return r.isError && textOf(r).includes(`spending limit of ${limit}`) ? r : undefined;
  });

async function auditEvent(action: string, actor: string, rule: string) {
  const page = await unwrap(api.GET('/audit_events', { params: { query: { action, from: since, limit: 200 } } }));
  return page.data.find((e) => {
    const d = e.details as { refusedBy?: string; rule?: string } | null;
    return e.actor.id === actor && (d?.refusedBy === rule || d?.rule === rule);
  });
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'spending-key' });
  const started = await startTestStack('spending-limit');
  stack = started.stack;
  const boot = started.api;
  const requester = await unwrap(
    boot.POST('/api_keys', { body: { name: 'requester', scopes: ['management', 'audit'] } }),
  );
  api = createManagementClient(stack.controlPlaneUrl, requester.key);
  const second = await unwrap(boot.POST('/api_keys', { body: { name: 'approver', scopes: ['management'] } }));
  approverKeyId = second.id;
  approver = createManagementClient(stack.controlPlaneUrl, second.key);
  ({ serverId } = await registerTicketExample(api, upstream.url, 'spending-key'));
  const agentKey = await unwrap(boot.POST('/api_keys', { body: { name: 'agent', scopes: ['runtime'] } }));
  const financeKey = await unwrap(boot.POST('/api_keys', { body: { name: 'finance', scopes: ['runtime'] } }));
  agentKeyId = agentKey.id;
  financeKeyId = financeKey.id;
  agent = await connect(agentKey.key);
  finance = await connect(financeKey.key);
}, 120_000);

afterAll(async () => {
  await agent?.close().catch(() => undefined);
  await finance?.close().catch(() => undefined);
  await stack?.stop();
  await upstream?.close();
});

describe('the spending limit', () => {
  it('refuses settings its schema refuses, every problem listed at its path (422)', async () => {
    const r = await patch({ 'spending-limit': { argument: '', limit: -1, mode: 'sometimes' }, 'no-such-rule': {} });
    expect(r.response.status).toBe(422);
    const paths = ((r.error as { errors?: { path: string }[] }).errors ?? []).map((e) => e.path);
    expect(paths).toEqual([
      '/ruleSettings/spending-limit/argument',
      '/ruleSettings/spending-limit/limit',
      '/ruleSettings/spending-limit/mode',
      '/ruleSettings/no-such-rule',
    ]);
    expect(await stored()).toEqual({});
  });

  it('enforced: refuses a call over the caller’s limit (the upstream receives nothing), lets the rest through', async () => {
    const body = settings({ limit: 50, per_caller: { [`key:${financeKeyId}`]: 500 } });
    await unwrap(patch(body));
    expect(await stored()).toEqual(body);
    await refusedOver(50);
    const before = upstream.requests.length;
    const refused = await search(agent, 100);
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toBe(
      `The argument "limit" (100) is over the spending limit of 50 on tool "${TOOL}": the call was not made, nothing ` +
        'was sent. A call of at most 50 may go through; a larger one needs a caller whose limit allows it.',
    );
    expect(upstream.requests.length).toBe(before);
    expect((await search(agent, 10)).isError).toBeFalsy();
    expect((await search(finance, 100)).isError).toBeFalsy();
    expect(upstream.requests.length).toBe(before + 2);
    const event = await waitFor('the refusal in the audit trail', () =>
      auditEvent('tool.call_refused', agentKeyId, 'spending-limit'),
    );
    expect(event).toMatchObject({ outcome: 'refused', details: { code: 'spending_limit.exceeded', tool: TOOL } });
    expect(JSON.stringify(event.details)).not.toContain('100');
  });

  it('log-only: the call goes through, and the audit trail holds what the rule would have done', async () => {
    await unwrap(patch(settings({ limit: 40, mode: 'log_only' })));
    const before = upstream.requests.length;
    await waitFor('the log-only limit on the edge', async () => {
      const r = await search(agent, 45);
      return r.isError ? undefined : true;
    });
    expect(upstream.requests.length).toBeGreaterThan(before);
    const event = await waitFor('the would-be refusal in the audit trail', () =>
      auditEvent('rule.would_refuse', agentKeyId, 'spending-limit'),
    );
    expect(event).toMatchObject({ outcome: 'success', details: { code: 'spending_limit.exceeded', tool: TOOL } });
  });

  it('with four eyes on: raising the limit waits for another approver; lowering it applies at once', async () => {
    await unwrap(patch(settings({ limit: 50 })));
    await refusedOver(50);
    await unwrap(
      api.PUT('/change_approvals/settings', {
        body: { enabled: true, approvers: { apiKeys: [approverKeyId] }, approvals: 1, expiresInSeconds: 3600 },
      }),
    );
    const raised = await patch(settings({ limit: 5000 }));
    expect(raised.response.status).toBe(202);
    const waiting = raised.data as unknown as { loosens: string[]; changeRequest: { id: string } };
    expect(waiting.loosens).toEqual(['ruleSettings.spending-limit.limit']);
    expect(await stored()).toMatchObject(settings({ limit: 50 }));
    expect((await search(agent, 100)).isError).toBe(true);
    const removed = await patch(null);
    expect(removed.response.status).toBe(202);
    expect((removed.data as unknown as { loosens: string[] }).loosens).toEqual([
      'ruleSettings.spending-limit.(removed)',
    ]);
    // The requester never approves their own change; the approver the setting names does.
    const approve = (c: ManagementClient) =>
      unwrap(c.POST('/change_requests/{id}/approve', { params: { path: { id: waiting.changeRequest.id } }, body: {} }));
    await expect(approve(api)).rejects.toBeInstanceOf(ApiError);
    expect((await approve(approver)).state).toBe('applied');
    expect(await stored()).toMatchObject(settings({ limit: 5000 }));
    const lowered = await patch(settings({ limit: 20 }));
    expect(lowered.response.status).toBe(200);
    await refusedOver(20);
  });
});
