import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createMCPClient,
  type Experimental_MCPEventStore as MCPEventStore,
  type Experimental_MCPEventSubscription as MCPEventSubscription,
} from '@ai-sdk/mcp';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { unwrap } from '@toolplane/client';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { dumpPostgres } from '../../helpers/output-search.ts';
import { waitFor } from '../../helpers/wait.ts';
import { give, sdkClient, startEventsStack, subscriptionFor, type EventsStack } from './fixture.ts';

// MCP Events through Toolplane (docs/events.md): the official SDK client sending the raw methods, and
// @ai-sdk/mcp's `experimental_events` (it subscribes by webhook: the only mode the library offers). Occurrences are
// XADDed to the subscription's stream as the worker's fan-out does, except in the last case: a provider's signed
// delivery through the edge's inbound URL and the worker's fan-out, end to end.

const Poll = z.looseObject({
  events: z.array(z.looseObject({ eventId: z.string(), name: z.string(), timestamp: z.string(), data: z.unknown() })),
  cursor: z.string().nullable(),
  truncated: z.boolean(),
  hasMore: z.boolean(),
  nextPollMs: z.number(),
});
const List = z.looseObject({ events: z.array(z.looseObject({ name: z.string(), delivery: z.array(z.string()) })) });

let s: EventsStack;
let client: Client;

beforeAll(async () => {
  s = await startEventsStack('events', { EVENTS_HEARTBEAT_MS: '300', EVENTS_MAX_SUBSCRIPTIONS_PER_CALLER: '20' });
  client = await sdkClient(s.server.url, s.stack.bootstrapKey);
}, 180_000);

afterAll(async () => {
  await client?.close();
  s?.redis.disconnect();
  await s?.stack.stop();
});

const poll = (c: Client, params: Record<string, unknown>) => c.request({ method: 'events/poll', params }, Poll);

describe('the official SDK client, raw methods', () => {
  it('sees the extension declared and the server’s event types listed, as the caller’s policies grant them', async () => {
    const caps = client.getServerCapabilities() as Record<string, unknown> & { extensions?: Record<string, unknown> };
    expect(caps.extensions?.['io.modelcontextprotocol/events']).toEqual({ listChanged: false });
    const all = await client.request({ method: 'events/list', params: {} }, List);
    expect(all.events.map((e) => e.name).sort()).toEqual(['github.issue_opened', 'github.push']);
    expect(all.events.find((e) => e.name === 'github.push')).toMatchObject({
      title: 'A push to a repository',
      delivery: ['poll', 'push', 'webhook'],
      inputSchema: { properties: { repository: { type: 'string' } } },
      payloadSchema: { properties: { repository: { $ref: '#/$defs/Repo' } } },
    });
    const limited = await sdkClient(s.server.url, s.limitedKey);
    try {
      const granted = await limited.request({ method: 'events/list', params: {} }, List);
      expect(granted.events.map((e) => e.name)).toEqual(['github.push']);
      await expect(poll(limited, { name: 'github.issue_opened', cursor: null })).rejects.toMatchObject({
        code: -32024,
      });
    } finally {
      await limited.close();
    }
  });

  it('a server exposes only the event types its config.events names; a name none gives is warned of', async () => {
    const created = await unwrap(
      s.api.POST('/mcp_manager', {
        body: {
          name: 'picky',
          mode: 'NORMAL',
          connectorInstanceId: s.instanceId,
          config: { events: ['github.push', 'getRepo', 'github.nope'] },
        },
      }),
    );
    const detail = await unwrap(s.api.GET('/mcp_manager/{id}', { params: { path: { id: created.id } } }));
    expect(detail.warnings).toEqual([
      `event type "getRepo" (config.events) is given by none of the server's connector instances`,
      `event type "github.nope" (config.events) is given by none of the server's connector instances`,
    ]);
    const picky = await sdkClient(created.url, s.stack.bootstrapKey);
    try {
      const listed = await picky.request({ method: 'events/list', params: {} }, List);
      expect(listed.events.map((e) => e.name)).toEqual(['github.push']);
    } finally {
      await picky.close();
    }
  });

  it('a SMART server lists and serves the event types its config.events names, from the workspace’s instances', async () => {
    const created = await unwrap(
      s.api.POST('/mcp_manager', {
        body: { name: 'smart-events', mode: 'SMART', config: { events: ['github.push'] } },
      }),
    );
    const smart = await sdkClient(created.url, s.stack.bootstrapKey);
    try {
      const caps = smart.getServerCapabilities() as { extensions?: Record<string, unknown> };
      expect(caps.extensions?.['io.modelcontextprotocol/events']).toEqual({ listChanged: false });
      const listed = await smart.request({ method: 'events/list', params: {} }, List);
      expect(listed.events.map((e) => e.name)).toEqual(['github.push']);
      const args = { repository: 'acme/smart' };
      const first = await poll(smart, { name: 'github.push', arguments: args, cursor: null });
      const { id: subscriptionId, stored } = await subscriptionFor(s.redis, s.instanceId, 'acme/smart');
      expect(stored).toMatchObject({ serverId: created.id, delivery: 'poll' });
      await give(
        s.redis,
        { instanceId: s.instanceId, subscriptionId },
        { eventId: 'evt-smart', name: 'github.push', data: { ref: 'refs/heads/main' } },
      );
      const next = await poll(smart, { name: 'github.push', arguments: args, cursor: first.cursor });
      expect(next.events.map((e) => e.eventId)).toEqual(['evt-smart']);
    } finally {
      await smart.close();
    }
  });

  it('polls: the first poll registers and gives a cursor; given occurrences come in order, in pages', async () => {
    const args = { repository: 'acme/app' };
    const first = await poll(client, { name: 'github.push', arguments: args, cursor: null });
    expect(first).toMatchObject({ events: [], truncated: false, hasMore: false });
    const { id: subscriptionId, stored } = await subscriptionFor(s.redis, s.instanceId, 'acme/app');
    expect(subscriptionId).toMatch(/^sub_/);
    expect(stored).toMatchObject({ delivery: 'poll', name: 'github.push', principal: { keyId: expect.any(String) } });
    for (const id of ['evt-1', 'evt-2', 'evt-3'])
      await give(
        s.redis,
        { instanceId: s.instanceId, subscriptionId },
        {
          eventId: id,
          name: 'github.push',
          data: { ref: 'refs/heads/main', n: id },
        },
      );
    const page = await poll(client, { name: 'github.push', arguments: args, cursor: first.cursor, maxEvents: 2 });
    expect(page.events.map((e) => e.eventId)).toEqual(['evt-1', 'evt-2']);
    expect(page).toMatchObject({ hasMore: true, truncated: false });
    const rest = await poll(client, { name: 'github.push', arguments: args, cursor: page.cursor });
    expect(rest.events.map((e) => e.eventId)).toEqual(['evt-3']);
    expect(rest.events[0]).toMatchObject({ name: 'github.push', data: { ref: 'refs/heads/main' } });
    expect(rest.hasMore).toBe(false);
    const again = await poll(client, { name: 'github.push', arguments: args, cursor: rest.cursor });
    expect(again.events).toEqual([]);
    expect(again.cursor).toBe(rest.cursor);
  });

  it('bounds the subscriptions one anonymous caller holds; the source still takes other callers’', async () => {
    const open = await unwrap(
      s.api.POST('/mcp_manager', {
        body: {
          name: 'repos-public',
          mode: 'NORMAL',
          connectorInstanceId: s.instanceId,
          isPublic: true,
          config: { events: ['github.push'] },
        },
      }),
    );
    const anonymous = new Client({ name: 'events-anonymous', version: '1.0.0' });
    await anonymous.connect(new StreamableHTTPClientTransport(new URL(open.url)));
    try {
      // Each poll with new arguments registers a subscription: twenty are this caller's share.
      for (let i = 0; i < 20; i++)
        await poll(anonymous, { name: 'github.push', arguments: { repository: `anon/r${i}` }, cursor: null });
      const refused = poll(anonymous, { name: 'github.push', arguments: { repository: 'anon/r20' }, cursor: null });
      await expect(refused).rejects.toMatchObject({ code: -32025, data: { limit: 'subscriptions', max: 20 } });
      await expect(refused).rejects.toThrow('You already have your most subscriptions to this event source');
      // One of its own again is a refresh, not a new one.
      const again = await poll(anonymous, { name: 'github.push', arguments: { repository: 'anon/r0' }, cursor: null });
      expect(again.events).toEqual([]);
      // Another caller of the same source is not refused.
      const keyed = await poll(client, { name: 'github.push', arguments: { repository: 'acme/other' }, cursor: null });
      expect(keyed.cursor).toEqual(expect.any(String));
    } finally {
      await anonymous.close();
    }
  });

  it('refuses arguments its inputSchema does not take, with Ajv’s errors; an unknown event type is NotFound', async () => {
    const bad = poll(client, { name: 'github.push', arguments: { repository: 'no-slash' }, cursor: null });
    await expect(bad).rejects.toMatchObject({ code: -32602 });
    await bad.catch((err: { data?: { errors?: { path: string }[] } }) =>
      expect(err.data?.errors?.[0]?.path).toBe('/repository'),
    );
    await expect(poll(client, { name: 'github.nope', cursor: null })).rejects.toMatchObject({
      code: -32023,
      data: { kind: 'event' },
    });
  });

  it('streams (2025-11-25): active first, each occurrence as it is given, heartbeats with the cursor, until cancelled', () =>
    streamCase(client, 'acme/stream'));

  it('streams (2026-07-28): the extension in server/discover; the same stream, ended by aborting its request', async () => {
    const modern = await sdkClient(s.server.url, s.stack.bootstrapKey, '2026');
    try {
      const caps = modern.getServerCapabilities() as { extensions?: Record<string, unknown> };
      expect(caps.extensions?.['io.modelcontextprotocol/events']).toEqual({ listChanged: false });
      await streamCase(modern, 'acme/modern');
    } finally {
      await modern.close();
    }
  });
});

/** Opens a stream on `c`, gives it one occurrence, sees it and a heartbeat, cancels, and sees its connection released. */
async function streamCase(c: Client, repository: string): Promise<void> {
  const seen: { method: string; params: Record<string, unknown> }[] = [];
  for (const method of ['active', 'event', 'heartbeat'])
    c.setNotificationHandler(`notifications/events/${method}`, { params: z.looseObject({}) }, (params) => {
      seen.push({ method, params: params as Record<string, unknown> });
    });
  const abort = new AbortController();
  const streaming = c
    .request(
      {
        method: 'events/stream',
        params: { name: 'github.push', arguments: { repository }, cursor: null },
      },
      z.looseObject({}),
      { signal: abort.signal, timeout: 600_000 },
    )
    .catch((err: unknown) => err);
  await waitFor('the stream is active', () => seen.some((n) => n.method === 'active'));
  expect(seen[0]).toMatchObject({ method: 'active', params: { truncated: false } });
  const pushSub = await subscriptionFor(s.redis, s.instanceId, repository);
  expect(pushSub.stored).toMatchObject({ delivery: 'push', arguments: { repository } });
  const cursor = await give(
    s.redis,
    { instanceId: s.instanceId, subscriptionId: pushSub.id },
    {
      eventId: 'evt-stream-1',
      name: 'github.push',
      data: { ref: 'refs/heads/dev' },
    },
  );
  await waitFor('the occurrence arrives', () => seen.some((n) => n.method === 'event'));
  const event = seen.find((n) => n.method === 'event')!;
  expect(event.params).toMatchObject({ eventId: 'evt-stream-1', cursor, data: { ref: 'refs/heads/dev' } });
  const meta = event.params._meta as Record<string, unknown>;
  expect(meta['io.modelcontextprotocol/subscriptionId']).toBeDefined();
  await waitFor('a heartbeat after it', () => seen.some((n) => n.method === 'heartbeat' && n.params.cursor === cursor));
  abort.abort();
  await streaming;
  // Its blocking connection is released: no client of this stack's prefix blocks in XREAD any more.
  await waitFor('the stream’s connection closed', async () => {
    const list = (await s.redis.client('LIST')) as string;
    return !list.split('\n').some((l) => l.includes('cmd=xread') && l.includes('edge-events-stream'));
  });
}

/** The application's private subscription store (@ai-sdk/mcp asks for one). */
class MemoryStore implements MCPEventStore {
  readonly subs = new Map<string, MCPEventSubscription>();
  async get(key: string) {
    return this.subs.get(key);
  }
  async getById(id: string) {
    return [...this.subs.values()].find((x) => x.id === id);
  }
  async set(sub: MCPEventSubscription) {
    this.subs.set(sub.key, sub);
  }
  async update(key: string, patch: Partial<MCPEventSubscription>) {
    const was = this.subs.get(key);
    if (was) this.subs.set(key, { ...was, ...patch });
  }
  async delete(key: string) {
    this.subs.delete(key);
  }
}

describe('@ai-sdk/mcp experimental_events', () => {
  it('subscribes by webhook, refreshes, unsubscribes; the secret is sealed, each change is in the audit trail', async () => {
    const store = new MemoryStore();
    const ai = await createMCPClient({
      transport: { type: 'http', url: s.server.url, headers: { 'x-api-key': s.stack.bootstrapKey } },
      experimental_events: { store },
    });
    try {
      const listed = await ai.experimental_events.list();
      expect(listed.events.map((e) => e.name).sort()).toEqual(['github.issue_opened', 'github.push']);
      const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
      const subscribed = await ai.experimental_events.subscribe({
        name: 'github.push',
        arguments: { repository: 'acme/hooks' },
        delivery: { mode: 'webhook', url: 'http://127.0.0.1:9/hooks', allowInsecureLocalhost: true, secret },
        ttlMs: 120_000,
      });
      expect(subscribed.id).toMatch(/^sub_/);
      expect(Date.parse(subscribed.refreshBefore!) - Date.now()).toBeLessThanOrEqual(120_000);
      const raw = await s.redis.hget(`{ev:${s.instanceId}}:subs`, subscribed.id);
      expect(JSON.parse(raw!)).toMatchObject({
        delivery: 'webhook',
        callback: { url: expect.stringContaining('/hooks') },
      });
      expect(raw).not.toContain(secret.slice(6));
      const refreshed = await ai.experimental_events.refresh({ id: subscribed.id });
      expect(refreshed.id).toBe(subscribed.id);
      await ai.experimental_events.unsubscribe({ id: subscribed.id });
      expect(await s.redis.hexists(`{ev:${s.instanceId}}:subs`, subscribed.id)).toBe(0);
      await waitFor('both audit events', async () => {
        const page = await unwrap(s.api.GET('/audit_events', { params: { query: { action: 'event.*' } } }));
        const mine = page.data.filter((e) => e.resource.id === subscribed.id).map((e) => e.action);
        return mine.includes('event.subscribed') && mine.includes('event.unsubscribed');
      });
      // The secret is nowhere but in the client's store: not in Redis in clear, not in a log, not in a database row
      // (the audit events included).
      const leaked = (text: string) => text.includes(secret) || text.includes(secret.slice(6));
      const logs = readdirSync(join(s.stack.dataDir, 'logs')).map((f) =>
        readFileSync(join(s.stack.dataDir, 'logs', f), 'utf8'),
      );
      expect(logs.filter(leaked)).toEqual([]);
      expect((await dumpPostgres(s.stack)).rows.filter(leaked)).toEqual([]);
    } finally {
      await ai.close();
    }
  });
});

describe('a subscription refused or let through by a condition is in the audit trail, as a call is', () => {
  it('a false condition refuses the poll (the policy named); a log-only one lets it subscribe and records its would-be refusal', async () => {
    const since = new Date().toISOString();
    const keyFor = async (name: string, enforce: boolean) => {
      const key = await unwrap(s.api.POST('/api_keys', { body: { name, scopes: ['runtime'] } }));
      const policy = await unwrap(
        s.api.POST('/access_policies', {
          body: {
            name,
            principals: [{ type: 'api_key', value: key.id }],
            servers: [s.server.id],
            tools: ['github.push'],
            condition: 'args.repository == "acme/only"',
            ...(enforce ? {} : { enforce: false }),
          },
        }),
      );
      return { key, policy, client: await sdkClient(s.server.url, key.key) };
    };
    const enforced = await keyFor('audited-enforced', true);
    const logged = await keyFor('audited-log-only', false);
    try {
      const args = { repository: 'acme/other' };
      // Until the policies reached the edge: the log-only key is granted the event type, the other refused by its condition.
      const sub = await waitFor('the log-only key subscribes', () =>
        poll(logged.client, { name: 'github.push', arguments: args, cursor: null }).catch(() => undefined),
      );
      expect(sub.events).toEqual([]);
      await expect(poll(enforced.client, { name: 'github.push', arguments: args, cursor: null })).rejects.toThrow(
        /access policy "audited-enforced".* is false/,
      );
      const found = (action: string, actor: string) =>
        waitFor(`${action} of ${actor}`, async () => {
          const page = await unwrap(s.api.GET('/audit_events', { params: { query: { action, from: since } } }));
          return page.data.find((e) => e.actor.id === actor);
        });
      const refused = await found('tool.call_refused', enforced.key.id);
      expect(refused).toMatchObject({
        outcome: 'refused',
        resource: { type: 'tool', id: `${s.server.id}/github.push` },
        details: { policy: { id: enforced.policy.id, name: 'audited-enforced' }, tool: 'github.push' },
      });
      const would = await found('access.would_refuse', logged.key.id);
      const { id: subscriptionId } = await subscriptionFor(s.redis, s.instanceId, 'acme/other', logged.key.id);
      expect(would).toMatchObject({
        outcome: 'success',
        resource: { type: 'access_policy', id: logged.policy.id },
        details: { would: 'refuse', tool: 'github.push', invocationId: subscriptionId },
      });
      // Never the arguments' values.
      expect(JSON.stringify([refused, would])).not.toContain('acme/other');
    } finally {
      await enforced.client.close();
      await logged.client.close();
    }
  }, 120_000);
});

describe('end to end: a provider’s signed delivery, through the worker, to subscriptions made at the edge', () => {
  it('a push signed as GitHub signs it reaches a poll, a stream and an @ai-sdk/mcp webhook subscription', async () => {
    const githubSecret = `gh-${randomBytes(12).toString('hex')}`;
    await unwrap(
      s.api.PATCH('/connector_instances/{id}', {
        params: { path: { id: s.instanceId } },
        body: { webhook_secret: githubSecret } as never,
      }),
    );
    const hookSecret = `whsec_${randomBytes(32).toString('base64')}`;
    const received: { body: string; headers: Record<string, string> }[] = [];
    const callback = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        received.push({ body, headers: req.headers as Record<string, string> });
        const message = JSON.parse(body) as { type?: string; challenge?: string };
        if (message.type === 'verification') return void res.writeHead(200).end(message.challenge);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
    const ai = await createMCPClient({
      transport: { type: 'http', url: s.server.url, headers: { 'x-api-key': s.stack.bootstrapKey } },
      experimental_events: { store: new MemoryStore() },
    });
    // A stream held open on a client of its own (its notification handlers are its own).
    const streamer = await sdkClient(s.server.url, s.stack.bootstrapKey);
    const streamed: Record<string, unknown>[] = [];
    let active = false;
    streamer.setNotificationHandler('notifications/events/active', { params: z.looseObject({}) }, () => {
      active = true;
    });
    streamer.setNotificationHandler('notifications/events/event', { params: z.looseObject({}) }, (params) => {
      streamed.push(params as Record<string, unknown>);
    });
    const abort = new AbortController();
    try {
      const args = { repository: 'acme/e2e' };
      const streaming = streamer
        .request(
          { method: 'events/stream', params: { name: 'github.push', arguments: args, cursor: null } },
          z.looseObject({}),
          { signal: abort.signal, timeout: 600_000 },
        )
        .catch((err: unknown) => err);
      await waitFor('the stream is active', () => active);
      const registered = await poll(client, { name: 'github.push', arguments: args, cursor: null });
      expect(registered.events).toEqual([]);
      const url = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/events`;
      await ai.experimental_events.subscribe({
        name: 'github.push',
        arguments: args,
        delivery: { mode: 'webhook', url, allowInsecureLocalhost: true, secret: hookSecret },
        ttlMs: 120_000,
      });
      // The provider's delivery, signed with the instance's webhook secret, to the edge's inbound URL.
      const id = randomUUID();
      const body = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'acme/e2e' } });
      const signature = `sha256=${createHmac('sha256', githubSecret).update(body).digest('hex')}`;
      const res = await fetch(`${s.stack.edgeUrl}/hooks/${s.instanceId}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': id,
          'x-hub-signature-256': signature,
        },
        body,
      });
      expect(res.status).toBe(202);
      const polled = await waitFor('the push, polled', async () => {
        const r = await poll(client, { name: 'github.push', arguments: args, cursor: registered.cursor });
        return r.events.length > 0 ? r : undefined;
      });
      expect(polled.events).toEqual([
        expect.objectContaining({ eventId: id, name: 'github.push', data: JSON.parse(body) }),
      ]);
      const hooked = await waitFor('the push, POSTed to the callback', () => received.find((r) => r.body.includes(id)));
      expect(new Webhook(hookSecret).verify(hooked.body, hooked.headers)).toMatchObject({ eventId: id });
      expect(hooked.headers['webhook-id']).toBe(id);
      const pushed = await waitFor('the push, streamed', () => streamed.find((e) => e.eventId === id));
      expect(pushed).toMatchObject({ name: 'github.push', data: JSON.parse(body) });
      abort.abort();
      await streaming;
    } finally {
      abort.abort();
      await streamer.close();
      await ai.close();
      callback.closeAllConnections();
      await new Promise<void>((r) => callback.close(() => r()));
    }
  }, 120_000);
});

describe('a subscriber’s credential, judged at each delivery (issue #89)', () => {
  const githubSecret = `gh-${randomBytes(12).toString('hex')}`;
  /** What the callback received, by the path it was posted to. */
  const received: { path: string; body: string }[] = [];
  const callback = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ path: req.url ?? '', body });
      const message = JSON.parse(body) as { type?: string; challenge?: string };
      if (message.type === 'verification') return void res.writeHead(200).end(message.challenge);
      res.writeHead(204).end();
    });
  });
  const opened: Client[] = [];

  beforeAll(async () => {
    await unwrap(
      s.api.PATCH('/connector_instances/{id}', {
        params: { path: { id: s.instanceId } },
        body: { webhook_secret: githubSecret } as never,
      }),
    );
    await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
  });

  afterAll(async () => {
    for (const c of opened) await c.close().catch(() => undefined);
    callback.closeAllConnections();
    await new Promise<void>((r) => callback.close(() => r()));
  });

  const callbackUrl = (path: string) => `http://127.0.0.1:${(callback.address() as AddressInfo).port}/${path}`;
  const hooked = (path: string, eventId: string) =>
    received.some((r) => r.path === `/${path}` && r.body.includes(eventId));

  /** A provider's signed push of `repository` through the inbound URL; its delivery id (the occurrence's eventId). */
  async function push(repository: string): Promise<string> {
    const id = randomUUID();
    // Each push names its own commit, as GitHub's do: a signed body sent again is a replay (ADR 0089).
    const after = randomBytes(20).toString('hex');
    const body = JSON.stringify({ ref: 'refs/heads/main', after, repository: { full_name: repository } });
    const res = await fetch(`${s.stack.edgeUrl}/hooks/${s.instanceId}`, {
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

  /** The stored subscriptions of the instance made with this key (any delivery). */
  async function subscriptionsOf(keyId: string): Promise<string[]> {
    const all = await s.redis.hgetall(`{ev:${s.instanceId}}:subs`);
    return Object.values(all).filter((raw) => raw.includes(`"keyId":"${keyId}"`));
  }

  /** A stream, a poll and a webhook subscription of `c` to pushes of `repository`, the webhook posting to `path`. */
  async function subscribeEveryWay(c: Client, repository: string, path: string) {
    const args = { repository };
    const streamed: string[] = [];
    const state = { active: false, terminated: undefined as unknown };
    c.setNotificationHandler('notifications/events/active', { params: z.looseObject({}) }, () => {
      state.active = true;
    });
    c.setNotificationHandler('notifications/events/event', { params: z.looseObject({}) }, (p) => {
      streamed.push(String((p as { eventId?: unknown }).eventId));
    });
    c.setNotificationHandler('notifications/events/terminated', { params: z.looseObject({}) }, (p) => {
      state.terminated = p;
    });
    const streaming = c
      .request(
        { method: 'events/stream', params: { name: 'github.push', arguments: args, cursor: null } },
        z.looseObject({}),
        { timeout: 600_000 },
      )
      .catch((err: unknown) => err);
    await waitFor('the stream is active', () => state.active);
    const registered = await poll(c, { name: 'github.push', arguments: args, cursor: null });
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    await c.request(
      {
        method: 'events/subscribe',
        params: { name: 'github.push', arguments: args, delivery: { mode: 'webhook', url: callbackUrl(path), secret } },
      },
      z.looseObject({}),
    );
    return { streamed, state, streaming, cursor: registered.cursor };
  }

  it.each<[string, (keyId: string) => Promise<void>]>([
    [
      'deleted',
      async (id) => {
        const res = await s.api.DELETE('/api_keys/{id}', { params: { path: { id } } });
        expect(res.response.status).toBe(204);
      },
    ],
    [
      'limited to another server',
      async (id) => {
        await unwrap(s.api.PATCH('/api_keys/{id}', { params: { path: { id } }, body: { serverIds: [s.plain.id] } }));
      },
    ],
  ])(
    'a key %s after subscribing: its webhook, poll and stream subscriptions end, the stream is told, the next event reaches none',
    async (label, change) => {
      const key = await unwrap(s.api.POST('/api_keys', { body: { name: `events-${label}`, scopes: ['runtime'] } }));
      const c = await sdkClient(s.server.url, key.key);
      opened.push(c);
      const repository = `acme/${randomUUID().slice(0, 8)}`;
      const path = randomUUID();
      const subs = await subscribeEveryWay(c, repository, path);
      expect(await subscriptionsOf(key.id)).toHaveLength(3);
      const first = await push(repository);
      await waitFor('the first push, by webhook, poll and stream', async () => {
        const polled = await poll(c, { name: 'github.push', arguments: { repository }, cursor: subs.cursor });
        return hooked(path, first) && subs.streamed.includes(first) && polled.events.some((e) => e.eventId === first);
      });
      await change(key.id);
      const second = await push(repository);
      // Each is ended where it is judged: the stream by its edge, the poll and webhook subscriptions by the fan-out.
      await waitFor('its subscriptions ended', async () => (await subscriptionsOf(key.id)).length === 0);
      await waitFor('the stream told it ended', () => subs.state.terminated !== undefined);
      expect(subs.state.terminated).toMatchObject({ error: { message: expect.stringMatching(/Access revoked/) } });
      await subs.streaming;
      // The bootstrap key's subscription to the same pushes got the second one: the fan-out has run for it.
      const control = await poll(client, { name: 'github.push', arguments: { repository }, cursor: null });
      await push(repository);
      await waitFor('a later push, polled by the bootstrap key', async () => {
        const r = await poll(client, { name: 'github.push', arguments: { repository }, cursor: control.cursor });
        return r.events.length > 0;
      });
      expect(subs.streamed).not.toContain(second);
      expect(hooked(path, second)).toBe(false);
    },
    120_000,
  );

  it('a narrowed token: its webhook subscription lives no longer than the token, is its own, and ends when the token is revoked', async () => {
    const key = await unwrap(s.api.POST('/api_keys', { body: { name: 'events-narrowed', scopes: ['runtime'] } }));
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: key.key,
      subject_token_type: 'urn:toolplane:params:oauth:token-type:api_key',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      authorization_details: JSON.stringify([{ type: 'toolplane_delegation', expires_in: 600 }]),
    });
    const exchanged = await fetch(`${s.stack.edgeUrl}/oauth/token-exchange`, { method: 'POST', body: form });
    expect(exchanged.status).toBe(200);
    const { access_token: token, authorization_details: details } = (await exchanged.json()) as {
      access_token: string;
      authorization_details: { token_id: string }[];
    };
    const c = new Client({ name: 'events-narrowed', version: '1.0.0' });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(s.server.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    opened.push(c);
    const repository = `acme/${randomUUID().slice(0, 8)}`;
    const path = randomUUID();
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const subscribed = await c.request(
      {
        method: 'events/subscribe',
        params: {
          name: 'github.push',
          arguments: { repository },
          delivery: { mode: 'webhook', url: callbackUrl(path), secret },
          ttlMs: null,
        },
      },
      z.looseObject({ id: z.string(), refreshBefore: z.string() }),
    );
    // The most a webhook TTL may be is a day; the token lives ten minutes, and so does its subscription.
    expect(Date.parse(subscribed.refreshBefore) - Date.now()).toBeLessThanOrEqual(600_000);
    const stored = JSON.parse((await s.redis.hget(`{ev:${s.instanceId}}:subs`, subscribed.id))!) as {
      principal: Record<string, string>;
    };
    expect(stored.principal).toMatchObject({ keyId: key.id, tokenId: details[0]!.token_id });
    const first = await push(repository);
    await waitFor('the first push, by webhook', () => hooked(path, first));
    const revoked = await fetch(`${s.stack.edgeUrl}/oauth/revoke`, {
      method: 'POST',
      body: new URLSearchParams({ token }),
    });
    expect(revoked.status).toBe(200);
    const second = await push(repository);
    await waitFor(
      'the subscription ended',
      async () => (await s.redis.hexists(`{ev:${s.instanceId}}:subs`, subscribed.id)) === 0,
    );
    // Its key's own subscription to the same pushes got the second one: the fan-out has run for it.
    const own = await sdkClient(s.server.url, key.key);
    opened.push(own);
    const registered = await poll(own, { name: 'github.push', arguments: { repository }, cursor: null });
    const third = await push(repository);
    await waitFor('a later push, polled by the key', async () => {
      const r = await poll(own, { name: 'github.push', arguments: { repository }, cursor: registered.cursor });
      return r.events.some((e) => e.eventId === third);
    });
    expect(hooked(path, second)).toBe(false);
    expect(hooked(path, third)).toBe(false);
  }, 120_000);

  it.each(['poll', 'webhook'] as const)(
    'a narrowed token’s calls are spent by the occurrences its %s subscription is given; none left ends it, saying so',
    async (mode) => {
      const key = await unwrap(
        s.api.POST('/api_keys', { body: { name: `events-budget-${mode}`, scopes: ['runtime'] } }),
      );
      const form = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: key.key,
        subject_token_type: 'urn:toolplane:params:oauth:token-type:api_key',
        requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        authorization_details: JSON.stringify([{ type: 'toolplane_delegation', calls: 1 }]),
      });
      const exchanged = await fetch(`${s.stack.edgeUrl}/oauth/token-exchange`, { method: 'POST', body: form });
      expect(exchanged.status).toBe(200);
      const { access_token: token, authorization_details: details } = (await exchanged.json()) as {
        access_token: string;
        authorization_details: { token_id: string }[];
      };
      const c = new Client({ name: `events-budget-${mode}`, version: '1.0.0' });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(s.server.url), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      opened.push(c);
      const repository = `acme/${randomUUID().slice(0, 8)}`;
      const path = randomUUID();
      const subscribe = () =>
        c.request(
          {
            method: 'events/subscribe',
            params: {
              name: 'github.push',
              arguments: { repository },
              delivery: {
                mode: 'webhook',
                url: callbackUrl(path),
                secret: `whsec_${randomBytes(32).toString('base64')}`,
              },
            },
          },
          z.looseObject({ id: z.string() }),
        );
      const registered =
        mode === 'poll' ? await poll(c, { name: 'github.push', arguments: { repository }, cursor: null }) : undefined;
      if (mode === 'webhook') await subscribe();
      expect(await subscriptionsOf(key.id)).toHaveLength(1);
      const first = await push(repository);
      await waitFor('the first push given', async () =>
        mode === 'webhook'
          ? hooked(path, first)
          : (await poll(c, { name: 'github.push', arguments: { repository }, cursor: registered!.cursor })).events.some(
              (e) => e.eventId === first,
            ),
      );
      // The occurrence spent the token's one call, in the counter its tool calls spend.
      expect(await s.redis.get(`${s.stack.redisPrefix}:delegation:calls:${details[0]!.token_id}`)).toBe('1');
      const second = await push(repository);
      await waitFor('the subscription ended', async () => (await subscriptionsOf(key.id)).length === 0);
      const again =
        mode === 'webhook'
          ? subscribe()
          : poll(c, { name: 'github.push', arguments: { repository }, cursor: registered!.cursor });
      await expect(again).rejects.toThrow(/has no calls left: each event given to its subscriptions spends one/);
      expect(await subscriptionsOf(key.id)).toHaveLength(0);
      expect(hooked(path, second)).toBe(false);
    },
    120_000,
  );

  it('a narrowed token lists, polls and subscribes to no event type its key is not granted, and within its conditions', async () => {
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: s.limitedKey,
      subject_token_type: 'urn:toolplane:params:oauth:token-type:api_key',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      authorization_details: JSON.stringify([
        { type: 'toolplane_delegation', tools: ['github.push', 'github.issue_opened'] },
      ]),
    });
    const exchanged = await fetch(`${s.stack.edgeUrl}/oauth/token-exchange`, { method: 'POST', body: form });
    expect(exchanged.status).toBe(200);
    const { access_token: token } = (await exchanged.json()) as { access_token: string };
    const c = new Client({ name: 'events-narrowed-grant', version: '1.0.0' });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(s.server.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    opened.push(c);
    const listed = await c.request({ method: 'events/list', params: {} }, List);
    expect(listed.events.map((e) => e.name)).toEqual(['github.push']);
    await expect(poll(c, { name: 'github.issue_opened', arguments: {}, cursor: null })).rejects.toThrow(
      /no access policy grants/,
    );
    // A narrowed token's conditions bound its subscriptions as they bound its calls.
    const conditioned = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: s.limitedKey,
      subject_token_type: 'urn:toolplane:params:oauth:token-type:api_key',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      authorization_details: JSON.stringify([
        { type: 'toolplane_delegation', condition: 'args.repository == "acme/only"' },
      ]),
    });
    const second = await fetch(`${s.stack.edgeUrl}/oauth/token-exchange`, { method: 'POST', body: conditioned });
    expect(second.status).toBe(200);
    const bound = new Client({ name: 'events-narrowed-condition', version: '1.0.0' });
    await bound.connect(
      new StreamableHTTPClientTransport(new URL(s.server.url), {
        requestInit: {
          headers: { authorization: `Bearer ${((await second.json()) as { access_token: string }).access_token}` },
        },
      }),
    );
    opened.push(bound);
    await expect(
      poll(bound, { name: 'github.push', arguments: { repository: 'acme/other' }, cursor: null }),
    ).rejects.toThrow(/allows the event type "github.push" only when/);
    const allowed = await poll(bound, { name: 'github.push', arguments: { repository: 'acme/only' }, cursor: null });
    expect(allowed.events).toEqual([]);
  });
});
