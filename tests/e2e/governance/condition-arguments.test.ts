import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { counterOf, inOneWindow, type QuotaCounter } from '../../helpers/quotas.ts';
import { stackRedis, startTestStack } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';

// Issue #58 C: a policy's condition sees the arguments as the upstream gets them. Three ways the review found to make
// them differ, each against the real stack with what reached the upstream: a number literal past the double range
// (`-1e309` parses as -Infinity, passes `args.amount <= 100`, then vanishes from the body), a parameter default the
// worker fills in after the check (`limit` 25 in the ticket descriptor against `!has(args.limit) || args.limit <= 10`),
// and an exploded object query parameter whose keys name another parameter (`filter: {status: "closed"}` next to
// `status: "open"`).

let stack: Stack;
let api: ManagementClient;
let upstream: Server;
let tickets: TicketSystem;
/** What reached the orders upstream: method, URL and body. */
const received: { method: string; url: string; body: string }[] = [];
let ordersUrl: string;
let smartUrl: string;
let ticketsUrl: string;
let key: string;

const ordersDocument = {
  openapi: '3.1.0',
  info: { title: 'Orders', version: '1.0.0' },
  paths: {
    '/refunds': {
      post: {
        operationId: 'refund',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['order', 'amount'],
                properties: { order: { type: 'string' }, amount: { type: 'number' } },
              },
            },
          },
        },
        responses: { '200': { description: 'Refunded', content: { 'application/json': {} } } },
      },
    },
    '/orders': {
      get: {
        operationId: 'list_orders',
        parameters: [
          { name: 'status', in: 'query', schema: { type: 'string' } },
          {
            name: 'filter',
            in: 'query',
            style: 'form',
            explode: true,
            schema: { type: 'object', additionalProperties: { type: 'string' } },
          },
        ],
        responses: { '200': { description: 'Orders', content: { 'application/json': {} } } },
      },
    },
  },
};

/** A raw `tools/call` (2025-11-25 or 2026-07-28) sent as text, so that a literal like -1e309 reaches the edge as is. */
async function rawCall(url: string, era: '2025-11-25' | '2026-07-28', name: string, argsJson: string) {
  const meta =
    era === '2026-07-28'
      ? `,"_meta":${JSON.stringify({
          'io.modelcontextprotocol/protocolVersion': era,
          'io.modelcontextprotocol/clientInfo': { name: 'conditions', version: '1' },
          'io.modelcontextprotocol/clientCapabilities': {},
        })}`
      : '';
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'x-api-key': key,
      'mcp-protocol-version': era,
      'mcp-method': 'tools/call',
      'mcp-name': name,
    },
    body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":${JSON.stringify(name)},"arguments":${argsJson}${meta}}}`,
  });
  const text = await res.text();
  const json = text.startsWith('event:') || text.startsWith('data:') ? text.slice(text.indexOf('{')) : text;
  const body = JSON.parse(json) as { result?: { isError?: boolean; content: { text: string }[] } };
  if (!body.result) throw new Error(`no result: ${res.status} ${text}`);
  return { isError: body.result.isError === true, text: body.result.content[0]?.text ?? '' };
}

/** Runs `call` until the condition's policy has reached the edge (the first calls may be refused as not granted). */
async function granted<T extends { text: string }>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + PROPAGATION_DEADLINE_MS;
  for (;;) {
    const r = await call();
    if (!r.text.includes('not granted') || Date.now() > deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  tickets = await startTicketSystem({ apiKey: 'k' });
  ({ stack, api } = await startTestStack('condition-arguments'));
  const connector = await unwrap(api.POST('/connectors', { body: ordersDocument as never }));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: {
        createServer: false,
        connector_id: connector.id,
        name: 'orders',
        base_url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
        credentials: {},
      },
    }),
  );
  const orders = await unwrap(
    api.POST('/mcp_manager', { body: { name: 'orders', mode: 'NORMAL', connectorInstanceId: instance.id } }),
  );
  const smart = await unwrap(
    api.POST('/mcp_manager', { body: { name: 'orders-smart', mode: 'SMART', connectorInstanceId: instance.id } }),
  );
  const ticketServer = await registerTicketExample(api, tickets.url, 'k', 'tickets');
  ({ url: ordersUrl } = orders);
  ({ url: smartUrl } = smart);
  ticketsUrl = ticketServer.mcpUrl;
  const caller = await unwrap(api.POST('/api_keys', { body: { name: 'conditional', scopes: ['runtime'] } }));
  key = caller.key;
  const grant = async (name: string, servers: string[], tools: string[], condition: string) => {
    const r = await api.POST('/access_policies', {
      body: { name, principals: [{ type: 'api_key', value: caller.id }], servers, tools, condition },
    });
    if (!r.response.ok) throw new Error(`policy ${name}: ${JSON.stringify(r.error)}`);
  };
  await grant('small-refunds', [orders.id, smart.id], ['refund'], 'args.amount <= 100');
  await grant('open-orders', [orders.id, smart.id], ['list_orders'], 'has(args.status) && args.status == "open"');
  await grant('few-tickets', [ticketServer.serverId], ['search_tickets'], '!has(args.limit) || args.limit <= 10');
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await tickets?.close();
  upstream?.closeAllConnections();
  await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
});

describe('a number past the double range is an invalid argument, before any condition', () => {
  it.each(['2025-11-25', '2026-07-28'] as const)('%s: -1e309 refused, nothing sent; 50 refunded', async (era) => {
    const before = received.length;
    const refused = await granted(() => rawCall(ordersUrl, era, 'refund', '{"order":"o-1","amount":-1e309}'));
    expect(refused.isError).toBe(true);
    expect(refused.text).toContain('/amount is not finite');
    const nested = await rawCall(ordersUrl, era, 'refund', '{"order":"o-1","amount":5,"note":[1e400]}');
    expect(nested).toMatchObject({
      isError: true,
      text: expect.stringContaining('/note/0 is not finite') as unknown as string,
    });
    expect(received.slice(before)).toEqual([]);
    const ok = await rawCall(ordersUrl, era, 'refund', '{"order":"o-2","amount":50}');
    expect(ok.isError).toBe(false);
    expect(received.slice(before).map((r) => JSON.parse(r.body) as unknown)).toEqual([{ order: 'o-2', amount: 50 }]);
  });

  it('SMART execute_tool: the target’s arguments are checked the same way', async () => {
    const before = received.length;
    const refused = await granted(() =>
      rawCall(smartUrl, '2025-11-25', 'execute_tool', '{"name":"refund","arguments":{"order":"o-3","amount":-1e309}}'),
    );
    expect(refused).toMatchObject({
      isError: true,
      text: expect.stringContaining('is not finite') as unknown as string,
    });
    expect(received.slice(before)).toEqual([]);
  });
});

describe('the condition sees the defaults the worker fills in', () => {
  it('no limit: the descriptor’s default 25 is what the upstream would get, and the condition refuses it', async () => {
    const before = tickets.requests.length;
    const refused = await granted(() => rawCall(ticketsUrl, '2025-11-25', 'search_tickets', '{"status":"open"}'));
    expect(refused.isError).toBe(true);
    expect(refused.text).toContain('Access denied');
    expect(tickets.requests.slice(before)).toEqual([]);
    const within = await rawCall(ticketsUrl, '2026-07-28', 'search_tickets', '{"status":"open","limit":5}');
    expect(within.isError).toBe(false);
    expect(tickets.requests.slice(before).map((r) => r.query)).toEqual([{ status: 'open', limit: '5' }]);
  });
});

describe('exploded object query parameters', () => {
  it('a key naming another query parameter is refused, nothing sent; other keys go through', async () => {
    const before = received.length;
    const collide = await granted(() =>
      rawCall(ordersUrl, '2025-11-25', 'list_orders', '{"status":"open","filter":{"status":"closed","deleted":"1"}}'),
    );
    expect(collide.isError).toBe(true);
    expect(collide.text).toContain('"status"');
    expect(collide.text).toContain('Nothing was sent');
    expect(received.slice(before)).toEqual([]);
    const ok = await rawCall(ordersUrl, '2026-07-28', 'list_orders', '{"status":"open","filter":{"region":"eu"}}');
    expect(ok.isError).toBe(false);
    expect(received.slice(before).map((r) => r.url)).toEqual(['/orders?status=open&region=eu']);
  });
});

describe('quotas (ADR 0048)', () => {
  it('a call refused as invalid or by a condition is never charged; SMART execute_tool is charged as its target', async () => {
    const quota = await unwrap(
      api.POST('/quotas', {
        body: { name: 'refunds', match: { tools: ['refund'] }, counts: 'calls', limit: 1000, window: 'day' },
      }),
    );
    const workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
    const at: QuotaCounter = { prefix: stack.redisPrefix, workspaceId, quotaId: quota.id, window: 'day' };
    await inOneWindow('day', 60);
    const redis = stackRedis(stack);
    const refund = (url: string, amount: string) =>
      url === smartUrl
        ? rawCall(url, '2025-11-25', 'execute_tool', `{"name":"refund","arguments":{"order":"q","amount":${amount}}}`)
        : rawCall(url, '2025-11-25', 'refund', `{"order":"q","amount":${amount}}`);
    try {
      await waitFor('the quota on the edge', async () => {
        expect((await refund(ordersUrl, '1')).isError).toBe(false);
        return (await counterOf(redis, at)) > 0 ? true : undefined;
      });
      const before = await counterOf(redis, at);
      const sent = received.length;
      for (const url of [ordersUrl, smartUrl]) {
        expect(await refund(url, '-1e309')).toMatchObject({ isError: true, text: expect.stringContaining('finite') });
        expect(await refund(url, '500')).toMatchObject({ isError: true, text: expect.stringContaining('denied') });
        expect(await refund(url, '"many"')).toMatchObject({ isError: true });
      }
      expect(received.length).toBe(sent);
      expect(await counterOf(redis, at)).toBe(before);
      expect((await refund(smartUrl, '5')).isError).toBe(false);
      expect((await refund(ordersUrl, '5')).isError).toBe(false);
      expect(await counterOf(redis, at)).toBe(before + 2);
      expect(received.length).toBe(sent + 2);
    } finally {
      redis.disconnect();
      await unwrap(api.DELETE('/quotas/{id}', { params: { path: { id: quota.id } } }));
    }
  }, 60_000);
});

describe('a condition in log-only mode (enforce: false)', () => {
  it('refuses nothing: the upstream gets the call, the would-be refusal is recorded, listed and explained', async () => {
    const since = new Date().toISOString();
    const policies = await unwrap(api.GET('/access_policies'));
    const small = policies.data.find((p) => p.name === 'small-refunds')!;
    const patched = await unwrap(
      api.PATCH('/access_policies/{id}', { params: { path: { id: small.id } }, body: { enforce: false } }),
    );
    expect(patched.enforce).toBe(false);
    // Log only is a mode of a condition: removing the condition of a log-only policy is a 422 naming it.
    const bad = await api.PATCH('/access_policies/{id}', {
      params: { path: { id: small.id } },
      body: { condition: null },
    });
    expect(bad.response.status).toBe(422);
    expect(JSON.stringify(bad.error)).toContain('"path":"/condition"');
    const before = received.length;
    await waitFor('the log-only policy on the edge', async () => {
      const r = await rawCall(ordersUrl, '2025-11-25', 'refund', '{"order":"o-9","amount":500}');
      return r.isError ? undefined : r;
    });
    expect(received.slice(before).map((r) => JSON.parse(r.body) as unknown)).toContainEqual({
      order: 'o-9',
      amount: 500,
    });
    const event = await waitFor('the access.would_refuse event', async () => {
      const events = await unwrap(
        api.GET('/audit_events', { params: { query: { action: '*.would_refuse', from: since } } }),
      );
      return events.data.find((e) => e.action === 'access.would_refuse' && e.resource.id === small.id);
    });
    expect(event).toMatchObject({
      outcome: 'success',
      resource: { type: 'access_policy', id: small.id },
      details: {
        policy: { id: small.id, name: 'small-refunds' },
        would: 'refuse',
        condition: { expression: 'args.amount <= 100', failed: 'args.amount <= 100', error: false },
        tool: 'refund',
        invocationId: expect.any(String),
      },
    });
    // The call's arguments are in no event: the policy's own text only.
    expect(JSON.stringify(event)).not.toContain('o-9');
    const keyId = (await unwrap(api.GET('/api_keys'))).data.find((k) => k.name === 'conditional')!.id;
    const explained = await unwrap(
      api.POST('/access_policies/explain', {
        body: { caller: { api_key: keyId }, server: 'orders', tool: 'refund', arguments: { order: 'x', amount: 500 } },
      }),
    );
    expect(explained.decision).toBe('allow');
    expect(explained.policies.find((p) => p.id === small.id)).toMatchObject({
      enforce: false,
      why: expect.stringContaining('would refuse (log only)'),
    });
    // Enforced again, it refuses as before; nothing more reaches the upstream.
    await unwrap(api.PATCH('/access_policies/{id}', { params: { path: { id: small.id } }, body: { enforce: true } }));
    await waitFor('the enforced policy on the edge', async () => {
      const r = await rawCall(ordersUrl, '2025-11-25', 'refund', '{"order":"o-10","amount":500}');
      return r.isError && r.text.includes('Access denied') ? r : undefined;
    });
    expect(received.some((r) => r.body.includes('o-10'))).toBe(false);
  }, 60_000);
});
