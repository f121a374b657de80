import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/client';
import {
  resultFromTaskOutcome,
  type SerializedTaskReference,
  type TaskEnabledSession,
} from '@modelcontextprotocol/ext-tasks/client';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startRedisServer, type RedisHandle } from '@toolplane/embedded';
import { onOrderRequest, registerOrdersServer } from '../../fixtures/orders-api.ts';
import { stackRedis, startTestStack } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { legacyTaskSession, modernTaskSession } from '../../helpers/task-sessions.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

// Durable tasks (MCP Tasks extension, ADR 0040) on the real stack: two edges, one worker, and a Redis of this file's
// own (restarted empty by the last test). Clients are the SDK's Tasks client (@modelcontextprotocol/ext-tasks):
// 2025-11-25 (client-directed, `params.task`) over the SDK client, 2026-07-28 (server-directed) over raw dispatch.

/** The orders API, holding a request until the test releases its `ref`; it sees a request its caller aborted. */
class Upstream {
  readonly seen: { ref: string; method: string; aborted: boolean }[] = [];
  private readonly held = new Map<string, () => void>();
  private readonly server: Server = createServer((req, res) => this.onRequest(req, res));
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  count(ref: string): number {
    return this.seen.filter((s) => s.ref === ref).length;
  }

  has(ref: string): boolean {
    return this.held.has(ref);
  }

  release(ref: string): void {
    this.held.get(ref)?.();
    this.held.delete(ref);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    onOrderRequest(req, (ref) => {
      const entry = { ref, method: req.method!, aborted: false };
      this.seen.push(entry);
      res.once('close', () => (entry.aborted = !res.writableFinished));
      // `…big…` refs get an answer larger than the tasks' result bound (TASK_MAX_RESULT_BYTES below).
      const body = ref.includes('big') ? { ref, pad: 'x'.repeat(8192) } : { ref };
      const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      // `now-…` refs are answered at once; the others when the test releases them.
      if (ref.startsWith('now-')) answer();
      else this.held.set(ref, answer);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let redis: RedisHandle;
let upstream: Upstream;
let stack: Stack;
let api: ManagementClient;
/** The server's MCP path on each edge. */
let urls: string[];
let key: string;
/** The same tools on a public server (no key needed): its MCP path on each edge. */
let publicUrls: string[];
/** Another runtime key of the workspace. */
let otherKey: string;

beforeAll(async () => {
  redis = await startRedisServer();
  upstream = new Upstream();
  await upstream.start();
  ({ stack, api } = await startTestStack('tasks', {
    redisUrl: redis.url,
    edges: 2,
    logLevel: 'warn',
    serviceEnv: {
      // A plain call gives up after 2 s; a task's call may run for minutes.
      edge: {
        TASK_POLL_INTERVAL_MS: '100',
        TASK_IMMEDIATE_MS: '1000',
        TOOL_CALL_TIMEOUT_MS: '2000',
        TASK_TIMEOUT_MS: '300000',
      },
      // A killed worker's job is re-delivered within seconds; a task keeps at most 4 KiB of result.
      worker: { WORKER_LOCK_DURATION_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000', TASK_MAX_RESULT_BYTES: '4096' },
    },
  }));
  const server = await registerOrdersServer(api, {
    baseUrl: upstream.url,
    instanceName: 'orders',
    operations: ['createOrder', 'getOrder'],
  });
  const path = new URL(server.url).pathname;
  urls = stack.edgeUrls.map((edge) => `${edge}${path}`);
  key = stack.bootstrapKey;
  const openServer = await unwrap(
    api.POST('/mcp_manager', {
      body: { name: 'orders-open', mode: 'NORMAL', connectorInstanceId: server.connectorInstanceId!, isPublic: true },
    }),
  );
  publicUrls = stack.edgeUrls.map((edge) => `${edge}${new URL(openServer.url).pathname}`);
  otherKey = (await unwrap(api.POST('/api_keys', { body: { name: 'tasks-other', scopes: ['runtime'] } }))).key;
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
  await redis?.stop();
});

const open: { close(): Promise<void> }[] = [];
const clients = new Map<TaskEnabledSession, Client>();

/** The status each 2025-era `tasks/get` answered, by task id: what the Tasks client saw as it polled. */
const polls = new Map<string, string[]>();
function notePoll(request: unknown, answer: string): void {
  if (typeof request !== 'string' || !request.includes('"tasks/get"')) return;
  const { params } = JSON.parse(request) as { params: { taskId: string } };
  const status = (JSON.parse(answer) as { result?: { status?: string } }).result?.status;
  if (status) polls.set(params.taskId, [...(polls.get(params.taskId) ?? []), status]);
}

afterAll(async () => {
  for (const o of open) await o.close().catch(() => undefined);
});

/** A 2025-11-25 Tasks session over the SDK client on one edge (`headers`: its credential; none: anonymous). */
async function legacySession(url: string, headers: Record<string, string> = { 'x-api-key': key }) {
  const { session, client } = await legacyTaskSession(url, { headers, onAnswer: notePoll, opened: open });
  clients.set(session, client);
  return session;
}

/** A 2026-07-28 Tasks session: the SDK client for discovery, requests of the Tasks surface sent as they are framed. */
const modernSession = (url: string) => modernTaskSession(url, { headers: { 'x-api-key': key }, opened: open });

/** One 2025-11-25 request as it is framed, with `headers` (a key; none: anonymous): its JSON-RPC answer. */
async function rpc(url: string, method: string, params: Record<string, unknown>, headers: Record<string, string>) {
  const body = { jsonrpc: '2.0', id: 1, method, params };
  const res = await postMcp(url, body, { 'mcp-protocol-version': '2025-11-25', ...headers });
  return (await res.json()) as { result?: { tasks?: { taskId: string }[] }; error?: { code: number; message: string } };
}

/** A task id of the same shape as `taskId` that was never given out (one random character changed). */
const madeUp = (taskId: string) => `${taskId.slice(0, -20)}${taskId.at(-20) === 'A' ? 'B' : 'A'}${taskId.slice(-19)}`;

const held = (ref: string) => waitFor(`the upstream holds ${ref}`, () => upstream.has(ref));

/** A workflow of two steps on the orders connector: a lookup, then a confirmation naming what the lookup found. */
const fulfilOrder = `
arazzo: 1.0.1
info: { title: Fulfilment, version: 1.0.0 }
sourceDescriptions:
  - { name: orders, url: "toolplane:connectors/orders", type: openapi }
workflows:
  - workflowId: fulfil_order
    summary: Look an order up, then confirm it
    inputs: { type: object, properties: { ref: { type: string } }, required: [ref] }
    steps:
      - stepId: lookup
        operationId: getOrder
        parameters: [{ name: ref, in: path, value: $inputs.ref }]
        successCriteria: [{ condition: $statusCode == 200 }]
        outputs: { found: $response.body#/ref }
      - stepId: confirm
        operationId: createOrder
        requestBody: { payload: { ref: "{$steps.lookup.outputs.found}-confirmed" } }
        successCriteria: [{ condition: $statusCode == 200 }]
        outputs: { confirmed: $response.body#/ref }
    outputs: { found: $steps.lookup.outputs.found, confirmed: $steps.confirm.outputs.confirmed }
`;

describe('durable tasks', () => {
  it("2025-11-25: a task is returned at once, listed, and completes with the call's result", async () => {
    const session = await legacySession(urls[0]!);
    const execution = await session.callTool('get_order', { ref: 'a1' }, { task: { preference: 'require' } });
    expect(execution.kind).toBe('task');
    await held('a1');
    const { tasks } = await session.listTasks();
    expect(tasks.find((t) => t.taskId === execution.handle!.taskId)?.status).toBe('working');
    upstream.release('a1');
    const { outcome } = await execution.settle();
    const result = resultFromTaskOutcome(outcome) as { content: { text: string }[] };
    expect(result.content[0]!.text).toContain('a1');
  });

  it('2026-07-28: a call that does not answer at once becomes a task; a quick one is a plain result', async () => {
    const session = await modernSession(urls[0]!);
    const quick = await session.callTool('get_order', { ref: 'now-b0' });
    expect(quick.kind).toBe('immediate');
    const slow = await session.callTool('get_order', { ref: 'b1' });
    expect(slow.kind).toBe('task');
    await held('b1');
    // Another edge answers from the shared record.
    const other = await modernSession(urls[1]!);
    expect((await other.task(slow.handle!.taskId).snapshot()).status).toBe('working');
    upstream.release('b1');
    const { outcome } = await slow.settle();
    expect(JSON.stringify(resultFromTaskOutcome(outcome))).toContain('b1');
  });

  it('the client disconnects and comes back: the task ran on, its result is kept', async () => {
    const first = await legacySession(urls[0]!);
    const execution = await first.callTool('get_order', { ref: 'c1' }, { task: { preference: 'require' } });
    let reference: SerializedTaskReference | undefined;
    // Handed off (a session that closes owning it would cancel it), then the client's connection goes away.
    if (execution.kind === 'task') await execution.handoff((r) => void (reference = r));
    await clients.get(first)!.close();
    await held('c1');
    upstream.release('c1');
    const again = await legacySession(urls[1]!);
    const resumed = await again.resumeTask(reference!);
    expect(JSON.stringify(resultFromTaskOutcome((await resumed.settle()).outcome))).toContain('c1');
  });

  it('cancel aborts the upstream request; the task reads cancelled', async () => {
    const session = await modernSession(urls[0]!);
    const execution = await session.callTool('create_order', { ref: 'd1' });
    await held('d1');
    await execution.cancel();
    await waitFor('the upstream sees the abort', () => upstream.seen.find((s) => s.ref === 'd1')?.aborted);
    expect((await session.task(execution.handle!.taskId).snapshot()).status).toBe('cancelled');
    expect(upstream.count('d1')).toBe(1);
  });

  it('a workflow whose steps outlast the call timeout runs as a task: polled while working, its outputs kept', async () => {
    const server = await unwrap(api.POST('/mcp_manager', { body: { name: 'fulfilment', mode: 'NORMAL' } }));
    await unwrap(
      api.POST('/mcp_servers/{id}/deploy', { params: { path: { id: server.id } }, body: { definition: fulfilOrder } }),
    );
    // On the edge that stays up (a later test stops the first).
    const flowUrl = `${stack.edgeUrls[1]!}${new URL(server.url).pathname}`;
    const session = await legacySession(flowUrl);
    await waitFor('the workflow tool is listed', async () =>
      (await clients.get(session)!.listTools()).tools.some((t) => t.name === 'fulfil_order'),
    );
    const execution = await session.callTool('fulfil_order', { ref: 'w1' }, { task: { preference: 'require' } });
    expect(execution.kind).toBe('task');
    const taskId = execution.handle!.taskId;
    const settled = execution.settle();
    await held('w1');
    // The clock: a plain call started now gives up at the call timeout; the task's first step is still held then.
    const plain = clients.get(await legacySession(urls[1]!))!;
    const timedOut = await plain.callTool({ name: 'get_order', arguments: { ref: 'clock-w1' } });
    // The worker stops the call at its deadline (or the edge at the timeout, whichever answers first).
    expect(timedOut.isError).toBe(true);
    expect(JSON.stringify(timedOut.content)).toMatch(/did not answer within \d+ ms|No answer within the call timeout/);
    expect((await session.task(taskId).snapshot()).status).toBe('working');
    upstream.release('w1');
    await held('w1-confirmed');
    upstream.release('w1-confirmed');
    const { outcome } = await settled;
    const result = resultFromTaskOutcome(outcome) as { structuredContent?: unknown };
    expect(result.structuredContent).toEqual({ found: 'w1', confirmed: 'w1-confirmed' });
    // The client polled tasks/get while the task was working, until it completed.
    expect(polls.get(taskId)!.filter((s) => s === 'working').length).toBeGreaterThan(2);
    expect(polls.get(taskId)!.at(-1)).toBe('completed');
    expect(upstream.count('w1') + upstream.count('w1-confirmed')).toBe(2);
    // The execution record shows every step.
    const { data } = await waitFor('the workflow call is recorded', async () => {
      const page = await unwrap(api.GET('/execution_records', { params: { query: { server_id: server.id } } }));
      return page.data.length > 0 && page;
    });
    const record = await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: data[0]!.id } } }));
    expect(record).toMatchObject({ tool: 'fulfil_order', outcome: 'success' });
    expect((record.steps as { name: string; status: number }[]).map((s) => [s.name, s.status])).toEqual([
      ['fulfil_order/lookup', 200],
      ['fulfil_order/confirm', 200],
    ]);
  }, 30_000);

  it('a result larger than the bound is not kept: the task fails saying so; a plain call still gets it', async () => {
    const session = await legacySession(urls[1]!);
    const execution = await session.callTool('get_order', { ref: 'now-big-1' }, { task: { preference: 'require' } });
    const { outcome } = await execution.settle();
    expect(outcome.status).toBe('failed');
    const message = outcome.status === 'failed' ? outcome.task?.statusMessage : undefined;
    expect(message).toMatch(/result \(\d+ bytes\) was too large to keep: tasks keep at most 4096 bytes/);
    expect(message).toContain('raise TASK_MAX_RESULT_BYTES');
    const plain = await clients.get(session)!.callTool({ name: 'get_order', arguments: { ref: 'now-big-2' } });
    expect(JSON.stringify(plain.content)).toContain('x'.repeat(8192));
  });

  it("another key's task is an unknown task, exactly as one that never existed; it runs on to its result", async () => {
    const session = await legacySession(urls[0]!);
    const execution = await session.callTool('get_order', { ref: 'k1' }, { task: { preference: 'require' } });
    const taskId = execution.handle!.taskId;
    await held('k1');
    const other = { 'x-api-key': otherKey };
    for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel']) {
      expect(await rpc(urls[1]!, method, { taskId }, other)).toMatchObject({
        error: { code: -32602, message: `Unknown task: ${taskId}` },
      });
      expect(await rpc(urls[1]!, method, { taskId: madeUp(taskId) }, other)).toMatchObject({
        error: { code: -32602, message: `Unknown task: ${madeUp(taskId)}` },
      });
    }
    // Its own caller's task ran on, not cancelled, to its result (sent once).
    expect((await session.task(taskId).snapshot()).status).toBe('working');
    upstream.release('k1');
    expect(JSON.stringify(resultFromTaskOutcome((await execution.settle()).outcome))).toContain('k1');
    expect(upstream.count('k1')).toBe(1);
  });

  it("anonymous callers of a public server: a task is reached by its id alone, never listed, never another's", async () => {
    const creator = await legacySession(publicUrls[0]!, {});
    const execution = await creator.callTool('get_order', { ref: 'p1' }, { task: { preference: 'require' } });
    const taskId = execution.handle!.taskId;
    await held('p1');
    // Another anonymous caller, on either edge: no list, and an id it makes up is unknown.
    for (const url of publicUrls) {
      expect((await rpc(url, 'tasks/list', {}, {})).result).toEqual({ tasks: [] });
      expect(await rpc(url, 'tasks/get', { taskId: madeUp(taskId) }, {})).toMatchObject({
        error: { code: -32602, message: `Unknown task: ${madeUp(taskId)}` },
      });
    }
    // A key caller of the same server neither lists nor reads it.
    const keyed = { 'x-api-key': key };
    expect((await rpc(publicUrls[1]!, 'tasks/list', {}, keyed)).result!.tasks!.map((t) => t.taskId)).not.toContain(
      taskId,
    );
    expect((await rpc(publicUrls[1]!, 'tasks/get', { taskId }, keyed)).error?.code).toBe(-32602);
    // Its creator holds the id: it polls the task to its result.
    expect((await rpc(publicUrls[1]!, 'tasks/get', { taskId }, {})).result).toMatchObject({ status: 'working' });
    upstream.release('p1');
    expect(JSON.stringify(resultFromTaskOutcome((await execution.settle()).outcome))).toContain('p1');
  });

  it('2025-11-25: a tasks/result that waits is a stream: the status change as notifications/tasks/status, then the result', async () => {
    const call = { name: 'get_order', arguments: { ref: 'n1' }, task: {} };
    const created = await rpc(urls[0]!, 'tools/call', call, { 'x-api-key': key });
    const { taskId } = (created.result as unknown as { task: { taskId: string } }).task;
    await held('n1');
    const request = { jsonrpc: '2.0', id: 7, method: 'tasks/result', params: { taskId } };
    // The answer's headers come once the edge has read the task working: the stream is open before the change.
    const res = await postMcp(urls[1]!, request, { 'mcp-protocol-version': '2025-11-25', 'x-api-key': key });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    upstream.release('n1');
    const events = (await res.text())
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)) as { method?: string; id?: number; params?: unknown; result?: unknown });
    expect(events.map((e) => e.method ?? e.id)).toEqual(['notifications/tasks/status', 7]);
    expect(events[0]!.params).toMatchObject({
      taskId,
      status: 'completed',
      ttl: expect.any(Number),
      pollInterval: 100,
    });
    expect(JSON.stringify(events[1]!.result)).toContain('n1');
  });

  it('a key revoked while its task waits to start: the task fails saying so, its call is never sent', async () => {
    const revocable = await unwrap(api.POST('/api_keys', { body: { name: 'tasks-revoked', scopes: ['runtime'] } }));
    // No worker: the task's job waits in the queue.
    await stack.stopProcess(stack.processes.find((p) => p.service === 'worker')!);
    const call = { name: 'get_order', arguments: { ref: 'now-r1' }, task: {} };
    const created = await rpc(urls[1]!, 'tools/call', call, { 'x-api-key': revocable.key });
    const { taskId } = (created.result as unknown as { task: { taskId: string } }).task;
    await unwrap(api.DELETE('/api_keys/{id}', { params: { path: { id: revocable.id } } }));
    await stack.addWorker();
    const records = stackRedis(stack);
    try {
      await records.connect();
      const task = await waitFor('the task fails', async () => {
        const t = await records.hgetall(`${stack.redisPrefix}:task:${taskId}`);
        return t.status === 'failed' && t;
      });
      expect(task.statusMessage).toBe("The task's call was not run: the API key that created it was revoked.");
    } finally {
      records.disconnect();
    }
    expect(upstream.count('now-r1')).toBe(0);
  }, 60_000);

  it('an edge stops with a task pending: the other edge answers it, completed', async () => {
    const session = await legacySession(urls[0]!);
    const execution = await session.callTool('get_order', { ref: 'e1' }, { task: { preference: 'require' } });
    const taskId = execution.handle!.taskId;
    await held('e1');
    await stack.stopProcess(stack.processes.find((p) => p.service === 'edge' && urls[0]!.startsWith(p.url!))!);
    upstream.release('e1');
    const other = await legacySession(urls[1]!);
    const outcome = await other.task(taskId).result();
    expect(JSON.stringify(resultFromTaskOutcome(outcome))).toContain('e1');
  });

  it('a worker killed mid-task on a non-idempotent call: failed, outcome unknown, sent once', async () => {
    const session = await legacySession(urls[1]!);
    const execution = await session.callTool('create_order', { ref: 'f1' }, { task: { preference: 'require' } });
    await held('f1');
    const worker = stack.processes.find((p) => p.service === 'worker')!;
    const exited = new Promise((resolve) => worker.child.once('exit', resolve));
    worker.child.kill('SIGKILL');
    await exited;
    stack.processes.splice(stack.processes.indexOf(worker), 1);
    await stack.addWorker();
    const task = await waitFor('the task fails', async () => {
      const t = await session.task(execution.handle!.taskId).snapshot();
      return t.status === 'failed' && t;
    });
    expect(task.statusMessage).toMatch(/outcome of invocation .* is unknown/);
    expect(upstream.count('f1')).toBe(1);
  }, 60_000);

  it('Redis restarted without its data with a task pending: the task reads failed, state lost; nothing runs twice', async () => {
    const session = await legacySession(urls[1]!);
    const execution = await session.callTool('create_order', { ref: 'g1' }, { task: { preference: 'require' } });
    await held('g1');
    const exited = new Promise((resolve) => redis.process.once('exit', resolve));
    redis.process.kill('SIGKILL');
    await exited;
    redis = await startRedisServer({ port: redis.port });
    upstream.release('g1');
    // The edges fail closed until the control plane has published the state again; then the task reads failed.
    const task = await waitFor(
      'the lost task reads failed',
      async () => {
        const t = await session.task(execution.handle!.taskId).snapshot();
        return t.status === 'failed' && t;
      },
      scaled(60_000),
    );
    expect(task.statusMessage).toMatch(/state was lost/);
    expect(upstream.count('g1')).toBe(1);
  }, 90_000);
});
