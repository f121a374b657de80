import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, repoRoot, type RegisteredExample, type Stack } from '@toolplane/cli';
import {
  freePort,
  startRedisCluster,
  startRedisSentinel,
  type RedisClusterHandle,
  type RedisSentinelHandle,
} from '@toolplane/embedded';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { createRedisClient, RedisEnv } from '@toolplane/redis';
import { Cluster, Redis } from 'ioredis';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { queueShardPrefixes } from '../../../packages/queue/src/index.ts';
import {
  burst,
  counterKey,
  counterOf,
  inOneWindow,
  onlyQuota,
  peopleMayCall,
  quotaMeta,
  refusedBy,
  type QuotaCounter,
  type ToolResult,
} from '../../helpers/quotas.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';

// The whole platform on a Redis Cluster (3 masters, a replica each; the tool-call queue in six shards) and on Sentinel
// (master, replica, 3 sentinels), configured with REDIS_CLUSTER_NODES / REDIS_SENTINELS (ADR 0043): real tool calls
// through the official SDK, then the master under (a shard of) the tool-call queue killed with SIGKILL. Calls work again once its replica is promoted; the time
// without service is printed, not asserted (Redis's timeouts are at test values: 1 s). No call reaches the upstream
// twice: every call creates a ticket with a title of its own, and the upstream's requests are counted per title.

const UPSTREAM_KEY = 'upstream-secret-key-9c2e';
const EDGE_ID = 'edge-e2e';

interface Outcome {
  title: string;
  ok: boolean;
  /** What the caller was told when the call failed: the tool error's text or the request's error. */
  error?: string;
  startedAt: number;
  endedAt: number;
}

interface Setup {
  stack: Stack;
  api: ManagementClient;
  upstream: TicketSystem;
  example: RegisteredExample;
  client: Client;
  others: Client[];
}

async function setUp(label: string, redis: Record<string, string>, shards = '1', edges = 1): Promise<Setup> {
  const upstream = await startTicketSystem({ apiKey: UPSTREAM_KEY });
  const { stack, api } = await startTestStack(label, {
    redis,
    edges,
    logLevel: 'warn',
    // A call whose reply a failover lost ends within seconds (scaled: a loaded machine) as a retryable error, not
    // after 30 s.
    serviceEnv: {
      edge: { TOOL_CALL_TIMEOUT_MS: String(scaled(8_000)), REDIS_QUEUE_SHARDS: shards, EDGE_ID: EDGE_ID },
      worker: { REDIS_QUEUE_SHARDS: shards },
    },
  });
  const example = await registerTicketExample(api, upstream.url, UPSTREAM_KEY);
  const client = new Client({ name: 'redis-forms-e2e', version: '1.0.0' }, { versionNegotiation: { mode: 'legacy' } });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(example.mcpUrl), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
    }),
  );
  return { stack, api, upstream, example, client, others: [] };
}

async function tearDown(s: Setup | undefined): Promise<void> {
  for (const c of [s?.client, ...(s?.others ?? [])]) await c?.close().catch(() => undefined);
  await s?.stack.stop();
  await s?.upstream.close();
}

/** Another client of the example server, on `edgeUrl`, acting as `person` (`x-username`); closed by tearDown. */
async function personOn(s: Setup, edgeUrl: string, person: string): Promise<Client> {
  const client = new Client({ name: 'redis-forms-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${edgeUrl}/mcp/${s.example.serverId}`), {
      requestInit: { headers: { 'x-api-key': s.stack.bootstrapKey, 'x-username': person } },
    }),
  );
  s.others.push(client);
  return client;
}

async function createTicket(client: Client, title: string): Promise<Outcome> {
  const startedAt = Date.now();
  const { ok, error } = await client
    .callTool({ name: 'create_ticket', arguments: { title } }, { timeout: scaled(15_000) })
    .then(
      (r) => (r.isError === true ? { ok: false, error: JSON.stringify(r.content) } : { ok: true, error: undefined }),
      (err: unknown) => ({ ok: false, error: String(err) }),
    );
  return { title, ok, ...(error === undefined ? {} : { error }), startedAt, endedAt: Date.now() };
}

async function plainCalls(s: Setup, label: string): Promise<void> {
  const search = await s.client.callTool({ name: 'search_tickets', arguments: { status: 'open' } });
  expect(search.isError).toBeFalsy();
  expect(search.structuredContent).toMatchObject({ total: expect.any(Number) });
  const got = await s.client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
  expect(got.structuredContent).toMatchObject({ id: 'TCK-1' });
  const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => createTicket(s.client, `${label}-${i}`)));
  expect(outcomes.filter((o) => !o.ok)).toEqual([]);
  expect(posts(s.upstream, `${label}-`)).toBe(20);
}

function posts(upstream: TicketSystem, titlePrefix: string): number {
  return upstream.requests.filter(
    (r) =>
      r.method === 'POST' && String((r.body as { title?: string } | undefined)?.title ?? '').startsWith(titlePrefix),
  ).length;
}

/** The last lines each service printed, for a failure's message. */
function servicesSaid(s: Setup): Record<string, string[]> {
  return Object.fromEntries(s.stack.processes.map((p, i) => [`${p.name}#${i}`, p.output().split('\n').slice(-15)]));
}

/**
 * Calls back to back while `kill` runs, until a call sent after the kill succeeded and the failover is complete.
 * Without service: from the last success that ended before the kill to the end of the first success sent after it.
 */
/** Where each shard's queue holds the job of an invocation (BullMQ's job id is the invocation id), for a failure. */
async function jobsWhere(redis: Redis | Cluster, shards: string[], failed: Outcome[]): Promise<Record<string, string>> {
  const where: Record<string, string> = {};
  for (const o of failed) {
    const id = /invocation ([0-9a-f-]{36})/.exec(o.error ?? '')?.[1];
    if (!id) continue;
    const found = await Promise.all(
      shards.map(async (shard) => {
        const key = `${shard}:tool-invocations`;
        const [kept, wait, active] = await Promise.all([
          redis.exists(`${key}:${id}`),
          redis.lpos(`${key}:wait`, id),
          redis.lpos(`${key}:active`, id),
        ]);
        return kept || wait !== null || active !== null ? `${shard} kept ${kept} wait ${wait} active ${active}` : '';
      }),
    ).catch((err: unknown) => [String(err)]);
    where[o.title] = found.filter(Boolean).join('; ') || 'in no shard';
  }
  return where;
}

async function throughFailover(
  s: Setup,
  label: string,
  kill: () => Promise<{ killedAt: number }>,
  queue: { redis: Redis | Cluster; shards: string[] },
) {
  let failover: { killedAt: number } | undefined;
  let killFailed: unknown;
  const killing = kill().then(
    (f) => (failover = f),
    (err: unknown) => {
      killFailed = err;
      throw err;
    },
  );
  const outcomes: Outcome[] = [];
  const deadline = Date.now() + scaled(45_000);
  for (let n = 0; ; n++) {
    if (killFailed) throw killFailed as Error;
    if (Date.now() > deadline) {
      const state = failover ? `failover complete: ${JSON.stringify(failover)}` : 'the failover never completed';
      throw new Error(`no call succeeded after the failover (${state}): ${JSON.stringify(outcomes)}`);
    }
    const o = await createTicket(s.client, `${label}-${n}`);
    outcomes.push(o);
    if (failover && o.ok && o.startedAt > failover.killedAt) break;
  }
  const { killedAt } = (await killing) as { killedAt: number };
  const lastBefore = outcomes.filter((o) => o.ok && o.endedAt <= killedAt).at(-1);
  const firstAfter = outcomes.find((o) => o.ok && o.startedAt > killedAt)!;
  // Afterwards every call works.
  const after = await Promise.all(Array.from({ length: 10 }, (_, i) => createTicket(s.client, `${label}-after-${i}`)));
  // A failure says what the caller was told and what the services printed (at `warn`) around it.
  const failedAfter = after.filter((o) => !o.ok);
  const said = failedAfter.length
    ? { jobs: await jobsWhere(queue.redis, queue.shards, failedAfter), ...servicesSaid(s) }
    : {};
  expect({ failedAfter, ...said }).toEqual({ failedAfter: [] });
  // Nothing sent twice: each title reached the upstream at most once, each acknowledged one exactly once.
  const byTitle = new Map<string, number>();
  for (const r of s.upstream.requests) {
    const title = (r.body as { title?: string } | undefined)?.title;
    if (r.method === 'POST' && title?.startsWith(`${label}-`)) byTitle.set(title, (byTitle.get(title) ?? 0) + 1);
  }
  expect([...byTitle].filter(([, count]) => count > 1)).toEqual([]);
  for (const o of [...outcomes, ...after].filter((x) => x.ok))
    expect([o.title, byTitle.get(o.title)]).toEqual([o.title, 1]);
  return {
    calls: outcomes.length,
    failed: outcomes.filter((o) => !o.ok).length,
    told: [...new Set(outcomes.map((o) => o.error?.slice(0, 160)).filter((e) => e !== undefined))],
    sentUpstream: byTitle.size - after.length,
    withoutServiceMs: firstAfter.endedAt - (lastBefore?.endedAt ?? killedAt),
    firstSuccessAfterKillMs: firstAfter.endedAt - killedAt,
  };
}

describe('Redis Cluster (REDIS_CLUSTER_NODES) with the queue in six shards (REDIS_QUEUE_SHARDS)', () => {
  let cluster: RedisClusterHandle;
  let s: Setup | undefined;
  let shards: string[];

  beforeAll(async () => {
    cluster = await startRedisCluster();
    // Two edges: quotas are counted by both on the cluster (ADR 0048).
    s = await setUp('cluster', { REDIS_CLUSTER_NODES: cluster.seeds.join(',') }, '6', 2);
    shards = queueShardPrefixes({ isCluster: true } as Cluster, s.stack.redisPrefix, 6);
  }, 60_000);

  afterAll(async () => {
    await tearDown(s);
    await cluster?.stop();
  });

  it('serves tool calls with the queue shards and keys spread over three masters', async () => {
    await plainCalls(s!, 'cluster-plain');
    const prefix = s!.stack.redisPrefix;
    const probe = new Cluster(cluster.seeds.map((u) => ({ host: '127.0.0.1', port: Number(new URL(u).port) })));
    try {
      // Each shard's BullMQ keys carry a hash tag of their own (the shard on one master), two shards per master.
      for (const shard of shards)
        expect([shard, await probe.exists(`${shard}:tool-invocations:meta`)]).toEqual([shard, 1]);
      expect(await probe.exists(`{${prefix}}:tool-invocations:meta`)).toBe(0);
      const shardMasters = await Promise.all(shards.map((p) => cluster.masterOf(`${p}:tool-invocations:wait`)));
      expect(new Set(shardMasters).size).toBe(3);
      // The edge's reply channel is a sharded channel (SSUBSCRIBE), on the master of its slot only.
      const channel = `${prefix}:results:${EDGE_ID}`;
      const byMaster = await Promise.all(
        probe.nodes('master').map(async (node) => ({
          port: Number(node.options.port),
          sharded: (await node.call('PUBSUB', 'SHARDCHANNELS', channel)) as string[],
          classic: (await node.call('PUBSUB', 'CHANNELS', channel)) as string[],
        })),
      );
      expect(byMaster.filter((m) => m.sharded.length > 0).map((m) => m.port)).toEqual([
        await cluster.masterOf(channel),
      ]);
      expect(byMaster.flatMap((m) => m.classic)).toEqual([]);
      const holding = await Promise.all(
        probe
          .nodes('master')
          .map(async (node) => (await node.scan('0', 'MATCH', `*${prefix}*`, 'COUNT', 1000))[1].length),
      );
      expect(holding.filter((n) => n > 0).length).toBeGreaterThan(1);
    } finally {
      probe.disconnect();
    }
  }, 30_000);

  it("refuses to start an edge whose REDIS_QUEUE_SHARDS differs from the deployment's", async () => {
    const edge = spawn(
      process.execPath,
      ['--conditions=@toolplane/source', join(repoRoot, 'services/edge/src/main.ts')],
      {
        env: {
          PATH: process.env.PATH ?? '',
          ...{
            REDIS_CLUSTER_NODES: cluster.seeds.join(','),
            REDIS_PREFIX: s!.stack.redisPrefix,
            REDIS_QUEUE_SHARDS: '3',
          },
          ...{ PORT: String(await freePort()), LOG_LEVEL: 'warn' },
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    edge.stdout.on('data', (d: Buffer) => (output += d.toString()));
    edge.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const [code] = (await once(edge, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(output).toContain("REDIS_QUEUE_SHARDS is 3 here but this deployment's tool-call queue has 6 shards");
  }, 30_000);

  it('a quota per person allows each person exactly its limit of 50 concurrent calls across both edges', async () => {
    const { api, stack, example } = s!;
    await peopleMayCall(api, example.serverId, ['alice', 'bob']);
    const limit = 5;
    await unwrap(
      api.POST('/quotas', {
        body: {
          name: 'each-person-5',
          match: { tools: ['search_tickets'] },
          counts: 'calls',
          limit,
          window: 'minute',
          per: 'person',
        },
      }),
    );
    // A probe quota made after it tells when an edge has the workspace's quotas (they are published whole).
    await unwrap(
      api.POST('/quotas', {
        body: { name: 'probe', match: { tools: ['get_ticket'] }, counts: 'calls', limit: 0, window: 'minute' },
      }),
    );
    const callers = await Promise.all(
      ['alice', 'bob'].flatMap((person) => stack.edgeUrls.map((edge) => personOn(s!, edge, person))),
    );
    for (const c of callers) await refusedBy(c, 'probe');
    await inOneWindow('minute', 20);
    const searches = () => s!.upstream.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/tickets');
    const before = searches().length;
    // alice on both edges, bob on both edges: 50 concurrent calls each.
    const [alice, bob] = await Promise.all([burst(callers.slice(0, 2), 50), burst(callers.slice(2), 50)]);
    expect(alice.filter((r) => !r.isError)).toHaveLength(limit);
    expect(bob.filter((r) => !r.isError)).toHaveLength(limit);
    expect(searches().length - before).toBe(2 * limit);
    for (const r of [...alice, ...bob].filter((x) => x.isError)) {
      expect(quotaMeta(r)?.quota).toBe('each-person-5');
      expect(quotaMeta(r)?.retryAfterSeconds).toBeGreaterThan(0);
    }
  }, 120_000);

  it('a failover that loses the last increments of a quota never makes it refuse more than its limit allows', async () => {
    const { api, stack } = s!;
    const limit = 10;
    const quota = await onlyQuota(api, {
      name: 'ten-a-day',
      match: { tools: ['get_ticket'] },
      counts: 'calls',
      limit,
      window: 'day',
    });
    const workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
    const at: QuotaCounter = { prefix: stack.redisPrefix, workspaceId, quotaId: quota.id, window: 'day' };
    // Every call below falls in one day's window.
    await inOneWindow('day', 120);
    const redis = createRedisClient(RedisEnv.parse({ REDIS_CLUSTER_NODES: cluster.seeds.join(',') }));
    const gets = () => s!.upstream.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/tickets/TCK-1');
    let victim: number | undefined;
    const get = () =>
      s!.client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } }) as Promise<ToolResult>;
    try {
      await waitFor('the quota on the edge', async () => {
        await get();
        return (await counterOf(redis, at)) > 0 ? true : undefined;
      });
      while ((await counterOf(redis, at)) < 4) expect((await get()).isError).toBeFalsy();
      const sentBefore = gets().length;
      // The master holding the workspace's counters is killed; its replica may lack the last increments.
      victim = await cluster.masterOf(counterKey(at));
      await cluster.killMaster(victim);
      const kept = await waitFor('the counter readable again', async () =>
        counterOf(redis, at).then(
          (n) => n,
          () => undefined,
        ),
      );
      expect(kept).toBeLessThanOrEqual(4);
      // Calls until the quota refuses one: calls the edge refused while Redis was unreachable (`quota.unavailable`,
      // closed) are sent again. Exactly the room the counter shows is used: lost increments give calls back, never
      // take any. A call the failover left with its outcome unknown keeps its charge, whether it reached the API
      // (its reply was lost) or not (its job was): the room is used by calls answered or unknown, never by others.
      const answers: ToolResult[] = [];
      const told: string[] = [];
      await waitFor('the quota to refuse a call', async () => {
        const r = await get();
        if (r.isError && quotaMeta(r) === undefined) return void told.push(JSON.stringify(r.content).slice(0, 200));
        answers.push(r);
        return r.isError ? true : undefined;
      });
      expect(quotaMeta(answers.at(-1)!)?.quota).toBe('ten-a-day');
      const room = limit - kept;
      const sent = gets().length - sentBefore;
      const answered = answers.filter((r) => !r.isError).length;
      const unknown = told.filter((t) => /outcome (of invocation \S+ )?is unknown/.test(t)).length;
      const figures = { sent, answered, unknown, room, told };
      expect({
        everyAnsweredCallSent: answered <= sent,
        noMoreSentThanTheRoom: sent <= room,
        theRoomUsedByCallsAnsweredOrUnknown: answered + unknown >= room,
        figures,
      }).toEqual({
        everyAnsweredCallSent: true,
        noMoreSentThanTheRoom: true,
        theRoomUsedByCallsAnsweredOrUnknown: true,
        figures,
      });
      console.log(JSON.stringify({ figure: 'a quota counter through a master kill -9', charged: 4, kept, limit }));
    } finally {
      redis.disconnect();
      // The next failover needs every master's replica back.
      if (victim !== undefined) await cluster.rejoin(victim);
    }
  }, 120_000);

  it("calls work again after the master holding the edge's reply channel and two shards is killed", async () => {
    const queueMaster = await cluster.masterOf(`${s!.stack.redisPrefix}:results:${EDGE_ID}`);
    let promotedAfterMs = 0;
    const probe = new Cluster(cluster.seeds.map((u) => ({ host: '127.0.0.1', port: Number(new URL(u).port) })));
    const figures = await throughFailover(
      s!,
      'cluster-failover',
      async () => {
        const f = await cluster.killMaster(queueMaster);
        promotedAfterMs = f.promotedAfterMs;
        return f;
      },
      { redis: probe, shards },
    ).finally(() => probe.disconnect());
    console.log(JSON.stringify({ figure: 'tool calls through a cluster master kill -9', promotedAfterMs, ...figures }));
  }, 60_000);
});

describe('Redis Sentinel (REDIS_SENTINELS + REDIS_SENTINEL_MASTER)', () => {
  let sentinel: RedisSentinelHandle;
  let s: Setup | undefined;

  beforeAll(async () => {
    sentinel = await startRedisSentinel();
    s = await setUp('sentinel', {
      REDIS_SENTINELS: sentinel.sentinels.map((a) => `${a.host}:${a.port}`).join(','),
      REDIS_SENTINEL_MASTER: sentinel.masterName,
    });
  }, 60_000);

  afterAll(async () => {
    await tearDown(s);
    await sentinel?.stop();
  });

  it('serves tool calls through the master the sentinels name', async () => {
    await plainCalls(s!, 'sentinel-plain');
  }, 30_000);

  it('calls work again after the master is killed and the sentinels promote the replica', async () => {
    let switchedAfterMs = 0;
    const redis = createRedisClient(
      RedisEnv.parse({
        REDIS_SENTINELS: sentinel.sentinels.map((a) => `${a.host}:${a.port}`).join(','),
        REDIS_SENTINEL_MASTER: sentinel.masterName,
      }),
    );
    const figures = await throughFailover(
      s!,
      'sentinel-failover',
      async () => {
        const f = await sentinel.killMaster();
        switchedAfterMs = f.switchedAfterMs;
        return f;
      },
      { redis, shards: [s!.stack.redisPrefix] },
    ).finally(() => redis.disconnect());
    console.log(
      JSON.stringify({ figure: 'tool calls through a Sentinel master kill -9', switchedAfterMs, ...figures }),
    );
  }, 60_000);
});
