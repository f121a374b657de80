import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { ApiError, type ManagementClient, unwrap } from '@toolplane/client';
import { startRedisServer, type RedisHandle } from '@toolplane/embedded';
import { Redis } from 'ioredis';
import { AuditEventInput, redisKeys } from '../../../packages/contracts/src/index.ts';
import { counterOf, inOneWindow, type QuotaCounter } from '../../helpers/quotas.ts';
import { stackRedis, startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

// A person's confirmation (ADR 0038) on the real stack, with the official MCP SDK client of both protocol eras: a tool
// marked `confirm` on its server is sent upstream only after the person accepts in the client (2025-11-25: an
// `elicitation/create` request on the call's stream; 2026-07-28: an `input_required` result the client fulfils and
// retries); declined, cancelled or a client that cannot ask: a tool error and nothing sent. Each decision is an audit
// event on the edge's stream, its secret argument values masked. The control plane takes entries off that stream as
// they come (and deletes them): the test reads what the edges added to it (XADD) on a Redis of its own, with MONITOR.

const SECRET = 'approve-5f1c9a0d7e';
const PASSCODE = 'passcode-88e1c2';
const ERAS = ['2025-11-25', '2026-07-28'] as const;
type Era = (typeof ERAS)[number];
type Answer = 'accept' | 'decline' | 'cancel';

let stack: Stack;
let api: ManagementClient;
let redis: RedisHandle;
let monitorBase: Redis;
let monitor: Redis;
/** Every XADD the stack sent: the stream's key and its entry's batch (JSON). */
const streamed: { key: string; batch: string }[] = [];
let upstream: Server;
let serverId: string;
let instanceId: string;
let mcpUrl: string;
/** What reached the upstream: each request's method and URL. */
const received: string[] = [];
/** What clients were asked (the elicitation requests' params). */
const asked: { mode?: string; message?: string; requestedSchema?: unknown }[] = [];

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
        parameters: [
          { name: 'approval_token', in: 'query', schema: { type: 'string' } },
          { name: 'passcode', in: 'query', schema: { type: 'string', format: 'password' } },
        ],
        responses: { '200': { description: 'Deleted', content: { 'application/json': {} } } },
      },
    },
  },
};

/** An MCP client of `era`; with `answer`, it declares form-mode elicitation and its person answers so. */
async function mcpClient(era: Era, answer?: Answer): Promise<Client> {
  const client = new Client(
    { name: 'confirmation', version: '1.0.0' },
    {
      capabilities: answer ? { elicitation: { form: {} } } : {},
      ...(era === '2026-07-28' ? { versionNegotiation: { mode: { pin: '2026-07-28' as const } } } : {}),
    },
  );
  if (answer)
    client.setRequestHandler('elicitation/create', (request) => {
      asked.push(request.params as (typeof asked)[number]);
      return Promise.resolve(answer === 'accept' ? { action: 'accept', content: {} } : { action: answer });
    });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  expect(client.getNegotiatedProtocolVersion()).toBe(era);
  return client;
}

/** Calls delete_order (or `tool`) as a client of `era` whose person answers `answer`; what came back and went out. */
async function callAs(era: Era, answer: Answer | undefined, tool = 'delete_order', id = `${era}-${answer}`) {
  const client = await mcpClient(era, answer);
  const before = { received: received.length, asked: asked.length };
  try {
    const args = tool === 'delete_order' ? { id, approval_token: SECRET, passcode: PASSCODE } : { id: '7' };
    const result = await client.callTool({ name: tool, arguments: args });
    return {
      isError: result.isError === true,
      text: (result.content as { text: string }[])[0]?.text ?? '',
      sent: received.slice(before.received),
      asked: asked.slice(before.asked),
    };
  } finally {
    await client.close();
  }
}

/** The audit events added to the edge's stream (each entry a batch), and their raw text. */
function auditStream(): { events: AuditEventInput[]; raw: string } {
  const key = redisKeys(stack.redisPrefix).auditEvents;
  const batches = streamed.filter((x) => x.key === key).map((x) => x.batch);
  return { events: batches.flatMap((b) => JSON.parse(b) as AuditEventInput[]), raw: batches.join('\n') };
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    received.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ done: req.method }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  redis = await startRedisServer();
  monitorBase = new Redis(redis.url);
  monitor = await monitorBase.monitor();
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'xadd') streamed.push({ key: args[1]!, batch: args.at(-1)! });
  });
  ({ stack, api } = await startTestStack('confirmation', { redisUrl: redis.url }));
  const connector = await unwrap(api.POST('/connectors', { body: openApiDocument as never }));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'orders', base_url: url, credentials: {} },
    }),
  );
  instanceId = instance.id;
  const refused = await api.POST('/mcp_manager', {
    body: { name: 'orders', mode: 'NORMAL', connectorInstanceId: instance.id, confirmTools: ['drop_all'] },
  });
  expect(refused.response.status).toBe(422);
  expect(JSON.stringify(refused.error)).toContain('no tool \\"drop_all\\" on this server');
  const server = await unwrap(
    api.POST('/mcp_manager', {
      body: { name: 'orders', mode: 'NORMAL', connectorInstanceId: instance.id, confirmTools: ['delete_order'] },
    }),
  );
  ({ id: serverId, url: mcpUrl } = server);
  expect(server.confirmTools).toEqual(['delete_order']);
}, 120_000);

afterAll(async () => {
  try {
    await stack?.stop();
  } finally {
    monitor?.disconnect();
    monitorBase?.disconnect();
    await redis?.stop();
    upstream?.closeAllConnections();
    await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
  }
});

describe('marking a tool', () => {
  it('the tools list shows what is confirmed and what is suggested (DELETE, POST without idempotency key)', async () => {
    const tools = await unwrap(api.GET('/mcp_manager/{id}/tools', { params: { path: { id: serverId } } }));
    const view = Object.fromEntries(tools.data.map((t) => [t.name, [t.confirm, t.confirmSuggested]]));
    expect(view).toEqual({ get_order: [false, false], delete_order: [true, true] });
  });
});

describe.each(ERAS)('a person confirms a call (%s client)', (era) => {
  it('accepted: the call is sent once and its result comes back; the person saw the arguments, secrets masked', async () => {
    const r = await callAs(era, 'accept');
    expect(r.isError).toBe(false);
    expect(r.text).toBe(JSON.stringify({ done: 'DELETE' }));
    expect(r.sent).toEqual([expect.stringMatching(new RegExp(`^DELETE /orders/${era}-accept\\?`))]);
    expect(r.asked).toHaveLength(1);
    const [elicitation] = r.asked;
    expect(elicitation!.mode).toBe('form');
    expect(elicitation!.message).toContain('"delete_order"');
    expect(elicitation!.message).toContain(`${era}-accept`);
    expect(elicitation!.message).toContain('"approval_token": "[masked]"');
    expect(elicitation!.message).not.toContain(SECRET);
    expect(elicitation!.message).not.toContain(PASSCODE);
  });

  it.each(['decline', 'cancel'] as const)('%s: a tool error, nothing sent', async (answer) => {
    const r = await callAs(era, answer);
    expect(r.asked).toHaveLength(1);
    expect(r.isError).toBe(true);
    expect(r.text).toContain(answer === 'decline' ? 'The person declined' : 'was cancelled');
    expect(r.sent).toEqual([]);
  });

  it('a client without the elicitation capability: the tool error explaining why, nothing sent', async () => {
    const r = await callAs(era, undefined);
    expect(r.isError).toBe(true);
    expect(r.text).toContain('this client cannot ask its user');
    expect(r.sent).toEqual([]);
  });

  it('a tool not marked confirm is called without asking', async () => {
    const r = await callAs(era, 'decline', 'get_order');
    expect(r).toMatchObject({ isError: false, asked: [], sent: ['GET /orders/7'] });
  });
});

describe('the legacy HTTP+SSE transport', () => {
  it('asks on the session’s event stream too; accepted, the call is sent once', async () => {
    const client = new Client({ name: 'confirmation-sse', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    let elicitations = 0;
    client.setRequestHandler('elicitation/create', () => {
      elicitations++;
      return Promise.resolve({ action: 'accept', content: {} });
    });
    const headers = { 'x-api-key': stack.bootstrapKey };
    const withKey = (u: string | URL | Request, init?: RequestInit) =>
      fetch(u, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers)), ...headers } });
    await client.connect(
      new SSEClientTransport(new URL(`${stack.edgeUrl}/api/v1/mcp/${serverId}`), {
        requestInit: { headers },
        eventSourceInit: { fetch: withKey },
      }),
    );
    const before = received.length;
    try {
      const result = await client.callTool({ name: 'delete_order', arguments: { id: 'sse-accept' } });
      expect(result.isError).toBeFalsy();
      expect(elicitations).toBe(1);
      expect(received.slice(before)).toEqual(['DELETE /orders/sse-accept']);
    } finally {
      await client.close();
    }
  });
});

describe('2026-07-28 request states a client makes up or carries over (issue #58 A)', () => {
  const envelope = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'forger', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
  };
  interface RawResult {
    isError?: boolean;
    content?: { text: string }[];
    resultType?: string;
    requestState?: string;
  }

  /** A raw 2026-07-28 `tools/call` of `tool` on `url`, with what the client chose to carry; what reached the upstream. */
  async function rawCall(
    args: Record<string, unknown>,
    carry: { requestState?: string; answer?: Answer },
    opts: { key?: string; url?: string; tool?: string } = {},
  ) {
    const before = received.length;
    const res = await fetch(opts.url ?? mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'x-api-key': opts.key ?? stack.bootstrapKey,
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': opts.tool ?? 'delete_order',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: {
          name: opts.tool ?? 'delete_order',
          arguments: args,
          ...(carry.requestState !== undefined ? { requestState: carry.requestState } : {}),
          ...(carry.answer
            ? { inputResponses: { toolplane_confirmation: { action: carry.answer, content: {} } } }
            : {}),
          _meta: envelope,
        },
      }),
    });
    const body = (await res.json()) as { result: RawResult };
    if (!body.result) throw new Error(`no result: ${res.status} ${JSON.stringify(body)}`);
    return { result: body.result, sent: received.slice(before) };
  }

  /** The state of a question the edge really asked (first round), for these arguments and this caller. */
  async function askedFor(args: Record<string, unknown>, opts: { key?: string; url?: string; tool?: string } = {}) {
    const { result, sent } = await rawCall(args, {}, opts);
    expect(result.resultType).toBe('input_required');
    expect(sent).toEqual([]);
    return result.requestState!;
  }

  const refusedWithNothingSent = (r: { result: RawResult; sent: string[] }) => {
    expect(r.result.isError).toBe(true);
    expect(r.result.content![0]!.text).toContain('confirmation state sent with this call');
    expect(r.sent).toEqual([]);
  };

  it('the review’s forgeries: a bare digest as “ok”, a made-up “asked” with accept: refused, nothing sent', async () => {
    const args = { id: 'forged-ok' };
    const digest = createHash('sha256')
      .update(JSON.stringify([serverId, 'delete_order', args]))
      .digest('base64url');
    refusedWithNothingSent(await rawCall(args, { requestState: `tp-confirm.ok.${digest}.` }));
    refusedWithNothingSent(await rawCall(args, { requestState: `tp-confirm.asked.${digest}`, answer: 'accept' }));
    // A real state with its claims changed (the MAC no longer matches).
    const real = await askedFor(args);
    const [body, mac] = real.slice('tp-confirm.'.length).split('.');
    const claims = JSON.parse(Buffer.from(body!, 'base64url').toString()) as Record<string, unknown>;
    const changed = Buffer.from(JSON.stringify({ ...claims, s: 'ok' })).toString('base64url');
    refusedWithNothingSent(await rawCall(args, { requestState: `tp-confirm.${changed}.${mac}` }));
  });

  it('a real answer counts once: accepted and sent once, the same state again refused', async () => {
    const args = { id: 'replayed' };
    const state = await askedFor(args);
    const first = await rawCall(args, { requestState: state, answer: 'accept' });
    expect(first.result.isError).toBeFalsy();
    expect(first.sent).toEqual(['DELETE /orders/replayed']);
    refusedWithNothingSent(await rawCall(args, { requestState: state, answer: 'accept' }));
  });

  it('another caller’s state is refused; another tool’s, server’s or arguments’ state asks again', async () => {
    const other = await unwrap(api.POST('/api_keys', { body: { name: 'another-caller' } }));
    const state = await askedFor({ id: 'theirs' });
    refusedWithNothingSent(
      await rawCall({ id: 'theirs' }, { requestState: state, answer: 'accept' }, { key: other.key }),
    );
    const second = await unwrap(
      api.POST('/mcp_manager', {
        body: {
          name: 'orders-two',
          mode: 'NORMAL',
          connectorInstanceId: instanceId,
          confirmTools: ['delete_order', 'get_order'],
        },
      }),
    );
    const otherServer = await askedFor({ id: 'theirs' }, { url: second.url });
    const otherTool = await askedFor({ id: 'theirs' }, { url: second.url, tool: 'get_order' });
    const otherArgs = await askedFor({ id: 'other-args' });
    for (const [requestState, url] of [
      [otherServer, mcpUrl],
      [otherTool, second.url],
      [otherArgs, mcpUrl],
    ] as const) {
      const r = await rawCall({ id: 'theirs' }, { requestState, answer: 'accept' }, { url });
      expect(r.result.resultType).toBe('input_required');
      expect(r.sent).toEqual([]);
    }
    await unwrap(api.DELETE('/mcp_manager/{id}', { params: { path: { id: second.id } } }));
  });
});

describe('quotas (ADR 0048)', () => {
  it('a declined or cancelled confirmation is never charged; an accepted one is charged once, in both eras', async () => {
    const quota = await unwrap(
      api.POST('/quotas', {
        body: {
          name: 'orders',
          match: { tools: ['delete_order', 'get_order'] },
          counts: 'calls',
          limit: 1000,
          window: 'day',
        },
      }),
    );
    const workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
    const at: QuotaCounter = { prefix: stack.redisPrefix, workspaceId, quotaId: quota.id, window: 'day' };
    await inOneWindow('day', 60);
    const counter = stackRedis(stack);
    try {
      await waitFor('the quota on the edge', async () => {
        await callAs('2025-11-25', undefined, 'get_order');
        return (await counterOf(counter, at)) > 0 ? true : undefined;
      });
      for (const era of ERAS) {
        const before = await counterOf(counter, at);
        for (const answer of ['decline', 'cancel'] as const)
          expect(await callAs(era, answer, 'delete_order', `quota-${era}-${answer}`)).toMatchObject({
            isError: true,
            sent: [],
          });
        expect(await counterOf(counter, at)).toBe(before);
        const accepted = await callAs(era, 'accept', 'delete_order', `quota-${era}-accept`);
        expect(accepted).toMatchObject({ isError: false, sent: [expect.stringContaining('DELETE /orders/quota-')] });
        expect(await counterOf(counter, at)).toBe(before + 1);
      }
    } finally {
      counter.disconnect();
      await unwrap(api.DELETE('/quotas/{id}', { params: { path: { id: quota.id } } }));
    }
  });
});

describe('the audit trail', () => {
  it('each decision is an event on the edge’s stream: who, which tool, the arguments masked; the secret nowhere', async () => {
    const outcomes = ['accepted', 'declined', 'cancelled', 'refused'];
    // The decisions of the calls of the two eras (not the legacy stream's, nor the made-up states').
    const ofEras = (all: AuditEventInput[]) =>
      all.filter((e) => /^20\d\d-\d\d-\d\d-/.test((e.details?.arguments as { id?: string } | undefined)?.id ?? ''));
    const ofStates = (all: AuditEventInput[]) => all.filter((e) => String(e.details?.reason).startsWith('state_'));
    const { events: all, raw } = await waitFor('the audit events of every decision', () => {
      const stream = auditStream();
      const complete =
        ofEras(stream.events).length >= outcomes.length * ERAS.length && ofStates(stream.events).length >= 5;
      return complete ? stream : undefined;
    });
    const events = ofEras(all);
    const stateRefusals = ofStates(all);
    for (const e of stateRefusals) expect(e).toMatchObject({ action: 'tool.confirmation', outcome: 'refused' });
    expect(events.map((e) => e.outcome).sort()).toEqual([...outcomes, ...outcomes].sort());
    for (const e of events) {
      const answers: Record<string, string> = {
        accepted: 'accept',
        declined: 'decline',
        cancelled: 'cancel',
        refused: 'undefined',
      };
      const answer = answers[e.outcome];
      expect(e).toMatchObject({
        action: 'tool.confirmation',
        actor: { type: 'api_key', id: expect.any(String) },
        resource: { type: 'tool', id: `${serverId}/delete_order` },
        status: null,
        changes: null,
        details: {
          server: 'orders',
          tool: 'delete_order',
          arguments: {
            id: expect.stringMatching(new RegExp(`-${answer}$`)),
            approval_token: '[masked]',
            passcode: '[masked]',
          },
          ...(e.outcome === 'refused' ? { reason: 'no_elicitation' } : {}),
        },
      });
      expect(e.source.requestId).toEqual(expect.any(String));
      expect(AuditEventInput.parse(e)).toEqual(e); // what the control plane's trail takes
    }
    expect(raw).not.toContain(SECRET);
    expect(raw).not.toContain(PASSCODE);
    // The control plane appends them to the workspace's trail, as they were sent: the trail and the stream hold the
    // same decisions once both are read after the last one (a decision of another test may still be on its way).
    const decisions = all.filter((e) => e.action === 'tool.confirmation');
    const trail = await waitFor('the decisions in the audit trail', async () => {
      const page = await unwrap(
        api.GET('/audit_events', { params: { query: { action: 'tool.confirmation', limit: 500 } } }),
      );
      const streamed = new Set(auditStream().events.flatMap((e) => (e.action === 'tool.confirmation' ? [e.id] : [])));
      const stored = new Set(page.data.map((e) => e.id));
      return streamed.size === stored.size && [...streamed].every((id) => stored.has(id)) ? page.data : undefined;
    });
    const stored = new Set(trail.map((e) => e.id));
    expect(decisions.filter((e) => !stored.has(e.id))).toEqual([]);
    expect(JSON.stringify(trail)).not.toContain(SECRET);
    expect(JSON.stringify(trail)).not.toContain(PASSCODE);
  });

  it('a limited key may not lift a confirmation without server_admin', async () => {
    const limited = await unwrap(api.POST('/api_keys', { body: { name: 'orders-only', serverIds: [serverId] } }));
    const asLimited = await fetch(`${stack.controlPlaneUrl}/api/v1/mcp_manager/${serverId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'x-api-key': limited.key },
      body: JSON.stringify({ confirmTools: [] }),
    });
    expect(asLimited.status).toBe(403);
    const lifted = await unwrap(
      api.PATCH('/mcp_manager/{id}', { params: { path: { id: serverId } }, body: { confirmTools: [] } }),
    );
    expect(lifted.confirmTools).toEqual([]);
    await expect(
      unwrap(api.PATCH('/mcp_manager/{id}', { params: { path: { id: serverId } }, body: { confirmTools: ['x'] } })),
    ).rejects.toBeInstanceOf(ApiError);
  });
});
