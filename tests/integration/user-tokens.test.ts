// UserTokenKeeper against real Redis, a real sealed secrets store and a local OAuth provider: one refresh for many
// concurrent calls on several workers, rotation stored whole, a refused refresh marked, a provider down retried.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { TransientError } from '../../packages/errors/src/index.ts';
import {
  generateSealingKeyPair,
  LocalSealedSecretsReader,
  LocalSealedSecretsWriter,
} from '../../packages/secrets/src/index.ts';
import { Redis } from 'ioredis';
import { startUserOAuthProvider, type UserOAuthProvider } from '../fixtures/user-oauth-provider.ts';
import { configureOutbound, parseOutboundAllow } from '../../services/worker/src/outbound-guard.ts';
import {
  ConnectionRequiredError,
  UserTokenKeeper,
  type OAuthClient,
  type StoredTokens,
} from '../../services/worker/src/user-tokens.ts';

const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: these tests need Redis');
const prefix = `tput${randomUUID().slice(0, 8)}`;
const limits = { timeoutMs: 5_000, maxResponseBytes: 1_000_000 };

let provider: UserOAuthProvider;
let client: OAuthClient;
let reader: LocalSealedSecretsReader;
let writer: LocalSealedSecretsWriter;
/** One Redis connection and one keeper per simulated worker. */
const workers: { redis: Redis; keeper: UserTokenKeeper }[] = [];

function keeper(redis: Redis, opts: { lockTtlMs?: number } = {}) {
  return new UserTokenKeeper({
    redis,
    prefix,
    limits,
    store: {
      read: (name) => reader.get(name),
      write: async (name, value) => void (await writer.put(name, value)),
      delete: async (name) => void (await writer.delete(name)),
    },
    ...opts,
  });
}

/** Connects `user` as the flow would: tokens from the provider, stored sealed under a fresh name. */
async function connect(user: string, expiresInMs = 3_600_000): Promise<{ name: string; tokens: StoredTokens }> {
  const issued = provider.issueTokensFor(user);
  const tokens = {
    access_token: issued.accessToken,
    refresh_token: issued.refreshToken,
    expires_at: Date.now() + expiresInMs,
  };
  const name = `users/${user}/oauth/${randomUUID()}`;
  await writer.put(name, JSON.stringify(tokens));
  return { name, tokens };
}

const stored = async (name: string) => JSON.parse((await reader.get(name))!) as StoredTokens;

/** Calls the protected API with `token`: its status. */
const callApi = async (token: string) =>
  (await fetch(`${provider.apiUrl}/items`, { headers: { authorization: `Bearer ${token}` } })).status;

beforeAll(async () => {
  // The provider runs on loopback, which the outbound guard refuses by default.
  configureOutbound({ policy: parseOutboundAllow('127.0.0.1') });
  provider = await startUserOAuthProvider();
  client = { tokenUrl: provider.tokenUrl, clientId: provider.clientId, clientSecret: provider.clientSecret };
  const pair = generateSealingKeyPair();
  const dir = mkdtempSync(join(tmpdir(), 'toolplane-user-tokens-'));
  reader = new LocalSealedSecretsReader(dir, pair.privateKeyPem);
  writer = new LocalSealedSecretsWriter(dir, pair.publicKeyPem);
  for (let i = 0; i < 2; i++) {
    const redis = new Redis(redisUrl);
    workers.push({ redis, keeper: keeper(redis) });
  }
});

beforeEach(() => {
  provider.refuseRefresh = false;
  provider.down = false;
});

afterAll(async () => {
  const keys = await workers[0]!.redis.keys(`${prefix}:*`);
  if (keys.length) await workers[0]!.redis.del(...keys);
  for (const w of workers) w.redis.disconnect();
  await provider?.close();
});

describe('UserTokenKeeper', () => {
  it('uses a valid token as stored, without asking the provider', async () => {
    const { name, tokens } = await connect('carol');
    const before = provider.refreshCount;
    expect(await workers[0]!.keeper.accessToken(name, client)).toBe(tokens.access_token);
    expect(provider.refreshCount).toBe(before);
  });

  it('refreshes an expiring token once for 20 concurrent calls on two workers, and stores the rotation whole', async () => {
    const { name, tokens } = await connect('alice', 1_000); // within the 60 s margin
    provider.expireAccessTokens();
    const before = provider.refreshCount;
    const got = await Promise.all(
      Array.from({ length: 20 }, (_, i) => workers[i % 2]!.keeper.accessToken(name, client)),
    );
    expect(provider.refreshCount - before).toBe(1);
    expect(new Set(got).size).toBe(1);
    expect(got[0]).not.toBe(tokens.access_token);
    const now = await stored(name);
    expect(now.access_token).toBe(got[0]);
    expect(now.refresh_token).toBeDefined();
    expect(now.refresh_token).not.toBe(tokens.refresh_token); // rotated
    expect(now.expires_at).toBeGreaterThan(Date.now() + 60_000);
    const statuses = await Promise.all(got.map(callApi));
    expect(statuses).toEqual(Array(20).fill(200));
    expect(provider.apiCalls.slice(-20).every((c) => c.user === 'alice')).toBe(true);
  });

  it('refreshes a token that lives less than the margin once for 20 concurrent calls, and not again while it lives', async () => {
    // A provider whose tokens live 4 s, less than the 60 s refresh margin: the margin is bounded by the
    // token's lifetime, and a token another call just refreshed is used as it is.
    const { name } = await connect('dave', 1_000);
    provider.setTokenLifetime(4);
    try {
      const before = provider.refreshCount;
      const call = () =>
        Promise.all(Array.from({ length: 20 }, (_, i) => workers[i % 2]!.keeper.accessToken(name, client)));
      const first = await call();
      expect(provider.refreshCount - before).toBe(1);
      expect(new Set(first).size).toBe(1);
      const again = await call();
      expect(provider.refreshCount - before).toBe(1);
      expect(new Set(again)).toEqual(new Set(first));
      expect((await stored(name)).expires_at).toBeLessThanOrEqual(Date.now() + 4_000);
    } finally {
      provider.setTokenLifetime(3600);
    }
  });

  it('refreshes a token the upstream refused (401) once, however many calls saw the refusal', async () => {
    const { name, tokens } = await connect('dave');
    provider.expireAccessTokens(); // the provider ends it early; the stored expiry still looks valid
    expect(await callApi(tokens.access_token)).toBe(401);
    const before = provider.refreshCount;
    const got = await Promise.all(
      Array.from({ length: 6 }, (_, i) => workers[i % 2]!.keeper.accessToken(name, client, tokens.access_token)),
    );
    expect(provider.refreshCount - before).toBe(1);
    expect(new Set(got).size).toBe(1);
    expect(await callApi(got[0]!)).toBe(200);
  });

  it('marks the connection when the provider refuses the refresh, and asks for a new connection from then on', async () => {
    const { name } = await connect('erin', 1_000);
    provider.refuseRefresh = true;
    const refused = await workers[0]!.keeper.accessToken(name, client).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectionRequiredError);
    expect((refused as ConnectionRequiredError).reason).toBe('needs_reauthorization');
    expect(await workers[0]!.redis.hget(workers[0]!.keeper.statusKey(name), 'status')).toBe('needs_reauthorization');
    // The other worker does not ask the provider again.
    const before = provider.refreshCount;
    const again = await workers[1]!.keeper.accessToken(name, client).catch((e: unknown) => e);
    expect((again as ConnectionRequiredError).reason).toBe('needs_reauthorization');
    expect(provider.refreshCount).toBe(before);
  });

  it('a provider that is down gives a retryable error and marks nothing; the next call refreshes', async () => {
    const { name, tokens } = await connect('frank', 1_000);
    provider.down = true;
    const failed = await workers[0]!.keeper.accessToken(name, client).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(TransientError);
    expect(await workers[0]!.redis.hget(workers[0]!.keeper.statusKey(name), 'status')).toBeNull();
    expect(await stored(name)).toEqual(tokens);
    provider.down = false;
    const token = await workers[1]!.keeper.accessToken(name, client);
    expect(token).not.toBe(tokens.access_token);
    expect(await callApi(token)).toBe(200);
  });

  it('takes over from a refresher that died holding the lock, once the lock expires', async () => {
    const { name } = await connect('gina', 1_000);
    const redis = workers[0]!.redis;
    // A worker took the lock and died: nobody releases it.
    await redis.set(`${prefix}:oauth-refresh-lock:${name}`, 'dead-worker', 'PX', 300, 'NX');
    const before = provider.refreshCount;
    const token = await workers[1]!.keeper.accessToken(name, client);
    expect(provider.refreshCount - before).toBe(1);
    expect(await callApi(token)).toBe(200);
  });

  it('a user with no connection gets ConnectionRequiredError (missing)', async () => {
    const missing = await workers[0]!.keeper
      .accessToken(`users/nobody/oauth/${randomUUID()}`, client)
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ConnectionRequiredError);
    expect((missing as ConnectionRequiredError).reason).toBe('missing');
  });

  it('connects with an authorization code and its PKCE verifier, and clears a re-authorisation mark', async () => {
    const name = `users/hana/oauth/${randomUUID()}`;
    const redis = workers[0]!.redis;
    await redis.hset(workers[0]!.keeper.statusKey(name), 'status', 'needs_reauthorization');
    const verifier = 'v'.repeat(43);
    const redirectUri = 'http://127.0.0.1:1/oauth/connect/callback';
    const code = provider.codeFor('hana', verifier, redirectUri);
    expect(await workers[0]!.keeper.connect(name, client, { code, verifier, redirectUri })).toEqual({ ok: true });
    expect(await redis.hget(workers[0]!.keeper.statusKey(name), 'status')).toBe('connected');
    const token = await workers[1]!.keeper.accessToken(name, client);
    expect(await callApi(token)).toBe(200);
    expect(provider.apiCalls.at(-1)!.user).toBe('hana');
    // The code works once; a wrong verifier is refused; neither stores anything.
    expect(await workers[0]!.keeper.connect(name, client, { code, verifier, redirectUri })).toEqual({
      ok: false,
      error: 'invalid_grant',
    });
    const other = `users/hana/oauth/${randomUUID()}`;
    const second = provider.codeFor('hana', verifier, redirectUri);
    expect(
      await workers[0]!.keeper.connect(other, client, { code: second, verifier: 'w'.repeat(43), redirectUri }),
    ).toEqual({ ok: false, error: 'invalid_grant' });
    expect(await reader.get(other)).toBeUndefined();
    // A wrong client secret: the provider's error, nothing stored.
    const third = provider.codeFor('hana', verifier, redirectUri);
    expect(
      await workers[0]!.keeper.connect(
        other,
        { ...client, clientSecret: 'wrong' },
        { code: third, verifier, redirectUri },
      ),
    ).toEqual({ ok: false, error: 'invalid_client' });
    expect(await reader.get(other)).toBeUndefined();
  });

  it('a provider down during the exchange is a retryable error and stores nothing', async () => {
    const name = `users/ivan/oauth/${randomUUID()}`;
    const verifier = 'x'.repeat(43);
    const code = provider.codeFor('ivan', verifier, 'http://127.0.0.1:1/cb');
    provider.down = true;
    const failed = await workers[0]!.keeper
      .connect(name, client, { code, verifier, redirectUri: 'http://127.0.0.1:1/cb' })
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(TransientError);
    expect(await reader.get(name)).toBeUndefined();
  });

  it('disconnecting revokes the refresh token at the provider and deletes the tokens and what was known', async () => {
    const name = `users/jack/oauth/${randomUUID()}`;
    const verifier = 'j'.repeat(43);
    const code = provider.codeFor('jack', verifier, 'http://127.0.0.1:1/cb');
    await workers[0]!.keeper.connect(name, client, { code, verifier, redirectUri: 'http://127.0.0.1:1/cb' });
    const redis = workers[0]!.redis;
    const state = await redis.hgetall(workers[0]!.keeper.statusKey(name));
    expect(state).toMatchObject({ status: 'connected', scope: 'read' });
    expect(Number(state.expires_at)).toBeGreaterThan(Date.now());
    const tokens = await stored(name);
    expect(await callApi(tokens.access_token)).toBe(200);
    expect(await workers[1]!.keeper.disconnect(name, client, provider.revocationUrl)).toEqual({
      revocation: 'revoked',
    });
    expect(provider.revocations.at(-1)).toEqual({ token: tokens.refresh_token, hint: 'refresh_token' });
    // The provider ended the grant: its access token no longer works.
    expect(await callApi(tokens.access_token)).toBe(401);
    expect(await reader.get(name)).toBeUndefined();
    expect(await redis.exists(workers[0]!.keeper.statusKey(name))).toBe(0);
    const after = await workers[0]!.keeper.accessToken(name, client).catch((e: unknown) => e);
    expect((after as ConnectionRequiredError).reason).toBe('missing');
    // Nothing left to revoke.
    expect(await workers[0]!.keeper.disconnect(name, client, provider.revocationUrl)).toEqual({
      revocation: 'not_connected',
    });
  });

  it('disconnecting without a revocation endpoint, or with the provider down, still deletes the tokens', async () => {
    const first = await connect('kim');
    expect(await workers[0]!.keeper.disconnect(first.name, client, undefined)).toEqual({ revocation: 'no_endpoint' });
    expect(await reader.get(first.name)).toBeUndefined();
    const second = await connect('kim');
    const revocations = provider.revocations.length;
    provider.down = true;
    try {
      expect(await workers[0]!.keeper.disconnect(second.name, client, provider.revocationUrl)).toEqual({
        revocation: 'failed',
        error: 'temporarily_unavailable',
      });
    } finally {
      provider.down = false;
    }
    expect(provider.revocations.length).toBe(revocations);
    expect(await reader.get(second.name)).toBeUndefined();
  });

  it('puts no token into Redis', async () => {
    const redis = workers[0]!.redis;
    const keys = await redis.keys(`${prefix}:*`);
    const values = await Promise.all(
      keys.map(async (k) => ((await redis.type(k)) === 'hash' ? JSON.stringify(await redis.hgetall(k)) : redis.get(k))),
    );
    const tokens = provider.issuedTokens();
    expect(tokens.length).toBeGreaterThan(0);
    for (const v of values) for (const t of tokens) expect(v ?? '').not.toContain(t);
  });
});
