import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { freePort } from '@toolplane/embedded';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startAuthorizationServer, type LocalAuthorizationServer } from '../../helpers/authorization-server.ts';
import { dumpPostgres, dumpRedis } from '../../helpers/output-search.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

// Enterprise-managed authorization (ADR 0082, docs/identity.md): a local enterprise IdP of the test's own (a jose key,
// its JWKS on 127.0.0.1) signs ID-JAGs; the edge's authorization server redeems them (RFC 7523 JWT bearer grant) for
// access tokens bound to one MCP server and naming the person. A second local issuer is the external OAuth issuer the
// edge already trusted: both are listed, both accepted.

let idp: LocalAuthorizationServer;
let external: LocalAuthorizationServer;
let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let serverA: RegisteredExample;
let serverB: RegisteredExample;
let edgeUrl: string;
let keyDir: string;
let idpId: string;
let clientSecret: string;
const clientId = 'acme-mcp-client';
/** Every ID-JAG, access token and client secret the test saw: none may appear in any output. */
const credentials: string[] = [];

interface IdJagOptions {
  typ?: string;
  aud?: string;
  iss?: string;
  resource?: string;
  sub?: string;
  jti?: string;
  clientId?: string;
  exp?: number | string;
  iat?: number;
  key?: LocalAuthorizationServer;
}

/** An ID-JAG as the IdP's token exchange would issue it (each field changeable to make a wrong one). */
function idJag(o: IdJagOptions = {}): Promise<string> {
  const jwt = new SignJWT({
    resource: o.resource ?? serverA.mcpUrl,
    client_id: o.clientId ?? clientId,
    scope: 'mcp:tools',
  })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: o.typ ?? 'oauth-id-jag+jwt' })
    .setIssuer(o.iss ?? idp.issuer)
    .setSubject(o.sub ?? 'alice')
    .setAudience(o.aud ?? edgeUrl)
    .setJti(o.jti ?? randomUUID())
    .setIssuedAt(o.iat)
    .setExpirationTime(o.exp ?? '5m');
  return jwt.sign((o.key ?? idp).signingKey).then((signed) => (credentials.push(signed), signed));
}

/** The token request (client_secret_basic unless `auth` says otherwise); the answer's status and JSON body. */
async function redeem(
  assertion: string,
  auth: { id?: string; secret?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
) {
  const basic = Buffer.from(`${auth.id ?? clientId}:${auth.secret ?? clientSecret}`).toString('base64');
  const res = await fetch(`${edgeUrl}/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${basic}`,
      ...auth.headers,
    },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion,
      ...auth.form,
    }),
  });
  const body = (await res.json()) as Record<string, string>;
  if (body.access_token) credentials.push(body.access_token);
  return {
    status: res.status,
    cache: res.headers.get('cache-control'),
    retryAfter: res.headers.get('retry-after'),
    body,
  };
}

async function callAs(accessToken: string, mcpUrl: string) {
  const client = new Client({ name: 'id-jag', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), {
      requestInit: { headers: { authorization: `Bearer ${accessToken}` } },
    }),
  );
  try {
    return await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  idp = await startAuthorizationServer();
  external = await startAuthorizationServer();
  upstream = await startTicketSystem({ apiKey: 'k' });
  keyDir = mkdtempSync(join(tmpdir(), 'id-jag-'));
  const keyFile = join(keyDir, 'signing.pem');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const edgePort = await freePort();
  edgeUrl = `http://127.0.0.1:${edgePort}`;
  ({ stack, api } = await startTestStack('id-jag', {
    edgePort,
    serviceEnv: {
      edge: {
        PUBLIC_URL: edgeUrl,
        OAUTH_ISSUER: external.issuer,
        OAUTH_JWKS_URL: `${external.issuer}/jwks`,
        ENTERPRISE_AS_SIGNING_KEY_FILE: keyFile,
        // Failed client logins share the budget of unauthenticated requests per address (the last test spends it).
        UNAUTH_RATE_LIMIT: '30',
      },
    },
  }));
  serverA = await registerTicketExample(api, upstream.url, 'k', 'tickets-a');
  serverB = await registerTicketExample(api, upstream.url, 'k', 'tickets-b');
  for (const name of ['alice', 'bob']) await unwrap(api.POST('/external_users', { body: { name } }));
  // People without a connection of their own run the ticket tools with the server's credentials.
  for (const { serverId } of [serverA, serverB])
    await unwrap(
      api.PATCH('/mcp_manager/{id}', {
        params: { path: { id: serverId } },
        body: { config: { fallbackToShared: true } },
      }),
    );
  // The IdP's people come in as OAuth subjects (any of them), each limited to what their person is granted:
  // alice may use server A only; bob nothing.
  await unwrap(
    api.POST('/access_policies', {
      body: { name: 'idp-subjects', principals: [{ type: 'oauth_subject', value: '*' }], servers: ['*'], tools: ['*'] },
    }),
  );
  await unwrap(
    api.POST('/access_policies', {
      body: {
        name: 'alice-on-a',
        principals: [{ type: 'external_user', value: 'alice' }],
        servers: [serverA.serverId],
        tools: ['*'],
      },
    }),
  );
  const created = await unwrap(
    api.POST('/enterprise_idps', {
      body: { name: 'acme', issuer: idp.issuer, jwksUrl: `${idp.issuer}/jwks`, clientId },
    }),
  );
  idpId = created.id;
  clientSecret = created.clientSecret!;
  credentials.push(clientSecret);
  expect(clientSecret).toMatch(/^tpidp_/);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
  await idp?.close();
  await external?.close();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

describe('enterprise-managed authorization (ID-JAG)', () => {
  it('lists both authorization servers in the protected resource metadata, and serves its own RFC 8414 metadata', async () => {
    const prm = (await (
      await fetch(`${edgeUrl}/.well-known/oauth-protected-resource/mcp/${serverA.serverId}`)
    ).json()) as { resource: string; authorization_servers: string[] };
    expect(prm.resource).toBe(serverA.mcpUrl);
    expect(prm.authorization_servers).toEqual([external.issuer, edgeUrl]);
    const meta = (await (await fetch(`${edgeUrl}/.well-known/oauth-authorization-server`)).json()) as Record<
      string,
      unknown
    >;
    expect(meta).toMatchObject({
      issuer: edgeUrl,
      token_endpoint: `${edgeUrl}/oauth/token`,
      jwks_uri: `${edgeUrl}/oauth/jwks`,
      grant_types_supported: ['urn:ietf:params:oauth:grant-type:jwt-bearer'],
      authorization_grant_profiles_supported: ['urn:ietf:params:oauth:grant-profile:id-jag'],
      dpop_signing_alg_values_supported: expect.arrayContaining(['ES256', 'EdDSA']),
    });
    const jwks = (await (await fetch(`${edgeUrl}/oauth/jwks`)).json()) as { keys: { kty: string; d?: string }[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]!.d).toBeUndefined();
  });

  it('redeems an ID-JAG and calls a tool as that person through the official SDK client', async () => {
    // The IdP's configuration reaches the edges with the workspace's policies.
    const granted = await waitFor('the ID-JAG redeemed', async () => {
      const r = await redeem(await idJag());
      return r.status === 200 && r;
    });
    expect(granted.cache).toBe('no-store');
    expect(granted.body).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'mcp:tools' });
    const before = upstream.requests.length;
    const result = await callAs(granted.body.access_token!, serverA.mcpUrl);
    expect(result.structuredContent).toMatchObject({ id: 'TCK-1' });
    expect(upstream.requests.length).toBe(before + 1);
    // The record names the IdP's subject and the person it maps to; the trail, the grant to that person.
    const record = await waitFor('the call’s execution record', async () => {
      const r = await unwrap(
        api.GET('/execution_records', { params: { query: { server_id: serverA.serverId, tool: 'get_ticket' } } }),
      );
      return r.data.find((d) => d.caller.username === 'alice');
    });
    expect(record.caller).toMatchObject({ subject: 'alice', username: 'alice', acting_via: `id-jag:${idpId}` });
    const grant = await waitFor('the grant’s audit event', async () => {
      const page = await unwrap(api.GET('/audit_events', { params: { query: { limit: 100 } } }));
      return page.data.find((e) => e.action === 'enterprise_idp.grant' && e.outcome === 'success');
    });
    expect(grant.actor).toMatchObject({ type: 'person', name: 'alice' });
    expect(JSON.stringify(grant)).not.toContain(granted.body.access_token!);
  });

  it('binds the access token to its server: another server refuses it', async () => {
    const r = await redeem(await idJag());
    expect(r.status).toBe(200);
    const res = await fetch(serverB.mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${r.body.access_token}`,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('keeps accepting the external issuer’s tokens beside its own', async () => {
    const token = await new SignJWT({ scope: 'mcp:tools' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setSubject('alice')
      .setIssuer(external.issuer)
      .setAudience(serverA.mcpUrl)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(external.signingKey);
    expect((await callAs(token, serverA.mcpUrl)).structuredContent).toMatchObject({ id: 'TCK-1' });
  });

  it('binds the token to a DPoP key when the request carries a proof (RFC 9449): then only its proofs reach the server', async () => {
    const key = async () => {
      const { publicKey, privateKey } = await generateKeyPair('ES256');
      return { jwk: await exportJWK(publicKey), privateKey };
    };
    const proof = (k: { jwk: JWK; privateKey: CryptoKey }, htu: string, claims: Record<string, unknown> = {}) =>
      new SignJWT({ htm: 'POST', htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: k.jwk })
        .sign(k.privateKey);
    const [mine, other] = [await key(), await key()];
    const tokenUrl = `${edgeUrl}/oauth/token`;
    const badProof = await redeem(await idJag(), { headers: { dpop: await proof(mine, `${tokenUrl}x`) } });
    expect(badProof).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
    const bound = await redeem(await idJag(), { headers: { dpop: await proof(mine, tokenUrl) } });
    expect(bound).toMatchObject({ status: 200, body: { token_type: 'DPoP' } });
    const token = bound.body.access_token!;
    const ath = createHash('sha256').update(token).digest('base64url');
    const call = (headers: Record<string, string>) =>
      fetch(serverA.mcpUrl, {
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
          params: { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } },
        }),
      });
    const good = await proof(mine, serverA.mcpUrl, { ath });
    const answered = await call({ authorization: `DPoP ${token}`, dpop: good });
    expect(answered.status).toBe(200);
    expect(JSON.stringify(await answered.json())).toContain('TCK-1');
    const before = upstream.requests.length;
    for (const [what, headers] of [
      ['as a bearer token', { authorization: `Bearer ${token}` }],
      ['without a proof', { authorization: `DPoP ${token}` }],
      ['another key', { authorization: `DPoP ${token}`, dpop: await proof(other, serverA.mcpUrl, { ath }) }],
      ['a replayed proof', { authorization: `DPoP ${token}`, dpop: good }],
    ] as [string, Record<string, string>][]) {
      const res = await call(headers);
      expect([what, res.status, res.headers.get('www-authenticate')]).toEqual([
        what,
        401,
        expect.stringMatching(/^DPoP /),
      ]);
    }
    expect(upstream.requests.length).toBe(before);
  });

  it('refuses a token whose person was deleted (the edges’ own, an external issuer’s): nothing runs with shared credentials', async () => {
    await unwrap(api.POST('/external_users', { body: { name: 'dana' } }));
    const policy = await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'dana-on-a',
          principals: [{ type: 'external_user', value: 'dana' }],
          servers: [serverA.serverId],
          tools: ['*'],
        },
      }),
    );
    const granted = await waitFor('dana’s ID-JAG redeemed', async () => {
      const r = await redeem(await idJag({ sub: 'dana' }));
      return r.status === 200 && r;
    });
    const outside = await new SignJWT({ scope: 'mcp:tools' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setSubject('dana')
      .setIssuer(external.issuer)
      .setAudience(serverA.mcpUrl)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(external.signingKey);
    const tokens = [granted.body.access_token!, outside];
    // Both first act as dana.
    for (const token of tokens)
      expect((await callAs(token, serverA.mcpUrl)).structuredContent).toMatchObject({ id: 'TCK-1' });
    const record = await waitFor('dana’s execution records', async () => {
      const r = await unwrap(
        api.GET('/execution_records', { params: { query: { server_id: serverA.serverId, tool: 'get_ticket' } } }),
      );
      const hers = r.data.filter((d) => d.caller.username === 'dana');
      return hers.length === 2 && hers;
    });
    expect(record.map((r) => r.caller.subject)).toEqual(['dana', 'dana']);
    const res = await api.DELETE('/external_users/{name}', { params: { path: { name: 'dana' } } });
    expect(res.response.status).toBe(204);
    const before = upstream.requests.length;
    await expectGone(tokens);
    // Redis loses what it knew of gone people (a flush, an empty restart): the control plane republishes it from
    // PostgreSQL, and the tokens stay refused.
    const redis = new Redis(stack.redisUrl);
    try {
      const formerKeys = await redis.keys(`${stack.redisPrefix}:former-users:*`);
      expect(formerKeys).toHaveLength(1);
      await redis.del(`${stack.redisPrefix}:runtime-state`, ...formerKeys);
      await waitFor(
        'the runtime state republished',
        async () => (await redis.exists(`${stack.redisPrefix}:runtime-state`)) === 1,
      );
      expect(await redis.hget(formerKeys[0]!, 'dana')).toBeTruthy();
    } finally {
      redis.disconnect();
    }
    await expectGone(tokens);
    expect(upstream.requests.length).toBe(before);
    await api.DELETE('/access_policies/{id}', { params: { path: { id: policy.id } } });
  });

  /** Each token's call is refused as acting for dana, a person gone. */
  async function expectGone(tokens: string[]) {
    for (const token of tokens) {
      const refused = await fetch(serverA.mcpUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } },
        }),
      });
      expect(refused.status).toBe(403);
      const answer = (await refused.json()) as { error: { message: string } };
      expect(answer.error.message).toMatch(/"dana", who is no longer an active external user/);
    }
  }

  const replayed = randomUUID();
  it.each<[string, () => Promise<string>, RegExp, { id?: string; secret?: string }?]>([
    ['an ID-JAG for another audience', () => idJag({ aud: 'https://as.other.example' }), /"aud" claim/],
    [
      'an expired ID-JAG',
      () => idJag({ iat: Math.floor(Date.now() / 1000) - 600, exp: Math.floor(Date.now() / 1000) - 300 }),
      /expired/,
    ],
    [
      'a replayed jti',
      async () => {
        expect((await redeem(await idJag({ jti: replayed }))).status).toBe(200);
        return idJag({ jti: replayed });
      },
      /already used/,
    ],
    ['a wrong typ', () => idJag({ typ: 'JWT' }), /"typ"/],
    ['an unknown issuer', () => idJag({ iss: external.issuer, key: external }), /issuer is not an identity provider/],
    ['a server the person may not use', () => idJag({ resource: serverB.mcpUrl }), /access policies/],
    ['a person the workspace does not know', () => idJag({ sub: 'carol' }), /no active person/],
    ['an ID-JAG issued to another client', () => idJag({ clientId: 'other-client' }), /another client/],
  ])('refuses %s with invalid_grant, and nothing runs', async (_label, make, reason) => {
    const before = upstream.requests.length;
    const r = await redeem(await make());
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_grant');
    expect(r.body.error_description).toMatch(reason);
    expect(r.body.access_token).toBeUndefined();
    expect(upstream.requests.length).toBe(before);
  });

  it('refuses a client that does not authenticate with invalid_client (401)', async () => {
    const r = await redeem(await idJag(), { secret: 'tpidp_wrong' });
    expect(r.status).toBe(401);
    expect(r.body.error).toBe('invalid_client');
  });

  it('refuses two client authentication methods in one request with invalid_request (RFC 6749 §2.3)', async () => {
    const assertion = await idJag();
    // HTTP Basic and client_secret_post at once, even with the right secret in both: refused before the ID-JAG is spent.
    const both = await redeem(assertion, { form: { client_id: clientId, client_secret: clientSecret } });
    expect(both.status).toBe(400);
    expect(both.body.error).toBe('invalid_request');
    expect(both.body.error_description).toMatch(/one client authentication method/);
    expect(both.body.access_token).toBeUndefined();
    // One method: the same assertion redeems.
    const one = await redeem(assertion);
    expect(one.status).toBe(200);
    expect(one.body.access_token).toBeDefined();
  });

  it('manages IdPs with /enterprise_idps: never answers a secret again, rotates it, and a removed IdP is refused', async () => {
    const list = await unwrap(api.GET('/enterprise_idps'));
    expect(list.data.map((i) => [i.name, i.issuer, i.clientId])).toEqual([['acme', idp.issuer, clientId]]);
    expect(JSON.stringify(list)).not.toContain(clientSecret);
    const one = await unwrap(api.GET('/enterprise_idps/{id}', { params: { path: { id: idpId } } }));
    expect(one.clientSecret).toBeUndefined();
    const rotated = await unwrap(
      api.PATCH('/enterprise_idps/{id}', { params: { path: { id: idpId } }, body: { rotateSecret: true } }),
    );
    expect(rotated.clientSecret).toMatch(/^tpidp_/);
    const previous = clientSecret;
    clientSecret = rotated.clientSecret!;
    credentials.push(clientSecret);
    await waitFor(
      'the previous secret refused',
      async () => (await redeem(await idJag(), { secret: previous })).status === 401,
    );
    expect((await redeem(await idJag())).status).toBe(200);
    await unwrap(api.DELETE('/enterprise_idps/{id}', { params: { path: { id: idpId } } }));
    // Its client registration went with it: the client no longer authenticates.
    const refused = await waitFor('the removed IdP refused', async () => {
      const r = await redeem(await idJag());
      return r.status === 401 && r;
    });
    expect(refused.body.error).toBe('invalid_client');
  });

  it('limits failed client logins per address (429, Retry-After), in the budget the MCP endpoints share', async () => {
    let last = await redeem(await idJag(), { secret: 'tpidp_wrong' });
    for (let i = 0; i < 40 && last.status === 401; i++) last = await redeem(await idJag(), { secret: 'tpidp_wrong' });
    expect(last.status).toBe(429);
    expect(Number(last.retryAfter)).toBeGreaterThan(0);
    const mcp = await fetch(serverA.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(mcp.status).toBe(429);
  });

  it('never writes an ID-JAG, an access token or a client secret to logs, Redis or PostgreSQL', async () => {
    expect(credentials.length).toBeGreaterThan(10);
    const logs = stack.processes.map((p) => p.output()).join('\n');
    const redis = (await dumpRedis(stack)).join('\n');
    const rows = (await dumpPostgres(stack)).rows.join('\n');
    // The published IdP rows were there (the search covered them), with the secret's digest only.
    expect(rows).toContain(clientId);
    const found = credentials.filter((c) => logs.includes(c) || redis.includes(c) || rows.includes(c));
    expect(found).toEqual([]);
  });
});
