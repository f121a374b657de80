// Signed-in users' access tokens on the management API (ADR 0020), against a JWKS and issuer metadata served on
// 127.0.0.1: what is accepted, what is refused and why, what an unreachable issuer does. The database is a small
// fake of the one query the verifier makes (which workspaces exist).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppError, AuthError, TransientError } from '@toolplane/errors';
import express from 'express';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey } from 'jose';
import type { Db } from '../db/client.ts';
import { requireCaller } from './auth.ts';
import { AuthorizationServerDiscovery, ManagementTokenVerifier } from './oauth.ts';

const workspace = '5f0c6a8e-1d2b-4c3d-9e4f-a1b2c3d4e5f6';
const audience = 'https://toolplane.example/api';
/** What the issuer's metadata endpoints answer, by path (status, body); anything else is a 404. */
const served = new Map<string, [number, unknown]>();

let server: Server;
let issuer: string;
let key: CryptoKey;
let otherKey: CryptoKey;
let verifier: ManagementTokenVerifier;
const db = {
  workspace: {
    findUnique: async ({ where }: { where: { id: string } }) => (where.id === workspace ? { id: workspace } : null),
  },
} as unknown as Db;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  key = pair.privateKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  server = createServer((req, res) => {
    if (req.url === '/jwks')
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    const answer = served.get(req.url ?? '');
    if (!answer) return void res.writeHead(404).end();
    res.writeHead(answer[0], { 'content-type': 'application/json' }).end(JSON.stringify(answer[1]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  verifier = new ManagementTokenVerifier(
    { issuer, jwksUrl: `${issuer}/jwks`, audience, workspaceClaim: 'toolplane_workspace', scopePrefix: 'toolplane:' },
    db,
  );
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

interface TokenOptions {
  claims?: Record<string, unknown>;
  iss?: string;
  aud?: string;
  exp?: string | number;
  sub?: string | null;
  signWith?: CryptoKey;
}

async function token(o: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({
    scope: 'toolplane:management toolplane:runtime',
    toolplane_workspace: workspace,
    ...o.claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(o.iss ?? issuer)
    .setAudience(o.aud ?? audience)
    .setIssuedAt()
    .setExpirationTime(o.exp ?? '5m');
  if (o.sub !== null) jwt.setSubject(o.sub ?? 'alice');
  return jwt.sign(o.signWith ?? key);
}

/** The error `verify` throws: its class, code, status and message. */
async function refusal(t: string | Promise<string>) {
  const err = await verifier.verify(await t).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  const e = err as AppError & { status?: number };
  return { type: e.constructor.name, code: e.code, status: e.status, message: e.message };
}

describe('ManagementTokenVerifier', () => {
  it('accepts a token of the issuer for this audience: its workspace, its subject, the API-key scopes it grants', async () => {
    const t = await token({ claims: { scope: 'openid toolplane:management toolplane:admin other:thing management' } });
    const caller = await verifier.verify(t);
    expect(caller).toEqual({
      workspaceId: workspace,
      subject: 'alice',
      principal: 'user:alice',
      scopes: ['management', 'admin'],
      // The workspace maps no roles: everyone signed in to it is an admin.
      roles: ['admin'],
      // Its `exp` (seconds) in epoch ms: a debug event stream opened with it ends then.
      expiresAt: decodeJwt(t).exp! * 1000,
    });
    // `scp` as an array (Entra ID, Okta) works the same.
    const scp = await verifier.verify(
      await token({ claims: { scope: undefined, scp: ['toolplane:management', 'toolplane:runtime'] } }),
    );
    expect(scp.scopes).toEqual(['management', 'runtime']);
  });

  it('refuses, as 401 invalid_token, a token of another issuer, for another audience, expired, without a subject or badly signed', async () => {
    const invalid = (message: string) => ({ type: 'AuthError', code: 'auth.invalid_token', status: 401, message });
    expect(await refusal(token({ iss: 'https://evil.example' }))).toEqual(
      invalid('the access token\'s "iss" claim is not accepted here'),
    );
    // A token for an MCP server (the edge's resource) or an ID token (audience: the client) is not one for this API.
    expect(await refusal(token({ aud: 'http://127.0.0.1:8080/mcp/5f0c' }))).toEqual(
      invalid('the access token\'s "aud" claim is not accepted here'),
    );
    expect(await refusal(token({ exp: Math.floor(Date.now() / 1000) - 120 }))).toEqual(
      invalid('the access token has expired'),
    );
    expect(await refusal(token({ sub: null }))).toEqual(
      invalid('the access token\'s "sub" claim is not accepted here'),
    );
    expect(await refusal(token({ signWith: otherKey }))).toEqual(
      invalid("the access token's signature does not verify with the issuer's keys"),
    );
    // Unsigned (`alg: none`) and shared-secret tokens never verify, whatever they claim.
    const claims = {
      scope: 'toolplane:management',
      toolplane_workspace: workspace,
      sub: 'alice',
      iss: issuer,
      aud: audience,
    };
    const unsigned = new UnsecuredJWT(claims).setExpirationTime('5m').encode();
    expect(await refusal(unsigned)).toEqual(invalid("the access token's signature algorithm is not accepted"));
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setExpirationTime('5m')
      .sign(new Uint8Array(32));
    expect(await refusal(hs)).toEqual(invalid("the access token's signature algorithm is not accepted"));
    expect(await refusal('not-a-jwt')).toEqual(invalid('the access token could not be verified'));
  });

  it('refuses, as 403, a valid token without the management scope or without an existing workspace of its own', async () => {
    const forbidden = (message: string) => ({ type: 'AuthError', code: 'auth.forbidden', status: 403, message });
    expect(await refusal(token({ claims: { scope: 'toolplane:runtime management' } }))).toEqual(
      forbidden('the access token has no "toolplane:management" scope'),
    );
    expect(await refusal(token({ claims: { toolplane_workspace: undefined } }))).toEqual(
      forbidden('the access token\'s "toolplane_workspace" claim names no workspace id'),
    );
    expect(await refusal(token({ claims: { toolplane_workspace: 'default' } }))).toEqual(
      forbidden('the access token\'s "toolplane_workspace" claim names no workspace id'),
    );
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect(await refusal(token({ claims: { toolplane_workspace: unknown } }))).toEqual(
      forbidden(`the access token's workspace ${unknown} does not exist`),
    );
  });

  it('refuses, as 401 invalid_token, a bound token (cnf) sent as a bearer token or without a proof it can check', async () => {
    const request = { proof: undefined, method: 'GET', url: 'http://cp.test/api/v1/workspaces/current' };
    const bound = await token({ claims: { cnf: { jkt: 'thumbprint' } } });
    expect(await refusal(bound)).toMatchObject({ status: 401, code: 'auth.invalid_token' });
    const asDpop = await verifier.verify(bound, { dpopScheme: true, request }).catch((e: unknown) => e);
    expect(asDpop).toMatchObject({
      status: 401,
      code: 'auth.invalid_token',
      challenge: expect.stringMatching(/^DPoP /),
    });
    const mtls = await token({ claims: { cnf: { 'x5t#S256': 'abc' } } });
    expect(await refusal(mtls)).toMatchObject({
      status: 401,
      message: 'This token is bound to a key by a method not checked here.',
    });
    // No token text in what a refusal says.
    expect(JSON.stringify(await refusal(bound))).not.toContain(bound);
  });

  it("answers 503 (retry), not 401, while the issuer's keys cannot be fetched", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r)); // nothing listens there now
    const offline = new ManagementTokenVerifier({ ...verifier.config, jwksUrl: `http://127.0.0.1:${port}/jwks` }, db);
    const err = await offline.verify(await token()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: 'service.unavailable' });
    const notKeys = new ManagementTokenVerifier({ ...verifier.config, jwksUrl: `${issuer}/not-there` }, db);
    expect(await notKeys.verify(await token()).catch((e: unknown) => e)).toBeInstanceOf(TransientError);
  });
});

describe('the management API without an issuer', () => {
  it('refuses a bearer token as 401 invalid_token, saying that only API keys are accepted, and reads no database', async () => {
    const app = express();
    app.use(requireCaller({} as Db));
    app.get('/x', (_req, res) => void res.json({ reached: true }));
    app.use(
      (err: AuthError, _req: express.Request, res: express.Response, _next: express.NextFunction) =>
        void res.status(err.status).json({ code: err.code, message: err.message }),
    );
    const s = app.listen(0, '127.0.0.1');
    await new Promise((r) => s.once('listening', r));
    try {
      const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/x`;
      const res = await fetch(url, { headers: { authorization: `Bearer ${await token()}` } });
      expect(res.status).toBe(401);
      // A bearer challenge, as for every auth.invalid_token (docs/api.md).
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="toolplane", error="invalid_token"');
      expect(await res.json()).toEqual({
        code: 'auth.invalid_token',
        message: 'this control plane accepts API keys only (x-api-key): no OAuth issuer is configured (OAUTH_ISSUER)',
      });
      const none = await fetch(url);
      expect(await none.json()).toEqual({ code: 'auth.missing_key', message: 'the x-api-key header is required' });
    } finally {
      await new Promise((r) => s.close(r));
    }
  });
});

describe('AuthorizationServerDiscovery', () => {
  const metadata = (over: Record<string, unknown> = {}) => ({
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    code_challenge_methods_supported: ['S256'],
    ...over,
  });

  it('reads RFC 8414 metadata, else OpenID Connect discovery, and keeps what it found', async () => {
    served.clear();
    served.set('/.well-known/openid-configuration', [200, metadata()]);
    const discovery = new AuthorizationServerDiscovery(issuer);
    expect(await discovery.endpoints()).toEqual({
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
    });
    served.clear(); // kept: no second request needed within 10 minutes
    expect((await discovery.endpoints()).token_endpoint).toBe(`${issuer}/token`);
    served.set('/.well-known/oauth-authorization-server', [200, metadata({ token_endpoint: `${issuer}/t2` })]);
    expect((await new AuthorizationServerDiscovery(issuer).endpoints()).token_endpoint).toBe(`${issuer}/t2`);
  });

  it('refuses metadata naming another issuer, without PKCE S256, or with plain-http endpoints elsewhere', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ issuer: 'https://evil.example' }, /names another issuer \(https:\/\/evil\.example\)/],
      [{ code_challenge_methods_supported: ['plain'] }, /does not support PKCE S256/],
      [{ token_endpoint: 'http://tokens.example/token' }, /the token_endpoint must be https/],
      [{ authorization_endpoint: 'not a url' }, /has no valid authorization_endpoint/],
    ];
    for (const [over, why] of cases) {
      served.clear();
      served.set('/.well-known/oauth-authorization-server', [200, metadata(over)]);
      await expect(new AuthorizationServerDiscovery(issuer).endpoints()).rejects.toThrow(why);
    }
  });

  it('says why when no metadata can be read, and tries again after 10 seconds, not at every page', async () => {
    served.clear();
    const discovery = new AuthorizationServerDiscovery(issuer);
    const t0 = Date.now();
    await expect(discovery.endpoints(t0)).rejects.toThrow(
      /metadata could not be read \(.*oauth-authorization-server: HTTP 404; .*openid-configuration: HTTP 404\)/,
    );
    served.set('/.well-known/oauth-authorization-server', [200, metadata()]);
    await expect(discovery.endpoints(t0 + 1_000)).rejects.toThrow(/HTTP 404/); // the failure is kept for a while
    expect((await discovery.endpoints(t0 + 11_000)).authorization_endpoint).toBe(`${issuer}/authorize`);
  });
});
