// People's OAuth connections in calls (ADR 0027), on the real stack with two workers: a connector whose descriptor
// declares `oauth2_authorization_code` calls a local provider's API with the calling person's own token, refreshed
// by the workers (once for many calls, across workers) when it expires or the API refuses it; a person without a
// usable connection gets a connect link, followed here over HTTP (the provider consents at once: no browser yet).
// Connections are listed with their status (API, CLI, SMART tools) and ended with a revocation at the provider.
// Some tests store a person's tokens as the flow's end would (sealed, in the stack's secrets store).
import { spawn } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { userSecrets, type Catalog } from '../../../packages/contracts/src/index.ts';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { LocalSealedSecretsWriter } from '../../../packages/secrets/src/index.ts';
import { Redis } from 'ioredis';
import { startUserOAuthProvider, type UserOAuthProvider } from '../../fixtures/user-oauth-provider.ts';
import { startTestStack, tempDir } from '../../helpers/stack.ts';
import { logLines } from '../../helpers/records.ts';
import {
  callbackOfConnectLink,
  callToolAs,
  connectLinkIn,
  followConnectLink,
  openConnectPage,
  pressConnectLink,
  setUpCalendar,
  visitConnectCallback,
} from '../../fixtures/calendar-connector.ts';

let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
let redis: Redis;
let writer: LocalSealedSecretsWriter;
let mcpUrl: string;
let workspaceId: string;
let instanceId: string;
const userIds = new Map<string, string>();

/** One tool call as `username` (or nobody): `my_events` on the NORMAL server by default. */
const callAs = (username: string | undefined, tool = 'my_events', args: Record<string, unknown> = {}, url = mcpUrl) =>
  callToolAs(url, stack.bootstrapKey, username, tool, args).then(({ isError, text }) => ({ isError, text }));
const myEvents = (username?: string) => callAs(username);

/** The CLI from its sources (as scripts/toolplane runs it), against the stack: `--json` output parsed. */
async function cliJson(args: string[]): Promise<unknown> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=@toolplane/source',
      join(import.meta.dirname, '../../../packages/cli/src/main.ts'),
      ...args,
      '--json',
    ],
    {
      env: {
        PATH: process.env.PATH ?? '',
        XDG_CONFIG_HOME: tempDir('user-oauth-cli'),
        NO_COLOR: '1',
        TOOLPLANE_URL: stack.controlPlaneUrl,
        TOOLPLANE_API_KEY: stack.bootstrapKey,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`toolplane ${args.join(' ')} exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as unknown;
}

const connection = (user: string) => userSecrets.oauth(workspaceId, userIds.get(user)!, instanceId);

/** Stores `user`'s tokens as the end of the authorization code flow would (the worker's write, sealed). */
async function connect(user: string, expiresAt = Date.now() + 3_600_000): Promise<string> {
  const t = provider.issueTokensFor(user);
  await writer.put(
    connection(user),
    JSON.stringify({ access_token: t.accessToken, refresh_token: t.refreshToken, expires_at: expiresAt }),
  );
  return t.accessToken;
}

const linkIn = connectLinkIn;
const followLink = followConnectLink;

/** The connection's status as the worker recorded it (a Redis hash holding no secret). */
const status = (user: string) => redis.hget(`${stack.redisPrefix}:oauth-connection:${connection(user)}`, 'status');
const listed = async (user: string) =>
  (await unwrap(api.GET('/external_users/{name}/connections', { params: { path: { name: user } } }))).data;

beforeAll(async () => {
  provider = await startUserOAuthProvider();
  ({ stack, api } = await startTestStack('user-oauth-calls', { workers: 2 }));
  redis = new Redis(stack.redisUrl);
  const publicKey = createPublicKey(readFileSync(join(stack.dataDir, 'keys', 'secrets-seal.key.pem'), 'utf8'))
    .export({ type: 'spki', format: 'pem' })
    .toString();
  writer = new LocalSealedSecretsWriter(join(stack.dataDir, 'secrets'), publicKey);
  const calendar = await setUpCalendar(api, provider, [
    'alice',
    'bob',
    'carol',
    'dave',
    'erin',
    'frank',
    'gina',
    'ivy',
  ]);
  instanceId = calendar.instanceId;
  mcpUrl = calendar.server.url;
  for (const [name, id] of calendar.userIds) userIds.set(name, id);
  const catalog = JSON.parse((await redis.get(`${stack.redisPrefix}:catalog:${calendar.server.id}`))!) as Catalog;
  workspaceId = catalog.workspaceId;
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
  await provider?.close();
});

describe("a person's own account in calls (oauth2_authorization_code)", () => {
  it("sends the calling person's own token; someone not connected, or nobody in particular, gets an error to act on", async () => {
    const token = await connect('alice');
    const alice = await myEvents('alice');
    expect(alice).toEqual({ isError: false, text: JSON.stringify({ user: 'alice', path: '/events' }) });
    expect(provider.apiCalls.at(-1)).toMatchObject({ user: 'alice', token, status: 200 });

    const calls = provider.apiCalls.length;
    const bob = await myEvents('bob');
    expect(bob.isError).toBe(true);
    expect(bob.text).toContain('User "bob" has not connected their own account');
    const nobody = await myEvents();
    expect(nobody.isError).toBe(true);
    expect(nobody.text).toContain("acts on a person's own account");
    expect(provider.apiCalls.length).toBe(calls); // neither reached the API
  });

  it('an expired token: 20 concurrent calls across 2 workers cause exactly 1 refresh, and all succeed', async () => {
    await connect('carol', Date.now() - 1_000);
    const before = provider.refreshCount;
    const results = await Promise.all(Array.from({ length: 20 }, () => myEvents('carol')));
    expect(results.filter((r) => r.isError)).toEqual([]);
    expect(provider.refreshCount - before).toBe(1);
    expect(new Set(provider.apiCalls.filter((c) => c.user === 'carol').map((c) => c.token)).size).toBe(1);
  });

  it('a token the API refuses (401) is refreshed once and the call sent once more, for any number of calls', async () => {
    await connect('dave');
    expect((await myEvents('dave')).isError).toBe(false);
    provider.expireAccessTokens();
    const before = provider.refreshCount;
    const results = await Promise.all(Array.from({ length: 10 }, () => myEvents('dave')));
    expect(results.filter((r) => r.isError)).toEqual([]);
    expect(provider.refreshCount - before).toBe(1);
  });

  it('a refused refresh marks the connection "needs re-authorisation"; a provider that is down marks nothing', async () => {
    await connect('alice', Date.now() - 1_000);
    provider.down = true;
    try {
      const down = await myEvents('alice');
      expect(down.isError).toBe(true);
      expect(down.text).toMatch(/token endpoint/i);
      expect(await status('alice')).toBeNull();
    } finally {
      provider.down = false;
    }
    provider.refuseRefresh = true;
    try {
      const refused = await myEvents('alice');
      expect(refused.isError).toBe(true);
      expect(refused.text).toContain('User "alice" has to authorise again their own account');
      expect(await status('alice')).toBe('needs_reauthorization');
    } finally {
      provider.refuseRefresh = false;
    }
  });

  it('a connect link: opened once, it sends the person to the provider with PKCE, and the callback connects them', async () => {
    const first = await myEvents('bob');
    const link = linkIn(first.text);
    provider.consentAs = 'bob';
    // Opening it (as a chat app's link preview would) shows a button and uses nothing up.
    for (let i = 0; i < 2; i++) {
      const shown = await fetch(link);
      expect(shown.status).toBe(200);
      expect(shown.headers.get('content-security-policy')).toContain(`form-action 'self' ${provider.url}`);
      const html = await shown.text();
      expect(html).toContain('<form method="post">');
      expect(html).toContain('for bob');
    }
    const { response: toProvider, cookie } = await pressConnectLink(link);
    expect(toProvider.status).toBe(303);
    const authorize = new URL(toProvider.headers.get('location')!);
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${provider.url}/authorize`);
    expect(Object.fromEntries(authorize.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: provider.clientId,
      scope: 'calendar.read',
      code_challenge_method: 'S256',
      redirect_uri: `${new URL(link).origin}/connect/callback`,
    });
    expect(authorize.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const toCallback = await fetch(authorize, { redirect: 'manual' });
    const callback = toCallback.headers.get('location')!;
    const done = await visitConnectCallback(callback, cookie);
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('You can return to your agent');

    const bob = await myEvents('bob');
    expect(bob).toEqual({ isError: false, text: JSON.stringify({ user: 'bob', path: '/events' }) });

    // Replayed link, replayed callback, forged state: refused, and no code is exchanged.
    const issued = provider.issuedTokens().length;
    const replayed = await fetch(link, { method: 'POST', redirect: 'manual' });
    expect(replayed.status).toBe(410);
    expect(await replayed.text()).toContain('This link has expired');
    expect((await fetch(link)).status).toBe(410);
    expect((await visitConnectCallback(callback, cookie)).status).toBe(400);
    const forged = new URL(callback);
    forged.searchParams.set('state', 'forged-state');
    expect((await visitConnectCallback(forged, cookie)).status).toBe(400);
    expect(provider.issuedTokens().length).toBe(issued);
  });

  it('a person who refuses at the provider stays unconnected; a connection needing re-authorisation is renewed by a new link', async () => {
    provider.consentAs = undefined;
    const refused = await followLink(linkIn((await myEvents('erin')).text));
    expect(refused.status).toBe(200);
    expect(await refused.text()).toContain('You did not allow access');
    expect((await myEvents('erin')).text).toContain('User "erin" has not connected');

    // alice's refresh was refused in an earlier test: her error carries a new link, and connecting again clears the mark.
    const alice = await myEvents('alice');
    expect(alice.text).toContain('User "alice" has to authorise again');
    provider.consentAs = 'alice';
    expect((await followLink(linkIn(alice.text))).status).toBe(200);
    expect(await status('alice')).toBe('connected');
    expect(await myEvents('alice')).toEqual({
      isError: false,
      text: JSON.stringify({ user: 'alice', path: '/events' }),
    });
  });

  it('an older link, or a flow still at the provider, stops working once a newer link connected; connecting again revokes the previous grant', async () => {
    const older = linkIn((await myEvents('frank')).text);
    // A flow that reached the provider as another account (mallory's) and has not come back yet.
    provider.consentAs = 'mallory';
    const pending = await callbackOfConnectLink(linkIn((await myEvents('frank')).text));
    const newer = linkIn((await myEvents('frank')).text);
    provider.consentAs = 'frank';
    const before = provider.issuedTokens().length;
    expect((await followLink(newer)).status).toBe(200);
    const [, frankRefresh] = provider.issuedTokens().slice(before);
    expect(await myEvents('frank')).toEqual({
      isError: false,
      text: JSON.stringify({ user: 'frank', path: '/events' }),
    });

    // Neither the older link nor the pending flow swaps mallory's account in: nothing reaches the token endpoint.
    provider.consentAs = 'mallory';
    const issued = provider.issuedTokens().length;
    const authorizations = provider.authorizeRequests.length;
    expect((await openConnectPage(older)).status).toBe(410);
    expect((await pressConnectLink(older)).response.status).toBe(410);
    const late = await visitConnectCallback(pending.url, pending.cookie);
    expect(late.status).toBe(400);
    expect(await late.text()).toContain('This link has expired');
    expect(provider.issuedTokens().length).toBe(issued);
    expect(provider.authorizeRequests.length).toBe(authorizations);
    expect(await myEvents('frank')).toEqual({
      isError: false,
      text: JSON.stringify({ user: 'frank', path: '/events' }),
    });

    // Frank must authorise again: the new grant replaces the old one, which is revoked at the provider.
    provider.expireAccessTokens();
    provider.refuseRefresh = true;
    let again: { text: string };
    try {
      again = await myEvents('frank');
    } finally {
      provider.refuseRefresh = false;
    }
    expect(again.text).toContain('User "frank" has to authorise again');
    provider.consentAs = 'frank';
    const revocations = provider.revocations.length;
    expect((await followLink(linkIn(again.text))).status).toBe(200);
    expect(provider.revocations.slice(revocations)).toEqual([{ token: frankRefresh, hint: 'refresh_token' }]);
    expect(await myEvents('frank')).toEqual({
      isError: false,
      text: JSON.stringify({ user: 'frank', path: '/events' }),
    });
  });

  it("lists each person's connection with its status (API, CLI, SMART tools); disconnecting revokes it at the provider", async () => {
    // bob connected with a link in an earlier test.
    const [bob] = await listed('bob');
    expect(bob).toMatchObject({ connector_instance_id: instanceId, kind: 'oauth', status: 'connected' });
    expect(bob!.scopes).toEqual(['calendar.read']);
    expect(Date.parse(bob!.expires_at!)).toBeGreaterThan(Date.now());
    expect(await cliJson(['users', 'connections', 'bob'])).toEqual({ data: [bob] });
    // Credentials cannot be pushed over an own account: refused before anything is written.
    const pushed = await api.PUT('/external_users/{name}/connections/{instanceId}', {
      params: { path: { name: 'bob', instanceId } },
      body: { credentials: { client_id: 'pushed-id', client_secret: 'pushed-secret' } },
    });
    expect(pushed.response.status).toBe(409);
    expect(await writer.list(`ws/${workspaceId}/users/${userIds.get('bob')}/connector-instances/`)).toEqual([]);
    expect(await listed('bob')).toEqual([bob]);

    // SMART tools show the same, without any token.
    const smart = await unwrap(api.POST('/mcp_manager', { body: { name: 'calendar-smart', mode: 'SMART' } }));
    const mine = await callAs('bob', 'list_connections', {}, smart.url);
    expect(mine.isError).toBe(false);
    expect(JSON.parse(mine.text)).toMatchObject({
      user: 'bob',
      connections: [{ kind: 'oauth_account', id: instanceId, status: 'connected', tools: ['my_events'] }],
      toolsWithoutConnection: [],
    });
    const dave = JSON.parse((await callAs('dave', 'connect', { tool: 'my_events' }, smart.url)).text) as {
      connected: boolean;
      link: string;
      message: string;
    };
    expect(dave.connected).toBe(false);
    // The link itself (tests/e2e/identity/user-oauth-links.test.ts follows one).
    expect(dave.message).toContain(`then call my_events again: ${linkIn(dave.link)}`);

    // The provider refuses bob's next refresh: every listing says he must authorise again.
    provider.expireAccessTokens();
    provider.refuseRefresh = true;
    try {
      expect((await myEvents('bob')).text).toContain('User "bob" has to authorise again');
    } finally {
      provider.refuseRefresh = false;
    }
    expect((await listed('bob'))[0]).toMatchObject({ kind: 'oauth', status: 'needs_reauthorization' });
    expect(JSON.parse((await callAs('bob', 'list_connections', {}, smart.url)).text)).toMatchObject({
      toolsWithoutConnection: [
        { tool: 'my_events', needs: [{ kind: 'oauth_account', status: 'needs_reauthorization' }] },
      ],
    });

    // alice (connected again in an earlier test) disconnects from the CLI: her refresh token is revoked at the provider.
    const aliceTokens = provider.issuedTokens();
    const ended = await cliJson(['users', 'disconnect', 'alice', instanceId]);
    expect(ended).toEqual({ connector_instance_id: instanceId, kind: 'oauth', revocation: 'revoked' });
    expect(aliceTokens).toContain(provider.revocations.at(-1)!.token);
    expect(provider.revocations.at(-1)!.hint).toBe('refresh_token');
    expect(await listed('alice')).toEqual([]);
    expect(await status('alice')).toBeNull();
    expect((await myEvents('alice')).text).toContain('User "alice" has not connected');

    // Provider down: bob is disconnected all the same, and told the revocation failed.
    provider.down = true;
    try {
      const down = await unwrap(
        api.DELETE('/external_users/{name}/connections/{instanceId}', {
          params: { path: { name: 'bob', instanceId } },
        }),
      );
      expect(down).toEqual({
        connector_instance_id: instanceId,
        kind: 'oauth',
        revocation: 'failed',
        revocation_error: 'temporarily_unavailable',
      });
    } finally {
      provider.down = false;
    }
    expect(await listed('bob')).toEqual([]);
    expect((await myEvents('bob')).text).toContain('User "bob" has not connected');
  });

  it('no access token, refresh token, client secret or connect link in any execution record', async () => {
    const records = JSON.stringify(await unwrap(api.GET('/execution_records', { params: { query: { limit: 200 } } })));
    expect(records).toContain('my_events');
    for (const secret of [...provider.issuedTokens(), provider.clientSecret]) expect(records).not.toContain(secret);
    // Connect links go to the caller only: whoever opens one first connects their account as that person.
    expect(records).toContain('A connect link was given to the caller');
    expect(records).not.toMatch(/\/connect\/[A-Za-z0-9_-]{43}/);
  });
});

describe("deleting a connector instance, its connector or a person ends people's own-account connections", () => {
  const markers = (user: string) =>
    redis.smembers(`${stack.redisPrefix}:user-connections:${workspaceId}:${userIds.get(user)}`);
  const stateOf = (name: string) => redis.exists(`${stack.redisPrefix}:oauth-connection:${name}`);
  /** The names the secrets store holds for `user`. */
  const stored = async (user: string) =>
    (await writer.list(`ws/${workspaceId}/users/${userIds.get(user)}/`)).map((m) => m.name);
  const connectorId = async () =>
    (await unwrap(api.GET('/connector_instances/{id}', { params: { path: { id: instanceId } } }))).connector_id;

  it("deleting an instance revokes each person's grant and leaves no token, state, marker or usable link", async () => {
    const second = await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: await connectorId(),
          name: 'calendar-2',
          credentials: { client_id: provider.clientId, client_secret: provider.clientSecret },
        },
      }),
    );
    const server = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'calendar-2', mode: 'NORMAL', connectorInstanceId: second.id } }),
    );
    const on = (user: string) => callAs(user, 'my_events', {}, server.url);
    provider.consentAs = 'gina';
    const before = provider.issuedTokens().length;
    expect((await followLink(linkIn((await on('gina')).text))).status).toBe(200);
    const [, ginaRefresh] = provider.issuedTokens().slice(before);
    expect(await on('gina')).toEqual({ isError: false, text: JSON.stringify({ user: 'gina', path: '/events' }) });
    const gina = userSecrets.oauth(workspaceId, userIds.get('gina')!, second.id);
    expect(await stored('gina')).toEqual([gina]);
    expect(await markers('gina')).toContain(`oauth:${second.id}`);
    const ivysLink = linkIn((await on('ivy')).text); // not pressed yet

    const revocations = provider.revocations.length;
    const issued = provider.issuedTokens().length;
    await unwrap(api.DELETE('/connector_instances/{id}', { params: { path: { id: second.id } } }));
    expect(provider.revocations.slice(revocations)).toEqual([{ token: ginaRefresh, hint: 'refresh_token' }]);
    expect(await stored('gina')).toEqual([]);
    expect(await stateOf(gina)).toBe(0);
    expect(await markers('gina')).toEqual([]);
    // A link to the deleted instance connects nobody.
    provider.consentAs = 'ivy';
    expect((await pressConnectLink(ivysLink)).response.status).toBe(400);
    expect(provider.issuedTokens().length).toBe(issued);
    expect(await stored('ivy')).toEqual([]);
  });

  it('deleting a person revokes their own account, and nothing pushed for them before they connected it is left', async () => {
    await unwrap(
      api.PUT('/external_users/{name}/connections/{instanceId}', {
        params: { path: { name: 'ivy', instanceId } },
        body: { credentials: { client_id: provider.clientId, client_secret: provider.clientSecret } },
      }),
    );
    provider.consentAs = 'ivy';
    const before = provider.issuedTokens().length;
    expect((await followLink(linkIn((await myEvents('ivy')).text))).status).toBe(200);
    const [, ivyRefresh] = provider.issuedTokens().slice(before);
    // Her own account replaced the pushed credentials.
    expect(await stored('ivy')).toEqual([connection('ivy')]);

    const revocations = provider.revocations.length;
    await unwrap(api.DELETE('/external_users/{name}', { params: { path: { name: 'ivy' } } }));
    expect(provider.revocations.slice(revocations)).toEqual([{ token: ivyRefresh, hint: 'refresh_token' }]);
    expect(await stored('ivy')).toEqual([]);
    expect(await stateOf(connection('ivy'))).toBe(0);
    expect(await markers('ivy')).toEqual([]);
  });

  it('deleting the connector with force=true ends every connection of its instances, also with the provider down', async () => {
    // frank connected with a link (listed); carol and dave have tokens in the store only.
    const people = ['frank', 'carol', 'dave'];
    for (const user of people) expect(await stored(user)).toEqual([connection(user)]);
    provider.down = true;
    try {
      await unwrap(
        api.DELETE('/connectors/{id}', { params: { path: { id: await connectorId() }, query: { force: 'true' } } }),
      );
    } finally {
      provider.down = false;
    }
    for (const user of people) {
      expect(await stored(user)).toEqual([]);
      expect(await stateOf(connection(user))).toBe(0);
      expect(await markers(user)).toEqual([]);
    }
    const controlPlane = stack.processes.find((p) => p.service === 'control-plane')!;
    const unrevoked = logLines(controlPlane, "a person's connection ended without a revocation at the provider");
    expect(unrevoked.map((l) => l.connection)).toEqual(expect.arrayContaining(people.map(connection)));
  });
});
