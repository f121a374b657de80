import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport as SseTransportV1 } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Stack } from '@toolplane/cli';
import { type components, type ManagementClient, unwrap } from '@toolplane/client';
import { startLegacyFixture, type LegacyFixture } from '../../conformance/legacy-fixture.ts';
import { startStreamableMcpServer, type ExternalMcpServer } from '../../fixtures/mcp-servers.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

// What a server offers besides tools (ADR 0041): the resources, resource templates, prompts and completions of the
// external MCP servers attached to it, under their tools' rules (names, collisions, access policies, credentials,
// records), each request crossing edge → queue → worker → external server; and the requests an external server sends
// a 2025-era client in the middle of a call (sampling, elicitation), relayed there and back.
const DOCS_TOKEN = 'docs-canary-7f1e2a';

let stack: Stack;
let api: ManagementClient;
let docs: ExternalMcpServer;
let wiki: ExternalMcpServer;
let legacy: LegacyFixture;
let server: components['schemas']['McpServer'];

beforeAll(async () => {
  docs = await startStreamableMcpServer({
    requiredHeader: ['authorization', `Bearer ${DOCS_TOKEN}`],
    tools: [{ name: 'docs_search', description: 'Search the docs', inputSchema: { type: 'object' } }],
    features: {
      resources: [
        { uri: 'docs://readme', name: 'readme', description: 'The readme' },
        { uri: 'shared://home', name: 'home', description: 'Offered by both servers' },
      ],
      resourceTemplates: [{ uriTemplate: 'docs://page/{n}', name: 'page', matches: /^docs:\/\/page\/\d+$/ }],
      prompts: [
        { name: 'summarize', description: 'Summarize a topic', arguments: [{ name: 'topic', required: true }] },
        { name: 'greet', description: 'Greet someone' },
      ],
      completions: { topic: ['caching', 'cancellation', 'queues'] },
      subscribable: true,
    },
  });
  wiki = await startStreamableMcpServer({
    tools: [{ name: 'wiki_search', description: 'Search the wiki', inputSchema: { type: 'object' } }],
    features: {
      resources: [
        { uri: 'shared://home', name: 'home', description: 'Offered by both servers' },
        { uri: 'wiki://start', name: 'start', description: 'The start page' },
      ],
      prompts: [{ name: 'greet', description: "The wiki's greeting" }],
    },
  });
  legacy = await startLegacyFixture();
  ({ stack, api } = await startTestStack('mcp-features'));
  server = await unwrap(
    api.POST('/mcp_manager', {
      body: {
        name: 'beyond-tools',
        mode: 'NORMAL',
        externalMcpConfigs: [
          { name: 'docs', url: docs.url, headers: { authorization: `Bearer ${DOCS_TOKEN}` } },
          { name: 'wiki', url: wiki.url },
          { name: 'legacy', url: legacy.url },
        ],
      },
    }),
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await Promise.all([docs?.close(), wiki?.close(), legacy?.close()]);
});

async function connect(key = stack.bootstrapKey): Promise<Client> {
  const client = new Client({ name: 'features', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { 'x-api-key': key } } }),
  );
  return client;
}

/** The JSON-RPC error a request ends with. */
async function rpcError(p: Promise<unknown>): Promise<ProtocolError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
  throw new Error('the request succeeded');
}

describe('resources, templates, prompts and completions of attached external servers', () => {
  it('are listed under the tools rules: a taken prompt name is prefixed, a URI offered twice is served once', async () => {
    expect(server.warnings?.join('\n')).toMatch(/"wiki" offers shared:\/\/home, which "docs" offers already/);
    const client = await connect();
    try {
      expect(client.getServerCapabilities()).toMatchObject({ resources: {}, prompts: {}, completions: {} });
      const { resources } = await client.listResources();
      expect(resources.map((r) => r.uri)).toEqual(['docs://readme', 'shared://home', 'wiki://start']);
      const { resourceTemplates } = await client.listResourceTemplates();
      expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual(['docs://page/{n}']);
      const { prompts } = await client.listPrompts();
      expect(prompts.map((p) => p.name)).toEqual(['summarize', 'greet', 'wiki__greet']);
    } finally {
      await client.close();
    }
  });

  it('are read, got and completed by the worker with the external server’s own headers', async () => {
    const client = await connect();
    try {
      expect((await client.readResource({ uri: 'docs://readme' })).contents).toEqual([
        { uri: 'docs://readme', mimeType: 'text/plain', text: 'resource docs://readme' },
      ]);
      expect((await client.readResource({ uri: 'docs://page/7' })).contents[0]).toMatchObject({
        text: 'template docs://page/7',
      });
      // The URI both offer comes from the server listed first.
      const before = wiki.requests.length;
      await client.readResource({ uri: 'shared://home' });
      expect(wiki.requests.length).toBe(before);
      const summary = await client.getPrompt({ name: 'summarize', arguments: { topic: 'queues' } });
      expect(summary.messages[0]!.content).toEqual({ type: 'text', text: 'prompt summarize {"topic":"queues"}' });
      // A prefixed prompt reaches its own server under the name that server knows.
      const wikiGreet = await client.getPrompt({ name: 'wiki__greet' });
      expect(wikiGreet.messages[0]!.content).toMatchObject({ text: 'prompt greet {}' });
      const completion = await client.complete({
        ref: { type: 'ref/prompt', name: 'summarize' },
        argument: { name: 'topic', value: 'ca' },
      });
      expect(completion.completion.values).toEqual(['caching', 'cancellation']);
      const missing = await rpcError(client.readResource({ uri: 'docs://nothing' }));
      expect(missing.code).toBe(-32602);
      expect(missing.data).toEqual({ uri: 'docs://nothing' });
    } finally {
      await client.close();
    }
  });

  it('leave execution records naming the request, without the external server’s credential', async () => {
    const client = await connect();
    await client.getPrompt({ name: 'greet' });
    await client.close();
    const record = await waitFor('the record of prompts/get greet', async () => {
      const { data } = await unwrap(api.GET('/execution_records', { params: { query: { server_id: server.id } } }));
      const hit = data.find((r) => r.tool === 'greet');
      if (!hit) throw new Error(`no record of greet yet; saw ${data.map((r) => r.tool).join(', ')}`);
      return hit;
    });
    expect(record.outcome).toBe('success');
    const detail = await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: record.id } } }));
    expect(detail.steps).toEqual([expect.objectContaining({ kind: 'mcp', method: 'prompts/get', name: 'greet' })]);
    expect(JSON.stringify(detail)).not.toContain(DOCS_TOKEN);
  });
});

describe('Mcp-Name on prompts/get and resources/read (2026-07-28, SEP-2243)', () => {
  /** A raw 2026-07-28 request with the standard headers; `name` is the `Mcp-Name` header (undefined: none sent). */
  async function modern(method: string, params: Record<string, unknown>, name: string | undefined) {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'x-api-key': stack.bootstrapKey,
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': method,
        ...(name !== undefined ? { 'mcp-name': name } : {}),
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method,
        params: {
          ...params,
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientInfo': { name: 'mcp-name', version: '1' },
            'io.modelcontextprotocol/clientCapabilities': {},
          },
        },
      }),
    });
    const text = await res.text();
    const json = text.startsWith('event:') || text.startsWith('data:') ? text.slice(text.indexOf('{')) : text;
    return { status: res.status, body: JSON.parse(json) as { result?: unknown; error?: { code: number } } };
  }
  const base64 = (value: string) => `=?base64?${Buffer.from(value).toString('base64')}?=`;

  it.each([
    ['prompts/get', { name: 'summarize', arguments: { topic: 'queues' } }, 'summarize'],
    ['resources/read', { uri: 'docs://readme' }, 'docs://readme'],
  ])(
    '%s: served when the header names the body, refused 400 / -32020 when it differs or is missing',
    async (method, params, name) => {
      expect(await modern(method, params, name)).toMatchObject({ status: 200, body: { result: expect.any(Object) } });
      // Whitespace around the value and the Base64 form name the same.
      expect((await modern(method, params, `  ${name} `)).status).toBe(200);
      expect((await modern(method, params, base64(name))).status).toBe(200);
      const before = docs.requests.length;
      for (const header of ['greet', 'docs://other', undefined]) {
        const refused = await modern(method, params, header);
        expect([header, refused]).toEqual([
          header,
          { status: 400, body: expect.objectContaining({ error: expect.objectContaining({ code: -32020 }) }) },
        ]);
      }
      expect(docs.requests.length).toBe(before);
    },
  );

  it('resources/subscribe is no method of 2026-07-28: a listen stream subscribes (its resourceSubscriptions)', async () => {
    const refused = await modern('resources/subscribe', { uri: 'docs://readme' }, 'docs://readme');
    expect(refused.body.error?.code).toBe(-32601);
  });
});

describe('reads under a narrowed token (ADR 0084, issue #89)', () => {
  /** A token narrowed from a new runtime key at the edge's token endpoint (RFC 8693), with these rights. */
  async function narrowed(details: Record<string, unknown>): Promise<string> {
    const key = await unwrap(api.POST('/api_keys', { body: { name: 'narrowed-reader', scopes: ['runtime'] } }));
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: key.key,
      subject_token_type: 'urn:toolplane:params:oauth:token-type:api_key',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      authorization_details: JSON.stringify([{ type: 'toolplane_delegation', actor: 'reader', ...details }]),
    });
    const res = await fetch(`${stack.edgeUrls[0]!}/oauth/token-exchange`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  async function bearer(token: string): Promise<Client> {
    const client = new Client({ name: 'features-narrowed', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    return client;
  }

  it('spend its calls and meet its conditions like calls: refused, nothing reaches the attached server', async () => {
    const client = await bearer(await narrowed({ calls: 1 }));
    try {
      expect((await client.readResource({ uri: 'docs://readme' })).contents).toHaveLength(1);
      const before = docs.requests.length;
      for (const read of [
        () => client.readResource({ uri: 'docs://readme' }),
        () => client.readResource({ uri: 'docs://page/2' }),
        () => client.getPrompt({ name: 'summarize', arguments: { topic: 'queues' } }),
      ])
        expect((await rpcError(read())).message).toMatch(/narrowed token \S+ has no calls left/);
      expect(docs.requests.length).toBe(before);
    } finally {
      await client.close();
    }
    const conditioned = await bearer(await narrowed({ condition: 'args.amount <= 100' }));
    try {
      const before = docs.requests.length;
      const refused = await rpcError(conditioned.readResource({ uri: 'docs://readme' }));
      expect(refused.message).toMatch(/allows this read of "docs:\/\/readme" only when args.amount <= 100/);
      expect(docs.requests.length).toBe(before);
    } finally {
      await conditioned.close();
    }
  });
});

describe('resource subscriptions', () => {
  /** Touches `uri` at the docs server until `heard` holds: the watch starts within a worker's tick. */
  const untilHeard = (what: string, uri: string, heard: () => boolean) =>
    waitFor(what, () => {
      docs.touch(uri);
      if (!heard()) throw new Error('no notifications/resources/updated yet');
      return Promise.resolve(true);
    });

  it('a 2025-era session that subscribed hears the external server’s updates on its stream', async () => {
    const client = new ClientV1({ name: 'subscriber', version: '1.0.0' });
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
    await client.connect(
      new TransportV1(new URL(server.url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
    );
    try {
      expect(client.getServerCapabilities()?.resources?.subscribe).toBe(true);
      await client.subscribeResource({ uri: 'docs://readme' });
      await untilHeard('the update on the session stream', 'docs://readme', () => updates.length > 0);
      expect(new Set(updates)).toEqual(new Set(['docs://readme']));
      // A URI the caller cannot subscribe to (no server that takes subscriptions offers it) is refused.
      await expect(client.subscribeResource({ uri: 'nowhere://x' })).rejects.toThrow(/Resource not found/);
      await client.unsubscribeResource({ uri: 'docs://readme' });
    } finally {
      await client.close();
    }
  });

  it('a 2026-07-28 listen stream asking for a resource hears its updates', async () => {
    const client = new Client({ name: 'listener', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    const updates: string[] = [];
    client.setNotificationHandler('notifications/resources/updated', (n) => void updates.push(n.params.uri));
    const listening = await client.listen({ resourceSubscriptions: ['docs://page/3'] });
    try {
      await untilHeard('the update on the listen stream', 'docs://page/3', () => updates.length > 0);
      expect(new Set(updates)).toEqual(new Set(['docs://page/3']));
    } finally {
      await listening.close();
      await client.close();
    }
  });
});

describe('requests an external server sends in the middle of a call (2025-era clients)', () => {
  async function legacyClient(capabilities: Record<string, object>): Promise<ClientV1> {
    const client = new ClientV1({ name: 'relay', version: '1.0.0' }, { capabilities });
    await client.connect(
      new TransportV1(new URL(server.url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
    );
    return client;
  }

  it('reach the client on the call’s stream, and its answers reach the tool', async () => {
    const client = await legacyClient({ sampling: {}, elicitation: {} });
    const asked: string[] = [];
    client.setRequestHandler(CreateMessageRequestSchema, (req) => {
      asked.push(`sampling: ${JSON.stringify(req.params.messages[0]!.content)}`);
      return { role: 'assistant', content: { type: 'text', text: 'Paris' }, model: 'test', stopReason: 'endTurn' };
    });
    client.setRequestHandler(ElicitRequestSchema, (req) => {
      asked.push(`elicitation: ${req.params.message}`);
      return { action: 'accept', content: { username: 'ada', email: 'ada@example.com' } };
    });
    try {
      const sampled = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'Capital of France?' } });
      expect(sampled.content).toEqual([{ type: 'text', text: 'LLM response: {"type":"text","text":"Paris"}' }]);
      const elicited = await client.callTool({ name: 'test_elicitation', arguments: { message: 'Who are you?' } });
      expect(JSON.stringify(elicited.content)).toContain('ada@example.com');
      expect(asked).toEqual(['sampling: {"type":"text","text":"Capital of France?"}', 'elicitation: Who are you?']);
    } finally {
      await client.close();
    }
  });

  it('reach a legacy HTTP+SSE session’s client too, whose server asks on the session itself', async () => {
    const withKey = (u: string | URL | Request, init?: RequestInit) => {
      const h = new Headers(init?.headers);
      h.set('x-api-key', stack.bootstrapKey);
      return fetch(u, { ...init, headers: h });
    };
    const client = new ClientV1({ name: 'relay-sse', version: '1.0.0' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, () => ({
      role: 'assistant',
      content: { type: 'text', text: 'Rome' },
      model: 'test',
      stopReason: 'endTurn',
    }));
    await client.connect(
      new SseTransportV1(new URL(`${stack.edgeUrl}/api/v1/mcp/${server.id}`), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
        eventSourceInit: { fetch: withKey },
      }),
    );
    try {
      const sampled = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'Capital of Italy?' } });
      expect(sampled.content).toEqual([{ type: 'text', text: 'LLM response: {"type":"text","text":"Rome"}' }]);
    } finally {
      await client.close();
    }
  });

  it('are not declared for a client that cannot answer them, so the external server refuses by itself', async () => {
    const client = await legacyClient({});
    try {
      const result = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'x' } });
      expect(result.isError).toBe(true);
      expect(result.content).toEqual([{ type: 'text', text: 'The client cannot sample' }]);
    } finally {
      await client.close();
    }
  });

  it('carry a declined answer back as declined', async () => {
    const client = await legacyClient({ elicitation: {} });
    client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'decline' }));
    try {
      const result = await client.callTool({ name: 'test_elicitation', arguments: { message: 'Share?' } });
      expect(result.content).toEqual([{ type: 'text', text: 'User response: {"action":"decline"}' }]);
    } finally {
      await client.close();
    }
  });
});

describe('access policies and faults', () => {
  it('an external server that went away: a JSON-RPC error naming it, and the other servers still answer', async () => {
    await wiki.close();
    const client = await connect();
    try {
      const gone = await rpcError(client.readResource({ uri: 'wiki://start' }));
      expect(gone.message).toMatch(/external MCP server "wiki" could not answer resources\/read/);
      expect((await client.readResource({ uri: 'docs://readme' })).contents).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it('grant prompts by name, and a server’s resources with any of its tools or prompts', async () => {
    const key = await unwrap(api.POST('/api_keys', { body: { name: 'prompt-reader', scopes: ['runtime'] } }));
    await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'summaries-only',
          principals: [{ type: 'api_key', value: key.id }],
          servers: [server.id],
          tools: ['summarize'],
        },
      }),
    );
    const seen = await waitFor('the policy at the edge', async () => {
      const client = await connect(key.key);
      try {
        const { prompts } = await client.listPrompts();
        if (prompts.length !== 1) throw new Error(`prompts: ${prompts.map((p) => p.name).join(', ')}`);
        return { prompts, resources: (await client.listResources()).resources };
      } finally {
        await client.close();
      }
    });
    expect(seen.prompts.map((p) => p.name)).toEqual(['summarize']);
    expect(seen.resources.map((r) => r.uri)).toEqual(['docs://readme', 'shared://home']);
    const client = await connect(key.key);
    try {
      expect((await rpcError(client.getPrompt({ name: 'greet' }))).message).toMatch(/Unknown prompt: greet/);
      expect((await rpcError(client.readResource({ uri: 'wiki://start' }))).code).toBe(-32602);
    } finally {
      await client.close();
    }
  });
});
