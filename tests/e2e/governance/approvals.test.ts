import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import pg from 'pg';
import type { Browser } from 'playwright-core';
import { openConnectPage } from '../../fixtures/calendar-connector.ts';
import { audit, launchChromium } from '../../helpers/browser.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';

/**
 * Approval by someone else, "four eyes" (ADR 0049, first milestone), on one real stack with the official SDK client:
 * a call of a tool in its server's `approvalTools` is not sent; the agent gets a tool error with the request's id;
 * an approver (another API key) approves through the API; the same call retried runs once (the upstream receives
 * exactly one request with those arguments) and the next retry asks again. A denial, an expiry and other arguments
 * are refused or asked anew with nothing sent; the caller cannot approve its own call; two approvers racing give one
 * decision and one execution; a replayed approval is refused. SMART `execute_tool` and a workflow whose step calls
 * such a tool are held the same way. An access policy whose condition is false may require approval instead of
 * refusing (`onFalse: "require_approval"`): such calls are held the same way, and editing the policy voids them. Each
 * new request is POSTed by a worker to the rule's webhooks (a JSON body and a Slack message) on a receiver on 127.0.0.1
 * (the workers' OUTBOUND_ALLOW in test stacks), its arguments masked. A person the rule names decides through their
 * link, in a browser (Chromium).
 */

const PASSCODE = 'passcode-4e7a19c2d0';
/** An order id shaped like a GitHub token: the edge masks it wherever it is shown or sent. */
const TOKEN_ID = 'ghp_R8a2Kq9ZtW4xLm7Np3Vb6Cd1Ef5Gh0Jk';
const ERAS = ['2025-11-25', '2026-07-28'] as const;
type Era = (typeof ERAS)[number];

let stack: Stack;
let api: ManagementClient;
let db: pg.Client;
let upstream: Server;
/** The webhook receiver: each body POSTed to it, with the path it came to. */
let hooks: Server;
const hooked: { path: string; text: string }[] = [];
let hookUrl = '';
/** The control plane itself (its PUBLIC_API_URL), not the contract proxy before it. */
let controlPlaneUrl = '';
/** What reached the upstream: each request's method and URL. */
const received: string[] = [];
const servers: Record<'orders' | 'brief' | 'smart' | 'flows' | 'burst', string> = {
  orders: '',
  brief: '',
  smart: '',
  flows: '',
  burst: '',
};
/** The approvers: two keys the rule names, and one it does not. */
const approvers: Record<'a' | 'b' | 'other', { id: string; api: ManagementClient }> = {} as never;
let callerKeyId: string;
const clients: Client[] = [];

const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'Orders', version: '1.0.0' },
  paths: {
    '/orders/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      get: {
        operationId: 'get_order',
        responses: { '200': { description: 'The order', content: { 'application/json': {} } } },
      },
      delete: {
        operationId: 'delete_order',
        parameters: [{ name: 'passcode', in: 'query', schema: { type: 'string', format: 'password' } }],
        responses: { '200': { description: 'Deleted', content: { 'application/json': {} } } },
      },
    },
    '/orders/{id}/refund': {
      post: {
        operationId: 'refund_order',
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'amount', in: 'query', required: true, schema: { type: 'number' } },
        ],
        responses: { '200': { description: 'Refunded', content: { 'application/json': {} } } },
      },
    },
  },
};

/** An MCP client of `server` calling with `who.key` (default: the bootstrap key), acting for `who.person` if given. */
async function mcpClient(
  server: keyof typeof servers,
  era: Era = '2025-11-25',
  who: { key?: string; person?: string } = {},
): Promise<Client> {
  const key = who.key ?? stack.bootstrapKey;
  const client = new Client(
    { name: 'approvals', version: '1.0.0' },
    era === '2026-07-28' ? { versionNegotiation: { mode: { pin: '2026-07-28' as const } } } : {},
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${servers[server]}`), {
      requestInit: { headers: { 'x-api-key': key, ...(who.person ? { 'x-username': who.person } : {}) } },
    }),
  );
  expect(client.getNegotiatedProtocolVersion()).toBe(era);
  clients.push(client);
  return client;
}

interface Outcome {
  isError: boolean;
  text: string;
  approval?: { id: string; state: string; expiresAt?: string };
  /** What reached the upstream during the call. */
  sent: string[];
}

/** Calls delete_order(`id`) (through `execute_tool` on the SMART server): what came back and what was sent. */
async function deleteOrder(client: Client, id: string, smart = false): Promise<Outcome> {
  const before = received.length;
  const args = { id, passcode: PASSCODE };
  const r = smart
    ? await client.callTool({ name: 'execute_tool', arguments: { name: 'delete_order', arguments: args } })
    : await client.callTool({ name: 'delete_order', arguments: args });
  const meta = r._meta as Record<string, Outcome['approval']> | undefined;
  return {
    isError: r.isError === true,
    text: (r.content as { text: string }[])[0]?.text ?? '',
    ...(meta?.['toolplane/approval'] ? { approval: meta['toolplane/approval'] } : {}),
    sent: received.slice(before),
  };
}

/** The request's row, once the control plane made it from the edge's event. */
function requestRow(id: string) {
  return waitFor(`approval request ${id} in the control plane`, async () => {
    const { data } = await api.GET('/approvals/{id}', { params: { path: { id } } });
    return data;
  });
}

const decide = (who: ManagementClient, id: string, how: 'approve' | 'deny', comment?: string) =>
  how === 'approve'
    ? who.POST('/approvals/{id}/approve', { params: { path: { id } }, body: comment ? { comment } : {} })
    : who.POST('/approvals/{id}/deny', { params: { path: { id } }, body: comment ? { comment } : {} });

/** A call that asks for a new approval: its request's id (the agent was told it, and that nothing was sent). */
async function newRequest(client: Client, orderId: string, smart = false): Promise<string> {
  const asked = await deleteOrder(client, orderId, smart);
  expect(asked).toMatchObject({ isError: true, sent: [], approval: { state: 'pending' } });
  expect(asked.text).toContain(`Approval request ${asked.approval!.id} was made`);
  expect(asked.text).toContain('call "delete_order" again with the same arguments');
  await requestRow(asked.approval!.id);
  return asked.approval!.id;
}

const deleted = (orderId: string) => `DELETE /orders/${orderId}?passcode=${PASSCODE}`;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    received.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ done: req.method }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  hooks = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      hooked.push({ path: req.url ?? '', text });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hooks`;
  ({ stack, api, directControlPlaneUrl: controlPlaneUrl } = await startTestStack('approvals'));
  db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  // A management key decides as an approver does; b and other hold the approve scope only.
  for (const name of ['a', 'b', 'other'] as const) {
    const scopes: ('management' | 'approve')[] = name === 'a' ? ['management'] : ['approve'];
    const key = await unwrap(api.POST('/api_keys', { body: { name: `approver-${name}`, scopes } }));
    approvers[name] = { id: key.id, api: createManagementClient(stack.controlPlaneUrl, key.key) };
  }
  const keys = (await unwrap(api.GET('/api_keys'))).data;
  callerKeyId = keys.find((k) => k.prefix === stack.bootstrapKey.slice(0, k.prefix.length))!.id;
  // People the rule names (they decide through their links), and carol, whom it does not name.
  for (const name of ['alice', 'bob', 'carol']) await unwrap(api.POST('/external_users', { body: { name } }));
  const connector = await unwrap(api.POST('/connectors', { body: openApiDocument as never }));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'orders', base_url: url, credentials: {} },
    }),
  );
  // The caller's own key is named too: it still never approves its own call.
  const rule = { approvers: { apiKeys: [approvers.a.id, approvers.b.id, callerKeyId], people: ['alice', 'bob'] } };
  const make = async (name: string, extra: Record<string, unknown>) =>
    (
      await unwrap(
        api.POST('/mcp_manager', {
          body: { name, mode: 'NORMAL', connectorInstanceId: instance.id, approvalTools: ['delete_order'], ...extra },
        }),
      )
    ).id;
  const notify = [
    { url: `${hookUrl}/json-t0k3n`, format: 'json' },
    { url: `${hookUrl}/slack-t0k3n`, format: 'slack' },
  ];
  servers.orders = await make('orders', { approvalRule: { ...rule, notify } });
  servers.brief = await make('orders-brief', { approvalRule: { ...rule, expiresInSeconds: 2 } });
  const burstHook = [{ url: `${hookUrl}/burst-t0k3n`, format: 'json' }];
  servers.burst = await make('orders-burst', {
    approvalRule: { approvers: { apiKeys: [approvers.a.id] }, notify: burstHook },
  });
  servers.smart = (
    await unwrap(
      api.POST('/mcp_manager', {
        body: { name: 'smart', mode: 'SMART', approvalTools: ['delete_order'], approvalRule: rule },
      }),
    )
  ).id;
  // A workflow whose step calls delete_order inherits its rule (a step is a call of its tool).
  servers.flows = (await unwrap(api.POST('/mcp_manager', { body: { name: 'flows', mode: 'NORMAL' } }))).id;
  const definition = `
flower: "0.1"
id: wf_delete
flows:
  - id: wf_delete
    steps:
      - id: only
        request: { method: POST, url: "toolplane:mcp_servers/orders/tools/delete_order", body: { id: "wf-1" } }
        outputs: { body: $response.body }
    outputs: { body: $steps.only.outputs.body }
`;
  const deployed = await api.POST('/mcp_servers/{id}/deploy', {
    params: { path: { id: servers.flows } },
    body: { definition },
  });
  expect(deployed.response.status).toBe(201);
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await db?.end();
  await stack?.stop();
  await new Promise((r) => upstream?.close(r));
  await new Promise((r) => hooks?.close(r));
});

describe('approval rules', () => {
  it('are refused with every problem listed: unknown tools, no approver, unknown keys and people, too many approvals', async () => {
    const bad = await api.POST('/mcp_manager', {
      body: {
        name: 'bad',
        mode: 'SMART',
        approvalTools: ['delete_order'],
        approvalRule: {
          approvers: { apiKeys: ['00000000-0000-4000-8000-000000000000'], people: ['nobody'] },
          approvals: 3,
        },
      },
    });
    expect(bad.response.status).toBe(422);
    const paths = (bad.error as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
    expect(paths).toEqual([
      '/approvalRule/approvals',
      '/approvalRule/approvers/apiKeys/0',
      '/approvalRule/approvers/people/0',
    ]);
    const noRule = await api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: servers.smart } },
      body: { approvalRule: null },
    });
    expect(noRule.response.status).toBe(422);
    const unknownTool = await api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: servers.orders } },
      body: { approvalTools: ['drop_all'] },
    });
    expect(unknownTool.response.status).toBe(422);
    expect(JSON.stringify(unknownTool.error)).toContain('no tool \\"drop_all\\" on this server');
  });

  it('notify: http(s) URLs in json or slack, at most 5, each once: every problem listed; the rule’s version stays', async () => {
    const { data: before } = await api.GET('/mcp_manager/{id}', { params: { path: { id: servers.orders } } });
    const target = { url: `${hookUrl}/json-t0k3n`, format: 'json' as const };
    const approvalRule = { approvers: { apiKeys: [approvers.a.id] }, notify: [target] };
    const bad = await api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: servers.orders } },
      body: {
        approvalRule: {
          ...approvalRule,
          notify: [
            { url: 'javascript:alert(1)', format: 'json' },
            { url: target.url, format: 'teams' as never },
          ],
        },
      },
    });
    expect(bad.response.status).toBe(422);
    expect((bad.error as { errors: { path: string }[] }).errors.map((e) => e.path).sort()).toEqual([
      '/approvalRule/notify/0/url',
      '/approvalRule/notify/1/format',
    ]);
    const tooMany = await api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: servers.orders } },
      body: { approvalRule: { ...approvalRule, notify: Array.from({ length: 6 }, () => target) } },
    });
    expect((tooMany.error as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual([
      '/approvalRule/notify',
    ]);
    const twice = await api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: servers.orders } },
      body: { approvalRule: { ...approvalRule, notify: [target, target] } },
    });
    expect(twice.response.status).toBe(422);
    expect(twice.error).toMatchObject({ errors: [{ path: '/approvalRule/notify/1' }] });
    const { data: after } = await api.GET('/mcp_manager/{id}', { params: { path: { id: servers.orders } } });
    expect(after!.approvalRule).toEqual(before!.approvalRule);
    expect(after!.approvalRule!.notify).toHaveLength(2);
  });
});

describe('notifications', () => {
  it('each new request is POSTed once as JSON and once to Slack: its id, tool and masked arguments', async () => {
    const client = await mcpClient('orders');
    const id = await newRequest(client, TOKEN_ID);
    const bodiesOf = () => hooked.filter((h) => h.text.includes(id));
    const bodies = await waitFor('both notifications of the request', async () => {
      const got = bodiesOf();
      return got.length >= 2 ? got : undefined;
    });
    expect(bodies.map((b) => b.path).sort()).toEqual(['/hooks/json-t0k3n', '/hooks/slack-t0k3n']);
    const json = JSON.parse(bodies.find((b) => b.path.includes('json'))!.text) as Record<string, unknown>;
    expect(json).toMatchObject({
      type: 'approval.requested',
      id,
      server: { id: servers.orders, name: 'orders' },
      tool: 'delete_order',
      arguments: { id: '[masked]', passcode: '[masked]' },
      requester: { keyId: callerKeyId },
      approvers: { apiKeys: [approvers.a.id, approvers.b.id, callerKeyId] },
      approvals: 1,
      links: {
        api: `${controlPlaneUrl}/api/v1/approvals/${id}`,
        dashboard: `${controlPlaneUrl}/approvals?id=${id}`,
      },
    });
    const slack = JSON.parse(bodies.find((b) => b.path.includes('slack'))!.text) as {
      text: string;
      blocks: { text?: { text: string } }[];
    };
    expect(slack.text).toContain('delete_order on orders');
    const mrkdwn = slack.blocks.map((b) => b.text?.text ?? '').join('\n');
    expect(mrkdwn).toContain('tool `delete_order`');
    expect(mrkdwn).toContain('"passcode": "[masked]"');
    expect(mrkdwn).toContain(`/approvals?id=${id}`);
    expect(JSON.stringify(slack)).toContain(id);
    // Each person the rule names gets a link of their own, in both bodies; it opens their page.
    const people = (json.links as { people: { person: string; url: string }[] }).people;
    expect(people.map((p) => p.person)).toEqual(['alice', 'bob']);
    for (const p of people) {
      expect(p.url).toMatch(/\/approve\/[A-Za-z0-9_-]{43}$/);
      expect(mrkdwn).toContain(`<${p.url}|${p.person}>`);
    }
    const page = await fetch(people[0]!.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('delete_order');
    for (const body of bodies) {
      expect(body.text).not.toContain(PASSCODE);
      expect(body.text).not.toContain(TOKEN_ID);
    }
    // The request asked again (still pending) is not announced again.
    expect(await deleteOrder(client, TOKEN_ID)).toMatchObject({ approval: { id, state: 'pending' } });
    await requestRow(id);
    expect(bodiesOf()).toHaveLength(2);
  });
});

/** The request ids a webhook body announces: one request's, or each of a batch's. */
function announced(text: string): string[] {
  const body = JSON.parse(text) as { type: string; id?: string; requests?: { id: string }[]; more?: number };
  if (body.type === 'approval.requested') return [body.id!];
  expect(body).toMatchObject({ type: 'approval.requested.batch', count: body.requests!.length });
  return body.requests!.map((r) => r.id);
}

describe('a burst of requests', () => {
  it('is capped at 20 waiting per caller and tool, and announced in a few batched posts, not one post each', async () => {
    const client = await mcpClient('burst');
    const started = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const asked = await deleteOrder(client, `burst-${i}`);
      expect(asked).toMatchObject({ isError: true, sent: [], approval: { state: 'pending' } });
      ids.push(asked.approval!.id);
    }
    // The 21st waiting request is not made: the agent is told to wait for decisions.
    const over = await deleteOrder(client, 'burst-20');
    expect(over).toMatchObject({ isError: true, sent: [] });
    expect(over.approval).toBeUndefined();
    expect(over.text).toContain('20 approval requests of yours for "delete_order" are still waiting for a decision');
    expect(over.text).toContain('No request was made and nothing was sent. Wait until the approvers');
    // A call already waiting is still told about its own request; a decision frees a place.
    expect((await deleteOrder(client, 'burst-3')).approval).toMatchObject({ id: ids[3], state: 'pending' });
    await requestRow(ids[0]!);
    await unwrap(decide(approvers.a.api, ids[0]!, 'deny'));
    const freed = await deleteOrder(client, 'burst-20');
    expect(freed.approval).toMatchObject({ state: 'pending' });
    ids.push(freed.approval!.id);
    // Every request reaches the webhook, at most one post per 10 s (APPROVAL_NOTIFY_INTERVAL_SECONDS) and the first.
    const posts = await waitFor('every request announced', async () => {
      const got = hooked.filter((h) => h.path === '/hooks/burst-t0k3n');
      const seen = new Set(got.flatMap((h) => announced(h.text)));
      return ids.every((id) => seen.has(id)) ? got : undefined;
    });
    expect(posts.flatMap((h) => announced(h.text)).sort()).toEqual([...ids].sort());
    expect(posts.length).toBeLessThanOrEqual(2 + Math.floor((Date.now() - started) / 10_000));
    expect(posts.length).toBeLessThan(ids.length);
    for (const post of posts) expect(post.text).not.toContain(PASSCODE);
  });
});

describe.each(ERAS)('a call needing approval (%s)', (era) => {
  it('is sent once after another key approves it; the next retry asks again; tools without a rule run', async () => {
    const client = await mcpClient('orders', era);
    expect((await client.callTool({ name: 'get_order', arguments: { id: '1' } })).isError).toBeFalsy();
    const orderId = `once-${era}`;
    const id = await newRequest(client, orderId);
    const pending = await deleteOrder(client, orderId);
    expect(pending).toMatchObject({ isError: true, sent: [], approval: { id, state: 'pending' } });
    expect(pending.text).toContain('is still pending');
    expect(
      (await unwrap(api.GET('/approvals', { params: { query: { state: 'pending' } } }))).data.map((a) => a.id),
    ).toContain(id);

    const granted = await unwrap(decide(approvers.a.api, id, 'approve', 'looks right'));
    expect(granted).toMatchObject({
      id,
      state: 'granted',
      decisions: [{ approver: { id: approvers.a.id }, decision: 'approve' }],
    });
    const ran = await deleteOrder(client, orderId);
    expect(ran.isError).toBe(false);
    expect(ran.sent).toEqual([deleted(orderId)]);
    // Single use: the approval was spent on that call.
    const again = await deleteOrder(client, orderId);
    expect(again).toMatchObject({ isError: true, sent: [], approval: { state: 'pending' } });
    expect(again.approval!.id).not.toBe(id);
    expect(received.filter((r) => r === deleted(orderId))).toHaveLength(1);
    await waitFor('the request recorded as executed', async () => {
      const row = (await unwrap(api.GET('/approvals/{id}', { params: { path: { id } } }))).state;
      return row === 'executed' ? row : undefined;
    });
    // A replayed approval of the spent request is refused.
    expect((await decide(approvers.b.api, id, 'approve')).response.status).toBe(409);
  });
});

describe('approvers', () => {
  it('never include the caller; the rule names them; arguments are masked, never kept in clear', async () => {
    const client = await mcpClient('orders');
    const id = await newRequest(client, 'self');
    const self = await decide(api, id, 'approve');
    expect(self.response.status).toBe(403);
    expect(JSON.stringify(self.error)).toContain('the caller of a call never approves or denies it');
    const other = await decide(approvers.other.api, id, 'approve');
    expect(other.response.status).toBe(403);
    expect(JSON.stringify(other.error)).toContain('is not an approver of this request');
    // The approve scope reads the requests and nothing else of the workspace.
    expect((await unwrap(approvers.other.api.GET('/approvals'))).data.map((a) => a.id)).toContain(id);
    const servers = await approvers.other.api.GET('/mcp_manager');
    expect(servers.response.status).toBe(403);
    expect(JSON.stringify(servers.error)).toContain('this API key has no \\"management\\" scope');
    const row = await unwrap(api.GET('/approvals/{id}', { params: { path: { id } } }));
    expect(row).toMatchObject({
      state: 'pending',
      tool: 'delete_order',
      arguments: { id: 'self', passcode: '[masked]' },
      requester: { type: 'api_key', id: callerKeyId },
    });
    const stored = await db.query('SELECT * FROM approvals');
    expect(JSON.stringify(stored.rows)).not.toContain(PASSCODE);
    const events = await db.query(`SELECT * FROM audit_events WHERE action LIKE 'approval.%'`);
    expect(JSON.stringify(events.rows)).not.toContain(PASSCODE);
  });

  it('racing with approvals: 1 give one decision and one execution', async () => {
    const client = await mcpClient('orders');
    const id = await newRequest(client, 'race');
    const answers = await Promise.all([decide(approvers.a.api, id, 'approve'), decide(approvers.b.api, id, 'approve')]);
    expect(answers.map((a) => a.response.status).sort()).toEqual([200, 409]);
    const runs = await Promise.all([deleteOrder(client, 'race'), deleteOrder(client, 'race')]);
    expect(runs.filter((r) => !r.isError)).toHaveLength(1);
    expect(received.filter((r) => r === deleted('race'))).toHaveLength(1);
    // One decision: one approver's approval stored, one `approval.granted` event that succeeded.
    expect((await unwrap(api.GET('/approvals/{id}', { params: { path: { id } } }))).decisions).toHaveLength(1);
    const granted = await db.query(
      `SELECT 1 FROM audit_events WHERE resource_id = $1 AND action = 'approval.granted' AND outcome = 'success'`,
      [id],
    );
    expect(granted.rowCount).toBe(1);
    await waitFor('approval.executed in the trail', async () => {
      const r = await db.query(`SELECT 1 FROM audit_events WHERE resource_id = $1 AND action = 'approval.executed'`, [
        id,
      ]);
      return r.rowCount === 1 ? true : undefined;
    });
  });
});

describe('refusals', () => {
  it('a denial is told to every retry with its comment; nothing is sent', async () => {
    const client = await mcpClient('orders');
    const id = await newRequest(client, 'denied');
    const denied = await unwrap(decide(approvers.b.api, id, 'deny', 'not this order'));
    expect(denied.state).toBe('denied');
    for (let i = 0; i < 2; i++) {
      const retry = await deleteOrder(client, 'denied');
      expect(retry).toMatchObject({ isError: true, sent: [], approval: { id, state: 'denied' } });
      expect(retry.text).toContain('was denied: not this order');
    }
    expect((await decide(approvers.a.api, id, 'approve')).response.status).toBe(409);
  });

  it('an expired request cannot be approved (409) and its call is refused; calling again asks anew', async () => {
    const client = await mcpClient('brief');
    const id = await newRequest(client, 'late');
    await waitFor('the request past its expiry', async () => {
      const { state } = await unwrap(api.GET('/approvals/{id}', { params: { path: { id } } }));
      return state === 'expired' ? state : undefined;
    });
    const late = await decide(approvers.a.api, id, 'approve');
    expect(late.response.status).toBe(409);
    expect(JSON.stringify(late.error)).toContain('expired');
    const link = await approvers.a.api.POST('/approvals/{id}/links', {
      params: { path: { id } },
      body: { person: 'alice' },
    });
    expect(link.response.status).toBe(409);
    const retry = await deleteOrder(client, 'late');
    expect(retry).toMatchObject({ isError: true, sent: [], approval: { id, state: 'expired' } });
    const anew = await deleteOrder(client, 'late');
    expect(anew).toMatchObject({ isError: true, sent: [], approval: { state: 'pending' } });
    expect(anew.approval!.id).not.toBe(id);
    expect(received.filter((r) => r.includes('/orders/late'))).toEqual([]);
  });

  it('a workflow whose step calls a tool needing approval is held before it starts, then runs once', async () => {
    const client = await mcpClient('flows');
    const call = async () => {
      const before = received.length;
      const r = await client.callTool({ name: 'wf_delete', arguments: {} });
      const meta = r._meta as Record<string, { id: string; state: string }> | undefined;
      return { isError: r.isError === true, approval: meta?.['toolplane/approval'], sent: received.slice(before) };
    };
    const held = await call();
    expect(held).toMatchObject({ isError: true, sent: [], approval: { state: 'pending' } });
    await requestRow(held.approval!.id);
    await unwrap(decide(approvers.a.api, held.approval!.id, 'approve'));
    const ran = await call();
    expect(ran.isError).toBe(false);
    expect(ran.sent).toEqual(['DELETE /orders/wf-1']);
  });

  it('other arguments are a new request; SMART execute_tool is held the same way', async () => {
    const client = await mcpClient('orders');
    const first = await newRequest(client, 'args-1');
    const second = await newRequest(client, 'args-2');
    expect(second).not.toBe(first);
    await unwrap(decide(approvers.a.api, first, 'approve'));
    expect((await deleteOrder(client, 'args-2')).approval).toMatchObject({ id: second, state: 'pending' });

    const smart = await mcpClient('smart');
    const held = await newRequest(smart, 'smart-1', true);
    expect(received.filter((r) => r.includes('/orders/smart-1'))).toEqual([]);
    await unwrap(decide(approvers.b.api, held, 'approve'));
    const ran = await deleteOrder(smart, 'smart-1', true);
    expect(ran.sent).toEqual([deleted('smart-1')]);
  });
});

describe('an access policy requiring approval when its condition is false', () => {
  it('is refused with every problem listed: no condition, no rule, unknown approvers, too many approvals', async () => {
    const refunder = await unwrap(api.POST('/api_keys', { body: { name: 'refunder-bad', scopes: ['runtime'] } }));
    const base = {
      principals: [{ type: 'api_key' as const, value: refunder.id }],
      servers: [servers.orders],
      tools: ['refund_order'],
    };
    const paths = async (body: Record<string, unknown>) => {
      const r = await api.POST('/access_policies', { body: { name: 'bad', ...base, ...body } as never });
      expect(r.response.status).toBe(422);
      return (r.error as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
    };
    expect(await paths({ onFalse: 'require_approval' })).toEqual(['/approval', '/onFalse']);
    const unknownKey = '00000000-0000-4000-8000-000000000000';
    expect(
      await paths({
        condition: 'args.amount <= 100',
        onFalse: 'require_approval',
        approval: { approvers: { apiKeys: [unknownKey], people: ['nobody'] }, approvals: 3 },
      }),
    ).toEqual(['/approval/approvals', '/approval/approvers/apiKeys/0', '/approval/approvers/people/0']);
    expect(
      await paths({ condition: 'args.amount <= 100', approval: { approvers: { apiKeys: [approvers.a.id] } } }),
    ).toEqual(['/approval']);
  });

  it('refunds above 100 need approval: 50 runs at once, 500 once approved; an edited policy asks anew', async () => {
    const refunder = await unwrap(api.POST('/api_keys', { body: { name: 'refunder', scopes: ['runtime'] } }));
    const policy = await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'refunds',
          principals: [{ type: 'api_key', value: refunder.id }],
          servers: [servers.orders, servers.smart],
          tools: ['refund_order'],
          condition: 'args.amount <= 100',
          onFalse: 'require_approval',
          approval: { approvers: { apiKeys: [approvers.a.id] } },
        },
      }),
    );
    expect(policy).toMatchObject({ onFalse: 'require_approval', approval: { approvals: 1, expiresInSeconds: 86_400 } });
    const client = await mcpClient('orders', '2025-11-25', { key: refunder.key });
    // The policy reached the edge: the key it names sees only what it grants.
    await waitFor(
      'the policy at the edge',
      async () => (await client.listTools()).tools.map((t) => t.name).join() === 'refund_order',
      PROPAGATION_DEADLINE_MS,
    );
    const refund = async (amount: number, on = client, smart = false) => {
      const before = received.length;
      const args = { id: 'r1', amount };
      const r = smart
        ? await on.callTool({ name: 'execute_tool', arguments: { name: 'refund_order', arguments: args } })
        : await on.callTool({ name: 'refund_order', arguments: args });
      const meta = r._meta as Record<string, { id: string; state: string }> | undefined;
      const text = (r.content as { text: string }[])[0]?.text ?? '';
      return {
        isError: r.isError === true,
        text,
        approval: meta?.['toolplane/approval'],
        sent: received.slice(before),
      };
    };
    const refunded = (amount: number) => `POST /orders/r1/refund?amount=${amount}`;

    expect(await refund(50)).toMatchObject({ isError: false, sent: [refunded(50)] });
    const asked = await refund(500);
    expect(asked).toMatchObject({ isError: true, sent: [], approval: { state: 'pending' } });
    expect(asked.text).toContain('access policy "refunds"');
    const id = asked.approval!.id;
    expect((await requestRow(id)).rule.version).toBe(policy.approval!.version);
    await unwrap(decide(approvers.a.api, id, 'approve'));
    expect(await refund(500)).toMatchObject({ isError: false, sent: [refunded(500)] });
    const next = await refund(500);
    expect(next).toMatchObject({ isError: true, sent: [], approval: { state: 'pending' } });
    expect(next.approval!.id).not.toBe(id);
    const smart = await refund(500, await mcpClient('smart', '2025-11-25', { key: refunder.key }), true);
    expect(smart).toMatchObject({ isError: true, sent: [], approval: { state: 'pending' } });

    // Edited: the pending request was made under the old rule; it can no longer be approved, and the call asks anew.
    await unwrap(
      api.PATCH('/access_policies/{id}', {
        params: { path: { id: policy.id } },
        body: { approval: { approvers: { apiKeys: [approvers.a.id, approvers.b.id] } } },
      }),
    );
    await requestRow(next.approval!.id);
    const stale = await decide(approvers.a.api, next.approval!.id, 'approve');
    expect(stale.response.status).toBe(409);
    const anew = await waitFor(
      'the edited policy at the edge',
      async () => {
        const r = await refund(500);
        return r.approval?.id !== next.approval!.id ? r : undefined;
      },
      PROPAGATION_DEADLINE_MS,
    );
    expect(anew).toMatchObject({ isError: true, sent: [], approval: { state: 'pending' } });
    expect((await requestRow(anew.approval!.id)).rule.approvers.apiKeys).toHaveLength(2);
    expect(received.filter((r) => r === refunded(500))).toHaveLength(1);
  });
});

describe('a person approves through their link', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  const makeLink = (id: string, person: string, by: ManagementClient = approvers.a.api) =>
    by.POST('/approvals/{id}/links', { params: { path: { id } }, body: { person } });
  const decisionsOf = async (id: string) =>
    (await unwrap(api.GET('/approvals/{id}', { params: { path: { id } } }))).decisions;
  /** Posts the page's form as a browser would, with what it is given of the page's binding. */
  const post = (link: string, form: Record<string, string>, headers: Record<string, string>) =>
    fetch(link, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });

  it('in a browser: the request with masked arguments, Approve → granted, and the retry runs once', async () => {
    const client = await mcpClient('orders');
    const id = await newRequest(client, 'by-alice');
    const link = await unwrap(makeLink(id, 'alice'));
    expect(link).toMatchObject({ person: 'alice', url: expect.stringMatching(/\/approve\/[A-Za-z0-9_-]{43}$/) });

    const context = await browser.newContext();
    try {
      const tab = await context.newPage();
      await tab.goto(link.url);
      await tab.getByRole('heading', { level: 1, name: 'Approve this call?' }).waitFor();
      const main = await tab.getByRole('main').innerText();
      expect(main).toContain('delete_order');
      expect(main).toContain('0 of 1 given');
      expect(await tab.locator('pre').innerText()).toContain('"passcode": "[masked]"');
      expect(await tab.content()).not.toContain(PASSCODE);
      await audit(tab, 'approval link');
      await tab.getByLabel('Comment (optional)').fill('fine by me');
      await tab.getByRole('button', { name: 'Approve' }).click();
      await tab.getByRole('heading', { level: 1, name: 'Approved' }).waitFor();
      expect(await tab.getByRole('main').innerText()).toContain('it runs once');
      // The link worked once: opened again, it says so.
      await tab.goto(link.url);
      await tab.getByRole('heading', { level: 1, name: 'This link was used already' }).waitFor();
    } finally {
      await context.close();
    }
    const row = await unwrap(api.GET('/approvals/{id}', { params: { path: { id } } }));
    expect(row).toMatchObject({
      state: 'granted',
      decisions: [{ approver: { type: 'person', name: 'alice' }, decision: 'approve', comment: 'fine by me' }],
    });
    const ran = await deleteOrder(client, 'by-alice');
    expect(ran).toMatchObject({ isError: false, sent: [deleted('by-alice')] });
    expect((await deleteOrder(client, 'by-alice')).approval).toMatchObject({ state: 'pending' });
    expect(received.filter((r) => r === deleted('by-alice'))).toHaveLength(1);
    const events = await db.query(
      `SELECT actor_type, actor_name, outcome FROM audit_events WHERE resource_id = $1 AND action = 'approval.granted'`,
      [id],
    );
    expect(events.rows).toEqual([{ actor_type: 'person', actor_name: 'alice', outcome: 'success' }]);
    const stored = await db.query(`SELECT * FROM approval_links WHERE approval_id = $1`, [id]);
    expect(JSON.stringify(stored.rows)).not.toContain(new URL(link.url).pathname.split('/').pop());
  });

  it('decides only from its own page in the browser that opened it, once; the page is not cached', async () => {
    const client = await mcpClient('orders');
    const id = await newRequest(client, 'by-bob');
    const { url } = await unwrap(makeLink(id, 'bob'));
    const opened = await fetch(url);
    expect(opened.headers.get('content-security-policy')).toBe(
      "default-src 'none'; frame-ancestors 'none'; form-action 'self'",
    );
    expect(opened.headers.get('referrer-policy')).toBe('same-origin');
    expect(opened.headers.get('cache-control')).toBe('no-store');
    expect(opened.headers.get('set-cookie')).toMatch(/HttpOnly.*SameSite=Lax/i);
    const { nonce, cookie } = await openConnectPage(url);
    const origin = new URL(url).origin;
    const deny = { nonce: nonce!, decision: 'deny', comment: 'not bob’s call' };
    // Without the cookie, without the nonce, or from another site: 403, nothing decided.
    const refused = [
      await post(url, deny, { origin, 'sec-fetch-site': 'same-origin' }),
      await post(url, { ...deny, nonce: '' }, { origin, cookie: cookie! }),
      await post(url, deny, { origin: 'http://localhost:1', 'sec-fetch-site': 'cross-site', cookie: cookie! }),
    ];
    expect(refused.map((r) => r.status)).toEqual([403, 403, 403]);
    expect(await refused[0]!.text()).toContain('Nothing was decided');
    expect(await decisionsOf(id)).toEqual([]);
    const denied = await post(url, deny, { origin, cookie: cookie! });
    expect(denied.status).toBe(200);
    expect(await denied.text()).toContain('<h1>Denied</h1>');
    // A replay of the used link decides nothing.
    const replay = await post(url, { ...deny, decision: 'approve' }, { origin, cookie: cookie! });
    expect(replay.status).toBe(410);
    expect(await replay.text()).toContain('This link was used already');
    expect(await decisionsOf(id)).toMatchObject([{ approver: { type: 'person', name: 'bob' }, decision: 'deny' }]);
    expect(await deleteOrder(client, 'by-bob')).toMatchObject({
      isError: true,
      sent: [],
      approval: { id, state: 'denied' },
    });
    // A decided request gets no more links; a link never made is no page.
    expect((await makeLink(id, 'alice')).response.status).toBe(409);
    expect((await fetch(`${origin}/approve/${'x'.repeat(43)}`)).status).toBe(404);
  });

  it('is made only for a person the rule names, never for the caller or the person the call was made for', async () => {
    const body = {
      name: 'bob',
      principals: [{ type: 'external_user' as const, value: 'bob' }],
      servers: [servers.orders],
    };
    await unwrap(api.POST('/access_policies', { body: { ...body, tools: ['*'] } }));
    const client = await waitFor('bob’s access on the edge', () =>
      mcpClient('orders', '2025-11-25', { person: 'bob' }),
    );
    const id = await newRequest(client, 'for-bob');
    const carol = await makeLink(id, 'carol');
    expect(carol.response.status).toBe(422);
    expect(JSON.stringify(carol.error)).toContain('/person');
    const own = await makeLink(id, 'bob');
    expect(own.response.status).toBe(403);
    expect(JSON.stringify(own.error)).toContain('the caller of a call never approves or denies it');
    // The caller's own key cannot make one for someone else either: it would decide its own call.
    expect((await makeLink(id, 'alice', api)).response.status).toBe(403);
    const { url } = await unwrap(makeLink(id, 'alice'));
    // Past the request's expiry, the link's page says so and decides nothing.
    await db.query(`UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
    const { nonce, cookie, status } = await openConnectPage(url);
    expect({ status, nonce }).toEqual({ status: 410, nonce: undefined });
    expect(await (await fetch(url)).text()).toContain('This request has expired');
    const late = await post(
      url,
      { decision: 'approve' },
      { origin: new URL(url).origin, ...(cookie ? { cookie } : {}) },
    );
    expect(late.status).toBe(410);
    expect(await decisionsOf(id)).toEqual([]);
  });
});
