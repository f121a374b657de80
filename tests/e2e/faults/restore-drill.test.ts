import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startEmbeddedPostgres, startRedisServer, type PostgresHandle, type RedisHandle } from '@toolplane/embedded';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { Redis } from 'ioredis';
import pg from 'pg';
import { sourceCli } from '../../helpers/cli.ts';
import { lastMessage, postMcp } from '../../helpers/mcp.ts';
import { startTestStack, tempDir } from '../../helpers/stack.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

/**
 * The restore drill (docs/operations.md, "Backup and restore"): a `pg_dump -Fc` taken while calls run, then the
 * database and Redis both lost, the dump restored with `pg_restore` into an empty database and the control plane
 * started on it. After it: the audit trail verifies, every key and secret of the backup works (the upstream's
 * credential is sealed outside PostgreSQL), and what is lost is exactly what the docs say: what happened after the
 * backup (a key created is unknown, a key deleted works again, its records and audit events are gone) and what lived
 * in Redis only (narrowed tokens: every one refused, never accepted; tasks: failed with their outcome unknown, their
 * calls not run again). PostgreSQL is Debian's (scripts/toolchain.sh `ensure_postgres_tools`), since pg_dump must be
 * of the server's major version or newer.
 */

const pgInstall = process.env.TOOLPLANE_PG_INSTALL;
const pgBin = pgInstall && join(pgInstall, 'bin');
const CANARY = `canary-${randomBytes(12).toString('hex')}`;
const run = promisify(execFile);

let postgres: PostgresHandle;
let redis: RedisHandle;
let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let example: RegisteredExample;
const dir = tempDir('restore-drill');

beforeAll(async () => {
  if (!pgInstall) throw new Error('TOOLPLANE_PG_INSTALL is not set: scripts/test.sh sets it (ensure_postgres_tools)');
  postgres = await startEmbeddedPostgres({ dataDir: join(dir, 'postgres'), installDir: pgInstall });
  await postgres.createDatabase('toolplane');
  redis = await startRedisServer();
  upstream = await startTicketSystem({ apiKey: CANARY, host: '127.0.0.1' });
  ({ stack, api } = await startTestStack('restore', {
    databaseUrl: postgres.url('toolplane'),
    redisUrl: redis.url,
    logLevel: 'warn',
    // Edges keep what they read for 10 minutes: only the republication's announcement makes them forget it in time.
    serviceEnv: { edge: { API_KEY_CACHE_TTL_MS: '600000' } },
  }));
  example = await registerTicketExample(api, upstream.url, CANARY, 'restore');
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  await redis?.stop();
  await postgres?.stop();
  await upstream?.close();
});

/** One `search_tickets` call: whether it succeeded, or the HTTP status / tool error it got. */
async function call(credential: { 'x-api-key': string } | { authorization: string }): Promise<string> {
  const message = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'search_tickets', arguments: {} } };
  const res = await postMcp(example.mcpUrl, message, credential, scaled(30_000));
  if (res.status !== 200) return `http ${res.status}`;
  const body = (await res.json()) as { result?: { isError?: boolean; content?: { text?: string }[] } };
  if (body.result?.isError) return `tool error: ${body.result.content?.[0]?.text ?? ''}`;
  return body.result ? 'ok' : 'no result';
}

/** One JSON-RPC request of the 2025-11-25 protocol as `key`: its result, or its error's message. */
async function rpc(
  key: string,
  method: string,
  params: unknown,
): Promise<{ result?: Record<string, unknown>; error?: string }> {
  const headers = { 'x-api-key': key, 'mcp-protocol-version': '2025-11-25' };
  const body = await lastMessage(
    await postMcp(example.mcpUrl, { jsonrpc: '2.0', id: 1, method, params }, headers, scaled(30_000)),
  );
  return body.error ? { error: body.error.message } : { result: body.result ?? {} };
}

/** A durable task of `search_tickets` run to its end: its id. */
async function completedTask(key: string): Promise<string> {
  const created = await rpc(key, 'tools/call', { name: 'search_tickets', arguments: {}, task: {} });
  const taskId = (created.result?.task as { taskId?: string } | undefined)?.taskId;
  if (!taskId) throw new Error(`no task: ${JSON.stringify(created)}`);
  await waitFor(`task ${taskId} completed`, async () =>
    (await rpc(key, 'tasks/get', { taskId })).result?.status === 'completed' ? true : undefined,
  );
  return taskId;
}

const newKey = (name: string) => unwrap(api.POST('/api_keys', { body: { name, scopes: ['runtime'] } }));

/** The number of audit events and execution records the database holds. */
async function counts(): Promise<{ events: number; records: number }> {
  const client = new pg.Client({ connectionString: postgres.url('toolplane') });
  await client.connect();
  try {
    const events = await client.query<{ n: string }>('SELECT count(*) AS n FROM audit_events');
    const records = await client.query<{ n: string }>('SELECT count(*) AS n FROM execution_records');
    return { events: Number(events.rows[0]!.n), records: Number(records.rows[0]!.n) };
  } finally {
    await client.end();
  }
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgres.url('postgres') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A narrowed token of `key` (RFC 8693 exchange on the edge, ADR 0084), to one tool. */
async function narrowedToken(key: string): Promise<string> {
  const form = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: key,
    subject_token_type: 'urn:toolplane:params:oauth:token-type:api_key',
    requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    authorization_details: JSON.stringify([
      { type: 'toolplane_delegation', tools: ['search_tickets'], actor: 'drill' },
    ]),
  });
  const res = await fetch(`${stack.edgeUrl}/oauth/token-exchange`, { method: 'POST', body: form });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no narrowed token: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

describe('restore drill', () => {
  it('pg_dump while calls run; database and Redis lost; pg_restore: the trail verifies, keys and secrets work, only what the docs name is lost', async () => {
    // Before the backup: two keys, a narrowed token, calls with their records.
    const kept = await newKey('kept');
    const deletedAfter = await newKey('deleted-after-backup');
    const token = await narrowedToken(kept.key);
    expect(await call({ 'x-api-key': kept.key })).toBe('ok');
    expect(await call({ authorization: `Bearer ${token}` })).toBe('ok');
    expect(await call({ 'x-api-key': deletedAfter.key })).toBe('ok');
    await waitFor('the three records stored', async () => ((await counts()).records >= 3 ? true : undefined));
    // A task run to its end: its record and result live in Redis (ADR 0040).
    const taskId = await completedTask(kept.key);
    expect((await rpc(kept.key, 'tasks/result', { taskId })).result?.isError).not.toBe(true);

    // The backup, taken while calls keep running: none of them fails because of it.
    const dump = join(dir, 'toolplane.dump');
    let calling = true;
    const during: string[] = [];
    const caller = (async () => {
      while (calling) during.push(await call({ 'x-api-key': kept.key }));
    })();
    const dumped = Date.now();
    await run(join(pgBin!, 'pg_dump'), ['-Fc', '-f', dump, postgres.url('toolplane')]);
    const dumpMs = Date.now() - dumped;
    calling = false;
    await caller;
    expect(during.length).toBeGreaterThan(0);
    expect(during.filter((o) => o !== 'ok')).toEqual([]);
    // The backup's content, read back from the dump itself (a restore into a scratch database).
    await admin('CREATE DATABASE scratch');
    await run(join(pgBin!, 'pg_restore'), ['--no-owner', '-d', postgres.url('scratch'), dump]);
    const scratch = new pg.Client({ connectionString: postgres.url('scratch') });
    await scratch.connect();
    const inBackup = Number((await scratch.query<{ n: string }>('SELECT count(*) AS n FROM audit_events')).rows[0]!.n);
    await scratch.end();
    await admin('DROP DATABASE scratch');

    // After the backup: a key created, a key deleted, a call. All of it will be lost.
    const createdAfter = await newKey('created-after-backup');
    await unwrap(api.DELETE('/api_keys/{id}', { params: { path: { id: deletedAfter.id } } }));
    await waitFor('the deleted key refused', async () =>
      (await call({ 'x-api-key': deletedAfter.key })) === 'http 401' ? true : undefined,
    );
    expect(await call({ 'x-api-key': createdAfter.key })).toBe('ok');
    const before = await counts();
    expect(before.events).toBeGreaterThan(inBackup);

    // The disaster: the database and Redis both lost.
    const cp = stack.processes.find((p) => p.service === 'control-plane')!;
    await stack.stopProcess(cp);
    await admin('DROP DATABASE toolplane WITH (FORCE)');
    const client = new Redis(redis.url);
    await client.flushall();
    await client.quit();

    // The restore: an empty database, the dump, the control plane started on it (it republishes Redis's state).
    const restoring = Date.now();
    await admin('CREATE DATABASE toolplane');
    await run(join(pgBin!, 'pg_restore'), ['--no-owner', '-d', postgres.url('toolplane'), dump]);
    await stack.startControlPlane();
    await waitFor('a call with a key of the backup', async () =>
      (await call({ 'x-api-key': kept.key })) === 'ok' ? true : undefined,
    );
    const readyMs = Date.now() - restoring;

    // The trail is the backup's, intact: its events verify, and nothing after the backup is there.
    const { stdout } = await sourceCli(stack)('audit', 'verify');
    expect(stdout).toMatch(/(\d+) events verified: the chain is intact/);
    const verified = Number(/(\d+) events verified/.exec(stdout)![1]);
    expect(verified).toBeGreaterThanOrEqual(inBackup);
    const after = await counts();
    expect(after.events).toBeLessThan(before.events);

    // What the docs say is lost, and only that.
    // Created after the backup: unknown once the state is republished (edges drop what they cached on its announcement).
    await waitFor('the key created after the backup refused', async () =>
      (await call({ 'x-api-key': createdAfter.key })) === 'http 401' ? true : undefined,
    );
    expect(await call({ 'x-api-key': deletedAfter.key })).toBe('ok'); // deleted after it: valid again
    expect(await call({ authorization: `Bearer ${token}` })).toBe('http 401'); // narrowed tokens live in Redis only
    // Tasks live in Redis only: the one run before the loss reads as failed, its outcome unknown (its id says which
    // edge and when it was made: not silently unknown), its result gone, its call not run again; new tasks run.
    const upstreamCalls = upstream.requests.length;
    expect((await rpc(kept.key, 'tasks/get', { taskId })).result).toMatchObject({
      status: 'failed',
      statusMessage: expect.stringContaining('state was lost') as unknown,
    });
    const lost = await rpc(kept.key, 'tasks/result', { taskId });
    expect(lost.error ?? (lost.result?.isError === true ? 'a tool error' : undefined)).toBeDefined();
    expect(upstream.requests.length).toBe(upstreamCalls);
    expect(await completedTask(kept.key)).not.toBe(taskId);
    // The upstream's credential (the sealed store, outside PostgreSQL) reached the upstream: it answers only with it.
    expect(upstream.requests.some((r) => r.headers['x-api-key'] === CANARY)).toBe(true);
    process.stderr.write(
      `restore drill: pg_dump ${dumpMs} ms with ${during.length} calls running (0 failed); ` +
        `${inBackup} audit events in the backup, ${before.events} before the loss, ${after.events} after the restore; ` +
        `${readyMs} ms from the empty database to the first call answered\n`,
    );
  });
});
