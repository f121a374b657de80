import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { resultFromTaskOutcome, type TaskEnabledSession } from '@modelcontextprotocol/ext-tasks/client';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTestStack } from '../../helpers/stack.ts';
import { legacyTaskSession, modernTaskSession } from '../../helpers/task-sessions.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * A call someone else approves, made as a task (ADR 0049), on one stack of two edges with the SDK's Tasks client in
 * both eras: the task waits (`working`, its status naming the request and its approvers) while its job is held in the
 * queue; nothing reaches the upstream until an approver decides through the API. Approved: the upstream receives
 * exactly one request with the approved arguments and the task completes with its result, even when the edge that
 * made it and the worker were killed and the control plane restarted meanwhile. Denied or expired: the task fails, nothing was sent.
 */

const ERAS = ['2025-11-25', '2026-07-28'] as const;
type Era = (typeof ERAS)[number];

let stack: Stack;
let api: ManagementClient;
let upstream: Server;
/** What reached the upstream: each request's method and URL. */
const received: string[] = [];
/** Each server's MCP path, and its id. */
const paths: Record<'orders' | 'brief', string> = { orders: '', brief: '' };
const serverIds: Record<'orders' | 'brief', string> = { orders: '', brief: '' };
let approver: ManagementClient;
const opened: { close(): Promise<void> }[] = [];

const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'Orders', version: '1.0.0' },
  paths: {
    '/orders/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      delete: {
        operationId: 'delete_order',
        responses: { '200': { description: 'Deleted', content: { 'application/json': {} } } },
      },
    },
  },
};

beforeAll(async () => {
  upstream = createServer((req, res) => {
    received.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ deleted: req.url }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  ({ stack, api } = await startTestStack('approvals-tasks', {
    edges: 2,
    logLevel: 'warn',
    serviceEnv: { edge: { TASK_POLL_INTERVAL_MS: '100', TASK_IMMEDIATE_MS: '300' } },
  }));
  const key = await unwrap(api.POST('/api_keys', { body: { name: 'approver', scopes: ['management'] } }));
  approver = createManagementClient(stack.controlPlaneUrl, key.key);
  const connector = await unwrap(api.POST('/connectors', { body: openApiDocument as never }));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: connector.id, name: 'orders', base_url: url, credentials: {} },
    }),
  );
  const make = async (name: string, expiresInSeconds?: number) => {
    const rule = { approvers: { apiKeys: [key.id] }, ...(expiresInSeconds ? { expiresInSeconds } : {}) };
    const body = { name, mode: 'NORMAL', connectorInstanceId: instance.id, approvalTools: ['delete_order'] };
    const server = await unwrap(api.POST('/mcp_manager', { body: { ...body, approvalRule: rule } as never }));
    return { path: new URL(server.url).pathname, id: server.id };
  };
  ({ path: paths.orders, id: serverIds.orders } = await make('orders'));
  ({ path: paths.brief, id: serverIds.brief } = await make('orders-brief', 3));
}, 120_000);

afterAll(async () => {
  for (const o of opened) await o.close().catch(() => undefined);
  await stack?.stop();
  await new Promise((r) => upstream?.close(r));
});

const headers = (key = stack.bootstrapKey) => ({ 'x-api-key': key });

/** A Tasks session of `era` on edge `edge` (0 or 1) for the server (with the bootstrap key unless `key`). */
async function session(era: Era, server: keyof typeof paths, edge = 0, key?: string): Promise<TaskEnabledSession> {
  const url = `${stack.edgeUrls[edge]!}${paths[server]}`;
  if (era === '2026-07-28') return modernTaskSession(url, { headers: headers(key), opened });
  return (await legacyTaskSession(url, { headers: headers(key), opened })).session;
}

/** delete_order(`id`) as a task: its id, once it says which approval request it waits for (and that request's id). */
async function heldTask(s: TaskEnabledSession, era: Era, id: string) {
  const execution = await s.callTool(
    'delete_order',
    { id },
    era === '2025-11-25' ? { task: { preference: 'require' } } : undefined,
  );
  expect(execution.kind).toBe('task');
  const taskId = execution.handle!.taskId;
  const waiting = await waitFor(`task ${taskId} waiting for an approval`, async () => {
    const t = await s.task(taskId).snapshot();
    return t.status === 'working' && t.statusMessage?.startsWith('Waiting for approval request') ? t : undefined;
  });
  const approvalId = /approval request ([0-9a-f-]{36})/.exec(waiting.statusMessage!)![1]!;
  expect(waiting.statusMessage).toContain('the call runs once approved');
  // The control plane has the request (from the edge's event) before an approver can decide it.
  await waitFor(`approval request ${approvalId} in the control plane`, async () => {
    const { data } = await api.GET('/approvals/{id}', { params: { path: { id: approvalId } } });
    return data;
  });
  return { execution, taskId, approvalId };
}

const deleted = (id: string) => received.filter((r) => r === `DELETE /orders/${id}`);

/** The task's final state, polled through the session (any edge answers from the shared record). */
const settled = (s: TaskEnabledSession, taskId: Parameters<TaskEnabledSession['task']>[0]) =>
  waitFor(`task ${taskId} ended`, async () => {
    const t = await s.task(taskId).snapshot();
    return t.status === 'working' ? undefined : t;
  });

describe.each(ERAS)('a task needing approval (%s)', (era) => {
  it('waits with nothing sent; approved by another key, it runs exactly once and completes with the result', async () => {
    const s = await session(era, 'orders');
    const id = `task-ok-${era}`;
    const { execution, taskId, approvalId } = await heldTask(s, era, id);
    expect(deleted(id)).toEqual([]);
    // The same call again, while the task holds the request: told where it runs; nothing sent.
    const again = await (await s.callTool('delete_order', { id })).settle();
    expect(JSON.stringify(again.outcome)).toContain(`held by task ${taskId}`);
    const granted = await unwrap(
      approver.POST('/approvals/{id}/approve', { params: { path: { id: approvalId } }, body: {} }),
    );
    expect(granted.state).toBe('granted');
    const { outcome } = await execution.settle();
    expect(JSON.stringify(resultFromTaskOutcome(outcome))).toContain(`/orders/${id}`);
    expect(deleted(id)).toHaveLength(1);
    await waitFor('the request recorded as executed', async () => {
      const row = await unwrap(api.GET('/approvals/{id}', { params: { path: { id: approvalId } } }));
      return row.state === 'executed' ? row : undefined;
    });
    // Spent: approving it again is refused, and nothing more is sent.
    const replay = await approver.POST('/approvals/{id}/approve', { params: { path: { id: approvalId } }, body: {} });
    expect(replay.response.status).toBe(409);
    expect(deleted(id)).toHaveLength(1);
  });

  it('denied: the task fails with the comment, nothing sent; other arguments make a new request', async () => {
    const s = await session(era, 'orders');
    const id = `task-no-${era}`;
    const { taskId, approvalId } = await heldTask(s, era, id);
    const other = await heldTask(s, era, `${id}-other`);
    expect(other.approvalId).not.toBe(approvalId);
    await unwrap(
      approver.POST('/approvals/{id}/deny', { params: { path: { id: approvalId } }, body: { comment: 'not today' } }),
    );
    const task = await settled(s, taskId);
    expect(task.status).toBe('failed');
    expect(task.statusMessage).toContain(`Approval request ${approvalId} was denied: not today`);
    expect(deleted(id)).toEqual([]);
    // The other request is still waiting, its call not sent.
    expect((await s.task(other.taskId).snapshot()).status).toBe('working');
    expect(deleted(`${id}-other`)).toEqual([]);
  });
});

describe('a held task', () => {
  it('expires when nobody decides: failed, nothing sent; approving it then is refused', async () => {
    const s = await session('2025-11-25', 'brief');
    const { taskId, approvalId } = await heldTask(s, '2025-11-25', 'task-late');
    const task = await settled(s, taskId);
    expect(task.status).toBe('failed');
    expect(task.statusMessage).toContain(`Approval request ${approvalId} expired before anyone approved it`);
    const late = await approver.POST('/approvals/{id}/approve', { params: { path: { id: approvalId } }, body: {} });
    expect(late.response.status).toBe(409);
    expect(deleted('task-late')).toEqual([]);
    await waitFor('the request recorded as expired', async () => {
      const row = await unwrap(api.GET('/approvals/{id}', { params: { path: { id: approvalId } } }));
      return row.state === 'expired' ? row : undefined;
    });
  });

  it('is refused when approved after its caller lost the call (issue #89): failed, nothing sent, the refusal audited', async () => {
    const caller = await unwrap(api.POST('/api_keys', { body: { name: 'held-caller', scopes: ['runtime'] } }));
    const s = await session('2025-11-25', 'orders', 0, caller.key);
    const id = 'task-lost-access';
    const { taskId, approvalId } = await heldTask(s, '2025-11-25', id);
    // A policy now grants the key the tool under a condition these arguments fail.
    await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'held-caller-not-this-order',
          principals: [{ type: 'api_key', value: caller.id }],
          servers: [serverIds.orders],
          tools: ['delete_order'],
          condition: `args.id != "${id}"`,
        },
      }),
    );
    await waitFor('the policy at the edge (the same call refused)', async () => {
      const again = await (await s.callTool('delete_order', { id })).settle();
      return JSON.stringify(again.outcome).includes('Access denied') || undefined;
    });
    await unwrap(approver.POST('/approvals/{id}/approve', { params: { path: { id: approvalId } }, body: {} }));
    const task = await settled(s, taskId);
    expect(task.status).toBe('failed');
    expect(task.statusMessage).toContain("The task's call was not run");
    expect(task.statusMessage).toContain('access policy "held-caller-not-this-order"');
    expect(deleted(id)).toEqual([]);
    const event = await waitFor('the refusal in the audit trail', async () => {
      const { data } = await unwrap(
        api.GET('/audit_events', { params: { query: { action: 'tool.call_refused', outcome: 'refused' } } }),
      );
      return data.find((e) => (e.details as { task?: string } | null)?.task === taskId);
    });
    expect(event.details).toMatchObject({ refusedBy: 'access', tool: 'delete_order' });
  });

  it('runs once when approved after its edge and the worker were killed and the control plane restarted', async () => {
    const s = await session('2025-11-25', 'orders', 1);
    const { taskId, approvalId } = await heldTask(s, '2025-11-25', 'task-orphan');
    const edge = stack.processes.find((p) => p.service === 'edge' && stack.edgeUrls[1]!.startsWith(p.url!))!;
    for (const gone of [edge, stack.processes.find((p) => p.service === 'worker')!]) {
      const exited = new Promise((resolve) => gone.child.once('exit', resolve));
      gone.child.kill('SIGKILL');
      await exited;
      stack.processes.splice(stack.processes.indexOf(gone), 1);
    }
    await stack.addWorker();
    await stack.stopProcess(stack.processes.find((p) => p.service === 'control-plane')!);
    await stack.startControlPlane();
    await unwrap(approver.POST('/approvals/{id}/approve', { params: { path: { id: approvalId } }, body: {} }));
    const other = await session('2025-11-25', 'orders', 0);
    const outcome = await other.task(taskId).result();
    expect(JSON.stringify(resultFromTaskOutcome(outcome))).toContain('/orders/task-orphan');
    expect(deleted('task-orphan')).toHaveLength(1);
  });
});
