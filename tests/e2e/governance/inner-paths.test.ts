import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { Redis } from 'ioredis';
import { Gate } from '../../helpers/gate.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

// The calls a caller makes without naming them one by one: a `run_code` program's inner calls and a workflow's steps
// on a hosted server's tool. A narrowed token's limit on calls (ADR 0084) is spent by each of them, in the one counter
// its direct calls spend, and none runs once it is spent: the upstream, a real HTTP server on 127.0.0.1, receives
// exactly the calls the limit allowed. A task whose workflow waits for an approval is judged again when its job
// starts: access lost meanwhile refuses it, and no step runs. A key deleted while its program or workflow is mid-way
// refuses the next inner call and the next step.

const TOOL = 'get_ticket';
const ARGS = { ticket_id: 'TCK-1' };

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
/** In front of the upstream: holds requests while a test changes the caller's key. */
let gate: Gate;
let redis: Redis;
let smartUrl: string;
let flowsUrl: string;
let heldId: string;
let heldUrl: string;
let approver: ManagementClient;
let key: string;
const opened: Client[] = [];

/** A narrowed token of the file's key with a limit of `calls`; its id and the bearer credential. */
async function narrowed(calls: number): Promise<{ id: string; bearer: string }> {
  const form = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: key,
    subject_token_type: 'urn:toolplane:params:oauth:token-type:api_key',
    authorization_details: JSON.stringify([{ type: 'toolplane_delegation', calls }]),
  });
  const res = await fetch(`${stack.edgeUrl}/oauth/token-exchange`, { method: 'POST', body: form });
  const body = (await res.json()) as { access_token: string; authorization_details: { token_id: string }[] };
  expect(res.status).toBe(200);
  return { id: body.authorization_details[0]!.token_id, bearer: body.access_token };
}

async function client(url: string, bearer: string): Promise<Client> {
  const c = new Client({ name: 'inner-paths', version: '1.0.0' });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${bearer}` } },
    }),
  );
  opened.push(c);
  return c;
}

const textOf = (r: { content?: unknown }) =>
  ((r.content ?? []) as { text?: string }[]).map((c) => c.text ?? '').join('\n');
const ticketReads = () => upstream.requests.filter((r) => r.method === 'GET' && r.path.includes('TCK-1')).length;
const spentOf = async (tokenId: string) => Number(await redis.get(`${stack.redisPrefix}:delegation:calls:${tokenId}`));

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  gate = new Gate(upstream.url);
  await gate.start();
  ({ stack, api } = await startTestStack('inner-paths'));
  redis = new Redis(stack.redisUrl);
  const { instanceId } = await registerTicketExample(api, gate.url, 'k', 'inner-tickets');
  // The server the workflows' steps call.
  await unwrap(
    api.POST('/mcp_manager', {
      body: { name: 'inner-normal', mode: 'NORMAL', connectorInstanceId: instanceId } as never,
    }),
  );
  const smart = await unwrap(
    api.POST('/mcp_manager', {
      body: { name: 'inner-smart', mode: 'SMART', connectorInstanceId: instanceId } as never,
    }),
  );
  smartUrl = smart.url;
  const flows = await unwrap(api.POST('/mcp_manager', { body: { name: 'inner-flows', mode: 'NORMAL' } }));
  flowsUrl = flows.url;
  const step = (id: string) =>
    `      - id: ${id}\n        request: { method: POST, url: "toolplane:mcp_servers/inner-normal/tools/${TOOL}", ` +
    `body: ${JSON.stringify(ARGS)} }\n        outputs: { body: $response.body }\n`;
  const definition =
    'flower: "0.1"\nid: three_reads\nflows:\n  - id: three_reads\n    steps:\n' +
    step('first') +
    step('second') +
    step('third') +
    '    outputs: { ticket: $steps.third.outputs.body }\n';
  const deployed = await api.POST('/mcp_servers/{id}/deploy', {
    params: { path: { id: flows.id } },
    body: { definition },
  });
  expect(deployed.response.status).toBe(201);
  // The same workflow on a server whose calls of it wait for another key's approval.
  const approverKey = await unwrap(api.POST('/api_keys', { body: { name: 'inner-approver', scopes: ['management'] } }));
  approver = createManagementClient(stack.controlPlaneUrl, approverKey.key);
  const held = await unwrap(api.POST('/mcp_manager', { body: { name: 'inner-held', mode: 'NORMAL' } }));
  heldUrl = held.url;
  heldId = held.id;
  const heldDeploy = await api.POST('/mcp_servers/{id}/deploy', {
    params: { path: { id: held.id } },
    body: { definition },
  });
  expect(heldDeploy.response.status).toBe(201);
  await unwrap(
    api.PATCH('/mcp_manager/{id}', {
      params: { path: { id: held.id } },
      body: { approvalTools: ['three_reads'], approvalRule: { approvers: { apiKeys: [approverKey.id] } } } as never,
    }),
  );
  key = (await unwrap(api.POST('/api_keys', { body: { name: 'inner-caller', scopes: ['runtime'] } }))).key;
}, 300_000);

afterAll(async () => {
  for (const c of opened) await c.close().catch(() => undefined);
  redis?.disconnect();
  await stack?.stop();
  await gate?.close();
  await upstream?.close();
});

describe('a narrowed token’s calls, spent by the calls it makes through others', () => {
  it('a run_code program’s inner calls spend them; the one past the limit is refused and sends nothing', async () => {
    const token = await narrowed(3);
    const c = await client(smartUrl, token.bearer);
    const before = ticketReads();
    const code =
      'const out = [];\nfor (let i = 0; i < 4; i++) {\n' +
      `  try { await tools[${JSON.stringify(TOOL)}](${JSON.stringify(ARGS)}); out.push('ran'); }\n` +
      '  catch (e) { out.push(e.message); }\n}\nreturn out;';
    const r = await c.callTool({ name: 'run_code', arguments: { code } });
    expect(r.isError).toBeFalsy();
    const out = (r.structuredContent as { result: string[] }).result;
    const ran = out.filter((o) => o === 'ran').length;
    // Whatever the program's own call costs, the limit holds across it and its inner calls.
    expect(ran).toBeGreaterThan(0);
    expect(out.slice(ran)).toEqual(out.slice(ran).map(() => expect.stringMatching(/has no calls left/)));
    expect(out.slice(ran).length).toBeGreaterThan(0);
    expect(ticketReads() - before).toBe(ran);
    expect(await spentOf(token.id)).toBe(3);
  }, 120_000);

  it('a workflow’s steps spend them; the step past the limit is refused and sends nothing', async () => {
    // The workflow's own call is one; its first step another: the second step finds none left.
    const token = await narrowed(2);
    const c = await client(flowsUrl, token.bearer);
    const before = ticketReads();
    const r = await c.callTool({ name: 'three_reads', arguments: {} });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/has no calls left/);
    expect(ticketReads() - before).toBe(1);
    expect(await spentOf(token.id)).toBe(2);
  }, 120_000);

  it('a held task’s workflow is judged again at job start: access lost while it waited refuses it, no step runs', async () => {
    const caller = await unwrap(api.POST('/api_keys', { body: { name: 'inner-held-caller', scopes: ['runtime'] } }));
    const headers = { 'mcp-protocol-version': '2025-11-25', 'x-api-key': caller.key };
    const rpc = async (method: string, params: unknown) => {
      const text = (await (await postMcp(heldUrl, { jsonrpc: '2.0', id: 1, method, params }, headers)).text()).trim();
      const data = text.startsWith('{')
        ? text
        : text
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .at(-1)!
            .slice(6);
      return JSON.parse(data) as { result?: Record<string, unknown>; error?: { message: string } };
    };
    const created = await rpc('tools/call', { name: 'three_reads', arguments: {}, task: {} });
    const { taskId } = created.result!.task as { taskId: string };
    const status = () =>
      rpc('tasks/get', { taskId }).then((r) => r.result as { status: string; statusMessage?: string });
    const waiting = await waitFor('the task held for an approval', async () => {
      const t = await status();
      return t.statusMessage?.startsWith('Waiting for approval request') ? t : undefined;
    });
    const approvalId = /approval request ([0-9a-f-]{36})/.exec(waiting.statusMessage!)![1]!;
    await waitFor('the approval request in the control plane', async () => {
      const { data } = await api.GET('/approvals/{id}', { params: { path: { id: approvalId } } });
      return data;
    });
    // While it waits, a policy names the key for another tool of the server only: the workflow is no longer its.
    await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'inner-held-elsewhere',
          principals: [{ type: 'api_key', value: caller.id }],
          servers: [heldId],
          tools: ['another_workflow'],
        },
      }),
    );
    await waitFor('the policy at the edge (a new call refused)', async () => {
      const again = await rpc('tools/call', { name: 'three_reads', arguments: {} });
      return JSON.stringify(again).includes('Access denied') || undefined;
    });
    const before = ticketReads();
    await unwrap(approver.POST('/approvals/{id}/approve', { params: { path: { id: approvalId } }, body: {} }));
    const task = await waitFor('the task ended', async () => {
      const t = await status();
      return t.status === 'working' ? undefined : t;
    });
    expect(task.status).toBe('failed');
    expect(task.statusMessage).toContain("The task's call was not run");
    expect(ticketReads()).toBe(before);
  }, 120_000);

  it('a key deleted while its program and its workflow are mid-way: the next inner call and the next step are refused', async () => {
    const k = await unwrap(api.POST('/api_keys', { body: { name: 'inner-deleted', scopes: ['runtime'] } }));
    const viaKey = async (url: string) => {
      const c = new Client({ name: 'inner-paths-key', version: '1.0.0' });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': k.key } } }),
      );
      opened.push(c);
      return c;
    };
    const [programs, flows] = [await viaKey(smartUrl), await viaKey(flowsUrl)];
    const call = `await tools[${JSON.stringify(TOOL)}](${JSON.stringify(ARGS)})`;
    const code = `${call};\ntry { ${call}; return 'ran'; } catch (e) { return e.message; }`;
    gate.holding = true;
    const program = programs.callTool({ name: 'run_code', arguments: { code } });
    const flow = flows.callTool({ name: 'three_reads', arguments: {} });
    // The program's first inner call and the workflow's first step are at the upstream's door.
    await waitFor('the first inner call and the first step in flight', () => gate.heldCount === 2);
    const before = ticketReads();
    expect((await api.DELETE('/api_keys/{id}', { params: { path: { id: k.id } } })).response.status).toBe(204);
    await waitFor('the key gone at the edge', async () => {
      const r = await postMcp(
        smartUrl,
        { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
        { 'x-api-key': k.key },
      );
      return r.status === 401;
    });
    gate.holding = false;
    gate.release();
    const [ran, stepped] = await Promise.all([program, flow]);
    expect((ran.structuredContent as { result: string }).result).not.toBe('ran');
    expect(stepped.isError).toBe(true);
    // Only the two calls in flight when the key went reached the upstream.
    expect(ticketReads() - before).toBe(2);
  }, 120_000);
});
