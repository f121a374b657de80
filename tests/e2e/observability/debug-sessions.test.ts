import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import pg from 'pg';
import { applyRetention } from '../../../services/control-plane/src/resources/execution-records/retention.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { logLines } from '../../helpers/records.ts';

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let example: RegisteredExample;
let client: Client;

type Detail = {
  id: string;
  debug: null | {
    sessionId: string;
    request: { headers: Record<string, string>; body?: string };
    response?: { status: number; body?: string };
  };
};

async function callAndGetRecord(args: Record<string, unknown>): Promise<Detail> {
  const before = new Set(
    (await unwrap(api.GET('/execution_records', { params: { query: { limit: 200 } } }))).data.map((r) => r.id),
  );
  await client.callTool({ name: 'create_ticket', arguments: args });
  const fresh = await waitFor('the execution record of the call', async () =>
    (await unwrap(api.GET('/execution_records', { params: { query: { limit: 200 } } }))).data.find(
      (r) => !before.has(r.id),
    ),
  );
  // The document leaves `debug` open (an object); this test reads the capture's fields.
  return (await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: fresh.id } } }))) as Detail;
}

/**
 * Opens or closes a debug session (`change`), then waits until every worker has dropped its cached
 * state of the server (the control plane publishes the change before it answers; each worker logs
 * when it handled the message): the next call reads the new state.
 */
async function changeSession<T>(serverId: string, change: () => Promise<T>): Promise<T> {
  const workers = stack.processes.filter((p) => p.service === 'worker');
  const handled = () =>
    workers.map(
      (w) => logLines(w, 'debug session changed; cached state dropped').filter((l) => l.serverId === serverId).length,
    );
  const before = handled();
  const result = await change();
  await waitFor(`every worker to drop its debug session state of ${serverId}`, () => {
    const now = handled();
    return now.every((n, i) => n > before[i]!) || undefined;
  });
  return result;
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'upstream-key-77' });
  // Workers log (at debug level) when they drop a server's cached debug session state.
  ({ stack, api } = await startTestStack('debug', { serviceEnv: { worker: { LOG_LEVEL: 'debug' } } }));
  example = await registerTicketExample(api, upstream.url, 'upstream-key-77');
  client = new Client({ name: 'debug', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(example.mcpUrl), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
}, 120_000);

afterAll(async () => {
  await client?.close();
  await stack?.stop();
  await upstream?.close();
});

describe('debug sessions', () => {
  it('keeps no bodies outside a session', async () => {
    const record = await callAndGetRecord({ title: 'outside' });
    expect(record.debug).toBeNull();
  });

  it('captures redacted headers and bodies while a session is open, and stops when it is closed', async () => {
    // The call before (first test) left the worker with a cached "no session": the change must drop it.
    const session = await changeSession(example.serverId, () =>
      unwrap(
        api.POST('/mcp_manager/{id}/debug_sessions', {
          params: { path: { id: example.serverId } },
          body: { duration_minutes: 30 },
        }),
      ),
    );
    expect(session.active).toBe(true);
    expect(Date.parse(session.ends_at) - Date.parse(session.opened_at)).toBe(30 * 60_000);
    const inside = await callAndGetRecord({ title: 'inside' });
    expect(inside.debug).toMatchObject({
      sessionId: session.id,
      request: { body: expect.stringContaining('"title":"inside"') },
      response: { status: 201, body: expect.stringContaining('"title":"inside"') },
    });
    expect(inside.debug!.request.headers['x-api-key']).toBe('[redacted]');
    expect(JSON.stringify(inside)).not.toContain('upstream-key-77');

    const closed = await changeSession(example.serverId, () =>
      unwrap(
        api.DELETE('/mcp_manager/{id}/debug_sessions/{sessionId}', {
          params: { path: { id: example.serverId, sessionId: session.id } },
        }),
      ),
    );
    expect(closed.active).toBe(false);
    const after = await callAndGetRecord({ title: 'after' });
    expect(after.debug).toBeNull();
  });

  it('refuses sessions longer than 4 hours', async () => {
    await expect(
      unwrap(
        api.POST('/mcp_manager/{id}/debug_sessions', {
          params: { path: { id: example.serverId } },
          body: { duration_minutes: 241 },
        }),
      ),
    ).rejects.toMatchObject({ status: 422 });
  });

  it('deletes records and debug captures past their retention (fake clock)', async () => {
    const pool = new pg.Pool({ connectionString: stack.databaseUrl, max: 1 });
    const count = async (sql: string) => Number((await pool.query<{ n: string }>(sql)).rows[0]!.n);
    expect(await count('SELECT count(*) AS n FROM execution_records WHERE debug IS NOT NULL')).toBe(1);
    const total = await count('SELECT count(*) AS n FROM execution_records');
    // 73 hours later: captures dropped, records kept.
    const later = await applyRetention(pool, {
      now: new Date(Date.now() + 73 * 3_600_000),
      recordsDays: 30,
      debugHours: 72,
    });
    expect(later).toMatchObject({ records: 0, captures: 1 });
    expect(await count('SELECT count(*) AS n FROM execution_records')).toBe(total);
    // 31 days later: records and ended sessions deleted, two rows a statement until none is left.
    const much = await applyRetention(pool, {
      now: new Date(Date.now() + 31 * 86_400_000),
      recordsDays: 30,
      debugHours: 72,
      batchRows: 2,
    });
    expect(much.records).toBe(total);
    expect(much.sessions).toBeGreaterThanOrEqual(1);
    await pool.end();
  });
});

describe('debug sessions of workflow calls', () => {
  const KEY = 'sk-dbg-5e6f7a8b9c';
  const TENANT = 'tenant-secret-42';
  let echo: Server;
  let echoUrl: string;
  let wf: { id: string; url: string };
  let wfClient: Client;
  type WfDetail = {
    debug: null | {
      sessionId: string;
      steps: {
        name: string;
        attempt: number;
        request: { headers: Record<string, string>; body?: string };
        response?: { status: number; body?: string; truncated?: boolean };
      }[];
    };
  };

  async function callWorkflow(note: string): Promise<WfDetail> {
    const before = new Set(
      (await unwrap(api.GET('/execution_records', { params: { query: { server_id: wf.id, limit: 200 } } }))).data.map(
        (r) => r.id,
      ),
    );
    const result = await wfClient.callTool({ name: 'echo_twice', arguments: { note } });
    expect(result.isError).toBeFalsy();
    const fresh = await waitFor('the execution record of the workflow call', async () =>
      (await unwrap(api.GET('/execution_records', { params: { query: { server_id: wf.id, limit: 200 } } }))).data.find(
        (r) => !before.has(r.id),
      ),
    );
    return (await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: fresh.id } } }))) as WfDetail;
  }

  beforeAll(async () => {
    // Echoes what it receives: the capture must scrub the secret and the Config-* value from it.
    echo = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            path: req.url,
            got: body,
            key: req.headers['x-api-key'],
            tenant: req.headers['x-tenant'],
          }),
        ),
      );
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    wf = await unwrap(api.POST('/mcp_manager', { body: { name: 'wf-debug', mode: 'NORMAL' } }));
    await unwrap(
      api.PUT('/mcp_servers/{id}/secrets/{name}', {
        params: { path: { id: wf.id, name: 'DBG_KEY' } },
        body: { value: KEY },
      }),
    );
    await unwrap(
      api.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: wf.id } },
        body: {
          definition: JSON.stringify({
            flower: '0.1',
            id: 'wf-debug',
            flows: [
              {
                id: 'echo_twice',
                inputs: { properties: { note: { type: 'string' } } },
                steps: [
                  {
                    id: 'first',
                    request: {
                      method: 'POST',
                      url: `${echoUrl}/one`,
                      headers: { 'X-Api-Key': '$secrets.DBG_KEY', 'X-Tenant': '$config.tenant' },
                      body: { note: '$inputs.note', key: '$secrets.DBG_KEY' },
                    },
                  },
                  { id: 'second', request: { method: 'GET', url: `${echoUrl}/two?note=$inputs.note` } },
                ],
              },
            ],
          }),
        },
      }),
    );
    wfClient = new Client({ name: 'debug-wf', version: '1.0.0' });
    await wfClient.connect(
      new StreamableHTTPClientTransport(new URL(wf.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey, 'Config-Tenant': TENANT } },
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await wfClient?.close();
    await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
  });

  it('keeps no headers or bodies outside a session; inside, one redacted capture per HTTP attempt; none after it ends', async () => {
    const outside = await callWorkflow('outside');
    expect(outside.debug).toBeNull();

    const session = await changeSession(wf.id, () =>
      unwrap(
        api.POST('/mcp_manager/{id}/debug_sessions', {
          params: { path: { id: wf.id } },
          body: { duration_minutes: 5 },
        }),
      ),
    );
    const inside = await callWorkflow('inside');
    expect(inside.debug).toMatchObject({
      sessionId: session.id,
      steps: [
        {
          name: 'echo_twice/first',
          attempt: 1,
          request: { body: expect.stringContaining('"note":"inside"') },
          response: { status: 200, body: expect.stringContaining('inside') },
        },
        {
          name: 'echo_twice/second',
          attempt: 1,
          response: { status: 200, body: expect.stringContaining('/two?note=inside') },
        },
      ],
    });
    const [first] = inside.debug!.steps;
    expect(first!.request.headers['x-api-key']).toBe('[redacted]');
    expect(first!.request.headers['x-tenant']).toMatch(/^\[(REDACTED|redacted)\]$/);
    // Secret and Config-* values are scrubbed wherever they appear (headers, bodies, echoes).
    const text = JSON.stringify(inside);
    expect(text).not.toContain(KEY);
    expect(text).not.toContain(TENANT);

    await changeSession(wf.id, () =>
      unwrap(
        api.DELETE('/mcp_manager/{id}/debug_sessions/{sessionId}', {
          params: { path: { id: wf.id, sessionId: session.id } },
        }),
      ),
    );
    const after = await callWorkflow('after');
    expect(after.debug).toBeNull();
  }, 60_000);
});
