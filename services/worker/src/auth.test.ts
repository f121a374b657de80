import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Authorizer } from './auth.ts';
import { configureOutbound, parseOutboundAllow } from './outbound-guard.ts';

const limits = { timeoutMs: 5000, maxResponseBytes: 1 << 20 };
let server: Server;
let tokenUrl: string;
const hits: { authorization?: string; body: string }[] = [];
let answer: { status: number; body: unknown } = { status: 200, body: { access_token: 'tok-1', expires_in: 3600 } };

beforeAll(async () => {
  // The token endpoint of this test runs on loopback, which the outbound guard refuses by default.
  configureOutbound({ policy: parseOutboundAllow('127.0.0.1') });
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hits.push({ authorization: req.headers.authorization, body });
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('Authorizer', () => {
  it('builds Basic and Bearer values from credential fields', async () => {
    const a = new Authorizer(limits);
    expect(
      await a.authorization(
        { kind: 'basic', username: 'username', password: 'password' },
        { username: 'ada', password: 'p:w' },
      ),
    ).toBe(`Basic ${Buffer.from('ada:p:w').toString('base64')}`);
    expect(await a.authorization({ kind: 'bearer', token: 'token' }, { token: 't0' })).toBe('Bearer t0');
  });

  it("never computes a person's own account (HTTP tools and workflow steps ask the token keeper)", async () => {
    const plan = {
      kind: 'oauth2_authorization_code' as const,
      authorizeUrl: 'https://a/authorize',
      tokenUrl: 'https://a/token',
      scopes: [],
      clientId: 'client_id',
      clientSecret: 'client_secret',
    };
    await expect(new Authorizer(limits).authorization(plan, {})).rejects.toMatchObject({
      code: 'internal.unexpected',
      kind: 'internal',
    });
  });

  it('reports a missing credential field by name', async () => {
    await expect(new Authorizer(limits).authorization({ kind: 'bearer', token: 'token' }, {})).rejects.toThrow(
      'the connection has no "token" credential',
    );
  });

  it('fetches an OAuth2 client-credentials token once, reuses it, and refetches for a rotated secret', async () => {
    let now = 1_000_000;
    const a = new Authorizer(limits, () => now);
    const plan = {
      kind: 'oauth2_client_credentials' as const,
      tokenUrl,
      scopes: ['tickets:read'],
      clientId: 'client_id',
      clientSecret: 'client_secret',
    };
    hits.length = 0;
    const [x, y] = await Promise.all([
      a.authorization(plan, { client_id: 'app', client_secret: 's1' }),
      a.authorization(plan, { client_id: 'app', client_secret: 's1' }),
    ]);
    expect([x, y]).toEqual(['Bearer tok-1', 'Bearer tok-1']);
    expect(hits).toHaveLength(1);
    expect(hits[0]!.authorization).toBe(`Basic ${Buffer.from('app:s1').toString('base64')}`);
    expect(new URLSearchParams(hits[0]!.body).get('grant_type')).toBe('client_credentials');
    expect(new URLSearchParams(hits[0]!.body).get('scope')).toBe('tickets:read');

    now += 60_000;
    await a.authorization(plan, { client_id: 'app', client_secret: 's1' });
    expect(hits).toHaveLength(1);
    await a.authorization(plan, { client_id: 'app', client_secret: 's2' });
    expect(hits).toHaveLength(2);
    now += 3600_000; // past expiry
    await a.authorization(plan, { client_id: 'app', client_secret: 's1' });
    expect(hits).toHaveLength(3);
  });

  it('turns a refused token request into a clear error', async () => {
    answer = { status: 401, body: { error: 'invalid_client' } };
    const plan = {
      kind: 'oauth2_client_credentials' as const,
      tokenUrl,
      scopes: [],
      clientId: 'client_id',
      clientSecret: 'client_secret',
    };
    await expect(
      new Authorizer(limits).authorization(plan, { client_id: 'app', client_secret: 'bad' }),
    ).rejects.toThrow('the OAuth2 token endpoint answered HTTP 401');
    answer = { status: 200, body: { access_token: 'tok-1', expires_in: 3600 } };
  });
});
