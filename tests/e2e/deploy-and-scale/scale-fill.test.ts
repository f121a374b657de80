import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { unwrap, type ManagementClient } from '@toolplane/client';
import { redisKeys } from '@toolplane/contracts';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { Redis } from 'ioredis';
import pg from 'pg';
import { bulkApiKeys, bulkKeyValue, bulkRecords } from '../../../bench/scale-fill.ts';
import { startTestStack, withoutRateLimits } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { waitFor } from '../../helpers/wait.ts';

// bench:scale fills an installation with bulk loads: they must make exactly the rows and Redis keys the real write
// paths make, or the curves measure another installation. One key and one record each way, diffed field by field.

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let example: RegisteredExample;
let redis: Redis;
let pool: pg.Pool;

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  const started = await startTestStack('scale-fill', { logLevel: 'warn' });
  stack = started.stack;
  api = started.api;
  example = await registerTicketExample(api, upstream.url, 'k', 'fill', withoutRateLimits(ticketSystemDescriptorYaml));
  redis = new Redis(stack.redisUrl);
  pool = new pg.Pool({ connectionString: stack.databaseUrl, max: 1 });
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await pool?.end();
  await stack?.stop();
  await upstream?.close();
});

const getTicket = (key: string) =>
  postMcp(
    example.mcpUrl,
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } } },
    { 'x-api-key': key, 'mcp-protocol-version': '2025-11-25' },
  );

/** A key's row without what differs between any two keys. */
async function keyRow(id: string) {
  const { rows } = await pool.query<Record<string, unknown>>('SELECT * FROM api_keys WHERE id = $1', [id]);
  const { id: _id, name: _name, prefix, hash, created_at: _at, ...rest } = rows[0]!;
  return { ...rest, prefixLength: String(prefix).length, hashLength: String(hash).length, hash };
}

it('a bulk-made key has the row and the Redis record of a key made by POST /api_keys, and calls a tool', async () => {
  const made = await unwrap(api.POST('/api_keys', { body: { name: 'real', scopes: ['runtime'] } }));
  const workspaceId = (
    await pool.query<{ workspace_id: string }>('SELECT workspace_id FROM api_keys WHERE id = $1', [made.id])
  ).rows[0]!.workspace_id;
  const creator = await pool.query<{ id: string }>("SELECT id FROM api_keys WHERE name = 'bootstrap'");
  const [bulkId] = await bulkApiKeys(pool, redis, stack.redisPrefix, workspaceId, creator.rows[0]!.id, 0, 1);

  const { hash: realHash, ...real } = await keyRow(made.id);
  const { hash: bulkHash, ...bulk } = await keyRow(bulkId!);
  expect(bulk).toEqual(real);
  const records = await redis.hmget(redisKeys(stack.redisPrefix).apiKeys, String(realHash), String(bulkHash));
  const [realRecord, bulkRecord] = records.map((r) => JSON.parse(r!) as Record<string, unknown>);
  // Same fields in the same order; only the key's own id and name differ.
  expect(Object.keys(bulkRecord!)).toEqual(Object.keys(realRecord!));
  expect({ ...bulkRecord, keyId: made.id, name: 'real' }).toEqual(realRecord);

  const res = await getTicket(bulkKeyValue(0));
  expect({ status: res.status, body: await res.text() }).toEqual({
    status: 200,
    body: expect.stringContaining('"structuredContent"'),
  });
});

it('a bulk-made execution record has the columns of one the records store wrote', async () => {
  const res = await getTicket(stack.bootstrapKey);
  expect(res.status).toBe(200);
  await res.text();
  // This call's record (the other test's call made one with its own key).
  const stored = await waitFor("the call's execution record", async () => {
    const { rows } = await pool.query<{ id: string }>(
      "SELECT id FROM execution_records WHERE key_id = (SELECT id::text FROM api_keys WHERE name = 'bootstrap')",
    );
    return rows[0];
  });
  const before = new Set((await pool.query<{ id: string }>('SELECT id FROM execution_records')).rows.map((r) => r.id));
  await bulkRecords(pool, stored, 1, 1, ['get_ticket', 'get_ticket', 'get_ticket']);
  const { rows } = await pool.query<Record<string, unknown>>('SELECT * FROM execution_records');
  const bulk = rows.filter((r) => !before.has(String(r.id)));
  const strip = ({ id: _id, started_at: _s, duration_ms: _d, ...rest }: Record<string, unknown>) => rest;
  expect(bulk).toHaveLength(1);
  expect(strip(bulk[0]!)).toEqual(strip(rows.find((r) => r.id === stored.id)!));
});
