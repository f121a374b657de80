// How a person's connect link reaches the agent (ADR 0027), on the real stack with the official MCP SDK client: a
// client that declared URL-mode elicitation is asked to open it as such (2025-11-25: the URL-elicitation-required
// error, -32042, on the edge's fast path and on the SDK path alike; 2026-07-28: an `input_required` result the client
// fulfils and retries), a client that did not gets the tool error carrying it, and SMART `connect` gives the link
// itself (made by a worker: `oauth.connect_link`). Each link is followed over HTTP with the local provider.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ProtocolErrorCode, UrlElicitationRequiredError, type Client } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startUserOAuthProvider, type UserOAuthProvider } from '../../fixtures/user-oauth-provider.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { logLines } from '../../helpers/records.ts';
import {
  callToolAs,
  connectLinkIn,
  followConnectLink,
  mcpClientAs,
  setUpCalendar,
} from '../../fixtures/calendar-connector.ts';

let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
let mcpUrl: string;
let smartUrl: string;

const connected = (user: string) => ({ isError: false, text: JSON.stringify({ user, path: '/events' }) });
const firstText = (r: { content: unknown }) => (r.content as { text: string }[])[0]!.text;
/** A link as the workers make them: `<PUBLIC_API_URL>/connect/<token>` (the control plane's own port, not the proxy's). */
const LINK = /^http:\/\/127\.0\.0\.1:\d+\/connect\/[A-Za-z0-9_-]{43}$/;
/** The edge's debug lines for calls its fast path served. */
const fastPathCalls = () =>
  logLines(
    stack.processes.find((p) => p.service === 'edge')!,
    'tools/call fast path',
  ).length;

/** The URL-elicitation-required error a call rejected with. */
async function urlElicitationOf(call: Promise<unknown>): Promise<UrlElicitationRequiredError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UrlElicitationRequiredError);
  return err as UrlElicitationRequiredError;
}

beforeAll(async () => {
  provider = await startUserOAuthProvider();
  ({ stack, api } = await startTestStack('user-oauth-links', { logLevel: 'debug' }));
  const calendar = await setUpCalendar(api, provider, ['alice', 'bob', 'carol', 'dave']);
  mcpUrl = calendar.server.url;
  smartUrl = (await unwrap(api.POST('/mcp_manager', { body: { name: 'calendar-smart', mode: 'SMART' } }))).url;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await provider?.close();
});

describe("a person's connect link, to clients that declared URL-mode elicitation (2025-11-25)", () => {
  it('is the -32042 error on the fast path and the SDK path; others get the tool error; once followed, the call succeeds', async () => {
    const declaring = await mcpClientAs(mcpUrl, stack.bootstrapKey, 'alice', {
      capabilities: { elicitation: { url: {} } },
    });
    const plain = await mcpClientAs(mcpUrl, stack.bootstrapKey, 'alice');
    try {
      const calls = provider.apiCalls.length;
      // A plain call (the edge's fast path).
      const fastBefore = fastPathCalls();
      const fast = await urlElicitationOf(declaring.callTool({ name: 'my_events', arguments: {} }));
      await waitFor('the edge to log the fast path', () => fastPathCalls() > fastBefore);
      expect(fast.code).toBe(ProtocolErrorCode.UrlElicitationRequired);
      expect(fast.elicitations).toHaveLength(1);
      const [elicitation] = fast.elicitations;
      expect(elicitation).toMatchObject({ mode: 'url', message: expect.stringContaining("alice's own account") });
      expect(elicitation!.elicitationId).toEqual(expect.any(String));
      expect(elicitation!.url).toMatch(LINK);

      // A call asking for progress is never the fast path's (mcp-handler.ts: it may stream), so the SDK's dispatch
      // answers it: the same error, with a link of its own.
      const sdk = await urlElicitationOf(
        declaring.callTool({ name: 'my_events', arguments: {} }, { onprogress: () => undefined }),
      );
      expect(sdk.elicitations[0]!.url).toMatch(LINK);
      expect(sdk.elicitations[0]!.url).not.toBe(elicitation!.url);

      // A client that did not declare it: the tool error carrying a link, on the same public URL.
      const refused = await plain.callTool({ name: 'my_events', arguments: {} });
      expect(refused.isError).toBe(true);
      expect(firstText(refused)).toContain('User "alice" has not connected their own account');
      expect(new URL(connectLinkIn(firstText(refused))).origin).toBe(new URL(elicitation!.url).origin);
      expect(provider.apiCalls.length).toBe(calls); // nothing reached the API

      // Alice opens the elicitation's link: the same calls now run with her own account.
      provider.consentAs = 'alice';
      const done = await followConnectLink(elicitation!.url);
      expect(await done.text()).toContain('You can return to your agent');
      expect(firstText(await declaring.callTool({ name: 'my_events', arguments: {} }))).toBe(connected('alice').text);
      expect(firstText(await plain.callTool({ name: 'my_events', arguments: {} }))).toBe(connected('alice').text);
      expect(provider.apiCalls.at(-1)).toMatchObject({ user: 'alice', status: 200 });
    } finally {
      await declaring.close();
      await plain.close();
    }
  });
});

describe("a person's connect link on 2026-07-28: an input_required result with a URL elicitation", () => {
  /** A 2026-07-28 client declaring URL-mode elicitation whose handler answers with `answer` (after opening the link). */
  async function modernClient(user: string, answer: (url: string) => Promise<'accept' | 'decline'>): Promise<Client> {
    const client = await mcpClientAs(mcpUrl, stack.bootstrapKey, user, {
      capabilities: { elicitation: { url: {} } },
      versionNegotiation: { mode: { pin: '2026-07-28' } },
    });
    expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    client.setRequestHandler('elicitation/create', async (request) => {
      const params = request.params as { mode?: string; url?: string };
      expect(params.mode).toBe('url');
      return { action: await answer(params.url!) };
    });
    return client;
  }

  it('the client opens the link and retries: the call runs with the person’s account; declined, it is the tool error', async () => {
    const opened: string[] = [];
    const bob = await modernClient('bob', async (url) => {
      opened.push(url);
      provider.consentAs = 'bob';
      expect((await followConnectLink(url)).status).toBe(200);
      return 'accept';
    });
    try {
      expect(firstText(await bob.callTool({ name: 'my_events', arguments: {} }))).toBe(connected('bob').text);
      expect(opened).toHaveLength(1);
      expect(opened[0]).toMatch(LINK);
    } finally {
      await bob.close();
    }

    const offered: string[] = [];
    const carol = await modernClient('carol', (url) => {
      offered.push(url);
      return Promise.resolve('decline');
    });
    try {
      const declined = await carol.callTool({ name: 'my_events', arguments: {} });
      expect(offered).toHaveLength(1);
      expect(declined.isError).toBe(true);
      expect(firstText(declined)).toContain('User "carol" has not connected their own account');
      expect(connectLinkIn(firstText(declined))).toMatch(LINK);
    } finally {
      await carol.close();
    }
  });
});

describe('SMART connect gives the link itself', () => {
  it('a link made by a worker: following it connects the person; it works once', async () => {
    const before = JSON.parse(
      (await callToolAs(smartUrl, stack.bootstrapKey, 'dave', 'connect', { tool: 'my_events' })).text,
    ) as {
      connected: boolean;
      account: { kind: string; status: string };
      link: string;
      message: string;
    };
    expect(before).toMatchObject({ connected: false, account: { kind: 'oauth_account', status: 'missing' } });
    expect(before.link).toMatch(LINK);
    expect(before.message).toContain(`then call my_events again: ${before.link}`);

    provider.consentAs = 'dave';
    const done = await followConnectLink(before.link);
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('You can return to your agent');
    const after = await callToolAs(smartUrl, stack.bootstrapKey, 'dave', 'connect', { tool: 'my_events' });
    expect(JSON.parse(after.text)).toMatchObject({ connected: true });
    const run = await callToolAs(smartUrl, stack.bootstrapKey, 'dave', 'execute_tool', { name: 'my_events' });
    expect({ isError: run.isError, text: run.text }).toEqual(connected('dave'));

    // Replayed: refused, and no code is exchanged.
    const issued = provider.issuedTokens().length;
    const replayed = await fetch(before.link, { method: 'POST', redirect: 'manual' });
    expect(replayed.status).toBe(410);
    expect(provider.issuedTokens().length).toBe(issued);
  });
});
