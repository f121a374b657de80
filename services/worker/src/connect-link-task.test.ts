import { describe, expect, it } from '@jest/globals';
import type { CatalogTool, ConnectLink, OAuthConnectLinkJob, OAuthExchangeJob } from '@toolplane/contracts';
import type { PlanCache } from './catalog-cache.ts';
import { createConnectLinkHandler } from './connect-link-task.ts';
import { createOAuthExchangeHandler, type ConnectLinks } from './connect-links.ts';
import type { SecretResolver } from './secret-resolver.ts';
import type { UserTokenKeeper } from './user-tokens.ts';

/** `oauth.connect_link`: the plan of the named catalog version decides; the edge gets a URL or a reason, never the binding. */

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

/** The worker's plans and secrets as the handlers read them: the person's tool, the app's credentials. */
function planAndSecrets(
  tools: Record<string, CatalogTool> = { my_events: personTool },
  secrets: Record<string, string> = { [`${app}client_id`]: 'app-id', [`${app}client_secret`]: 'app-secret' },
) {
  return {
    plans: { get: (_s: string, _v: number, tool: string) => Promise.resolve(tools[tool]) } as unknown as PlanCache,
    secrets: { resolve: (name: string) => Promise.resolve(secrets[name]) } as unknown as SecretResolver,
  };
}

function handler(opts: { tools?: Record<string, CatalogTool>; secrets?: Record<string, string>; url?: boolean } = {}) {
  const made: ConnectLink[] = [];
  const handle = createConnectLinkHandler({
    ...planAndSecrets(opts.tools, opts.secrets),
    links: {
      create: (link: ConnectLink) => {
        made.push(link);
        return Promise.resolve(opts.url === false ? undefined : `https://cp.example/connect/tok${made.length}`);
      },
    } as unknown as ConnectLinks,
  });
  return { handle, made };
}

/** The person and the tool a link is for. */
const binding = {
  workspaceId: 'w1',
  userId: 'u1',
  username: 'alice',
  serverId: 's1',
  catalogVersion: 3,
  tool: 'my_events',
};

const task = (extra: Partial<OAuthConnectLinkJob> = {}): OAuthConnectLinkJob => ({
  v: 1,
  taskId: 't1',
  kind: 'oauth.connect_link',
  ...binding,
  deadlineAt: Date.now() + 1000,
  replyTo: 'edge-1-tasks',
  ...extra,
});

describe('oauth.connect_link', () => {
  it("makes a link bound to the person's connection and the app's client id, and answers the URL only", async () => {
    const { handle, made } = handler();
    expect(await handle(task())).toEqual({
      v: 1,
      taskId: 't1',
      kind: 'oauth.connect_link',
      url: 'https://cp.example/connect/tok1',
    });
    expect(made).toEqual([
      {
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
      },
    ]);
    expect(JSON.stringify(made)).not.toContain('app-secret');
  });

  it('refuses a tool without a person’s account, another workspace, a lost OAuth app; says when there is no public URL', async () => {
    const shared = { ...personTool, plan: { kind: 'http', secrets: {} } } as unknown as CatalogTool;
    const { handle, made } = handler({ tools: { my_events: personTool, shared } });
    expect(await handle(task({ tool: 'shared' }))).toMatchObject({ error: 'not_an_account_tool' });
    expect(await handle(task({ tool: 'gone' }))).toMatchObject({ error: 'not_an_account_tool' });
    expect(await handle(task({ workspaceId: 'w2' }))).toMatchObject({ error: 'invalid_task' });
    expect(made).toEqual([]);
    expect(await handler({ secrets: {} }).handle(task())).toMatchObject({ error: 'app_credentials_missing' });
    const none = await handler({ url: false }).handle(task());
    expect(none).toMatchObject({ error: 'no_public_url' });
    expect(none).not.toHaveProperty('url');
  });
});

describe('oauth.connect_link for a workflow whose step calls a tool of a person’s account', () => {
  const workflow = {
    tool: { name: 'agenda', inputSchema: { type: 'object' } },
    plan: {
      kind: 'workflow',
      deploymentId: 'd1',
      workflowId: 'agenda',
      ir: { workflows: [] },
      secretNames: {},
      tools: { 'toolplane:mcp_servers/calendar/tools/my_events': { name: 'my_events', plan: personTool.plan } },
    },
  } as unknown as CatalogTool;

  it("links the tool's connection, bound to the workflow tool (which a later exchange honours)", async () => {
    const { handle, made } = handler({ tools: { agenda: workflow } });
    expect(await handle(task({ tool: 'agenda' }))).toMatchObject({ url: 'https://cp.example/connect/tok1' });
    expect(made).toEqual([
      expect.objectContaining({ tool: 'agenda', connection: 'ws/w1/users/u1/oauth/i1', clientId: 'app-id' }),
    ]);
  });
});

/** `oauth.exchange`: a link's code is exchanged only for the connection of the person and workspace it names. */
function exchangeHandler() {
  const connected: string[] = [];
  const handle = createOAuthExchangeHandler({
    ...planAndSecrets(),
    userTokens: {
      connect: (connection: string) => {
        connected.push(connection);
        return Promise.resolve({ ok: true });
      },
    } as unknown as UserTokenKeeper,
  });
  return { handle, connected };
}

const linkOf = (extra: Partial<ConnectLink> = {}): ConnectLink => ({
  v: 1,
  ...binding,
  connection: 'ws/w1/users/u1/oauth/i1',
  authorizeUrl: 'https://p.example/authorize',
  clientId: 'app-id',
  scopes: ['calendar.read'],
  ...extra,
});

const exchange = (l: ConnectLink): OAuthExchangeJob => ({
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
    const { handle, connected } = exchangeHandler();
    expect(await handle(exchange(linkOf()))).toMatchObject({ ok: true });
    expect(connected).toEqual(['ws/w1/users/u1/oauth/i1']);
  });

  it('refuses a link whose workspace or person is not the one its connection is stored under, and stores nothing', async () => {
    const { handle, connected } = exchangeHandler();
    for (const rewritten of [
      linkOf({ workspaceId: 'w2' }),
      linkOf({ userId: 'u2' }),
      linkOf({ workspaceId: 'w2', userId: 'u2', connection: 'ws/w2/users/u2/oauth/i1' }),
      linkOf({ connection: 'ws/w1/connector-instances/i1/client_secret' }),
    ])
      expect(await handle(exchange(rewritten))).toMatchObject({ ok: false, error: 'invalid_link' });
    expect(connected).toEqual([]);
  });
});
