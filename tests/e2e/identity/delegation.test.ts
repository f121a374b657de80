import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { sourceCli } from '../../helpers/cli.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

// Narrowed tokens for sub-agents (ADR 0084) on one stack with two edges sharing one Redis: a key's caller trades its
// key at the edge's token endpoint (RFC 8693) for a token of fewer rights, which the official SDK client then calls
// with as a bearer token. The token cannot call a tool it does not name (nothing reaches the upstream), nor widen
// itself by another exchange; a second exchange narrows; revoking the parent key fails the child on its next call on
// both edges; the audit trail names both actors.

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const API_KEY = 'urn:toolplane:params:oauth:token-type:api_key';

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let example: RegisteredExample;
const since = new Date().toISOString();
const opened: Client[] = [];

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'delegation-upstream' });
  // A small budget of unauthenticated requests per address, reached by the last test in a few dozen requests.
  ({ stack, api } = await startTestStack('delegation', {
    edges: 2,
    serviceEnv: { edge: { UNAUTH_RATE_LIMIT: '60' } },
  }));
  example = await registerTicketExample(api, upstream.url, 'delegation-upstream');
}, 120_000);

afterAll(async () => {
  for (const c of opened) await c.close().catch(() => undefined);
  await stack?.stop();
  await upstream?.close();
});

const newKey = (name: string) => unwrap(api.POST('/api_keys', { body: { name, scopes: ['runtime'] } }));

interface Exchanged {
  status: number;
  body: {
    access_token?: string;
    issued_token_type?: string;
    token_type?: string;
    expires_in?: number;
    error?: string;
    error_description?: string;
    authorization_details?: { token_id: string; actors: string[]; tools?: string[] }[];
  };
}

/** One RFC 8693 exchange at `edge`'s token endpoint. */
async function exchange(
  edge: string,
  subject: { token: string; type: string },
  details?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Exchanged> {
  const form = new URLSearchParams({
    grant_type: EXCHANGE,
    subject_token: subject.token,
    subject_token_type: subject.type,
    requested_token_type: ACCESS_TOKEN,
    ...(details ? { authorization_details: JSON.stringify([{ type: 'toolplane_delegation', ...details }]) } : {}),
  });
  const res = await fetch(`${edge}/oauth/token-exchange`, { method: 'POST', body: form, headers });
  return { status: res.status, body: (await res.json()) as Exchanged['body'] };
}

/** A client's DPoP key (RFC 9449) and the proofs it signs. */
interface DpopKey {
  jwk: JWK;
  privateKey: CryptoKey;
}

async function dpopKey(): Promise<DpopKey> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  return { jwk: await exportJWK(publicKey), privateKey };
}

/** A proof for one request; `claims` overrides any claim (a wrong `htu`, a reused `jti`, …). */
function proof(key: DpopKey, htm: string, htu: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ htm, htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .sign(key.privateKey);
}

const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

async function narrow(edge: string, subject: { token: string; type: string }, details: Record<string, unknown>) {
  const r = await exchange(edge, subject, details);
  expect(r).toMatchObject({ status: 200, body: { issued_token_type: ACCESS_TOKEN, token_type: 'Bearer' } });
  return { token: r.body.access_token!, id: r.body.authorization_details![0]!.token_id };
}

/** The official client, sending `Authorization: DPoP <token>` and a fresh proof of `key` with each request. */
async function dpopClient(edge: string, token: string, key: DpopKey): Promise<Client> {
  const c = new Client({ name: 'delegation-dpop-test', version: '1.0.0' });
  const withProof: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers);
    headers.set('authorization', `DPoP ${token}`);
    const method = init?.method ?? 'GET';
    headers.set('dpop', await proof(key, method, `${url.origin}${url.pathname}`, { ath: ath(token) }));
    return fetch(input, { ...init, headers });
  };
  await c.connect(new StreamableHTTPClientTransport(new URL(`${edge}/mcp/${example.serverId}`), { fetch: withProof }));
  opened.push(c);
  return c;
}

async function client(edge: string, token: string): Promise<Client> {
  const c = new Client({ name: 'delegation-test', version: '1.0.0' });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${edge}/mcp/${example.serverId}`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  opened.push(c);
  return c;
}

const textOf = (r: { content?: unknown }) => ((r.content ?? []) as { text?: string }[]).map((c) => c.text).join('\n');

describe('narrowed tokens', () => {
  it('a token for one tool lists and calls only it; another tool is refused and reaches nothing', async () => {
    const key = await newKey('delegation-one-tool');
    const [e1] = stack.edgeUrls as [string, string];
    const { token } = await narrow(e1, { token: key.key, type: API_KEY }, { tools: ['get_ticket'], actor: 'reader' });
    const c = await client(e1, token);
    expect((await c.listTools()).tools.map((t) => t.name)).toEqual(['get_ticket']);
    const ok = await c.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
    expect(ok.isError).toBeFalsy();
    const before = upstream.requests.length;
    const refused = await c.callTool({ name: 'search_tickets', arguments: {} });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/narrowed token/);
    expect(upstream.requests.length).toBe(before);
  });

  it('cannot widen itself by a second exchange; a second exchange narrows further', async () => {
    const key = await newKey('delegation-chain');
    const [e1, e2] = stack.edgeUrls as [string, string];
    const parent = await narrow(
      e1,
      { token: key.key, type: API_KEY },
      { servers: [example.serverId], tools: ['get_ticket', 'search_tickets'], actor: 'planner', calls: 5 },
    );
    const asToken = { token: parent.token, type: ACCESS_TOKEN };
    // More tools, more calls, a longer life, another server: each refused, with the specification's error.
    expect(await exchange(e2, asToken, { tools: ['get_ticket', 'create_ticket'] })).toMatchObject({
      status: 400,
      body: { error: 'invalid_target' },
    });
    expect(await exchange(e2, asToken, { calls: 6 })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
    expect(await exchange(e2, asToken, { expires_in: 7200 })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
    const other = await unwrap(api.POST('/mcp_manager', { body: { name: 'delegation-other', mode: 'NORMAL' } }));
    expect(await exchange(e2, asToken, { servers: [other.id] })).toMatchObject({
      status: 400,
      body: { error: 'invalid_target' },
    });
    // A narrower one: one tool, and a condition on its arguments.
    const child = await narrow(e2, asToken, {
      tools: ['get_ticket'],
      condition: 'args.ticket_id != "TCK-2"',
      actor: 'fetcher',
    });
    const c = await client(e2, child.token);
    expect((await c.listTools()).tools.map((t) => t.name)).toEqual(['get_ticket']);
    expect((await c.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } })).isError).toBeFalsy();
    const before = upstream.requests.length;
    const byCondition = await c.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-2' } });
    expect(byCondition.isError).toBe(true);
    expect(textOf(byCondition)).toMatch(/narrowed token .* only when args\.ticket_id != "TCK-2"/);
    expect((await c.callTool({ name: 'search_tickets', arguments: {} })).isError).toBe(true);
    expect(upstream.requests.length).toBe(before);

    // The audit trail: the refusal names the key (its actor) and every holder after it.
    const refusal = await waitFor('the delegation refusal in the audit trail', async () => {
      const page = await unwrap(
        api.GET('/audit_events', { params: { query: { action: 'tool.call_refused', from: since, limit: 100 } } }),
      );
      return page.data.find(
        (e) => (e.details as { delegation?: { tokenId: string } })?.delegation?.tokenId === child.id,
      );
    });
    expect(refusal).toMatchObject({
      actor: { type: 'api_key', id: key.id },
      details: {
        refusedBy: 'delegation',
        reason: 'condition',
        delegation: { tokenId: child.id, actors: [`api_key:${key.id}`, 'planner', 'fetcher'] },
      },
    });
    // The records: the worker's of the call that ran, the edge's of the refused one, each naming the chain.
    const records = await waitFor("the child's records", async () => {
      const page = await unwrap(api.GET('/execution_records', { params: { query: { key_id: key.id, limit: 50 } } }));
      const mine = page.data.filter((r) => r.caller.delegation?.token_id === child.id);
      return mine.length >= 3 ? mine : undefined;
    });
    const actors = [`api_key:${key.id}`, 'planner', 'fetcher'];
    // A tool the token does not name is hidden from its view: refused by access, as a hidden tool is.
    expect(records.map((r) => [r.outcome, r.error_code, r.caller.delegation?.actors]).sort()).toEqual([
      ['rejected', 'access.denied', actors],
      ['rejected', 'delegation.condition', actors],
      ['success', null, actors],
    ]);
    const issued = await waitFor('the child token in the audit trail', async () => {
      const page = await unwrap(
        api.GET('/audit_events', { params: { query: { action: 'token.narrowed', from: since, limit: 100 } } }),
      );
      return page.data.find((e) => e.resource.id === child.id);
    });
    expect(issued).toMatchObject({
      actor: { type: 'api_key', id: key.id },
      details: { parentTokenId: parent.id, actors: [`api_key:${key.id}`, 'planner', 'fetcher'], tools: ['get_ticket'] },
    });
  });

  it("a token's calls are counted across both edges, with its parent's", async () => {
    const key = await newKey('delegation-calls');
    const [e1, e2] = stack.edgeUrls as [string, string];
    const parent = await narrow(e1, { token: key.key, type: API_KEY }, { calls: 2 });
    const child = await narrow(e2, { token: parent.token, type: ACCESS_TOKEN }, { calls: 2 });
    const args = { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } };
    expect((await (await client(e1, child.token)).callTool(args)).isError).toBeFalsy();
    expect((await (await client(e2, parent.token)).callTool(args)).isError).toBeFalsy();
    // The parent's two calls are spent (one by its child): neither may call again, on either edge.
    const before = upstream.requests.length;
    const spent = await (await client(e2, child.token)).callTool(args);
    expect(spent.isError).toBe(true);
    expect(textOf(spent)).toMatch(/has no calls left/);
    expect((await (await client(e1, parent.token)).callTool(args)).isError).toBe(true);
    expect(upstream.requests.length).toBe(before);
  });

  it('revoking the parent key fails the child on its next call, on both edges', async () => {
    const key = await newKey('delegation-revoked');
    const [e1, e2] = stack.edgeUrls as [string, string];
    const parent = await narrow(e1, { token: key.key, type: API_KEY }, { actor: 'agent' });
    const child = await narrow(e2, { token: parent.token, type: ACCESS_TOKEN }, { actor: 'sub-agent' });
    const args = { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } };
    const clients = [await client(e1, child.token), await client(e2, child.token)];
    for (const c of clients) expect((await c.callTool(args)).isError).toBeFalsy();
    await unwrap(api.DELETE('/api_keys/{id}', { params: { path: { id: key.id } } }));
    const call = (edge: string) =>
      fetch(`${edge}/mcp/${example.serverId}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${child.token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: args }),
      });
    // The key's revocation reaches each edge's key cache over pub/sub: from then on, every call is refused.
    for (const edge of [e1, e2])
      await waitFor(`the child refused on ${edge}`, async () => ((await call(edge)).status === 401 ? true : undefined));
    const before = upstream.requests.length;
    for (const edge of [e1, e2]) {
      const res = await call(edge);
      expect(res.status).toBe(401);
      expect(await res.text()).toMatch(/narrowed from is revoked/);
    }
    expect(upstream.requests.length).toBe(before);
    // Nor can it be exchanged again.
    expect(await exchange(e1, { token: child.token, type: ACCESS_TOKEN }, {})).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
  });
});

describe("a workflow's steps under the token's rules", () => {
  it('a step on a tool the token does not name, or against its condition, is refused and sends nothing', async () => {
    const tool = (name: string) => `toolplane:mcp_servers/ticket-system/tools/${name}`;
    const flow = (id: string, toolName: string, body: string) =>
      `  - id: ${id}\n    steps:\n      - id: step\n        request: { method: POST, url: "${tool(toolName)}", body: ${body} }\n`;
    const definition =
      `flower: "0.1"\nid: delegation-flows\nflows:\n` +
      flow('fetch_one', 'get_ticket', '{ ticket_id: TCK-1 }') +
      flow('fetch_two', 'get_ticket', '{ ticket_id: TCK-2 }') +
      flow('search_all', 'search_tickets', '{}');
    const flows = await unwrap(api.POST('/mcp_manager', { body: { name: 'delegation-flows', mode: 'NORMAL' } }));
    await unwrap(api.POST('/mcp_servers/{id}/deploy', { params: { path: { id: flows.id } }, body: { definition } }));
    const key = await newKey('delegation-workflow');
    const [e1, e2] = stack.edgeUrls as [string, string];
    const { token } = await narrow(
      e1,
      { token: key.key, type: API_KEY },
      {
        tools: ['fetch_one', 'fetch_two', 'search_all', 'get_ticket'],
        condition: 'tool.name != "get_ticket" || args.ticket_id != "TCK-2"',
        actor: 'workflow-agent',
      },
    );
    const connect = async (headers: Record<string, string>) => {
      const c = new Client({ name: 'delegation-workflow-test', version: '1.0.0' });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(`${e2}/mcp/${flows.id}`), { requestInit: { headers } }),
      );
      opened.push(c);
      return c;
    };
    // The key itself may run every flow (the token's rules are what refuse below).
    const asKey = await connect({ 'x-api-key': key.key });
    await waitFor('the flows on the edge', async () =>
      (await asKey.listTools()).tools.some((t) => t.name === 'search_all') ? true : undefined,
    );
    expect((await asKey.callTool({ name: 'search_all', arguments: {} })).isError).toBeFalsy();
    const c = await connect({ authorization: `Bearer ${token}` });
    expect((await c.callTool({ name: 'fetch_one', arguments: {} })).isError).toBeFalsy();
    const before = upstream.requests.length;
    const search = await c.callTool({ name: 'search_all', arguments: {} });
    expect(search.isError).toBe(true);
    expect(textOf(search)).toMatch(/narrowed token .* may not call the step's tool "search_tickets"/);
    const two = await c.callTool({ name: 'fetch_two', arguments: {} });
    expect(two.isError).toBe(true);
    expect(textOf(two)).toMatch(/narrowed token .* only when tool\.name != "get_ticket"/);
    expect(upstream.requests.length).toBe(before);
  });
});

describe('revoking one narrowed token (RFC 7009)', () => {
  const args = { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } };
  const revoke = (edge: string, token: string, headers: Record<string, string> = {}) =>
    fetch(`${edge}/oauth/revoke`, {
      method: 'POST',
      headers,
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    });
  const call = (edge: string, headers: Record<string, string>) =>
    fetch(`${edge}/mcp/${example.serverId}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        ...headers,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: args }),
    });

  it('fails it and its children on both edges at their next call; its parent key and sibling keep working', async () => {
    const key = await newKey('delegation-revoke-one');
    const other = await newKey('delegation-revoke-other');
    const [e1, e2] = stack.edgeUrls as [string, string];
    const parent = await narrow(e1, { token: key.key, type: API_KEY }, { actor: 'revoked-agent' });
    const child = await narrow(e2, { token: parent.token, type: ACCESS_TOKEN }, { actor: 'revoked-child' });
    const sibling = await narrow(e1, { token: key.key, type: API_KEY }, { actor: 'sibling-agent' });
    for (const edge of [e1, e2])
      for (const t of [parent.token, child.token])
        expect((await call(edge, { authorization: `Bearer ${t}` })).status).toBe(200);
    // Another key is not a credential for this token: invalid_client, and nothing revoked.
    const refused = await revoke(e1, parent.token, { 'x-api-key': other.key });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'invalid_client' });
    expect((await call(e2, { authorization: `Bearer ${child.token}` })).status).toBe(200);
    // The holder gives it up (the token itself authenticates).
    expect((await revoke(e1, parent.token)).status).toBe(200);
    const before = upstream.requests.length;
    for (const edge of [e1, e2])
      for (const t of [parent.token, child.token]) {
        const res = await call(edge, { authorization: `Bearer ${t}` });
        expect(res.status).toBe(401);
        expect(await res.text()).toMatch(/revoked/);
      }
    expect(upstream.requests.length).toBe(before);
    expect(await exchange(e2, { token: child.token, type: ACCESS_TOKEN }, {})).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
    // A second revocation of it is fine (RFC 7009 §2.2); the key and another token of it still work.
    expect((await revoke(e2, parent.token)).status).toBe(200);
    expect((await call(e2, { 'x-api-key': key.key })).status).toBe(200);
    expect((await call(e2, { authorization: `Bearer ${sibling.token}` })).status).toBe(200);
    const event = await waitFor('the revocation in the audit trail', async () => {
      const page = await unwrap(
        api.GET('/audit_events', { params: { query: { action: 'token.revoked', from: since, limit: 100 } } }),
      );
      return page.data.find((e) => e.resource.id === parent.id);
    });
    expect(event).toMatchObject({
      actor: { type: 'api_key', id: key.id },
      details: { revokedBy: 'holder', actors: [`api_key:${key.id}`, 'revoked-agent'] },
    });
  });

  it('its root key may revoke it; an ancestor token may revoke a child', async () => {
    const key = await newKey('delegation-revoke-by');
    const [e1, e2] = stack.edgeUrls as [string, string];
    const parent = await narrow(e1, { token: key.key, type: API_KEY }, { actor: 'by-agent' });
    const child = await narrow(e1, { token: parent.token, type: ACCESS_TOKEN }, { actor: 'by-child' });
    // A child is no credential for its parent.
    expect((await revoke(e2, parent.token, { authorization: `Bearer ${child.token}` })).status).toBe(401);
    // Two client authentications in one request (the root key and an ancestor token): refused, nothing revoked.
    const both = await revoke(e2, child.token, { 'x-api-key': key.key, authorization: `Bearer ${parent.token}` });
    expect(both.status).toBe(400);
    expect(await both.json()).toMatchObject({ error: 'invalid_request' });
    expect((await call(e1, { authorization: `Bearer ${child.token}` })).status).toBe(200);
    expect((await revoke(e2, child.token, { authorization: `Bearer ${parent.token}` })).status).toBe(200);
    expect((await call(e1, { authorization: `Bearer ${child.token}` })).status).toBe(401);
    expect((await call(e1, { authorization: `Bearer ${parent.token}` })).status).toBe(200);
    expect((await revoke(e2, parent.token, { 'x-api-key': key.key })).status).toBe(200);
    expect((await call(e1, { authorization: `Bearer ${parent.token}` })).status).toBe(401);
  });
});

describe('DPoP-bound narrowed tokens (RFC 9449)', () => {
  const args = { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } };
  /** One raw `tools/call` with the given credential headers. */
  const rawCall = (edge: string, headers: Record<string, string>) =>
    fetch(`${edge}/mcp/${example.serverId}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        ...headers,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: args }),
    });

  it('a proof with the exchange binds the token to its key; each call needs a fresh proof of it', async () => {
    const key = await newKey('delegation-dpop');
    const [e1, e2] = stack.edgeUrls as [string, string];
    const mine = await dpopKey();
    const bound = await exchange(
      e1,
      { token: key.key, type: API_KEY },
      { tools: ['get_ticket'], actor: 'bound-agent' },
      { dpop: await proof(mine, 'POST', `${e1}/oauth/token-exchange`) },
    );
    expect(bound).toMatchObject({ status: 200, body: { token_type: 'DPoP' } });
    const token = bound.body.access_token!;
    // With a good proof of its key, through the official client, on either edge.
    const c = await dpopClient(e2, token, mine);
    expect((await c.callTool(args)).isError).toBeFalsy();

    const url = `${e1}/mcp/${example.serverId}`;
    const other = await dpopKey();
    const replayed = await proof(mine, 'POST', url, { ath: ath(token) });
    expect((await rawCall(e1, { authorization: `DPoP ${token}`, dpop: replayed })).status).toBe(200);
    const before = upstream.requests.length;
    const refusals: [string, Record<string, string>][] = [
      ['as a bearer token', { authorization: `Bearer ${token}` }],
      ['without a proof', { authorization: `DPoP ${token}` }],
      ['another key', { authorization: `DPoP ${token}`, dpop: await proof(other, 'POST', url, { ath: ath(token) }) }],
      ['a replayed jti', { authorization: `DPoP ${token}`, dpop: replayed }],
      [
        'a wrong htu',
        { authorization: `DPoP ${token}`, dpop: await proof(mine, 'POST', `${url}x`, { ath: ath(token) }) },
      ],
      ['a wrong ath', { authorization: `DPoP ${token}`, dpop: await proof(mine, 'POST', url, { ath: ath('other') }) }],
      [
        'an old iat',
        { authorization: `DPoP ${token}`, dpop: await proof(mine, 'POST', url, { ath: ath(token), iat: 1 }) },
      ],
    ];
    for (const [what, headers] of refusals) {
      const res = await rawCall(e1, headers);
      expect([what, res.status]).toEqual([what, 401]);
      expect([what, res.headers.get('www-authenticate')]).toEqual([what, expect.stringMatching(/^DPoP /)]);
    }
    expect(upstream.requests.length).toBe(before);

    // A further exchange needs a proof of the same key; the child stays bound.
    const asToken = { token, type: ACCESS_TOKEN };
    const exchangeUrl = `${e2}/oauth/token-exchange`;
    expect(await exchange(e2, asToken, {})).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
    expect(await exchange(e2, asToken, {}, { dpop: await proof(other, 'POST', exchangeUrl) })).toMatchObject({
      status: 400,
      body: { error: 'invalid_dpop_proof' },
    });
    const child = await exchange(
      e2,
      asToken,
      { actor: 'bound-child' },
      { dpop: await proof(mine, 'POST', exchangeUrl) },
    );
    expect(child).toMatchObject({ status: 200, body: { token_type: 'DPoP' } });
    expect((await rawCall(e2, { authorization: `Bearer ${child.body.access_token!}` })).status).toBe(401);
    expect((await (await dpopClient(e1, child.body.access_token!, mine)).callTool(args)).isError).toBeFalsy();
  });
});

describe('toolplane token narrow', () => {
  it('narrows the configured key; narrows a token given on stdin further, and refuses to widen it', async () => {
    const [e1] = stack.edgeUrls as [string, string];
    const cli = sourceCli(stack);
    const { stdout } = await cli(
      'token',
      'narrow',
      '--edge',
      e1,
      '--servers',
      example.serverId,
      '--tools',
      'get_ticket,search_tickets',
      '--ttl',
      '10m',
      '--actor',
      'cli-agent',
      '--json',
    );
    const made = JSON.parse(stdout) as { access_token: string; expires_in: number };
    expect(made.expires_in).toBeLessThanOrEqual(600);
    const c = await client(e1, made.access_token);
    expect((await c.listTools()).tools.map((t) => t.name).sort()).toEqual(['get_ticket', 'search_tickets']);
    // The token on stdin (never in argv): one tool is fine, a tool it lacks is `invalid_target` (exit 3).
    const fromStdin = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const main = fileURLToPath(new URL('../../../packages/cli/src/main.ts', import.meta.url));
        const child = execFile(
          process.execPath,
          ['--conditions=@toolplane/source', main, 'token', 'narrow', '--edge', e1, '--subject-stdin', ...args],
          { env: { ...process.env, TOOLPLANE_URL: stack.controlPlaneUrl, TOOLPLANE_API_KEY: 'unused' } },
          (err, out, errOut) => resolve({ code: err ? Number(err.code) : 0, stdout: out, stderr: errOut }),
        );
        child.stdin!.end(made.access_token);
      });
    const narrower = await fromStdin('--tools', 'get_ticket', '--json');
    expect(narrower.code).toBe(0);
    expect(JSON.parse(narrower.stdout)).toMatchObject({
      authorization_details: [
        { tools: ['get_ticket'], actors: [expect.stringMatching(/^api_key:/), 'cli-agent', expect.any(String)] },
      ],
    });
    const wider = await fromStdin('--tools', 'get_ticket,create_ticket');
    expect(wider.code).toBe(3);
    expect(wider.stderr).toMatch(/invalid_target/);
  });
});

describe('toolplane token revoke', () => {
  it('revokes the token given on stdin with the configured key; a key it was not narrowed from is exit 4', async () => {
    const key = await newKey('delegation-cli-revoke');
    const other = await newKey('delegation-cli-other');
    const [e1, e2] = stack.edgeUrls as [string, string];
    const { token } = await narrow(e1, { token: key.key, type: API_KEY }, { actor: 'cli-revoked' });
    const revokeCli = (apiKey: string) =>
      new Promise<{ code: number; stderr: string }>((resolve) => {
        const main = fileURLToPath(new URL('../../../packages/cli/src/main.ts', import.meta.url));
        const child = execFile(
          process.execPath,
          ['--conditions=@toolplane/source', main, 'token', 'revoke', '--edge', e1, '--as-key'],
          { env: { ...process.env, TOOLPLANE_URL: stack.controlPlaneUrl, TOOLPLANE_API_KEY: apiKey } },
          (err, _out, errOut) => resolve({ code: err ? Number(err.code) : 0, stderr: errOut }),
        );
        child.stdin!.end(token);
      });
    const wrong = await revokeCli(other.key);
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/invalid_client/);
    expect(
      (await (await client(e2, token)).callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } })).isError,
    ).toBeFalsy();
    expect((await revokeCli(key.key)).code).toBe(0);
    const res = await fetch(`${e2}/mcp/${example.serverId}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    expect(res.status).toBe(401);
  });
});

describe('the token endpoint and the unauthenticated budget', () => {
  it('counts refused subjects against the address, then answers 429 (last: it blocks this address on the edge)', async () => {
    const [, e2] = stack.edgeUrls as [string, string];
    let last: Exchanged = { status: 0, body: {} };
    // UNAUTH_RATE_LIMIT, 60 here: refused requests per minute and address (the earlier tests' 401s count too).
    for (let i = 0; i < 80 && last.status !== 429; i++)
      last = await exchange(e2, { token: `tp_nope_${i}`, type: API_KEY });
    expect(last).toMatchObject({ status: 429, body: { error: 'slow_down' } });
  });
});
