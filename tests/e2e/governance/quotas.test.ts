import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import pg from 'pg';
import { applyRetention } from '../../../services/control-plane/src/resources/execution-records/retention.ts';
import { storeExecutionRecords } from '../../../services/control-plane/src/resources/execution-records/store.ts';
import { postMcp } from '../../helpers/mcp.ts';
import {
  burst,
  inOneWindow,
  onlyQuota as onlyQuotaOf,
  peopleMayCall,
  quotaMeta,
  refusedBy,
  type ToolResult,
} from '../../helpers/quotas.ts';
import { executionRecords } from '../../helpers/records.ts';
import { stackRedis, startTestStack } from '../../helpers/stack.ts';
import { sourceCli } from '../../helpers/cli.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

/**
 * Quotas and budgets (ADR 0048) on a real stack with two edges sharing one Redis: a quota allows exactly
 * its limit of concurrent calls across both edges (the upstream receives exactly that many), each refusal says which
 * quota and when to retry (also in `_meta`), `per: person` gives each person the limit, shadow mode refuses nothing
 * and records what it would have refused, alerts at 80 and 100 % reach the audit trail, a webhook and the edge's
 * metrics once each, and bad quotas are refused with every problem listed. Usage (`GET /usage`, a quota's counters,
 * `toolplane usage --csv`) agrees with what the upstream received.
 */

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let example: RegisteredExample;
const clients: Client[] = [];

async function connect(edgeUrl: string, username?: string): Promise<Client> {
  const client = new Client({ name: 'quota-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${edgeUrl}/mcp/${example.serverId}`), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey, ...(username ? { 'x-username': username } : {}) } },
    }),
  );
  clients.push(client);
  return client;
}

const searches = () => upstream.requests.filter((r) => r.path === '/api/v1/tickets' && r.method === 'GET').length;

/** What a quota's (one) counter holds: 0 before its first charge. */
async function used(redis: ReturnType<typeof stackRedis>, quotaId: string): Promise<number> {
  const keys = await redis.keys(`${stack.redisPrefix}:quota:*:${quotaId}:*`);
  return keys.length === 0 ? 0 : Number(await redis.get(keys[0]!));
}

/** A fresh quota; the quotas of earlier tests are deleted first (each test sees only its own). */
const onlyQuota = (body: Record<string, unknown>) => onlyQuotaOf(api, body);

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'quota-upstream-key' });
  // Calls wait at most 3 s (scaled: a loaded machine) for a worker: the test of a job that expired in the queue stops
  // the worker for that long. Metrics on: the alerts test reads the first edge's quota metrics.
  ({ stack, api } = await startTestStack('quotas', {
    edges: 2,
    metricsPort: 0,
    serviceEnv: { edge: { TOOL_CALL_TIMEOUT_MS: String(scaled(3_000)) } },
  }));
  example = await registerTicketExample(api, upstream.url, 'quota-upstream-key');
  await peopleMayCall(api, example.serverId, ['alice', 'bob']);
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await stack?.stop();
  await upstream?.close();
});

describe('a quota across two edges', () => {
  it('allows exactly its limit of 50 concurrent calls a minute; every other call gets the retry time', async () => {
    const [e1, e2] = stack.edgeUrls as [string, string];
    const alice = [await connect(e1, 'alice'), await connect(e2, 'alice')];
    await onlyQuota({
      name: 'alice-5-a-minute',
      match: { people: ['alice'], tools: ['search_tickets'] },
      counts: 'calls',
      limit: 5,
      window: 'minute',
    });
    // A probe quota on get_ticket, made after it, tells when both edges have the workspace's quotas (published whole).
    await unwrap(
      api.POST('/quotas', {
        body: { name: 'probe', match: { tools: ['get_ticket'] }, counts: 'calls', limit: 0, window: 'minute' },
      }),
    );
    await refusedBy(alice[0]!, 'probe');
    await refusedBy(alice[1]!, 'probe');
    // The window is a calendar minute: the burst starts with at least 20 s of it left, so it falls in one window.
    await inOneWindow('minute', 20);
    const before = searches();
    const results = await burst(alice, 50);
    const ok = results.filter((r) => !r.isError);
    const refused = results.filter((r) => r.isError);
    expect(ok).toHaveLength(5);
    expect(searches() - before).toBe(5);
    for (const r of refused) {
      const meta = quotaMeta(r)!;
      expect(meta.quota).toBe('alice-5-a-minute');
      expect(meta.retryAfterSeconds).toBeGreaterThan(0);
      expect(meta.retryAfterSeconds).toBeLessThanOrEqual(60);
      expect((r.content as { text: string }[])[0]!.text).toMatch(
        /Quota "alice-5-a-minute" \(5 calls per minute\).*Retry after \d+ s/,
      );
    }
    // Each refusal is recorded and audited.
    await waitFor('45 audit events', async () => {
      const events = await unwrap(
        api.GET('/audit_events', { params: { query: { action: 'tool.quota_exceeded', limit: 100 } } }),
      );
      return events.data.filter((e) => (e.details as { quota?: { name: string } }).quota?.name === 'alice-5-a-minute')
        .length === 45
        ? true
        : undefined;
    });
  }, 120_000);

  it('per person: alice and bob get the limit each', async () => {
    const [e1, e2] = stack.edgeUrls as [string, string];
    const alice = [await connect(e1, 'alice'), await connect(e2, 'alice')];
    const bob = [await connect(e1, 'bob'), await connect(e2, 'bob')];
    await onlyQuota({
      name: 'each-person-3',
      match: { tools: ['search_tickets', 'get_ticket'] },
      counts: 'calls',
      limit: 3,
      window: 'hour',
      per: 'person',
    });
    // Propagation: calls of get_ticket by a caller acting as no person (their own counter, `-`) until one is refused.
    const nobody = await connect(e1);
    await waitFor('the per-person quota on the edge', async () => {
      const r = (await nobody.callTool({ name: 'get_ticket', arguments: { ticket_id: 'none' } })) as ToolResult;
      return quotaMeta(r)?.quota === 'each-person-3' ? true : undefined;
    });
    const before = searches();
    const [a, b] = await Promise.all([burst(alice, 12), burst(bob, 12)]);
    expect(a.filter((r) => !r.isError)).toHaveLength(3);
    expect(b.filter((r) => !r.isError)).toHaveLength(3);
    expect(searches() - before).toBe(6);
  }, 120_000);
});

/** A client of server `serverId` on the first edge, as the stack's key. */
async function clientOf(serverId: string): Promise<Client> {
  const client = new Client({ name: 'quota-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${serverId}`), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  clients.push(client);
  return client;
}

/**
 * Calls `tool` until the cost budget `quota` refuses one (the quota reaches the edge before the first call is charged
 * or after); the last three results.
 */
async function untilRefused(client: Client, tool: string, args: Record<string, unknown>, quota: string) {
  const results: ToolResult[] = [];
  await waitFor(`the budget ${quota} to refuse a call`, async () => {
    const r = (await client.callTool({ name: tool, arguments: args })) as ToolResult;
    results.push(r);
    return quotaMeta(r)?.quota === quota ? true : undefined;
  });
  return results.slice(-3);
}

describe('cost units', () => {
  let priced: RegisteredExample;

  beforeAll(async () => {
    // The example's descriptor as version 1.1.0, whose search declares its cost (descriptor `cost`).
    const descriptor = ticketSystemDescriptorYaml
      .replace('version: "1.0.0"', 'version: "1.1.0"')
      .replace('  - operation_id: search_tickets\n', '  - operation_id: search_tickets\n    cost: 4\n');
    expect(descriptor).toContain('cost: 4');
    priced = await registerTicketExample(api, upstream.url, 'quota-upstream-key', 'priced-tickets', descriptor);
  }, 60_000);

  it('a tool declaring a cost of 4 is charged 4: a budget of 10 a day allows two calls', async () => {
    const quota = await onlyQuota({
      name: 'search-budget',
      match: { servers: [priced.serverId], tools: ['search_tickets'] },
      counts: 'cost',
      limit: 10,
      window: 'day',
    });
    const client = await clientOf(priced.serverId);
    // The API shows each tool's cost; agents see nothing of it.
    const listed = await unwrap(api.GET('/mcp_manager/{id}/tools', { params: { path: { id: priced.serverId } } }));
    expect(Object.fromEntries(listed.data.map((t) => [t.name, t.cost]))).toMatchObject({
      search_tickets: 4,
      get_ticket: 1,
    });
    expect(JSON.stringify(await client.listTools())).not.toMatch(/cost/i);
    const charged = await untilRefused(client, 'search_tickets', {}, quota.name);
    expect(charged.map((r) => !r.isError)).toEqual([true, true, false]);
    expect((charged[2]!.content as { text: string }[])[0]!.text).toContain('10 cost units per day');
  }, 120_000);

  it('a three-step workflow costs the sum of its steps (1 + 1 + 4); a cost it declares wins', async () => {
    // Each step calls a tool of the priced server: get_ticket costs 1, search_tickets 4 (its catalog's cost).
    const tool = (name: string) => `toolplane:mcp_servers/priced-tickets/tools/${name}`;
    const steps = [
      `      - id: first\n        request: { method: POST, url: "${tool('get_ticket')}", body: { ticket_id: TCK-1 } }`,
      `      - id: again\n        request: { method: POST, url: "${tool('get_ticket')}", body: { ticket_id: TCK-1 } }`,
      `      - id: search\n        request: { method: POST, url: "${tool('search_tickets')}", body: {} }`,
    ].join('\n');
    const definition =
      `flower: "0.1"\nid: priced-flows\nflows:\n  - id: triage\n    steps:\n${steps}\n` +
      `  - id: triage_flat\n    x-toolplane-cost: 1\n    steps:\n${steps}\n`;
    const flows = await unwrap(api.POST('/mcp_manager', { body: { name: 'priced-flows', mode: 'NORMAL' } }));
    await unwrap(api.POST('/mcp_servers/{id}/deploy', { params: { path: { id: flows.id } }, body: { definition } }));
    const client = await clientOf(flows.id);
    const redis = stackRedis(stack);
    try {
      // 6 units a call: a budget of 12 a day allows two; the third is refused before any of its steps runs.
      const summed = await onlyQuota({
        name: 'triage-budget',
        match: { servers: [flows.id], tools: ['triage'] },
        counts: 'cost',
        limit: 12,
        window: 'day',
      });
      const sent = () => upstream.requests.length;
      const charged = await untilRefused(client, 'triage', {}, summed.name);
      expect(charged.map((r) => !r.isError)).toEqual([true, true, false]);
      expect((charged[2]!.content as { text: string }[])[0]!.text).toContain('12 cost units per day');
      expect(await used(redis, summed.id)).toBe(12);
      const before = sent();
      expect(((await client.callTool({ name: 'triage', arguments: {} })) as ToolResult).isError).toBe(true);
      expect(sent()).toBe(before);
      // The same steps under a declared cost of 1: a budget of 2 allows two calls (6 each would allow none).
      const declared = await onlyQuota({
        name: 'flat-budget',
        match: { servers: [flows.id], tools: ['triage_flat'] },
        counts: 'cost',
        limit: 2,
        window: 'day',
      });
      const flat = await untilRefused(client, 'triage_flat', {}, declared.name);
      expect(flat.map((r) => !r.isError)).toEqual([true, true, false]);
      expect(await used(redis, declared.id)).toBe(2);
    } finally {
      redis.disconnect();
    }
  }, 120_000);
});

describe('a task', () => {
  it('is charged once, when it is created, whatever its status and result requests', async () => {
    const client = await connect(stack.edgeUrls[1]!);
    const quota = await onlyQuota({
      name: 'tasks-once',
      match: { tools: ['search_tickets'] },
      counts: 'calls',
      limit: 100,
      window: 'day',
    });
    const redis = stackRedis(stack);
    try {
      const counted = () => used(redis, quota.id);
      // Plain calls until the edges have the quota (each one charged), then one task.
      await waitFor('the quota on the edge', async () => {
        await client.callTool({ name: 'search_tickets', arguments: {} });
        return (await counted()) > 0 ? true : undefined;
      });
      const before = await counted();
      // 2025-11-25 Tasks on the wire: the task is created at once, its result read twice, its status once.
      const url = `${stack.edgeUrls[1]}/mcp/${example.serverId}`;
      const headers = { 'mcp-protocol-version': '2025-11-25', 'x-api-key': stack.bootstrapKey };
      const rpc = async (id: number, method: string, params: unknown) =>
        (await (await postMcp(url, { jsonrpc: '2.0', id, method, params }, headers)).text()).trim();
      const created = JSON.parse(await rpc(1, 'tools/call', { name: 'search_tickets', arguments: {}, task: {} })) as {
        result: { task: { taskId: string } };
      };
      const { taskId } = created.result.task;
      const lastData = (text: string) =>
        text
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .at(-1)
          ?.slice(6) ?? text;
      expect(lastData(await rpc(2, 'tasks/result', { taskId }))).toContain('tickets');
      expect(lastData(await rpc(3, 'tasks/result', { taskId }))).toContain('tickets');
      expect(lastData(await rpc(4, 'tasks/get', { taskId }))).toContain('completed');
      expect(await counted()).toBe(before + 1);
    } finally {
      redis.disconnect();
    }
  }, 120_000);
});

describe('a job that expired in the queue', () => {
  it('gives its units back when a worker finds it expired (it ran nothing)', async () => {
    const client = await connect(stack.edgeUrls[0]!);
    const quota = await onlyQuota({
      name: 'one-a-day',
      match: { tools: ['get_ticket'] },
      counts: 'calls',
      limit: 1,
      window: 'day',
    });
    const redis = stackRedis(stack);
    try {
      const counted = () => used(redis, quota.id);
      // The edges know the quota once a call charges it; that call is given back by hand (the test's own setup).
      await waitFor('the quota on the edge', async () => {
        await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
        return (await counted()) > 0 ? true : undefined;
      });
      const keys = await redis.keys(`${stack.redisPrefix}:quota:*:${quota.id}:*`);
      await redis.set(keys[0]!, '0', 'KEEPTTL');
      // No worker: the call waits in the queue past its deadline; the edge answers "outcome unknown", still charged.
      await stack.stopProcess(stack.processes.find((p) => p.service === 'worker')!);
      const sent = upstream.requests.length;
      const waited = (await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } })) as ToolResult;
      expect(waited.isError).toBe(true);
      expect(await counted()).toBe(1);
      // A worker takes the job, finds it expired, sends nothing and gives the unit back.
      await stack.addWorker();
      await waitFor('the unit given back', async () => ((await counted()) === 0 ? true : undefined));
      expect(upstream.requests.length).toBe(sent);
      const again = (await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } })) as ToolResult;
      expect(again.isError).toBeFalsy();
      expect(await counted()).toBe(1);
    } finally {
      redis.disconnect();
    }
  }, 120_000);
});

describe('shadow mode (enforce: false)', () => {
  it('refuses nothing, records its would-be refusals (bounded, all counted), then refuses once enforced', async () => {
    // One minute for the whole burst: each edge records one would-be refusal per quota, caller and tool a minute.
    await inOneWindow('minute', 40);
    const since = new Date().toISOString();
    const client = await connect(stack.edgeUrls[0]!);
    const shadow = await onlyQuota({
      name: 'shadow-1',
      match: { tools: ['search_tickets'] },
      counts: 'calls',
      limit: 1,
      window: 'day',
      enforce: false,
    });
    const mine = async () => {
      const events = await unwrap(
        api.GET('/audit_events', { params: { query: { action: '*.would_refuse', from: since, limit: 100 } } }),
      );
      return events.data.filter((e) => e.resource.type === 'quota' && e.resource.id === shadow.id);
    };
    // Shadow quotas refuse nothing, so propagation shows only in the audit trail: calls until one is recorded.
    await waitFor('a quota.would_refuse event', async () => {
      const r = (await client.callTool({ name: 'search_tickets', arguments: {} })) as ToolResult;
      expect(r.isError).toBeFalsy();
      return (await mine()).length > 0 ? true : undefined;
    });
    const sent = searches();
    const results = await burst([client], 5);
    expect(results.every((r) => !r.isError)).toBe(true);
    expect(searches()).toBe(sent + 5);
    const [event, ...more] = await mine();
    expect(more).toEqual([]);
    expect(event).toMatchObject({
      action: 'quota.would_refuse',
      outcome: 'success',
      details: {
        quota: { id: shadow.id, name: 'shadow-1', limit: 1, enforce: false },
        used: expect.any(Number),
        tool: 'search_tickets',
        invocationId: expect.any(String),
      },
    });
    // Every would-be refusal is counted; the burst's (and the probe's after the first) were not recorded.
    const metrics = await (await fetch(stack.metricsUrls['edge-1']!)).text();
    const counted = { kind: 'quota', rule: shadow.id };
    expect(sample(metrics, 'toolplane_shadow_decisions_total', { ...counted, recorded: 'true' })).toBe(1);
    expect(
      sample(metrics, 'toolplane_shadow_decisions_total', { ...counted, recorded: 'false' }),
    ).toBeGreaterThanOrEqual(5);
    // Enforced, the same quota refuses as any other (its counter is past the limit already).
    await unwrap(api.PATCH('/quotas/{id}', { params: { path: { id: shadow.id } }, body: { enforce: true } }));
    const refused = await waitFor('the quota enforced on the edge', async () => {
      const r = (await client.callTool({ name: 'search_tickets', arguments: {} })) as ToolResult;
      return r.isError ? r : undefined;
    });
    expect(quotaMeta(refused)?.quota).toBe('shadow-1');
  }, 120_000);
});

/** A webhook receiver on 127.0.0.1 (the workers' OUTBOUND_ALLOW in test stacks): the JSON bodies POSTed to it. */
async function startWebhook(): Promise<{ url: string; bodies: Record<string, unknown>[]; close: () => void }> {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(text) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/quota-t0k3n`;
  return { url, bodies, close: () => server.close() };
}

/** A sample of a Prometheus text exposition (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/i.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/([a-z_][a-z0-9_]*)="([^"]*)"/gi)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

describe('alerts', () => {
  it('at 80 and 100 %: one audit event each, both POSTed to the webhook, none when refused; metrics', async () => {
    const hook = await startWebhook();
    try {
      const alice = await connect(stack.edgeUrls[0]!, 'alice');
      const quota = await onlyQuota({
        name: 'alerting-5',
        match: { tools: ['search_tickets'] },
        counts: 'calls',
        limit: 5,
        window: 'month',
        per: 'person',
        alertWebhookUrl: hook.url,
      });
      expect(quota.alertWebhookUrl).toBe(hook.url);
      const probe = await unwrap(
        api.POST('/quotas', {
          body: { name: 'alert-probe', match: { tools: ['get_ticket'] }, counts: 'calls', limit: 0, window: 'month' },
        }),
      );
      await refusedBy(alice, 'alert-probe');
      const alerts = async () =>
        (await unwrap(api.GET('/audit_events', { params: { query: { action: 'quota.alert', order: 'asc' } } }))).data
          .filter((e) => e.resource.id === quota.id)
          .map((e) => ({ actor: e.actor.name, ...(e.details as Record<string, unknown>) }));
      const search = () => alice.callTool({ name: 'search_tickets', arguments: {} }) as Promise<ToolResult>;
      for (let i = 0; i < 4; i++) expect((await search()).isError).toBeFalsy();
      await waitFor('the 80 % alert', async () => ((await alerts()).length === 1 ? true : undefined));
      expect((await search()).isError).toBeFalsy();
      await waitFor('the 100 % alert', async () => ((await alerts()).length === 2 ? true : undefined));
      const sixth = await search();
      expect(quotaMeta(sixth)?.quota).toBe('alerting-5');
      // The refusal's event is stored after anything the same call sent before it: no third alert came.
      await waitFor('the refusal in the trail', async () => {
        const refusals = await unwrap(
          api.GET('/audit_events', { params: { query: { action: 'tool.quota_exceeded', resource_type: 'tool' } } }),
        );
        return refusals.data.some((e) => (e.details as { quota?: { id: string } }).quota?.id === quota.id)
          ? true
          : undefined;
      });
      const events = await alerts();
      const period = new Date().toISOString().slice(0, 7);
      const common = { quota: { id: quota.id, name: 'alerting-5', counts: 'calls', limit: 5, enforce: true } };
      expect(events).toEqual([
        expect.objectContaining({ ...common, actor: 'alice', threshold: 80, used: 4, period, per: 'person' }),
        expect.objectContaining({ ...common, actor: 'alice', threshold: 100, used: 5, period, person: 'alice' }),
      ]);
      await waitFor('both alerts at the webhook', async () => (hook.bodies.length >= 2 ? true : undefined));
      expect(hook.bodies.map((b) => [b.type, b.threshold, b.used, b.limit, b.window, b.period])).toEqual([
        ['quota.alert', 80, 4, 5, 'month', period],
        ['quota.alert', 100, 5, 5, 'month', period],
      ]);
      expect(hook.bodies[0]).toMatchObject({ quota: { id: quota.id, name: 'alerting-5' }, counts: 'calls' });
      // The first edge's metrics: units charged, the refusals (the probe's too), and the quota full.
      const metrics = await (await fetch(stack.metricsUrls['edge-1']!)).text();
      expect(sample(metrics, 'toolplane_quota_charged_total', { quota: quota.id, counts: 'calls' })).toBe(5);
      expect(sample(metrics, 'toolplane_quota_refused_total', { quota: quota.id, enforce: 'true' })).toBe(1);
      expect(sample(metrics, 'toolplane_quota_refused_total', { quota: probe.id, enforce: 'true' })).toBeGreaterThan(0);
      expect(sample(metrics, 'toolplane_quota_use', { quota: quota.id })).toBe(1);
      expect(metrics).not.toContain('alice');
    } finally {
      hook.close();
    }
  }, 120_000);
});

describe('a quota that cannot be', () => {
  it('is refused with every problem listed, and nothing is saved', async () => {
    const before = (await unwrap(api.GET('/quotas'))).data.length;
    const bad = await api.POST('/quotas', {
      body: {
        name: 'bad',
        match: { servers: ['00000000-0000-4000-8000-000000000000'], tools: ['no_such_tool', 'send_*'] },
        counts: 'calls',
        limit: 10,
        timeZone: 'Mars/Olympus',
        alertWebhookUrl: 'javascript:alert(1)',
      } as never,
    });
    expect(bad.response.status).toBe(422);
    const paths = ((bad.error as { errors: { path: string }[] }).errors ?? []).map((e) => e.path).sort();
    expect(paths).toEqual(['/alertWebhookUrl', '/timeZone', '/window']);
    const names = await api.POST('/quotas', {
      body: {
        name: 'bad',
        match: {
          servers: ['00000000-0000-4000-8000-000000000000'],
          tools: ['no_such_tool', 'send_*'],
          people: ['zed'],
        },
        counts: 'cost',
        limit: 10,
        window: 'day',
      },
    });
    expect(names.response.status).toBe(422);
    expect(((names.error as { errors: { path: string }[] }).errors ?? []).map((e) => e.path).sort()).toEqual([
      '/match/people/0',
      '/match/servers/0',
      '/match/tools/0',
    ]);
    const negative = await api.POST('/quotas', {
      body: { name: 'bad', match: {}, counts: 'in_flight', limit: -1, window: 'minute' } as never,
    });
    expect(negative.response.status).toBe(422);
    expect(((negative.error as { errors: { path: string }[] }).errors ?? []).map((e) => e.path).sort()).toEqual([
      '/limit',
      '/window',
    ]);
    expect((await unwrap(api.GET('/quotas'))).data.length).toBe(before);
  });

  it('a change is checked as the quota will be: a calls quota left without a window is refused', async () => {
    const q = await onlyQuota({ name: 'changing', match: {}, counts: 'in_flight', limit: 4 });
    const path = { id: q.id };
    const noWindow = await api.PATCH('/quotas/{id}', { params: { path }, body: { counts: 'calls' } });
    expect(noWindow.response.status).toBe(422);
    const changed = await unwrap(
      api.PATCH('/quotas/{id}', { params: { path }, body: { counts: 'calls', window: 'day' } }),
    );
    expect(changed).toMatchObject({ counts: 'calls', window: 'day', limit: 4, enforce: true });
    expect(await unwrap(api.GET('/quotas/{id}', { params: { path } }))).toEqual(changed);
    const unknown = await api.GET('/quotas/{id}', { params: { path: { id: '00000000-0000-4000-8000-000000000000' } } });
    expect(unknown.response.status).toBe(404);
  });
});

describe('usage', () => {
  const cli = (...args: string[]) => sourceCli(stack)(...args);

  it('GET /usage, the quota’s counters and the CLI’s CSV agree with the upstream’s count; refusals are not usage', async () => {
    // A server whose search costs 3, under each person's budget of 12 cost units a day (four calls).
    const priced = ticketSystemDescriptorYaml
      .replace('version: "1.0.0"', 'version: "1.2.0"')
      .replace('  - operation_id: search_tickets\n', '  - operation_id: search_tickets\n    cost: 3\n');
    const server = await registerTicketExample(api, upstream.url, 'quota-upstream-key', 'usage-tickets', priced);
    await unwrap(
      api.PATCH('/mcp_manager/{id}', {
        params: { path: { id: server.serverId } },
        body: { config: { fallbackToShared: true } },
      }),
    );
    const quota = await onlyQuota({
      name: 'usage-budget',
      match: { servers: [server.serverId], tools: ['search_tickets'] },
      counts: 'cost',
      limit: 12,
      window: 'day',
      per: 'person',
    });
    const client = new Client({ name: 'quota-e2e', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${server.serverId}`), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey, 'x-username': 'alice' } },
      }),
    );
    clients.push(client);
    // Calls until the budget refuses one (calls before the quota reached the edge are usage too), then one more.
    const before = searches();
    const results: ToolResult[] = [];
    await waitFor('the budget to refuse a call', async () => {
      const r = (await client.callTool({ name: 'search_tickets', arguments: {} })) as ToolResult;
      results.push(r);
      return quotaMeta(r)?.quota === quota.name ? true : undefined;
    });
    results.push((await client.callTool({ name: 'search_tickets', arguments: {} })) as ToolResult);
    const received = searches() - before;
    expect(received).toBeGreaterThanOrEqual(4);
    expect(results.filter((r) => !r.isError)).toHaveLength(received);
    expect(results.slice(-2).map((r) => quotaMeta(r)?.quota)).toEqual([quota.name, quota.name]);

    // Every call's record is stored (the refusals' too: they would count by now if they were usage).
    await waitFor('every call recorded', async () => {
      const page = await unwrap(
        api.GET('/execution_records', { params: { query: { server_id: server.serverId, limit: 200 } } }),
      );
      return page.data.length === results.length ? true : undefined;
    });
    const usage = await waitFor('the calls in the usage rollup', async () => {
      const u = await unwrap(
        api.GET('/usage', { params: { query: { server_id: server.serverId, group_by: 'server,tool,person' } } }),
      );
      return u.totals.calls === received ? u : undefined;
    });
    expect(usage.rows).toEqual([
      {
        serverId: server.serverId,
        serverName: 'usage-tickets',
        tool: 'search_tickets',
        person: 'alice',
        calls: received,
        costUnits: 3 * received,
      },
    ]);
    expect(usage.totals).toEqual({ calls: received, costUnits: 3 * received });
    const today = new Date().toISOString().slice(0, 10);
    expect(usage).toMatchObject({ to: today, groupBy: ['server', 'tool', 'person'], truncated: false });

    // How much of the quota is left: alice's counter, full.
    const left = await unwrap(api.GET('/quotas/{id}/usage', { params: { path: { id: quota.id } } }));
    expect(left).toMatchObject({ quotaId: quota.id, counts: 'cost', limit: 12, per: 'person', truncated: false });
    expect(left.counters).toEqual([{ value: 'alice', used: 12, left: 0 }]);
    expect(left.window?.id).toBe(today);
    expect(Date.parse(left.window!.resetsAt)).toBe(Date.parse(today) + 86_400_000);

    // The CLI's CSV, for chargeback: the same figures.
    const csv = await cli('usage', '--server', 'usage-tickets', '--group-by', 'tool,person', '--csv');
    expect(csv.stdout).toBe(`tool,person,calls,cost_units\r\nsearch_tickets,alice,${received},${3 * received}\r\n`);
  }, 120_000);

  it('a batch of records stored again adds nothing; usage days go with the records kept', async () => {
    const pool = new pg.Pool({ connectionString: stack.databaseUrl, max: 1 });
    try {
      const workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
      const serverId = randomUUID();
      const at = { workspaceId, serverId, tool: 'export', startedAt: '2026-01-01T10:00:00.000Z' };
      const charged = executionRecords(at, 3, 5).map((r) => ({ ...r, costUnits: 2.5 }));
      // Refused before the enqueue: no cost units, not usage. Their message carries a lone surrogate (a caller's
      // broken text): stored as U+FFFD, the batch is not refused for it.
      const refused = executionRecords(at, 2, 1, 'rejected').map((r) => ({ ...r, message: 'half \ud800 of a pair' }));
      await storeExecutionRecords(pool, [...charged, ...refused, charged[0]!]);
      await storeExecutionRecords(pool, charged);
      const more = executionRecords({ ...at, startedAt: '2026-01-01T23:59:59.999Z' }, 1, 5).map((r) => ({
        ...r,
        costUnits: 1,
      }));
      await storeExecutionRecords(pool, [...charged, ...more]);
      const stored = await pool.query<{ message: string }>('SELECT message FROM execution_records WHERE id = $1', [
        refused[0]!.invocationId,
      ]);
      expect(stored.rows).toEqual([{ message: 'half \ufffd of a pair' }]);
      const query = { from: '2026-01-01', to: '2026-01-01', server_id: serverId };
      const day = await unwrap(api.GET('/usage', { params: { query: { ...query, group_by: 'day,server,api_key' } } }));
      expect(day.rows).toEqual([
        { day: '2026-01-01', serverId, serverName: null, apiKeyId: 'k', apiKeyName: null, calls: 4, costUnits: 8.5 },
      ]);
      expect(day.totals).toEqual({ calls: 4, costUnits: 8.5 });
      // Kept while any of the day's records may be; gone once the whole day is older than the records kept.
      await applyRetention(pool, { now: new Date('2026-01-31T12:00:00Z'), recordsDays: 30, debugHours: 72 });
      expect((await unwrap(api.GET('/usage', { params: { query } }))).totals.calls).toBe(4);
      await applyRetention(pool, { now: new Date('2026-02-01T00:00:01Z'), recordsDays: 30, debugHours: 72 });
      expect((await unwrap(api.GET('/usage', { params: { query } }))).totals).toEqual({ calls: 0, costUnits: 0 });
    } finally {
      await pool.end();
    }
  });

  it('a query that cannot be answered is a 422 listing every problem', async () => {
    const bad = await api.GET('/usage', {
      params: { query: { from: '2026-02-30', to: 'today', group_by: 'day,colour', server_id: 'tickets' } },
    });
    expect(bad.response.status).toBe(422);
    expect(((bad.error as { errors: { path: string }[] }).errors ?? []).map((e) => e.path).sort()).toEqual([
      '/from',
      '/group_by',
      '/server_id',
      '/to',
    ]);
    const reversed = await api.GET('/usage', { params: { query: { from: '2026-02-02', to: '2026-02-01' } } });
    expect(reversed.response.status).toBe(422);
    expect((reversed.error as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(['/from']);
    const unknown = await api.GET('/quotas/{id}/usage', { params: { path: { id: randomUUID() } } });
    expect(unknown.response.status).toBe(404);
  });
});
