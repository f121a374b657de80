import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * Task grants (ADR 0108) on a stack of two edges: a person's grant of `search_tickets` for open tickets, at most 50 of
 * them, is redeemed for a narrowed token, and every call made with it (by the official SDK client) is held to it: a call
 * within the grant reaches the ticket system; another status, a limit over the bound, another tool, a lying client's
 * arguments, a call after the budget, the expiry or the revocation are refused (or held for the person's approval, as
 * the grant says) and the ticket system receives nothing.
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
let agentKeyId: string;
const opened: Client[] = [];
const since = new Date().toISOString();

type Result = { isError?: boolean; content: { type: string; text?: string }[] };
const textOf = (r: Result) => r.content.map((c) => c.text ?? '').join('');

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'grants-upstream' });
  ({ stack, api } = await startTestStack('task-grants', { edges: 2 }));
  ({ serverId } = await registerTicketExample(api, upstream.url, 'grants-upstream'));
  await unwrap(api.POST('/external_users', { body: { name: 'ann' } }));
  const key = await unwrap(api.POST('/api_keys', { body: { name: 'agent', scopes: ['runtime'] } }));
  agentKey = key.key;
  agentKeyId = key.id;
}, 120_000);

afterAll(async () => {
  for (const c of opened) await c.close().catch(() => undefined);
  await stack?.stop();
  await upstream?.close();
});

interface GrantAsk {
  offGrant?: 'hold' | 'refuse';
  calls?: number;
  expiresAt?: string;
}

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

const grant = (ask: GrantAsk = {}) =>
  unwrap(
    api.POST('/task_grants', {
      body: {
        purpose: 'Triage the open tickets',
        person: 'ann',
        tools: ['search_tickets'],
        bounds: [{ name: BOUND, condition: 'args.status == "open" && args.limit <= 50' }],
        calls: ask.calls ?? 100,
        expiresAt: ask.expiresAt ?? inAnHour(),
        offGrant: ask.offGrant ?? 'refuse',
      },
    }),
  );

/** Asks an edge to redeem the grant for a narrowed token: the status and the answer. */
async function exchange(edge: string, grantId: string) {
  const form = new URLSearchParams({
    grant_type: EXCHANGE,
    subject_token: agentKey,
    subject_token_type: API_KEY,
    requested_token_type: ACCESS_TOKEN,
    authorization_details: JSON.stringify([{ type: 'toolplane_delegation', grant: grantId, actor: 'triage' }]),
  });
  const res = await fetch(`${edge}/oauth/token-exchange`, { method: 'POST', body: form });
  type Answer = { access_token?: string; error?: string; authorization_details?: { grant?: string }[] };
  return { status: res.status, body: (await res.json()) as Answer };
}

/** A narrowed token redeemed from the grant at an edge, once the grant reached it (published with the access). */
async function redeem(edge: string, grantId: string): Promise<string> {
  const r = await waitFor('the grant redeemed', async () => {
    const answer = await exchange(edge, grantId);
    return answer.status === 200 ? answer : undefined;
  });
  expect(r.body.authorization_details?.[0]?.grant).toBe(grantId);
  return r.body.access_token!;
}

async function client(edge: string, token: string): Promise<Client> {
  const c = new Client({ name: 'task-grants-test', version: '1.0.0' });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${edge}/mcp/${serverId}`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  opened.push(c);
  return c;
}

const call = async (c: Client, name: string, args: Record<string, unknown>) =>
  (await c.callTool({ name, arguments: args })) as Result;

const searches = (c: Client, args: Record<string, unknown>) => call(c, 'search_tickets', args);

/** Calls that must not reach the ticket system: each answer, and the count of requests it got meanwhile. */
async function noneSent<T extends readonly Result[]>(run: () => Promise<T>): Promise<T> {
  const before = upstream.requests.length;
  const results = await run();
  expect(upstream.requests.length).toBe(before);
  return results;
}

/** The pending approval request of a call the grant held (the inbox's row). */
const heldRequest = (grantId: string) =>
  waitFor('the held call’s request', async () => {
    const page = await unwrap(api.GET('/approvals', { params: { query: { state: 'pending', limit: 200 } } }));
    return page.data.find((a) => a.rule.taskGrant?.id === grantId);
  });

describe('task grants', () => {
  it('refuses a grant with every problem listed (422)', async () => {
    const r = await api.POST('/task_grants', {
      body: {
        purpose: 'x',
        person: 'nobody',
        tools: ['no_such_tool'],
        bounds: [{ condition: 'args.limit <=' }],
        calls: 1,
        expiresAt: new Date(Date.now() - 1000).toISOString(),
        offGrant: 'refuse',
      },
    });
    expect(r.response.status).toBe(422);
    const paths = ((r.error as { errors?: { path: string }[] }).errors ?? []).map((e) => e.path);
    expect(paths).toEqual(['/bounds/0/condition', '/person', '/tools/0', '/expiresAt']);
  });

  it('lets a call within the grant through, and refuses every off-grant call before the upstream', async () => {
    const g = await grant();
    expect(await unwrap(api.GET('/task_grants/{id}', { params: { path: { id: g.id } } }))).toEqual(g);
    expect((await unwrap(api.GET('/task_grants'))).data.map((x) => x.id)).toContain(g.id);
    const agent = await client(stack.edgeUrls[0]!, await redeem(stack.edgeUrls[0]!, g.id));
    const before = upstream.requests.length;
    expect((await searches(agent, { status: 'open', limit: 10 })).isError).toBeFalsy();
    // -0 is 0: within the bound.
    expect((await call(agent, 'search_tickets', { status: 'open', limit: -0 })).isError).toBeFalsy();
    expect(upstream.requests.length).toBe(before + 2);

    const [otherStatus, over, lying, missing, otherTool] = await noneSent(
      async () =>
        [
          await call(agent, 'search_tickets', { status: 'closed', limit: 10 }),
          await call(agent, 'search_tickets', { status: 'open', limit: 51 }),
          await call(agent, 'search_tickets', { status: 'open', limit: 1e3 }),
          // A missing argument (`limit` has a default, which the bound reads as sent: `status` has none).
          await call(agent, 'search_tickets', { limit: 10 }),
          await call(agent, 'get_ticket', { ticket_id: 'T-1' }),
        ] as const,
    );
    for (const r of [otherStatus, over, lying, missing]) {
      expect(r.isError).toBe(true);
      expect(textOf(r)).toBe(
        `Off-grant call of tool "search_tickets": the bound "${BOUND}" of the task grant ${g.id} does not hold for ` +
          'these arguments. The call was not made, nothing was sent. Stay within the grant, or ask its person for ' +
          'another.',
      );
    }
    expect(textOf(otherTool)).toContain(`the task grant ${g.id} does not cover tool "get_ticket"`);
    // A number sent as a string never reaches the bound: the tool's schema refuses it first.
    const [asString] = await noneSent(
      async () => [await call(agent, 'search_tickets', { status: 'open', limit: '30' })] as const,
    );
    expect(asString.isError).toBe(true);

    const events = await waitFor('the refusals in the audit trail', async () => {
      const page = await unwrap(
        api.GET('/audit_events', { params: { query: { action: 'tool.call_refused', from: since, limit: 200 } } }),
      );
      const mine = page.data.filter((e) => (e.details as { refusedBy?: string }).refusedBy === 'task-grant');
      return mine.length >= 5 ? mine : undefined;
    });
    expect(events.map((e) => (e.details as { violated?: string }).violated)).toEqual(
      expect.arrayContaining([BOUND, 'tools']),
    );
    expect(events[0]!.actor.id).toBe(agentKeyId);
    expect(events[0]!.details).toMatchObject({ delegation: { grantId: g.id } });
    // The refused calls' records name the grant and the violated bound.
    const records = await waitFor('the refusals recorded', async () => {
      const page = await unwrap(
        api.GET('/execution_records', { params: { query: { key_id: agentKeyId, limit: 200 } } }),
      );
      const mine = page.data.filter(
        (r) => r.caller.delegation?.grant_id === g.id && r.error_code === 'task_grant.bound',
      );
      return mine.length >= 4 ? mine : undefined;
    });
    for (const r of records) expect(r.message).toContain(`the bound "${BOUND}" of the task grant ${g.id}`);
  });

  it('holds an off-grant call for the grant’s person when the grant says so', async () => {
    const g = await grant({ offGrant: 'hold' });
    const agent = await client(stack.edgeUrls[1]!, await redeem(stack.edgeUrls[1]!, g.id));
    await searches(agent, { status: 'open', limit: 5 });
    const [held] = await noneSent(
      async () => [await call(agent, 'search_tickets', { status: 'open', limit: 70 })] as const,
    );
    expect(held.isError).toBe(true);
    expect(textOf(held)).toContain(
      `needs someone else's approval: the bound "${BOUND}" of the task grant ${g.id} does not hold for these arguments`,
    );
    expect(textOf(held)).toContain('approvers: person ann');
    // The request shows its person the grant and the violated bound.
    const request = await heldRequest(g.id);
    expect(request.rule.taskGrant).toEqual({ id: g.id, purpose: 'Triage the open tickets', violated: BOUND });
    expect(request.rule.approvers).toEqual({ people: ['ann'] });
  });

  it('holds a call past its budget for the grant’s person when the grant says so', async () => {
    const g = await grant({ offGrant: 'hold', calls: 1 });
    const agent = await client(stack.edgeUrls[0]!, await redeem(stack.edgeUrls[0]!, g.id));
    expect((await searches(agent, { status: 'open', limit: 1 })).isError).toBeFalsy();
    const [held] = await noneSent(
      async () => [await call(agent, 'search_tickets', { status: 'open', limit: 2 })] as const,
    );
    expect(held.isError).toBe(true);
    expect(textOf(held)).toContain(
      `needs someone else's approval: the budget of 1 call of the task grant ${g.id} is spent`,
    );
    const request = await heldRequest(g.id);
    expect(request.rule.taskGrant).toEqual({ id: g.id, purpose: 'Triage the open tickets', violated: 'calls' });
    // Its audit event names the grant the call was made under.
    const event = await waitFor('the request in the audit trail', async () => {
      const page = await unwrap(
        api.GET('/audit_events', { params: { query: { action: 'approval.requested', from: since, limit: 200 } } }),
      );
      return page.data.find((e) => e.resource.id === request.id);
    });
    expect(event.details).toMatchObject({ delegation: { grantId: g.id } });
  });

  it('refuses the calls past its budget of calls, on both edges', async () => {
    const g = await grant({ calls: 2 });
    const [e1, e2] = stack.edgeUrls as [string, string];
    const one = await client(e1, await redeem(e1, g.id));
    const two = await client(e2, await redeem(e2, g.id));
    expect((await searches(one, { status: 'open', limit: 1 })).isError).toBeFalsy();
    expect((await searches(two, { status: 'open', limit: 1 })).isError).toBeFalsy();
    const [spent] = await noneSent(
      async () => [await call(one, 'search_tickets', { status: 'open', limit: 1 })] as const,
    );
    expect(textOf(spent)).toContain(`the budget of task grant ${g.id}`);
  });

  it('refuses every call after the grant expires', async () => {
    const ends = Date.now() + 3_000;
    const g = await grant({ expiresAt: new Date(ends).toISOString() });
    const agent = await client(stack.edgeUrls[0]!, await redeem(stack.edgeUrls[0]!, g.id));
    const expired = await waitFor('the grant expired', async () => {
      const r = await call(agent, 'search_tickets', { status: 'open', limit: 1 });
      return textOf(r).includes('expired') ? r : undefined;
    });
    expect(Date.now()).toBeGreaterThanOrEqual(ends);
    expect(textOf(expired)).toContain(`the task grant ${g.id} expired`);
    await noneSent(async () => [await call(agent, 'search_tickets', { status: 'open', limit: 1 })]);
  });

  it('refuses every call of its tokens once revoked, on both edges, and redeems it no more', async () => {
    const g = await grant({ offGrant: 'hold' });
    const [e1, e2] = stack.edgeUrls as [string, string];
    const one = await client(e1, await redeem(e1, g.id));
    const two = await client(e2, await redeem(e2, g.id));
    expect((await searches(one, { status: 'open', limit: 1 })).isError).toBeFalsy();
    expect((await searches(two, { status: 'open', limit: 1 })).isError).toBeFalsy();
    const revoked = await unwrap(api.POST('/task_grants/{id}/revoke', { params: { path: { id: g.id } } }));
    expect(revoked.revokedAt).not.toBeNull();
    for (const c of [one, two]) {
      const r = await waitFor('the revocation on the edge', async () => {
        const answer = await call(c, 'search_tickets', { status: 'open', limit: 1 });
        return textOf(answer).includes('was revoked') ? answer : undefined;
      });
      expect(r.isError).toBe(true);
      await noneSent(async () => [await call(c, 'search_tickets', { status: 'open', limit: 1 })]);
    }
    const refused = await waitFor('the revoked grant refused at the exchange', async () => {
      const answer = await exchange(e1, g.id);
      return answer.status === 400 ? answer : undefined;
    });
    expect(refused.body).toMatchObject({ error: 'invalid_target' });
  });
});
