// Long-lived answers end with their credential (issue #27, docs/security.md "Long-lived answers"): the control
// plane's debug event stream, `toolplane records --follow`, the edge's legacy HTTP+SSE streams and its 2026-07-28
// listen streams end when their API key is revoked or restricted to other servers, or their OAuth access token
// expires, and when the edge can no longer hear key changes (its pub/sub connection lost). Nothing reaches a
// stream after it ended: a witness stream opened with a key that keeps its access shows what was sent meanwhile.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createManagementClient, unwrap, type components, type ManagementClient } from '@toolplane/client';
import { repoRoot, type Stack } from '@toolplane/cli';
import { freePort } from '@toolplane/embedded';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { startTestStack, tempDir } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';
import { startAuthorizationServer, type LocalAuthorizationServer } from '../../helpers/authorization-server.ts';

const audience = 'https://toolplane.test/api';
/** How long the access tokens of the expiry test live: long enough to open their streams on a loaded machine. */
const TOKEN_SECONDS = 10;

let as: LocalAuthorizationServer;
let stack: Stack;
let admin: ManagementClient;
let upstream: TicketSystem;
let redis: Redis;
let edgeUrl: string;
let workspaceId: string;
/** The server the streams follow, and another one of the workspace (what keys get narrowed to). */
let serverId: string;
let otherServerId: string;
let session: { id: string };
/** An MCP client (bootstrap key) whose calls make the execution records the debug streams send. */
let caller: Client;
/** Open all along with the bootstrap key: it sees every record of the session. */
let witness: SseStream;

interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

/** An event stream read with fetch: its events as they come, and whether (and how) the server ended it. */
interface SseStream {
  status: number;
  events: SseEvent[];
  records: () => { id: string; tool: string }[];
  /** Set once the body ended (or failed: an edge destroys a listen stream's connection). */
  ended: boolean;
  closed: Promise<void>;
  abort: () => void;
}

async function openSse(url: string, headers: Record<string, string>): Promise<SseStream> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const stream: SseStream = {
    status: response.status,
    events: [],
    records: () =>
      stream.events.filter((e) => e.event === 'record').map((e) => JSON.parse(e.data) as { id: string; tool: string }),
    ended: false,
    closed: Promise.resolve(),
    abort: () => controller.abort(),
  };
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
        for (const line of block.split('\n')) {
          const colon = line.indexOf(':');
          if (colon <= 0) continue; // a comment, or a field without value
          const name = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, '');
          if (name === 'event') e.event = value;
          else if (name === 'id') e.id = value;
          else if (name === 'data') e.data += (e.data ? '\n' : '') + value;
        }
        if (e.data !== '') stream.events.push(e);
      }
    }
  };
  stream.closed = read()
    .catch(() => undefined) // a destroyed connection ends the stream too
    .finally(() => (stream.ended = true));
  return stream;
}

const debugEvents = (headers: Record<string, string>) =>
  openSse(`${stack.controlPlaneUrl}/api/v1/mcp_manager/${serverId}/debug_sessions/${session.id}/events`, headers);

/** A new API key of the workspace (management and runtime), optionally limited to servers. */
async function newKey(name: string, serverIds?: string[]): Promise<{ id: string; key: string }> {
  const created = await unwrap(
    admin.POST('/api_keys', {
      body: { name, scopes: ['management', 'runtime'], ...(serverIds ? { serverIds } : {}) },
    }),
  );
  return { id: created.id, key: created.key };
}

const revoke = (id: string) => unwrap(admin.DELETE('/api_keys/{id}', { params: { path: { id } } }));
const narrow = (id: string, serverIds: string[]) =>
  unwrap(admin.PATCH('/api_keys/{id}', { params: { path: { id } }, body: { serverIds } }));

/** One tool call on the followed server; resolves once the witness stream has sent its record. */
async function recordedCall(title: string): Promise<string> {
  const before = new Set(witness.records().map((r) => r.id));
  await caller.callTool({ name: 'create_ticket', arguments: { title } });
  const fresh = await waitFor(
    `the record of "${title}" on the witness stream`,
    () => witness.records().find((r) => !before.has(r.id)),
    PROPAGATION_DEADLINE_MS * 2,
  );
  return fresh.id;
}

/** Waits for the server to end `stream` (the design target is 2 s; the deadline is generous). */
async function ended(stream: SseStream, what: string, deadlineMs = PROPAGATION_DEADLINE_MS): Promise<void> {
  await waitFor(`${what} to end`, () => stream.ended, deadlineMs);
}

/** The `event: error` a debug event stream ended with. */
function endedWith(stream: SseStream): { code: string; detail: string } {
  const last = stream.events.at(-1)!;
  expect(last.event).toBe('error');
  return JSON.parse(last.data) as { code: string; detail: string };
}

/** An access token of the local issuer. */
function token(claims: Record<string, unknown>, aud: string, expiresInSeconds: number): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setSubject('alice')
    .setIssuer(as.issuer)
    .setAudience(aud)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
    .sign(as.signingKey);
}

/** The legacy HTTP+SSE transport, initialized by hand: its events and the stream. */
async function legacySession(id: string, headers: Record<string, string>): Promise<SseStream> {
  const stream = await openSse(`${edgeUrl}/api/v1/mcp/${id}`, headers);
  expect(stream.status).toBe(200);
  const endpoint = await waitFor('the endpoint event', () => stream.events.find((e) => e.event === 'endpoint'));
  const post = (message: unknown) =>
    fetch(new URL(endpoint.data, edgeUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(message),
    });
  expect(
    (
      await post({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'revocation', version: '1' } },
      })
    ).status,
  ).toBe(202);
  await waitFor('the initialize answer on the stream', () => stream.events.some((e) => e.data.includes('"id":1')));
  expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
  return stream;
}

/** A 2026-07-28 client with an open `subscriptions/listen` stream; counts the tools/list_changed it hears. */
async function listener(id: string, headers: Record<string, string>) {
  const heard = { changes: 0 };
  const client = new Client({ name: 'revocation-listen', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  client.setNotificationHandler('notifications/tools/list_changed', () => void heard.changes++);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${edgeUrl}/mcp/${id}`), { requestInit: { headers } }),
  );
  const subscription = await client.listen({ toolsListChanged: true });
  let closedBy: string | undefined;
  void subscription.closed.then((by) => (closedBy = String(by)));
  return { client, subscription, heard, closedBy: () => closedBy };
}

/** A legacy SSE client of the SDK (bootstrap key) that counts tools/list_changed: the edge-side witness. */
async function legacyWitness(id: string) {
  const heard = { changes: 0 };
  const headers = { 'x-api-key': stack.bootstrapKey };
  const client = new Client({ name: 'revocation-witness', version: '1.0.0' });
  client.setNotificationHandler('notifications/tools/list_changed', () => void heard.changes++);
  const withHeaders = (u: string | URL | Request, init?: RequestInit) => {
    const h = new Headers(init?.headers);
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    return fetch(u, { ...init, headers: h });
  };
  await client.connect(
    new SSEClientTransport(new URL(`${edgeUrl}/api/v1/mcp/${id}`), {
      requestInit: { headers },
      eventSourceInit: { fetch: withHeaders },
    }),
  );
  return { client, heard };
}

/** Changes what the followed server exposes (its description): open streams of it hear tools/list_changed. */
let changes = 0;
async function changeCatalog(): Promise<void> {
  await unwrap(
    admin.PATCH('/mcp_manager/{id}', {
      params: { path: { id: serverId } },
      body: { description: `changed ${++changes}` } as components['schemas']['UpdateServerBody'],
    }),
  );
}

/** Runs `toolplane <args>` from the sources with `key`; resolves with its exit code and output. */
function cli(args: string[], key: string) {
  const child = spawn(
    process.execPath,
    ['--conditions=@toolplane/source', join(repoRoot, 'packages/cli/src/main.ts'), ...args],
    {
      env: {
        ...process.env,
        TOOLPLANE_URL: stack.controlPlaneUrl,
        TOOLPLANE_API_KEY: key,
        XDG_CONFIG_HOME: tempDir('revocation-cli'),
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const run = { stdout: '', stderr: '', code: undefined as number | null | undefined };
  child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
  child.on('close', (code) => (run.code = code));
  return { run, kill: () => child.kill() };
}

beforeAll(async () => {
  as = await startAuthorizationServer();
  upstream = await startTicketSystem({ apiKey: 'upstream-key-27' });
  const edgePort = await freePort();
  edgeUrl = `http://127.0.0.1:${edgePort}`;
  ({ stack } = await startTestStack('stream-revocation', {
    edgePort,
    serviceEnv: {
      'control-plane': { OAUTH_ISSUER: as.issuer, OAUTH_JWKS_URL: `${as.issuer}/jwks`, OAUTH_AUDIENCE: audience },
      edge: { OAUTH_ISSUER: as.issuer, OAUTH_JWKS_URL: `${as.issuer}/jwks`, PUBLIC_URL: edgeUrl },
    },
  }));
  admin = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  redis = new Redis(stack.redisUrl);
  workspaceId = (await unwrap(admin.GET('/workspaces/current'))).id;
  const connector = await unwrap(
    admin.POST('/connectors', {
      body: ticketSystemDescriptorYaml as unknown as components['schemas']['ConnectorSource'],
      bodySerializer: (body) => body as unknown as string,
      headers: { 'content-type': 'application/yaml' },
    }),
  );
  const instance = await unwrap(
    admin.POST('/connector_instances', {
      body: {
        createServer: false,
        connector_id: connector.id,
        name: 'tickets',
        base_url: upstream.url,
        credentials: { api_key: 'upstream-key-27' },
      },
    }),
  );
  const server = (name: string) =>
    unwrap(
      admin.POST('/mcp_manager', {
        body: { name, mode: 'NORMAL', connectorInstanceId: instance.id } as components['schemas']['CreateServerBody'],
      }),
    );
  serverId = (await server('followed')).id;
  otherServerId = (await server('elsewhere')).id;
  // OAuth subjects need a grant on the edge (ADR 0013); API keys that no policy names keep every server.
  await unwrap(
    admin.POST('/access_policies', {
      body: { name: 'alice', principals: [{ type: 'oauth_subject', value: 'alice' }], servers: ['*'], tools: ['*'] },
    }),
  );
  session = await unwrap(
    admin.POST('/mcp_manager/{id}/debug_sessions', {
      params: { path: { id: serverId } },
      body: { duration_minutes: 240 },
    }),
  );
  caller = new Client({ name: 'revocation-caller', version: '1.0.0' });
  await caller.connect(
    new StreamableHTTPClientTransport(new URL(`${edgeUrl}/mcp/${serverId}`), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  witness = await debugEvents({ 'x-api-key': stack.bootstrapKey });
  expect(witness.status).toBe(200);
  await recordedCall('first');
}, 180_000);

afterAll(async () => {
  witness?.abort();
  await caller?.close();
  redis?.disconnect();
  try {
    await stack?.stop();
  } finally {
    await upstream?.close();
    await as?.close();
  }
});

describe('the debug event stream (control plane)', () => {
  it('ends when its API key is revoked, with event: error, and sends nothing after', async () => {
    const { id, key } = await newKey('revoked-while-following');
    const stream = await debugEvents({ 'x-api-key': key });
    expect(stream.status).toBe(200);
    await waitFor('the records stored so far', () => stream.records().length >= 1 || undefined);
    await revoke(id);
    await ended(stream, 'the revoked key’s stream');
    expect(endedWith(stream)).toEqual({
      code: 'auth.invalid_key',
      detail: 'the API key is invalid or revoked: the stream ended',
    });
    const seen = stream.events.length;
    await recordedCall('after the revocation');
    expect(stream.events.length).toBe(seen);
    // A new stream with the key is refused, as REST is.
    expect((await debugEvents({ 'x-api-key': key })).status).toBe(401);
  });

  it('ends when its key is restricted to another server, and keeps streams whose key still reaches the server', async () => {
    const narrowed = await newKey('narrowed-while-following');
    const kept = await newKey('kept-while-following', [otherServerId]);
    await narrow(kept.id, [otherServerId, serverId]);
    const stream = await debugEvents({ 'x-api-key': narrowed.key });
    const keptStream = await debugEvents({ 'x-api-key': kept.key });
    expect([stream.status, keptStream.status]).toEqual([200, 200]);
    await waitFor(
      'the records stored so far',
      () => (stream.records().length >= 1 && keptStream.records().length >= 1) || undefined,
    );
    await narrow(narrowed.id, [otherServerId]);
    await narrow(kept.id, [serverId]); // still this server: announced, checked, kept
    await ended(stream, 'the narrowed key’s stream');
    expect(endedWith(stream).code).toBe('resource.not_found');
    const seen = stream.events.length;
    const record = await recordedCall('after the restriction');
    await waitFor(
      'the record on the kept stream',
      () => keptStream.records().some((r) => r.id === record) || undefined,
    );
    expect(stream.events.length).toBe(seen);
    expect(keptStream.ended).toBe(false);
    keptStream.abort();
  });
});

describe('toolplane records --follow', () => {
  it('exits (auth error) when its key is revoked', async () => {
    const { id, key } = await newKey('cli-follow-revoked');
    const follow = cli(['records', 'list', '--follow', '--server', serverId], key);
    try {
      await waitFor('the records printed so far', () => follow.run.stdout.includes('create_ticket') || undefined);
      await revoke(id);
      await waitFor('the CLI to exit', () => follow.run.code !== undefined, PROPAGATION_DEADLINE_MS * 2);
      expect(follow.run.code).toBe(4);
      expect(follow.run.stderr).toMatch(/the API key is invalid or revoked \(HTTP 401, auth.invalid_key\)/);
    } finally {
      follow.kill();
    }
  });

  it('exits (auth error) when its key is restricted to another server', async () => {
    const { id, key } = await newKey('cli-follow-narrowed');
    const follow = cli(['records', 'list', '--follow', '--server', serverId], key);
    try {
      await waitFor('the records printed so far', () => follow.run.stdout.includes('create_ticket') || undefined);
      await narrow(id, [otherServerId]);
      await waitFor('the CLI to exit', () => follow.run.code !== undefined, PROPAGATION_DEADLINE_MS * 2);
      expect(follow.run.code).toBe(4);
    } finally {
      follow.kill();
    }
  });
});

describe('edge streams', () => {
  it('a legacy HTTP+SSE stream ends when its key is revoked, or restricted to another server', async () => {
    const witnessSse = await legacyWitness(serverId);
    const revoked = await newKey('legacy-revoked');
    const narrowed = await newKey('legacy-narrowed');
    const a = await legacySession(serverId, { 'x-api-key': revoked.key });
    const b = await legacySession(serverId, { 'x-api-key': narrowed.key });
    await revoke(revoked.id);
    await narrow(narrowed.id, [otherServerId]);
    await ended(a, 'the revoked key’s legacy stream');
    await ended(b, 'the narrowed key’s legacy stream');
    const seen = [a.events.length, b.events.length];
    await changeCatalog();
    await waitFor('tools/list_changed on the witness', () => witnessSse.heard.changes >= 1 || undefined);
    expect([a.events.length, b.events.length]).toEqual(seen);
    await witnessSse.client.close();
  });

  it('a 2026-07-28 listen stream ends when its key is revoked, or restricted to another server', async () => {
    const witnessListen = await listener(serverId, { 'x-api-key': stack.bootstrapKey });
    const revoked = await newKey('listen-revoked');
    const narrowed = await newKey('listen-narrowed');
    const a = await listener(serverId, { 'x-api-key': revoked.key });
    const b = await listener(serverId, { 'x-api-key': narrowed.key });
    await revoke(revoked.id);
    await narrow(narrowed.id, [otherServerId]);
    await waitFor(
      'both listen streams to end',
      () => (a.closedBy() && b.closedBy()) || undefined,
      PROPAGATION_DEADLINE_MS,
    );
    expect([a.closedBy(), b.closedBy()]).toEqual(['remote', 'remote']);
    await changeCatalog();
    await waitFor('tools/list_changed on the witness', () => witnessListen.heard.changes >= 1 || undefined);
    expect([a.heard.changes, b.heard.changes]).toEqual([0, 0]);
    await witnessListen.subscription.close();
    await Promise.all([witnessListen.client, a.client, b.client].map((c) => c.close().catch(() => undefined)));
  });

  it('open streams end when the edge loses its Redis pub/sub connection (key changes would go unheard)', async () => {
    const legacy = await legacySession(serverId, { 'x-api-key': stack.bootstrapKey });
    const listen = await listener(serverId, { 'x-api-key': stack.bootstrapKey });
    const name = `${stack.redisPrefix}:edge-events`;
    const clients = String(await redis.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=${name} `));
    expect(clients).toHaveLength(1);
    await redis.client('KILL', 'ID', /\bid=(\d+)/.exec(clients[0]!)![1]!);
    await ended(legacy, 'the legacy stream');
    await waitFor('the listen stream to end', () => listen.closedBy(), PROPAGATION_DEADLINE_MS);
    await listen.client.close().catch(() => undefined);
    // The edge subscribes again by itself; then streams open again.
    const again = await waitFor('a legacy stream to open again', async () => {
      const s = await openSse(`${edgeUrl}/api/v1/mcp/${serverId}`, { 'x-api-key': stack.bootstrapKey });
      if (s.status === 200) return s;
      s.abort();
      return undefined;
    });
    again.abort();
  });
});

describe('access tokens', () => {
  it('a stream opened with an OAuth access token ends when the token expires (debug events, legacy SSE, listen)', async () => {
    const expiresIn = TOKEN_SECONDS;
    const management = await token(
      { scope: 'toolplane:management', toolplane_workspace: workspaceId },
      audience,
      expiresIn,
    );
    const runtime = await token({ scope: 'mcp:tools' }, `${edgeUrl}/mcp/${serverId}`, expiresIn);
    const events = await debugEvents({ authorization: `Bearer ${management}` });
    expect(events.status).toBe(200);
    const legacy = await legacySession(serverId, { authorization: `Bearer ${runtime}` });
    const listen = await listener(serverId, { authorization: `Bearer ${runtime}` });
    const deadline = expiresIn * 1000 + PROPAGATION_DEADLINE_MS;
    await ended(events, 'the debug event stream', deadline);
    expect(endedWith(events)).toEqual({
      code: 'auth.invalid_token',
      detail: 'the access token has expired: the stream ended',
    });
    await ended(legacy, 'the legacy stream', deadline);
    await waitFor('the listen stream to end', () => listen.closedBy(), deadline);
    const seen = events.events.length;
    await recordedCall('after the token expired');
    expect(events.events.length).toBe(seen);
    await listen.client.close().catch(() => undefined);
  }, 60_000);
});

// Issue #27, smaller findings: headers and problem details of the management API (on the same stack).
describe('management API answers', () => {
  it('say nosniff, and quote what they repeat of the request path', async () => {
    const ok = await fetch(`${stack.controlPlaneUrl}/api/v1/mcp_manager`, {
      headers: { 'x-api-key': stack.bootstrapKey },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    const missing = await fetch(`${stack.controlPlaneUrl}/api/v1/mcp_manager/${encodeURIComponent('<img src=x>')}`, {
      headers: { 'x-api-key': stack.bootstrapKey },
    });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(missing.headers.get('x-content-type-options')).toBe('nosniff');
    expect(((await missing.json()) as { detail: string }).detail).toBe('MCP server "<img src=x>" was not found');
    const unauthenticated = await fetch(`${stack.controlPlaneUrl}/api/v1/mcp_manager`);
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
