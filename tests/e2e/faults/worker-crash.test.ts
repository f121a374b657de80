import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ServiceProcess, Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { onOrderRequest, registerOrdersServer } from '../../fixtures/orders-api.ts';
import { chargedSince, type QuotaCounter } from '../../helpers/quotas.ts';
import { stackRedis, startTestStack } from '../../helpers/stack.ts';
import { scaled } from '../../helpers/wait.ts';

// A worker is killed with SIGKILL while CONCURRENCY slow upstream requests are in flight and the rest
// of CALLS calls wait in the queue; a replacement worker takes over. The platform's promise: nothing
// sent twice unless that is harmless, nothing lost, records truthful, every caller answered in time.
//
// The upstream holds every response while `gate.closed`, so the kill always lands when exactly
// CONCURRENCY requests have reached it and none has been answered (whatever the machine's speed);
// once the gate opens, each response still takes HOLD_MS (a slow API).
const CALLS = 200;
/**
 * The worker's WORKER_CONCURRENCY. With the queue in shards (the Cluster form: 3) it is split evenly over one fetcher
 * per shard, and an edge sends its calls to the shards in turn: CONCURRENCY calls fill every fetcher whatever shard the
 * turn starts at only when the shard count divides it (66: 1, 2, 3 or 6 shards). With 64 and 3 shards (22, 21, 21),
 * the 64 calls of the second-kill test fitted only when the edge's earlier calls happened to be a multiple of 3.
 */
const CONCURRENCY = 66;
const HOLD_MS = 1000;
const CALL_TIMEOUT_MS = 90_000;
/**
 * The second platform mimics the default timeout with slower stall detection: its workers keep
 * BullMQ's 30 s lock (a dead worker's lock expires 15-30 s after the kill), longer than the calls'
 * SHORT_TIMEOUT_MS, so the killed worker's jobs are re-delivered after their deadline.
 */
const SHORT_TIMEOUT_MS = 12_000;
const SLOW_DETECTION = { WORKER_LOCK_DURATION_MS: '30000' };

interface Seen {
  ref: string;
  idempotencyKey: string | undefined;
  /** The worker that sent it died before the answer could be written. */
  lost: boolean;
}

/** A slow API counting requests per call (by the `ref` in the body or the path). */
class Upstream {
  readonly seen: Seen[] = [];
  closed = true;
  private readonly waiting: (() => void)[] = [];
  private readonly server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => this.onRequest(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get pending(): number {
    return this.waiting.length;
  }

  count(ref: string): number {
    return this.seen.filter((s) => s.ref === ref).length;
  }

  open(): void {
    this.closed = false;
    for (const go of this.waiting.splice(0)) go();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    onOrderRequest(req, (ref) => {
      const key = req.headers['idempotency-key'];
      const entry: Seen = { ref, idempotencyKey: typeof key === 'string' ? key : undefined, lost: false };
      this.seen.push(entry);
      const answer = () =>
        setTimeout(() => {
          if (res.destroyed || req.socket.destroyed) {
            entry.lost = true;
            return;
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ref, ok: true }));
        }, HOLD_MS);
      if (this.closed) this.waiting.push(answer);
      else answer();
    });
  }

  async close(): Promise<void> {
    this.open();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Waits for a condition the test causes; fails (with the state) instead of hanging. */
async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  state: () => unknown,
  timeoutMs = scaled(120_000),
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting until ${what}: ${JSON.stringify(state())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One stack (edge, worker, control plane) with the orders API registered as an MCP server. */
interface Platform {
  stack: Stack;
  api: ManagementClient;
  serverUrl: string;
  serverId: string;
  timeoutMs: number;
  /** The worker running now (the one the next scenario kills). */
  worker: ServiceProcess;
}

async function startPlatform(
  label: string,
  timeoutMs: number,
  workerEnv: Record<string, string> = {},
): Promise<Platform> {
  const { stack, api } = await startTestStack(label, {
    logLevel: 'warn',
    serviceEnv: {
      edge: { TOOL_CALL_TIMEOUT_MS: String(timeoutMs) },
      worker: { WORKER_CONCURRENCY: String(CONCURRENCY), HTTP_TIMEOUT_MS: String(timeoutMs), ...workerEnv },
    },
  });
  const server = await registerOrdersServer(api, {
    baseUrl: upstream.url,
    instanceName: 'orders-test',
    operations: ['createOrder', 'getOrder', 'createPayment'],
  });
  return {
    stack,
    api,
    serverUrl: server.url,
    serverId: server.id,
    timeoutMs,
    worker: stack.processes.find((p) => p.service === 'worker')!,
  };
}

let upstream: Upstream;
/** Calls have CALL_TIMEOUT_MS: the re-delivered jobs run before their deadline. */
let platform: Platform;
/** Calls time out before the killed worker's jobs are re-delivered (as with the default 30 s timeout and BullMQ's defaults). */
let shortTimeouts: Platform | undefined;

/** A quota on every call of the server (ADR 0048): a call is charged once, whatever happens to its job. */
let quota: QuotaCounter;

beforeAll(async () => {
  upstream = new Upstream();
  await upstream.start();
  platform = await startPlatform('crash', CALL_TIMEOUT_MS);
  const { id: quotaId } = await unwrap(
    platform.api.POST('/quotas', {
      body: { name: 'every-call', match: { servers: [platform.serverId] }, counts: 'calls', limit: 1e9, window: 'day' },
    }),
  );
  const workspaceId = (await unwrap(platform.api.GET('/workspaces/current'))).id;
  quota = { prefix: platform.stack.redisPrefix, workspaceId, quotaId, window: 'day' };
  upstream.open();
  const since = Date.now();
  let n = 0;
  await until(
    'the quota charges calls',
    async () => {
      await call(platform, 0, 'get_order', `quota-probe-${n++}`);
      return (await charged(since)) > 0;
    },
    () => n,
  );
}, 180_000);

/** The quota's charges counted since `since` (a reading to compare with an earlier one). */
async function charged(since: number): Promise<number> {
  const redis = stackRedis(platform.stack);
  try {
    await redis.connect();
    return await chargedSince(redis, quota, since);
  } finally {
    redis.disconnect();
  }
}

afterAll(async () => {
  await platform?.stack.stop();
  await shortTimeouts?.stack.stop();
  await upstream?.close();
});

interface Answer {
  ref: string;
  isError: boolean;
  text: string;
  /** ms from the call until its answer. */
  ms: number;
  at: number;
}

async function call(p: Platform, id: number, tool: string, ref: string): Promise<Answer> {
  const startedAt = Date.now();
  const res = await fetch(p.serverUrl, {
    method: 'POST',
    headers: {
      'x-api-key': p.stack.bootstrapKey,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: { ref } } }),
  });
  const body = (await res.json()) as { result?: { isError?: boolean; content?: { text?: string }[] } };
  const at = Date.now();
  return {
    ref,
    isError: !res.ok || body.result?.isError === true,
    text: body.result?.content?.[0]?.text ?? JSON.stringify(body),
    ms: at - startedAt,
    at,
  };
}

type Listed = {
  data: { id: string; outcome: string; error_code: string | null; message: string | null; started_at: string }[];
};

/** The tool's execution records, once `count` are stored. */
async function recordsOf(p: Platform, tool: string, count: number): Promise<Listed['data']> {
  let page: Listed = { data: [] };
  await until(
    `${count} records of ${tool}`,
    async () => {
      page = await unwrap(
        p.api.GET('/execution_records', { params: { query: { server_id: p.serverId, tool, limit: 200 } } }),
      );
      return page.data.length >= count;
    },
    () => page.data.length,
  );
  return page.data;
}

/**
 * Runs CALLS calls of `tool`, kills the worker with SIGKILL once CONCURRENCY of them wait at the
 * upstream, starts a replacement, and waits for every answer. Returns the answers, the refs whose
 * answer was lost with the killed worker, and timings.
 */
async function crashDuring(p: Platform, tool: string, prefix: string) {
  upstream.closed = true;
  const refs = Array.from({ length: CALLS }, (_, i) => `${prefix}-${i}`);
  const started = Date.now();
  const answers: Answer[] = [];
  const calls = refs.map((ref, i) =>
    call(p, i, tool, ref).then((a) => {
      answers.push(a);
      return a;
    }),
  );
  const firstSeen = upstream.seen.length;
  await until(
    `${CONCURRENCY} ${tool} requests wait at the upstream`,
    () => upstream.pending >= CONCURRENCY,
    () => ({ pending: upstream.pending, answers: answers.length }),
  );
  const inFlight = new Set(upstream.seen.slice(firstSeen).map((s) => s.ref));
  expect(inFlight.size).toBe(CONCURRENCY);
  expect(answers).toHaveLength(0);

  const killed = p.worker;
  const exited = new Promise<void>((resolve) => killed.child.once('exit', () => resolve()));
  const killedAt = Date.now();
  killed.child.kill('SIGKILL');
  await exited;
  p.stack.processes.splice(p.stack.processes.indexOf(killed), 1);
  upstream.open(); // the held answers go to closed connections: lost
  p.worker = await p.stack.addWorker();
  const replacementReadyAt = Date.now();
  const all = await Promise.all(calls);
  const lost = new Set(
    upstream.seen
      .slice(firstSeen)
      .filter((s) => s.lost)
      .map((s) => s.ref),
  );
  // With a long enough timeout, the answers of the calls that had reached the upstream come from re-delivered jobs.
  const inFlightAnsweredAt = Math.min(...all.filter((a) => inFlight.has(a.ref)).map((a) => a.at));
  const figures = {
    tool,
    calls: CALLS,
    inFlightAtKill: inFlight.size,
    upstreamRequests: upstream.seen.length - firstSeen,
    replacementReadyMs: replacementReadyAt - killedAt,
    firstInFlightAnswerMs: inFlightAnsweredAt - killedAt,
    allAnsweredAfterKillMs: Math.max(...all.map((a) => a.at)) - killedAt,
    slowestCallMs: Math.max(...all.map((a) => a.ms)),
    totalMs: Date.now() - started,
  };
  console.log(`worker-crash figures ${JSON.stringify(figures)}`);
  return { refs, all, inFlight, lost, figures, killedAt };
}

const unknownAnswer = /The outcome of invocation ([0-9a-f-]{36}) is unknown/;

/** How many of these invocations have an execution lease in Redis (`<prefix>:lease:<invocationId>`). */
async function leasesOf(p: Platform, ids: string[]): Promise<number> {
  const redis = stackRedis(p.stack);
  try {
    await redis.connect();
    // One key per command: in a cluster the leases are in different slots.
    const found = await Promise.all(ids.map((id) => redis.exists(`${p.stack.redisPrefix}:lease:${id}`)));
    return found.reduce((a, b) => a + b, 0);
  } finally {
    redis.disconnect();
  }
}

describe('a worker killed with SIGKILL during slow calls', () => {
  it('never sends a non-idempotent POST twice; the calls it had sent get "outcome unknown", the others run', async () => {
    const since = Date.now();
    const before = await charged(since);
    const { refs, all, inFlight, lost, figures, killedAt } = await crashDuring(platform, 'create_order', 'order');
    // Each call charged once; those whose outcome is unknown stay charged.
    expect((await charged(since)) - before).toBe(CALLS);
    // At most once upstream.
    for (const ref of refs) expect(upstream.count(ref)).toBe(1);
    expect(figures.upstreamRequests).toBe(CALLS);
    // The answers of the requests in flight were lost with the worker.
    expect(lost).toEqual(inFlight);
    // Every caller is answered within the call timeout: a result, or "outcome unknown" naming the invocation.
    for (const a of all) expect(a.ms).toBeLessThan(CALL_TIMEOUT_MS);
    const unknownIds = new Set<string>();
    for (const a of all) {
      if (inFlight.has(a.ref)) {
        expect(a.isError).toBe(true);
        const m = unknownAnswer.exec(a.text);
        expect(m).not.toBeNull();
        unknownIds.add(m![1]!);
      } else {
        expect({ ref: a.ref, isError: a.isError, text: a.text }).toMatchObject({ isError: false });
        expect(JSON.parse(a.text)).toEqual({ ref: a.ref, ok: true });
      }
    }
    expect(unknownIds.size).toBe(CONCURRENCY);
    // Records are truthful: the lost ones `unknown` (never success or "expired in the queue").
    const records = await recordsOf(platform, 'create_order', CALLS);
    expect(records).toHaveLength(CALLS);
    const unknown = records.filter((r) => r.outcome === 'unknown');
    expect(new Set(unknown.map((r) => r.id))).toEqual(unknownIds);
    for (const r of unknown) {
      expect(r.error_code).toBe('tool.outcome_unknown');
      expect(r.message).toContain(r.id);
    }
    expect(records.filter((r) => r.outcome === 'success')).toHaveLength(CALLS - CONCURRENCY);
    // Each POST wrote its lease before its request left.
    expect(
      await leasesOf(
        platform,
        records.map((r) => r.id),
      ),
    ).toBe(CALLS);
    // Stall detection: the re-delivered jobs started this long after the kill.
    const redelivered = unknown.map((r) => Date.parse(r.started_at) - killedAt);
    console.log(
      `worker-crash re-delivery after SIGKILL: first ${Math.min(...redelivered)} ms, last ${Math.max(...redelivered)} ms`,
    );
    const filtered = await unwrap(
      platform.api.GET('/execution_records', {
        params: { query: { server_id: platform.serverId, tool: 'create_order', outcome: 'unknown', limit: 200 } },
      }),
    );
    expect(filtered.data).toHaveLength(CONCURRENCY);
  }, 300_000);

  it('sends idempotent GETs again from the replacement worker and answers them with results', async () => {
    const since = Date.now();
    const before = await charged(since);
    const { refs, all, inFlight, lost, figures } = await crashDuring(platform, 'get_order', 'read');
    // The re-delivered jobs are not charged again.
    expect((await charged(since)) - before).toBe(CALLS);
    expect(lost).toEqual(inFlight);
    for (const ref of refs) expect(upstream.count(ref)).toBe(inFlight.has(ref) ? 2 : 1);
    expect(figures.upstreamRequests).toBe(CALLS + CONCURRENCY);
    for (const a of all) {
      expect(a.ms).toBeLessThan(CALL_TIMEOUT_MS);
      expect({ ref: a.ref, isError: a.isError, text: a.text }).toMatchObject({ isError: false });
      expect(JSON.parse(a.text)).toEqual({ ref: a.ref, ok: true });
    }
    const records = await recordsOf(platform, 'get_order', CALLS);
    expect(records.filter((r) => r.outcome === 'success')).toHaveLength(CALLS);
    // Safe to send again, a GET writes no lease (ADR 0015).
    expect(
      await leasesOf(
        platform,
        records.map((r) => r.id),
      ),
    ).toBe(0);
  }, 300_000);

  it('sends a POST with an idempotency key again, with the same Idempotency-Key header as the first attempt', async () => {
    const { refs, all, inFlight, lost } = await crashDuring(platform, 'create_payment', 'pay');
    expect(lost).toEqual(inFlight);
    const keys = new Map<string, string>();
    for (const ref of refs) {
      const sent = upstream.seen.filter((s) => s.ref === ref);
      expect(sent).toHaveLength(inFlight.has(ref) ? 2 : 1);
      for (const s of sent) expect(s.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
      expect(new Set(sent.map((s) => s.idempotencyKey)).size).toBe(1);
      keys.set(ref, sent[0]!.idempotencyKey!);
    }
    expect(new Set(keys.values()).size).toBe(CALLS); // one key per call
    for (const a of all) {
      expect(a.ms).toBeLessThan(CALL_TIMEOUT_MS);
      expect({ ref: a.ref, isError: a.isError, text: a.text }).toMatchObject({ isError: false });
    }
    const records = await recordsOf(platform, 'create_payment', CALLS);
    expect(records.filter((r) => r.outcome === 'success')).toHaveLength(CALLS);
    expect(
      await leasesOf(
        platform,
        records.map((r) => r.id),
      ),
    ).toBe(0);
  }, 300_000);

  it('answers "outcome unknown" when the replacement worker is killed too (the queue gives the calls up)', async () => {
    const p = platform;
    upstream.closed = true;
    const refs = Array.from({ length: CONCURRENCY }, (_, i) => `twice-${i}`);
    const firstSeen = upstream.seen.length;
    // Any call answered before the gate opens is a failure to explain: its answer is in the wait's state.
    const early: string[] = [];
    const calls = refs.map((ref, i) =>
      call(p, i, 'get_order', ref).then((a) => {
        if (upstream.closed) early.push(`${a.ref}: ${a.text.slice(0, 300)}`);
        return a;
      }),
    );
    const kill = async (): Promise<number> => {
      const w = p.worker;
      const exited = new Promise<void>((resolve) => w.child.once('exit', () => resolve()));
      w.child.kill('SIGKILL');
      await exited;
      p.stack.processes.splice(p.stack.processes.indexOf(w), 1);
      const at = Date.now();
      p.worker = await p.stack.addWorker();
      return at;
    };
    await until(
      'every GET waits at the upstream',
      () => upstream.pending >= CONCURRENCY,
      () => ({ pending: upstream.pending, early }),
    );
    await kill();
    // The replacement sends the (idempotent) GETs again; they wait at the upstream too.
    await until(
      'the replacement sent every GET again',
      () => upstream.pending >= 2 * CONCURRENCY,
      () => ({ pending: upstream.pending, early }),
    );
    const secondKillAt = await kill();
    upstream.open();
    const all = await Promise.all(calls);
    const answeredMs = Math.max(...all.map((a) => a.at)) - secondKillAt;
    console.log(`worker-crash second kill: all ${CONCURRENCY} calls answered ${answeredMs} ms after it`);
    for (const ref of refs) expect(upstream.count(ref)).toBe(2); // never a third time
    expect(upstream.seen.slice(firstSeen).every((s) => s.lost)).toBe(true);
    const ids = new Set<string>();
    for (const a of all) {
      expect(a.ms).toBeLessThan(CALL_TIMEOUT_MS);
      expect(a.isError).toBe(true);
      const m = unknownAnswer.exec(a.text);
      expect(m).not.toBeNull();
      ids.add(m![1]!);
    }
    expect(ids.size).toBe(CONCURRENCY);
    let unknown: Listed['data'] = [];
    await until(
      'the records of the abandoned calls',
      async () => {
        unknown = (
          await unwrap(
            p.api.GET('/execution_records', {
              params: { query: { server_id: p.serverId, tool: 'get_order', outcome: 'unknown', limit: 200 } },
            }),
          )
        ).data;
        return unknown.length >= CONCURRENCY;
      },
      () => unknown.length,
    );
    expect(new Set(unknown.map((r) => r.id))).toEqual(ids);
    for (const r of unknown) expect(r.message).toMatch(/gave up/);
  }, 300_000);

  it('records the calls it had sent as "unknown" (not "expired in the queue") when they are re-delivered after their deadline', async () => {
    shortTimeouts = await startPlatform('crashshort', SHORT_TIMEOUT_MS, SLOW_DETECTION);
    const p = shortTimeouts;
    const { refs, all, inFlight, lost, killedAt } = await crashDuring(p, 'create_order', 'late');
    expect(lost).toEqual(inFlight);
    for (const ref of refs) expect(upstream.count(ref)).toBeLessThanOrEqual(1);
    // The edge answers at the deadline: "outcome unknown", naming the invocation.
    const ids = new Set<string>();
    for (const a of all) {
      expect(a.ms).toBeLessThan(SHORT_TIMEOUT_MS + scaled(2_500));
      if (!inFlight.has(a.ref)) continue;
      expect(a.isError).toBe(true);
      const m = /no answer within the call timeout .* the outcome of invocation ([0-9a-f-]{36}) is unknown/i.exec(
        a.text,
      );
      expect(m).not.toBeNull();
      ids.add(m![1]!);
    }
    expect(ids.size).toBe(CONCURRENCY);
    // The re-delivered jobs come after the deadline; their records say "unknown", never success or expired.
    const records = await recordsOf(p, 'create_order', CALLS);
    const unknown = records.filter((r) => r.outcome === 'unknown');
    expect(new Set(unknown.map((r) => r.id))).toEqual(ids);
    for (const r of unknown) expect(r.message).toMatch(/timed out/);
    for (const r of records.filter((r) => !ids.has(r.id))) expect(r.outcome).not.toBe('unknown');
    const redelivered = unknown.map((r) => Date.parse(r.started_at) - killedAt);
    console.log(
      `worker-crash re-delivery after SIGKILL (short timeouts): first ${Math.min(...redelivered)} ms, last ${Math.max(...redelivered)} ms`,
    );
  }, 300_000);
});
