import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { ApiError, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { Redis } from 'ioredis';
import pg from 'pg';
import { redisKeys, type ExecutionRecord } from '../../../packages/contracts/src/index.ts';
import { ExecutionRecordSink } from '../../../packages/queue/src/index.ts';
import { startTestStack, withoutRateLimits } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { sourceCli } from '../../helpers/cli.ts';
import { waitFor } from '../../helpers/wait.ts';
import { executionRecords } from '../../helpers/records.ts';

/**
 * The traffic rollup and GET /stats (issue #31). A known mix of records with chosen timestamps and
 * durations goes through the real record stream (as workers send them) into the real control plane;
 * the figures are then checked exactly, including after the same batch is delivered again and after
 * the storing connection is killed mid-statement.
 */
let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let example: RegisteredExample;
let redis: Redis;
let sink: ExecutionRecordSink;
let workspaceId: string;
let serverA: string;
const serverB = randomUUID();

const TO = '2026-01-01T11:00:00.000Z';

type Outcome = ExecutionRecord['outcome'];
const records = (serverId: string, tool: string, startedAt: string, n: number, durationMs: number, outcome?: Outcome) =>
  executionRecords({ workspaceId, serverId, tool, startedAt }, n, durationMs, outcome);

/** The known mix (see the expected figures below); built once, sent again as a redelivery. */
let known: ExecutionRecord[] | undefined;
function mix(): ExecutionRecord[] {
  return (known ??= [
    ...records(serverA, 'search_tickets', '2026-01-01T10:00:30.000Z', 2, 4),
    ...records(serverA, 'search_tickets', '2026-01-01T10:57:10.000Z', 6, 4),
    ...records(serverA, 'search_tickets', '2026-01-01T10:58:20.000Z', 3, 40),
    ...records(serverA, 'search_tickets', '2026-01-01T10:58:21.000Z', 1, 400, 'tool_error'),
    ...records(serverA, 'create_ticket', '2026-01-01T10:58:40.000Z', 2, 12),
    ...records(serverA, 'create_ticket', '2026-01-01T10:58:41.000Z', 2, 0.5, 'rejected'),
    ...records(serverB, 'export', '2026-01-01T10:59:59.999Z', 5, 100),
    ...records(serverB, 'export', '2026-01-01T10:59:59.999Z', 5, 2000, 'failed'),
    // Outside the hour: just before it, and its end (exclusive).
    ...records(serverA, 'search_tickets', '2026-01-01T09:59:59.999Z', 1, 4),
    ...records(serverA, 'search_tickets', '2026-01-01T11:00:00.000Z', 1, 4),
  ]);
}

async function stats(query: { window?: '1h' | '24h'; server_id?: string; tool?: string; to?: string; top?: number }) {
  return unwrap(api.GET('/stats', { params: { query: { to: TO, ...query } } }));
}

async function send(batch: ExecutionRecord[]): Promise<void> {
  for (const r of batch) sink.add(r);
  await sink.flush();
}

/** Waits until the hour holds `calls` calls (the control plane has stored what was sent). */
async function waitForCalls(calls: number) {
  return waitFor(`${calls} calls in the rollup`, async () => {
    const s = await stats({});
    if (s.totals.calls !== calls) throw new Error(`${s.totals.calls} so far`);
    return s;
  });
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  ({ stack } = await startTestStack('stats', { logLevel: 'warn' }));
  api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  example = await registerTicketExample(api, upstream.url, 'k', 'stats', withoutRateLimits(ticketSystemDescriptorYaml));
  serverA = example.serverId;
  workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
  redis = new Redis(process.env.TEST_REDIS_URL!);
  sink = new ExecutionRecordSink(redis, stack.redisPrefix, {
    maxLen: 10_000,
    maxBatch: 1000,
    onError: () => undefined,
  });
}, 120_000);

afterAll(async () => {
  sink?.close();
  redis?.disconnect();
  await stack?.stop();
  await upstream?.close();
});

// The 2 `rejected` records (refused before anything was sent) are neither calls nor errors, nor latencies.
const hourTotals = { calls: 24, errors: 6, error_rate: 6 / 24, refused: 2, p50_ms: 50, p95_ms: 2000 };

describe('GET /stats over a known traffic mix', () => {
  it('counts calls, errors, refusals apart and latency percentiles per minute, by the records’ own time', async () => {
    await send(mix());
    const hour = await waitForCalls(24);
    expect(hour).toMatchObject({
      window: '1h',
      from: '2026-01-01T10:00:00.000Z',
      to: TO,
      step_seconds: 60,
      totals: hourTotals,
    });
    expect(hour.series).toHaveLength(60);
    const busy = hour.series.filter((s) => s.calls > 0);
    expect(busy).toEqual([
      { start: '2026-01-01T10:00:00.000Z', calls: 2, errors: 0, error_rate: 0, refused: 0, p50_ms: 4, p95_ms: 4 },
      { start: '2026-01-01T10:57:00.000Z', calls: 6, errors: 0, error_rate: 0, refused: 0, p50_ms: 4, p95_ms: 4 },
      {
        start: '2026-01-01T10:58:00.000Z',
        calls: 6,
        errors: 1,
        error_rate: 1 / 6,
        refused: 2,
        p50_ms: 50,
        p95_ms: 400,
      },
      {
        start: '2026-01-01T10:59:00.000Z',
        calls: 10,
        errors: 5,
        error_rate: 0.5,
        refused: 0,
        p50_ms: 150,
        p95_ms: 2000,
      },
    ]);
    expect(hour.series[1]).toEqual({
      start: '2026-01-01T10:01:00.000Z',
      calls: 0,
      errors: 0,
      error_rate: 0,
      refused: 0,
      p50_ms: null,
      p95_ms: null,
    });
    expect(hour.busiest_tools).toEqual([
      { server_id: serverA, tool: 'search_tickets', calls: 12, errors: 1, error_rate: 1 / 12, refused: 0 },
      { server_id: serverB, tool: 'export', calls: 10, errors: 5, error_rate: 0.5, refused: 0 },
      { server_id: serverA, tool: 'create_ticket', calls: 2, errors: 0, error_rate: 0, refused: 2 },
    ]);
    expect(hour.most_errors.map((t) => [t.tool, t.errors])).toEqual([
      ['export', 5],
      ['search_tickets', 1],
    ]);
    expect((await stats({ top: 1 })).busiest_tools.map((t) => t.tool)).toEqual(['search_tickets']);
  }, 60_000);

  it('filters by server and by tool', async () => {
    expect((await stats({ server_id: serverA })).totals).toEqual({
      calls: 14,
      errors: 1,
      error_rate: 1 / 14,
      refused: 2,
      p50_ms: 5,
      p95_ms: 400,
    });
    expect((await stats({ tool: 'create_ticket' })).totals).toEqual({
      calls: 2,
      errors: 0,
      error_rate: 0,
      refused: 2,
      p50_ms: 12,
      p95_ms: 12,
    });
    const none = await stats({ server_id: randomUUID() });
    expect(none.totals).toEqual({ calls: 0, errors: 0, error_rate: 0, refused: 0, p50_ms: null, p95_ms: null });
    expect(none.busiest_tools).toEqual([]);
  });

  it('sums the day in 10-minute steps', async () => {
    const day = await stats({ window: '24h' });
    expect(day).toMatchObject({ from: '2025-12-31T11:00:00.000Z', step_seconds: 600 });
    expect(day.totals).toEqual({ calls: 25, errors: 6, error_rate: 6 / 25, refused: 2, p50_ms: 50, p95_ms: 2000 });
    expect(day.series).toHaveLength(144);
    expect(day.series.filter((s) => s.calls > 0).map((s) => [s.start, s.calls, s.errors])).toEqual([
      ['2026-01-01T09:50:00.000Z', 1, 0],
      ['2026-01-01T10:00:00.000Z', 2, 0],
      ['2026-01-01T10:50:00.000Z', 22, 6],
    ]);
  });

  it('counts a batch delivered again once', async () => {
    const extra = records(serverB, 'export', '2026-01-01T10:30:00.000Z', 1, 4);
    // The same records again (a control plane died before acknowledging them), with one new record.
    const again = [...mix(), ...extra];
    await send(again);
    await waitForCalls(25);
    await send(again);
    await send(mix().slice(0, 5));
    // The stream is drained (each entry acknowledged and deleted) once both batches are stored.
    await waitFor('the record stream drained', async () => {
      const left = await redis.xlen(redisKeys(stack.redisPrefix).executionRecords);
      if (left !== 0) throw new Error(`${left} entries left`);
      return true;
    });
    expect((await stats({})).totals).toEqual({
      calls: 25,
      errors: 6,
      error_rate: 6 / 25,
      refused: 2,
      p50_ms: 50,
      p95_ms: 2000,
    });
    // The day's table (per 10 minutes) too: the day before plus the one new record.
    expect((await stats({ window: '24h' })).totals).toMatchObject({ calls: 26, errors: 6, refused: 2 });
  }, 60_000);
});

describe('dates in queries', () => {
  const get = async (path: string) => {
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1${path}`, { headers: { 'x-api-key': stack.bootstrapKey } });
    return { status: res.status, body: (await res.json()) as { code?: string; errors?: { path: string }[] } };
  };

  it('an unparseable or out-of-range date is a 422 naming the parameter, on /stats and /execution_records', async () => {
    for (const bad of ['10000-01-01', '+275760-09-13T00:00:00Z', '-000001-01-01T00:00:00Z', '99999', 'yesterday']) {
      const q = encodeURIComponent(bad);
      for (const [path, param] of [
        [`/stats?to=${q}`, '/to'],
        [`/stats?window=24h&to=${q}`, '/to'],
        [`/execution_records?from=${q}`, '/from'],
        [`/execution_records?to=${q}`, '/to'],
      ] as const) {
        const { status, body } = await get(path);
        expect({ path, status, code: body.code, paths: body.errors?.map((e) => e.path) }).toEqual({
          path,
          status: 422,
          code: 'request.invalid',
          paths: [param],
        });
      }
    }
  });

  it('the first and last days of years 1 to 9999 are answered', async () => {
    for (const to of ['0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z'])
      for (const window of ['1h', '24h'] as const) expect((await stats({ window, to })).totals.calls).toBe(0);
    const page = await unwrap(
      api.GET('/execution_records', { params: { query: { from: '0001-01-01', to: '9999-12-31T23:59:59Z' } } }),
    );
    expect(page.data.length).toBeGreaterThan(0);
  });
});

describe('one snapshot per read', () => {
  it('totals, steps and tool lists agree on every read while batches are being stored', async () => {
    // Its own server and hour, so the figures above are untouched.
    const to = '2026-03-01T11:00:00.000Z';
    const server = randomUUID();
    const torn: string[] = [];
    const read = async () => {
      const s = await stats({ to, server_id: server, top: 50 });
      const bySteps = s.series.reduce((n, p) => n + p.calls, 0);
      const byTools = s.busiest_tools.reduce((n, t) => n + t.calls, 0);
      const errorsByTools = s.most_errors.reduce((n, t) => n + t.errors, 0);
      if (bySteps !== s.totals.calls || byTools !== s.totals.calls || errorsByTools !== s.totals.errors) {
        torn.push(`totals ${s.totals.calls}/${s.totals.errors}, steps ${bySteps}, tools ${byTools}/${errorsByTools}`);
      }
      return s;
    };
    let writing = true;
    const reader = (async () => {
      while (writing) await read();
    })();
    const batches = 40;
    try {
      for (let i = 0; i < batches; i++) {
        const minute = `2026-03-01T10:${String(i).padStart(2, '0')}:30.000Z`;
        await send([
          ...records(server, 'alpha', minute, 2, 5),
          ...records(server, 'beta', minute, 1, 50, 'tool_error'),
          ...records(server, `tool-${i}`, minute, 1, 500),
        ]);
        await waitFor(`batch ${i} stored`, async () => (await read()).totals.calls === (i + 1) * 4);
      }
    } finally {
      writing = false;
      await reader;
    }
    expect(torn).toEqual([]);
    const last = await read();
    expect(last.totals).toMatchObject({ calls: batches * 4, errors: batches });
    expect(last.busiest_tools.slice(0, 2).map((t) => [t.tool, t.calls])).toEqual([
      ['alpha', batches * 2],
      ['beta', batches],
    ]);
  }, 120_000);
});

describe('faults', () => {
  it('PostgreSQL ending the storing connection mid-statement: nothing kept, the batch stored once on retry', async () => {
    const admin = new pg.Client({ connectionString: stack.databaseUrl });
    await admin.connect();
    const locker = new pg.Client({ connectionString: stack.databaseUrl });
    await locker.connect();
    const before = (await stats({})).totals;
    try {
      // Another transaction holds the rollup row the batch adds to: the storing statement inserts the
      // records, then waits for that row (its upsert runs after the records' insert fed it every row).
      await locker.query('BEGIN');
      await locker.query(
        `INSERT INTO execution_stats_minutes (workspace_id, server_id, tool, minute, calls, errors, duration_sum_ms,
           duration_max_ms, latency_buckets) VALUES ($1, $2, 'export', '2026-01-01 10:45:00', 0, 0, 0, 0, '{}')`,
        [workspaceId, serverB],
      );
      const batch = records(serverB, 'export', '2026-01-01T10:45:00.000Z', 3, 4, 'tool_error');
      await send(batch);
      const waiting = async () =>
        (
          await admin.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'WITH src AS%'`,
          )
        ).rows.map((r) => r.pid);
      const pid = await waitFor('the storing statement waiting on the rollup', async () => {
        const pids = await waiting();
        if (pids.length === 0) throw new Error('not yet');
        return pids[0]!;
      });
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      // Terminated mid-statement: none of its records is stored.
      const ids = batch.map((r) => r.invocationId);
      const stored = async () =>
        Number(
          (
            await admin.query<{ n: string }>('SELECT count(*) AS n FROM execution_records WHERE id = ANY($1::uuid[])', [
              ids,
            ])
          ).rows[0]!.n,
        );
      expect(await stored()).toBe(0);
      // The control plane retries the pending batch (it waits on the lock again), then stores it once.
      await waitFor('the retry waiting on the rollup', async () => {
        const pids = await waiting();
        if (pids.length === 0 || pids.includes(pid)) {
          const all = await admin.query(
            'SELECT pid, state, wait_event_type, left(query, 40) AS q FROM pg_stat_activity',
          );
          throw new Error(`not yet: ${JSON.stringify(all.rows)}`);
        }
        return true;
      });
      expect(await stored()).toBe(0);
      await locker.query('ROLLBACK');
      const after = await waitForCalls(before.calls + 3);
      expect(after.totals).toMatchObject({ calls: before.calls + 3, errors: before.errors + 3 });
      expect((await stats({ window: '24h' })).totals).toMatchObject({ calls: 29, errors: 9 });
      expect(await stored()).toBe(3);
    } finally {
      await locker.end();
      await admin.end();
    }
  }, 90_000);
});

describe('real calls and restricted keys', () => {
  it('a tool call through the edge is counted under its server and tool', async () => {
    const res = await postMcp(
      example.mcpUrl,
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'search_tickets', arguments: { status: 'open' } },
      },
      { 'x-api-key': stack.bootstrapKey, 'mcp-protocol-version': '2025-11-25' },
    );
    expect(res.status).toBe(200);
    await res.text();
    const now = await waitFor('the call in the rollup', async () => {
      const s = await unwrap(api.GET('/stats', { params: { query: { server_id: serverA } } }));
      if (s.totals.calls !== 1) throw new Error(`${s.totals.calls} calls so far`);
      return s;
    });
    expect(now.totals).toMatchObject({ calls: 1, errors: 0 });
    expect(now.busiest_tools).toEqual([
      { server_id: serverA, tool: 'search_tickets', calls: 1, errors: 0, error_rate: 0, refused: 0 },
    ]);
    expect(now.totals.p50_ms).toBeGreaterThan(0);
  }, 60_000);

  it('a key limited to servers sees only theirs', async () => {
    const limited = await unwrap(
      api.POST('/api_keys', { body: { name: 'stats-limited', scopes: ['management'], serverIds: [serverA] } }),
    );
    const client = createManagementClient(stack.controlPlaneUrl, limited.key);
    const refused = await unwrap(client.GET('/stats', { params: { query: { to: TO } } })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).status).toBe(403);
    const other = await unwrap(client.GET('/stats', { params: { query: { to: TO, server_id: serverB } } })).catch(
      (e: unknown) => e,
    );
    expect((other as ApiError).status).toBe(403);
    const own = await unwrap(client.GET('/stats', { params: { query: { to: TO, server_id: serverA } } }));
    expect(own.totals.calls).toBe(14);
  });
});

describe('toolplane stats', () => {
  const cli = (...args: string[]) => sourceCli(stack)(...args);

  it('prints the same figures as the API', async () => {
    const json = JSON.parse((await cli('stats', '--to', TO, '--server', 'stats', '--json')).stdout) as {
      totals: unknown;
    };
    expect(json.totals).toEqual((await stats({ server_id: serverA })).totals);
    const text = (await cli('stats', '--to', TO, '--server', 'stats')).stdout;
    expect(text).toContain('calls 14  errors 1 (7.1%)  refused 2  p50 5 ms  p95 400 ms');
    expect(text).toMatch(/stats\s+search_tickets\s+12\s+1\s+8\.3%/);
  }, 60_000);

  it('refuses an unknown window', async () => {
    const failed = await cli('stats', '--window', '7d').catch((e: unknown) => e as { code: number; stderr: string });
    expect(failed).toMatchObject({ code: 2 });
  });
});

describe('who called', () => {
  it('records name the key, the OAuth subject and the external user, and are filtered by each and by tool', async () => {
    const named = await unwrap(api.POST('/api_keys', { body: { name: 'reporting-bot', scopes: ['runtime'] } }));
    const res = await postMcp(
      example.mcpUrl,
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'search_tickets', arguments: { status: 'open' } },
      },
      { 'x-api-key': named.key, 'mcp-protocol-version': '2025-11-25' },
    );
    expect(res.status).toBe(200);
    await res.text();
    const byKey = await waitFor('the named key’s record', async () => {
      const page = await unwrap(api.GET('/execution_records', { params: { query: { key_id: named.id } } }));
      return page.data.length === 1 ? page : undefined;
    });
    expect(byKey.data[0]!.caller).toMatchObject({ key_id: named.id, key_name: 'reporting-bot', subject: null });
    expect(byKey.data[0]!.tool).toBe('search_tickets');
    const one = await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: byKey.data[0]!.id } } }));
    expect(one.caller.key_name).toBe('reporting-bot');

    // A token caller acting for an external user (as the worker records it), through the record stream.
    const tokenCall = records(serverA, 'create_ticket', new Date().toISOString(), 1, 7).map((r) => ({
      ...r,
      caller: { subject: 'alice@idp.example', username: 'customer-42', actingVia: 'token-user' },
    }));
    await send(tokenCall);
    const bySubject = await waitFor('the token caller’s record', async () => {
      const page = await unwrap(api.GET('/execution_records', { params: { query: { subject: 'alice@idp.example' } } }));
      return page.data.length === 1 ? page : undefined;
    });
    expect(bySubject.data[0]!.caller).toEqual({
      key_id: null,
      key_name: null,
      subject: 'alice@idp.example',
      username: 'customer-42',
      acting_via: 'token-user',
    });
    const byUser = await unwrap(api.GET('/execution_records', { params: { query: { username: 'customer-42' } } }));
    expect(byUser.data.map((r) => r.id)).toEqual([tokenCall[0]!.invocationId]);
    const byUserAndTool = await unwrap(
      api.GET('/execution_records', { params: { query: { username: 'customer-42', tool: 'search_tickets' } } }),
    );
    expect(byUserAndTool.data).toEqual([]);
    const byKeyAndTool = await unwrap(
      api.GET('/execution_records', { params: { query: { key_id: named.id, tool: 'search_tickets' } } }),
    );
    expect(byKeyAndTool.data).toHaveLength(1);
  }, 60_000);
});
