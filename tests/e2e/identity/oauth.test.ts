import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { freePort } from '@toolplane/embedded';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { startAuthorizationServer, type LocalAuthorizationServer } from '../../helpers/authorization-server.ts';

// A local authorization server: a JWKS endpoint and a token issuer written for the test.
let authServer: LocalAuthorizationServer | undefined;
let issuer: string;
let signingKey: CryptoKey;
let foreignKey: CryptoKey;
let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;
let resource: string;
let api: ManagementClient;

async function token(
  claims: { aud?: string; iss?: string; scope?: string; exp?: number | string; key?: CryptoKey; jkt?: string } = {},
): Promise<string> {
  return new SignJWT({ scope: claims.scope ?? 'mcp:tools', ...(claims.jkt ? { cnf: { jkt: claims.jkt } } : {}) })
    .setProtectedHeader({ alg: 'RS256', kid: claims.key === foreignKey ? 'foreign' : 'k1' })
    .setSubject('alice')
    .setIssuer(claims.iss ?? issuer)
    .setAudience(claims.aud ?? resource)
    .setIssuedAt()
    .setExpirationTime(claims.exp ?? '5m')
    .sign(claims.key ?? signingKey);
}

async function post(bearer?: string) {
  return fetch(example.mcpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
}

beforeAll(async () => {
  authServer = await startAuthorizationServer();
  ({ issuer, signingKey } = authServer);
  foreignKey = (await generateKeyPair('RS256')).privateKey;
  upstream = await startTicketSystem({ apiKey: 'k' });
  const edgePort = await freePort();
  const edgeUrl = `http://127.0.0.1:${edgePort}`;
  const started = await startTestStack('oauth', {
    edgePort,
    serviceEnv: { edge: { OAUTH_ISSUER: issuer, OAUTH_JWKS_URL: `${issuer}/jwks`, PUBLIC_URL: edgeUrl } },
  });
  stack = started.stack;
  api = started.api;
  example = await registerTicketExample(started.api, upstream.url, 'k');
  // OAuth subjects need a grant (ADR 0013): alice may use every server and tool.
  await unwrap(
    started.api.POST('/access_policies', {
      body: { name: 'alice', principals: [{ type: 'oauth_subject', value: 'alice' }], servers: ['*'], tools: ['*'] },
    }),
  );
  resource = `${edgeUrl}/mcp/${example.serverId}`;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
  await authServer?.close();
});

describe('MCP authorization: the edge as an OAuth 2.1 resource server', () => {
  it('publishes Protected Resource Metadata for each server URL', async () => {
    const res = await fetch(`${stack.edgeUrl}/.well-known/oauth-protected-resource/mcp/${example.serverId}`);
    expect(await res.json()).toEqual({
      resource,
      authorization_servers: [issuer],
      scopes_supported: ['mcp:tools'],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: expect.arrayContaining(['ES256', 'EdDSA', 'RS256']),
      resource_name: `Toolplane MCP server ${example.serverId}`,
    });
  });

  it('challenges an unauthenticated request with the metadata URL and scope', async () => {
    const res = await post();
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${stack.edgeUrl}/.well-known/oauth-protected-resource/mcp/${example.serverId}", scope="mcp:tools"`,
    );
  });

  it('accepts a valid token with an official SDK client, and never forwards it upstream', async () => {
    const client = new Client({ name: 'oauth', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(example.mcpUrl), {
        requestInit: { headers: { authorization: `Bearer ${await token()}` } },
      }),
    );
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual([
      'search_tickets',
      'get_ticket',
      'create_ticket',
    ]);
    const before = upstream.requests.length;
    const result = await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
    await client.close();
    expect(result.structuredContent).toMatchObject({ id: 'TCK-1' });
    const sent = upstream.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.headers.authorization).toBeUndefined();
    expect(sent[0]!.headers['x-api-key']).toBe('k');
  });

  it.each([
    [
      'a token for another resource',
      () => token({ aud: `${stack.edgeUrl}/mcp/00000000-0000-4000-8000-000000000000` }),
      /"aud" claim/,
    ],
    ['an expired token', () => token({ exp: Math.floor(Date.now() / 1000) - 60 }), /expired/],
    ['a token from another issuer', () => token({ iss: 'https://evil.example' }), /"iss" claim/],
    ['a token signed by an unknown key', () => token({ key: foreignKey }), /could not be verified/],
  ])('refuses %s with 401 invalid_token', async (_label, make, reason) => {
    const res = await post(await make());
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toContain('resource_metadata=');
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(reason);
  });

  it('asks for step-up with 403 insufficient_scope when the scope is missing', async () => {
    const res = await post(await token({ scope: 'profile' }));
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(res.headers.get('www-authenticate')).toContain('scope="mcp:tools"');
  });

  it('still accepts API keys on the same server', async () => {
    const res = await fetch(example.mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        'x-api-key': stack.bootstrapKey,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(200);
  });
});

describe('DPoP-bound access tokens (RFC 9449, ADR 0106)', () => {
  interface DpopKey {
    jwk: JWK;
    privateKey: CryptoKey;
    jkt: string;
  }
  const dpopKey = async (): Promise<DpopKey> => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    return { jwk, privateKey, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
  };
  /** A proof for one request; `claims` overrides any claim (a wrong `htu`, a reused `jti`, …). */
  const proof = (key: DpopKey, htm: string, htu: string, claims: Record<string, unknown> = {}) =>
    new SignJWT({ htm, htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
      .sign(key.privateKey);
  const ath = (t: string) => createHash('sha256').update(t).digest('base64url');
  const args = { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } };
  /** One raw `tools/call` with the given credential headers. */
  const rawCall = (headers: Record<string, string>) =>
    fetch(example.mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        ...headers,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: args }),
    });

  it('a token carrying cnf.jkt is accepted only as DPoP with a fresh proof of its key; unbound ones as before', async () => {
    const mine = await dpopKey();
    const other = await dpopKey();
    const bound = await token({ jkt: mine.jkt });
    // The official client, each request with `Authorization: DPoP` and a fresh proof.
    const withProof: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const headers = new Headers(init?.headers);
      headers.set('authorization', `DPoP ${bound}`);
      headers.set(
        'dpop',
        await proof(mine, init?.method ?? 'GET', `${url.origin}${url.pathname}`, { ath: ath(bound) }),
      );
      return fetch(input, { ...init, headers });
    };
    const client = new Client({ name: 'oauth-dpop', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(example.mcpUrl), { fetch: withProof }));
    expect((await client.callTool(args)).structuredContent).toMatchObject({ id: 'TCK-1' });
    await client.close();

    const url = example.mcpUrl;
    const replayed = await proof(mine, 'POST', url, { ath: ath(bound) });
    expect((await rawCall({ authorization: `DPoP ${bound}`, dpop: replayed })).status).toBe(200);
    const before = upstream.requests.length;
    const refusals: [string, Record<string, string>][] = [
      ['as a bearer token', { authorization: `Bearer ${bound}` }],
      ['without a proof', { authorization: `DPoP ${bound}` }],
      ['another key', { authorization: `DPoP ${bound}`, dpop: await proof(other, 'POST', url, { ath: ath(bound) }) }],
      ['a replayed proof', { authorization: `DPoP ${bound}`, dpop: replayed }],
      ['a wrong htm', { authorization: `DPoP ${bound}`, dpop: await proof(mine, 'GET', url, { ath: ath(bound) }) }],
      [
        'a wrong htu',
        { authorization: `DPoP ${bound}`, dpop: await proof(mine, 'POST', `${url}x`, { ath: ath(bound) }) },
      ],
      ['a wrong ath', { authorization: `DPoP ${bound}`, dpop: await proof(mine, 'POST', url, { ath: ath('other') }) }],
      [
        'an old iat',
        { authorization: `DPoP ${bound}`, dpop: await proof(mine, 'POST', url, { ath: ath(bound), iat: 1 }) },
      ],
    ];
    for (const [what, headers] of refusals) {
      const res = await rawCall(headers);
      expect([what, res.status]).toEqual([what, 401]);
      expect([what, res.headers.get('www-authenticate')]).toEqual([what, expect.stringMatching(/^DPoP error=/)]);
    }
    expect(upstream.requests.length).toBe(before);

    // A token without cnf is a bearer token, as before; sent as DPoP it claims a binding it does not have.
    const unbound = await token();
    expect((await rawCall({ authorization: `Bearer ${unbound}` })).status).toBe(200);
    const claimed = await rawCall({
      authorization: `DPoP ${unbound}`,
      dpop: await proof(mine, 'POST', url, { ath: ath(unbound) }),
    });
    expect(claimed.status).toBe(401);
    // Canary: no service printed either token.
    const output = stack.processes.map((p) => p.output()).join('\n');
    expect(output).not.toContain(bound);
    expect(output).not.toContain(unbound);
  });

  it('a bound token is exchanged for a narrowed one only with a proof of its key, and the child stays bound', async () => {
    const mine = await dpopKey();
    const other = await dpopKey();
    const bound = await token({ jkt: mine.jkt });
    const exchangeUrl = `${stack.edgeUrl}/oauth/token-exchange`;
    const exchange = async (headers: Record<string, string>) => {
      const form = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: bound,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        authorization_details: JSON.stringify([
          { type: 'toolplane_delegation', actor: 'bound-agent', servers: [example.serverId], tools: ['get_ticket'] },
        ]),
      });
      const res = await fetch(exchangeUrl, { method: 'POST', body: form, headers });
      return { status: res.status, body: (await res.json()) as Record<string, string> };
    };
    expect(await exchange({})).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
    expect(await exchange({ dpop: await proof(other, 'POST', exchangeUrl) })).toMatchObject({
      status: 400,
      body: { error: 'invalid_dpop_proof' },
    });
    const child = await exchange({ dpop: await proof(mine, 'POST', exchangeUrl) });
    expect(child).toMatchObject({ status: 200, body: { token_type: 'DPoP' } });
    const narrowed = child.body.access_token!;
    expect((await rawCall({ authorization: `Bearer ${narrowed}` })).status).toBe(401);
    const ok = await rawCall({
      authorization: `DPoP ${narrowed}`,
      dpop: await proof(mine, 'POST', example.mcpUrl, { ath: ath(narrowed) }),
    });
    expect(ok.status).toBe(200);
  });
});

describe('$current_user.token in workflows (opt-in per server, issues #4 and #7)', () => {
  it("is empty unless the server sets config.exposeCallerToken; then the OAuth caller's token (never an API key) reaches the upstream, and no record keeps it", async () => {
    const received: Record<string, string | string[] | undefined>[] = [];
    const mock = createServer((req, res) => {
      received.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => mock.listen(0, '127.0.0.1', r));
    const mockUrl = `http://127.0.0.1:${(mock.address() as AddressInfo).port}`;
    try {
      const server = await unwrap(api.POST('/mcp_manager', { body: { name: 'tokened', mode: 'NORMAL' } }));
      await unwrap(
        api.POST('/mcp_servers/{id}/deploy', {
          params: { path: { id: server.id } },
          body: {
            definition: JSON.stringify({
              flower: '0.1',
              id: 'tokened',
              flows: [
                {
                  id: 'whoami',
                  steps: [
                    {
                      id: 'me',
                      request: {
                        method: 'GET',
                        url: `${mockUrl}/me`,
                        headers: { 'X-User-Token': '$current_user.token', 'X-Tenant': '$current_user.tenant' },
                      },
                    },
                  ],
                },
              ],
            }),
          },
        }),
      );
      const call = async (headers: Record<string, string>) => {
        const client = new Client({ name: 'oauth-wf', version: '1.0.0' });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(server.url), {
            requestInit: { headers: { ...headers, 'Config-Tenant': 'acme' } },
          }),
        );
        const result = await client.callTool({ name: 'whoami', arguments: {} });
        await client.close();
        expect(result.isError).toBeFalsy();
        return received.at(-1)!;
      };
      const aud = `${stack.edgeUrl}/mcp/${server.id}`;

      // Not opted in: the token stays on the edge.
      const before = await call({ authorization: `Bearer ${await token({ aud })}` });
      expect(before['x-user-token']).toBeUndefined();
      expect(before['x-tenant']).toBe('acme');

      await unwrap(
        api.PATCH('/mcp_manager/{id}', {
          params: { path: { id: server.id } },
          body: { config: { exposeCallerToken: true } },
        }),
      );
      const bearer = await token({ aud });
      // The edge reloads the catalog on the change event (pub/sub): retry until the new version serves.
      const opted = await waitFor('the opted-in catalog on the edge', async () => {
        const seen = await call({ authorization: `Bearer ${bearer}` });
        return seen['x-user-token'] !== undefined ? seen : undefined;
      });
      expect(opted['x-user-token']).toBe(bearer);
      // An API key is never a "user token".
      const withKey = await call({ 'x-api-key': stack.bootstrapKey });
      expect(withKey['x-user-token']).toBeUndefined();
      expect(JSON.stringify(withKey)).not.toContain(stack.bootstrapKey);

      const calls = received.length;
      const records = await waitFor(`the execution records of ${calls} calls`, async () => {
        const { data } = await unwrap(
          api.GET('/execution_records', { params: { query: { server_id: server.id, tool: 'whoami' } } }),
        );
        if (data.length < calls) throw new Error(`${data.length} so far`);
        return data;
      });
      expect(records).toHaveLength(calls);
      const details = JSON.stringify(
        await Promise.all(
          (records as { id: string }[]).map((r) =>
            unwrap(api.GET('/execution_records/{id}', { params: { path: { id: r.id } } })),
          ),
        ),
      );
      expect(details).not.toContain(bearer);
      expect(details).not.toContain('acme');
    } finally {
      await new Promise<void>((r) => mock.close(() => r()));
    }
  }, 60_000);
});
