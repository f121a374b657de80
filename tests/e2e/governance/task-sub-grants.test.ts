import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Sub-grants (ADR 0113): a task grant derived from another for a sub-agent can only narrow it. A sub-grant that would
 * widen any field is refused with every problem listed; one that narrows is redeemed from the parent's token (the
 * sub-agent's token), held to the parent's bounds and its own, and spends the parent's budget too; revoking the parent
 * revokes it. Calls are made by the official SDK client; what is refused never reaches the ticket system.
 */

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const API_KEY = 'urn:toolplane:params:oauth:token-type:api_key';
const BOUND = 'open tickets, at most 50';

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let serverId: string;
let agentKey: string;
const opened: Client[] = [];

type Result = { isError?: boolean; content: { type: string; text?: string }[] };
const textOf = (r: Result) => r.content.map((c) => c.text ?? '').join('');

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'sub-grants-upstream' });
  ({ stack, api } = await startTestStack('task-sub-grants'));
  ({ serverId } = await registerTicketExample(api, upstream.url, 'sub-grants-upstream'));
  await unwrap(api.POST('/external_users', { body: { name: 'ann' } }));
  await unwrap(api.POST('/external_users', { body: { name: 'bob' } }));
  agentKey = (await unwrap(api.POST('/api_keys', { body: { name: 'agent', scopes: ['runtime'] } }))).key;
}, 120_000);

afterAll(async () => {
  for (const c of opened) await c.close().catch(() => undefined);
  await stack?.stop();
  await upstream?.close();
});

const inHours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();

/** The parent: `search_tickets` for open tickets, at most 50, refused off-grant. */
const parentGrant = (calls: number) =>
  unwrap(
    api.POST('/task_grants', {
      body: {
        purpose: 'Triage the open tickets',
        person: 'ann',
        tools: ['search_tickets'],
        bounds: [{ name: BOUND, condition: 'args.status == "open" && args.limit <= 50' }],
        calls,
        expiresAt: inHours(1),
        offGrant: 'refuse',
      },
    }),
  );

/** Asks the edge to redeem `grantId` for a token narrowed from `subject` (an API key, or a narrowed token). */
async function exchange(subject: { token: string; type: string }, grantId: string) {
  const form = new URLSearchParams({
    grant_type: EXCHANGE,
    subject_token: subject.token,
    subject_token_type: subject.type,
    requested_token_type: ACCESS_TOKEN,
    authorization_details: JSON.stringify([{ type: 'toolplane_delegation', grant: grantId }]),
  });
  const res = await fetch(`${stack.edgeUrls[0]}/oauth/token-exchange`, { method: 'POST', body: form });
  type Answer = { access_token?: string; error?: string; error_description?: string };
  return { status: res.status, body: (await res.json()) as Answer };
}

/** A token redeemed from the grant, once the grant reached the edge. */
async function redeem(grantId: string, from = { token: agentKey, type: API_KEY }): Promise<string> {
  const r = await waitFor('the grant redeemed', async () => {
    const answer = await exchange(from, grantId);
    return answer.status === 200 ? answer : undefined;
  });
  return r.body.access_token!;
}

async function client(token: string): Promise<Client> {
  const c = new Client({ name: 'task-sub-grants-test', version: '1.0.0' });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${serverId}`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  opened.push(c);
  return c;
}

const search = async (c: Client, args: Record<string, unknown>) =>
  (await c.callTool({ name: 'search_tickets', arguments: args })) as Result;

/** A call that must not reach the ticket system. */
async function notSent(run: () => Promise<Result>): Promise<Result> {
  const before = upstream.requests.length;
  const r = await run();
  expect(r.isError).toBe(true);
  expect(upstream.requests.length).toBe(before);
  return r;
}

describe('sub-grants', () => {
  it('refuses a sub-grant that widens any field, with every problem listed (422)', async () => {
    const parent = await parentGrant(5);
    const r = await api.POST('/task_grants', {
      body: {
        parent: parent.id,
        purpose: 'More than the parent',
        person: 'bob',
        tools: ['search_tickets', 'get_ticket'],
        bounds: [],
        calls: 6,
        expiresAt: inHours(2),
        offGrant: 'hold',
        mode: 'log_only',
      },
    });
    expect(r.response.status).toBe(422);
    const paths = ((r.error as { errors?: { path: string }[] }).errors ?? []).map((e) => e.path);
    expect(paths).toEqual(['/person', '/tools/1', '/calls', '/expiresAt', '/offGrant', '/mode']);

    const unknown = await api.POST('/task_grants', {
      body: {
        parent: '00000000-0000-4000-8000-000000000000',
        purpose: 'A parent of nowhere',
        person: 'ann',
        tools: ['search_tickets'],
        bounds: [],
        calls: 1,
        expiresAt: inHours(1),
        offGrant: 'refuse',
      },
    });
    expect(unknown.response.status).toBe(422);
    expect((unknown.error as { errors?: { path: string }[] }).errors?.map((e) => e.path)).toEqual(['/parent']);
  });

  it('holds a sub-agent to the parent’s bounds and its own, and spends the parent’s budget', async () => {
    const parent = await parentGrant(3);
    // Its own bound is looser than the parent's: the parent's still holds (ANDed), so it cannot widen.
    const sub = await unwrap(
      api.POST('/task_grants', {
        body: {
          parent: parent.id,
          purpose: 'Look at the first open tickets',
          person: 'ann',
          tools: ['search_tickets'],
          bounds: [{ name: 'at most 100', condition: 'args.limit <= 100' }],
          calls: 2,
          expiresAt: inHours(0.5),
          offGrant: 'refuse',
        },
      }),
    );
    expect(sub.parent).toBe(parent.id);
    expect(sub.bounds.map((b) => b.name)).toEqual([BOUND, 'at most 100']);

    const agentToken = await redeem(parent.id);
    const agent = await client(agentToken);
    const narrowed = await client(await redeem(sub.id, { token: agentToken, type: ACCESS_TOKEN }));
    expect((await search(agent, { status: 'open', limit: 5 })).isError).toBeFalsy();
    expect((await search(narrowed, { status: 'open', limit: 5 })).isError).toBeFalsy();
    const widened = await notSent(() => search(narrowed, { status: 'open', limit: 70 }));
    expect(textOf(widened)).toContain(`the bound "${BOUND}" of the task grant ${sub.id} does not hold`);
    // The parent's third call spends its budget: the sub-grant's own second call is refused with it.
    expect((await search(agent, { status: 'open', limit: 5 })).isError).toBeFalsy();
    const spent = await notSent(() => search(narrowed, { status: 'open', limit: 5 }));
    expect(textOf(spent)).toContain('has no calls left');

    // A grant's token redeems only a grant derived from it.
    const other = await parentGrant(1);
    await waitFor('the other grant on the edge', async () =>
      (await exchange({ token: agentKey, type: API_KEY }, other.id)).status === 200 ? true : undefined,
    );
    const refused = await exchange({ token: agentToken, type: ACCESS_TOKEN }, other.id);
    expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('revokes every grant derived from a revoked grant, and refuses their calls', async () => {
    const parent = await parentGrant(10);
    const body = { parent: parent.id, purpose: 'Part', person: 'ann', tools: ['search_tickets'], bounds: [], calls: 5 };
    const sub = await unwrap(
      api.POST('/task_grants', { body: { ...body, expiresAt: inHours(0.5), offGrant: 'refuse' } }),
    );
    const subSub = await unwrap(
      api.POST('/task_grants', { body: { ...body, parent: sub.id, expiresAt: inHours(0.25), offGrant: 'refuse' } }),
    );
    const narrowed = await client(await redeem(subSub.id));
    expect((await search(narrowed, { status: 'open', limit: 1 })).isError).toBeFalsy();
    await unwrap(api.POST('/task_grants/{id}/revoke', { params: { path: { id: parent.id } } }));
    for (const id of [sub.id, subSub.id])
      expect((await unwrap(api.GET('/task_grants/{id}', { params: { path: { id } } }))).revokedAt).not.toBeNull();
    const r = await waitFor('the revocation on the edge', async () => {
      const answer = await search(narrowed, { status: 'open', limit: 1 });
      return textOf(answer).includes('was revoked') ? answer : undefined;
    });
    expect(r.isError).toBe(true);
    await notSent(() => search(narrowed, { status: 'open', limit: 1 }));
  });
});
