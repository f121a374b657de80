import { describe, expect, it } from '@jest/globals';
import { importOpenApi } from './import-openapi.ts';
import { compileOpenApiTools, operationCredentials } from './openapi-tools.ts';
import type { UserOAuthOptIn } from './user-oauth.ts';

/**
 * A connector's opt-in to people's own accounts (ADR 0028): an OpenAPI `oauth2` `authorizationCode` scheme (or
 * `openIdConnect`) compiles to the `oauth2_authorization_code` AuthPlan the descriptor's method gives, for tools and
 * for workflow steps alike; without the opt-in the scheme's field takes a ready access token, as before.
 */

const info = { title: 'Calendar', version: '1' };
const ok = { description: 'ok' };
const authorizationCode = {
  type: 'oauth2',
  flows: {
    authorizationCode: {
      authorizationUrl: 'https://id.example.com/authorize',
      tokenUrl: 'https://id.example.com/token',
      refreshUrl: 'https://id.example.com/refresh',
      scopes: { 'events.read': 'read', 'events.write': 'write' },
    },
  },
};
const doc = (schemes: Record<string, unknown> = { calendarAuth: authorizationCode }) => ({
  openapi: '3.0.3',
  info,
  servers: [{ url: 'https://api.example.com' }],
  paths: {
    '/events': {
      get: {
        operationId: 'list_events',
        security: [{ [Object.keys(schemes)[0]!]: ['events.read'] }],
        responses: { 200: ok },
      },
    },
  },
  components: { securitySchemes: schemes },
});

async function compiled(d: Record<string, unknown>, userOAuth?: UserOAuthOptIn) {
  const imported = await importOpenApi(JSON.stringify(d), userOAuth ? { userOAuth } : {});
  const tools = compileOpenApiTools(imported.document, {
    binding: { secretNames: { client_id: 's/id', client_secret: 's/secret', calendarAuth: 's/token' } },
  });
  return { imported, plan: tools[0]!.plan };
}

describe('OpenAPI authorizationCode / openIdConnect schemes and the user_oauth opt-in', () => {
  it('without the opt-in, the scheme takes a ready access token (Bearer), with a warning, as before', async () => {
    const { imported, plan } = await compiled(doc());
    expect(plan.auth).toEqual({ kind: 'bearer', token: 'calendarAuth' });
    expect(plan.secrets).toEqual({ calendarAuth: 's/token' });
    expect(imported.credentialFields).toEqual([{ key: 'calendarAuth', required: true, secret: true }]);
    expect(imported.warnings.map((w) => w.message).join('\n')).toContain('takes a ready access token');
    expect(imported.userOAuthIssues).toEqual([]);
  });

  it("opted in: the descriptor's AuthPlan, endpoints from the flow, the operation's scopes, the app as credentials", async () => {
    const { imported, plan } = await compiled(doc(), {});
    expect(plan.auth).toEqual({
      kind: 'oauth2_authorization_code',
      authorizeUrl: 'https://id.example.com/authorize',
      tokenUrl: 'https://id.example.com/token',
      refreshUrl: 'https://id.example.com/refresh',
      scopes: ['events.read'],
      clientId: 'client_id',
      clientSecret: 'client_secret',
    });
    expect(plan.authHeaders).toEqual({ Authorization: '{__authorization}' });
    expect(plan.secrets).toEqual({ client_id: 's/id', client_secret: 's/secret' });
    expect(imported.credentialFields).toEqual([
      { key: 'client_id', required: true, secret: false },
      { key: 'client_secret', required: true, secret: true },
    ]);
    expect(imported.warnings.map((w) => w.message).join('\n')).not.toContain('ready access token');
    // Workflow steps on the connector's operations get the same auth.
    expect(operationCredentials(imported.document).get('GET /events')?.auth).toEqual(plan.auth);
  });

  it('endpoints and scopes given in the opt-in override the document', async () => {
    const { plan } = await compiled(doc(), {
      authorization_url: 'https://other.example.com/oauth/authorize',
      token_url: 'https://other.example.com/oauth/token',
      revocation_url: 'https://other.example.com/oauth/revoke',
      scopes: ['events.read', 'events.write'],
    });
    expect(plan.auth).toMatchObject({
      authorizeUrl: 'https://other.example.com/oauth/authorize',
      tokenUrl: 'https://other.example.com/oauth/token',
      refreshUrl: 'https://id.example.com/refresh',
      revocationUrl: 'https://other.example.com/oauth/revoke',
      scopes: ['events.read', 'events.write'],
    });
  });

  it('openIdConnect without a discovery reader: the endpoints must be given; given, it compiles the same', async () => {
    const oidc = doc({
      oidc: { type: 'openIdConnect', openIdConnectUrl: 'https://id.example.com/.well-known/openid-configuration' },
    });
    const missing = await importOpenApi(JSON.stringify(oidc), { userOAuth: {} });
    expect(missing.userOAuthIssues).toEqual([
      { path: '/user_oauth/authorization_url', message: expect.stringContaining('give authorization_url') },
      { path: '/user_oauth/token_url', message: expect.stringContaining('give token_url') },
    ]);
    expect(missing.userOAuthIssues[0]!.message).toContain('https://id.example.com/.well-known/openid-configuration');
    const given = await importOpenApi(JSON.stringify(oidc), {
      userOAuth: { authorization_url: 'https://id.example.com/auth', token_url: 'https://id.example.com/tok' },
    });
    expect(given.userOAuthIssues).toEqual([]);
    const plan = compileOpenApiTools(given.document, { binding: { secretNames: {} } })[0]!.plan;
    expect(plan.auth).toMatchObject({
      kind: 'oauth2_authorization_code',
      authorizeUrl: 'https://id.example.com/auth',
      tokenUrl: 'https://id.example.com/tok',
      scopes: ['events.read'],
    });
  });

  it("openIdConnect with a discovery reader: the discovery document's endpoints, or why it could not be read", async () => {
    const discoveryUrl = 'https://id.example.com/.well-known/openid-configuration';
    const oidc = doc({ oidc: { type: 'openIdConnect', openIdConnectUrl: discoveryUrl } });
    const asked: string[] = [];
    const read = await importOpenApi(JSON.stringify(oidc), {
      userOAuth: { token_url: 'https://id.example.com/given-token' },
      discover: async (url) => {
        asked.push(url);
        return {
          ok: true,
          document: {
            authorization_endpoint: 'https://id.example.com/auth',
            token_endpoint: 'https://id.example.com/token',
            revocation_endpoint: 'https://id.example.com/revoke',
          },
        };
      },
    });
    expect(asked).toEqual([discoveryUrl]);
    expect(read.userOAuthIssues).toEqual([]);
    expect(compileOpenApiTools(read.document, { binding: { secretNames: {} } })[0]!.plan.auth).toMatchObject({
      authorizeUrl: 'https://id.example.com/auth',
      tokenUrl: 'https://id.example.com/given-token',
      revocationUrl: 'https://id.example.com/revoke',
    });
    const unreadable = await importOpenApi(JSON.stringify(oidc), {
      userOAuth: {},
      discover: async () => ({ ok: false, error: 'HTTP 404' }),
    });
    expect(unreadable.userOAuthIssues.map((i) => i.path)).toEqual([
      '/user_oauth/authorization_url',
      '/user_oauth/token_url',
    ]);
    expect(unreadable.userOAuthIssues[0]!.message).toContain(`${discoveryUrl} could not be read (HTTP 404)`);
    // Both endpoints given: nothing is read.
    await importOpenApi(JSON.stringify(oidc), {
      userOAuth: { authorization_url: 'https://id.example.com/a', token_url: 'https://id.example.com/t' },
      discover: async (url) => {
        throw new Error(`read ${url}`);
      },
    });
  });

  it('lists every problem: nothing to connect, an unknown or unfit scheme, two candidates, endpoints that are not URLs', async () => {
    const apiKey = { type: 'apiKey', in: 'header', name: 'X-Key' };
    const issues = async (d: Record<string, unknown>, optIn: UserOAuthOptIn) =>
      (await importOpenApi(JSON.stringify(d), { userOAuth: optIn })).userOAuthIssues;
    expect(await issues(doc({ key: apiKey }), {})).toEqual([
      {
        path: '/user_oauth',
        message: expect.stringContaining('no oauth2 security scheme with an authorizationCode flow'),
      },
    ]);
    expect(await issues(doc({ key: apiKey, calendarAuth: authorizationCode }), { scheme: 'nope' })).toEqual([
      {
        path: '/user_oauth/scheme',
        message: 'the document has no security scheme "nope" (a person can connect "calendarAuth")',
      },
    ]);
    expect(await issues(doc({ key: apiKey }), { scheme: 'key' })).toEqual([
      { path: '/user_oauth/scheme', message: expect.stringContaining('neither an oauth2 scheme') },
    ]);
    expect(
      await issues(doc({ a: authorizationCode, b: { type: 'openIdConnect', openIdConnectUrl: 'https://x' } }), {}),
    ).toEqual([
      { path: '/user_oauth/scheme', message: 'the document has 2 schemes a person can connect ("a", "b"): name one' },
    ]);
    const relative = {
      type: 'oauth2',
      flows: { authorizationCode: { authorizationUrl: '/authorize', tokenUrl: '/token', scopes: {} } },
    };
    expect(await issues(doc({ calendarAuth: relative }), {})).toEqual([
      { path: '/user_oauth/authorization_url', message: expect.stringContaining('not an absolute http(s) URL') },
      { path: '/user_oauth/token_url', message: expect.stringContaining('not an absolute http(s) URL') },
    ]);
  });

  it('naming the scheme picks one of several; a document cannot opt itself in', async () => {
    const two = doc({
      calendarAuth: authorizationCode,
      other: { type: 'openIdConnect', openIdConnectUrl: 'https://x' },
    });
    const { plan } = await compiled(two, { scheme: 'calendarAuth' });
    expect(plan.auth?.kind).toBe('oauth2_authorization_code');
    const selfOptedIn = doc({
      calendarAuth: {
        ...authorizationCode,
        'x-toolplane-user-oauth': {
          authorizationUrl: 'https://evil.example.com/a',
          tokenUrl: 'https://evil.example.com/t',
        },
      },
    });
    const plain = await compiled(selfOptedIn);
    expect(plain.plan.auth).toEqual({ kind: 'bearer', token: 'calendarAuth' });
    expect(JSON.stringify(plain.imported.document)).not.toContain('evil.example.com');
  });

  it('a scheme run for people (naming its app fields) with an endpoint that is not http(s) is refused, naming it', async () => {
    const hostile = doc({
      calendarAuth: {
        type: 'oauth2',
        flows: {
          authorizationCode: {
            authorizationUrl: 'javascript:alert(document.cookie)',
            tokenUrl: 'https://id.example.com/token',
            refreshUrl: 'data:text/plain,x',
            scopes: {},
          },
        },
        'x-toolplane-revocation-url': 'file:///etc/passwd',
        'x-toolplane-credential-fields': { client_id: 'client_id', client_secret: 'client_secret' },
      },
    });
    const { imported, plan } = await compiled(hostile);
    const at = '/components/securitySchemes/calendarAuth';
    expect(imported.userOAuthIssues).toEqual([
      { path: `${at}/flows/authorizationCode/authorizationUrl`, message: 'must be an http(s) URL' },
      { path: `${at}/flows/authorizationCode/refreshUrl`, message: 'must be an http(s) URL' },
      { path: `${at}/x-toolplane-revocation-url`, message: 'must be an http(s) URL' },
    ]);
    expect(plan.auth?.kind).not.toBe('oauth2_authorization_code');
    expect(JSON.stringify(plan)).not.toMatch(/javascript:|data:|file:/);
  });
});
