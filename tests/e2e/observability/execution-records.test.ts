import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { Redis } from 'ioredis';
import { redisKeys } from '../../../packages/contracts/src/index.ts';
import { ExecutionRecordSink } from '../../../packages/queue/src/index.ts';
import { startTestStack, withoutRateLimits } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;
let api: ManagementClient;

type Listed = Awaited<ReturnType<typeof records>>;

async function records(
  query: {
    server_id?: string;
    tool?: string;
    outcome?: 'tool_error';
    from?: string;
    to?: string;
    limit?: number;
    cursor?: string;
  } = {},
) {
  return unwrap(api.GET('/execution_records', { params: { query } }));
}

async function waitForRecords(count: number): Promise<Listed> {
  return waitFor(`${count} execution records`, async () => {
    const page = await records({ limit: 200 });
    if (page.data.length < count) throw new Error(`${page.data.length} so far`);
    return page;
  });
}

async function rawCall(i: number): Promise<number> {
  const res = await postMcp(
    example.mcpUrl,
    { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'search_tickets', arguments: { status: 'open' } } },
    { 'x-api-key': stack.bootstrapKey, 'mcp-protocol-version': '2025-11-25' },
  );
  await res.text();
  return res.status;
}

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  ({ stack, api } = await startTestStack('records', { logLevel: 'warn' }));
  const unlimited = withoutRateLimits(ticketSystemDescriptorYaml);
  example = await registerTicketExample(api, upstream.url, 'k', 'records', unlimited);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

describe('execution records', () => {
  it('records every call: success, upstream failure and arguments refused on the edge', async () => {
    const client = new Client({ name: 'records', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(example.mcpUrl), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
    await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-404' } });
    await client.callTool({ name: 'get_ticket', arguments: {} });
    await client.close();

    const page = await waitForRecords(3);
    expect(page.data.map((r) => r.outcome).sort()).toEqual(['rejected', 'success', 'tool_error']);
    for (const r of page.data) expect(r.tool).toBe('get_ticket');
    const failed = page.data.find((r) => r.outcome === 'tool_error')!;
    const detail = await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: failed.id } } }));
    expect(detail).toMatchObject({
      server_id: example.serverId,
      catalog_version: 1,
      error_code: 'upstream.http_error',
    });
    expect(Math.abs(Date.parse(detail.started_at) - Date.now())).toBeLessThan(60_000); // stored in UTC
    expect(detail.steps).toEqual([
      expect.objectContaining({
        kind: 'http',
        method: 'GET',
        urlTemplate: `${upstream.url}/api/v1/tickets/{ticket_id}`,
        url: `${upstream.url}/api/v1/tickets/TCK-404`,
        status: 404,
        outcome: 'response',
      }),
    ]);
    expect(page.data.find((r) => r.outcome === 'rejected')!.error_code).toBe('tool.invalid_arguments');
  });

  it('filters by outcome and tool, and pages with a cursor', async () => {
    expect((await records({ outcome: 'tool_error' })).data).toHaveLength(1);
    expect((await records({ tool: 'search_tickets' })).data).toHaveLength(0);
    const first = await records({ limit: 2 });
    expect(first.data).toHaveLength(2);
    const second = await records({ limit: 2, cursor: first.next_cursor! });
    expect(second.data).toHaveLength(1);
    expect(second.next_cursor).toBeNull();
    expect(new Set([...first.data, ...second.data].map((r) => r.id)).size).toBe(3);
  });

  it('filters by server and time range, and names the caller and the duration', async () => {
    expect((await records({ server_id: example.serverId })).data).toHaveLength(3);
    expect((await records({ server_id: '00000000-0000-4000-8000-000000000000' })).data).toEqual([]);
    const hour = 3_600_000;
    const iso = (offset: number) => new Date(Date.now() + offset).toISOString();
    expect((await records({ from: iso(-hour), to: iso(hour) })).data).toHaveLength(3);
    expect((await records({ from: iso(hour) })).data).toEqual([]);
    expect((await records({ to: iso(-hour) })).data).toEqual([]);
    const keyIds = new Set<string | null>();
    for (const r of (await records()).data) {
      const detail = await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: r.id } } }));
      expect(typeof detail.duration_ms).toBe('number');
      expect(detail.duration_ms).toBeGreaterThanOrEqual(0);
      expect(typeof detail.caller.key_id).toBe('string');
      keyIds.add(detail.caller.key_id);
    }
    expect(keyIds.size).toBe(1); // every call was made with the bootstrap key
  });

  it('loses no records while the control plane is down during a burst of 500+ calls', async () => {
    const cp = stack.processes.find((p) => p.service === 'control-plane')!;
    // The burst goes on until the control plane has stopped (and at least 500 calls were made), so a
    // part of it always runs while the control plane is down, however fast the machine is.
    let done = 0;
    let cpStopped = false;
    const burst = (async () => {
      const statuses: number[] = [];
      while (done < 500 || !cpStopped) {
        statuses.push(...(await Promise.all(Array.from({ length: 25 }, (_, i) => rawCall(done + i)))));
        done += 25;
      }
      return statuses;
    })();
    await waitFor('the first calls of the burst', () => done > 0 || undefined);
    await stack.stopProcess(cp);
    const doneWhenStopped = done;
    cpStopped = true;
    const statuses = await burst;
    expect(done).toBeGreaterThan(doneWhenStopped); // calls went on while the control plane was down
    expect(statuses).toHaveLength(done);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    await stack.startControlPlane();
    const count = async () => {
      let total = 0;
      let cursor: string | null = null;
      do {
        const p: Listed = await records({ tool: 'search_tickets', limit: 200, ...(cursor ? { cursor } : {}) });
        total += p.data.length;
        cursor = p.next_cursor;
      } while (cursor);
      return total;
    };
    await waitFor(
      `the records of all ${done} calls`,
      async () => {
        const total = await count();
        if (total < done) throw new Error(`${total} so far`);
        return true;
      },
      scaled(45_000),
    );
    expect(await count()).toBe(done);
  }, 90_000);

  it('lists what a result brought into its session (ADR 0078), as the worker recorded it', async () => {
    const workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
    const redis = new Redis(stack.redisUrl);
    const errors: unknown[] = [];
    const sink = new ExecutionRecordSink(redis, stack.redisPrefix, { maxLen: 1000, onError: (e) => errors.push(e) });
    const id = randomUUID();
    const labels = [
      { label: 'untrusted' as const, source: 'declared' as const },
      { label: 'private' as const, source: 'guardrail' as const, detector: 'pii:card' },
    ];
    try {
      sink.add({
        v: 1,
        invocationId: id,
        workspaceId,
        serverId: example.serverId,
        catalogVersion: 1,
        tool: 'read_page',
        caller: {},
        startedAt: new Date().toISOString(),
        durationMs: 1,
        outcome: 'success',
        steps: [],
        labels,
      });
      await sink.flush();
      expect(errors).toEqual([]);
    } finally {
      redis.disconnect();
    }
    const detail = await waitFor('the labelled record', () =>
      unwrap(api.GET('/execution_records/{id}', { params: { path: { id } } })),
    );
    expect(detail.labels).toEqual(labels);
    const listed = (await records({ tool: 'read_page' })).data;
    expect(listed.map((r) => r.labels)).toEqual([labels]);
    // A record that brought nothing lists none.
    expect((await records({ tool: 'get_ticket', limit: 1 })).data[0]!.labels).toEqual([]);
  });
});

describe('the record stream while no control plane reads it', () => {
  it('stays bounded: about EXECUTION_RECORDS_MAX_BACKLOG entries, the oldest dropped first', async () => {
    const redis = new Redis(process.env.TEST_REDIS_URL!);
    const prefix = `records-cap-${Date.now().toString(36)}`;
    const errors: unknown[] = [];
    const sink = new ExecutionRecordSink(redis, prefix, { maxLen: 1000, maxBatch: 1, onError: (e) => errors.push(e) });
    try {
      const record = (i: number) => ({
        v: 1 as const,
        invocationId: `inv-${i}`,
        workspaceId: 'w',
        serverId: 's',
        catalogVersion: 1,
        tool: 't',
        caller: {},
        startedAt: new Date().toISOString(),
        durationMs: 1,
        outcome: 'success' as const,
        steps: [],
      });
      for (let i = 0; i < 3000; i++) sink.add(record(i));
      await sink.flush();
      expect(errors).toEqual([]);
      const key = redisKeys(prefix).executionRecords;
      const length = await redis.xlen(key);
      // MAXLEN ~ trims whole macro nodes (100 entries by default): at least the cap, at most one node more.
      expect(length).toBeGreaterThanOrEqual(1000);
      expect(length).toBeLessThanOrEqual(1100);
      const invocation = (entry: [string, string[]] | undefined) =>
        (JSON.parse(entry![1][1]!) as { invocationId: string }[])[0]!.invocationId;
      expect(invocation((await redis.xrange(key, '-', '+', 'COUNT', 1))[0])).toBe(`inv-${3000 - length}`);
      expect(invocation((await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0])).toBe('inv-2999');
      await redis.del(key);
    } finally {
      redis.disconnect();
    }
  });
});
