import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { ApiError, type ManagementClient, unwrap } from '@toolplane/client';
import { startRedisServer, type RedisHandle } from '@toolplane/embedded';
import { Redis } from 'ioredis';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { startTestStack, tempDir } from '../../helpers/stack.ts';
import { Gate } from '../../helpers/gate.ts';
import { scaled } from '../../helpers/wait.ts';

// Redis faults on the real stack, with a Redis of this file's own (no persistence) that the tests kill
// with SIGKILL and start again on the same port: PostgreSQL is the truth and the control plane
// republishes what Redis lost, edges fail closed meanwhile (a key limited by an access policy never
// gets another tool), callers get retryable errors within seconds, and no process dies.
// Figures are printed (console.log) for docs/failure-modes/redis.md.

/** Polls a condition the test causes until it holds; fails with `what` after `timeoutMs` (never a fixed sleep). */
async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = scaled(60_000),
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Outcome {
  status: number;
  /** A tool result that is not an error. */
  ok: boolean;
  text: string;
  startedAt: number;
  endedAt: number;
}

let stack: Stack;
let api: ManagementClient;
let redis: RedisHandle;
let upstream: TicketSystem;
let gate: Gate;
let example: RegisteredExample;
let limitedKey: string;
let nextId = 1;

/** One raw `tools/call` (2025-11-25 wire format, JSON answer). Network failures are outcomes too. */
async function call(key: string, name: string, args: Record<string, unknown>): Promise<Outcome> {
  const startedAt = Date.now();
  try {
    const res = await fetch(example.mcpUrl, {
      method: 'POST',
      headers: {
        'x-api-key': key,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args } }),
      signal: AbortSignal.timeout(scaled(60_000)),
    });
    const raw = await res.text();
    let body: { result?: { isError?: boolean; content?: { text?: string }[] }; error?: { message: string } } = {};
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      // not JSON: kept as text below
    }
    return {
      status: res.status,
      ok: res.status === 200 && body.result !== undefined && body.result.isError !== true,
      text: body.result?.content?.[0]?.text ?? body.error?.message ?? raw,
      startedAt,
      endedAt: Date.now(),
    };
  } catch (err) {
    return { status: 0, ok: false, text: String(err), startedAt, endedAt: Date.now() };
  }
}

const getTicket = (key: string) => call(key, 'get_ticket', { ticket_id: 'TCK-1' });

async function killRedis(): Promise<void> {
  const exited = new Promise((resolve) => redis.process.once('exit', resolve));
  redis.process.kill('SIGKILL');
  await exited;
}

/** Starts Redis again on the same port: empty (a restart without persistence), or from its AOF in `dir`. */
async function restartRedis(aof?: { dir: string }): Promise<void> {
  redis = await startRedisServer({ port: redis.port, ...(aof ? { dir: aof.dir, appendonly: true } : {}) });
}

/** Calls until a call succeeds again (after a Redis restart) and returns when that call ended. */
async function recovered(): Promise<number> {
  let recoveredAt = 0;
  await until(
    'a call works again',
    async () => {
      const r = await getTicket(stack.bootstrapKey);
      if (r.ok) recoveredAt = r.endedAt;
      return r.ok;
    },
    60_000,
  );
  return recoveredAt;
}

/** Whether the control plane's marker names the running Redis's run_id (the state is complete). */
async function markerCurrent(): Promise<boolean> {
  const probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  probe.on('error', () => undefined);
  try {
    const runId = /^run_id:(\S+)/m.exec(await probe.info('server'))?.[1];
    const marker = await probe.get(`${stack.redisPrefix}:runtime-state`);
    return !!runId && !!marker && (JSON.parse(marker) as { runId: string }).runId === runId;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

async function status(url: string): Promise<number> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(scaled(10_000)) })).status;
  } catch {
    return 0;
  }
}

function expectAllRunning(): void {
  for (const p of stack.processes) {
    expect({ name: p.name, exitCode: p.child.exitCode, signal: p.child.signalCode }).toEqual({
      name: p.name,
      exitCode: null,
      signal: null,
    });
  }
}

beforeAll(async () => {
  redis = await startRedisServer();
  upstream = await startTicketSystem({ apiKey: 'k' });
  gate = new Gate(upstream.url);
  await gate.start();
  ({ stack, api } = await startTestStack('redisfaults', { redisUrl: redis.url, logLevel: 'warn' }));
  example = await registerTicketExample(api, gate.url, 'k', 'faults');
  const key = await unwrap(api.POST('/api_keys', { body: { name: 'get-only', scopes: ['runtime'] } }));
  limitedKey = key.key;
  await unwrap(
    api.POST('/access_policies', {
      body: {
        name: 'get-only',
        principals: [{ type: 'api_key', value: key.id }],
        servers: [example.serverId],
        tools: ['get_ticket'],
      },
    }),
  );
  let last: Outcome | undefined;
  try {
    await until('the policy reaches the edge', async () => {
      last = await call(limitedKey, 'create_ticket', { title: 'forbidden' });
      return !last.ok && last.text.includes('Access denied');
    });
  } catch (err) {
    // What the edge answered last, and what the services said, to explain a rare failure.
    const logs = stack.processes.map((p) => `--- ${p.name}\n${p.output().slice(-4000)}`).join('\n');
    throw new Error(`${(err as Error).message}; last answer: ${JSON.stringify(last)}\n${logs}`, { cause: err });
  }
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await redis?.stop();
  await gate?.close();
  await upstream?.close();
});

describe('Redis faults', () => {
  // Calls work again within 5 s, a policy-limited key never gets another tool, in-flight calls fail
  // promptly, records resume.
  it('kill -9 and restart without data: recovery, no forbidden call, prompt errors, records', async () => {
    expect((await getTicket(stack.bootstrapKey)).ok).toBe(true);
    expect((await getTicket(limitedKey)).ok).toBe(true);

    // A call in flight: the worker holds it at the upstream when Redis dies.
    gate.holding = true;
    const inFlight = call(stack.bootstrapKey, 'get_ticket', { ticket_id: 'TCK-2' });
    await until('the call reaches the upstream', () => gate.heldCount >= 1);

    // The forbidden tool, hammered from before the kill until after the recovery.
    let hammering = true;
    const forbidden = { calls: 0, successes: [] as string[], texts: new Set<string>() };
    const hammer = async () => {
      while (hammering) {
        const r = await call(limitedKey, 'create_ticket', { title: 'forbidden' });
        forbidden.calls++;
        if (r.ok) forbidden.successes.push(r.text);
        forbidden.texts.add(`${r.status} ${r.text.slice(0, 80)}`);
      }
    };
    const hammers = [hammer(), hammer()];
    await until('the hammer runs', () => forbidden.calls >= 2);

    const killedAt = Date.now();
    await killRedis();
    await restartRedis();
    const restartedAt = Date.now();

    const lost = await inFlight;
    expect(lost.ok).toBe(false);
    expect(lost.text).toMatch(/Redis/);
    const inFlightErrorMs = lost.endedAt - killedAt;
    gate.holding = false;
    gate.release();

    const recoveredAt = await recovered();
    const recoveryMs = recoveredAt - restartedAt;
    // The restored policy applies: the limited key's own tool works, the forbidden one is still refused.
    await until('the limited key works again', async () => (await getTicket(limitedKey)).ok, scaled(30_000));
    const callsAtRecovery = forbidden.calls;
    await until('the hammer ran on the restored state', () => forbidden.calls >= callsAtRecovery + 10);
    hammering = false;
    await Promise.all(hammers);
    console.log(
      JSON.stringify({
        figure: 'redis kill -9 + restart (no persistence)',
        recoveryMsFromRestart: recoveryMs,
        recoveryMsFromKill: recoveredAt - killedAt,
        inFlightErrorMsFromKill: inFlightErrorMs,
        inFlightError: lost.text,
        forbiddenCalls: forbidden.calls,
        forbiddenSuccesses: forbidden.successes.length,
        forbiddenAnswers: [...forbidden.texts],
      }),
    );
    expect(forbidden.successes).toEqual([]);
    // The bound is 5 s, scaled (a loaded machine; the figure above is the measure).
    expect(recoveryMs).toBeLessThan(scaled(5_000));
    expect(inFlightErrorMs).toBeLessThan(scaled(5_000));

    // Execution records resume: a call after the recovery is stored.
    const after = await getTicket(stack.bootstrapKey);
    expect(after.ok).toBe(true);
    await until(
      'the call after the recovery has an execution record',
      async () => {
        const { data } = await unwrap(
          api.GET('/execution_records', { params: { query: { server_id: example.serverId } } }),
        );
        return data.some(
          (r) =>
            r.tool === 'get_ticket' && r.outcome === 'success' && Date.parse(r.started_at) >= after.startedAt - 1000,
        );
      },
      scaled(30_000),
    );
    expectAllRunning();
  }, 240_000);

  it('Redis down for 40 s with calls pending: no process exits, every caller gets an error within seconds, calls work once Redis is back', async () => {
    expect((await getTicket(stack.bootstrapKey)).ok).toBe(true);
    gate.holding = true;
    const pending = [1, 2, 3].map(() => getTicket(stack.bootstrapKey));
    await until('the calls reach the upstream', () => gate.heldCount >= 3);

    const downAt = Date.now();
    await killRedis();
    // Calls keep coming during the whole outage, one after the other.
    const during: Outcome[] = [];
    while (Date.now() - downAt < 40_000) during.push(await getTicket(stack.bootstrapKey));
    const answered = await Promise.all(pending);
    const readiness = {
      edge: await status(`${stack.edgeUrl}/readyz`),
      controlPlane: await status(`${stack.controlPlaneUrl}/readyz`),
    };
    // A management write needs Redis too (it publishes in its transaction): a retryable 503, nothing stored.
    const writeStarted = Date.now();
    const write = await unwrap(api.POST('/api_keys', { body: { name: 'during-outage', scopes: ['runtime'] } })).then(
      () => undefined,
      (err: unknown) => err,
    );
    const writeMs = Date.now() - writeStarted;
    expectAllRunning();

    await restartRedis();
    const restartedAt = Date.now();
    gate.holding = false;
    gate.release();
    const recoveredAt = await recovered();
    await until(
      'the edge is ready again',
      async () => (await status(`${stack.edgeUrl}/readyz`)) === 200,
      scaled(30_000),
    );
    expectAllRunning();
    const keys = await unwrap(api.GET('/api_keys'));
    expect(keys.data.map((k) => k.name)).not.toContain('during-outage');

    const pendingErrorMs = answered.map((r) => r.endedAt - downAt);
    const duringMs = during.map((r) => r.endedAt - r.startedAt);
    console.log(
      JSON.stringify({
        figure: 'redis down 40 s',
        pendingErrorMsFromKill: pendingErrorMs,
        pendingError: answered[0]?.text,
        callsDuringOutage: during.length,
        duringOutageMaxMs: Math.max(...duringMs),
        duringOutageAnswers: [...new Set(during.map((r) => `${r.status} ${r.text.slice(0, 100)}`))],
        readinessDuringOutage: readiness,
        managementWriteDuringOutage: { ms: writeMs, status: (write as ApiError | undefined)?.status },
        recoveryMsFromRestart: recoveredAt - restartedAt,
      }),
    );
    for (const r of answered) expect(r.ok).toBe(false);
    for (const ms of pendingErrorMs) expect(ms).toBeLessThan(scaled(5_000));
    expect(during.length).toBeGreaterThan(3);
    for (const r of during) {
      expect(r.ok).toBe(false);
      expect(r.status).not.toBe(0);
      expect(r.text).toMatch(/retry/i);
    }
    for (const ms of duringMs) expect(ms).toBeLessThan(scaled(5_000));
    expect(readiness).toEqual({ edge: 503, controlPlane: 503 });
    expect(write).toBeInstanceOf(ApiError);
    expect((write as ApiError).status).toBe(503);
    expect((write as ApiError).body).toMatchObject({ code: 'state.unavailable' });
    expect(writeMs).toBeLessThan(scaled(5_000));
  }, 240_000);

  it('kill -9 and restart with AOF (appendfsync everysec): the call in flight ends within seconds, the state is republished for the new run_id', async () => {
    // Switch to a Redis with AOF on the same port (an empty start: the control plane republishes).
    const aof = { dir: tempDir('redis-aof') };
    await killRedis();
    await restartRedis(aof);
    // A call may succeed from the edge's and worker's caches before the state is back: wait for the marker.
    await until('the state is republished', markerCurrent);
    await recovered();

    gate.holding = true;
    let early: Outcome | undefined;
    const inFlight = call(stack.bootstrapKey, 'get_ticket', { ticket_id: 'TCK-3' });
    void inFlight.then((r) => (early = r));
    await until('the call reaches the upstream', () => {
      if (early) throw new Error(`the call ended before reaching the upstream: ${JSON.stringify(early)}`);
      return gate.heldCount >= 1;
    });
    const killedAt = Date.now();
    await killRedis();
    await restartRedis(aof);
    const restartedAt = Date.now();
    gate.holding = false;
    gate.release();
    const answer = await inFlight;
    const recoveredAt = await recovered();
    // Redis kept its data, but its run_id changed: the control plane republished and marked the new run.
    await until('the marker names the new run_id', markerCurrent);
    console.log(
      JSON.stringify({
        figure: 'redis kill -9 + restart with AOF',
        inFlightCallOk: answer.ok,
        inFlightAnswer: answer.text.slice(0, 160),
        inFlightAnsweredMsFromKill: answer.endedAt - killedAt,
        recoveryMsFromRestart: recoveredAt - restartedAt,
      }),
    );
    // The job survived in the AOF and the worker finished it; its reply reaches the caller unless it was
    // published while the edge was still resubscribing (pub/sub keeps nothing): then the caller is told
    // within seconds that the outcome is unknown. Never a 30 s wait.
    if (!answer.ok) expect(answer.text).toMatch(/Redis/);
    expect(answer.endedAt - killedAt).toBeLessThan(scaled(5_000));
    expect(recoveredAt - restartedAt).toBeLessThan(scaled(5_000));
    expectAllRunning();
  }, 240_000);

  // Denied (never read as "no policies") until the control plane, told by the edge, republishes it.
  it('an access-policy document lost alone: the workspace is denied until it is republished', async () => {
    const probe = new Redis(redis.url);
    try {
      const catalog = JSON.parse((await probe.get(`${stack.redisPrefix}:catalog:${example.serverId}`))!) as {
        workspaceId: string;
      };
      // The document alone goes missing (the marker stays): edges must not read that as "no policies".
      await probe.del(`${stack.redisPrefix}:access:${catalog.workspaceId}`);
      await probe.publish(`${stack.redisPrefix}:events:access`, catalog.workspaceId);
      const lostAt = Date.now();
      let restoring = 0;
      const forbiddenSuccesses: string[] = [];
      let restoredAt = 0;
      await until('the document is back and the limited key works again', async () => {
        const [forbidden, allowed] = await Promise.all([
          call(limitedKey, 'create_ticket', { title: 'forbidden' }),
          getTicket(limitedKey),
        ]);
        if (forbidden.ok) forbiddenSuccesses.push(forbidden.text);
        for (const r of [forbidden, allowed]) if (r.text.includes('access policies are being restored')) restoring++;
        if (allowed.ok) restoredAt = allowed.endedAt;
        return allowed.ok && restoring > 0;
      });
      console.log(JSON.stringify({ figure: 'access document lost alone', restoredMs: restoredAt - lostAt, restoring }));
      expect(forbiddenSuccesses).toEqual([]);
      expect(restoring).toBeGreaterThan(0);
      const forbidden = await call(limitedKey, 'create_ticket', { title: 'forbidden' });
      expect(forbidden.ok).toBe(false);
      expect(forbidden.text).toContain('Access denied');
      expect(restoredAt - lostAt).toBeLessThan(scaled(5_000));
    } finally {
      probe.disconnect();
    }
    expectAllRunning();
  }, 120_000);
  it('an enforced quota with Redis down: the call is refused before anything is sent, and calls work once Redis is back', async () => {
    const quota = await unwrap(
      api.POST('/quotas', {
        body: {
          name: 'faults-budget',
          match: { tools: ['get_ticket'] },
          counts: 'calls',
          limit: 1_000_000,
          window: 'day',
        },
      }),
    );
    const probe = new Redis(redis.url);
    try {
      // The edge has the quota once a call charges its counter.
      await until('the quota charges a counter', async () => {
        expect((await getTicket(stack.bootstrapKey)).ok).toBe(true);
        return (await probe.keys(`${stack.redisPrefix}:quota:*:${quota.id}:*`)).length > 0;
      });
    } finally {
      probe.disconnect();
    }
    const sentBefore = upstream.requests.length;
    await killRedis();
    const refused = await getTicket(stack.bootstrapKey);
    expect(refused.ok).toBe(false);
    expect(refused.text).toMatch(/quotas of this call of "get_ticket" could not be checked/);
    expect(upstream.requests.length).toBe(sentBefore);
    await restartRedis();
    await recovered();
    expectAllRunning();
  }, 120_000);
});
