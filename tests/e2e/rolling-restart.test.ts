import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ControlPlaneClient, registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import { startTestStack, withoutRateLimits } from '../helpers.ts';

// Workers are replaced one by one with SIGTERM while calls are in flight: each worker stops taking
// jobs and finishes the ones it runs, so every call is answered and none is executed twice.
const CALLS = 1000; // at least

let stack: Stack;
let upstream: TicketSystem;
let example: RegisteredExample;

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  let api: ControlPlaneClient;
  ({ stack, api } = await startTestStack('restart', { workers: 2, logLevel: 'warn' }));
  const unlimited = withoutRateLimits(ticketSystemDescriptorYaml);
  example = await registerTicketExample(api, upstream.url, 'k', 'restart', unlimited);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
});

async function call(i: number): Promise<{ ok: boolean; title?: string }> {
  // Raw HTTP, one request per call (2025-11-25 wire format), so 1,000 calls need no client sessions.
  const res = await fetch(example.mcpUrl, {
    method: 'POST',
    headers: { 'x-api-key': stack.bootstrapKey, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'create_ticket', arguments: { title: `call-${i}` } } }),
  });
  const body = (await res.json()) as { result?: { isError?: boolean; structuredContent?: { title?: string } } };
  return { ok: res.ok && body.result?.isError !== true, ...(body.result?.structuredContent?.title ? { title: body.result.structuredContent.title } : {}) };
}

describe('rolling restart of the workers', () => {
  it('answers every call exactly once while workers are replaced one by one', async () => {
    const before = upstream.requests.length;
    let started = 0;
    let restartsDone = false;
    const inFlight: Promise<{ ok: boolean; title?: string }>[] = [];
    // 32 concurrent callers keep calling until at least CALLS calls were made AND the restarts are over,
    // so the restarts always happen while calls are in flight, however slow the machine is.
    const callers = Array.from({ length: 32 }, async () => {
      while (started < CALLS || !restartsDone) {
        const i = started++;
        const p = call(i);
        inFlight.push(p);
        await p;
        await new Promise((r) => setTimeout(r, 50));
      }
    });
    let startedDuringRestarts = 0;
    const restarts = (async () => {
      const atStart = started;
      for (let round = 0; round < 3; round++) {
        const old = stack.processes.find((p) => p.service === 'worker')!;
        await stack.addWorker();
        await stack.stopProcess(old);
      }
      startedDuringRestarts = started - atStart;
      restartsDone = true;
    })();
    await Promise.all([...callers, restarts]);
    expect(startedDuringRestarts).toBeGreaterThan(0);
    const results = await Promise.all(inFlight);
    expect(results.length).toBeGreaterThanOrEqual(CALLS);
    expect(results).toHaveLength(started);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    const titles = upstream.requests.slice(before).map((r) => (r.body as { title: string }).title);
    expect(titles).toHaveLength(started);
    expect(new Set(titles).size).toBe(started);
    expect(stack.processes.filter((p) => p.service === 'worker')).toHaveLength(2);
  }, 120_000);
});
