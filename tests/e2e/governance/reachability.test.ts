import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type components, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { sourceCli } from '../../helpers/cli.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';

// Who can reach what (`POST /governance/reachability`) on the real stack: the solver's answers sent live through the
// edge. Each "yes" comes with a witness (arguments) that an MCP SDK client calling as that principal gets through;
// each "no" is refused by the edge for the calls tried (the other principals' witnesses among them).

type Reach = components['schemas']['Reachability'];
type Key = { id: string; key: string };

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let tickets: RegisteredExample;
const keys = {} as Record<'support' | 'ops' | 'nowhere' | 'workspace', Key>;

const newKey = async (name: string): Promise<Key> =>
  unwrap(api.POST('/api_keys', { body: { name, scopes: ['runtime'] } }));

async function callThroughEdge(headers: Record<string, string>, tool: string, args: Record<string, unknown>) {
  const client = new Client({ name: 'reachability-e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(tickets.mcpUrl), { requestInit: { headers } }));
  try {
    const result = await client.callTool({ name: tool, arguments: args });
    const text = (result.content as { type: string; text?: string }[])[0]?.text ?? '';
    return { denied: result.isError === true && text.startsWith('Access denied'), text };
  } finally {
    await client.close();
  }
}

const reach = (principal?: components['schemas']['ReachabilityRequest']['principal']): Promise<Reach> =>
  unwrap(
    api.POST('/governance/reachability', {
      body: { server: tickets.serverId, tool: 'search_tickets', ...(principal ? { principal } : {}) },
    }),
  );

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  ({ stack, api } = await startTestStack('reachability'));
  tickets = await registerTicketExample(api, upstream.url, 'k', 'tickets');
  keys.support = await newKey('support-eu');
  keys.ops = await newKey('ops');
  keys.nowhere = await newKey('nowhere');
  keys.workspace = await newKey('workspace');
  await unwrap(api.POST('/external_users', { body: { name: 'ann' } }));
  const key = (k: Key) => ({ type: 'api_key' as const, value: k.id });
  const servers = [tickets.serverId];
  const tools = ['search_tickets'];
  const policies: components['schemas']['AccessPolicyBody'][] = [
    {
      name: 'small-searches',
      principals: [key(keys.support)],
      servers,
      tools,
      condition: 'args.limit <= 10 && caller.key_name.startsWith("support-")',
    },
    {
      name: 'assigned-open',
      principals: [key(keys.ops)],
      servers,
      tools,
      condition: 'args.status == "open" && has(args.assignee) && args.assignee.endsWith("@example.com")',
    },
    {
      name: 'ann-small',
      principals: [{ type: 'external_user', value: 'ann' }],
      servers,
      tools,
      condition: 'args.status in ["open", "closed"] && args.limit <= 5 && caller.user == "ann"',
    },
    // Last: once the edge refuses the nowhere key, it has every policy.
    {
      name: 'never',
      principals: [key(keys.nowhere)],
      servers,
      tools,
      condition: 'args.limit > 100 && args.limit < 50',
    },
  ];
  for (const body of policies) await unwrap(api.POST('/access_policies', { body }));
  // The policies reached the edge: the key no policy names refuses nothing, the nowhere key's conditional grant
  // refuses its calls.
  await waitFor(
    'the policies on the edge',
    async () => (await callThroughEdge({ 'x-api-key': keys.nowhere.key }, 'search_tickets', { limit: 1 })).denied,
    PROPAGATION_DEADLINE_MS,
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

const headersOf = (p: Reach['principals'][number]['principal']): Record<string, string> => {
  if (p.type === 'person') return { 'x-api-key': keys.workspace.key, 'x-username': p.username! };
  const k = Object.values(keys).find((x) => x.id === p.key_id)!;
  return { 'x-api-key': k.key };
};

describe('POST /governance/reachability', () => {
  it('every "yes" witness goes through the edge as its principal; every "no" is refused', async () => {
    const r = await reach();
    const by = (id: string) => r.principals.find((p) => p.principal.key_id === id || p.principal.username === id)!;
    expect(r.principals.map((p) => p.principal.key_id ?? p.principal.username).sort()).toEqual(
      [keys.support.id, keys.ops.id, keys.nowhere.id, 'ann'].sort(),
    );
    expect(by(keys.support.id)).toMatchObject({
      principal: { type: 'api_key', key_id: keys.support.id, key_name: 'support-eu' },
      granted: true,
      condition: 'args.limit <= 10 && caller.key_name.startsWith("support-")',
      without_person: { answer: 'yes' },
    });
    expect(by(keys.support.id).without_person.witness!.args.limit).toBeLessThanOrEqual(10);
    expect(by(keys.nowhere.id)).toMatchObject({ granted: true, without_person: { answer: 'no', proof: 'unsat' } });
    expect(by(keys.nowhere.id).with_person).toMatchObject({ answer: 'no', proof: 'unsat' });
    const witnesses = r.principals.flatMap((p) => (p.without_person.witness ? [p.without_person.witness.args] : []));
    expect(witnesses).toHaveLength(3);
    for (const p of r.principals) {
      const v = p.without_person;
      if (v.answer === 'yes') {
        const edge = await callThroughEdge(headersOf(p.principal), 'search_tickets', v.witness!.args);
        expect([p.principal, edge]).toEqual([p.principal, { denied: false, text: expect.any(String) }]);
      } else {
        expect(v).toMatchObject({ answer: 'no', proof: 'unsat' });
        for (const args of [...witnesses, { limit: 75 }, { limit: 120 }]) {
          const edge = await callThroughEdge(headersOf(p.principal), 'search_tickets', args);
          expect([p.principal, args, edge.denied]).toEqual([p.principal, args, true]);
        }
      }
    }
  }, 120_000);

  it('one principal, and a call of another principal’s witness refused live when the condition says no', async () => {
    const r = await reach({ api_key: keys.ops.id });
    expect(r.principals).toHaveLength(1);
    const ops = r.principals[0]!;
    expect(ops.without_person.answer).toBe('yes');
    const args = ops.without_person.witness!.args;
    expect(args).toMatchObject({ status: 'open', assignee: expect.stringMatching(/@example\.com$/) });
    // The same arguments from the support key: its own condition decides (limit ≤ 10; absent, the default 25).
    const support = await callThroughEdge({ 'x-api-key': keys.support.key }, 'search_tickets', args);
    const limit = (args.limit as number | undefined) ?? 25;
    expect([args, support]).toEqual([args, { denied: limit > 10, text: expect.any(String) }]);
    const ann = await reach({ external_user: 'ann' });
    expect(ann.principals[0]).toMatchObject({ principal: { type: 'person', username: 'ann' }, granted: true });
    expect(ann.principals[0]!.without_person.witness!.args).toMatchObject({
      status: expect.stringMatching(/^(open|closed)$/),
    });
  }, 120_000);

  it('the CLI prints each principal’s answer', async () => {
    const { stdout } = await sourceCli(stack)(
      'rules',
      'reach',
      '--server',
      'tickets',
      '--tool',
      'search_tickets',
      '--key',
      keys.nowhere.id,
    );
    expect(stdout).toContain(`API key ${keys.nowhere.id} (nowhere): when args.limit > 100 && args.limit < 50`);
    expect(stdout).toContain('without a person: no (unsat)');
  }, 120_000);

  // Last: it applies the change.
  it('a change: exactly what it newly lets through, refused now and let through once applied; the CLI too', async () => {
    const file = {
      path: 'access-policies/never.yaml',
      content:
        'name: never\nprincipals:\n  - type: api_key\n    value: nowhere\nservers: [tickets]\ntools: [search_tickets]\n' +
        "condition: 'args.limit < 5'\n",
    };
    const r = await unwrap(
      api.POST('/governance/reachability', {
        body: { server: tickets.serverId, tool: 'search_tickets', change: { files: [file] } },
      }),
    );
    expect(r.change!.newly_reachable.map((c) => c.principal.key_id)).toEqual([keys.nowhere.id]);
    const [c] = r.change!.newly_reachable;
    expect(c).toMatchObject({
      condition: '(args.limit < 5) && !(args.limit > 100 && args.limit < 50)',
      before: 'args.limit > 100 && args.limit < 50',
      after: 'args.limit < 5',
      without_person: { answer: 'yes' },
    });
    const args = c!.without_person.witness!.args;
    expect(args.limit).toBeLessThan(5);
    const nowhere = { 'x-api-key': keys.nowhere.key };
    expect((await callThroughEdge(nowhere, 'search_tickets', args)).denied).toBe(true);

    const dir = mkdtempSync(join(tmpdir(), 'reach-change-'));
    mkdirSync(join(dir, 'access-policies'));
    writeFileSync(join(dir, file.path), file.content);
    const cli = await sourceCli(stack)(
      ...['rules', 'reach', '--server', 'tickets', '--tool', 'search_tickets', '--key', keys.nowhere.id],
      ...['--change', join(dir, file.path)],
    );
    expect(cli.stdout).toContain('the change: 1 of 1 principals newly reach the tool');
    expect(cli.stdout).toContain(`API key ${keys.nowhere.id} (nowhere): newly when (args.limit < 5) && !(`);

    const policies = await unwrap(api.GET('/access_policies'));
    const never = policies.data.find((p) => p.name === 'never')!;
    await unwrap(
      api.PATCH('/access_policies/{id}', { params: { path: { id: never.id } }, body: { condition: 'args.limit < 5' } }),
    );
    await waitFor(
      'the change on the edge',
      async () => !(await callThroughEdge(nowhere, 'search_tickets', args)).denied,
      PROPAGATION_DEADLINE_MS,
    );
    const unchanged = await unwrap(
      api.POST('/governance/reachability', {
        body: { server: tickets.serverId, tool: 'search_tickets', change: { files: [file] } },
      }),
    );
    expect(unchanged.change).toMatchObject({ newly_reachable: [] });
  }, 120_000);
});
