import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { unwrap, type ManagementClient } from '@toolplane/client';
import { redisKeys, sessionKey, type AuditEvent } from '@toolplane/contracts';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { addToSession } from '../../../packages/queue/src/index.ts';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  bulkApiKeys,
  bulkAuditEvents,
  bulkKeyValue,
  bulkPeople,
  bulkRecords,
  bulkSessions,
} from '../../../bench/scale-fill.ts';
import { sourceCli } from '../../helpers/cli.ts';
import { startTestStack, withoutRateLimits } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { waitFor } from '../../helpers/wait.ts';

// bench:scale fills an installation with bulk loads: they must make exactly the rows and Redis keys the real write
// paths make, or the curves measure another installation. One of each kind each way (a key, a record, a person, a
// session, audit events), diffed field by field.

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

const getTicket = (key: string, headers: Record<string, string> = {}) =>
  postMcp(
    example.mcpUrl,
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } } },
    { 'x-api-key': key, 'mcp-protocol-version': '2025-11-25', ...headers },
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

/** The workspace of the bootstrap key (the caller of every test here). */
async function workspaceOf(): Promise<string> {
  const { rows } = await pool.query<{ workspace_id: string }>(
    "SELECT workspace_id FROM api_keys WHERE name = 'bootstrap'",
  );
  return rows[0]!.workspace_id;
}

it('a bulk-made person has the row and the Redis fields of one made by POST /external_users, and the edge knows them', async () => {
  const workspaceId = await workspaceOf();
  const attributes = { team: 'scale' };
  const made = await unwrap(api.POST('/external_users', { body: { name: 'real-person', attributes } }));
  await bulkPeople(pool, redis, stack.redisPrefix, { id: workspaceId, attributes }, 0, 1);
  const row = async (name: string) => {
    const { rows } = await pool.query<Record<string, unknown>>('SELECT * FROM external_users WHERE name = $1', [name]);
    const { id, name: _name, created_at: _c, updated_at: _u, ...rest } = rows[0]!;
    return { id: String(id), rest };
  };
  const real = await row('real-person');
  const bulk = await row('scale-person-0');
  expect(real.id).toBe(made.id);
  expect(bulk.rest).toEqual(real.rest);
  const keys = redisKeys(stack.redisPrefix);
  expect(await redis.hmget(keys.users(workspaceId), 'real-person', 'scale-person-0')).toEqual([real.id, bulk.id]);
  const [realAttributes, bulkAttributes] = await redis.hmget(keys.userAttributes(workspaceId), real.id, bulk.id);
  expect(bulkAttributes).toEqual(realAttributes);
  expect(await redis.hexists(keys.formerUsers(workspaceId), 'scale-person-0')).toBe(0);

  const listed = (await unwrap(api.GET('/external_users'))).data;
  const view = (name: string) => {
    const { id: _id, name: _name, createdAt: _at, ...rest } = listed.find((u) => u.name === name)!;
    return rest;
  };
  expect(view('scale-person-0')).toEqual(view('real-person'));
  // The edge knows the bulk-made person by name as it knows the real one (no policy grants people here: both are
  // refused by name alike), and not as a name nobody made.
  const answer = async (name: string) => {
    const res = await getTicket(stack.bootstrapKey, { 'x-username': name });
    return { status: res.status, body: (await res.text()).replaceAll(name, '<name>') };
  };
  const realAnswer = await answer('real-person');
  expect(realAnswer.body).toContain('external user');
  expect(await answer('scale-person-0')).toEqual(realAnswer);
  expect(await answer('nobody-made')).not.toEqual(realAnswer);
});

it('a bulk-made session is the hash the worker writes, with its time to live, and reads alike', async () => {
  const workspaceId = await workspaceOf();
  const [real, copy] = [`k:${randomUUID()}`, `k:${randomUUID()}`];
  await addToSession(
    redis,
    { prefix: stack.redisPrefix, workspaceId, session: { scopes: [real], ttlSeconds: 600, via: 'mcp-session-1' } },
    {
      tool: 'get_ticket',
      serverId: example.serverId,
      invocationId: 'inv-1',
      at: Date.now(),
      labels: [{ label: 'private', source: 'declared' }],
      countCall: true,
    },
  );
  await bulkSessions(redis, stack.redisPrefix, workspaceId, real, [copy]);
  const [realKey, copyKey] = [real, copy].map((s) => sessionKey(stack.redisPrefix, workspaceId, s));
  expect(await redis.hgetall(copyKey!)).toEqual(await redis.hgetall(realKey!));
  const ttl = await redis.pttl(copyKey!);
  expect(ttl > 0 && ttl <= 600_000).toBe(true);
  const read = (scope: string) => unwrap(api.GET('/sessions/{scope}', { params: { path: { scope } } }));
  expect({ ...(await read(copy)), scope: real }).toEqual(await read(real));
});

it('a bulk-made audit chain continues the real one, event for event, and `audit verify` accepts it', async () => {
  await unwrap(api.POST('/api_keys', { body: { name: 'audited', scopes: ['runtime'] } }));
  const page = await unwrap(api.GET('/audit_events', { params: { query: { action: 'api_key.create', limit: 1 } } }));
  const template = page.data[0]!;
  await bulkAuditEvents(pool, template as unknown as AuditEvent, 3, 250);
  const { rows } = await pool.query<Record<string, unknown>>(
    'SELECT * FROM audit_events WHERE chain = $1 AND seq > $2 ORDER BY seq',
    [template.chain, template.seq],
  );
  const own = ({ id: _i, seq: _s, at: _a, at_floor: _f, prev_hash: _p, hash: _h, ...rest }: Record<string, unknown>) =>
    rest;
  const { rows: stored } = await pool.query<Record<string, unknown>>('SELECT * FROM audit_events WHERE id = $1', [
    template.id,
  ]);
  // Only appends of the bulk load (no other event came between: the load holds the chain's lock).
  expect(rows.map((r) => r.seq)).toEqual([template.seq + 1, template.seq + 2, template.seq + 3]);
  for (const r of rows) expect(own(r)).toEqual(own(stored[0]!));
  // A real event appended after them links to the last, and the whole trail verifies.
  await unwrap(api.POST('/api_keys', { body: { name: 'after-bulk', scopes: ['runtime'] } }));
  const { stdout } = await sourceCli(stack)('audit', 'verify', '--json');
  const { rows: count } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM audit_events WHERE chain = $1',
    [template.chain],
  );
  expect(JSON.parse(stdout)).toEqual({ checked: count[0]!.n, intact: true });
});
