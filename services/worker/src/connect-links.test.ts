import { describe, expect, it } from '@jest/globals';
import type { CatalogTool, ConnectLink, OAuthExchangeJob } from '@toolplane/contracts';
import type { PlanCache } from './catalog-cache.ts';
import { createOAuthExchangeHandler } from './connect-links.ts';
import type { SecretResolver } from './secret-resolver.ts';
import type { UserTokenKeeper } from './user-tokens.ts';

/** `oauth.exchange`: a link's code is exchanged only for the connection of the person and workspace it names. */

const app = 'ws/w1/connector-instances/i1/';
const personTool = {
  tool: { name: 'my_events', inputSchema: { type: 'object' } },
  plan: {
    kind: 'http',
    secrets: { client_id: `${app}client_id`, client_secret: `${app}client_secret` },
    auth: {
      kind: 'oauth2_authorization_code',
      authorizeUrl: 'https://p.example/authorize',
      tokenUrl: 'https://p.example/token',
      scopes: ['calendar.read'],
      clientId: 'client_id',
      clientSecret: 'client_secret',
      connection: 'ws/w1/users/{user}/oauth/i1',
    },
  },
} as unknown as CatalogTool;

function handler() {
  const connected: string[] = [];
  const secrets: Record<string, string> = { [`${app}client_id`]: 'app-id', [`${app}client_secret`]: 'app-secret' };
  const handle = createOAuthExchangeHandler({
    plans: { get: () => Promise.resolve(personTool) } as unknown as PlanCache,
    secrets: { resolve: (name: string) => Promise.resolve(secrets[name]) } as unknown as SecretResolver,
    userTokens: {
      connect: (connection: string) => {
        connected.push(connection);
        return Promise.resolve({ ok: true });
      },
    } as unknown as UserTokenKeeper,
  });
  return { handle, connected };
}

const link = (extra: Partial<ConnectLink> = {}): ConnectLink => ({
  v: 1,
  workspaceId: 'w1',
  userId: 'u1',
  username: 'alice',
  serverId: 's1',
  catalogVersion: 3,
  tool: 'my_events',
  connection: 'ws/w1/users/u1/oauth/i1',
  authorizeUrl: 'https://p.example/authorize',
  clientId: 'app-id',
  scopes: ['calendar.read'],
  ...extra,
});

const task = (l: ConnectLink): OAuthExchangeJob => ({
  v: 1,
  taskId: 't1',
  kind: 'oauth.exchange',
  link: l,
  code: 'code-1',
  verifier: 'v'.repeat(43),
  redirectUri: 'https://cp.example/connect/callback',
  deadlineAt: Date.now() + 1000,
  replyTo: 'cp-1',
});

describe('oauth.exchange', () => {
  it("stores the tokens under the link's person in the link's workspace", async () => {
    const { handle, connected } = handler();
    expect(await handle(task(link()))).toMatchObject({ ok: true });
    expect(connected).toEqual(['ws/w1/users/u1/oauth/i1']);
  });

  it('refuses a link whose workspace or person is not the one its connection is stored under, and stores nothing', async () => {
    const { handle, connected } = handler();
    for (const rewritten of [
      link({ workspaceId: 'w2' }),
      link({ userId: 'u2' }),
      link({ workspaceId: 'w2', userId: 'u2', connection: 'ws/w2/users/u2/oauth/i1' }),
      link({ connection: 'ws/w1/connector-instances/i1/client_secret' }),
    ])
      expect(await handle(task(rewritten))).toMatchObject({ ok: false, error: 'invalid_link' });
    expect(connected).toEqual([]);
  });
});
