import { createHash, randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

/**
 * A local OAuth authorization server for tests: a JWKS endpoint (`/jwks`, key id `k1`) and the key that signs its
 * tokens; RFC 8414 metadata; and, for `clients`, the authorization code flow with PKCE a browser goes through
 * (`/authorize` signs in `user` at once and sends the code back, `/token` redeems it once, with the verifier, for
 * an access token whose audience is the `resource` asked for). `requests` lists what reached it (path and query).
 */
export interface LocalAuthorizationServer {
  issuer: string;
  signingKey: CryptoKey;
  /**
   * Who `/authorize` signs in: the access token's `sub` and further claims; `deny` answers `access_denied`; `scope`:
   * what the issuer grants them (by its own policy), else what the client asked for.
   */
  user: { sub: string; claims: Record<string, unknown>; deny?: boolean; scope?: string };
  /** Lifetime of the access tokens `/token` issues (seconds). */
  tokenLifetime: number;
  /** While true, the metadata documents (RFC 8414, OpenID Connect discovery) answer 503: an issuer having a bad minute. */
  discoveryDown: boolean;
  requests: string[];
  /** The clients `/authorize` knows (may be added to once their redirect URI is known). */
  clients: { clientId: string; redirectUri: string }[];
  close(): Promise<void>;
}

export async function startAuthorizationServer(
  opts: { clients?: { clientId: string; redirectUri: string }[] } = {},
): Promise<LocalAuthorizationServer> {
  const pair = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const codes = new Map<
    string,
    {
      clientId: string;
      redirectUri: string;
      challenge: string;
      resource: string;
      scope: string;
      claims: Record<string, unknown>;
    }
  >();
  const json = (res: ServerResponse, status: number, body: unknown) =>
    void res
      .writeHead(status, {
        'content-type': 'application/json',
        'access-control-allow-origin': '*',
        'cache-control': 'no-store',
      })
      .end(JSON.stringify(body));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', as.issuer);
    as.requests.push(url.pathname + url.search);
    if (url.pathname === '/jwks') return json(res, 200, { keys: [jwk] });
    if (as.discoveryDown && url.pathname.startsWith('/.well-known/'))
      return json(res, 503, { error: 'temporarily_unavailable' });
    if (url.pathname === '/.well-known/oauth-authorization-server')
      return json(res, 200, {
        issuer: as.issuer,
        authorization_endpoint: `${as.issuer}/authorize`,
        token_endpoint: `${as.issuer}/token`,
        jwks_uri: `${as.issuer}/jwks`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none'],
        authorization_response_iss_parameter_supported: true,
      });
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      const client = as.clients.find((c) => c.clientId === q.get('client_id'));
      // An unknown client or redirect URI is never redirected to (RFC 6749 4.1.2.1).
      if (!client || client.redirectUri !== q.get('redirect_uri')) return void res.writeHead(400).end('unknown client');
      const back = new URL(client.redirectUri);
      back.searchParams.set('iss', as.issuer);
      if (q.get('state')) back.searchParams.set('state', q.get('state')!);
      if (as.user.deny || q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256') {
        back.searchParams.set('error', as.user.deny ? 'access_denied' : 'invalid_request');
      } else {
        const code = randomBytes(16).toString('base64url');
        codes.set(code, {
          clientId: client.clientId,
          redirectUri: client.redirectUri,
          challenge: q.get('code_challenge') ?? '',
          resource: q.get('resource') ?? '',
          scope: as.user.scope ?? q.get('scope') ?? '',
          claims: { ...as.user.claims, sub: as.user.sub },
        });
        back.searchParams.set('code', code);
      }
      return void res.writeHead(302, { location: back.href }).end();
    }
    if (url.pathname === '/token' && req.method === 'OPTIONS')
      return void res
        .writeHead(204, {
          'access-control-allow-origin': '*',
          'access-control-allow-headers': '*',
          'access-control-allow-methods': 'POST',
        })
        .end();
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        void (async () => {
          const form = new URLSearchParams(body);
          const code = codes.get(form.get('code') ?? '');
          codes.delete(form.get('code') ?? ''); // one use
          const verifier = form.get('code_verifier') ?? '';
          const challenge = createHash('sha256').update(verifier).digest('base64url');
          if (
            !code ||
            form.get('grant_type') !== 'authorization_code' ||
            form.get('client_id') !== code.clientId ||
            form.get('redirect_uri') !== code.redirectUri ||
            challenge !== code.challenge
          )
            return json(res, 400, { error: 'invalid_grant' });
          const token = await new SignJWT({ ...code.claims, scope: code.scope })
            .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'at+jwt' })
            .setIssuer(as.issuer)
            .setAudience(code.resource)
            .setIssuedAt()
            .setExpirationTime(`${as.tokenLifetime}s`)
            .sign(pair.privateKey);
          json(res, 200, {
            access_token: token,
            token_type: 'Bearer',
            expires_in: as.tokenLifetime,
            scope: code.scope,
          });
        })();
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const as: LocalAuthorizationServer = {
    issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    signingKey: pair.privateKey,
    user: { sub: 'alice', claims: {} },
    tokenLifetime: 300,
    discoveryDown: false,
    requests: [],
    clients: opts.clients ?? [],
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  return as;
}
