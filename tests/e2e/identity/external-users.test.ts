import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';

// Per-user connections: x-username makes every tool run with that user's own credentials.
let stack: Stack;
let api: ManagementClient;
let upstream: Server;
let upstreamUrl: string;
let mcpUrl: string;
let instanceId: string;
const seen: { key: string | undefined; who: string }[] = [];

const descriptor = (url: string) => `
metadata: { name: Profile, slug: profile, version: "1.0.0" }
authentication:
  - type: bearer
    fields: [{ key: token, field_type: secret, required: true, secret: true }]
operations:
  - operation_id: whoami
    endpoint: "${url}/me"
    method: GET
    auth_type_ref: bearer
    parameters: []
mcp_config:
  enabled: true
  server_name: profile
  server_description: Profile
  route_mappings:
    - { operation_id: whoami, mcp_tool_name: whoami, mcp_tool_description: "Who am I upstream" }
`;

async function whoami(username?: string): Promise<{ isError?: boolean; text: string; status?: number }> {
  const client = new Client({ name: 'users', version: '1.0.0' });
  try {
    await client.connect(
      new StreamableHTTPClientTransport(new URL(mcpUrl), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey, ...(username ? { 'x-username': username } : {}) } },
      }),
    );
  } catch (err) {
    return {
      isError: true,
      text: String(err),
      status: (err as { status?: number; code?: number }).status ?? (err as { code?: number }).code,
    };
  }
  const r = await client.callTool({ name: 'whoami', arguments: {} });
  await client.close();
  return { ...(r.isError ? { isError: true } : {}), text: (r.content as { text: string }[])[0]!.text };
}

beforeAll(async () => {
  const owners: Record<string, string> = {
    'default-token': 'the project',
    'alice-token': 'alice',
    'alice-token-2': 'alice',
    'bob-token': 'bob',
  };
  upstream = createServer((req, res) => {
    const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const who = key ? owners[key] : undefined;
    seen.push({ key, who: who ?? '?' });
    if (!who) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unknown token"}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ user: who }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  ({ stack, api } = await startTestStack('users'));
  const connector = await unwrap(api.POST('/connectors', yamlBody(descriptor(upstreamUrl))));
  instanceId = (
    await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: connector.id,
          name: 'profile',
          credentials: { token: 'default-token' },
        },
      }),
    )
  ).id;
  mcpUrl = (
    await unwrap(
      api.POST('/mcp_manager', { body: { name: 'profile', mode: 'NORMAL', connectorInstanceId: instanceId } }),
    )
  ).url;
  for (const name of ['alice', 'bob', 'carol']) await unwrap(api.POST('/external_users', { body: { name } }));
  // External users need a grant (ADR 0013): every user of this workspace may use every tool.
  await unwrap(
    api.POST('/access_policies', {
      body: { name: 'all-users', principals: [{ type: 'external_user', value: '*' }], servers: ['*'], tools: ['*'] },
    }),
  );
  await unwrap(
    api.PUT('/external_users/{name}/connections/{instanceId}', {
      params: { path: { name: 'alice', instanceId } },
      body: { credentials: { token: 'alice-token' } },
    }),
  );
  await unwrap(
    api.PUT('/external_users/{name}/connections/{instanceId}', {
      params: { path: { name: 'bob', instanceId } },
      body: { credentials: { token: 'bob-token' } },
    }),
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((r) => upstream.close(() => r()));
});

describe('x-username and per-user connections', () => {
  it("runs each user's calls with that user's own token, and the project's without the header", async () => {
    seen.length = 0;
    expect((await whoami('alice')).text).toBe('{"user":"alice"}');
    expect((await whoami('bob')).text).toBe('{"user":"bob"}');
    expect((await whoami()).text).toBe('{"user":"the project"}');
    expect(seen.map((s) => s.key)).toEqual(['alice-token', 'bob-token', 'default-token']);
  });

  it('refuses an unknown user clearly', async () => {
    const r = await whoami('mallory');
    expect(r.isError).toBe(true);
    expect(r.text).toContain('Unknown user');
    expect(r.text).toContain('mallory');
  });

  it("never uses another user's (or the default) token for a user without a connection", async () => {
    seen.length = 0;
    const r = await whoami('carol');
    expect(r.isError).toBe(true);
    expect(r.text).toContain('User "carol" has no connection');
    expect(seen).toEqual([]);
  });

  it("uses a user's replaced credentials on the next call", async () => {
    await unwrap(
      api.PUT('/external_users/{name}/connections/{instanceId}', {
        params: { path: { name: 'alice', instanceId } },
        body: { credentials: { token: 'alice-token-2' } },
      }),
    );
    seen.length = 0;
    expect((await whoami('alice')).text).toBe('{"user":"alice"}');
    expect(seen.map((s) => s.key)).toEqual(['alice-token-2']);
  });

  it("refuses an anonymous caller that names a user on a public server, never running with anyone's token", async () => {
    const publicUrl = (
      await unwrap(
        api.POST('/mcp_manager', {
          body: { name: 'profile-public', mode: 'NORMAL', connectorInstanceId: instanceId, isPublic: true },
        }),
      )
    ).url;
    const anonymous = async (headers: Record<string, string>) => {
      const res = await fetch(publicUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
          ...headers,
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'whoami', arguments: {} },
        }),
      });
      return { status: res.status, body: (await res.json()) as { result?: unknown; error?: { message: string } } };
    };
    seen.length = 0;
    const refused = await anonymous({ 'x-username': 'alice' });
    expect(refused.status).toBe(403);
    expect(refused.body.error!.message).toContain('an anonymous caller may not act as external user "alice"');
    // An unknown name gets the same answer: an anonymous caller learns nothing about the workspace's users.
    const unknown = await anonymous({ 'x-username': 'mallory' });
    expect(unknown.status).toBe(403);
    expect(unknown.body.error!.message).toContain('an anonymous caller may not act as external user "mallory"');
    expect(seen).toEqual([]);
    // Without x-username the public server runs with its shared credentials, as configured.
    const shared = await anonymous({});
    expect(shared.status).toBe(200);
    expect(seen.map((s) => s.key)).toEqual(['default-token']);
  });

  it('lists users with their connections and deletes them', async () => {
    const listed = await unwrap(api.GET('/external_users'));
    expect(listed.data.map((u) => [u.name, u.connections])).toEqual([
      ['alice', [instanceId]],
      ['bob', [instanceId]],
      ['carol', []],
    ]);
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/external_users/bob`, {
      method: 'DELETE',
      headers: { 'x-api-key': stack.bootstrapKey },
    });
    expect(res.status).toBe(204);
    expect((await whoami('bob')).isError).toBe(true);
  });
});

describe('names people give', () => {
  it('a name with control characters is refused (422 naming the field): users, keys, instances', async () => {
    const hostile = [
      'eve\u001b]0;pwned\u0007', // would set a terminal's title when listed
      'eve\nalice  ok',
      'eve\u009b2J',
      'eve\u202etxt.exe',
      'eve\u2066x\u2069',
      'eve\u007f',
    ];
    const send = async (method: string, path: string, body: unknown) => {
      const res = await fetch(`${stack.controlPlaneUrl}/api/v1${path}`, {
        method,
        headers: { 'x-api-key': stack.bootstrapKey, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, errors: ((await res.json()) as { errors?: { path: string }[] }).errors };
    };
    const connector = (await unwrap(api.GET('/connectors'))).data[0]!;
    for (const name of hostile)
      for (const [method, path, body] of [
        ['POST', '/external_users', { name }],
        ['POST', '/api_keys', { name, scopes: ['runtime'] }],
        ['POST', '/connector_instances', { connector_id: connector.id, name, createServer: false }],
        ['PATCH', `/connector_instances/${instanceId}`, { name }],
      ] as const)
        expect({ name, path, ...(await send(method, path, body)) }).toEqual({
          name,
          path,
          status: 422,
          errors: [{ path: '/name', message: expect.stringMatching(/control characters/) }],
        });
    expect((await unwrap(api.GET('/external_users'))).data.filter((u) => u.name.startsWith('eve'))).toEqual([]);
  });
});

describe('listing people a page at a time', () => {
  it('pages oldest first with limit and next_cursor, finds one by name, bounds an unpaged call', async () => {
    for (const i of [0, 1, 2, 3, 4])
      await unwrap(api.POST('/external_users', { body: { name: `paged-${i}`, attributes: { n: String(i) } } }));
    const all = await unwrap(api.GET('/external_users', { params: { query: { limit: 200 } } }));
    expect(all.next_cursor).toBeNull();
    expect(all.data.map((u) => u.name).filter((n) => n.startsWith('paged-'))).toEqual(
      [0, 1, 2, 3, 4].map((i) => `paged-${i}`),
    );
    const created = all.data.map((u) => Date.parse(u.createdAt));
    expect(created).toEqual([...created].sort((a, b) => a - b));

    const walked: string[] = [];
    const cursors: (string | null)[] = [];
    for (let cursor: string | null | undefined; cursor !== null;) {
      const page = await unwrap(
        api.GET('/external_users', { params: { query: { limit: 2, ...(cursor ? { cursor } : {}) } } }),
      );
      expect(page.data.length).toBeLessThanOrEqual(2);
      walked.push(...page.data.map((u) => u.name));
      cursor = page.next_cursor;
      cursors.push(cursor);
    }
    expect(walked).toEqual(all.data.map((u) => u.name));
    expect(cursors).toHaveLength(Math.ceil(all.data.length / 2));

    const byName = await unwrap(api.GET('/external_users', { params: { query: { name: 'paged-3' } } }));
    expect(byName).toEqual({ data: [all.data.find((u) => u.name === 'paged-3')], next_cursor: null });
    expect(await unwrap(api.GET('/external_users', { params: { query: { name: 'nobody' } } }))).toEqual({
      data: [],
      next_cursor: null,
    });

    const unpaged = await unwrap(api.GET('/external_users'));
    expect(unpaged.data).toEqual(all.data.slice(0, 50));
    for (const limit of ['0', '201', 'x']) {
      const res = await fetch(`${stack.controlPlaneUrl}/api/v1/external_users?limit=${limit}`, {
        headers: { 'x-api-key': stack.bootstrapKey },
      });
      expect({ limit, status: res.status }).toEqual({ limit, status: 422 });
    }
  });
});
