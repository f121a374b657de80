import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ServiceProcess, Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startRedisServer, type RedisHandle } from '@toolplane/embedded';
import { onOrderRequest, ordersDocument } from '../../fixtures/orders-api.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

// The fault tests' promises with thousands of calls in flight in one worker on its default settings: PER_TOOL
// idempotent GETs and PER_TOOL non-idempotent POSTs, every one of them held at the upstream when the fault
// strikes (each tool has an API of its own, so neither waits behind the other's per-origin connection limit).
// - The worker killed with SIGKILL: a replacement sends every GET once more and answers it; no POST is sent twice,
//   each answers "outcome unknown".
// - Redis killed with SIGKILL and started again empty: every caller gets a retryable error naming Redis within
//   seconds, nothing is sent twice, no process exits, and calls work again.
// worker-crash.test.ts and redis-faults.test.ts hold the same promises in detail with a few dozen calls.
const PER_TOOL = 1000;
const CALLS = 2 * PER_TOOL;
/** Only the deadlines are raised (a loaded machine); the worker's concurrency and connection limits are the defaults. */
const CALL_TIMEOUT_MS = 150_000;

/** An API holding every request while `holding`; counts the requests per `ref` and those their caller abandoned. */
class HoldingApi {
  holding = true;
  readonly sent = new Map<string, number>();
  /** Requests whose caller closed the connection before they were answered. */
  abandoned = 0;
  private readonly held: (() => void)[] = [];
  private readonly servers: Server[] = [];
  readonly urls: string[] = [];

  async start(ports: number): Promise<void> {
    for (let i = 0; i < ports; i++) {
      const server = createServer((req, res) => this.onRequest(req, res));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      this.servers.push(server);
      this.urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
  }

  get heldCount(): number {
    return this.held.length;
  }

  count(ref: string): number {
    return this.sent.get(ref) ?? 0;
  }

  get total(): number {
    let n = 0;
    for (const c of this.sent.values()) n += c;
    return n;
  }

  release(): void {
    this.holding = false;
    for (const go of this.held.splice(0)) go();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    onOrderRequest(req, (ref) => {
      this.sent.set(ref, this.count(ref) + 1);
      res.on('close', () => {
        if (!res.writableEnded) this.abandoned++;
      });
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ref, ok: true }));
      };
      if (this.holding) this.held.push(answer);
      else answer();
    });
  }

  async close(): Promise<void> {
    this.release();
    for (const server of this.servers) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}

let redis: RedisHandle;
let upstream: HoldingApi;
let stack: Stack;
let api: ManagementClient;
/** The MCP server of each tool (each on its own API origin). */
const serverUrls: Record<'getOrder' | 'createOrder', string> = { getOrder: '', createOrder: '' };

beforeAll(async () => {
  redis = await startRedisServer();
  upstream = new HoldingApi();
  await upstream.start(2);
  ({ stack, api } = await startTestStack('faults-at-scale', {
    redisUrl: redis.url,
    logLevel: 'warn',
    serviceEnv: {
      edge: { TOOL_CALL_TIMEOUT_MS: String(CALL_TIMEOUT_MS) },
      worker: { HTTP_TIMEOUT_MS: String(CALL_TIMEOUT_MS) },
    },
  }));
  const connector = await unwrap(
    api.POST('/connectors', {
      body: {
        kind: 'openapi',
        slug: 'orders',
        entry: 'openapi.json',
        files: { 'openapi.json': JSON.stringify(ordersDocument) },
      },
    }),
  );
  for (const [i, tool] of (['getOrder', 'createOrder'] as const).entries()) {
    const instance = await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: connector.id,
          name: `orders-${i}`,
          base_url: upstream.urls[i]!,
          credentials: {},
        },
      }),
    );
    const server = await unwrap(
      api.POST('/mcp_manager', { body: { name: `orders-${i}`, mode: 'NORMAL', connectorInstanceId: instance.id } }),
    );
    serverUrls[tool] = server.url;
  }
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await redis?.stop();
  await upstream?.close();
});

interface Answer {
  ref: string;
  ok: boolean;
  text: string;
  /** Epoch ms when the answer arrived. */
  at: number;
}

async function call(tool: 'getOrder' | 'createOrder', id: number, ref: string): Promise<Answer> {
  try {
    const res = await postMcp(
      serverUrls[tool],
      { jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: { ref } } },
      { 'x-api-key': stack.bootstrapKey, 'mcp-protocol-version': '2025-11-25' },
      CALL_TIMEOUT_MS + 30_000,
    );
    const body = (await res.json()) as { result?: { isError?: boolean; content?: { text?: string }[] } };
    const text = body.result?.content?.[0]?.text ?? JSON.stringify(body);
    return { ref, ok: res.status === 200 && body.result?.isError !== true, text, at: Date.now() };
  } catch (err) {
    return { ref, ok: false, text: String(err), at: Date.now() };
  }
}

/** Sends PER_TOOL calls of each tool and waits until every one of them is held at the upstream. */
async function allHeld(prefix: string) {
  upstream.holding = true;
  const refs = { getOrder: [] as string[], createOrder: [] as string[] };
  const answers: Promise<Answer>[] = [];
  let answered = 0;
  for (let i = 0; i < PER_TOOL; i++) {
    for (const tool of ['getOrder', 'createOrder'] as const) {
      const ref = `${prefix}-${tool}-${i}`;
      refs[tool].push(ref);
      answers.push(call(tool, answers.length, ref).finally(() => answered++));
    }
  }
  // An answer before all are held is a failure of its own (shown by the probe's value), not something to wait out.
  const held = await waitFor(
    `${CALLS} requests held at the upstream`,
    () => upstream.heldCount >= CALLS || (answered > 0 && `answered early: ${answered}`),
    120_000,
  );
  expect(held).toBe(true);
  expect(upstream.heldCount).toBe(CALLS);
  return { refs, answers: Promise.all(answers) };
}

function expectAllRunning(): void {
  for (const p of stack.processes)
    expect({ name: p.name, exitCode: p.child.exitCode, signal: p.child.signalCode }).toEqual({
      name: p.name,
      exitCode: null,
      signal: null,
    });
}

const unknownOutcome = /The outcome of invocation [0-9a-f-]{36} is unknown/;

describe(`${CALLS} calls in flight in one worker on its defaults`, () => {
  it('worker killed with SIGKILL: the replacement sends every GET once more and answers it, no POST is sent twice', async () => {
    const { refs, answers } = await allHeld('kill');
    const worker: ServiceProcess = stack.processes.find((p) => p.service === 'worker')!;
    const exited = new Promise<void>((resolve) => worker.child.once('exit', () => resolve()));
    const killedAt = Date.now();
    worker.child.kill('SIGKILL');
    await exited;
    stack.processes.splice(stack.processes.indexOf(worker), 1);
    // Every request the worker had sent lost its connection with it: none can be answered.
    await waitFor("the killed worker's connections to close", () => upstream.abandoned >= CALLS);
    expect(upstream.abandoned).toBe(CALLS);
    upstream.release();
    await stack.addWorker();
    const all = await answers;
    console.log(
      `faults-at-scale: ${CALLS} calls in flight, worker SIGKILL: all answered ${Math.max(...all.map((a) => a.at)) - killedAt} ms after the kill`,
    );
    const byRef = new Map(all.map((a) => [a.ref, a]));
    for (const ref of refs.getOrder) {
      expect(upstream.count(ref)).toBe(2);
      const a = byRef.get(ref)!;
      expect({ ref, ok: a.ok, text: a.text }).toEqual({ ref, ok: true, text: JSON.stringify({ ref, ok: true }) });
    }
    for (const ref of refs.createOrder) {
      expect(upstream.count(ref)).toBe(1);
      const a = byRef.get(ref)!;
      expect({ ref, ok: a.ok }).toEqual({ ref, ok: false });
      expect(a.text).toMatch(unknownOutcome);
    }
    expect(upstream.total).toBe(CALLS + PER_TOOL);
    expectAllRunning();
  }, 300_000);

  it('Redis killed and started again empty: every caller gets an error naming Redis within seconds, nothing is sent twice, calls work again', async () => {
    const sentBefore = upstream.total;
    const { refs, answers } = await allHeld('redis');
    const killedAt = Date.now();
    const exited = new Promise((resolve) => redis.process.once('exit', resolve));
    redis.process.kill('SIGKILL');
    await exited;
    redis = await startRedisServer({ port: redis.port });
    const all = await answers;
    const lastErrorMs = Math.max(...all.map((a) => a.at)) - killedAt;
    console.log(
      `faults-at-scale: ${CALLS} calls in flight, Redis SIGKILL + restart: all answered ${lastErrorMs} ms after the kill`,
    );
    for (const a of all) {
      expect({ ref: a.ref, ok: a.ok }).toEqual({ ref: a.ref, ok: false });
      expect(a.text).toMatch(/Redis/);
    }
    // The bound for a call in flight is seconds; scaled for a loaded machine.
    expect(lastErrorMs).toBeLessThan(scaled(10_000));

    // The worker gets its answers now; their jobs left with Redis's data, so none is sent again.
    upstream.release();
    await waitFor('a call to work again', async () => (await call('getOrder', 0, 'after-restart')).ok, scaled(60_000));
    const after = await Promise.all(
      Array.from({ length: 200 }, (_, i) => call(i % 2 ? 'getOrder' : 'createOrder', i, `after-${i}`)),
    );
    expect(after.filter((a) => !a.ok)).toEqual([]);
    for (const ref of [...refs.getOrder, ...refs.createOrder]) expect(upstream.count(ref)).toBe(1);
    expect(upstream.total - sentBefore).toBe(CALLS + after.length + upstream.count('after-restart'));
    expectAllRunning();
  }, 300_000);
});
