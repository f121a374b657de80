import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, unwrap } from '@toolplane/client';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Workspace secrets reach workflows (issue #28, part 1): `$secrets.NAME` is the external user's secret
 * when the call names one (only theirs, unless the server says `fallbackToShared`), else the server's,
 * else the workspace's. Two servers read one workspace secret; a server secret of the same name wins on
 * its server; deleting the workspace secret gives `secret_missing` again. The workers' secret cache lives
 * for 10 minutes here, so every change seen proves the invalidation message, not an expiry.
 */

const WORKSPACE_VALUE = `ws-${randomBytes(12).toString('hex')}`;
const SERVER_VALUE = `srv-${randomBytes(12).toString('hex')}`;
const USER_VALUE = `usr-${randomBytes(12).toString('hex')}`;

let upstream: Server;
let upstreamUrl: string;
let stack: Stack;
let client: ReturnType<typeof createManagementClient>;
const servers: { id: string; url: string }[] = [];

beforeAll(async () => {
  // Answers whose key it was sent (never the key itself).
  upstream = createServer((req, res) => {
    const auth = String(req.headers.authorization ?? '');
    const whose =
      auth === `Bearer ${WORKSPACE_VALUE}`
        ? 'workspace'
        : auth === `Bearer ${SERVER_VALUE}`
          ? 'server'
          : auth === `Bearer ${USER_VALUE}`
            ? 'user'
            : 'other';
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ whose }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  ({ stack } = await startTestStack('workspace-secrets', {
    serviceEnv: { worker: { SECRETS_CACHE_TTL_MS: '600000' } },
  }));
  client = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  const definition = JSON.stringify({
    flower: '0.1',
    id: 'whose',
    flows: [
      {
        id: 'whose',
        steps: [
          {
            id: 'ask',
            request: { method: 'GET', url: `${upstreamUrl}/me`, headers: { Authorization: 'Bearer $secrets.API_KEY' } },
            outputs: { whose: '$response.body.whose' },
          },
        ],
        outputs: { whose: '$steps.ask.outputs.whose' },
      },
    ],
  });
  for (const name of ['shared-one', 'shared-two']) {
    const { id, url } = (await unwrap(client.POST('/mcp_manager', { body: { name, mode: 'NORMAL' } }))) as {
      id: string;
      url: string;
    };
    await unwrap(client.POST('/mcp_servers/{id}/deploy', { params: { path: { id } }, body: { definition } }));
    servers.push({ id, url });
  }
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise<void>((r) => upstream.close(() => r()));
});

/** Calls the `whose` tool: whose key the upstream saw, or `error: <text>` for an `isError` result. */
async function whose(url: string, headers: Record<string, string> = {}): Promise<string> {
  const mcp = new Client({ name: 'workspace-secrets-e2e', version: '1.0.0' });
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey, ...headers } },
    }),
  );
  try {
    const r = (await mcp.callTool({ name: 'whose', arguments: {} })) as {
      isError?: boolean;
      structuredContent?: { whose?: string };
      content: unknown;
    };
    return r.isError ? `error: ${JSON.stringify(r.content)}` : String(r.structuredContent?.whose);
  } finally {
    await mcp.close();
  }
}

/** Calls until the answer satisfies `ok` (the invalidation message and the job travel on different connections). */
function until(url: string, ok: (answer: string) => boolean, headers?: Record<string, string>): Promise<string> {
  let last = '';
  return waitFor(`an answer from ${url}`, async () => {
    last = await whose(url, headers);
    if (ok(last)) return last;
    throw new Error(`last answer: ${last}`);
  });
}

const missing = (a: string) => a.startsWith('error:') && a.includes('secret_missing');

describe('$secrets.NAME: external user, then server, then workspace', () => {
  it('fails with secret_missing while no scope has the secret', async () => {
    for (const s of servers) expect(missing(await whose(s.url))).toBe(true);
  });

  it('a workflow on two servers reads one workspace secret, and its value reaches no answer', async () => {
    const created = await unwrap(client.POST('/secrets', { body: { name: 'API_KEY', value: WORKSPACE_VALUE } }));
    expect(created).toMatchObject({ name: 'API_KEY', scope: 'workspace' });
    for (const s of servers) expect(await until(s.url, (a) => a === 'workspace')).toBe('workspace');
    const records = await unwrap(client.GET('/execution_records', { params: { query: { limit: 100 } } }));
    expect(JSON.stringify(records)).not.toContain(WORKSPACE_VALUE);
    expect(JSON.stringify(created)).not.toContain(WORKSPACE_VALUE);
  });

  it('a server secret of the same name wins on its server only', async () => {
    const [one, two] = servers as [{ id: string; url: string }, { id: string; url: string }];
    await unwrap(
      client.PUT('/mcp_servers/{id}/secrets/{name}', {
        params: { path: { id: two.id, name: 'API_KEY' } },
        body: { value: SERVER_VALUE },
      }),
    );
    expect(await until(two.url, (a) => a === 'server')).toBe('server');
    expect(await whose(one.url)).toBe('workspace');
  });

  it("an external user's own secret comes first; only with fallbackToShared does a user get the shared ones", async () => {
    const [one] = servers as [{ id: string; url: string }];
    await unwrap(client.POST('/external_users', { body: { name: 'ann' } }));
    await unwrap(
      client.POST('/access_policies', {
        body: { name: 'users', principals: [{ type: 'external_user', value: '*' }], servers: ['*'], tools: ['*'] },
      }),
    );
    const asAnn = { 'x-username': 'ann' };
    // Without their own value: refused, the workspace's is not used for them.
    const refused = await whose(one.url, asAnn);
    expect(refused).toMatch(/^error:.*has no value for \$secrets\.API_KEY/);
    await unwrap(
      client.PATCH('/mcp_manager/{id}', {
        params: { path: { id: one.id } },
        body: { config: { fallbackToShared: true } },
      }),
    );
    expect(await until(one.url, (a) => a === 'workspace', asAnn)).toBe('workspace');
    await unwrap(
      client.PUT('/external_users/{name}/secrets/{secret}', {
        params: { path: { name: 'ann', secret: 'API_KEY' } },
        body: { value: USER_VALUE },
      }),
    );
    expect(await until(one.url, (a) => a === 'user', asAnn)).toBe('user');
    // Other callers keep the shared value.
    expect(await whose(one.url)).toBe('workspace');
  });

  it('deleting the workspace secret gives secret_missing again (the server secret stays on its server)', async () => {
    const [one, two] = servers as [{ id: string; url: string }, { id: string; url: string }];
    const deleted = await client.DELETE('/secrets/{name}', { params: { path: { name: 'API_KEY' } } });
    expect(deleted.response.status).toBe(204);
    expect(missing(await until(one.url, missing))).toBe(true);
    expect(await whose(two.url)).toBe('server');
  });
});
