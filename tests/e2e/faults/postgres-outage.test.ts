import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import type { ManagementClient } from '@toolplane/client';
import { startEmbeddedPostgres, type PostgresHandle } from '@toolplane/embedded';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { startTestStack, tempDir, withoutRateLimits } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { scaled } from '../../helpers/wait.ts';

/**
 * PostgreSQL is only on the control plane's side: while it is down, MCP calls go on (edge and
 * worker never touch it), the REST API answers 503 with `Retry-After` (problem+json), and the
 * execution records of the calls made meanwhile are stored once it is back.
 */

let pg: PostgresHandle;
let pgDir: string;
let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;
let api: ManagementClient;

beforeAll(async () => {
  pgDir = join(tempDir('pg-outage'), 'postgres');
  pg = await startEmbeddedPostgres({ dataDir: pgDir });
  await pg.createDatabase('toolplane');
  upstream = await startTicketSystem({ apiKey: 'k' });
  ({ stack, api } = await startTestStack('pg-outage', { databaseUrl: pg.url('toolplane'), logLevel: 'warn' }));
  example = await registerTicketExample(
    api,
    upstream.url,
    'k',
    'outage',
    withoutRateLimits(ticketSystemDescriptorYaml),
  );
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await pg?.stop();
  await upstream?.close();
});

async function callTool(id: number): Promise<{ status: number; succeeded: boolean }> {
  const res = await postMcp(
    example.mcpUrl,
    { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'search_tickets', arguments: { status: 'open' } } },
    { 'x-api-key': stack.bootstrapKey },
    scaled(20_000),
  );
  const body = (await res.json()) as { result?: { isError?: boolean } };
  return { status: res.status, succeeded: body.result !== undefined && body.result.isError !== true };
}

const rest = (path: string, init: RequestInit = {}) =>
  fetch(`${stack.controlPlaneUrl}/api/v1${path}`, {
    ...init,
    headers: { 'x-api-key': stack.bootstrapKey, 'content-type': 'application/json', ...init.headers },
    signal: AbortSignal.timeout(scaled(20_000)),
  });

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + scaled(timeoutMs);
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type Listed = { data: { id: string; tool: string; outcome: string }[]; next_cursor: string | null };

/** Every execution record of the server (all pages). */
async function allRecords(serverId: string): Promise<Listed['data']> {
  const out: Listed['data'] = [];
  let cursor: string | null = null;
  do {
    const res = await rest(`/execution_records?server_id=${serverId}&limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    if (res.status !== 200) return out;
    const page = (await res.json()) as Listed;
    out.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

describe('PostgreSQL outage', () => {
  it('MCP calls continue, REST answers 503 with Retry-After, and records are stored after it returns', async () => {
    expect(await callTool(1)).toEqual({ status: 200, succeeded: true });
    await until('the record of the first call', 15_000, async () =>
      (await allRecords(example.serverId)).length >= 1 ? true : undefined,
    );

    await pg.stop();
    const downAt = Date.now();

    // REST: 503 problem+json with Retry-After, for reads and writes (the first may take a
    // connection attempt; wait for it rather than assume).
    const unavailable = await until('a 503 from the REST API', 30_000, async () => {
      const res = await rest('/mcp_manager');
      return res.status === 503 ? res : (await res.text(), undefined);
    });
    expect(unavailable.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(unavailable.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await unavailable.json()).toMatchObject({ status: 503, code: 'service.unavailable' });
    const writeStarted = Date.now();
    const write = await rest('/external_users', { method: 'POST', body: JSON.stringify({ name: 'during-outage' }) });
    const writeMs = Date.now() - writeStarted;
    expect(write.status).toBe(503);
    expect((await fetch(`${stack.controlPlaneUrl}/readyz`)).status).toBe(503);

    // MCP: tool calls go on while PostgreSQL is down (at least 20 of them, over at least 3 s, so the
    // control plane's record ingestion meets the outage several times).
    let CALLS = 0;
    while (CALLS < 20 || Date.now() - downAt < 3_000)
      expect(await callTool(100 + CALLS++)).toEqual({ status: 200, succeeded: true });
    expect((await rest('/mcp_manager')).status).toBe(503);

    pg = await startEmbeddedPostgres({ dataDir: pgDir, port: pg.port });
    const upAt = Date.now();
    await until('REST to answer 200 again', 60_000, async () => {
      const res = await rest('/mcp_manager');
      await res.text();
      return res.status === 200 ? true : undefined;
    });
    const restRecoveryMs = Date.now() - upAt;
    let stored = 0;
    const records = await until(`the records of the ${CALLS} calls made during the outage`, 60_000, async () => {
      const all = await allRecords(example.serverId);
      stored = all.length;
      return all.length >= 1 + CALLS ? all : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message} (${stored} of ${1 + CALLS} stored)`);
    });
    const recordsRecoveryMs = Date.now() - upAt;
    expect(records.filter((r) => r.tool === 'search_tickets' && r.outcome === 'success')).toHaveLength(1 + CALLS);
    for (const p of stack.processes)
      expect({ name: p.name, exitCode: p.child.exitCode }).toEqual({ name: p.name, exitCode: null });
    console.log(
      `PostgreSQL down for ${((upAt - downAt) / 1000).toFixed(1)} s: REST 503 (a write answered in ${writeMs} ms), ` +
        `${CALLS}/${CALLS} MCP calls succeeded; after restart REST 200 in ${restRecoveryMs} ms, ` +
        `all ${CALLS} outage records stored in ${recordsRecoveryMs} ms`,
    );
  }, 180_000);
});
