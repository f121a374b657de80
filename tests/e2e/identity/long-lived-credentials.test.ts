import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { TaskEnabledSession } from '@modelcontextprotocol/ext-tasks/client';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { z } from 'zod';
import { postMcp } from '../../helpers/mcp.ts';
import { legacyTaskSession } from '../../helpers/task-sessions.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';
import { startEventsStack, type EventsStack } from '../events/fixture.ts';

/**
 * Every long-lived thing that acts for a caller follows its credential (ADR 0088, 0090, 0095; docs/governance.md
 * "Long-lived things follow their credential"): one matrix of rows (what lives on) × columns (what happened to the
 * credential), on one stack of two edges. Each cell makes the thing through edge A, changes the credential, then
 * makes the next action happen (an event occurs, the approval is given, the worker picks the job up, a poll or a
 * reconnect through edge B) and checks that it is refused, that nothing reached the upstream or the webhook receiver,
 * and, where the protocol has a way, that the caller was told. A narrowed token's expiry is not a column: it is a
 * clock comparison in the same judgement (`credentialRefusal`), unit-tested; waiting for one here would cost the file
 * its lifetime.
 */

const COLUMNS = ['key deleted', 'key narrowed', 'token revoked', 'person deleted', 'person deactivated'] as const;
type Column = (typeof COLUMNS)[number];

/** How the next request of the changed credential is refused at an edge (401: no credential, 403: not this server). */
const REFUSED_STATUS: Record<Column, number> = {
  'key deleted': 401,
  'key narrowed': 403,
  'token revoked': 401,
  'person deleted': 403,
  'person deactivated': 403,
};

const userSchema = 'urn:ietf:params:scim:schemas:core:2.0:User';
const githubSecret = `gh-${randomBytes(12).toString('hex')}`;

let s: EventsStack;
let upstream: Server;
let receiver: Server;
/** Paths the upstream was asked for (each cell's repository names it). */
const called: string[] = [];
/** Webhook deliveries received (verification handshakes aside), by path. */
const hooked: { path: string; body: string }[] = [];
let scimToken: string;
let approverId: string;
let approver: ManagementClient;
let heldServerPath: string;
const opened: { close(): Promise<void> }[] = [];

const edge = (i: 0 | 1) => s.stack.edgeUrls[i]!;
const mcpUrl = (i: 0 | 1, serverUrl = s.server.url) => `${edge(i)}${new URL(serverUrl).pathname}`;
const receiverUrl = (path: string) => `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/${path}`;
const calls = (marker: string) => called.filter((p) => p.includes(marker)).length;
const hooks = (path: string, eventId?: string) =>
  hooked.filter((h) => h.path === `/${path}` && (eventId === undefined || h.body.includes(eventId))).length;

function listen(handler: RequestListener): Promise<Server> {
  const server = createServer(handler);
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

beforeAll(async () => {
  upstream = await listen((req, res) => {
    called.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  receiver = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const message = JSON.parse(body) as { type?: string; challenge?: string };
      if (message.type === 'verification') return void res.writeHead(200).end(message.challenge);
      hooked.push({ path: req.url ?? '', body });
      res.writeHead(204).end();
    });
  });
  const baseUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  s = await startEventsStack(
    'long-lived',
    { EVENTS_HEARTBEAT_MS: '300', TASK_POLL_INTERVAL_MS: '100', TASK_IMMEDIATE_MS: '300' },
    { edges: 2, baseUrl },
  );
  const { api } = s;
  await unwrap(
    api.PATCH('/connector_instances/{id}', {
      params: { path: { id: s.instanceId } },
      body: { webhook_secret: githubSecret } as never,
    }),
  );
  const approverKey = await unwrap(api.POST('/api_keys', { body: { name: 'approver', scopes: ['management'] } }));
  approverId = approverKey.id;
  approver = createManagementClient(s.stack.controlPlaneUrl, approverKey.key);
  const held = await unwrap(
    api.POST('/mcp_manager', {
      body: {
        name: 'held',
        mode: 'NORMAL',
        connectorInstanceId: s.instanceId,
        approvalTools: ['getRepo'],
        approvalRule: { approvers: { apiKeys: [approverId] } },
      } as never,
    }),
  );
  heldServerPath = held.url;
  // People need a grant (ADR 0013): every person of the workspace may use every server.
  await unwrap(
    api.POST('/access_policies', {
      body: { name: 'all-people', principals: [{ type: 'external_user', value: '*' }], servers: ['*'], tools: ['*'] },
    }),
  );
  scimToken = (await unwrap(api.POST('/scim_token'))).token;
}, 180_000);

afterAll(async () => {
  for (const o of opened) await o.close().catch(() => undefined);
  s?.redis.disconnect();
  await s?.stack.stop();
  for (const server of [upstream, receiver]) {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  }
});

/** One SCIM request as an identity provider sends it. */
async function scim(method: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${s.stack.controlPlaneUrl}/scim/v2${path}`, {
    method,
    headers: { authorization: `Bearer ${scimToken}`, 'content-type': 'application/scim+json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBeLessThan(300);
  return (await res.json()) as Record<string, unknown>;
}

/** A cell's credential: the headers its requests carry, and the change the column makes to it. */
interface Credential {
  headers: Record<string, string>;
  change(): Promise<void>;
}

/** A fresh credential of the column's kind: a key, a narrowed token of a key, or a key acting for a new person. */
async function credential(column: Column, label: string): Promise<Credential> {
  const { api } = s;
  const key = await unwrap(api.POST('/api_keys', { body: { name: `ll-${label}`, scopes: ['runtime'] } }));
  const id = { params: { path: { id: key.id } } };
  switch (column) {
    case 'key deleted':
      return {
        headers: { 'x-api-key': key.key },
        change: async () => expect((await api.DELETE('/api_keys/{id}', id)).response.status).toBe(204),
      };
    case 'key narrowed':
      return {
        headers: { 'x-api-key': key.key },
        change: async () =>
          void (await unwrap(api.PATCH('/api_keys/{id}', { ...id, body: { serverIds: [s.plain.id] } }))),
      };
    case 'token revoked': {
      const form = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: key.key,
        subject_token_type: 'urn:toolplane:params:oauth:token-type:api_key',
        requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        authorization_details: JSON.stringify([{ type: 'toolplane_delegation', expires_in: 3600 }]),
      });
      const exchanged = await fetch(`${edge(0)}/oauth/token-exchange`, { method: 'POST', body: form });
      expect(exchanged.status).toBe(200);
      const token = ((await exchanged.json()) as { access_token: string }).access_token;
      return {
        headers: { authorization: `Bearer ${token}` },
        change: async () => {
          const revoked = await fetch(`${edge(1)}/oauth/revoke`, {
            method: 'POST',
            body: new URLSearchParams({ token }),
          });
          expect(revoked.status).toBe(200);
        },
      };
    }
    case 'person deleted': {
      const name = `p-${label}`;
      await unwrap(api.POST('/external_users', { body: { name } }));
      return {
        headers: { 'x-api-key': key.key, 'x-username': name },
        change: async () => {
          const res = await api.DELETE('/external_users/{name}', { params: { path: { name } } });
          expect(res.response.status).toBe(204);
        },
      };
    }
    case 'person deactivated': {
      const name = `p-${label}`;
      const person = await scim('POST', '/Users', { schemas: [userSchema], userName: name });
      const op = { op: 'replace', value: { active: false } };
      return {
        headers: { 'x-api-key': key.key, 'x-username': name },
        change: async () =>
          void (await scim('PATCH', `/Users/${String(person.id)}`, {
            schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
            Operations: [op],
          })),
      };
    }
  }
}

/** Every column's cell at once, each with its own credential and label (names its repository, person, path). */
async function everyColumn(row: string, cell: (column: Column, c: Credential, label: string) => Promise<void>) {
  const settled = await Promise.allSettled(
    COLUMNS.map(async (column) => {
      const label = `${row}-${column.replace(' ', '-')}-${randomUUID().slice(0, 6)}`;
      await cell(column, await credential(column, label), label);
    }),
  );
  const failed = settled.flatMap((r, i) =>
    r.status === 'rejected' ? [`${row} × ${COLUMNS[i]}: ${(r.reason as Error).message}`] : [],
  );
  if (failed.length > 0) throw new Error(failed.join('\n\n'));
}

/** An SDK client of edge `i` on the events server with these headers. */
async function client(i: 0 | 1, headers: Record<string, string>): Promise<Client> {
  const c = new Client({ name: 'long-lived', version: '1.0.0' });
  await c.connect(new StreamableHTTPClientTransport(new URL(mcpUrl(i)), { requestInit: { headers } }));
  opened.push(c);
  return c;
}

/** A provider's signed push of `repository` through edge B's inbound URL; its delivery id (the event's id). */
async function push(repository: string): Promise<string> {
  const id = randomUUID();
  const body = JSON.stringify({
    ref: 'refs/heads/main',
    after: randomBytes(20).toString('hex'),
    repository: { full_name: repository },
  });
  const res = await fetch(`${edge(1)}/hooks/${s.instanceId}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': id,
      'x-hub-signature-256': `sha256=${createHmac('sha256', githubSecret).update(body).digest('hex')}`,
    },
    body,
  });
  expect(res.status).toBe(202);
  return id;
}

/** A webhook subscription to pushes of `repository` posting to `path`. */
async function subscribeWebhook(c: Client, repository: string, path: string): Promise<string> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const params = {
    name: 'github.push',
    arguments: { repository },
    delivery: { mode: 'webhook', url: receiverUrl(path), secret },
  };
  // The SDK's own 60 s request timeout, scaled as every bound of these tests is (a subscribe verifies its callback).
  const made = await c.request({ method: 'events/subscribe', params }, z.looseObject({ id: z.string() }), {
    timeout: scaled(60_000),
  });
  return made.id;
}

/** The bootstrap key's webhook subscription to the same pushes: its delivery says the fan-out ran for an event. */
async function witness(repository: string): Promise<(eventId: string) => Promise<void>> {
  const path = `witness-${randomUUID()}`;
  await subscribeWebhook(await client(0, { 'x-api-key': s.stack.bootstrapKey }), repository, path);
  return async (eventId) =>
    void (await waitFor(`the witness's delivery of ${eventId}`, () => hooks(path, eventId) > 0));
}

const subscribed = async (id: string) => (await s.redis.hexists(`{ev:${s.instanceId}}:subs`, id)) === 1;
const subscriptionOf = async (principalPart: string) =>
  Object.entries(await s.redis.hgetall(`{ev:${s.instanceId}}:subs`)).find(([, raw]) =>
    raw.includes(principalPart),
  )?.[0];

/** A raw request of the credential to edge B (a poll, a reconnect): its HTTP status. */
async function statusOnB(headers: Record<string, string>, method: string, params: unknown): Promise<number> {
  const res = await postMcp(mcpUrl(1), { jsonrpc: '2.0', id: 1, method, params }, headers);
  await res.text();
  return res.status;
}

const poll = (c: Client, repository: string, cursor: string | null) =>
  c.request(
    { method: 'events/poll', params: { name: 'github.push', arguments: { repository }, cursor } },
    z.looseObject({ cursor: z.string().nullable(), events: z.array(z.looseObject({ eventId: z.string() })) }),
    { timeout: scaled(60_000) },
  );

describe('a long-lived thing follows its credential, on both edges', () => {
  it('a webhook subscription: the next event is posted to no one and the subscription is removed', async () => {
    await everyColumn('webhook', async (_column, cred, label) => {
      const repository = `acme/${label}`;
      const id = await subscribeWebhook(await client(0, cred.headers), repository, label);
      const delivered = await witness(repository);
      await cred.change();
      const event = await push(repository);
      await delivered(event);
      await waitFor('the subscription removed', async () => !(await subscribed(id)));
      expect(hooks(label)).toBe(0);
    });
  }, 240_000);

  it('a poll subscription: the next poll through edge B is refused and the fan-out removes the subscription', async () => {
    await everyColumn('poll', async (column, cred, label) => {
      const repository = `acme/${label}`;
      const first = await poll(await client(0, cred.headers), repository, null);
      const id = await subscriptionOf(`"${repository}"`);
      expect(id).toBeDefined();
      const delivered = await witness(repository);
      await cred.change();
      await delivered(await push(repository));
      await waitFor('the subscription removed', async () => !(await subscribed(id!)));
      const params = { name: 'github.push', arguments: { repository }, cursor: first.cursor };
      expect(await statusOnB(cred.headers, 'events/poll', params)).toBe(REFUSED_STATUS[column]);
    });
  }, 240_000);

  it('a stream subscription: told `terminated`, given nothing more, and a reconnect through edge B is refused', async () => {
    await everyColumn('stream', async (column, cred, label) => {
      const repository = `acme/${label}`;
      const c = await client(0, cred.headers);
      const streamed: string[] = [];
      const state = { active: false, terminated: undefined as unknown };
      const note = { params: z.looseObject({}) };
      c.setNotificationHandler('notifications/events/active', note, () => void (state.active = true));
      c.setNotificationHandler('notifications/events/event', note, (p) => void streamed.push(String(p.eventId)));
      c.setNotificationHandler('notifications/events/terminated', note, (p) => void (state.terminated = p));
      const params = { name: 'github.push', arguments: { repository }, cursor: null };
      const streaming = c
        .request({ method: 'events/stream', params }, z.looseObject({}), { timeout: 600_000 })
        .catch((err: unknown) => err);
      await waitFor('the stream is active', () => state.active);
      const delivered = await witness(repository);
      await cred.change();
      const event = await push(repository);
      await delivered(event);
      await waitFor('the stream told it ended', () => state.terminated !== undefined);
      expect(state.terminated).toMatchObject({ error: { message: expect.stringMatching(/^Access revoked/) } });
      await streaming;
      expect(streamed).not.toContain(event);
      expect(await statusOnB(cred.headers, 'events/stream', params)).toBe(REFUSED_STATUS[column]);
    });
  }, 240_000);

  /** The task record's status and message, as every edge answers `tasks/get` from it. */
  const taskRecord = async (taskId: string) =>
    (await s.redis.hgetall(`${s.stack.redisPrefix}:task:${taskId}`)) as { status?: string; statusMessage?: string };

  /** getRepo as a 2025-era task through edge A, on the events server or the held one; its id. */
  async function task(session: TaskEnabledSession, owner: string): Promise<string> {
    const execution = await session.callTool('getRepo', { owner, repo: 'r' }, { task: { preference: 'require' } });
    expect(execution.kind).toBe('task');
    return execution.handle!.taskId;
  }

  it('a held task (approval pending): approved after the change, it fails and sends nothing', async () => {
    await everyColumn('held', async (column, cred, label) => {
      const { session } = await legacyTaskSession(mcpUrl(0, heldServerPath), { headers: cred.headers, opened });
      const taskId = await task(session, label);
      const waiting = await waitFor('the task waits for an approval', async () => {
        const t = await taskRecord(taskId);
        return t.statusMessage?.startsWith('Waiting for approval request') ? t : undefined;
      });
      const approvalId = /approval request ([0-9a-f-]{36})/.exec(waiting.statusMessage!)![1]!;
      await waitFor('the approval request in the control plane', async () => {
        const { data } = await s.api.GET('/approvals/{id}', { params: { path: { id: approvalId } } });
        return data;
      });
      await cred.change();
      const approve = await approver.POST('/approvals/{id}/approve', {
        params: { path: { id: approvalId } },
        body: {},
      });
      // A person who left takes their waiting requests with them: expired, nothing left to approve.
      expect(approve.response.status).toBe(column.startsWith('person') ? 409 : 200);
      const ended = await waitFor('the task failed', async () => {
        const t = await taskRecord(taskId);
        return t.status === 'failed' ? t : undefined;
      });
      // A person's request expired when they left: whichever tells the task first (its edge, or the worker that the
      // promoted job reached) fails it; either way nothing was sent.
      const why = column.startsWith('person')
        ? /^(The task's call was not run|Approval request \S+ expired before anyone approved it)/
        : /^The task's call was not run/;
      expect(ended.statusMessage).toMatch(why);
      expect(calls(label)).toBe(0);
    });
  }, 240_000);

  it('a durable task queued while no worker runs: the worker that picks it up fails it and sends nothing', async () => {
    const worker = s.stack.processes.find((p) => p.service === 'worker')!;
    await s.stack.stopProcess(worker);
    const made: { taskId: string; label: string; column: Column }[] = [];
    try {
      await everyColumn('durable', async (column, cred, label) => {
        const { session } = await legacyTaskSession(mcpUrl(0), { headers: cred.headers, opened });
        const taskId = await task(session, label);
        expect((await taskRecord(taskId)).status).toBe('working');
        await cred.change();
        made.push({ taskId, label, column });
      });
    } finally {
      await s.stack.addWorker();
    }
    expect(made).toHaveLength(COLUMNS.length);
    for (const { taskId, label, column } of made) {
      const ended = await waitFor(`${column}: the task ended`, async () => {
        const t = await taskRecord(taskId);
        return t.status !== 'working' ? t : undefined;
      });
      expect({ column, status: ended.status, message: ended.statusMessage }).toMatchObject({
        column,
        status: 'failed',
        message: expect.stringMatching(/^The task's call was not run/),
      });
      expect(calls(label)).toBe(0);
    }
  }, 240_000);

  it('an open MCP stream on each edge: both end, and reopening through edge B is refused', async () => {
    await everyColumn('open', async (column, cred, label) => {
      const streams = await Promise.all([openLegacy(0, cred.headers), openLegacy(1, cred.headers)]);
      await cred.change();
      await Promise.all(streams.map((st, i) => waitFor(`the stream on edge ${i} ended (${label})`, () => st.ended)));
      const again = await fetch(`${edge(1)}/api/v1/mcp/${s.server.id}`, {
        headers: { accept: 'text/event-stream', ...cred.headers },
      });
      await again.body?.cancel();
      expect(again.status).toBe(REFUSED_STATUS[column]);
    });
  }, 240_000);
});

/** A legacy HTTP+SSE stream (`GET /api/v1/mcp/{serverId}`) through edge `i`, open once its endpoint event came. */
async function openLegacy(i: 0 | 1, headers: Record<string, string>): Promise<{ ended: boolean }> {
  const controller = new AbortController();
  opened.push({ close: async () => controller.abort() });
  const res = await fetch(`${edge(i)}/api/v1/mcp/${s.server.id}`, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  const state = { ended: false, text: '' };
  const reader = res.body!.getReader();
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        state.text += new TextDecoder().decode(value);
      }
    } catch {
      // a destroyed connection ends the stream too
    } finally {
      state.ended = true;
    }
  })();
  await waitFor('the endpoint event', () => state.text.includes('event: endpoint'));
  return state;
}
