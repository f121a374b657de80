// Connect links that must not connect anybody (ADR 0027), on the real stack: a link past its ten minutes, an opened
// link whose provider round trip outlived its state, and a link whose record names another workspace's person or
// server (links are written by workers into Redis; one that does not hold together is refused by the control plane
// before the provider and before the exchange, and by the worker's exchange). Each is refused, no code is exchanged
// and no token is stored.
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import type { Catalog } from '../../../packages/contracts/src/index.ts';
import { LocalSealedSecretsWriter } from '../../../packages/secrets/src/index.ts';
import { Redis } from 'ioredis';
import {
  callbackOfConnectLink,
  callToolAs,
  connectLinkIn,
  openConnectPage,
  pressConnectLink,
  setUpCalendar,
  visitConnectCallback,
} from '../../fixtures/calendar-connector.ts';
import { startUserOAuthProvider, type UserOAuthProvider } from '../../fixtures/user-oauth-provider.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
let redis: Redis;
let store: LocalSealedSecretsWriter;
let mcpUrl: string;
let instanceId: string;
let workspaceId: string;
const userIds = new Map<string, string>();
/** Workspace B and its person mallory. */
let otherWorkspaceId: string;
let malloryId: string;

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const tokenOf = (link: string) => new URL(link).pathname.split('/').pop()!;
/** Links and states are kept under the SHA-256 of their token, never the token itself. */
const linkKey = (link: string) => `${stack.redisPrefix}:oauth-connect-link:${sha256(tokenOf(link))}`;
const stateKey = (state: string) => `${stack.redisPrefix}:oauth-connect-state:${sha256(state)}`;
const newLink = async (user: string) => connectLinkIn((await callToolAs(mcpUrl, stack.bootstrapKey, user)).text);
/** Makes a Redis key expire now, and waits until Redis says it is gone. */
async function expire(key: string): Promise<void> {
  expect(await redis.pexpire(key, 1)).toBe(1);
  await waitFor(`${key} expired`, async () => (await redis.exists(key)) === 0);
}
const callbackOf = callbackOfConnectLink;
/** Nobody got tokens: the provider issued none since `issued`, and the store holds no connection of anybody. */
async function nothingStored(issued: number): Promise<void> {
  expect(provider.issuedTokens().length).toBe(issued);
  for (const ws of [workspaceId, otherWorkspaceId]) expect(await store.list(`ws/${ws}/users/`)).toEqual([]);
  expect((await callToolAs(mcpUrl, stack.bootstrapKey, 'alice')).text).toContain('User "alice" has not connected');
}

beforeAll(async () => {
  provider = await startUserOAuthProvider();
  ({ stack, api } = await startTestStack('user-oauth-link-refusals'));
  redis = new Redis(stack.redisUrl);
  const publicKey = createPublicKey(readFileSync(join(stack.dataDir, 'keys', 'secrets-seal.key.pem'), 'utf8'))
    .export({ type: 'spki', format: 'pem' })
    .toString();
  store = new LocalSealedSecretsWriter(join(stack.dataDir, 'secrets'), publicKey);
  const calendar = await setUpCalendar(api, provider, ['alice', 'bob']);
  mcpUrl = calendar.server.url;
  instanceId = calendar.instanceId;
  for (const [name, id] of calendar.userIds) userIds.set(name, id);
  const catalog = JSON.parse((await redis.get(`${stack.redisPrefix}:catalog:${calendar.server.id}`))!) as Catalog;
  workspaceId = catalog.workspaceId;
  const other = await unwrap(api.POST('/workspaces', { body: { name: 'other' } }));
  const apiB = createManagementClient(stack.controlPlaneUrl, other.apiKey.key);
  otherWorkspaceId = (await unwrap(apiB.GET('/workspaces/current'))).id;
  malloryId = (await unwrap(apiB.POST('/external_users', { body: { name: 'mallory' } }))).id;
  provider.consentAs = 'alice';
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
  await provider?.close();
});

describe('connect links that connect nobody', () => {
  it('a link past its ten minutes is refused when opened and when pressed; nothing goes to the provider', async () => {
    const issued = provider.issuedTokens().length;
    const link = await newLink('alice');
    await expire(linkKey(link));
    const shown = await fetch(link);
    expect(shown.status).toBe(410);
    expect(await shown.text()).toContain('This link has expired');
    const pressed = await fetch(link, { method: 'POST', redirect: 'manual' });
    expect(pressed.status).toBe(410);
    expect(pressed.headers.get('location')).toBeNull();
    await nothingStored(issued);
  });

  it('an opened link whose state expired before the provider sent the person back: no code is exchanged', async () => {
    const issued = provider.issuedTokens().length;
    const callback = await callbackOf(await newLink('alice'));
    expect(callback.url.searchParams.get('code')).toBeTruthy();
    await expire(stateKey(callback.url.searchParams.get('state')!));
    const done = await visitConnectCallback(callback.url, callback.cookie);
    expect(done.status).toBe(400);
    expect(await done.text()).toContain('This link has expired');
    await nothingStored(issued);
  });

  it("a link rewritten to another workspace's person is refused before the provider", async () => {
    const issued = provider.issuedTokens().length;
    const link = await newLink('alice');
    const key = linkKey(link);
    const record = JSON.parse((await redis.get(key))!) as Record<string, unknown>;
    expect(record).toMatchObject({ workspaceId, userId: userIds.get('alice'), username: 'alice' });
    // Alice's link, pointed at mallory (workspace B) under workspace A's connector instance.
    const rewritten = {
      ...record,
      userId: malloryId,
      username: 'mallory',
      connection: `ws/${workspaceId}/users/${malloryId}/oauth/${instanceId}`,
    };
    await redis.set(key, JSON.stringify(rewritten), 'EX', 600);
    const { response: pressed } = await pressConnectLink(link);
    expect(pressed.status).toBe(400);
    expect(pressed.headers.get('location')).toBeNull();
    expect(await pressed.text()).toContain('This link is not valid');
    expect(await redis.exists(key)).toBe(0); // used up all the same
    await nothingStored(issued);
  });

  it('a link whose provider address is not http(s) is refused: no page leads there, no Location goes there', async () => {
    const issued = provider.issuedTokens().length;
    const link = await newLink('alice');
    const key = linkKey(link);
    const record = JSON.parse((await redis.get(key))!) as Record<string, unknown>;
    await redis.set(key, JSON.stringify({ ...record, authorizeUrl: 'javascript:alert(document.cookie)//' }), 'EX', 600);
    const shown = await fetch(link);
    expect(shown.status).toBeGreaterThanOrEqual(400);
    expect(await shown.text()).not.toContain('javascript');
    const { response } = await pressConnectLink(link);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.headers.get('location')).toBeNull();
    await nothingStored(issued);
  });

  it('an opened link whose state was rewritten to another workspace is refused before the exchange', async () => {
    const issued = provider.issuedTokens().length;
    const callback = await callbackOf(await newLink('bob'));
    const key = stateKey(callback.url.searchParams.get('state')!);
    const opened = JSON.parse((await redis.get(key))!) as { link: Record<string, unknown> };
    expect(opened.link).toMatchObject({ workspaceId, userId: userIds.get('bob') });
    // Bob's connect flow, retargeted at workspace B's mallory: the tokens would land under B's name.
    opened.link = {
      ...opened.link,
      workspaceId: otherWorkspaceId,
      userId: malloryId,
      username: 'mallory',
      connection: `ws/${otherWorkspaceId}/users/${malloryId}/oauth/${instanceId}`,
    };
    await redis.set(key, JSON.stringify(opened), 'EX', 600);
    const done = await visitConnectCallback(callback.url, callback.cookie);
    expect(done.status).toBe(400);
    expect(await done.text()).toContain('This link is not valid');
    await nothingStored(issued);
    expect((await callToolAs(mcpUrl, stack.bootstrapKey, 'bob')).text).toContain('User "bob" has not connected');
  });
});

describe("a link's button works on its own page only, and its callback in the browser that pressed it", () => {
  it('a POST from another site, or without the page’s nonce and cookie, is refused and uses nothing up', async () => {
    const issued = provider.issuedTokens().length;
    const link = await newLink('alice');
    const own = await openConnectPage(link);
    const elsewhere = await openConnectPage(link); // another browser: a cookie of its own
    const origin = new URL(link).origin;
    const press = (headers: Record<string, string>, nonce = own.nonce!) =>
      fetch(link, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams({ nonce }).toString(),
      });
    const refusals: [string, Response][] = [
      ['another site', await press({ origin: 'https://attacker.example', cookie: own.cookie! })],
      ['a cross-site fetch', await press({ 'sec-fetch-site': 'cross-site', cookie: own.cookie! })],
      ['no Origin nor Sec-Fetch-Site', await press({ cookie: own.cookie! })],
      ['no cookie', await press({ origin })],
      ["another browser's cookie", await press({ origin, cookie: elsewhere.cookie! })],
      ['a forged nonce', await press({ origin, cookie: own.cookie! }, 'A'.repeat(43))],
    ];
    for (const [why, refused] of refusals) {
      expect([why, refused.status, refused.headers.get('location')]).toEqual([why, 403, null]);
      expect(await refused.text()).toContain('open the link again');
    }
    expect(await redis.exists(linkKey(link))).toBe(1); // not used up
    // On http (this stack's PUBLIC_API_URL) the cookie cannot be `__Host-` (that needs Secure, hence https).
    expect(own.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(own.cookie).toMatch(/^toolplane-connect=[A-Za-z0-9_-]{43}$/);
    expect(elsewhere.cookie).not.toBe(own.cookie);

    // From its page it goes on; the provider's callback reached in another browser exchanges nothing.
    const callback = await callbackOf(link);
    const other = await visitConnectCallback(callback.url, elsewhere.cookie);
    expect(other.status).toBe(400);
    expect(await other.text()).toContain('another browser');
    await nothingStored(issued);
  });

  it('links and states are kept in Redis under their SHA-256 only: neither raw value is in any key or value', async () => {
    const waiting = await newLink('bob');
    const callback = await callbackOf(await newLink('bob'));
    const state = callback.url.searchParams.get('state')!;
    const entries: [string, string][] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${stack.redisPrefix}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        const value =
          type === 'string'
            ? await redis.get(key)
            : type === 'set'
              ? await redis.smembers(key)
              : type === 'hash'
                ? await redis.hgetall(key)
                : type === 'list'
                  ? await redis.lrange(key, 0, -1)
                  : type === 'zset'
                    ? await redis.zrange(key, '0', '-1')
                    : type === 'stream'
                      ? await redis.xrange(key, '-', '+')
                      : type;
        entries.push([key, JSON.stringify(value)]);
      }
    } while (cursor !== '0');
    const holding = (raw: string) => entries.filter(([k, v]) => k.includes(raw) || v.includes(raw)).map(([k]) => k);
    expect({ link: holding(tokenOf(waiting)), state: holding(state) }).toEqual({ link: [], state: [] });
    expect(await redis.exists(linkKey(waiting))).toBe(1);
    expect(await redis.exists(stateKey(state))).toBe(1);
  });
});
