import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { freePort } from '@toolplane/embedded';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startStreamableMcpServer, type ExternalMcpServer } from '../../fixtures/mcp-servers.ts';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { waitFor } from '../../helpers/wait.ts';
import { startAuthorizationServer, type LocalAuthorizationServer } from '../../helpers/authorization-server.ts';

// Who may act as an external user, and with whose credentials each tool kind then runs (ADR 0013
// amendment; docs/security.md "Acting as an external user"). One table of expectations drives every
// cell, and the same table is read back from docs/security.md.

// `narrowed`: a narrowed token of the key (ADR 0084), every right of it kept: it acts as whom its key may;
// `narrowed_oauth`: one of the OAuth caller's token for the server, acting as whom that subject may;
// `narrowed_dpop`: a narrowed token of the key bound to a DPoP key (RFC 9449), each request with a fresh proof.
type Caller = 'api_key' | 'narrowed' | 'narrowed_dpop' | 'oauth' | 'narrowed_oauth' | 'id_jag' | 'anonymous';
type ServerKind = 'private' | 'public';
type UserKind = 'none' | 'allowed' | 'not-allowed';
type Outcome = 'shared' | 'own' | 'refused-401' | 'refused-403-anonymous' | 'refused-403-not-allowed';
type ToolKind = 'connector' | 'external_mcp' | 'workflow';

const callers: Caller[] = ['api_key', 'narrowed', 'narrowed_dpop', 'oauth', 'narrowed_oauth', 'id_jag', 'anonymous'];
const serverKinds: ServerKind[] = ['private', 'public'];
const userKinds: UserKind[] = ['none', 'allowed', 'not-allowed'];
const toolKinds: ToolKind[] = ['connector', 'external_mcp', 'workflow'];

/** The whole matrix: the outcome is the same for every tool kind. */
const expectations: Record<`${Caller} ${ServerKind} ${UserKind}`, Outcome> = {
  'api_key private none': 'shared',
  'api_key private allowed': 'own',
  'api_key private not-allowed': 'refused-403-not-allowed',
  'api_key public none': 'shared',
  'api_key public allowed': 'own',
  'api_key public not-allowed': 'refused-403-not-allowed',
  'narrowed private none': 'shared',
  'narrowed private allowed': 'own',
  'narrowed private not-allowed': 'refused-403-not-allowed',
  'narrowed public none': 'shared',
  'narrowed public allowed': 'own',
  'narrowed public not-allowed': 'refused-403-not-allowed',
  'narrowed_dpop private none': 'shared',
  'narrowed_dpop private allowed': 'own',
  'narrowed_dpop private not-allowed': 'refused-403-not-allowed',
  'narrowed_dpop public none': 'shared',
  'narrowed_dpop public allowed': 'own',
  'narrowed_dpop public not-allowed': 'refused-403-not-allowed',
  'oauth private none': 'shared',
  'oauth private allowed': 'own',
  'oauth private not-allowed': 'refused-403-not-allowed',
  'oauth public none': 'shared',
  'oauth public allowed': 'own',
  'oauth public not-allowed': 'refused-403-not-allowed',
  'narrowed_oauth private none': 'shared',
  'narrowed_oauth private allowed': 'own',
  'narrowed_oauth private not-allowed': 'refused-403-not-allowed',
  'narrowed_oauth public none': 'shared',
  'narrowed_oauth public allowed': 'own',
  'narrowed_oauth public not-allowed': 'refused-403-not-allowed',
  // An access token of the edges' own authorization server for alice's ID-JAG (ADR 0082): it is alice, never shared.
  'id_jag private none': 'own',
  'id_jag private allowed': 'own',
  'id_jag private not-allowed': 'refused-403-not-allowed',
  'id_jag public none': 'own',
  'id_jag public allowed': 'own',
  'id_jag public not-allowed': 'refused-403-not-allowed',
  'anonymous private none': 'refused-401',
  'anonymous private allowed': 'refused-401',
  'anonymous private not-allowed': 'refused-401',
  'anonymous public none': 'shared',
  'anonymous public allowed': 'refused-403-anonymous',
  'anonymous public not-allowed': 'refused-403-anonymous',
};

const userName: Record<UserKind, string | undefined> = { none: undefined, allowed: 'alice', 'not-allowed': 'mallory' };

/** The credential each tool kind's upstream receives, shared or alice's own. */
const credential: Record<ToolKind, Record<'shared' | 'own', string>> = {
  connector: { shared: 'Bearer shared-api', own: 'Bearer alice-api' },
  external_mcp: { shared: 'Bearer shared-mcp', own: 'Bearer alice-mcp' },
  workflow: { shared: 'Bearer shared-wf', own: 'Bearer alice-wf' },
};

let authServer: LocalAuthorizationServer;
let stack: Stack;
let api: ManagementClient;
/** The control plane past the contract proxy (the management API's refusals of MCP callers' tokens). */
let direct: string;
let edgeUrl: string;
let upstream: Server;
let upstreamUrl: string;
let remote: ExternalMcpServer;
/** Authorization headers received by the connector (`/api/…`) and workflow (`/wf/…`) upstream. */
const received: { kind: 'connector' | 'workflow'; authorization: string | undefined; user?: string; tier?: string }[] =
  [];
const servers: Record<ServerKind, { id: string; tools: Record<ToolKind, string> }> = {} as never;
let key: string;
let keyId: string;
/** A narrowed token of `key` (RFC 8693 exchange at the edge), keeping all its rights; and its id. */
let narrowedToken: string;
let narrowedId: string;
/** A narrowed token of `key` bound to `dpopKey` (RFC 9449). */
let dpopToken: string;
let dpopKey: { jwk: JWK; privateKey: CryptoKey };

/** A DPoP proof of `dpopKey` for a POST to `url` (with `token`'s hash, when one goes with it). */
function dpopProof(url: string, token?: string): Promise<string> {
  const ath = token === undefined ? {} : { ath: createHash('sha256').update(token).digest('base64url') };
  return new SignJWT({ htm: 'POST', htu: url, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...ath })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: dpopKey.jwk })
    .sign(dpopKey.privateKey);
}
/** The registered MCP client's secret at the edges' token endpoint (ADR 0082). */
let idpId: string;
let idpSecret: string;
/** Where the edges' signing key is written for the stack. */
let keyDir: string;
let instanceId: string;
const policyIds: Record<string, string> = {};

const descriptor = (url: string) => `
metadata: { name: Identity, slug: identity, version: "1.0.0" }
authentication:
  - type: bearer
    fields: [{ key: token, field_type: secret, required: true, secret: true }]
operations:
  - operation_id: api_whoami
    endpoint: "${url}/api/me"
    method: GET
    auth_type_ref: bearer
    parameters: []
mcp_config:
  enabled: true
  server_name: identity
  server_description: Identity
  route_mappings:
    - { operation_id: api_whoami, mcp_tool_name: api_whoami, mcp_tool_description: "Who am I (connector)" }
`;

const flow = (url: string) =>
  JSON.stringify({
    flower: '0.1',
    id: 'wf',
    flows: [
      {
        id: 'wf_whoami',
        steps: [
          {
            id: 'me',
            request: {
              method: 'GET',
              url: `${url}/wf/me`,
              headers: {
                Authorization: 'Bearer $secrets.TOKEN',
                'X-User': '$current_user.name',
                'X-Tier': '$current_user.tier',
              },
            },
            outputs: { ok: '$response.body.ok' },
          },
        ],
        outputs: { ok: '$steps.me.outputs.ok' },
      },
    ],
  });

async function token(sub: string, serverId: string): Promise<string> {
  return new SignJWT({ scope: 'mcp:tools' })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setSubject(sub)
    .setIssuer(authServer.issuer)
    .setAudience(`${edgeUrl}/mcp/${serverId}`)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(authServer.signingKey);
}

/** An ID-JAG of the IdP for alice and the server (ADR 0082). */
function idJag(serverId: string): Promise<string> {
  return new SignJWT({ resource: `${edgeUrl}/mcp/${serverId}`, client_id: 'matrix-client' })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'oauth-id-jag+jwt' })
    .setIssuer(authServer.issuer)
    .setSubject('alice')
    .setAudience(edgeUrl)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(authServer.signingKey);
}

/** An access token of the edges' own authorization server for alice, redeemed from an ID-JAG of the IdP (ADR 0082). */
async function idJagToken(serverId: string): Promise<{ status: number; token?: string }> {
  const assertion = await idJag(serverId);
  const res = await fetch(`${edgeUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion,
      client_id: 'matrix-client',
      client_secret: idpSecret,
    }),
  });
  const body = (await res.json()) as { access_token?: string };
  return { status: res.status, ...(body.access_token ? { token: body.access_token } : {}) };
}

async function headersFor(caller: Caller, serverId: string, username?: string): Promise<Record<string, string>> {
  return {
    ...(caller === 'api_key' ? { 'x-api-key': key } : {}),
    ...(caller === 'narrowed' ? { authorization: `Bearer ${narrowedToken}` } : {}),
    ...(caller === 'narrowed_dpop'
      ? {
          authorization: `DPoP ${dpopToken}`,
          dpop: await dpopProof(`${edgeUrl}/mcp/${serverId}`, dpopToken),
        }
      : {}),
    ...(caller === 'narrowed_oauth' ? { authorization: `Bearer ${await narrowOAuth(serverId)}` } : {}),
    ...(caller === 'oauth' ? { authorization: `Bearer ${await token('app', serverId)}` } : {}),
    ...(caller === 'id_jag' ? { authorization: `Bearer ${(await idJagToken(serverId)).token}` } : {}),
    ...(username ? { 'x-username': username } : {}),
    // A caller-supplied Config-Name never passes for the user's name ($current_user.name).
    'config-name': 'spoofed',
  };
}

/** The edge's token endpoint (RFC 8693): a narrowed token of `subject`; its answer. */
async function exchange(
  subject: string,
  type: 'api_key' | 'access_token',
  details: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${edgeUrl}/oauth/token-exchange`, {
    method: 'POST',
    headers,
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subject,
      subject_token_type:
        type === 'api_key'
          ? 'urn:toolplane:params:oauth:token-type:api_key'
          : 'urn:ietf:params:oauth:token-type:access_token',
      authorization_details: JSON.stringify([{ type: 'toolplane_delegation', ...details }]),
    }),
  });
  return {
    status: res.status,
    body: (await res.json()) as {
      access_token: string;
      error?: string;
      authorization_details: { token_id: string; actors: string[] }[];
    },
  };
}

/** A narrowed token of the OAuth caller `app`'s token for `serverId` (made once per server). */
const oauthNarrowed = new Map<string, string>();
async function narrowOAuth(serverId: string): Promise<string> {
  let t = oauthNarrowed.get(serverId);
  if (!t) {
    const r = await exchange(await token('app', serverId), 'access_token', {
      servers: [serverId],
      actor: 'oauth-agent',
    });
    oauthNarrowed.set(serverId, (t = r.body.access_token));
  }
  return t;
}

async function rpc(serverId: string, headers: Record<string, string>, method: string, params: unknown = {}) {
  const res = await postMcp(
    `${edgeUrl}/mcp/${serverId}`,
    { jsonrpc: '2.0', id: 1, method, params },
    { 'mcp-protocol-version': '2025-11-25', ...headers },
  );
  return {
    status: res.status,
    body: (await res.json()) as {
      result?: { isError?: boolean; content?: { text: string }[]; tools?: { name: string }[] };
      error?: { message: string };
    },
  };
}

/** What reached the upstreams since the last reset: one list of authorization values per tool kind. */
function seen(): Record<ToolKind, string[]> {
  return {
    connector: received.filter((r) => r.kind === 'connector').map((r) => r.authorization ?? ''),
    workflow: received.filter((r) => r.kind === 'workflow').map((r) => r.authorization ?? ''),
    external_mcp: [...new Set(remote.requests.map((h) => String(h.authorization ?? '')))],
  };
}
function reset(): void {
  received.length = 0;
  remote.requests.length = 0;
}

beforeAll(async () => {
  authServer = await startAuthorizationServer();
  upstream = createServer((req, res) => {
    const kind = req.url?.startsWith('/wf/') ? 'workflow' : 'connector';
    received.push({
      kind,
      authorization: req.headers.authorization,
      user: String(req.headers['x-user'] ?? ''),
      tier: String(req.headers['x-tier'] ?? ''),
    });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  remote = await startStreamableMcpServer({
    tools: [{ name: 'ext_whoami', description: 'Who am I (external MCP)', inputSchema: { type: 'object' } }],
  });
  const edgePort = await freePort();
  edgeUrl = `http://127.0.0.1:${edgePort}`;
  // The edges' own authorization server (ADR 0082) signs with this key; the local issuer is also the company IdP.
  keyDir = mkdtempSync(join(tmpdir(), 'identity-'));
  const keyFile = join(keyDir, 'as.pem');
  const asKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  writeFileSync(keyFile, asKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  ({
    stack,
    api,
    directControlPlaneUrl: direct,
  } = await startTestStack('identity', {
    edgePort,
    serviceEnv: {
      edge: {
        OAUTH_ISSUER: authServer.issuer,
        OAUTH_JWKS_URL: `${authServer.issuer}/jwks`,
        PUBLIC_URL: edgeUrl,
        ENTERPRISE_AS_SIGNING_KEY_FILE: keyFile,
      },
      // The IdP is the control plane's issuer too (people signed in to the dashboard). The ID-JAG token is refused on
      // every operation of the management API: more 401s than an address's budget.
      'control-plane': {
        OAUTH_ISSUER: authServer.issuer,
        OAUTH_JWKS_URL: `${authServer.issuer}/jwks`,
        OAUTH_AUDIENCE: 'https://identity.test/api',
        UNAUTH_RATE_LIMIT: '0',
      },
    },
  }));
  const connector = await unwrap(api.POST('/connectors', yamlBody(descriptor(upstreamUrl))));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: { connector_id: connector.id, name: 'identity', credentials: { token: 'shared-api' } },
    }),
  );
  instanceId = instance.id;
  // alice declares an attribute: $current_user.tier in workflows run for her.
  await unwrap(api.POST('/external_users', { body: { name: 'alice', attributes: { tier: 'gold' } } }));
  for (const name of ['mallory', 'carol']) await unwrap(api.POST('/external_users', { body: { name } }));
  await unwrap(
    api.PUT('/external_users/{name}/connections/{instanceId}', {
      params: { path: { name: 'alice', instanceId: instance.id } },
      body: { credentials: { token: 'alice-api' } },
    }),
  );
  await unwrap(
    api.PUT('/external_users/{name}/secrets/{secret}', {
      params: { path: { name: 'alice', secret: 'TOKEN' } },
      body: { value: 'alice-wf' },
    }),
  );
  for (const kind of serverKinds) {
    const server = await unwrap(
      api.POST('/mcp_manager', {
        body: {
          name: `identity-${kind}`,
          mode: 'NORMAL',
          connectorInstanceId: instance.id,
          isPublic: kind === 'public',
          externalMcpConfigs: [{ name: 'ext', url: remote.url, headers: { authorization: 'Bearer shared-mcp' } }],
        },
      }),
    );
    await unwrap(
      api.PUT('/mcp_servers/{id}/secrets/{name}', {
        params: { path: { id: server.id, name: 'TOKEN' } },
        body: { value: 'shared-wf' },
      }),
    );
    await unwrap(
      api.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: server.id } },
        body: { definition: flow(upstreamUrl) },
      }),
    );
    await unwrap(
      api.PUT('/external_users/{name}/mcp_connections/{serverId}/{external}', {
        params: { path: { name: 'alice', serverId: server.id, external: 'ext' } },
        body: { headers: { authorization: 'Bearer alice-mcp' } },
      }),
    );
    servers[kind] = { id: server.id, tools: {} as Record<ToolKind, string> };
  }
  const created = await unwrap(api.POST('/api_keys', { body: { name: 'app', scopes: ['runtime'] } }));
  key = created.key;
  // The app's key and the app's OAuth subject may act as alice and carol (one policy names both);
  // mallory may use every tool, but no policy lets these callers act as her.
  keyId = created.id;
  const answer = (await exchange(key, 'api_key', { actor: 'matrix-agent' })).body;
  narrowedToken = answer.access_token;
  narrowedId = answer.authorization_details[0]!.token_id;
  const pair = await generateKeyPair('ES256');
  dpopKey = { jwk: await exportJWK(pair.publicKey), privateKey: pair.privateKey };
  const bound = await exchange(
    key,
    'api_key',
    { actor: 'matrix-dpop-agent' },
    { dpop: await dpopProof(`${edgeUrl}/oauth/token-exchange`) },
  );
  dpopToken = bound.body.access_token;
  for (const [name, principal] of [
    ['key-for-users', { type: 'api_key', value: created.id }],
    ['oauth-for-users', { type: 'oauth_subject', value: 'app' }],
  ] as const)
    policyIds[name] = (
      await unwrap(
        api.POST('/access_policies', {
          body: {
            name,
            principals: [
              principal,
              { type: 'external_user', value: 'alice' },
              { type: 'external_user', value: 'carol' },
            ],
            servers: ['*'],
            tools: ['*'],
          },
        }),
      )
    ).id;
  await unwrap(
    api.POST('/access_policies', {
      body: {
        name: 'mallory-tools',
        principals: [{ type: 'external_user', value: 'mallory' }],
        servers: ['*'],
        tools: ['*'],
      },
    }),
  );
  await unwrap(
    api.POST('/access_policies', {
      body: {
        name: 'alice-herself',
        principals: [{ type: 'oauth_subject', value: 'alice' }],
        servers: ['*'],
        tools: ['*'],
      },
    }),
  );
  const idp = await unwrap(
    api.POST('/enterprise_idps', {
      body: {
        name: 'idp',
        issuer: authServer.issuer,
        jwksUrl: `${authServer.issuer}/jwks`,
        clientId: 'matrix-client',
      },
    }),
  );
  idpSecret = idp.clientSecret!;
  idpId = idp.id;
  // Every server shows its three tools to the key (catalogs and policies have reached the edge).
  for (const kind of serverKinds) {
    const names = await waitFor(`tools of the ${kind} server`, async () => {
      const r = await rpc(servers[kind].id, await headersFor('api_key', servers[kind].id), 'tools/list');
      const list = (r.body.result?.tools ?? []).map((t) => t.name);
      return list.length === 3 ? list : undefined;
    });
    servers[kind].tools = {
      connector: names.find((n) => n === 'api_whoami')!,
      external_mcp: names.find((n) => n.includes('ext_whoami'))!,
      workflow: names.find((n) => n === 'wf_whoami')!,
    };
    // ...and the IdP has reached it too: alice's ID-JAG is redeemed.
    await waitFor(`an ID-JAG redeemed for the ${kind} server`, async () => (await idJagToken(servers[kind].id)).token);
  }
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await remote?.close();
  await new Promise<void>((r) => upstream?.close(() => r()));
  await authServer?.close();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

const cells = callers.flatMap((caller) =>
  serverKinds.flatMap((server) =>
    userKinds.flatMap((user) =>
      toolKinds.map((tool) => [caller, server, user, tool, expectations[`${caller} ${server} ${user}`]] as const),
    ),
  ),
);

describe('identity matrix: caller × server × tool kind × x-username', () => {
  it.each(cells)('%s caller, %s server, x-username %s, %s tool: %s', async (caller, server, user, tool, outcome) => {
    const { id, tools } = servers[server];
    const username = userName[user];
    reset();
    const r = await rpc(id, await headersFor(caller, id, username), 'tools/call', { name: tools[tool], arguments: {} });
    const got = seen();
    if (outcome === 'shared' || outcome === 'own') {
      expect(r.status).toBe(200);
      expect(r.body.result?.isError).toBeFalsy();
      expect(got[tool]).toEqual([credential[tool][outcome]]);
      // A user-named call never reaches an upstream with the shared credential.
      if (username) for (const k of toolKinds) expect(got[k]).not.toContain(credential[k].shared);
      // A workflow run for a user sees the user's verified name and declared attributes as $current_user.*.
      if (tool === 'workflow' && username) expect(received.map((x) => [x.user, x.tier])).toEqual([[username, 'gold']]);
    } else {
      if (outcome === 'refused-401') {
        expect(r.status).toBe(401);
        expect(r.body.error!.message).toContain('Authentication required');
      } else {
        expect(r.status).toBe(403);
        expect(r.body.error!.message).toContain(
          outcome === 'refused-403-anonymous'
            ? `an anonymous caller may not act as external user "${username}"`
            : `may not act as external user "${username}"`,
        );
      }
      expect(got).toEqual({ connector: [], external_mcp: [], workflow: [] });
    }
  });
});

describe('around the matrix', () => {
  it.each(toolKinds)(
    'a user without a connection gets a tool error saying how to connect (%s), and no upstream is called',
    async (tool) => {
      const { id, tools } = servers.private;
      reset();
      const r = await rpc(id, await headersFor('api_key', id, 'carol'), 'tools/call', {
        name: tools[tool],
        arguments: {},
      });
      expect(r.status).toBe(200);
      expect(r.body.result?.isError).toBe(true);
      const text = r.body.result!.content![0]!.text;
      expect(text).toContain('"carol"');
      expect(text).toContain(
        tool === 'connector'
          ? 'PUT /api/v1/external_users/{name}/connections/'
          : tool === 'external_mcp'
            ? `PUT /api/v1/external_users/carol/mcp_connections/${id}/ext`
            : 'PUT /api/v1/external_users/carol/secrets/{NAME}',
      );
      expect(seen()).toEqual({ connector: [], external_mcp: [], workflow: [] });
    },
  );

  it.each(toolKinds)(
    'an OAuth token whose subject is a user acts as that user without x-username (%s)',
    async (tool) => {
      const { id, tools } = servers.private;
      reset();
      const r = await rpc(id, { authorization: `Bearer ${await token('alice', id)}` }, 'tools/call', {
        name: tools[tool],
        arguments: {},
      });
      expect(r.body.result?.isError).toBeFalsy();
      expect(seen()[tool]).toEqual([credential[tool].own]);
    },
  );

  it("a narrowed token of an OAuth token: only for the token's servers, and names the subject and its holder", async () => {
    const { id } = servers.private;
    // The token's audience is the private server: asking for the public one is refused, naming no server none.
    const other = await exchange(await token('app', id), 'access_token', { servers: [servers.public.id] });
    expect(other).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
    const unnamed = await exchange(await token('app', id), 'access_token', {});
    expect(unnamed).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
    const made = await exchange(await token('app', id), 'access_token', { servers: [id], actor: 'oauth-agent' });
    expect(made.body.authorization_details[0]!.actors).toEqual(['oauth_subject:app', 'oauth-agent']);
    // On another server than its own, the narrowed token is refused.
    const r = await rpc(servers.public.id, { authorization: `Bearer ${made.body.access_token}` }, 'tools/list');
    expect(r.status).toBe(403);
  });

  it('records name the authenticating principal, the acting user and the policy that allowed it', async () => {
    const { id, tools } = servers.private;
    const call = async (headers: Record<string, string>) =>
      rpc(id, headers, 'tools/call', { name: tools.connector, arguments: {} });
    await call(await headersFor('api_key', id, 'alice'));
    await call(await headersFor('oauth', id, 'alice'));
    await call({ authorization: `Bearer ${await token('alice', id)}` });
    await call(await headersFor('oauth', id, 'mallory'));
    await call(await headersFor('narrowed', id, 'alice'));
    await call(await headersFor('id_jag', id));
    // `key_name`: the key's name as it is now (null for token callers); `delegation`: a narrowed token's calls only.
    const wanted = [
      { key_id: keyId, key_name: 'app', subject: null, username: 'alice', acting_via: policyIds['key-for-users'] },
      { key_id: null, key_name: null, subject: 'app', username: 'alice', acting_via: policyIds['oauth-for-users'] },
      { key_id: null, key_name: null, subject: 'alice', username: 'alice', acting_via: 'token-user' },
      { key_id: null, key_name: null, subject: 'app', username: 'mallory', acting_via: null },
      {
        key_id: keyId,
        key_name: 'app',
        subject: null,
        username: 'alice',
        acting_via: policyIds['key-for-users'],
        delegation: { token_id: narrowedId, actors: [`api_key:${keyId}`, 'matrix-agent'] },
      },
      // The ID-JAG's person, and the enterprise IdP that vouched for them.
      { key_id: null, key_name: null, subject: 'alice', username: 'alice', acting_via: `id-jag:${idpId}` },
    ];
    const records = await waitFor('the execution records of the six calls', async () => {
      const r = await unwrap(
        api.GET('/execution_records', { params: { query: { server_id: id, tool: 'api_whoami', limit: 200 } } }),
      );
      const fields = (c: object) => JSON.stringify(Object.fromEntries(Object.entries(c).sort()));
      return wanted.every((w) => r.data.some((d) => fields(d.caller) === fields(w))) && r.data;
    });
    const refusal = records.find((r) => r.caller.username === 'mallory')!;
    expect(refusal.outcome).toBe('rejected');
  });

  it("SMART: list_connections shows the user's own connections and what lacks one; connect gives the exact call", async () => {
    const smart = await unwrap(
      api.POST('/mcp_manager', {
        body: {
          name: 'identity-smart',
          mode: 'SMART',
          connectorInstanceId: instanceId,
          externalMcpConfigs: [{ name: 'ext', url: remote.url, headers: { authorization: 'Bearer shared-mcp' } }],
        },
      }),
    );
    await unwrap(
      api.PUT('/mcp_servers/{id}/secrets/{name}', {
        params: { path: { id: smart.id, name: 'TOKEN' } },
        body: { value: 'shared-wf' },
      }),
    );
    await unwrap(
      api.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: smart.id } },
        body: { definition: flow(upstreamUrl) },
      }),
    );
    const asAlice = await headersFor('api_key', smart.id, 'alice');
    type Listing = {
      user: string;
      connections: { kind: string; id: string; tools: string[] }[];
      toolsWithoutConnection: { tool: string; needs: { kind: string; id: string }[] }[];
    };
    const meta = async <T>(name: string, args: Record<string, unknown> = {}) => {
      const r = await rpc(smart.id, asAlice, 'tools/call', { name, arguments: args });
      const text = r.body.result!.content![0]!.text;
      // No secret value ever travels through the model.
      for (const v of ['alice-api', 'alice-wf', 'alice-mcp', 'shared-api', 'shared-wf', 'shared-mcp'])
        expect(text).not.toContain(v);
      return JSON.parse(text) as T;
    };
    const listing = await waitFor('the SMART catalog with its three tools', async () => {
      const l = await meta<Listing>('list_connections');
      return l.connections.length + l.toolsWithoutConnection.length === 3 && l;
    });
    const ext = `/api/v1/external_users/alice/mcp_connections/${smart.id}/ext`;
    expect(listing.user).toBe('alice');
    expect(listing.connections.map((c) => [c.kind, c.id]).sort()).toEqual([
      ['connector_instance', instanceId],
      ['workflow_secret', 'TOKEN'],
    ]);
    expect(listing.toolsWithoutConnection).toEqual([
      { tool: expect.stringContaining('ext_whoami'), needs: [{ kind: 'external_mcp', id: `${smart.id}/ext` }] },
    ]);
    const extTool = listing.toolsWithoutConnection[0]!.tool;
    const connect = await meta<{ connected: boolean; calls: { method: string; path: string; body: unknown }[] }>(
      'connect',
      { tool: extTool },
    );
    expect(connect.connected).toBe(false);
    expect(connect.calls).toEqual([
      expect.objectContaining({ method: 'PUT', path: ext, body: { headers: { '<header name>': '<value>' } } }),
    ]);
    // The application makes that call, PUT `ext` as checked above (the value never passes through the model);
    // the tool is then ready.
    await unwrap(
      api.PUT('/external_users/{name}/mcp_connections/{serverId}/{external}', {
        params: { path: { name: 'alice', serverId: smart.id, external: 'ext' } },
        body: { headers: { authorization: 'Bearer alice-mcp' } },
      }),
    );
    expect((await meta<Listing>('list_connections')).toolsWithoutConnection).toEqual([]);
    expect(await meta('connect', { tool: extTool })).toMatchObject({ connected: true });
    reset();
    const run = await rpc(smart.id, asAlice, 'tools/call', { name: 'execute_tool', arguments: { name: extTool } });
    expect(run.body.result?.isError).toBeFalsy();
    expect(seen().external_mcp).toEqual([credential.external_mcp.own]);
  });

  it("with the server's config fallbackToShared: true, a user without a connection runs with the shared credentials", async () => {
    const { id, tools } = servers.private;
    await unwrap(
      api.PATCH('/mcp_manager/{id}', { params: { path: { id } }, body: { config: { fallbackToShared: true } } }),
    );
    for (const tool of toolKinds) {
      reset();
      const r = await rpc(id, await headersFor('api_key', id, 'carol'), 'tools/call', {
        name: tools[tool],
        arguments: {},
      });
      expect(r.body.error).toBeUndefined();
      expect(r.body.result?.isError).toBeFalsy();
      expect(seen()[tool]).toEqual([credential[tool].shared]);
      // A user with their own connection still uses it.
      reset();
      await rpc(id, await headersFor('api_key', id, 'alice'), 'tools/call', { name: tools[tool], arguments: {} });
      expect(seen()[tool]).toEqual([credential[tool].own]);
    }
  });

  it('an ID-JAG-issued access token (ADR 0082), and the ID-JAG itself, are refused (401) on every operation of the management API', async () => {
    const { id } = servers.private;
    const { token: accessToken } = await idJagToken(id);
    // The token is alice's on the MCP server: it lists the tools there.
    expect((await rpc(id, { authorization: `Bearer ${accessToken}` }, 'tools/list')).status).toBe(200);
    // The ID-JAG is signed by the control plane's own issuer, for another audience (the edges' token endpoint).
    const credentials = { 'access token': accessToken!, 'ID-JAG': await idJag(id) };
    const document = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')) as {
      paths: Record<string, Record<string, { security?: [] }>>;
    };
    const reached: string[] = [];
    for (const [path, item] of Object.entries(document.paths))
      for (const [method, op] of Object.entries(item)) {
        if (op.security?.length === 0) continue; // public: no credential read
        const concrete = path.replace(/\{[^}]+\}/g, () => randomUUID());
        for (const [name, credential] of Object.entries(credentials)) {
          const res = await fetch(`${direct}/api/v1${concrete}`, {
            method: method.toUpperCase(),
            headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
            ...(method === 'get' ? {} : { body: '{}' }),
          });
          await res.body?.cancel();
          if (res.status !== 401) reached.push(`${method.toUpperCase()} ${path}, ${name}: ${res.status}`);
        }
      }
    expect(reached).toEqual([]);
  });

  // Four eyes (ADR 0087): a decider is another person, not another identity of the same one. In a workspace
  // of its own (the setting on there holds nothing of this file's), ada signed in creates a key; a change her key asks
  // for is refused to her signed-in token, and a change her token asks for to her key; another's key decides both.
  it('four eyes: the same signed-in person never decides through another identity of theirs', async () => {
    const boot = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
    const created = await unwrap(boot.POST('/workspaces', { body: { name: 'four-eyes-person' } }));
    const admin = createManagementClient(stack.controlPlaneUrl, created.apiKey.key);
    const management = async (sub: string) => {
      const jwt = await new SignJWT({
        scope: 'openid toolplane:management toolplane:approve toolplane:admin',
        toolplane_workspace: created.id,
      })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(authServer.issuer)
        .setSubject(sub)
        .setAudience('https://identity.test/api')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(authServer.signingKey);
      return createManagementClient(stack.controlPlaneUrl, { accessToken: jwt });
    };
    const ada = await management('ada');
    const adaKey = await unwrap(ada.POST('/api_keys', { body: { name: 'ada-key', scopes: ['management'] } }));
    const adasKey = createManagementClient(stack.controlPlaneUrl, adaKey.key);
    const quota = await unwrap(
      admin.POST('/quotas', { body: { name: 'person-quota', match: {}, counts: 'calls', limit: 1, window: 'day' } }),
    );
    await unwrap(
      admin.PUT('/change_approvals/settings', {
        body: {
          enabled: true,
          approvers: { subjects: ['ada'], apiKeys: [adaKey.id, created.apiKey.id] },
          approvals: 1,
          expiresInSeconds: 3600,
        },
      }),
    );
    const raise = async (by: ManagementClient, limit: number) => {
      const r = await by.PATCH('/quotas/{id}', { params: { path: { id: quota.id } }, body: { limit } });
      expect(r.response.status).toBe(202);
      return (r.data as unknown as { changeRequest: { id: string } }).changeRequest.id;
    };
    const approve = (by: ManagementClient, id: string) =>
      by.POST('/change_requests/{id}/approve', { params: { path: { id } }, body: {} });
    const limit = async () => (await unwrap(admin.GET('/quotas/{id}', { params: { path: { id: quota.id } } }))).limit;
    // Asked by her key: her signed-in token is the same person.
    const byKey = await raise(adasKey, 10);
    const refused = await approve(ada, byKey);
    expect(refused.response.status).toBe(403);
    expect(JSON.stringify(refused.error)).toContain('the same person');
    // Asked by her token: the key she created is hers.
    const byToken = await raise(ada, 20);
    const mine = await approve(adasKey, byToken);
    expect(mine.response.status).toBe(403);
    expect(JSON.stringify(mine.error)).toContain('an identity the requester created');
    expect(await limit()).toBe(1);
    // Another signed-in person, named by neither chain, is not refused as the same person (but is no approver here).
    const bea = await approve(await management('bea'), byKey);
    expect(bea.response.status).toBe(403);
    expect(JSON.stringify(bea.error)).toContain('is not an approver');
    // The workspace's own key (nobody's creation) decides.
    expect((await unwrap(approve(admin, byKey))).state).toBe('applied');
    expect(await limit()).toBe(10);
  });

  it('docs/security.md states the same matrix', () => {
    const doc = readFileSync(new URL('../../../docs/security.md', import.meta.url), 'utf8');
    const section = doc.split('<!-- identity-matrix:start -->')[1]!.split('<!-- identity-matrix:end -->')[0]!;
    const rows = section
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) =>
        l
          .split('|')
          .slice(1, -1)
          .map((c) => c.trim().replace(/`/g, '')),
      );
    const documented = Object.fromEntries(rows.map(([c, s, u, o]) => [`${c} ${s} ${u}`, o]));
    expect(documented).toEqual(expectations);
  });
});
