import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { ApiError, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import pg from 'pg';
import { openConnectPage } from '../../fixtures/calendar-connector.ts';
import { quotaMeta, refusedBy, type ToolResult } from '../../helpers/quotas.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { sourceCli } from '../../helpers/cli.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Four eyes on loosening (ADR 0079, docs/governance.md "Four eyes on loosening") on one stack: with the workspace's
 * setting on, a change that loosens a rule answers 202 "waits for approval <id>" and changes nothing (the row read
 * back, and the edge still refusing a call); its requester never approves it (403); an approver the setting names
 * approves it and it is applied once (a second approval: 409), all in the audit trail; a tightening applies at once;
 * a target changed since the request refuses its approval (409); turning the setting off waits for approval too.
 * Loosening is judged by effect (ADR 0087): creating what a change would loosen is held as the change is
 * (a policy, a key, a public server, a renamed policy in workspace files), a role given is held, a renamed operation
 * may not cost less unheld, and a key the requester created never decides its change.
 */

let stack: Stack;
/** The requester: a management key of its own (the bootstrap key created every key here: none of them may decide its changes). */
let api: ManagementClient;
let requesterKeyId: string;
let agent: Client;
let approver: ManagementClient;
let bystander: ManagementClient;
let bystanderKeyId: string;
let approverKeyId: string;
let upstream: TicketSystem;
let example: RegisteredExample;
let client: Client;
let quotaId: string;
let db: pg.Client;

interface Waiting {
  status: string;
  detail: string;
  loosens: string[];
  changeRequest: { id: string; expiresAt: string };
}

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof ApiError) return err.status;
    throw err;
  }
}

const patchQuota = (body: Record<string, unknown>) =>
  api.PATCH('/quotas/{id}', { params: { path: { id: quotaId } }, body: body as never });

async function held(p: Promise<{ data?: unknown; response: Response }>): Promise<Waiting> {
  const r = await p;
  expect(r.response.status).toBe(202);
  return r.data as Waiting;
}

const approve = (c: ManagementClient, id: string) =>
  unwrap(c.POST('/change_requests/{id}/approve', { params: { path: { id } }, body: {} }));

const quota = () => unwrap(api.GET('/quotas/{id}', { params: { path: { id: quotaId } } }));

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'four-eyes-key' });
  const started = await startTestStack('four-eyes');
  stack = started.stack;
  const boot = started.api;
  db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  const requester = await unwrap(
    boot.POST('/api_keys', { body: { name: 'requester', scopes: ['management', 'audit'] } }),
  );
  requesterKeyId = requester.id;
  api = createManagementClient(stack.controlPlaneUrl, requester.key);
  example = await registerTicketExample(api, upstream.url, 'four-eyes-key');
  const second = await unwrap(boot.POST('/api_keys', { body: { name: 'second admin', scopes: ['management'] } }));
  approverKeyId = second.id;
  approver = createManagementClient(stack.controlPlaneUrl, second.key);
  const third = await unwrap(boot.POST('/api_keys', { body: { name: 'bystander', scopes: ['management'] } }));
  bystander = createManagementClient(stack.controlPlaneUrl, third.key);
  bystanderKeyId = third.id;
  // An agent's key, named by two policies: it may search, and read ticket T-1 only.
  const agentKey = await unwrap(boot.POST('/api_keys', { body: { name: 'agent', scopes: ['runtime'] } }));
  const principals = [{ type: 'api_key' as const, value: agentKey.id }];
  await unwrap(
    api.POST('/access_policies', {
      body: { name: 'agent-lists', principals, servers: ['*'], tools: ['search_tickets'] },
    }),
  );
  const reads = { name: 'agent-reads', principals, servers: ['*'], tools: ['get_ticket'] };
  await unwrap(api.POST('/access_policies', { body: { ...reads, condition: 'args.ticket_id == "T-1"' } }));
  agent = new Client({ name: 'four-eyes-agent', version: '1.0.0' });
  await agent.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${example.serverId}`), {
      requestInit: { headers: { 'x-api-key': agentKey.key } },
    }),
  );
  const q = await unwrap(
    api.POST('/quotas', {
      body: { name: 'no-get-ticket', match: { tools: ['get_ticket'] }, counts: 'calls', limit: 0, window: 'minute' },
    }),
  );
  quotaId = q.id;
  client = new Client({ name: 'four-eyes-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${example.serverId}`), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  await refusedBy(client, 'no-get-ticket');
  await unwrap(
    api.PUT('/change_approvals/settings', {
      body: { enabled: true, approvers: { apiKeys: [approverKeyId] }, approvals: 1, expiresInSeconds: 3600 },
    }),
  );
}, 120_000);

afterAll(async () => {
  await client?.close().catch(() => undefined);
  await agent?.close().catch(() => undefined);
  await db?.end();
  await stack?.stop();
  await upstream?.close();
});

describe('four eyes on loosening', () => {
  it('holds a loosening change until another approver approves it, then applies it once, all audited', async () => {
    const waiting = await held(patchQuota({ limit: 100 }));
    const id = waiting.changeRequest.id;
    expect(waiting.status).toBe('waits_for_approval');
    expect(waiting.loosens).toEqual(['limit']);
    expect(waiting.detail).toContain(`waits for approval ${id}`);
    // Nothing changed: the row, and the edge still refusing the call.
    expect((await quota()).limit).toBe(0);
    await refusedBy(client, 'no-get-ticket');
    const listed = await unwrap(api.GET('/change_requests', { params: { query: { state: 'pending' } } }));
    expect(listed.data.map((r) => r.id)).toContain(id);
    // The requester never approves their own change; a key the setting does not name neither.
    expect(await status(approve(api, id))).toBe(403);
    expect(await status(approve(bystander, id))).toBe(403);
    expect((await quota()).limit).toBe(0);
    const applied = await approve(approver, id);
    expect(applied.state).toBe('applied');
    expect((await quota()).limit).toBe(100);
    await waitFor('the raised quota on the edge', async () => {
      const r = (await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'none' } })) as ToolResult;
      return quotaMeta(r) === undefined ? true : undefined;
    });
    // Single use.
    expect(await status(approve(approver, id))).toBe(409);
    const trail = await unwrap(api.GET('/audit_events', { params: { query: { resource_id: id, order: 'asc' } } }));
    const events = trail.data.map((e) => [e.action, e.outcome, e.actor.id]);
    expect(events).toEqual([
      ['change_request.requested', 'success', expect.any(String)],
      ['change_request.approved', 'success', approverKeyId],
      ['change_request.applied', 'success', expect.any(String)],
    ]);
    const appliedEvent = trail.data.find((e) => e.action === 'change_request.applied')!;
    expect(appliedEvent.actor.id).not.toBe(approverKeyId);
    expect(JSON.stringify(appliedEvent.details)).toContain(approverKeyId);
    expect(trail.data.filter((e) => e.action === 'change_request.applied')).toHaveLength(1);
    // The refused approvals too (written once their answers were sent).
    await waitFor('the refused approvals in the trail', async () => {
      const query = { action: 'change_request.approved', outcome: 'refused' } as const;
      const refused = await unwrap(api.GET('/audit_events', { params: { query } }));
      return refused.data.length === 2 ? true : undefined;
    });
  });

  it('applies a tightening change at once', async () => {
    const r = await patchQuota({ limit: 50 });
    expect(r.response.status).toBe(200);
    expect((await quota()).limit).toBe(50);
  });

  it('refuses the approval of a change whose target changed since (409), and changes nothing', async () => {
    const waiting = await held(patchQuota({ enforce: false }));
    // A change that loosens nothing applies at once, and moves the row on.
    expect((await patchQuota({ description: 'moved on' })).response.status).toBe(200);
    expect(await status(approve(approver, waiting.changeRequest.id))).toBe(409);
    expect((await quota()).enforce).toBe(true);
    const after = await unwrap(
      api.GET('/change_requests/{id}', { params: { path: { id: waiting.changeRequest.id } } }),
    );
    expect(after.state).toBe('stale');
  });

  it('holds turning the setting off and a server made public; refuses to hold a credential', async () => {
    const off = await held(
      api.PUT('/change_approvals/settings', {
        body: { enabled: false, approvers: { apiKeys: [approverKeyId] }, approvals: 1, expiresInSeconds: 3600 },
      }),
    );
    expect(off.loosens).toEqual(['enabled']);
    expect((await unwrap(api.GET('/change_approvals/settings'))).enabled).toBe(true);
    const pub = await held(
      api.PATCH('/mcp_manager/{id}', { params: { path: { id: example.serverId } }, body: { isPublic: true } }),
    );
    expect(pub.loosens).toEqual(['isPublic']);
    const server = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: example.serverId } } }));
    expect(server.isPublic).toBe(false);
    // Deleting the last policy that names a key lets the key call every tool: a loosening too.
    const policy = await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'bystander-reads',
          principals: [{ type: 'api_key', value: bystanderKeyId }],
          servers: ['*'],
          tools: ['get_ticket'],
        },
      }),
    );
    const freed = await held(api.DELETE('/access_policies/{id}', { params: { path: { id: policy.id } } }));
    expect(freed.loosens).toEqual(['principals']);
    expect((await unwrap(api.GET('/access_policies/{id}', { params: { path: { id: policy.id } } }))).name).toBe(
      'bystander-reads',
    );
    // A loosening change carrying a credential is refused: a change request never stores one.
    const secret = 'Bearer four-eyes-never-stored';
    const externalMcpConfigs = [
      { name: 'ext', url: 'https://mcp.example.com/mcp', headers: { Authorization: secret } },
    ];
    const withHeaders = { isPublic: true, externalMcpConfigs } as never;
    const path = { id: example.serverId };
    expect(await status(unwrap(api.PATCH('/mcp_manager/{id}', { params: { path }, body: withHeaders })))).toBe(422);
    expect(JSON.stringify(await unwrap(api.GET('/change_requests')))).not.toContain(secret);
    const denied = await unwrap(
      approver.POST('/change_requests/{id}/deny', { params: { path: { id: pub.changeRequest.id } }, body: {} }),
    );
    expect(denied.state).toBe('denied');
  });

  it('workspace files: plan marks the loosening change; apply stops before it with its change request', async () => {
    await unwrap(
      api.POST('/quotas', {
        body: {
          name: 'aaa-files-tight',
          match: { tools: ['search_tickets'] },
          counts: 'calls',
          limit: 10,
          window: 'day',
        },
      }),
    );
    const { files } = await unwrap(api.GET('/workspace_files'));
    // session.yaml left out (kept, unmanaged): its default rule's approver exports as a key id plan does not resolve.
    const edited = files
      .filter((f) => f.path !== 'session.yaml')
      .map((f) =>
        f.path === 'quotas/no-get-ticket.yaml'
          ? { ...f, content: f.content.replace(/^limit: \d+$/m, 'limit: 500') }
          : f.path === 'quotas/aaa-files-tight.yaml'
            ? { ...f, content: f.content.replace(/^limit: 10$/m, 'limit: 5') }
            : f,
      );
    const plan = await unwrap(api.POST('/workspace_files/plan', { body: { files: edited } }));
    const byName = new Map(plan.changes.map((c) => [c.name, c]));
    expect(byName.get('no-get-ticket')).toMatchObject({ action: 'update', loosens: true, loosenedFields: ['limit'] });
    expect(byName.get('aaa-files-tight')).toMatchObject({
      action: 'update',
      fields: expect.arrayContaining(['limit']),
    });
    expect(byName.get('aaa-files-tight')!.loosens).toBeUndefined();
    const result = await unwrap(api.POST('/workspace_files/apply', { body: { files: edited } }));
    expect(result.outcome).toBe('waits_for_approval');
    expect(result.waiting).toMatchObject({ name: 'no-get-ticket', loosens: true });
    const id = result.waiting!.changeRequest.id;
    expect((await unwrap(api.GET('/change_requests/{id}', { params: { path: { id } } }))).state).toBe('pending');
    expect((await quota()).limit).toBe(50);
    // The tightening before it applied at once.
    expect(result.applied.map((c) => c.name)).toContain('aaa-files-tight');
    const tight = await unwrap(api.GET('/quotas'));
    expect(tight.data.find((q) => q.name === 'aaa-files-tight')!.limit).toBe(5);
  });

  it('refuses an approval given after the request expired (409), changes nothing, and records the expiry', async () => {
    const waiting = await held(patchQuota({ limit: 1000 }));
    const id = waiting.changeRequest.id;
    // The request's clock moved past its expiry, as the approvals' expiry tests do (the setting's minimum is a minute).
    await db.query(`UPDATE change_requests SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
    const listed = await unwrap(api.GET('/change_requests', { params: { query: { state: 'expired' } } }));
    expect(listed.data.map((r) => r.id)).toContain(id);
    const late = await approver.POST('/change_requests/{id}/approve', { params: { path: { id } }, body: {} });
    expect(late.response.status).toBe(409);
    expect(JSON.stringify(late.error)).toContain('expired');
    expect((await quota()).limit).toBe(50);
    expect((await unwrap(api.GET('/change_requests/{id}', { params: { path: { id } } }))).state).toBe('expired');
    // Expired once: approving again, or denying, finds it decided.
    expect(await status(approve(approver, id))).toBe(409);
    const trail = await unwrap(api.GET('/audit_events', { params: { query: { resource_id: id, order: 'asc' } } }));
    expect(trail.data.map((e) => e.action).filter((a) => a !== 'change_request.approved')).toEqual([
      'change_request.requested',
      'change_request.expired',
    ]);
    expect(trail.data.some((e) => e.action === 'change_request.applied')).toBe(false);
  });

  it('holds an external server’s autoAccept turned on; turning it off applies at once', async () => {
    const ext = await unwrap(
      api.POST('/external_mcp_servers', { body: { name: 'four-eyes-ext', url: 'http://127.0.0.1:9/mcp' } }),
    );
    const path = { id: ext.id };
    const waiting = await held(
      api.PATCH('/external_mcp_servers/{id}', { params: { path }, body: { autoAccept: true } }),
    );
    expect(waiting.loosens).toEqual(['autoAccept']);
    expect((await unwrap(api.GET('/external_mcp_servers/{id}', { params: { path } }))).autoAccept).toBe(false);
    const applied = await approve(approver, waiting.changeRequest.id);
    expect(applied.state).toBe('applied');
    expect((await unwrap(api.GET('/external_mcp_servers/{id}', { params: { path } }))).autoAccept).toBe(true);
    const off = await api.PATCH('/external_mcp_servers/{id}', { params: { path }, body: { autoAccept: false } });
    expect(off.response.status).toBe(200);
    expect((await unwrap(api.GET('/external_mcp_servers/{id}', { params: { path } }))).autoAccept).toBe(false);
  });

  it('holds adding an enterprise IdP and changing its keys; renaming, rotating and removing it apply at once', async () => {
    const idp = {
      name: 'four-eyes-idp',
      issuer: 'https://idp.four-eyes.example',
      jwksUrl: 'https://idp.four-eyes.example/jwks',
      clientId: 'agent',
    };
    // plan marks the IdP a file adds as loosening.
    const { files } = await unwrap(api.GET('/workspace_files'));
    const added = { path: 'enterprise-idps/four-eyes-idp.yaml', content: `name: ${idp.name}\nissuer: ${idp.issuer}\n` };
    added.content += `jwksUrl: ${idp.jwksUrl}\nclientId: ${idp.clientId}\nuserClaim: sub\n`;
    const plan = await unwrap(
      api.POST('/workspace_files/plan', {
        body: { files: [...files.filter((f) => f.path !== 'session.yaml'), added] },
      }),
    );
    expect(plan.changes.find((c) => c.name === idp.name)).toMatchObject({
      action: 'create',
      loosens: true,
      loosenedFields: ['(created)'],
    });
    const waiting = await held(api.POST('/enterprise_idps', { body: idp }));
    expect(waiting.loosens).toEqual(['(created)']);
    expect(waiting.detail).toContain(`waits for approval ${waiting.changeRequest.id}`);
    const listed = async () => (await unwrap(api.GET('/enterprise_idps'))).data.filter((i) => i.name === idp.name);
    expect(await listed()).toEqual([]);
    // The CLI stops on a held change alike: exit 7 with the approval named, nothing added.
    const args = ['--issuer', 'https://cli.four-eyes.example', '--jwks-url', 'https://cli.four-eyes.example/jwks'];
    const cli = await sourceCli(stack)('idps', 'add', '--name', 'four-eyes-cli', ...args, '--client-id', 'cli').then(
      () => ({ code: 0, stderr: '' }),
      (err: unknown) => err as { code: number; stderr: string },
    );
    expect(cli.code).toBe(7);
    expect(cli.stderr).toMatch(/waits for approval [0-9a-f-]{36}/);
    expect((await unwrap(api.GET('/enterprise_idps'))).data.some((i) => i.name === 'four-eyes-cli')).toBe(false);
    expect(await status(approve(api, waiting.changeRequest.id))).toBe(403);
    const applied = await approve(approver, waiting.changeRequest.id);
    expect(applied.state).toBe('applied');
    // The client secret is not in the approver's answer: the requester rotates it.
    expect(JSON.stringify(applied)).not.toContain('tpidp_');
    const [row] = await listed();
    expect(row).toMatchObject(idp);
    const path = { id: row!.id };
    const keys = await held(
      api.PATCH('/enterprise_idps/{id}', { params: { path }, body: { jwksUrl: 'https://evil.example/jwks' } }),
    );
    expect(keys.loosens).toEqual(['jwksUrl']);
    expect((await unwrap(api.GET('/enterprise_idps/{id}', { params: { path } }))).jwksUrl).toBe(idp.jwksUrl);
    const renamed = await api.PATCH('/enterprise_idps/{id}', {
      params: { path },
      body: { name: 'four-eyes-idp-2', rotateSecret: true },
    });
    expect(renamed.response.status).toBe(200);
    expect(renamed.data!.clientSecret).toMatch(/^tpidp_/);
    // The held change was bound to the IdP as it was: renamed since, its approval is refused.
    expect(await status(approve(approver, keys.changeRequest.id))).toBe(409);
    const removed = await api.DELETE('/enterprise_idps/{id}', { params: { path } });
    expect(removed.response.status).toBe(204);
    expect(await status(unwrap(api.GET('/enterprise_idps/{id}', { params: { path } })))).toBe(404);
  });

  it('a person the setting names decides through a link: single use, never made by the requester, audited', async () => {
    await unwrap(api.POST('/external_users', { body: { name: 'dana' } }));
    const settings = {
      approvers: { apiKeys: [approverKeyId], people: ['dana'] },
      approvals: 1,
      expiresInSeconds: 3600,
    };
    const named = await held(api.PUT('/change_approvals/settings', { body: { enabled: true, ...settings } }));
    expect(named.loosens).toEqual(['approvers']);
    await approve(approver, named.changeRequest.id);
    const waiting = await held(patchQuota({ limit: 2000 }));
    const id = waiting.changeRequest.id;
    const makeLink = (c: ManagementClient, person: string) =>
      c.POST('/change_requests/{id}/links', { params: { path: { id } }, body: { person } });
    // The requester never makes one (whoever holds a link decides); a person the setting did not name gets none.
    expect((await makeLink(api, 'dana')).response.status).toBe(403);
    expect((await makeLink(approver, 'erin')).response.status).toBe(422);
    const link = await unwrap(makeLink(approver, 'dana'));
    expect(link).toMatchObject({ person: 'dana', url: expect.stringMatching(/\/approve-change\/[A-Za-z0-9_-]{43}$/) });
    const page = await fetch(link.url);
    expect(await page.text()).toContain(`PATCH /quotas/${quotaId}`);
    const { nonce, cookie } = await openConnectPage(link.url);
    const origin = new URL(link.url).origin;
    const post = (form: Record<string, string>, headers: Record<string, string>) =>
      fetch(link.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(form).toString(),
      });
    // Without the browser's cookie: refused before anything is decided.
    expect((await post({ nonce: nonce!, decision: 'approve' }, { origin })).status).toBe(403);
    expect((await quota()).limit).toBe(50);
    const approved = await post(
      { nonce: nonce!, decision: 'approve', comment: 'ok by dana' },
      { origin, cookie: cookie! },
    );
    expect(approved.status).toBe(200);
    expect(await approved.text()).toContain('approved and applied');
    expect((await quota()).limit).toBe(2000);
    // Single use: the link decides nothing more.
    expect((await post({ nonce: nonce!, decision: 'deny' }, { origin, cookie: cookie! })).status).toBe(410);
    const after = await unwrap(api.GET('/change_requests/{id}', { params: { path: { id } } }));
    expect(after).toMatchObject({ state: 'applied', decisions: [{ approver: { type: 'person', name: 'dana' } }] });
    const trail = await unwrap(api.GET('/audit_events', { params: { query: { resource_id: id, order: 'asc' } } }));
    const done = trail.data.filter((e) => e.outcome === 'success');
    expect(done.map((e) => [e.action, e.actor.type])).toEqual([
      ['change_request.requested', 'api_key'],
      ['change_request_link.create', 'api_key'],
      ['change_request.approved', 'person'],
      ['change_request.applied', 'api_key'],
    ]);
  });

  it('holds a connector document whose operation costs less; a higher cost applies at once', async () => {
    const put = (yaml: string) =>
      api.PUT('/connectors/{id}', {
        params: { path: { id: example.connectorId } },
        body: yaml as never,
        bodySerializer: (b) => b as unknown as string,
        headers: { 'content-type': 'application/yaml' },
      });
    const priced = ticketSystemDescriptorYaml.replace(
      '    summary: "Get ticket by ID"\n',
      '    summary: "Get ticket by ID"\n    cost: 5\n',
    );
    expect(priced).not.toBe(ticketSystemDescriptorYaml);
    expect((await put(priced)).response.status).toBe(200);
    const cheaper = await held(put(ticketSystemDescriptorYaml));
    expect(cheaper.loosens).toEqual(['cost']);
    const costOf = async () => {
      const c = await unwrap(api.GET('/connectors/{id}', { params: { path: { id: example.connectorId } } }));
      const ops = (c as unknown as { descriptor: { operations: { operation_id: string; cost?: number }[] } }).descriptor
        .operations;
      return ops.find((o) => o.operation_id === 'get_ticket')?.cost;
    };
    expect(await costOf()).toBe(5);
    expect((await approve(approver, cheaper.changeRequest.id)).state).toBe('applied');
    expect(await costOf()).toBeUndefined();
  });
  // Issue #89 finding 15: costs compared by what an operation calls, not by its name.
  it('holds a renamed operation that costs less than it did under its old name', async () => {
    const put = (yaml: string) =>
      api.PUT('/connectors/{id}', {
        params: { path: { id: example.connectorId } },
        body: yaml as never,
        bodySerializer: (b) => b as unknown as string,
        headers: { 'content-type': 'application/yaml' },
      });
    const priced = ticketSystemDescriptorYaml.replace(
      '    summary: "Get ticket by ID"\n',
      '    summary: "Get ticket by ID"\n    cost: 5\n',
    );
    expect((await put(priced)).response.status).toBe(200);
    const renamed = ticketSystemDescriptorYaml.replaceAll('operation_id: get_ticket\n', 'operation_id: fetch_ticket\n');
    expect(renamed.match(/operation_id: fetch_ticket/g)).toHaveLength(2);
    const cheaper = await held(put(renamed));
    expect(cheaper.loosens).toEqual(['cost']);
    const c = await unwrap(api.GET('/connectors/{id}', { params: { path: { id: example.connectorId } } }));
    const ops = (c as unknown as { descriptor: { operations: { operation_id: string; cost?: number }[] } }).descriptor
      .operations;
    expect(ops.find((o) => o.operation_id === 'get_ticket')?.cost).toBe(5);
    expect(ops.some((o) => o.operation_id === 'fetch_ticket')).toBe(false);
  });

  // Issue #89 finding 1: creating what a change would loosen is held as the change is.
  it('holds a policy created rather than changed: a new grant, deleted and created again, renamed in files', async () => {
    const policies = async () => (await unwrap(api.GET('/access_policies'))).data;
    const grant = await held(
      api.POST('/access_policies', {
        body: {
          name: 'mallory-all',
          principals: [{ type: 'oauth_subject', value: 'mallory' }],
          servers: ['*'],
          tools: ['*'],
          enforce: false,
        },
      }),
    );
    expect(grant.loosens).toEqual(['(created)']);
    expect((await policies()).some((p) => p.name === 'mallory-all')).toBe(false);
    // The agent reads T-1 only: a PATCH dropping the condition is held, and so is deleting and creating it without.
    const reads = (await policies()).find((p) => p.name === 'agent-reads')!;
    const widened = await held(
      api.PATCH('/access_policies/{id}', { params: { path: { id: reads.id } }, body: { condition: null } }),
    );
    expect(widened.loosens).toEqual(['condition']);
    const deleted = await api.DELETE('/access_policies/{id}', { params: { path: { id: reads.id } } });
    expect(deleted.response.status).toBe(204);
    const { name, principals, servers, tools } = reads;
    const again = await held(api.POST('/access_policies', { body: { name, principals, servers, tools } }));
    expect(again.loosens).toEqual(['(created)']);
    expect((await policies()).some((p) => p.name === 'agent-reads')).toBe(false);
    const call = (await agent.callTool({ name: 'get_ticket', arguments: { ticket_id: 'T-2' } })) as ToolResult;
    expect(call.isError).toBe(true);
    // Workspace files: the agent's other policy renamed and widened to every tool; apply stops at the new policy.
    const { files } = await unwrap(api.GET('/workspace_files'));
    const lists = files.find((f) => f.path === 'access-policies/agent-lists.yaml')!;
    const renamedFile = {
      path: 'access-policies/agent-any.yaml',
      content: lists.content
        .replace(/^name: agent-lists$/m, 'name: agent-any')
        .replace(/^( *- )search_tickets$/m, '$1"*"'),
    };
    expect(renamedFile.content).toContain('"*"');
    const edited = [...files.filter((f) => f.path !== 'session.yaml' && f !== lists), renamedFile];
    const result = await unwrap(api.POST('/workspace_files/apply', { body: { files: edited } }));
    expect(result.outcome).toBe('waits_for_approval');
    expect(result.waiting).toMatchObject({ kind: 'access_policy', name: 'agent-any', action: 'create' });
    expect((await policies()).some((p) => p.name === 'agent-any')).toBe(false);
    expect((await policies()).some((p) => p.name === 'agent-lists')).toBe(true);
  });

  // Issue #89 finding 2: a new identity, or a role, is a change under four eyes; a decider is another person.
  it('holds a new key and a role given; a key the requester created never decides its change', async () => {
    const minted = await held(api.POST('/api_keys', { body: { name: 'minted', scopes: ['management'] } }));
    expect(minted.loosens).toEqual(['(created)']);
    const value = (minted as Waiting & { key?: string }).key!;
    expect(value).toMatch(/^tp_/);
    const keys = async () => (await unwrap(api.GET('/api_keys'))).data;
    expect((await keys()).some((k) => k.name === 'minted')).toBe(false);
    const mintedApi = createManagementClient(stack.controlPlaneUrl, value);
    expect(await status(unwrap(mintedApi.GET('/change_requests')))).toBe(401);
    const applied = await approve(approver, minted.changeRequest.id);
    expect(applied.state).toBe('applied');
    // The approver never sees the value; the requester's works now.
    expect(JSON.stringify(applied)).not.toContain(value);
    const mintedId = (await keys()).find((k) => k.name === 'minted')!.id;
    // The CLI stops on it (exit 7) and prints the value once.
    const cli = await sourceCli(stack)('keys', 'create', '--name', 'cli-key', '--scope', 'runtime').then(
      () => ({ code: 0, stderr: '' }),
      (err: unknown) => err as { code: number; stderr: string },
    );
    expect(cli.code).toBe(7);
    expect(cli.stderr).toMatch(/key \(shown once; it works once approved\): tp_/);
    // A key a workspace file adds waits alike, its value in apply's answer for the requester.
    const { files } = await unwrap(api.GET('/workspace_files'));
    const keyFile = { path: 'api-keys/filed.yaml', content: 'name: filed\nscopes:\n  - audit\n' };
    const applied2 = await unwrap(
      api.POST('/workspace_files/apply', {
        body: { files: [...files.filter((f) => f.path !== 'session.yaml'), keyFile] },
      }),
    );
    expect(applied2.outcome).toBe('waits_for_approval');
    expect(applied2.waiting).toMatchObject({ kind: 'api_key', name: 'filed', loosens: true });
    expect(applied2.waiting!.key).toMatch(/^tp_/);
    expect((await keys()).some((k) => k.name === 'filed')).toBe(false);
    expect(await status(unwrap(mintedApi.GET('/change_requests')))).toBe(200);
    // The minted key named an approver (approved by another): still, it never decides its creator's change.
    const settings = await unwrap(api.GET('/change_approvals/settings'));
    const approvers = { ...settings.approvers, apiKeys: [...(settings.approvers.apiKeys ?? []), mintedId] };
    const named = await held(
      api.PUT('/change_approvals/settings', {
        body: { enabled: true, approvers, approvals: 1, expiresInSeconds: settings.expiresInSeconds },
      }),
    );
    await approve(approver, named.changeRequest.id);
    const waiting = await held(patchQuota({ limit: 4000 }));
    const own = await mintedApi.POST('/change_requests/{id}/approve', {
      params: { path: { id: waiting.changeRequest.id } },
      body: {},
    });
    expect(own.response.status).toBe(403);
    expect(JSON.stringify(own.error)).toContain('an identity the requester created');
    expect((await quota()).limit).not.toBe(4000);
    // Nor does a key the minted key created (its creation approved by another): the chain leads to the requester.
    const grand = await held(mintedApi.POST('/api_keys', { body: { name: 'grandchild', scopes: ['approve'] } }));
    expect((await approve(approver, grand.changeRequest.id)).state).toBe('applied');
    const grandApi = createManagementClient(stack.controlPlaneUrl, (grand as Waiting & { key: string }).key);
    const chained = await grandApi.POST('/change_requests/{id}/approve', {
      params: { path: { id: waiting.changeRequest.id } },
      body: {},
    });
    expect(chained.response.status).toBe(403);
    expect(JSON.stringify(chained.error)).toContain('an identity the requester created');
    // A key another created decides it.
    expect((await approve(approver, waiting.changeRequest.id)).state).toBe('applied');
    // Roles: a first mapping narrows (everyone signed in was an admin) and applies; giving a role is held.
    const mapping = { groupsClaim: null, assignments: [{ subject: 'ada', roles: ['admin' as const] }] };
    expect((await api.PUT('/role_mappings', { body: mapping })).response.status).toBe(200);
    const more = [...mapping.assignments, { subject: 'mallory', roles: ['admin' as const] }];
    const admin = await held(api.PUT('/role_mappings', { body: { ...mapping, assignments: more } }));
    expect(admin.loosens).toEqual(['assignments[subject mallory: admin]']);
    expect((await unwrap(api.GET('/role_mappings'))).assignments).toEqual(mapping.assignments);
    expect((await held(api.DELETE('/role_mappings'))).loosens).toEqual(['(deleted)']);
    expect((await unwrap(api.GET('/role_mappings'))).configured).toBe(true);
    // A public server is held whether made public or created public.
    const pub = await held(api.POST('/mcp_manager', { body: { name: 'four-eyes-public', isPublic: true } }));
    expect(pub.loosens).toEqual(['isPublic']);
    const servers = await unwrap(api.GET('/mcp_manager'));
    expect(JSON.stringify(servers)).not.toContain('four-eyes-public');
    expect(requesterKeyId).not.toBe(mintedId);
  });
});
