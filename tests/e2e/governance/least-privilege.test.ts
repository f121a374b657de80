import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import pg from 'pg';
import type { ExecutionRecord } from '../../../packages/contracts/src/index.ts';
import { storeExecutionRecords } from '../../../services/control-plane/src/resources/execution-records/store.ts';
import { startStreamableMcpServer, type ExternalMcpServer } from '../../fixtures/mcp-servers.ts';
import { sourceCli } from '../../helpers/cli.ts';
import { executionRecords } from '../../helpers/records.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Least privilege proposed from use (docs/governance.md "Least privilege proposed from use"): a key granted
 * the 9 tools of a server (the ticket example's 3 and an attached MCP server's 6) calls 2 of them through the official
 * SDK client; `GET /least_privilege` lists the 7 it never used, the narrowest policy (that server, those 2 tools),
 * quotas at the peak × margin and the `pii:email` finding a guardrail made on one tool's result. The proposal, written
 * by `toolplane least-privilege propose` and applied by `toolplane apply` (the broad policy deleted), lets the same 2
 * calls run and refuses the 7 others. The aggregates over records stored with chosen times (peaks per hour and day, a
 * person, calls refused, held or unconfirmed, secrets and personal-data findings) and the bounds of a query.
 */

const remoteTools = ['lookup_customer', 'list_orders', 'refund_order', 'close_account', 'export_data', 'send_mail'];
const email = `customer-${randomUUID().slice(0, 8)}@example.com`;

let stack: Stack;
let api: ManagementClient;
let remote: ExternalMcpServer;
let serverId: string;
let key: { id: string; key: string };
const clients: Client[] = [];

async function mcpClient(apiKey: string): Promise<Client> {
  const client = new Client({ name: 'least-privilege-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrl}/mcp/${serverId}`), {
      requestInit: { headers: { 'x-api-key': apiKey } },
    }),
  );
  clients.push(client);
  return client;
}

/** A call's text, or `refused: …` for an error result or a thrown refusal. */
async function call(client: Client, name: string): Promise<string> {
  try {
    const r = (await client.callTool({ name, arguments: { id: 'c1' } })) as {
      content: { text?: string }[];
      isError?: boolean;
    };
    const text = r.content.map((c) => c.text ?? '').join('');
    return r.isError ? `refused: ${text}` : text;
  } catch (err) {
    return `refused: ${String(err)}`;
  }
}

beforeAll(async () => {
  remote = await startStreamableMcpServer({
    tools: remoteTools.map((name) => ({
      name,
      description: `Does ${name}`,
      inputSchema: { type: 'object', properties: { id: { type: 'string' } } },
    })),
    onCall: (name) => ({
      content: [{ type: 'text', text: name === 'lookup_customer' ? `customer c1 <${email}>` : `called ${name}` }],
    }),
  });
  ({ stack, api } = await startTestStack('least-privilege', { logLevel: 'warn' }));
  // Nothing listens on the ticket system's address: its 3 tools are granted, never called.
  const example = await registerTicketExample(api, 'http://127.0.0.1:9', 'k1');
  const body = {
    name: 'nine',
    mode: 'NORMAL' as const,
    connectorInstanceId: example.instanceId,
    externalMcpConfigs: [{ name: 'crm', url: remote.url, tools: remoteTools }],
  };
  const server = await unwrap(api.POST('/mcp_manager', { body }));
  serverId = server.id;
  expect(server.tools).toHaveLength(9);
  key = await unwrap(api.POST('/api_keys', { body: { name: 'agent', scopes: ['runtime'] } }));
  await unwrap(
    api.POST('/access_policies', {
      body: { name: 'broad', principals: [{ type: 'api_key', value: key.id }], servers: [serverId], tools: ['*'] },
    }),
  );
  await unwrap(
    api.POST('/guardrails', {
      body: { serverId, name: 'pii-flag', detectors: [{ kind: 'pii' }], action: 'flag' } as never,
    }),
  );
}, 180_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await stack?.stop();
  await remote?.close();
});

const principal = () => `api_key:${key.id}`;

describe('least privilege proposed from use', () => {
  it('a key granted 9 tools that called 2: the 7 unused, the narrowest policy, peak quotas, the pii finding', async () => {
    const client = await mcpClient(key.key);
    // The guardrail reaches the workers with the catalog: call until a result shows its finding.
    await waitFor('the guardrail on lookup_customer', async () => {
      const r = (await client.callTool({ name: 'lookup_customer', arguments: { id: 'c1' } })) as {
        _meta?: Record<string, unknown>;
      };
      return r._meta?.['toolplane/guardrails'] !== undefined;
    });
    expect(await call(client, 'list_orders')).toBe('called list_orders');
    const report = await waitFor('the records of both tools', async () => {
      const r = await unwrap(api.GET('/least_privilege', { params: { query: { principal: principal() } } }));
      const e = r.principals[0];
      return e?.used.servers[0]?.tools.length === 2 && e.findings.length > 0 ? r : undefined;
    });
    expect(report.principals).toHaveLength(1);
    const e = report.principals[0]!;
    expect(e.principal).toEqual({ type: 'api_key', id: key.id, name: 'agent' });
    expect(e.granted).toMatchObject({ unrestricted: false, grantedBy: ['broad'] });
    expect(e.granted.servers).toEqual([{ id: serverId, name: 'nine', tools: expect.any(Array) }]);
    expect(e.granted.servers[0]!.tools).toHaveLength(9);
    const calledLookups = e.used.servers[0]!.tools.find((t) => t.tool === 'lookup_customer')!.calls;
    expect(e.calls).toBe(calledLookups + 1);
    expect(e.unused.servers).toEqual([]);
    expect(e.unused.tools.map((t) => t.tool).sort()).toEqual([
      'close_account',
      'create_ticket',
      'export_data',
      'get_ticket',
      'refund_order',
      'search_tickets',
      'send_mail',
    ]);
    expect(e.policies).toEqual([
      {
        name: 'least-privilege-agent-nine',
        description: expect.any(String),
        principals: [{ type: 'api_key', value: key.id }],
        servers: [serverId],
        tools: ['list_orders', 'lookup_customer'],
      },
    ]);
    // Every call in one hour (or two, across an hour's end): the day's peak is all of them.
    const day = e.quotas.find((q) => q.window === 'day')!;
    expect(day.peak).toBe(e.calls);
    expect(day.quota).toMatchObject({
      match: { apiKeys: [key.id] },
      counts: 'calls',
      window: 'day',
      limit: Math.ceil(e.calls * 1.5),
    });
    expect(e.quotas.map((q) => q.window)).toEqual(['hour', 'day']);
    expect(e.findings).toEqual([
      expect.objectContaining({ serverId, tool: 'lookup_customer', detector: 'pii:email', on: 'result' }),
    ]);
    // Nothing of the e-mail itself in the answer.
    expect(JSON.stringify(report)).not.toContain(email);
  }, 120_000);

  it('the proposal, applied with plan/apply (broad deleted), runs the same 2 calls and refuses the 7 others', async () => {
    const cli = sourceCli(stack);
    const dir = mkdtempSync(join(tmpdir(), 'least-privilege-'));
    // A wide margin: the calls made while waiting for the edges below must not meet the proposed quotas.
    const written = await cli('least-privilege', 'propose', '--principal', principal(), '--dir', dir, '--margin', '50');
    expect(written.stdout).toContain('broad');
    expect(readdirSync(join(dir, 'access-policies'))).toEqual(['least-privilege-agent-nine.yaml']);
    expect(readdirSync(join(dir, 'quotas')).sort()).toEqual([
      'least-privilege-agent-per-day.yaml',
      'least-privilege-agent-per-hour.yaml',
    ]);
    const plan = await cli('plan', dir, '--json').catch((err: { stdout: string }) => err);
    expect(JSON.parse(plan.stdout).changes.map((c: { action: string }) => c.action)).toEqual(
      expect.arrayContaining(['create', 'create', 'create']),
    );
    await cli('apply', dir);
    const broad = (await unwrap(api.GET('/access_policies'))).data.find((p) => p.name === 'broad')!;
    await unwrap(api.DELETE('/access_policies/{id}', { params: { path: { id: broad.id } } }));
    const client = await mcpClient(key.key);
    await waitFor('send_mail refused by the narrowed grant', async () =>
      /^refused: .*Access denied/.test(await call(client, 'send_mail')),
    );
    expect(await call(client, 'lookup_customer')).toBe(`customer c1 <${email}>`);
    expect(await call(client, 'list_orders')).toBe('called list_orders');
    for (const tool of [
      'refund_order',
      'close_account',
      'export_data',
      'get_ticket',
      'search_tickets',
      'create_ticket',
    ])
      expect(await call(client, tool)).toMatch(/^refused: .*Access denied/);
    const after = await unwrap(api.GET('/least_privilege', { params: { query: { principal: principal() } } }));
    expect(after.principals[0]!.granted.grantedBy).toEqual(['least-privilege-agent-nine']);
    expect(after.principals[0]!.unused.tools).toEqual([]);
  }, 180_000);

  it('aggregates: peaks per hour and day, a person, calls never sent (refused, held, unconfirmed) apart, findings', async () => {
    const pool = new pg.Pool({ connectionString: stack.databaseUrl, max: 1 });
    try {
      const workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
      const at = (startedAt: string, tool = 'read') => ({ workspaceId, serverId, tool, startedAt });
      const as = (rs: ExecutionRecord[], caller: ExecutionRecord['caller'], more: Partial<ExecutionRecord> = {}) =>
        rs.map((r) => ({ ...r, caller, ...more }));
      const k = { keyId: 'k-synthetic' };
      const ann = { keyId: 'k-synthetic', username: 'ann' };
      await storeExecutionRecords(pool, [
        // Day 1: 3 calls in 10:00, 1 in 11:00; day 2: 2 in 09:00 by ann (with the key).
        ...as(executionRecords(at('2026-01-05T10:01:00Z'), 3, 5), k),
        ...as(executionRecords(at('2026-01-05T11:30:00Z'), 1, 5), k),
        ...as(executionRecords(at('2026-01-06T09:00:00Z', 'write'), 2, 5), ann, {
          guardrails: [
            { guardrail: 'g', detector: 'secrets:aws_access_key_id', path: '$.key', action: 'redact' },
            { guardrail: 'g', detector: 'pii:card', path: '$.card', action: 'would_flag' },
            { guardrail: 'g', detector: 'prompt_injection', path: '$.notes', action: 'flag' },
          ],
        }),
        // Refused by access: not use, not in peaks.
        ...as(executionRecords(at('2026-01-05T10:02:00Z', 'admin'), 5, 1, 'rejected'), k, {
          errorCode: 'access.denied',
        }),
        // Held for an approval, over a quota, unconfirmed: never sent, so not use either.
        ...['approval.requested', 'quota.exceeded', 'confirmation.declined'].flatMap((errorCode) =>
          as(executionRecords(at('2026-01-05T10:03:00Z', 'create'), 1, 0, 'rejected'), k, { errorCode }),
        ),
      ]);
      const query = { from: '2026-01-05', to: '2026-01-07', margin: 1.2 };
      const r = await unwrap(api.GET('/least_privilege', { params: { query } }));
      expect(r.principals.map((p) => `${p.principal.type}:${p.principal.id}`)).toEqual([
        'api_key:k-synthetic',
        'external_user:ann',
      ]);
      const [kk, person] = r.principals as [(typeof r.principals)[0], (typeof r.principals)[0]];
      expect(kk).toMatchObject({ calls: 6, refused: 8 });
      // No such key (deleted, say): it grants nothing now.
      expect(kk.granted).toEqual({ unrestricted: false, grantedBy: [], servers: [] });
      expect(kk.used.servers[0]!.tools).toEqual([
        { tool: 'admin', calls: 0, errors: 0, refused: 5 },
        { tool: 'create', calls: 0, errors: 0, refused: 3 },
        { tool: 'read', calls: 4, errors: 0, refused: 0 },
        { tool: 'write', calls: 2, errors: 0, refused: 0 },
      ]);
      expect(kk.policies.map((p) => p.tools)).toEqual([['read', 'write']]);
      expect(kk.quotas.map((q) => [q.window, q.peak, q.peakAt, q.quota.limit])).toEqual([
        ['hour', 3, '2026-01-05T10:00:00.000Z', 4],
        ['day', 4, '2026-01-05T00:00:00.000Z', 5],
      ]);
      expect(person.principal).toEqual({ type: 'external_user', id: 'ann', name: 'ann' });
      expect(person.quotas.map((q) => [q.window, q.peak, q.quota.limit, q.quota.match])).toEqual([
        ['hour', 2, 3, { people: ['ann'] }],
        ['day', 2, 3, { people: ['ann'] }],
      ]);
      expect(person.policies).toEqual([
        expect.objectContaining({ principals: [{ type: 'external_user', value: 'ann' }], tools: ['write'] }),
      ]);
      for (const e of [kk, person])
        expect(e.findings.map((f) => [f.tool, f.detector, f.calls])).toEqual([
          ['write', 'pii:card', 2],
          ['write', 'secrets:aws_access_key_id', 2],
        ]);
      const proposal = await unwrap(
        api.GET('/least_privilege/proposal', { params: { query: { ...query, principal: 'external_user:ann' } } }),
      );
      expect(proposal.files.map((f) => f.path)).toEqual([
        'access-policies/least-privilege-ann-nine.yaml',
        'quotas/least-privilege-ann-per-hour.yaml',
        'quotas/least-privilege-ann-per-day.yaml',
      ]);
    } finally {
      await pool.end();
    }
  });

  it('a period over 31 days, reversed, or a bad principal is a 422; the earliest period answers; no records: a 404', async () => {
    const long = await api.GET('/least_privilege', { params: { query: { from: '2026-01-01', to: '2026-02-02' } } });
    expect(long.response.status).toBe(422);
    const reversed = await api.GET('/least_privilege', { params: { query: { from: '2026-01-02', to: '2026-01-01' } } });
    expect(reversed.response.status).toBe(422);
    const bad = await api.GET('/least_privilege', { params: { query: { principal: 'someone', margin: 0.5 } } });
    expect(bad.response.status).toBe(422);
    expect(((bad.error as { errors: { path: string }[] }).errors ?? []).map((e) => e.path).sort()).toEqual([
      '/margin',
      '/principal',
    ]);
    const nul = await api.GET('/least_privilege', { params: { query: { principal: 'external_user:a\u0000b' } } });
    expect(nul.response.status).toBe(422);
    // A period ending on the first day PostgreSQL takes starts there (not 7 days before it).
    const early = await unwrap(api.GET('/least_privilege', { params: { query: { to: '0001-01-02' } } }));
    expect(early).toMatchObject({ period: { from: '0001-01-01T00:00:00.000Z' }, principals: [] });
    const none = await api.GET('/least_privilege/proposal', {
      params: { query: { principal: 'external_user:nobody' } },
    });
    expect(none.response.status).toBe(404);
  });
});
