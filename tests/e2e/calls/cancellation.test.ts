import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { postMcp } from '../../helpers/mcp.ts';
import { quotaMeta, type ToolResult } from '../../helpers/quotas.ts';
import { stackRedis, startTestStack, yamlBody } from '../../helpers/stack.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

// A caller that goes away (cancels or disconnects) stops the upstream call in the worker; a call under a quota on
// calls in flight runs to the upstream's answer instead, and keeps its slot until then (ADR 0048), however
// the caller went away: the upstream never works on more calls than the quota allows.
let stack: Stack;
let api: ManagementClient;
let upstream: Server;
let mcpUrl: string;
let serverId: string;
const events: string[] = [];
/**
 * Requests open at the upstream now (until answered or closed by the worker), and the most at once; requests the
 * upstream works on (five seconds each, whether or not the worker closed the connection meanwhile: an API does not
 * stop its work when its client goes away), and the most at once.
 */
const load = { open: 0, maxOpen: 0, working: 0, maxWorking: 0 };
/** Who waits for the upstream's next request. */
const starts: (() => void)[] = [];

const descriptor = (url: string) => `
metadata: { name: Slow, slug: slow, version: "1.0.0" }
operations:
  - operation_id: slow
    endpoint: "${url}/slow"
    method: GET
    parameters: []
  - operation_id: fast
    endpoint: "${url}/fast"
    method: GET
    parameters: []
mcp_config:
  enabled: true
  server_name: slow
  server_description: Slow
  route_mappings:
    - { operation_id: slow, mcp_tool_name: slow, mcp_tool_description: "Takes five seconds" }
    - { operation_id: fast, mcp_tool_name: fast, mcp_tool_description: "Answers at once" }
`;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    if (req.url === '/fast') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    load.open++;
    load.maxOpen = Math.max(load.maxOpen, load.open);
    load.working++;
    load.maxWorking = Math.max(load.maxWorking, load.working);
    const began = Date.now();
    for (const started of starts.splice(0)) started();
    res.on('close', () => load.open--);
    events.push('started');
    const timer = setTimeout(() => {
      load.working--;
      events.push('completed');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"done":true}');
    }, 5000);
    res.on('close', () => {
      if (!res.writableEnded) {
        clearTimeout(timer);
        events.push('aborted');
        // The work goes on to its end: the request was received.
        setTimeout(() => load.working--, Math.max(0, 5000 - (Date.now() - began)));
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  ({ stack, api } = await startTestStack('cancel'));
  const connector = await unwrap(api.POST('/connectors', yamlBody(descriptor(url))));
  const instance = await unwrap(
    api.POST('/connector_instances', { body: { createServer: false, connector_id: connector.id, name: 'slow' } }),
  );
  const server = await unwrap(
    api.POST('/mcp_manager', { body: { name: 'slow', mode: 'NORMAL', connectorInstanceId: instance.id } }),
  );
  ({ url: mcpUrl, id: serverId } = server);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

const upstreamStarted = () =>
  waitFor('the upstream request to start', () => events.includes('started') || undefined, scaled(15_000));
/** Waits until the upstream request ended, aborted or (after five seconds) completed. */
const upstreamEnded = () =>
  waitFor(
    'the upstream request to end',
    () => events.includes('aborted') || events.includes('completed') || undefined,
    scaled(15_000),
  );

describe('cancellation', () => {
  it('aborts the upstream request when a 2025-era caller disconnects', async () => {
    events.length = 0;
    const controller = new AbortController();
    const call = fetch(mcpUrl, {
      method: 'POST',
      signal: controller.signal,
      headers: {
        'x-api-key': stack.bootstrapKey,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow', arguments: {} } }),
    });
    await upstreamStarted();
    controller.abort();
    await expect(call).rejects.toThrow();
    await upstreamEnded();
    expect(events).toEqual(['started', 'aborted']);
  }, 20_000);

  it('aborts the upstream request when a 2026-07-28 client cancels the call', async () => {
    events.length = 0;
    const client = new Client({ name: 'cancel', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(mcpUrl), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    const controller = new AbortController();
    const call = client.callTool({ name: 'slow', arguments: {} }, { signal: controller.signal });
    await upstreamStarted();
    controller.abort();
    await expect(call).rejects.toThrow();
    await upstreamEnded();
    expect(events).toEqual(['started', 'aborted']);
    await client.close();
  }, 20_000);
});

/** A 2025-11-25 `tools/call` of `slow` over plain HTTP (`params` added), which `signal` may abort. */
function slowCall(signal?: AbortSignal, params: Record<string, unknown> = {}): Promise<Response> {
  return fetch(mcpUrl, {
    method: 'POST',
    ...(signal ? { signal } : {}),
    headers: {
      'x-api-key': stack.bootstrapKey,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'slow', arguments: {}, ...params },
    }),
  });
}

/** Resolves when the upstream starts its next request. */
const nextStart = () => new Promise<true>((resolve) => starts.push(() => resolve(true)));

/** One call of `slow` under way: whether it reached the upstream (false: refused by the quota), and how to cancel it. */
interface Started {
  reached: Promise<boolean>;
  cancel: () => Promise<void>;
}

/** Starts calls with `start` until one reaches the upstream (the quota refuses them while its slot is taken), then cancels it. */
async function admittedThenCancelled(start: () => Started): Promise<void> {
  await waitFor('a call admitted by the quota', async () => {
    const call = start();
    if (!(await call.reached)) return undefined;
    await call.cancel();
    return true;
  });
}

/** A call that ends without reaching the upstream was refused. */
const reachedOrEnded = (ended: Promise<unknown>) =>
  Promise.race([nextStart(), ended.then(() => false).catch(() => false)]);

describe('a quota on calls in flight', () => {
  it('keeps its slot until the upstream answered, however the caller went away: the upstream never works on two', async () => {
    await unwrap(
      api.POST('/quotas', {
        body: { name: 'one-at-a-time', match: { servers: [serverId], tools: ['slow'] }, counts: 'in_flight', limit: 1 },
      }),
    );
    // A probe quota made after it tells when the edge has the workspace's quotas (published whole).
    await unwrap(
      api.POST('/quotas', {
        body: { name: 'probe', match: { tools: ['fast'] }, counts: 'calls', limit: 0, window: 'minute' },
      }),
    );
    const headers = { 'x-api-key': stack.bootstrapKey, 'mcp-protocol-version': '2025-11-25' };
    await waitFor('the quotas on the edge', async () => {
      const r = await postMcp(
        mcpUrl,
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'fast' } },
        headers,
      );
      return (await r.text()).includes('probe') || undefined;
    });
    const taskStatus = async (taskId: string) => {
      const r = await postMcp(mcpUrl, { jsonrpc: '2.0', id: 3, method: 'tasks/get', params: { taskId } }, headers);
      return /"status":"([a-z_]+)"/.exec(await r.text())?.[1];
    };
    // The calls the tests above aborted: their upstream work goes on for its five seconds.
    await waitFor('the upstream work of earlier calls over', () => load.working === 0 || undefined, scaled(15_000));
    load.maxOpen = 0;
    load.maxWorking = 0;
    const client = new Client({ name: 'cancel-in-flight', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(mcpUrl), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    try {
      for (let round = 0; round < 3; round++) {
        // The caller aborts its HTTP request.
        await admittedThenCancelled(() => {
          const controller = new AbortController();
          const reached = reachedOrEnded(slowCall(controller.signal).then((r) => r.text()));
          return { reached, cancel: async () => void controller.abort() };
        });
        // The caller sends notifications/cancelled (the SDK client's abort, 2025-era).
        await admittedThenCancelled(() => {
          const controller = new AbortController();
          const reached = reachedOrEnded(
            client.callTool({ name: 'slow', arguments: {} }, { signal: controller.signal }),
          );
          return { reached, cancel: async () => void controller.abort() };
        });
        // The caller cancels its task (a refused call's task fails at once).
        await admittedThenCancelled(() => {
          const started = nextStart();
          const created = slowCall(undefined, { task: {} }).then(
            async (r) => /"taskId":"([^"]+)"/.exec(await r.text())![1]!,
          );
          const ended = created.then((taskId) =>
            waitFor(
              'the task to end',
              async () => ((await taskStatus(taskId)) === 'working' ? undefined : true),
              scaled(15_000),
            ),
          );
          const reached = Promise.race([started, ended.then(() => false)]);
          const cancel = async () => {
            const params = { taskId: await created };
            await postMcp(mcpUrl, { jsonrpc: '2.0', id: 2, method: 'tasks/cancel', params }, headers);
          };
          return { reached, cancel };
        });
      }
      await waitFor('every upstream request over', () => load.open + load.working === 0 || undefined, scaled(30_000));
      expect(load.maxOpen).toBe(1);
      expect(load.maxWorking).toBe(1);
      // A worker slow to stop its call (stopped here) keeps the slot: the next call is refused meanwhile, never
      // queued behind a request still open at the upstream.
      const worker = stack.processes.find((p) => p.service === 'worker')!.child.pid!;
      const controller = new AbortController();
      await admittedThenCancelled(() => ({
        reached: reachedOrEnded(slowCall(controller.signal).then((r) => r.text())),
        cancel: async () => void process.kill(worker, 'SIGSTOP'),
      }));
      let next: ToolResult | undefined;
      const redis = stackRedis(stack);
      try {
        controller.abort();
        const call = client.callTool({ name: 'slow', arguments: {} }) as Promise<ToolResult>;
        void call.then(
          (r) => (next = r),
          () => undefined,
        );
        await waitFor('the next call answered or queued', async () => {
          if (next) return true;
          return (await redis.llen(`${stack.redisPrefix}:tool-invocations:wait`)) > 0 || undefined;
        });
      } finally {
        process.kill(worker, 'SIGCONT');
        redis.disconnect();
      }
      expect(quotaMeta(next ?? { content: [] })?.quota).toBe('one-at-a-time');
      await waitFor('every upstream request over', () => load.open + load.working === 0 || undefined, scaled(30_000));
      expect(load.maxOpen).toBe(1);
      expect(load.maxWorking).toBe(1);
    } finally {
      await client.close();
    }
  }, 180_000);
});
