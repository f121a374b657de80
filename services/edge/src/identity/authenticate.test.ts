import { describe, expect, it } from '@jest/globals';
import type { ApiKeyRecord, Catalog, DelegatedToken, ExecutionRecord, WorkspaceAccess } from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import { hashApiKey } from './api-keys.ts';
import {
  AuthRefusal,
  createAuthenticator,
  type AuthenticatorDeps,
  type AuthRequest,
  type Caller,
  type OAuthVerifier,
} from './authenticate.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';
import { OAuthResourceServer, type TokenCheck } from './oauth.ts';
import { stateMessages, stateUnavailable } from '../state/runtime-state.ts';
import { DpopRefusal } from './dpop.ts';

// Authentication as a function of the request and the edge's published state (fakes of the edge's own caches):
// every refusal's status, JSON-RPC code, message and headers, and the Caller it resolves otherwise.

function catalog(serverId: string, opts: { workspaceId?: string; isPublic?: boolean } = {}): LoadedCatalog {
  const tool = (name: string) => ({ tool: { name, description: name, inputSchema: { type: 'object' } } });
  const c = {
    v: 1,
    serverId,
    workspaceId: opts.workspaceId ?? 'w1',
    version: 7,
    name: serverId,
    isPublic: opts.isPublic ?? false,
    mode: 'NORMAL',
    tools: [tool('get'), tool('create')],
  } as unknown as Catalog;
  const tools = new Map(c.tools.map((t) => [t.tool.name, { def: t.tool, validate: (() => true) as never, rules: {} }]));
  return { catalog: c, tools, meta: new Map(), list: c.tools.map((t) => t.tool) };
}

const key = (keyId: string, extra: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
  keyId,
  workspaceId: 'w1',
  scopes: ['runtime'],
  revoked: false,
  ...extra,
});

const rule = (
  principals: WorkspaceAccess['policies'][number]['principals'],
  tools: string[] = ['*'],
): WorkspaceAccess['policies'][number] => ({ id: `policy-${principals[0]!.value}`, principals, servers: ['*'], tools });

/** The OAuth side: tokens by value; the challenge is the real resource server's. */
function oauthFake(tokens: Record<string, TokenCheck>): OAuthVerifier {
  const resource = new OAuthResourceServer({
    issuer: 'https://issuer.example',
    jwksUrl: 'https://issuer.example/jwks',
    publicUrl: 'https://edge.example',
    requiredScope: 'mcp:tools',
  });
  return {
    verify: (token) => Promise.resolve(tokens[token] ?? invalid('the token could not be verified')),
    challenge: (serverId, error) => resource.challenge(serverId, error),
  };
}

const invalid = (description: string): TokenCheck => ({ ok: false, status: 401, error: 'invalid_token', description });
const token = (subject: string, claims: Record<string, unknown> = {}): TokenCheck => ({
  ok: true,
  subject,
  scopes: ['mcp:tools'],
  groups: [],
  claims: { sub: subject, ...claims },
});

interface World {
  keys?: Record<string, ApiKeyRecord>;
  catalogs?: LoadedCatalog[];
  policies?: WorkspaceAccess['policies'];
  users?: Record<string, string>;
  /** Whether the published state is complete (the control plane's marker is there). */
  complete?: boolean;
  blockedMs?: number;
  oauth?: OAuthVerifier;
  allowedOrigins?: string[];
  /** Narrowed tokens by value (ADR 0084). */
  narrowed?: Record<string, DelegatedToken>;
  /** Names of people gone (deleted, deactivated). */
  former?: string[];
  /** DPoP proofs by value: the key thumbprint each proves (absent: the proof is refused as used before). */
  proofs?: Record<string, string>;
}

function setup(world: World = {}) {
  const seen = {
    touched: [] as string[],
    counted: [] as string[],
    records: [] as ExecutionRecord[],
    userLookups: 0,
    proofs: [] as string[],
  };
  const keys = new Map(Object.entries(world.keys ?? { 'tp-key-1': key('k1') }).map(([k, r]) => [hashApiKey(k), r]));
  const catalogs = new Map((world.catalogs ?? [catalog('s1')]).map((c) => [c.catalog.serverId, c]));
  const deps: AuthenticatorDeps = {
    keys: {
      // As ApiKeyCache: a revoked key reads as no key.
      authenticateHash: (hash) => Promise.resolve(keys.get(hash)?.revoked ? null : (keys.get(hash) ?? null)),
      touch: (keyId) => void seen.touched.push(keyId),
    },
    catalogs: { get: (serverId) => Promise.resolve(catalogs.get(serverId) ?? null) },
    accessPolicies: { get: (workspaceId) => Promise.resolve({ v: 1, workspaceId, policies: world.policies ?? [] }) },
    userId: (_workspaceId, username) => {
      seen.userLookups++;
      return Promise.resolve(world.users?.[username] ?? null);
    },
    formerUser: (_workspaceId, username) => Promise.resolve(world.former?.includes(username) ?? false),
    state: {
      assertComplete: () =>
        world.complete === false ? Promise.reject(stateUnavailable(stateMessages.restoring)) : Promise.resolve(),
    },
    limiter: {
      blockedFor: () => Promise.resolve(world.blockedMs ?? 0),
      count: (address) => void seen.counted.push(address),
    },
    records: { add: (r: ExecutionRecord) => void seen.records.push(r) },
    oauth: world.oauth,
    allowedOrigins: world.allowedOrigins ?? ['http://localhost:5173'],
    userClaim: 'preferred_username',
    delegations: {
      isToken: (bearer) => bearer.startsWith('tpd_'),
      read: (bearer) => Promise.resolve(world.narrowed?.[bearer] ?? null),
      charge: () => Promise.resolve(true),
      refund: () => Promise.resolve(),
      spent: () => Promise.resolve(false),
    },
    dpop: {
      proofs: {
        verify: ({ proof, accessToken }) => {
          seen.proofs.push(`${proof ?? '(none)'} for ${accessToken ?? '(no token)'}`);
          if (proof === undefined)
            return Promise.reject(new DpopRefusal('invalid_dpop_proof', 'A DPoP proof is required'));
          const jkt = world.proofs?.[proof];
          return jkt === undefined
            ? Promise.reject(new DpopRefusal('invalid_dpop_proof', 'The DPoP proof was used before (jti)'))
            : Promise.resolve(jkt);
        },
      },
    },
  };
  return { authenticate: createAuthenticator(deps), seen };
}

function request(headers: Record<string, string>, opts: { serverId?: string; body?: unknown } = {}): AuthRequest {
  return {
    ip: '203.0.113.9',
    params: { serverId: opts.serverId ?? 's1' },
    body: opts.body,
    header: (name) => headers[name.toLowerCase()],
  };
}

/** The refusal `authenticate` rejects with, as the HTTP layer writes it. */
async function refusal(pending: Promise<Caller>) {
  const err = await pending.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof AuthRefusal)) throw new Error(`expected an AuthRefusal, got ${String(err)}`);
  return { status: err.status, code: err.code, message: err.message, headers: err.headers };
}

describe('authenticate: API keys', () => {
  it('a valid key: its workspace and key id, the whole catalog, a key credential; its last use recorded', async () => {
    const { authenticate, seen } = setup();
    const caller = await authenticate(request({ 'x-api-key': 'tp-key-1' }));
    const { stepCaller, ...rest } = caller;
    expect(rest).toEqual({
      principal: { workspaceId: 'w1', keyId: 'k1' },
      loaded: expect.objectContaining({ catalog: expect.objectContaining({ serverId: 's1' }) }),
      clientId: 'k1',
      credential: { kind: 'key', keyHash: hashApiKey('tp-key-1') },
      accessToken: undefined,
    });
    // What the worker decides a workflow's steps on hosted servers' tools with (ADR 0045), made when a call needs it.
    expect(stepCaller?.()).toEqual({ identity: { keyId: 'k1', keyServerIds: undefined }, condition: { key_id: 'k1' } });
    expect(caller.loaded.restriction).toBeUndefined();
    expect(seen.touched).toEqual(['k1']);
    expect(seen.counted).toEqual([]);
  });

  it('an unknown or revoked key: 401 with the API key challenge, counted against the address', async () => {
    const { authenticate, seen } = setup({ keys: { 'tp-revoked': key('k2', { revoked: true }) } });
    for (const value of ['tp-unknown', 'tp-revoked'])
      expect(await refusal(authenticate(request({ 'x-api-key': value })))).toEqual({
        status: 401,
        code: -32001,
        message: 'Invalid API key.',
        headers: { 'www-authenticate': 'ApiKey header="x-api-key"' },
      });
    expect(seen.counted).toEqual(['203.0.113.9', '203.0.113.9']);
  });

  it('a key without the runtime scope: 403; a server of another workspace or none: 404', async () => {
    const { authenticate, seen } = setup({
      keys: { 'tp-admin': key('k3', { scopes: ['admin'] }), 'tp-key-1': key('k1') },
      catalogs: [catalog('s1'), catalog('elsewhere', { workspaceId: 'w2' })],
    });
    expect(await refusal(authenticate(request({ 'x-api-key': 'tp-admin' })))).toMatchObject({
      status: 403,
      code: -32001,
      message: 'This API key has no "runtime" scope.',
    });
    for (const serverId of ['elsewhere', 'missing'])
      expect(await refusal(authenticate(request({ 'x-api-key': 'tp-key-1' }, { serverId })))).toEqual({
        status: 404,
        code: -32002,
        message: `MCP server ${serverId} not found.`,
        headers: undefined,
      });
    expect(seen.counted).toEqual([]);
  });

  it('a key limited to other servers: 403 from the access decision', async () => {
    const { authenticate } = setup({ keys: { 'tp-key-1': key('k1', { serverIds: ['s9'] }) } });
    expect(await refusal(authenticate(request({ 'x-api-key': 'tp-key-1' })))).toMatchObject({
      status: 403,
      message: 'This API key is limited to other MCP servers (s9).',
    });
  });

  it("a policy's partial grant narrows the catalog the caller sees", async () => {
    const { authenticate } = setup({ policies: [rule([{ type: 'api_key', value: 'k1' }], ['get'])] });
    const caller = await authenticate(request({ 'x-api-key': 'tp-key-1' }));
    expect([...caller.loaded.tools.keys()]).toEqual(['get']);
    expect(caller.loaded.restriction?.hidden('create')).toBe(true);
  });

  it('a conditional grant: conditions see the key id and name (a record without a name: no key_name)', async () => {
    const conditional = { ...rule([{ type: 'api_key', value: 'k1' }], ['get']), condition: 'caller.key_name == "ops"' };
    const named = setup({ keys: { 'tp-key-1': key('k1', { name: 'ops' }) }, policies: [conditional] });
    const caller = await named.authenticate(request({ 'x-api-key': 'tp-key-1' }));
    expect(caller.conditions?.caller).toEqual({ key_id: 'k1', key_name: 'ops' });
    const unnamed = setup({ policies: [conditional] });
    expect((await unnamed.authenticate(request({ 'x-api-key': 'tp-key-1' }))).conditions?.caller).toEqual({
      key_id: 'k1',
    });
  });
});

describe('authenticate: no credential', () => {
  it('a private server: 401 naming the header (and with OAuth, the token and its resource metadata)', async () => {
    const { authenticate, seen } = setup();
    expect(await refusal(authenticate(request({})))).toEqual({
      status: 401,
      code: -32001,
      message: 'Authentication required: send your API key in the x-api-key header.',
      headers: { 'www-authenticate': 'ApiKey header="x-api-key"' },
    });
    expect(seen.counted).toEqual(['203.0.113.9']);
    const withOAuth = setup({ oauth: oauthFake({}) });
    expect(await refusal(withOAuth.authenticate(request({})))).toEqual({
      status: 401,
      code: -32001,
      message: 'Authentication required: send an OAuth access token or an x-api-key header.',
      headers: {
        'www-authenticate':
          'Bearer resource_metadata="https://edge.example/.well-known/oauth-protected-resource/mcp/s1", scope="mcp:tools"',
      },
    });
  });

  it('a public server: the anonymous caller, not counted', async () => {
    const { authenticate, seen } = setup({ catalogs: [catalog('open', { isPublic: true })] });
    const caller = await authenticate(request({}, { serverId: 'open' }));
    expect(caller).toMatchObject({
      principal: { workspaceId: 'w1', subject: 'anonymous' },
      clientId: 'oauth:anonymous',
      credential: { kind: 'anonymous' },
      accessToken: undefined,
    });
    expect(seen.counted).toEqual([]);
  });

  it('a bearer token on an edge without OAuth counts as no credential', async () => {
    const { authenticate } = setup({ catalogs: [catalog('open', { isPublic: true })] });
    const caller = await authenticate(request({ authorization: 'Bearer abc' }, { serverId: 'open' }));
    expect(caller.credential).toEqual({ kind: 'anonymous' });
  });

  it('an anonymous caller may not act as a user, and its user is never looked up', async () => {
    const { authenticate, seen } = setup({ catalogs: [catalog('open', { isPublic: true })], users: { bob: 'u-bob' } });
    const refused = await refusal(authenticate(request({ 'x-username': 'bob' }, { serverId: 'open' })));
    expect(refused).toMatchObject({ status: 403, code: -32001 });
    expect(refused.message).toMatch(/^Access denied: an anonymous caller may not act as external user "bob"/);
    expect(seen.userLookups).toBe(0);
  });
});

describe('authenticate: OAuth access tokens', () => {
  const tokens = {
    alice: token('alice', { exp: 2_000_000_000 }),
    expired: invalid('the token has expired'),
    narrow: {
      ok: false,
      status: 403,
      error: 'insufficient_scope',
      description: 'the token lacks the "mcp:tools" scope',
    } as TokenCheck,
    bob: token('bob-sub', { preferred_username: 'bob' }),
  };

  it('an accepted token: its subject, the token kept for opted-in workflows, and its expiry', async () => {
    const { authenticate } = setup({
      oauth: oauthFake(tokens),
      policies: [rule([{ type: 'oauth_subject', value: 'alice' }])],
    });
    expect(await authenticate(request({ authorization: 'Bearer alice' }))).toMatchObject({
      principal: { workspaceId: 'w1', subject: 'alice' },
      clientId: 'oauth:alice',
      credential: { kind: 'token', expiresAt: 2_000_000_000_000 },
      accessToken: 'alice',
    });
  });

  it('a refused token: its status, with the error in the challenge; counted', async () => {
    const { authenticate, seen } = setup({ oauth: oauthFake(tokens) });
    expect(await refusal(authenticate(request({ authorization: 'Bearer expired' })))).toEqual({
      status: 401,
      code: -32001,
      message: 'Unauthorized: the token has expired.',
      headers: {
        'www-authenticate':
          'Bearer resource_metadata="https://edge.example/.well-known/oauth-protected-resource/mcp/s1", ' +
          'scope="mcp:tools", error="invalid_token", error_description="the token has expired"',
      },
    });
    expect(await refusal(authenticate(request({ authorization: 'Bearer narrow' })))).toMatchObject({
      status: 403,
      message: 'Unauthorized: the token lacks the "mcp:tools" scope.',
    });
    expect(seen.counted).toHaveLength(2);
  });

  it('a token no policy grants: 403 naming the subject', async () => {
    const { authenticate } = setup({ oauth: oauthFake(tokens) });
    expect(await refusal(authenticate(request({ authorization: 'Bearer alice' })))).toMatchObject({
      status: 403,
      message: 'Access denied: no access policy grants OAuth subject "alice" access to MCP server s1.',
    });
  });

  it('an API key wins over a bearer token', async () => {
    const { authenticate } = setup({ oauth: oauthFake(tokens) });
    const caller = await authenticate(request({ 'x-api-key': 'tp-key-1', authorization: 'Bearer alice' }));
    expect(caller.principal).toEqual({ workspaceId: 'w1', keyId: 'k1' });
    expect(caller.accessToken).toBeUndefined();
  });

  it('a token whose user claim names a known user is that user (`token-user`), without x-username', async () => {
    const { authenticate } = setup({
      oauth: oauthFake(tokens),
      users: { bob: 'u-bob' },
      policies: [
        rule([
          { type: 'oauth_subject', value: 'bob-sub' },
          { type: 'external_user', value: 'bob' },
        ]),
      ],
    });
    expect((await authenticate(request({ authorization: 'Bearer bob' }))).principal).toEqual({
      workspaceId: 'w1',
      subject: 'bob-sub',
      username: 'bob',
      userId: 'u-bob',
      actingVia: 'token-user',
    });
  });

  it('a token whose person is gone is refused, never run with the shared credentials (issue #89)', async () => {
    const policies = [rule([{ type: 'oauth_subject', value: '*' }])];
    const idJag = { ...token('bob-sub', { preferred_username: 'bob' }), user: 'bob', idp: 'idp-1' } as TokenCheck;
    const oauth = oauthFake({ ...tokens, idJag });
    // The person deleted: the outside issuer's token naming them, and the edges' own (ID-JAG) token, are refused.
    const gone = setup({ oauth, policies, former: ['bob'] });
    for (const bearer of ['bob', 'idJag']) {
      const refused = await refusal(gone.authenticate(request({ authorization: `Bearer ${bearer}` })));
      expect(refused).toMatchObject({ status: 403, code: -32001 });
      expect(refused.message).toMatch(/"bob", who is no longer an active external user/);
    }
    // An ID-JAG token's person is refused even when no tombstone says so (Redis restored without it).
    const unknown = setup({ oauth, policies });
    expect(await refusal(unknown.authenticate(request({ authorization: 'Bearer idJag' })))).toMatchObject({
      status: 403,
    });
    // An outside issuer's claim that never named a person is the subject's own, as before.
    expect((await unknown.authenticate(request({ authorization: 'Bearer bob' }))).principal).toEqual({
      workspaceId: 'w1',
      subject: 'bob-sub',
    });
  });
});

describe('authenticate: acting as an external user (x-username)', () => {
  it('an unnamed key may act as any known user of its workspace (within what the user is granted)', async () => {
    const { authenticate } = setup({
      users: { carol: 'u-carol' },
      policies: [rule([{ type: 'external_user', value: 'carol' }])],
    });
    const caller = await authenticate(request({ 'x-api-key': 'tp-key-1', 'x-username': 'carol' }));
    expect(caller.principal).toEqual({
      workspaceId: 'w1',
      keyId: 'k1',
      username: 'carol',
      userId: 'u-carol',
      actingVia: 'unnamed-key',
    });
  });

  it('an unknown user: 403, once the published state is known complete (else retryable)', async () => {
    const { authenticate } = setup();
    expect(await refusal(authenticate(request({ 'x-api-key': 'tp-key-1', 'x-username': 'dave' })))).toEqual({
      status: 403,
      code: -32001,
      message:
        'Unknown user "dave" (x-username): no active external user has this name. Create one with POST ' +
        '/api/v1/external_users; a person your identity provider deactivated (SCIM `active: false`) is reactivated ' +
        'there (`active: true`), not created again.',
      headers: undefined,
    });
    const restoring = setup({ complete: false });
    const err = await restoring
      .authenticate(request({ 'x-api-key': 'tp-key-1', 'x-username': 'dave' }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as TransientError).message).toBe(stateMessages.restoring);
  });

  it('a key a policy names acts only as the users a policy names with it; a refused tools/call is recorded', async () => {
    const { authenticate, seen } = setup({
      users: { carol: 'u-carol', erin: 'u-erin' },
      policies: [
        rule([
          { type: 'api_key', value: 'k1' },
          { type: 'external_user', value: 'carol' },
        ]),
      ],
    });
    const caller = await authenticate(request({ 'x-api-key': 'tp-key-1', 'x-username': 'carol' }));
    expect(caller.principal.actingVia).toBe('policy-k1');
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get' } };
    const refused = await refusal(authenticate(request({ 'x-api-key': 'tp-key-1', 'x-username': 'erin' }, { body })));
    expect(refused.status).toBe(403);
    expect(refused.message).toMatch(/^Access denied: API key k1 may not act as external user "erin"/);
    expect(seen.records).toEqual([
      expect.objectContaining({
        serverId: 's1',
        catalogVersion: 7,
        tool: 'get',
        outcome: 'rejected',
        errorCode: 'access.denied',
        message: refused.message,
        caller: { keyId: 'k1', username: 'erin' },
      }),
    ]);
  });
});

describe('authenticate: before any credential', () => {
  it('an origin not in ALLOWED_ORIGINS: 403; an allowed one passes', async () => {
    const { authenticate } = setup();
    expect(await refusal(authenticate(request({ 'x-api-key': 'tp-key-1', origin: 'https://evil.example' })))).toEqual({
      status: 403,
      code: -32001,
      message: 'Origin https://evil.example is not allowed.',
      headers: undefined,
    });
    const caller = await authenticate(request({ 'x-api-key': 'tp-key-1', origin: 'http://localhost:5173' }));
    expect(caller.clientId).toBe('k1');
  });

  it('an address past its budget of unauthenticated requests: 429 with Retry-After, before any lookup', async () => {
    const { authenticate, seen } = setup({ blockedMs: 1_500 });
    expect(await refusal(authenticate(request({ 'x-api-key': 'tp-key-1' })))).toEqual({
      status: 429,
      code: -32000,
      message: 'Too many unauthenticated requests; retry in 2 s.',
      headers: { 'retry-after': '2' },
    });
    expect(seen.touched).toEqual([]);
  });
});

// The Caller is read-only to TypeScript: a compile error (checked by tsc) if anything tries to change it.
function readOnly(caller: Caller): void {
  // @ts-expect-error Caller fields are read-only
  caller.clientId = 'other';
  // @ts-expect-error so is its principal
  caller.principal.username = 'other';
}
void readOnly;

describe('authenticate: narrowed tokens (ADR 0084)', () => {
  const narrowed = (extra: Partial<DelegatedToken> = {}): DelegatedToken => ({
    v: 1,
    jti: 't2',
    workspaceId: 'w1',
    sub: 'api_key:k1',
    parent: { kind: 'key', keyId: 'k1', keyHash: hashApiKey('tp-key-1') },
    chain: ['t1', 't2'],
    act: { sub: 'sub-agent', act: { sub: 'agent' } },
    iat: 1_900_000_000,
    exp: 1_900_000_600,
    servers: ['s1'],
    tools: ['get'],
    conditions: [],
    limits: [],
    ...extra,
  });

  it("is its key narrowed: the key's principal with the chain of actors, only the token's tools, ending with it", async () => {
    const { authenticate, seen } = setup({ narrowed: { tpd_a: narrowed() } });
    const caller = await authenticate(request({ authorization: 'Bearer tpd_a' }));
    expect(caller.principal).toEqual({
      workspaceId: 'w1',
      keyId: 'k1',
      delegation: { tokenId: 't2', actors: ['api_key:k1', 'agent', 'sub-agent'] },
    });
    expect(caller.loaded.list.map((t) => t.name)).toEqual(['get']);
    expect(caller.clientId).toBe('delegated:t2');
    expect(caller.credential).toEqual({ kind: 'key', keyHash: hashApiKey('tp-key-1'), expiresAt: 1_900_000_600_000 });
    expect(caller.delegation?.token.jti).toBe('t2');
    expect(seen.touched).toEqual(['k1']);
  });

  it('a revoked parent key, an unknown token: 401; a server outside the token: 403', async () => {
    const revoked = setup({ keys: { 'tp-key-1': key('k1', { revoked: true }) }, narrowed: { tpd_a: narrowed() } });
    expect(await refusal(revoked.authenticate(request({ authorization: 'Bearer tpd_a' })))).toMatchObject({
      status: 401,
      message: 'The API key this token was narrowed from is revoked, expired or unknown.',
    });
    const { authenticate, seen } = setup({ narrowed: { tpd_a: narrowed({ servers: ['s2'] }) } });
    expect(await refusal(authenticate(request({ authorization: 'Bearer tpd_b' })))).toMatchObject({
      status: 401,
      message: 'Invalid, expired or revoked narrowed token.',
    });
    expect(await refusal(authenticate(request({ authorization: 'Bearer tpd_a' })))).toMatchObject({
      status: 403,
      message: 'This narrowed token does not reach MCP server s1.',
    });
    expect(seen.counted).toEqual(['203.0.113.9']);
  });
});

describe('authenticate: DPoP-bound OAuth tokens (RFC 9449, ADR 0106)', () => {
  const world = (): World => ({
    oauth: oauthFake({
      bound: token('alice', { cnf: { jkt: 'K1' } }),
      mtls: token('alice', { cnf: { 'x5t#S256': 'abc' } }),
      plain: token('alice'),
    }),
    policies: [rule([{ type: 'oauth_subject', value: 'alice' }])],
    proofs: { 'proof-k1': 'K1', 'proof-k2': 'K2' },
  });
  const dpopRefused = (description: string) => ({
    status: 401,
    code: -32001,
    message: `Unauthorized: ${description}.`,
    headers: { 'www-authenticate': expect.stringMatching(/^DPoP error="(invalid_token|invalid_dpop_proof)"/) },
  });

  it('a token carrying cnf.jkt: accepted with the DPoP scheme and a proof of that key, for that token', async () => {
    const { authenticate, seen } = setup(world());
    const caller = await authenticate(request({ authorization: 'DPoP bound', dpop: 'proof-k1' }));
    expect(caller.principal).toEqual({ workspaceId: 'w1', subject: 'alice' });
    expect(seen.proofs).toEqual(['proof-k1 for bound']);
    expect(seen.counted).toEqual([]);
  });

  it('refused as a bearer token, without a proof, with another key or a proof used before: 401, counted', async () => {
    const { authenticate, seen } = setup(world());
    const cases: [Record<string, string>, string][] = [
      [{ authorization: 'Bearer bound' }, 'This token is bound to a DPoP key: send it as DPoP'],
      [{ authorization: 'DPoP bound' }, 'A DPoP proof is required'],
      [{ authorization: 'DPoP bound', dpop: 'proof-k2' }, 'Invalid DPoP key binding'],
      [{ authorization: 'DPoP bound', dpop: 'replayed' }, 'The DPoP proof was used before (jti)'],
      [
        { authorization: 'DPoP mtls', dpop: 'proof-k1' },
        'This token is bound to a key by a method this edge does not check',
      ],
      [{ authorization: 'DPoP plain', dpop: 'proof-k1' }, 'This token is not bound to a DPoP key: send it as Bearer'],
    ];
    for (const [headers, description] of cases)
      expect(await refusal(authenticate(request(headers)))).toEqual(dpopRefused(description));
    expect(seen.counted).toHaveLength(cases.length);
  });

  it('an unbound token is a bearer token as before: no proof asked for, none checked', async () => {
    const { authenticate, seen } = setup(world());
    expect((await authenticate(request({ authorization: 'Bearer plain' }))).principal.subject).toBe('alice');
    expect(seen.proofs).toEqual([]);
  });
});
