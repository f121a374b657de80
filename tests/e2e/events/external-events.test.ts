import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/client';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { createMcpHandler, Server, type ListToolsResult } from '@modelcontextprotocol/server';
import type { Stack } from '@toolplane/cli';
import { type components, type ManagementClient, unwrap } from '@toolplane/client';
import { z } from 'zod';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { sdkClient } from './fixture.ts';

// External MCP servers' events relayed (docs/events.md "External MCP servers' events"): an external server of this
// test's own (the official SDK's Server) declares the MCP Events extension and answers events/list and events/poll
// from an in-memory list. Toolplane lists its event types when it lists its tools, pins them like its tools, exposes
// those the hosted server's config.events names, and the worker polls the external server for a subscription's
// events (with the server's credentials, which stay in the worker) and fans each out like an inbound delivery's.

const TOKEN = 'Bearer ext-events-credential-5d1f0c';
type EventType = { name: string; description: string; inputSchema: object; payloadSchema: object };
const eventTypes: EventType[] = [
  {
    name: 'ticket.created',
    description: 'A ticket was opened',
    inputSchema: { type: 'object', properties: { queue: { type: 'string' } } },
    payloadSchema: { type: 'object', properties: { id: { type: 'string' } } },
  },
];
/** What the external server produced (its cursor: an index into this list). */
const produced: { eventId: string; name: string; timestamp: string; data: Record<string, unknown> }[] = [];
/** Each events/poll it was sent (every request without the credential is refused with a 401 before it is read). */
const polls: { params: Record<string, unknown> }[] = [];

const PollParams = z.looseObject({
  name: z.string(),
  arguments: z.record(z.string(), z.unknown()).optional(),
  cursor: z.string().nullish(),
});

function eventsServer(): Server {
  const s = new Server(
    { name: 'ext-events', version: '1.0.0' },
    {
      capabilities: {
        tools: {},
        extensions: { 'io.modelcontextprotocol/events': { listChanged: false } },
      } as never,
    },
  );
  s.setRequestHandler('tools/list', () => ({ tools: [] }) as ListToolsResult);
  s.setRequestHandler('events/list', { params: z.looseObject({}) }, () => ({
    events: eventTypes.map((t) => ({ ...t, delivery: ['poll'] })),
  }));
  s.setRequestHandler('events/poll', { params: PollParams }, (params) => {
    polls.push({ params });
    const from = params.cursor ? Number(params.cursor) : produced.length;
    const events = produced.slice(from).filter((e) => e.name === params.name);
    return { events, cursor: String(produced.length), truncated: false, hasMore: false, nextPollMs: 0 };
  });
  return s;
}

let external: { url: string; close: () => Promise<void> };
let stack: Stack;
let api: ManagementClient;
let hosted: components['schemas']['McpServer'];
let registryId: string;
let agent: Client;

beforeAll(async () => {
  const handler = toNodeHandler(createMcpHandler(() => eventsServer()));
  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== TOKEN) return void res.writeHead(401).end();
    void handler(req, res);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  external = {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    close: () =>
      new Promise<void>((r) => {
        http.closeAllConnections();
        http.close(() => r());
      }),
  };
  ({ stack, api } = await startTestStack('external-events', {
    logLevel: 'warn',
    serviceEnv: { 'control-plane': { EXTERNAL_TOOLS_REFRESH_SECONDS: '0.5' } },
  }));
  const entry = await unwrap(
    api.POST('/external_mcp_servers', {
      body: { name: 'tickets', url: external.url, headers: { authorization: TOKEN } },
    }),
  );
  registryId = entry.id;
  hosted = await unwrap(
    api.POST('/mcp_manager', {
      body: {
        name: 'ext-events',
        mode: 'NORMAL',
        externalMcpServers: [{ name: 'tickets', tools: [] }],
        config: { events: ['ticket.created'] },
      },
    }),
  );
  agent = await sdkClient(hosted.url, stack.bootstrapKey);
}, 180_000);

afterAll(async () => {
  await agent?.close();
  await stack?.stop();
  await external?.close();
});

const List = z.looseObject({
  events: z.array(z.looseObject({ name: z.string(), payloadSchema: z.record(z.string(), z.unknown()) })),
});
const Poll = z.looseObject({
  events: z.array(z.looseObject({ eventId: z.string(), name: z.string(), data: z.unknown() })),
  cursor: z.string().nullable(),
});
const listed = async () => (await agent.request({ method: 'events/list', params: {} }, List)).events;

describe('an external MCP server’s events, relayed', () => {
  it('lists the external server’s event type, and delivers its event to a poll, with the same eventId', async () => {
    expect((await listed()).map((e) => e.name)).toEqual(['ticket.created']);
    const args = { queue: 'support' };
    const first = await agent.request(
      { method: 'events/poll', params: { name: 'ticket.created', arguments: args, cursor: null } },
      Poll,
    );
    // The worker polls the external server for this subscription (its arguments), with the server's credential.
    await waitFor('the worker polls the external server', () =>
      polls.some(
        (p) => p.params.name === 'ticket.created' && JSON.stringify(p.params.arguments) === '{"queue":"support"}',
      ),
    );
    produced.push({
      eventId: 'ext-evt-1',
      name: 'ticket.created',
      timestamp: new Date().toISOString(),
      data: { id: 'T-1', queue: 'support' },
    });
    const got = await waitFor('the external event, polled through Toolplane', async () => {
      const r = await agent.request(
        { method: 'events/poll', params: { name: 'ticket.created', arguments: args, cursor: first.cursor } },
        Poll,
      );
      return r.events.length > 0 ? r : undefined;
    });
    expect(got.events).toEqual([
      expect.objectContaining({ eventId: 'ext-evt-1', name: 'ticket.created', data: { id: 'T-1', queue: 'support' } }),
    ]);
    // The credential stays in the worker: no other service logged it.
    const logs = readdirSync(join(stack.dataDir, 'logs'))
      .filter((f) => !f.startsWith('worker'))
      .map((f) => readFileSync(join(stack.dataDir, 'logs', f), 'utf8'));
    expect(logs.filter((l) => l.includes(TOKEN.slice(7)))).toEqual([]);
  });

  it('holds a changed event type for review: its pinned schema is served until the change is accepted', async () => {
    eventTypes[0] = {
      ...eventTypes[0]!,
      payloadSchema: { type: 'object', properties: { id: { type: 'string' }, secret_note: { type: 'string' } } },
    };
    const changes = async () =>
      (await unwrap(api.GET('/external_mcp_servers/{id}/changes', { params: { path: { id: registryId } } }))).data;
    const held = await waitFor('the changed event type held', async () =>
      (await changes()).find((c) => c.kind === 'event' && c.name === 'ticket.created'),
    );
    expect(held).toMatchObject({ kind: 'event', name: 'ticket.created', change: 'changed' });
    expect((await listed())[0]!.payloadSchema).toEqual({ type: 'object', properties: { id: { type: 'string' } } });
    await unwrap(
      api.POST('/external_mcp_servers/{id}/changes/{changeId}/accept', {
        params: { path: { id: registryId, changeId: held.id } },
      }),
    );
    await waitFor('the accepted schema served', async () =>
      'secret_note' in ((((await listed())[0]?.payloadSchema ?? {}) as { properties?: object }).properties ?? {})
        ? true
        : undefined,
    );
  });
});
