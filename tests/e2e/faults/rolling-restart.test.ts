import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type ServiceProcess, type Stack } from '@toolplane/cli';
import type { ManagementClient } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { startTestStack, withoutRateLimits } from '../../helpers/stack.ts';
import { Gate } from '../../helpers/gate.ts';
import { scaled } from '../../helpers/wait.ts';

// 1,000 tool calls are in flight at once while the worker processes are replaced one by one with
// SIGTERM (a Kubernetes rolling update): each stopping worker takes no new job, finishes the ones it
// runs and exits cleanly; every call is answered, none is executed twice.
//
// A gate in front of the upstream holds every upstream request, so the calls stay in flight as long
// as the test wants, whatever the machine's speed: each SIGTERM reaches a worker that is in the
// middle of CONCURRENCY calls, with hundreds more waiting in the queue.
const CALLS = 1000;
const WORKERS = 2;
const CONCURRENCY = 4;
const REPLACEMENTS = 3;

/** Waits for a condition the test causes; fails (with the state) instead of hanging. */
async function until(what: string, condition: () => boolean | Promise<boolean>, state: () => unknown): Promise<void> {
  const deadline = Date.now() + scaled(60_000);
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting until ${what}: ${JSON.stringify(state())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let stack: Stack;
let upstream: TicketSystem;
let gate: Gate;
let example: RegisteredExample;

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  gate = new Gate(upstream.url);
  await gate.start();
  let api: ManagementClient;
  ({ stack, api } = await startTestStack('restart', {
    workers: WORKERS,
    logLevel: 'warn',
    serviceEnv: {
      // Calls wait in the queue while the workers are replaced: give them the time.
      edge: { TOOL_CALL_TIMEOUT_MS: '170000' },
      worker: { WORKER_CONCURRENCY: String(CONCURRENCY), HTTP_TIMEOUT_MS: '170000' },
    },
  }));
  example = await registerTicketExample(api, gate.url, 'k', 'restart', withoutRateLimits(ticketSystemDescriptorYaml));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await gate?.close();
  await upstream?.close();
});

async function call(i: number): Promise<{ ok: boolean; title?: string }> {
  // Raw HTTP, one request per call (2025-11-25 wire format), so 1,000 calls need no client sessions.
  const res = await fetch(example.mcpUrl, {
    method: 'POST',
    headers: {
      'x-api-key': stack.bootstrapKey,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: i,
      method: 'tools/call',
      params: { name: 'create_ticket', arguments: { title: `call-${i}` } },
    }),
  });
  const body = (await res.json()) as { result?: { isError?: boolean; structuredContent?: { title?: string } } };
  return {
    ok: res.ok && body.result?.isError !== true,
    ...(body.result?.structuredContent?.title ? { title: body.result.structuredContent.title } : {}),
  };
}

/** One HTTP request through `agent` (so that keep-alive connections are reused as a client would). */
function send(
  agent: Agent,
  url: string,
  method: string,
  body?: unknown,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      url,
      {
        agent,
        method,
        headers: {
          'x-api-key': stack.bootstrapKey,
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The worker's readiness turns 503 as soon as its SIGTERM handler runs (it stops taking jobs then). */
async function draining(w: ServiceProcess): Promise<boolean> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return true;
  try {
    return (await fetch(`${w.url}/readyz`)).status === 503;
  } catch {
    return true; // health endpoint already closed
  }
}

describe('rolling restart of the workers', () => {
  it('answers 1,000 calls in flight exactly once while the workers are replaced one by one with SIGTERM', async () => {
    const before = upstream.requests.length;
    gate.holding = true;
    let answered = 0;
    const calls = Array.from({ length: CALLS }, (_, i) =>
      call(i).then((r) => {
        answered++;
        return r;
      }),
    );
    const workers = () => stack.processes.filter((p) => p.service === 'worker');
    const state = () => ({ answered, held: gate.heldCount, workers: workers().map((w) => w.name) });
    // Every worker runs CONCURRENCY calls, all held at the upstream: all 1,000 calls are in flight.
    await until('every worker runs its calls', () => gate.heldCount === WORKERS * CONCURRENCY, state);

    const atSigterm: { worker: string; inFlight: number; held: number }[] = [];
    const replaced: ServiceProcess[] = [];
    for (let round = 0; round < REPLACEMENTS; round++) {
      const old = workers()[0]!;
      await stack.addWorker();
      // The old worker is in the middle of its calls when it gets SIGTERM, like every other worker.
      await until('all workers run their calls', () => gate.heldCount === (WORKERS + 1) * CONCURRENCY, state);
      atSigterm.push({ worker: old.name, inFlight: CALLS - answered, held: gate.heldCount });
      const stopped = stack.stopProcess(old); // SIGTERM (SIGKILL only after 10 s)
      await until(`${old.name} drains`, () => draining(old), state);
      // Its running calls may finish now; it takes no new one. Whatever the other workers take
      // meanwhile passes too, until the old worker has exited; then the gate holds again.
      while (old.child.exitCode === null && old.child.signalCode === null) {
        gate.release();
        await new Promise((r) => setTimeout(r, 100));
      }
      await stopped;
      replaced.push(old);
    }
    gate.holding = false;
    gate.release();
    const results = await Promise.all(calls);

    // Every SIGTERM hit a worker with calls running and hundreds more waiting; the first, all 1,000.
    expect(atSigterm[0]!.inFlight).toBe(CALLS);
    for (const s of atSigterm) {
      expect(s.held).toBe((WORKERS + 1) * CONCURRENCY);
      expect(s.inFlight).toBeGreaterThan(s.held); // more calls waiting in the queue than running
    }
    // Each replaced worker finished its calls and exited by itself (not killed after the timeout).
    expect(replaced.map((w) => [w.name, w.child.exitCode, w.child.signalCode])).toEqual(
      replaced.map((w) => [w.name, 0, null]),
    );
    expect(workers()).toHaveLength(WORKERS);

    // Every call answered, with its own result; every call executed exactly once upstream.
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.map((r) => r.title)).toEqual(Array.from({ length: CALLS }, (_, i) => `call-${i}`));
    const titles = upstream.requests
      .slice(before)
      .filter((r) => r.method === 'POST')
      .map((r) => (r.body as { title: string }).title);
    expect(titles).toHaveLength(CALLS);
    expect(new Set(titles).size).toBe(CALLS);
  }, 240_000);

  it('drains an edge on SIGTERM: the call it holds is answered, then its keep-alive connection closes and nothing more is accepted', async () => {
    const edge = stack.processes.find((p) => p.service === 'edge')!;
    // One keep-alive connection, reused for every request, as load balancers and agents do.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await send(agent, `${edge.url}/healthz`, 'GET')).headers.connection).toBe('keep-alive');
    const before = upstream.requests.length;
    gate.holding = true;
    const held = send(agent, example.mcpUrl, 'POST', {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'create_ticket', arguments: { title: 'during-drain' } },
    });
    await until(
      'the call reaches the upstream',
      () => gate.heldCount === 1,
      () => ({ held: gate.heldCount }),
    );
    const stopped = stack.stopProcess(edge);
    // The edge stops listening at once…
    await until(
      'the edge stops accepting connections',
      () =>
        send(new Agent(), `${edge.url}/healthz`, 'GET').then(
          () => false,
          (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
        ),
      () => ({ exit: edge.child.exitCode }),
    );
    // …and a request sent on the busy keep-alive connection is not served by the draining edge.
    const after = send(agent, example.mcpUrl, 'POST', {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'create_ticket', arguments: { title: 'after-drain' } },
    }).then(
      (r) => ({ served: r.status }),
      (err: NodeJS.ErrnoException) => ({ refused: err.code }),
    );
    gate.holding = false;
    gate.release();
    const answer = await held;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ result: { structuredContent: { title: 'during-drain' } } });
    expect(answer.headers.connection).toBe('close');
    expect(await after).toEqual({ refused: 'ECONNREFUSED' });
    await stopped;
    // It exited by itself once drained, not killed at the 10 s limit.
    expect([edge.child.exitCode, edge.child.signalCode]).toEqual([0, null]);
    expect(upstream.requests.slice(before).map((r) => (r.body as { title: string }).title)).toEqual(['during-drain']);
    agent.destroy();
  }, 60_000);
});
