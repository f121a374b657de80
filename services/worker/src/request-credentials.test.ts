import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { HttpOperationPlan } from '@toolplane/contracts';
import { CompactEncrypt } from 'jose';
import { perRequestCredentials, requestCredentialOpener } from './request-credentials.ts';
import { buildRequest } from './http-operation.ts';

const pair = () => {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return {
    publicKey,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
};

/** As the edge seals (services/edge/src/identity/upstream-auth.ts). */
const seal = (publicKey: ReturnType<typeof pair>['publicKey'], value: string, inv: string) =>
  new CompactEncrypt(new TextEncoder().encode(value))
    .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', inv })
    .encrypt(publicKey);

const plan = (extra: Partial<HttpOperationPlan>): HttpOperationPlan => ({
  kind: 'http',
  method: 'GET',
  url: 'https://api.example.com/me',
  params: [],
  authHeaders: {},
  secrets: {},
  ...extra,
});

describe('requestCredentialOpener', () => {
  it('opens a value sealed for the invocation, and refuses one sealed for another or with another key', async () => {
    const keys = pair();
    const open = requestCredentialOpener(keys.privateKeyPem);
    expect(await open(await seal(keys.publicKey, 'tok-1', 'inv-1'), 'inv-1')).toBe('tok-1');
    await expect(open(await seal(keys.publicKey, 'tok-1', 'inv-1'), 'inv-2')).rejects.toMatchObject({
      code: 'auth.upstream_authorization_invalid',
      message: expect.stringContaining('another call'),
    });
    await expect(open(await seal(pair().publicKey, 'tok-1', 'inv-1'), 'inv-1')).rejects.toMatchObject({
      code: 'auth.upstream_authorization_invalid',
    });
    await expect(open('not.a.jwe', 'inv-1')).rejects.toMatchObject({ code: 'auth.upstream_authorization_invalid' });
  });

  it('takes X25519 keys only', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    expect(() => requestCredentialOpener(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).toThrow(
      /X25519/,
    );
  });
});

describe('perRequestCredentials', () => {
  it('puts the value where the API takes its key (connector auth_headers, an apiKey in the query)', () => {
    const p = plan({
      authHeaders: { 'X-API-Key': '{api_key}' },
      secrets: { api_key: 'ws/1/instances/2/api_key' },
    });
    const { credentials, secretValues } = perRequestCredentials(p, 'caller-key');
    expect(buildRequest(p, {}, credentials).headers['x-api-key']).toBe('caller-key');
    expect(secretValues).toContain('caller-key');
    const q = plan({ authQuery: { key: '{k}' }, secrets: { k: 's' } });
    expect(buildRequest(q, {}, perRequestCredentials(q, 'qk').credentials).url).toBe(
      'https://api.example.com/me?key=qk',
    );
  });

  it('sends Bearer for bearer and OAuth 2 schemes (no token request), dropping a leading "Bearer "', () => {
    const bearer = plan({
      auth: { kind: 'bearer', token: 'token' },
      authHeaders: { Authorization: '{__authorization}' },
      secrets: { token: 's' },
    });
    const first = perRequestCredentials(bearer, 'Bearer t-1');
    expect(buildRequest(bearer, {}, first.credentials).headers.authorization).toBe('Bearer t-1');
    expect(first.secretValues).toEqual(expect.arrayContaining(['Bearer t-1', 't-1']));
    const oauth = plan({
      auth: {
        kind: 'oauth2_client_credentials',
        tokenUrl: 'https://a/t',
        scopes: [],
        clientId: 'id',
        clientSecret: 'sec',
      },
      authHeaders: { Authorization: '{__authorization}' },
      secrets: { id: 'a', sec: 'b' },
    });
    expect(perRequestCredentials(oauth, 't-2').credentials).toEqual({ __authorization: 'Bearer t-2' });
  });

  it('takes <username>:<password> for HTTP Basic, and says so otherwise', () => {
    const basic = plan({
      auth: { kind: 'basic', username: 'u', password: 'p' },
      authHeaders: { Authorization: '{__authorization}' },
      secrets: { u: 'a', p: 'b' },
    });
    expect(perRequestCredentials(basic, 'ada:pw').credentials.__authorization).toBe(
      `Basic ${Buffer.from('ada:pw').toString('base64')}`,
    );
    expect(() => perRequestCredentials(basic, 'no-colon')).toThrow(/<username>:<password>/);
  });

  it('refuses an API that takes more than one credential, and an empty value', () => {
    const two = plan({
      authHeaders: { 'X-Key': '{key}', 'X-Account': '{account}' },
      secrets: { key: 'a', account: 'b' },
    });
    expect(() => perRequestCredentials(two, 'v')).toThrow(/takes 2 credentials \(key, account\)/);
    expect(() => perRequestCredentials(plan({ secrets: { key: 'a' } }), 'Bearer ')).toThrow(/empty/);
  });
});
