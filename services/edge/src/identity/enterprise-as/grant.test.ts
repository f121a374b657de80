import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTHeaderParameters } from 'jose';
import { clientCredentials, GrantRefusal, grantedScope, secretMatches, unverifiedIdJag, verifyIdJag } from './grant.ts';

const issuer = 'https://idp.example';
const audience = 'https://edge.example';
const idp = {
  id: 'i',
  name: 'acme',
  issuer,
  jwksUrl: `${issuer}/jwks`,
  clientId: 'agent',
  clientSecretHash: createHash('sha256').update('s3cret').digest('hex'),
  userClaim: 'email',
};

async function keySet() {
  const pair = await generateKeyPair('ES256');
  const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k', alg: 'ES256' }] });
  return { pair, jwks };
}

function refusal(error: string, description: RegExp) {
  return expect.objectContaining({ error, message: expect.stringMatching(description) });
}

describe('the ID-JAG grant’s checks', () => {
  it('reads client_secret_basic (form-encoded parts) or client_secret_post, never both in one request', () => {
    const basic = `Basic ${Buffer.from('my%20agent:s%3Acret').toString('base64')}`;
    expect(clientCredentials({}, basic)).toEqual({ clientId: 'my agent', secret: 's:cret' });
    expect(clientCredentials({ client_id: 'my agent' }, basic)).toEqual({ clientId: 'my agent', secret: 's:cret' });
    // RFC 6749 §2.3: one authentication method per request.
    expect(() => clientCredentials({ client_id: 'x', client_secret: 'y' }, basic)).toThrow(
      refusal('invalid_request', /one client authentication method/),
    );
    expect(() => clientCredentials({ client_id: 'my agent', client_secret: 's:cret' }, basic)).toThrow(
      refusal('invalid_request', /Authorization header and client_secret/),
    );
    expect(() =>
      clientCredentials({ client_id: 'x', client_secret: 'y', client_assertion: 'a.b.c' }, undefined),
    ).toThrow(refusal('invalid_request', /client_secret and client_assertion/));
    expect(() => clientCredentials({ client_id: 'other' }, basic)).toThrow(
      refusal('invalid_request', /another client/),
    );
    expect(clientCredentials({ client_id: 'x', client_secret: 'y' }, undefined)).toEqual({
      clientId: 'x',
      secret: 'y',
    });
    expect(() => clientCredentials({ client_id: 'x' }, undefined)).toThrow(GrantRefusal);
    expect(secretMatches('s3cret', idp)).toBe(true);
    expect(secretMatches('s3cret ', idp)).toBe(false);
  });

  it('grants the ID-JAG’s scope narrowed to what was asked, never more', () => {
    expect(grantedScope('a b c', undefined)).toBe('a b c');
    expect(grantedScope('a b c', 'b c d')).toBe('b c');
    expect(grantedScope(undefined, 'a')).toBeUndefined();
  });

  it('refuses what is not an ID-JAG before any key is fetched', async () => {
    const { pair } = await keySet();
    const jwt = (header: Partial<JWTHeaderParameters>, claims: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'ES256', ...header }).sign(pair.privateKey);
    expect(() => unverifiedIdJag('not.a.jwt')).toThrow(refusal('invalid_grant', /not a JWT/));
    expect(() => unverifiedIdJag('x')).toThrow(GrantRefusal);
    const noTyp = await jwt({}, { iss: issuer, resource: 'r' });
    expect(() => unverifiedIdJag(noTyp)).toThrow(refusal('invalid_grant', /"typ"/));
    const noResource = await jwt({ typ: 'oauth-id-jag+jwt' }, { iss: issuer });
    expect(() => unverifiedIdJag(noResource)).toThrow(refusal('invalid_grant', /resource/));
  });

  it('verifies signature, algorithm, times, lifetime and client, each refusal invalid_grant', async () => {
    const { pair, jwks } = await keySet();
    const now = Math.floor(Date.now() / 1000);
    const make = (o: { iat?: number; exp?: number; client?: string; alg?: 'ES256' | 'HS256' } = {}) =>
      new SignJWT({ client_id: o.client ?? 'agent', email: 'alice' })
        .setProtectedHeader({ alg: o.alg ?? 'ES256', kid: 'k', typ: 'oauth-id-jag+jwt' })
        .setIssuer(issuer)
        .setSubject('u1')
        .setAudience(audience)
        .setJti('j1')
        .setIssuedAt(o.iat ?? now)
        .setExpirationTime(o.exp ?? now + 300)
        .sign(o.alg === 'HS256' ? new Uint8Array(32) : pair.privateKey);
    const check = async (token: Promise<string>) => verifyIdJag(await token, jwks, { idp, audience, skew: 30 });
    await expect(check(make())).resolves.toEqual({
      sub: 'u1',
      jti: 'j1',
      exp: now + 300,
      scope: undefined,
      person: 'alice',
    });
    await expect(check(make({ iat: now + 120, exp: now + 400 }))).rejects.toThrow(refusal('invalid_grant', /future/));
    await expect(check(make({ exp: now + 7200 }))).rejects.toThrow(refusal('invalid_grant', /longer than/));
    await expect(check(make({ iat: now - 400, exp: now - 100 }))).rejects.toThrow(refusal('invalid_grant', /expired/));
    await expect(check(make({ client: 'other' }))).rejects.toThrow(refusal('invalid_grant', /another client/));
    await expect(check(make({ alg: 'HS256' }))).rejects.toThrow(refusal('invalid_grant', /algorithm/));
    const other = await keySet();
    await expect(verifyIdJag(await make(), other.jwks, { idp, audience, skew: 30 })).rejects.toThrow(
      refusal('invalid_grant', /could not be verified/),
    );
  });
});
