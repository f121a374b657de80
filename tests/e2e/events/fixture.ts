import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { Redis } from 'ioredis';
import { startTestStack } from '../../helpers/stack.ts';

// MCP Events e2e (docs/events.md): a stack whose server exposes event types from an OpenAPI document's `webhooks`.
// Occurrences are put into a subscription's stream by XADD, as the worker's fan-out does
// (services/worker/src/events/fan-out.ts), so these tests need no inbound delivery.

const document = {
  openapi: '3.1.0',
  info: { title: 'Repos', version: '1.0.0' },
  paths: {
    '/repos/{owner}/{repo}': {
      get: {
        operationId: 'getRepo',
        parameters: [
          { name: 'owner', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'repo', in: 'path', required: true, schema: { type: 'string' } },
        ],
        responses: { '200': { description: 'the repository' } },
      },
    },
  },
  webhooks: {
    push: {
      post: {
        operationId: 'github.push',
        summary: 'A push to a repository',
        'x-toolplane-event': { provider: 'github', types: ['push'] },
        'x-toolplane-event-filters': {
          repository: { schema: { type: 'string', pattern: '^[^/]+/[^/]+$' }, pointer: '/repository/full_name' },
        },
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: { ref: { type: 'string' }, repository: { $ref: '#/components/schemas/Repo' } },
              },
            },
          },
        },
        responses: { '200': { description: 'taken' } },
      },
    },
    issues: {
      post: {
        operationId: 'github.issue_opened',
        'x-toolplane-event': { provider: 'github', types: ['issues.opened'] },
        requestBody: { content: { 'application/json': { schema: { type: 'object' } } } },
        responses: { '200': { description: 'taken' } },
      },
    },
  },
  components: { schemas: { Repo: { type: 'object', properties: { full_name: { type: 'string' } } } } },
};

/**
 * A connector of one ping tool whose instances take Stripe-signed deliveries of `payment_intent.succeeded` as the event
 * type `payment_succeeded` (the fault tests' event source).
 */
export const stripePayConnector = {
  metadata: { name: 'pay', slug: 'pay', version: '1.0.0' },
  authentication: [],
  operations: [{ operation_id: 'ping', endpoint: 'https://api.example.com/ping', method: 'GET' }],
  mcp_config: {
    enabled: true,
    server_name: 'pay',
    server_description: 'Payments',
    route_mappings: [{ operation_id: 'ping', mcp_tool_name: 'ping', mcp_tool_description: 'Ping' }],
  },
  events: { provider: 'stripe', types: [{ name: 'payment_succeeded', match: ['payment_intent.succeeded'] }] },
};

export interface EventsStack {
  stack: Stack;
  api: ManagementClient;
  redis: Redis;
  /** The server exposing both event types, and one exposing none. */
  server: { id: string; url: string };
  plain: { id: string; url: string };
  instanceId: string;
  /** A key an access policy grants only `github.push` (and `getRepo`) on the server. */
  limitedKey: string;
}

/** `edges`: how many edges (one by default); `baseUrl`: the upstream the instance's tools call (nothing by default). */
export async function startEventsStack(
  label: string,
  edgeEnv: Record<string, string> = {},
  opts: { edges?: number; baseUrl?: string } = {},
): Promise<EventsStack> {
  const { stack, api } = await startTestStack(label, {
    logLevel: 'warn',
    edges: opts.edges ?? 1,
    serviceEnv: { edge: { EVENTS_ALLOW_LOOPBACK_CALLBACKS: 'true', ...edgeEnv } },
  });
  try {
    return await populate(stack, api, opts.baseUrl ?? 'http://127.0.0.1:9');
  } catch (err) {
    await stack.stop(); // a failed set-up must not leave the stack running
    throw err;
  }
}

async function populate(stack: Stack, api: ManagementClient, baseUrl: string): Promise<EventsStack> {
  const connector = await unwrap(
    api.POST('/connectors', {
      body: {
        kind: 'openapi',
        slug: 'repos',
        entry: 'openapi.json',
        files: { 'openapi.json': JSON.stringify(document) },
      } as never,
    }),
  );
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: {
        createServer: false,
        connector_id: connector.id,
        name: 'repos',
        base_url: baseUrl,
        credentials: {},
      },
    }),
  );
  const server = await unwrap(
    api.POST('/mcp_manager', {
      body: {
        name: 'repos',
        mode: 'NORMAL',
        connectorInstanceId: instance.id,
        config: { events: ['github.push', 'github.issue_opened'] },
      },
    }),
  );
  const plain = await unwrap(
    api.POST('/mcp_manager', { body: { name: 'plain', mode: 'NORMAL', connectorInstanceId: instance.id } }),
  );
  const limited = await unwrap(api.POST('/api_keys', { body: { name: 'limited', scopes: ['runtime'] } }));
  await unwrap(
    api.POST('/access_policies', {
      body: {
        name: 'push-only',
        principals: [{ type: 'api_key', value: limited.id }],
        servers: [server.id],
        tools: ['getRepo', 'github.push'],
      },
    }),
  );
  const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: null });
  return {
    stack,
    api,
    redis,
    server: { id: server.id, url: server.url },
    plain: { id: plain.id, url: plain.url },
    instanceId: instance.id,
    limitedKey: limited.key,
  };
}

/** An official SDK client on a server, with a key (2025-11-25 by default). */
export async function sdkClient(url: string, key: string, era: '2025' | '2026' = '2025'): Promise<Client> {
  // 2026: the client discovers and speaks 2026-07-28 (`server/discover`, per-request envelopes).
  const options = era === '2026' ? { versionNegotiation: { mode: 'auto' as const } } : undefined;
  const client = new Client({ name: 'events-e2e', version: '1.0.0' }, options);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': key } } }),
  );
  return client;
}

/** Appends an occurrence to a subscription's stream, as the worker's fan-out does; returns its entry id (cursor). */
export async function give(
  redis: Redis,
  where: { instanceId: string; subscriptionId: string },
  occurrence: { eventId: string; name: string; data: Record<string, unknown> },
): Promise<string> {
  const entry = JSON.stringify({ ...occurrence, timestamp: new Date().toISOString() });
  // `subscriptionStreamKey` and the entry's one field (docs/events.md "Subscriptions in Redis").
  return (await redis.xadd(`{ev:${where.instanceId}}:sub:${where.subscriptionId}`, '*', 'occurrence', entry))!;
}

/** The subscription (id and stored JSON) of an instance whose arguments name this repository (made by this key). */
export async function subscriptionFor(
  redis: Redis,
  instanceId: string,
  repository: string,
  keyId?: string,
): Promise<{ id: string; stored: Record<string, unknown> }> {
  const all = await redis.hgetall(`{ev:${instanceId}}:subs`);
  const found = Object.entries(all).find(
    ([, raw]) => raw.includes(`"${repository}"`) && (keyId === undefined || raw.includes(`"keyId":"${keyId}"`)),
  );
  if (!found) throw new Error(`no subscription for ${repository}`);
  return { id: found[0], stored: JSON.parse(found[1]) as Record<string, unknown> };
}
