// The live tail of a debug session: GET /mcp_manager/{id}/debug_sessions/{sessionId}/events (server-sent events).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { Redis } from 'ioredis';
import pg from 'pg';
import { recordsStoredChannel } from '../../../services/control-plane/src/publication/debug-events.ts';
import {
  announceStoredRecords,
  storeExecutionRecords,
} from '../../../services/control-plane/src/resources/execution-records/store.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';
import { logLines } from '../../helpers/records.ts';

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let example: RegisteredExample;
let client: Client;
let redis: Redis;

type Summary = { id: string; server_id: string; tool: string; outcome: string; started_at: string };
type Session = { id: string; opened_at: string };

interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

/** An open event stream read with fetch (as the dashboard does): its events as they come, and how it ended. */
interface EventStream {
  status: number;
  events: SseEvent[];
  records: () => Summary[];
  /** Resolves when the server closed the stream. */
  closed: Promise<void>;
  abort: () => void;
}

async function openEvents(
  sessionId: string,
  opts: { lastEventId?: string; key?: string; serverId?: string } = {},
): Promise<EventStream> {
  const controller = new AbortController();
  const response = await fetch(
    `${stack.controlPlaneUrl}/api/v1/mcp_manager/${opts.serverId ?? example.serverId}/debug_sessions/${sessionId}/events`,
    {
      headers: {
        'x-api-key': opts.key ?? stack.bootstrapKey,
        accept: 'text/event-stream',
        ...(opts.lastEventId ? { 'last-event-id': opts.lastEventId } : {}),
      },
      signal: controller.signal,
    },
  );
  const events: SseEvent[] = [];
  const read = async () => {
    if (!response.ok || !response.body) return void (await response.text());
    const decoder = new TextDecoder();
    let buffer = '';
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const e: SseEvent = { event: 'message', data: '' };
        let fields = 0;
        for (const line of block.split('\n')) {
          const colon = line.indexOf(':');
          if (colon === 0) continue; // a comment
          const [name, value] =
            colon < 0 ? [line, ''] : [line.slice(0, colon), line.slice(colon + 1).replace(/^ /, '')];
          fields++;
          if (name === 'event') e.event = value;
          else if (name === 'id') e.id = value;
          else if (name === 'data') e.data += (e.data ? '\n' : '') + value;
          else fields--;
        }
        if (fields > 0 && e.data !== '') events.push(e);
      }
    }
  };
  return {
    status: response.status,
    events,
    records: () => events.filter((e) => e.event === 'record').map((e) => JSON.parse(e.data) as Summary),
    closed: read().catch((err: unknown) => {
      if (!controller.signal.aborted) throw err;
    }),
    abort: () => controller.abort(),
  };
}

async function call(title: string): Promise<void> {
  await client.callTool({ name: 'create_ticket', arguments: { title } });
}

/** The server's records since the session opened, oldest first (the order of these sequential calls). */
async function storedSince(session: Session, count: number): Promise<string[]> {
  return waitFor(`${count} stored records`, async () => {
    const list = await unwrap(
      api.GET('/execution_records', {
        params: { query: { server_id: example.serverId, from: session.opened_at, limit: 200 } },
      }),
    );
    return list.data.length >= count ? list.data.map((r) => r.id).reverse() : undefined;
  });
}

const closedLines = () =>
  logLines(
    stack.processes.find((p) => p.service === 'control-plane')!,
    'debug event stream closed',
  );
const subscribers = async () =>
  ((await redis.pubsub('NUMSUB', recordsStoredChannel(stack.redisPrefix, example.serverId))) as [string, number])[1];

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'upstream-key-88' });
  // The control plane logs (at debug level) when a stream closes, with its open streams and subscriptions.
  ({ stack, api } = await startTestStack('debug-events', { serviceEnv: { 'control-plane': { LOG_LEVEL: 'debug' } } }));
  example = await registerTicketExample(api, upstream.url, 'upstream-key-88');
  client = new Client({ name: 'debug-events', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(example.mcpUrl), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  redis = new Redis(stack.redisUrl);
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await client?.close();
  await stack?.stop();
  await upstream?.close();
});

describe('debug session events', () => {
  let session: Session;
  let firstStream: EventStream;

  it('sends the records stored since the session opened, then each new one, in order and once', async () => {
    await call('before the session'); // not part of the session
    await storedSince({ id: '', opened_at: new Date(0).toISOString() }, 1);
    session = await unwrap(
      api.POST('/mcp_manager/{id}/debug_sessions', {
        params: { path: { id: example.serverId } },
        body: { duration_minutes: 30 },
      }),
    );
    await call('one');
    await call('two');
    await storedSince(session, 2);
    firstStream = await openEvents(session.id);
    expect(firstStream.status).toBe(200);
    await waitFor('the two stored records', () => firstStream.records().length >= 2 || undefined);
    await call('three');
    await call('four');
    const stored = await storedSince(session, 4);
    await waitFor('four records', () => firstStream.records().length >= 4 || undefined, PROPAGATION_DEADLINE_MS * 2);
    const got = firstStream.records();
    expect(got.map((r) => r.id)).toEqual(stored);
    expect(got.every((r) => r.server_id === example.serverId && r.tool === 'create_ticket')).toBe(true);
    // Each record's event id is its record id (what Last-Event-ID names on a reconnect).
    expect(firstStream.events.filter((e) => e.event === 'record').map((e) => e.id)).toEqual(stored);
    expect(await subscribers()).toBe(1);
  });

  it('releases the subscription when the client goes away, and resumes after Last-Event-ID without loss or repetition', async () => {
    const before = closedLines().length;
    const lastId = firstStream.events.at(-1)!.id!;
    firstStream.abort();
    await firstStream.closed;
    const line = await waitFor('the control plane to close the stream', () => closedLines()[before]);
    expect(line).toMatchObject({ sessionId: session.id, streams: 0, subscriptions: 0 });
    expect(await subscribers()).toBe(0);

    await call('five (while away)');
    await call('six (while away)');
    const stored = await storedSince(session, 6);
    const resumed = await openEvents(session.id, { lastEventId: lastId });
    await call('seven');
    const all = await storedSince(session, 7);
    await waitFor('the three records after the last one seen', () => resumed.records().length >= 3 || undefined);
    expect(resumed.records().map((r) => r.id)).toEqual([...stored.slice(4), all[6]]);

    // A record stored and announced by another control plane replica (its code path, from this process): a
    // second control plane cannot run beside the stack's (startControlPlane reuses its port).
    const pool = new pg.Pool({ connectionString: stack.databaseUrl, max: 1 });
    const { rows } = await pool.query<{ workspace_id: string }>('SELECT workspace_id FROM mcp_servers WHERE id = $1', [
      example.serverId,
    ]);
    const id = randomUUID();
    const record = {
      v: 1 as const,
      invocationId: id,
      workspaceId: rows[0]!.workspace_id,
      serverId: example.serverId,
      catalogVersion: 1,
      tool: 'from_another_replica',
      caller: {},
      startedAt: new Date().toISOString(),
      durationMs: 1,
      outcome: 'success' as const,
      steps: [],
    };
    const counts = await storeExecutionRecords(pool, [record]);
    await pool.end();
    await announceStoredRecords(redis, stack.redisPrefix, counts);
    await waitFor(
      'the other replica’s record',
      () => resumed.records().length >= 4 || undefined,
      PROPAGATION_DEADLINE_MS,
    );
    expect(resumed.records().at(-1)).toMatchObject({ id, tool: 'from_another_replica' });
    expect(new Set(resumed.records().map((r) => r.id)).size).toBe(4);

    // Stopping the session ends the stream (event: end, then the server closes it).
    await unwrap(
      api.DELETE('/mcp_manager/{id}/debug_sessions/{sessionId}', {
        params: { path: { id: example.serverId, sessionId: session.id } },
      }),
    );
    await resumed.closed;
    expect(resumed.events.at(-1)).toMatchObject({ event: 'end' });
    expect(JSON.parse(resumed.events.at(-1)!.data)).toMatchObject({ session_id: session.id, reason: 'stopped' });
    expect(resumed.records()).toHaveLength(4);
    await waitFor('no subscription left', async () => (await subscribers()) === 0 || undefined);

    // A stopped session's stream sends its records (none after the last one seen), then ends.
    const after = await openEvents(session.id, { lastEventId: id });
    await after.closed;
    expect(after.events.map((e) => e.event)).toEqual(['end']);
  });

  it('limits the streams per key', async () => {
    const open = await unwrap(
      api.POST('/mcp_manager/{id}/debug_sessions', { params: { path: { id: example.serverId } }, body: {} }),
    );
    const streams: EventStream[] = [];
    for (let i = 0; i < 10; i++) streams.push(await openEvents(open.id));
    expect(streams.map((s) => s.status)).toEqual(Array(10).fill(200));
    const refused = await openEvents(open.id);
    expect(refused.status).toBe(429);
    for (const s of streams) s.abort();
    await waitFor('every stream closed', () => closedLines().at(-1)?.streams === 0 || undefined);
    await unwrap(
      api.DELETE('/mcp_manager/{id}/debug_sessions/{sessionId}', {
        params: { path: { id: example.serverId, sessionId: open.id } },
      }),
    );
  });

  it('answers 404 to a key limited to another server, and for an unknown session', async () => {
    const other = await registerTicketExample(api, upstream.url, 'upstream-key-88', 'other-server');
    const { key } = await unwrap(
      api.POST('/api_keys', {
        body: { name: 'other server only', scopes: ['management'], serverIds: [other.serverId] },
      }),
    );
    const foreign = await openEvents(session.id, { key });
    expect(foreign.status).toBe(404);
    const unknown = await openEvents(randomUUID());
    expect(unknown.status).toBe(404);
    // By name too, as every /mcp_manager route.
    const byName = await openEvents(session.id, { serverId: 'ticket-system' });
    expect(byName.status).toBe(200);
    await byName.closed;
    expect(byName.events.at(-1)?.event).toBe('end');
  });

  it('ends the stream with an error event when the Redis connection fails, rather than hanging', async () => {
    const open = await unwrap(
      api.POST('/mcp_manager/{id}/debug_sessions', { params: { path: { id: example.serverId } }, body: {} }),
    );
    const stream = await openEvents(open.id);
    await waitFor('the subscription', async () => (await subscribers()) === 1 || undefined);
    // The control plane's subscriber connection (named after the stack's prefix) is cut.
    const clients = String(await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
    const line = clients.split('\n').find((l) => l.includes(` name=${stack.redisPrefix}:debug-events `));
    expect(line).toBeDefined();
    await redis.call('CLIENT', 'KILL', 'ID', /\bid=(\d+)/.exec(line!)![1]!);
    await stream.closed;
    expect(stream.events.at(-1)).toMatchObject({ event: 'error' });
    expect(JSON.parse(stream.events.at(-1)!.data)).toMatchObject({ code: 'service.unavailable' });
    // A new stream subscribes again.
    const again = await openEvents(open.id);
    await waitFor('the new subscription', async () => (await subscribers()) === 1 || undefined);
    again.abort();
    await unwrap(
      api.DELETE('/mcp_manager/{id}/debug_sessions/{sessionId}', {
        params: { path: { id: example.serverId, sessionId: open.id } },
      }),
    );
  });
});
